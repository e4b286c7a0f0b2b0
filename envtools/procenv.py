"""The environment exactly as the kernel handed it to this process.

Python edits its own environment at start-up: with no locale set it adds
``LC_CTYPE=C.UTF-8`` (PEP 538), and ``os.environ`` is built after that.  A
wrapper that passes ``os.environ`` on, or a writer that saves it, would leak
that edit into the command or the snapshot.  ``/proc/self/environ`` still
holds the block the kernel copied at exec time, so read that instead.
"""

from __future__ import annotations

import os

from envtools import errors

# Importing typing costs milliseconds; mypy takes this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    # Not signal, which imports enum (see envtools.execute).
    import _signal

Environ = dict[bytes, bytes]

# Read-only: a write to a held stdout or stderr fails with EBADF, as it
# would have on the closed descriptor.
_HOLD_FLAGS = os.O_RDONLY | os.O_CLOEXEC


def prepare() -> None:
    """Undo what starting in Python leaves that a C command would not have.

    Called first by every command: see :func:`hold_std_fds` and
    :func:`default_interrupt`.
    """
    hold_std_fds()
    default_interrupt()


def default_interrupt() -> None:
    """Let SIGINT end the process as it ends a C program: killed by it.

    Python turns SIGINT into KeyboardInterrupt, which prints a traceback
    from wherever Ctrl-C caught it (and click turns it into exit 2).  Only
    Python's own handler is replaced: a SIGINT the caller ignored (a
    background job of a script) stays ignored, here and in the command.
    """
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)


def hold_std_fds() -> None:
    """Keep the files this process opens off descriptors 0, 1 and 2.

    Started with one of them closed, the process would give its number to
    the next file it opens, and a message meant for stderr could land in
    the writer's temporary file.  Each gap is filled with ``/dev/null``,
    read-only and close-on-exec, so writing there still fails with EBADF
    and a command exec'd later still gets exactly the descriptors this
    process was given.  Python has already seen the gap: ``sys.stderr``
    stays None, and messages are dropped, not misdirected.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                # The lowest free number: this very gap, as fd rises.
                os.open(os.devnull, _HOLD_FLAGS)
            except OSError:
                return


def initial_environ() -> tuple[Environ, list[bytes]]:
    """Return the environment this process was started with, as bytes.

    Reads ``/proc/self/environ`` with one ``open`` and ``read``; falls back
    to ``os.environb`` (which may carry Python's locale coercion) when /proc
    is not mounted.  Order is kept.  When a name occurs twice the first
    entry wins, as with getenv(3).

    :returns: the mapping, and the raw entries that cannot be passed on: no
        ``=`` at all, an empty name, or a repeated name.
    """
    try:
        with open("/proc/self/environ", "rb") as stream:
            block = stream.read()
    except OSError:
        return dict(os.environb), []
    return parse_block(block)


def parse_block(block: bytes) -> tuple[Environ, list[bytes]]:
    """Split a NUL-separated environment block into names and values.

    :returns: as :func:`initial_environ`.
    """
    environ: Environ = {}
    dropped: list[bytes] = []
    for entry in block.split(b"\0"):
        if not entry:
            continue
        name, sep, value = entry.partition(b"=")
        if not sep or not name or name in environ:
            dropped.append(entry)
            continue
        environ[name] = value
    return environ, dropped


def passable(prog: str) -> Environ:
    """The initial environment, with one warning line per entry dropped.

    Names only: a value, or an entry with no ``=`` at all, may be a secret.

    :param prog: the command name the warnings start with.
    """
    env, dropped = initial_environ()
    for entry in dropped:
        name, sep, _ = entry.partition(b"=")
        if not sep:
            errors.warn(prog, "dropped an environment entry without '='")
        elif not name:
            errors.warn(prog, "dropped an environment entry with an empty name")
        else:
            quoted = errors.quote(name)
            errors.warn(prog, f"dropped repeated environment variable {quoted}")
    return env
