"""The JSON format: one ASCII object, non-UTF-8 bytes as lone surrogates."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envtools.snapshot import jsonfile


def test_dumps_exact() -> None:
    """One object on one line, ASCII only, in the order given."""
    env = {b"B": b"2", b"A": "é".encode(), b"Q": b'"\n'}
    assert jsonfile.dumps(env) == b'{"B": "2", "A": "\\u00e9", "Q": "\\"\\n"}\n'


def test_invalid_utf8_as_surrogates() -> None:
    """Bytes that are not UTF-8 become \\udcXX, in names and values alike."""
    data = jsonfile.dumps({b"N\xff": b"a\xfe"})
    assert data == b'{"N\\udcff": "a\\udcfe"}\n'
    assert json.loads(data) == {"N\udcff": "a\udcfe"}
    assert jsonfile.loads(data) == {b"N\xff": b"a\xfe"}


@given(
    st.dictionaries(
        st.binary(min_size=1, max_size=10),
        st.binary(max_size=40),
        max_size=10,
    )
)
def test_round_trip(env: dict[bytes, bytes]) -> None:
    """Any names and byte values load back exactly."""
    assert jsonfile.loads(jsonfile.dumps(env)) == env


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[]", "not a JSON object"),
        (b'{"A": 1}', "value of 'A' is not a string"),
        (b'{"A": "\\ud800"}', "'A' holds a lone surrogate"),
    ],
)
def test_loads_refuses(data: bytes, message: str) -> None:
    """Documents the writer cannot have made are refused with a reason."""
    with pytest.raises(ValueError, match=message):
        jsonfile.loads(data)


def test_loads_refuses_broken_json() -> None:
    """A document that is not JSON raises ValueError."""
    with pytest.raises(ValueError):
        jsonfile.loads(b"{")
