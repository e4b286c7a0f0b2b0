"""Reading the snapshot back: the group gate, the trust checks, the values.

Used by ``container-env`` and ``with-container-env``; both sit on a service's
start-up path, so this module imports nothing beyond what the interpreter has
already loaded.
"""

from __future__ import annotations

import os
import stat

from envtools import errors
from envtools import perms
from envtools import snapshot
from envtools.errors import EnvtoolsError
from envtools.errors import quote
from envtools.snapshot import envdir

# The writer swaps the whole directory, then deletes the old one.  A reader
# caught in between restarts; more than a few swaps in a row means something
# other than the writer is changing the directory.
_ATTEMPTS = 5

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def load(path: str, prog: str = "container-env") -> dict[bytes, bytes]:
    """Read the snapshot at *path* after the group gate and trust checks.

    Opens the directory (see :func:`envtools.perms.open_snapshot_dir`), checks
    the gate, lists it, then opens, checks and reads each file in name order
    (:func:`envtools.perms.open_entry`), and last checks the path still
    names the directory it read.  Names starting with ``.`` are
    skipped silently; a name holding ``=`` and a value that would not fit
    in an execve string (:func:`envtools.perms.fits_execve`) are skipped
    with a warning.  A listed name that is
    gone when opened, or a directory swapped during the read, restarts the
    read, so two snapshots never mix and a half-deleted one is never used.

    :param path: the snapshot directory, absolute.
    :param prog: the command name for warnings.
    :returns: names to values, sorted by name.
    :raises EnvtoolsError: the gate or a trust check refused, a file could
        not be read, or the directory kept changing.
    """
    gone = path
    for _ in range(_ATTEMPTS):
        warnings: list[str] = []
        try:
            env = _load_once(path, warnings)
        except perms.Vanished as error:
            gone = str(error)
            errors.debug(prog, f"{quote(gone)} vanished: reading again")
            continue
        for message in warnings:
            errors.warn(prog, message)
        return env
    raise EnvtoolsError(f"cannot read {quote(gone)}: missing or replaced at each try")


def _load_once(path: str, warnings: list[str]) -> dict[bytes, bytes]:
    """One attempt of :func:`load`; warnings are collected, not printed.

    :raises perms.Vanished: a listed name was gone.
    """
    path_fd, info = perms.open_snapshot_dir(path)
    if stat.S_IMODE(info.st_mode) == snapshot.RETIRED_MODE:
        os.close(path_fd)
        raise perms.Vanished(path)
    try:
        perms.check_gate(info, path)
        dir_fd = _reopen(path_fd, path)
    finally:
        os.close(path_fd)

    try:
        names = sorted(os.fsencode(name) for name in os.listdir(dir_fd))
        env: dict[bytes, bytes] = {}
        for name in names:
            value = _read_one(dir_fd, name, path, warnings)
            if value is not None:
                env[name] = value
    finally:
        os.close(dir_fd)

    _check_unswapped(path, info)
    return env


def _check_unswapped(path: str, info: os.stat_result) -> None:
    """Make sure *path* still names the directory that was read.

    The writer swaps in a new directory, then empties and removes the old
    one.  A reader that opened the old one just before the swap can list it
    after some or all of its files are gone: an empty or partial snapshot
    with no missing name to notice.  So after the read, lstat(2) the path:
    another inode there means the read may be torn, and it starts again.

    :raises perms.Vanished: *path* is gone or is another inode now.
    """
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        raise perms.Vanished(path) from None
    except OSError as error:
        raise EnvtoolsError(f"cannot read {quote(path)}: {error.strerror}") from None
    # The mode too: the writer retires a directory it cannot swap away by
    # changing it, before it deletes the files.
    read = (info.st_dev, info.st_ino, info.st_mode)
    if (now.st_dev, now.st_ino, now.st_mode) != read:
        raise perms.Vanished(path)


def _reopen(path_fd: int, path: str) -> int:
    """Open the checked ``O_PATH`` directory for listing, through itself."""
    try:
        return os.open(".", _DIR_FLAGS, dir_fd=path_fd)
    except OSError as error:
        raise EnvtoolsError(f"cannot read {quote(path)}: {error.strerror}") from None


def _read_one(dir_fd: int, name: bytes, path: str, warnings: list[str]) -> bytes | None:
    """The value in file *name*, or None when it is skipped."""
    if name.startswith(b"."):
        return None
    shown = os.fsdecode(name)
    where = quote(os.path.join(path, shown))
    if b"=" in name:
        warnings.append(f"skipping {where}: name contains '='")
        return None

    fd = perms.open_entry(dir_fd, shown, path)
    try:
        content = perms.read_limited(fd)
    except OSError as error:
        raise EnvtoolsError(f"cannot read {where}: {error.strerror}") from None
    finally:
        os.close(fd)

    value = envdir.decode_value(content)
    if not perms.fits_execve(name, value):
        warnings.append(f"skipping {where}: {perms.TOO_LONG}")
        return None
    return value
