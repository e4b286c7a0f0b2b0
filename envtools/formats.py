"""Output-only formats of ``container-env``: fish, dotenv, docker, systemd,
nul.

Each renderer returns the text and the variables it had to leave out, with
the reason, so the command can say so per variable instead of writing a line
its consumer would read differently.  ``sh`` and ``json`` live with the
snapshot codecs (:mod:`envtools.snapshot.shell`, ``jsonfile``), since the
writer uses them too.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Mapping

    Problems = list[tuple[bytes, str]]
    Renderer = Callable[[Mapping[bytes, bytes]], tuple[bytes, Problems]]

# The variables fish itself owns: `set -gx` on them fails (read-only) or
# means something else (umask takes an octal mode and is never exported).
# Checked against fish 3.6.
_FISH_OWN = frozenset(
    b"_ status pipestatus version FISH_VERSION fish_pid hostname history"
    b" status_generation fish_kill_signal fish_killring SHLVL PWD umask".split()
)

# fish splits these two on ':' and turns every empty element into '.', so
# a value with an empty element (or an empty value) does not come back as
# written.  Other names ending in PATH keep theirs.  Checked against fish 3.6.
_FISH_DOT_PATHS = frozenset([b"PATH", b"CDPATH"])

_ASCII_NAME = re.compile(rb"[A-Za-z0-9_]+")
_ENV_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")

# What python-dotenv (1.x) expands in every value, quoted or not, when it
# interpolates (its default): ${NAME} and ${NAME:-default}.  No quoting or
# escape turns it off, so such a value cannot be written for it.
_DOTENV_EXPANDED = re.compile(r"\$\{[^}:]*(?::-[^}]*)?\}")
_DOTENV_KEY_BREAKS = re.compile(r"[=#\s]")

# Docker reads --env-file with Go's bufio.Scanner: a line of 64 KiB or more,
# newline included, fails the whole file ("token too long").
_DOCKER_LINE_MAX = 64 * 1024 - 1

# U+FEFF in UTF-8: docker reads it as a byte-order mark before line 1.
_BOM = b"\xef\xbb\xbf"

# systemd keeps nothing below 0x20 but tab and newline, nor DEL.
_SYSTEMD_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
_SYSTEMD_ESCAPED = re.compile(rb'(["\\`$])')


def render_fish(env: Mapping[bytes, bytes]) -> tuple[bytes, Problems]:
    """``set -gx NAME 'value'`` lines for fish.

    Inside fish's single quotes only ``\\\\`` and ``\\'`` are escapes; a
    newline is kept as is.

    :param env: names and values; values hold no NUL.
    :returns: the text, and the names left out with the reason for each.
    """
    return _render(env, _fish_problem, _fish_line)


def _fish_problem(name: bytes, value: bytes) -> str | None:
    if not _ASCII_NAME.fullmatch(name):
        return "fish allows only letters, digits and '_' in a name"
    if name in _FISH_OWN:
        return "fish does not let a script set it"
    if not _is_utf8(value):
        return "fish reads a script as UTF-8 and the value is not"
    if name in _FISH_DOT_PATHS and b"" in value.split(b":"):
        return "fish turns an empty element of it into '.'"
    return None


def render_dotenv(env: Mapping[bytes, bytes]) -> tuple[bytes, Problems]:
    """``NAME='value'`` lines for python-dotenv.

    In its single quotes python-dotenv decodes ``\\\\`` and ``\\'`` only, and
    a value may span lines.

    :param env: names and values; values hold no NUL.
    :returns: the text, and the names left out with the reason for each.
    """
    return _render(env, _dotenv_problem, _dotenv_line)


def _dotenv_problem(name: bytes, value: bytes) -> str | None:
    if not _is_utf8(name) or not _is_utf8(value):
        return "dotenv files are UTF-8 text and this is not"
    text_name = name.decode()
    if _DOTENV_KEY_BREAKS.search(text_name) or text_name[:1] in ("'", "\ufeff"):
        return "python-dotenv cannot read this name"
    if b"\r" in value:
        # Files are read in text mode, where a carriage return becomes \n.
        return "python-dotenv turns a carriage return into a newline"
    if _DOTENV_EXPANDED.search(value.decode()):
        return "python-dotenv would expand the '${...}' in the value"
    return None


def render_docker(env: Mapping[bytes, bytes]) -> tuple[bytes, Problems]:
    """``NAME=value`` lines for ``docker run --env-file``: no quoting at all.

    :param env: names and values; values hold no NUL.
    :returns: the text, and the names left out with the reason for each.
    """
    return _render(env, _docker_problem, _docker_line)


def _docker_problem(name: bytes, value: bytes) -> str | None:
    if not _is_utf8(name) or not _is_utf8(value):
        return "docker accepts only UTF-8 in an env file"
    if any(char.isspace() for char in name.decode()):
        return "docker refuses a name with whitespace"
    if name.startswith(b"#"):
        return "docker reads the line as a comment"
    if name.startswith(_BOM):
        # Stripped on the first line, as a file's byte-order mark; kept on
        # any other, so it is left out wherever it would fall.
        return "docker strips a leading byte-order mark"
    if b"\n" in value:
        return "docker env files have no way to write a newline"
    if value.endswith(b"\r"):
        return "docker drops a carriage return at the end of a line"
    if len(name) + 1 + len(value) > _DOCKER_LINE_MAX:
        return "docker cannot read a line of 64 KiB or more"
    return None


def render_systemd(env: Mapping[bytes, bytes]) -> tuple[bytes, Problems]:
    """``NAME="value"`` lines for systemd's ``EnvironmentFile=``.

    In double quotes systemd removes a backslash before ``"``, ``\\``,
    `````` and ``$`` and keeps a newline.

    :param env: names and values; values hold no NUL.
    :returns: the text, and the names left out with the reason for each.
    """
    return _render(env, _systemd_problem, _systemd_line)


def _systemd_problem(name: bytes, value: bytes) -> str | None:
    if not _ENV_NAME.fullmatch(name):
        return "systemd allows only letters, digits and '_', no leading digit"
    if not _is_utf8(value):
        return "systemd ignores a value that is not UTF-8"
    if _SYSTEMD_CONTROL.search(value):
        return "systemd ignores a value with control characters"
    return None


def render_nul(env: Mapping[bytes, bytes]) -> tuple[bytes, Problems]:
    """``NAME=value`` records, each ended by a NUL byte, as ``env -0``.

    :param env: names and values; values hold no NUL.
    :returns: the text, and the names left out with the reason for each.
    """
    return b"".join(name + b"=" + value + b"\0" for name, value in env.items()), []


def _render(
    env: Mapping[bytes, bytes],
    problem: Callable[[bytes, bytes], str | None],
    line: Callable[[bytes, bytes], bytes],
) -> tuple[bytes, Problems]:
    """The lines of every variable *problem* lets through, and the rest.

    :param problem: why a name and value cannot be written, or None.
    :param line: the line for a name and value that can.
    """
    lines = []
    problems: Problems = []
    for name, value in env.items():
        reason = problem(name, value)
        if reason:
            problems.append((name, reason))
        else:
            lines.append(line(name, value))
    return b"".join(lines), problems


def _single_quoted(value: bytes) -> bytes:
    """*value* in single quotes where only ``\\\\`` and ``\\'`` are escapes
    (fish, python-dotenv)."""
    return b"'" + value.replace(b"\\", b"\\\\").replace(b"'", b"\\'") + b"'"


def _fish_line(name: bytes, value: bytes) -> bytes:
    return b"set -gx " + name + b" " + _single_quoted(value) + b"\n"


def _dotenv_line(name: bytes, value: bytes) -> bytes:
    return name + b"=" + _single_quoted(value) + b"\n"


def _docker_line(name: bytes, value: bytes) -> bytes:
    return name + b"=" + value + b"\n"


def _systemd_line(name: bytes, value: bytes) -> bytes:
    return name + b'="' + _SYSTEMD_ESCAPED.sub(rb"\\\1", value) + b'"\n'


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


RENDERERS: dict[str, Renderer] = {
    "fish": render_fish,
    "dotenv": render_dotenv,
    "docker": render_docker,
    "systemd": render_systemd,
    "nul": render_nul,
}
