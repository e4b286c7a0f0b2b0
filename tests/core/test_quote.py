"""errors.quote: every value fits one line and shows what it holds."""

from __future__ import annotations

import unicodedata

import pytest

from envtools import errors

# Categories whose characters show nothing, or move or hide other text.
HIDDEN_CATEGORIES = {"Cf", "Zl", "Zp", "Zs", "Co", "Cs"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ("a\\b", "'a\\\\b'"),
        ("a\nb\x1b[0m", "'a\\x0ab\\x1b[0m'"),
        (b"\xff\xfe", "'\\xff\\xfe'"),
        ("\x85", "'\\x85'"),
        ("ro\u200bot", "'ro\\u200bot'"),
        ("root\u202e", "'root\\u202e'"),
        ("a\u2028b", "'a\\u2028b'"),
        ("ro\u2060ot", "'ro\\u2060ot'"),
        ("soft\u00adhyphen", "'soft\\u00adhyphen'"),
        ("no\u00a0break", "'no\\u00a0break'"),
        ("\u3164", "'\\u3164'"),
        ("tag\U000e0041", "'tag\\U000e0041'"),
        ("private\ue000", "'private\\ue000'"),
        ("caf\u00e9 \u4e2d", "'caf\u00e9 \u4e2d'"),
    ],
)
def test_quote_table(value, shown):
    """Quotes, controls, bytes and hidden characters become escapes."""
    assert errors.quote(value) == shown


def test_every_hidden_category_is_escaped():
    """No format, separator, space, private or surrogate character shows raw."""
    raw = [
        f"U+{code:04X}"
        for code in range(0xA0, 0x110000)
        if unicodedata.category(chr(code)) in HIDDEN_CATEGORIES
        and errors.quote(chr(code)) == f"'{chr(code)}'"
    ]
    assert raw == []


def test_visible_letters_pass():
    """Letters of other scripts are shown as they are, not escaped."""
    letters = "\u00e9\u0416\u05d0\u0627\u4e2d\u3042\ud55c"
    assert errors.quote(letters) == f"'{letters}'"
