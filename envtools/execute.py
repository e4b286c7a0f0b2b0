"""Replacing this process with the command: PATH search, execve, 126 or 127.

The search runs as whoever this process is by now, so after a switch a
command the target cannot execute is reported, not run as root.  Nothing
here imports anything when called: it runs after the switch, when the
interpreter's own files may be unreadable.
"""

from __future__ import annotations

import errno
import os

from envtools.errors import EXIT_CANNOT_EXECUTE
from envtools.errors import EXIT_NOT_FOUND
from envtools.errors import EnvtoolsError
from envtools.errors import quote

# Importing typing costs milliseconds; mypy takes this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from typing import NoReturn
else:
    # _signal, not signal: signal imports enum, which the plain setuser
    # path otherwise never loads; together about 7 ms in a plain install
    # (-X importtime, Python 3.11), a third of the whole run.  The
    # interpreter loads _signal at start-up anyway.
    import _signal

# Python ignores these at start-up (so that writes raise instead of killing
# it), and an ignored disposition survives execve: the command would never
# die of a broken pipe or an exceeded file size limit.
_RESTORED_SIGNALS = (_signal.SIGPIPE, _signal.SIGXFSZ)

# Errors that mean "not at this candidate, try the next one".
_MISSING = (errno.ENOENT, errno.ENOTDIR)


def exec_command(argv: list[str], env: dict[bytes, bytes]) -> NoReturn:
    """Replace this process with *argv*, searching PATH as the current user.

    Restores SIGPIPE and SIGXFSZ to their defaults, then calls execve(2) on
    each candidate in turn: *argv[0]* itself when it contains ``/``, else
    each PATH directory (PATH from *env*, ``os.defpath`` when unset; an
    empty element is the current directory).  ENOENT and ENOTDIR move on.
    During a PATH search, EACCES counts as "cannot execute" only when
    stat(2) finds the file, so an unsearchable directory does not hide a
    later match or turn a missing command into 126; a command given as a
    path that fails with EACCES is 126.  Any other error is remembered and
    the search goes on.
    There is no ``/bin/sh`` retry for a file without a ``#!`` line.

    :param argv: the command and its arguments; must not be empty.
    :param env: the complete environment of the command.
    :raises EnvtoolsError: status 126 when a candidate was found but every
        execve failed, 127 when no candidate was found.
    """
    for signum in _RESTORED_SIGNALS:
        _signal.signal(signum, _signal.SIG_DFL)

    name = argv[0]
    failure: OSError | None = None
    searched = "/" not in name
    for path in candidates(name, env):
        try:
            os.execve(path, argv, env)
        except OSError as error:
            if failure is None and _counts(path, error, searched):
                failure = error

    if failure is not None:
        reason = failure.strerror
        raise EnvtoolsError(
            f"cannot execute {quote(name)}: {reason}", status=EXIT_CANNOT_EXECUTE
        )
    raise EnvtoolsError(f"command {quote(name)} not found", status=EXIT_NOT_FOUND)


def candidates(name: str, env: dict[bytes, bytes]) -> list[bytes]:
    """The paths to try for command *name*, in order, as execvp(3) would.

    An empty *name* has none.
    """
    if not name:
        return []
    command = os.fsencode(name)
    if b"/" in command:
        return [command]
    search = env.get(b"PATH")
    if search is None:
        search = os.fsencode(os.defpath)
    return [(part or b".") + b"/" + command for part in search.split(b":")]


def _counts(path: bytes, error: OSError, searched: bool) -> bool:
    """Whether *error* from execve of *path* means "found, cannot execute".

    The stat(2) check is for the PATH search only: a command given as a
    path that the user may not reach is "Permission denied", as in the
    shells, not "not found".
    """
    if error.errno in _MISSING:
        return False
    if error.errno != errno.EACCES or not searched:
        return True
    try:
        os.stat(path)
    except OSError:
        return False
    return True
