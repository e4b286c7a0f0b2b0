"""Readers of env files whose real consumer cannot run here.

Written from the consumers' documentation, not their code: docker's
``docker run --env-file`` (one ``NAME=value`` per line, no quoting, lines
starting with ``#`` are comments, UTF-8 only, no whitespace in a name, and a
line must fit the 64 KiB buffer of Go's line scanner) and systemd's
``EnvironmentFile=`` (systemd.exec(5): quoting like a POSIX shell, comments
with ``#`` or ``;``, names of letters, digits and ``_`` not starting with a
digit, and values holding no control character but tab and newline).
"""

from __future__ import annotations

# Go's unicode.IsSpace: the Unicode White_Space property.
GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(code) for code in range(0x2000, 0x200B))
)

DOCKER_LINE_BUFFER = 64 * 1024


class Rejected(Exception):
    """The whole file is refused, as docker refuses it."""


def parse_docker(data: bytes) -> dict[str, str]:
    """Read *data* as ``docker run --env-file`` does.

    :raises Rejected: invalid UTF-8, a name with whitespace or no name, a
        line too long for the scanner.
    """
    result: dict[str, str] = {}
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        if len(raw) + 1 > DOCKER_LINE_BUFFER:
            raise Rejected(f"line {number}: token too long")
        if number == 1:
            # docker/cli opts/file.go: a UTF-8 byte-order mark is dropped.
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(f"line {number}: invalid utf8") from None
        line = line.lstrip("".join(GO_SPACE))
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not name:
            raise Rejected(f"line {number}: no variable name")
        if " " in name or "\t" in name:
            raise Rejected(f"line {number}: variable contains whitespaces")
        if not sep:
            raise Rejected(f"line {number}: value taken from the caller")
        result[name] = value
    return result


_SYSTEMD_ESCAPABLE = '"\\`$'
_SYSTEMD_BLANK = " \t\r"


def parse_systemd(data: bytes) -> tuple[dict[str, str], list[str]]:
    """Read *data* as systemd's ``EnvironmentFile=``.

    :returns: the assignments systemd keeps, and the names it ignores (an
        invalid name or value).
    """
    text = data.decode("utf-8")
    kept: dict[str, str] = {}
    ignored: list[str] = []
    for name, value in _systemd_assignments(text):
        if _systemd_valid(name, value):
            kept[name] = value
        else:
            ignored.append(name)
    return kept, ignored


def _systemd_valid(name: str, value: str) -> bool:
    first_ok = name[:1].isascii() and (name[:1].isalpha() or name[:1] == "_")
    rest_ok = all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    controls = any((ord(c) < 0x20 and c not in "\t\n") or c == "\x7f" for c in value)
    return bool(name) and first_ok and rest_ok and not controls


def _systemd_assignments(text: str) -> list[tuple[str, str]]:
    """Split *text* into (name, value) pairs by the documented quoting."""
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos)
        line_end = len(text) if end < 0 else end
        stripped = text[pos:line_end].lstrip(_SYSTEMD_BLANK)
        if not stripped or stripped[0] in "#;" or "=" not in stripped:
            pos = line_end + 1
            continue
        start = line_end - len(text[pos:line_end].lstrip(_SYSTEMD_BLANK))
        eq = text.index("=", start)
        name = text[start:eq].strip(_SYSTEMD_BLANK)
        value, pos = _systemd_value(text, eq + 1)
        pairs.append((name, value))
    return pairs


def _systemd_value(text: str, pos: int) -> tuple[str, int]:
    """Read one value from *pos*; return it and where the next line starts."""
    out: list[str] = []
    quoted_end = 0  # trailing blanks are dropped only after the last quote
    while pos < len(text) and text[pos] in _SYSTEMD_BLANK:
        pos += 1
    while pos < len(text) and text[pos] != "\n":
        char = text[pos]
        if char == "'":
            close = text.index("'", pos + 1)
            out.append(text[pos + 1 : close])
            pos = close + 1
            quoted_end = len(out)
        elif char == '"':
            pos += 1
            while text[pos] != '"':
                if text[pos] == "\\":
                    following = text[pos + 1]
                    if following in _SYSTEMD_ESCAPABLE:
                        out.append(following)
                    elif following != "\n":
                        out.append("\\" + following)
                    pos += 2
                else:
                    out.append(text[pos])
                    pos += 1
            pos += 1
            quoted_end = len(out)
        elif char == "\\":
            following = text[pos + 1] if pos + 1 < len(text) else ""
            if following != "\n":
                out.append(following)
            pos += 2
        else:
            out.append(char)
            pos += 1
    tail = "".join(out[quoted_end:]).rstrip(_SYSTEMD_BLANK)
    return "".join(out[:quoted_end]) + tail, pos + 1
