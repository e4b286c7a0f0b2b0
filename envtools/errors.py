"""Exit statuses, exception types and the one printer for messages.

Every command reports through :func:`report`, so each failure is one line
on stderr of the form ``prog: message``.  This module imports nothing beyond
``sys``: it sits on the hot path of every command.
"""

from __future__ import annotations

import sys

# Exec wrappers (setuser, with-container-env) follow env(1) and chroot(1).
EXIT_WRAPPER_FAILED = 125
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127

# The writer and the reader (save-container-env, container-env).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Debug output is a flag and a print, not the logging module: importing
# logging costs more than the whole start-up budget of the plain setuser
# path (measured with bench/), and these commands log almost nothing.
_verbose = False


class EnvtoolsError(Exception):
    """An expected failure, reported as one line and no traceback.

    The command decides the exit status, unless *status* fixes it (as the
    exec step does with 126 and 127).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class UsageError(EnvtoolsError):
    """The command line was wrong; reported with a ``--help`` hint."""


# Characters that show nothing, or move or hide other text: Unicode 14's
# format characters (zero-width marks, bidirectional controls, tags, the
# soft hyphen), line and paragraph separators, spaces other than ASCII's,
# private-use and surrogate code points, variation selectors, the Hangul
# fillers and the combining grapheme joiner.  A name holding one could look
# like another name in a message, or read as two lines to tools that split
# on U+2028.  Inclusive ranges, by category from unicodedata once: importing
# it costs time, and quote() also runs after the switch, when the
# interpreter's own files may be out of reach.
_HIDDEN = (
    (0x00A0, 0x00A0), (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605),
    (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x115F, 0x1160), (0x1680, 0x1680), (0x180B, 0x180F),
    (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F),
    (0x3000, 0x3000), (0x3164, 0x3164), (0xD800, 0xF8FF), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    (0xE0100, 0xE01EF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
)  # fmt: skip


def _hidden(code: int) -> bool:
    """Whether code point *code* is in :data:`_HIDDEN`."""
    return any(start <= code <= end for start, end in _HIDDEN)


def quote(value: str | bytes) -> str:
    """Render *value* in single quotes, safe to put on one terminal line.

    Control characters and undecodable bytes are shown as backslash escapes,
    and invisible or text-reordering characters as ``\\uXXXX``, so a hostile
    name can neither break the one-line rule, send escape sequences to the
    terminal, nor pass for another name.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    out = []
    for char in value:
        code = ord(char)
        if char == "\\" or char == "'":
            out.append("\\" + char)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif code >= 0xA0 and _hidden(code):
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"


def report(prog: str, message: str) -> None:
    """Write ``prog: message`` as one line on stderr."""
    _write(f"{prog}: {message}\n")


def warn(prog: str, message: str) -> None:
    """Report a problem that does not stop the command."""
    report(prog, "warning: " + message)


def set_verbose(enabled: bool) -> None:
    """Turn ``prog: debug: ...`` lines on or off (``-v``)."""
    global _verbose
    _verbose = enabled


def debug(prog: str, message: str) -> None:
    """Report a step when ``-v`` was given; never pass values, only names."""
    if _verbose:
        report(prog, "debug: " + message)


def fail(prog: str, error: EnvtoolsError, status: int) -> int:
    """Report *error* and return its exit status (*status* unless fixed).

    A usage error gets a second line pointing at ``--help``, as setpriv and
    the coreutils do.
    """
    report(prog, error.message)
    if isinstance(error, UsageError):
        _write(f"Try '{prog} --help'.\n")
    return error.status if error.status is not None else status


def _write(text: str) -> None:
    if sys.stderr is None:
        # Started with descriptor 2 closed: nothing can be told.
        return
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        # stderr closed or gone: nothing else can be told, and the exit
        # status still says what happened.
        pass
