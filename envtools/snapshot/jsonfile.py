"""The JSON format: one object mapping each name to its value.

JSON holds text, an environment holds bytes.  Bytes that are not UTF-8 (in
a name or a value) are written the way Python's ``surrogateescape`` error
handler represents them: byte 0xXX becomes the lone surrogate ``\\udcXX``.
With ``ensure_ascii`` the file itself is plain ASCII.  :func:`loads`
reverses this exactly; other JSON readers see lone surrogates there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from envtools.errors import quote

_UTF8 = "utf-8"
_ESCAPE = "surrogateescape"


def dumps(env: Mapping[bytes, bytes]) -> bytes:
    """Return the JSON document for *env*: one object, one line, ASCII.

    :param env: names and values, in the order they are to be written.
    """
    text = {
        name.decode(_UTF8, _ESCAPE): value.decode(_UTF8, _ESCAPE)
        for name, value in env.items()
    }
    return json.dumps(text, ensure_ascii=True).encode("ascii") + b"\n"


def loads(data: bytes) -> dict[bytes, bytes]:
    """Parse a document written by :func:`dumps` back into bytes.

    :param data: the file's content.
    :raises ValueError: the data is not JSON, not an object of strings, or
        holds a surrogate that does not stand for a byte.
    """
    document = json.loads(data)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    env: dict[bytes, bytes] = {}
    for name, value in document.items():
        if not isinstance(value, str):
            raise ValueError(f"value of {quote(name)} is not a string")
        try:
            env[name.encode(_UTF8, _ESCAPE)] = value.encode(_UTF8, _ESCAPE)
        except UnicodeEncodeError as error:
            raise ValueError(f"{quote(name)} holds a lone surrogate") from error
    return env
