"""The envdir format: file contents and the names that cannot be files."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envtools.snapshot import envdir


@pytest.mark.parametrize(
    ("value", "content"),
    [
        (b"", b"\n"),
        (b"value", b"value\n"),
        (b"two\nlines", b"two\nlines\n"),
        (b"trailing\n", b"trailing\n\n"),
        (b"\n\n", b"\n\n\n"),
        (b"\xff'$(x)", b"\xff'$(x)\n"),
    ],
)
def test_encode_decode(value: bytes, content: bytes) -> None:
    """A value is stored with one newline added, and read back exactly."""
    assert envdir.encode_value(value) == content
    assert envdir.decode_value(content) == value


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (b"value", b"value"),
        (b"", b""),
        (b"a\0b\n", b"a\nb"),
        (b"a\n\n", b"a\n"),
    ],
)
def test_decode_hand_made(content: bytes, value: bytes) -> None:
    """Files made by hand: no newline is fine, and a NUL reads as a newline."""
    assert envdir.decode_value(content) == value


@given(st.binary().map(lambda v: v.replace(b"\0", b"")))
def test_round_trip(value: bytes) -> None:
    """Any value without NUL survives encode then decode."""
    assert envdir.decode_value(envdir.encode_value(value)) == value


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (b"A", None),
        (b"A-B", None),
        (b"a.b", None),
        (b"\xff", None),
        (b"x" * 255, None),
        (b"", "empty name"),
        (b".", "name starts with '.'"),
        (b"..", "name starts with '.'"),
        (b"..data", "name starts with '.'"),
        (b".hidden", "name starts with '.'"),
        (b"a/b", "name contains '/'"),
        (b"/", "name contains '/'"),
        (b"a=b", "name contains '=' or NUL"),
        (b"x" * 256, "name longer than 255 bytes"),
    ],
)
def test_file_name_problem(name: bytes, problem: str | None) -> None:
    """Names that cannot be a file the readers see are refused, with why."""
    assert envdir.file_name_problem(name) == problem
