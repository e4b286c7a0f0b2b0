"""Trust checks on the snapshot: owners, modes, symbolic links, the group gate.

A value read from the snapshot ends up in the environment of services that
run as root, so every directory from ``/`` down to each file must be one that
only root could have written.  Every check is made with ``fstat`` on a
descriptor that was opened without following a symbolic link in its last
component, so nothing can be swapped between the check and the read.
"""

from __future__ import annotations

import errno
import os
import stat

from envtools.errors import EnvtoolsError
from envtools.errors import quote

# The kernel's MAX_ARG_STRLEN: no single "NAME=value" string longer than
# this, its NUL included, can be passed to execve.  A file is read up to
# one byte past it, which is enough to tell that its value cannot fit.
MAX_VALUE = 128 * 1024
TOO_LONG = "NAME=value over the kernel's 128 KiB limit"

# As the kernel's own limit on symbolic links followed in one lookup.
MAX_HOPS = 40

_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# Through /proc/self/fd the last component is a link to the file itself,
# which O_NOFOLLOW would refuse.
_REOPEN_FLAGS = _FILE_FLAGS & ~os.O_NOFOLLOW


class Vanished(Exception):
    """A name listed a moment ago is gone: the writer swapped the snapshot."""


def open_snapshot_dir(path: str) -> tuple[int, os.stat_result]:
    """Open the snapshot directory *path* as an ``O_PATH`` descriptor.

    The parent is walked from ``/`` by :func:`_walk`, which follows only
    root's symbolic links (system ones such as ``/var/run`` are fine); the
    last component is opened with ``openat`` and ``O_PATH|O_NOFOLLOW`` and
    checked with ``fstat``, so a symbolic link there is refused.

    :param path: an absolute path.
    :returns: the descriptor (the caller closes it) and its ``fstat``.
    :raises EnvtoolsError: a component is missing, unreadable or untrusted.
    """
    parent, name = os.path.split(path)
    parent_fd = _walk(parent)
    try:
        fd = _open_path(parent_fd, name or ".", path)
    finally:
        os.close(parent_fd)
    try:
        info = os.fstat(fd)
        if stat.S_ISLNK(info.st_mode):
            raise EnvtoolsError(f"refusing {quote(path)}: is a symbolic link")
        check_dir(info, path)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def open_trusted_dir(path: str) -> int:
    """Open directory *path* for reading once it and every parent pass.

    Walks *path* from ``/`` as :func:`open_snapshot_dir` does, its last
    component included, then opens the last step for reading through the
    walked descriptor, so what was checked is what is opened.  For the
    writer, whose files anyone able to rename entries on the way could swap.

    :returns: an ``O_RDONLY|O_DIRECTORY`` descriptor; the caller closes it.
    :raises EnvtoolsError: a component is missing, unreadable or untrusted.
    """
    walked = _walk(path)
    try:
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        return os.open(".", flags, dir_fd=walked)
    except OSError as error:
        raise _os_error(error, path) from None
    finally:
        os.close(walked)


def check_dir(info: os.stat_result, path: str) -> None:
    """Refuse a directory root does not own or others may write to.

    A sticky directory (``/tmp``) may be writable by all: only the owner of
    an entry can then rename or remove it.

    :raises EnvtoolsError: naming *path* and the reason.
    """
    if not stat.S_ISDIR(info.st_mode):
        raise EnvtoolsError(f"refusing {quote(path)}: not a directory")
    _check_owner(info, path)
    if not info.st_mode & stat.S_ISVTX:
        _check_mode(info, path)


def check_file(info: os.stat_result, path: str) -> None:
    """Refuse anything but a regular file owned by root and written by it.

    :raises EnvtoolsError: naming *path* and the reason.
    """
    if not stat.S_ISREG(info.st_mode):
        raise EnvtoolsError(f"refusing {quote(path)}: not a regular file")
    _check_owner(info, path)
    _check_mode(info, path)


def check_gate(info: os.stat_result, path: str) -> None:
    """Let root and the members of the directory's group through.

    Membership counts the real, the effective and the supplementary gids
    (``getgid``, ``getegid``, ``getgroups``).

    :param info: the ``fstat`` of the snapshot directory.
    :raises EnvtoolsError: naming the group and how to join it.
    """
    if os.geteuid() == 0:
        return
    gid = info.st_gid
    if gid in (os.getgid(), os.getegid()) or gid in os.getgroups():
        return
    group = _group_name(gid)
    user = _user_name(os.geteuid())
    if _listed_member(user, gid):
        # usermod would change nothing: the process was started without
        # the group (setuser USER:GROUP, or a login older than the change).
        raise EnvtoolsError(
            f"{quote(path)} is for root and group {quote(group)}: user "
            f"{quote(user)} is a member, but this process was started without it"
        )
    if gid == 0:
        # Joining root's group to read one file would be worse than the
        # problem: the snapshot wants its own group.
        raise EnvtoolsError(
            f"{quote(path)} is for root only: ask root to save it with --group"
        )
    # Quoted as a whole, so that names a directory service filled with
    # control characters are shown escaped, as everywhere else.
    command = quote(f"usermod -aG {group} {user}")
    raise EnvtoolsError(
        f"{quote(path)} is for root and group {quote(group)}: "
        f"ask root to run {command}, then log in again"
    )


def open_entry(dir_fd: int, name: str, dir_path: str) -> int:
    """Open the snapshot file *name* for reading, checked on the descriptor.

    ``openat`` with ``O_PATH|O_NOFOLLOW``, which opens nothing, then
    ``fstat``: a FIFO, socket or device node is refused before any open(2)
    could act on it (block on a FIFO, make a terminal the controlling one,
    arm a watchdog).  A regular file is then opened for reading through
    ``/proc/self/fd``, the same inode.  When *name* is a symbolic link, it
    is followed by hand, hop by hop, as long as it stays inside the
    snapshot directory: the Kubernetes ``..data`` layout.

    :param dir_fd: the snapshot directory.
    :param dir_path: its path, for messages.
    :returns: the open descriptor; the caller closes it.
    :raises Vanished: *name* does not exist (any more).
    :raises EnvtoolsError: the file cannot be opened or is untrusted.
    """
    shown = os.path.join(dir_path, name)
    path_fd = _open_path(dir_fd, name, shown, vanish=True)
    try:
        info = os.fstat(path_fd)
        if stat.S_ISLNK(info.st_mode):
            fd = _follow_inside(dir_fd, name, dir_path)
        else:
            fd = _reopen_regular(path_fd, info, dir_fd, name, shown)
    finally:
        os.close(path_fd)
    try:
        check_file(os.fstat(fd), shown)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_head(path: str, size: int) -> bytes:
    """The first *size* bytes of *path* if it is a regular file, else ``b""``.

    Opens *path* once with ``O_PATH``, following links (a command path may
    well be one), which opens nothing; fstat(2)s that descriptor; only for
    a regular file opens it for reading through ``/proc/self/fd``, so the
    inode read is the one checked.  A name swapped for a FIFO or a device
    node in between is never opened: root calls this, and opening a
    watchdog arms it.  Any failure gives ``b""``.
    """
    try:
        path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(path_fd).st_mode):
            return b""
        # Gap (2026-12-04): without /proc an O_PATH descriptor cannot be
        # opened for reading, and opening the name again could reach a FIFO
        # swapped in, so nothing is read.  Lifting it needs a way to reopen
        # a descriptor that does not go through /proc; Linux has none.
        fd = os.open(f"/proc/self/fd/{path_fd}", _REOPEN_FLAGS)
    except OSError:
        return b""
    finally:
        os.close(path_fd)

    try:
        return os.read(fd, size)
    except OSError:
        return b""
    finally:
        os.close(fd)


def fits_execve(name: bytes, value: bytes) -> bool:
    """Whether ``NAME=value`` and its NUL fit in one execve string.

    A value that does not would make the exec fail with E2BIG, which would
    look like the command's fault (126), so readers and the writer skip it.
    """
    return len(name) + len(value) + 2 <= MAX_VALUE


def read_limited(fd: int) -> bytes:
    """Read *fd* to its end, but never more than ``MAX_VALUE + 1`` bytes.

    A result longer than ``MAX_VALUE`` means the file is too large.
    """
    chunks = []
    left = MAX_VALUE + 1
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _walk(path: str) -> int:
    """Open the directory *path* from ``/`` one component at a time.

    Each component is opened with ``openat`` and ``O_PATH|O_NOFOLLOW``
    relative to the one before and checked with ``fstat``: a directory by
    :func:`check_dir`, a symbolic link by :func:`_link_target`, which reads
    it with ``readlinkat``; its target is then walked in its place, from
    ``/`` when absolute.  ``..`` goes back to the descriptor walked before,
    so it leaves what a link led into, as the kernel does, and ``..`` at
    ``/`` stays there.  Nothing is resolved before it is checked.

    :param path: an absolute path.
    :returns: an ``O_PATH`` descriptor of *path*, every step checked.
    :raises EnvtoolsError: a component is missing, unreadable or untrusted,
        a symbolic link is not root's, or there are too many of them.
    """
    walked = [(_open_root(), "")]
    pending = path.split("/")
    hops = 0
    try:
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if len(walked) > 1:
                    os.close(walked.pop()[0])
                continue
            shown = "/".join([name for _, name in walked] + [part])
            fd = _open_path(walked[-1][0], part, shown)
            info = os.fstat(fd)
            if not stat.S_ISLNK(info.st_mode):
                walked.append((fd, part))
                check_dir(info, shown)
                continue
            hops += 1
            target = _link_target(fd, info, shown, hops)
            if target.startswith("/"):
                _back_to_root(walked)
            pending = target.split("/") + pending
        return walked.pop()[0]
    finally:
        for fd, _ in walked:
            os.close(fd)


def _open_root() -> int:
    """Open ``/`` as the first step of :func:`_walk`, checked like the rest."""
    fd = os.open("/", _PATH_FLAGS | os.O_DIRECTORY)
    try:
        check_dir(os.fstat(fd), "/")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _back_to_root(walked: list[tuple[int, str]]) -> None:
    """Leave every directory but ``/``, for a link to an absolute path."""
    while len(walked) > 1:
        os.close(walked.pop()[0])


def _link_target(link_fd: int, info: os.stat_result, shown: str, hops: int) -> str:
    """The target of the link *link_fd* met on the walk, if root's; closes it.

    The directory holding the link passed :func:`check_dir`, so only root
    could have put it there, unless the directory is sticky: then anyone
    may add a link, which would send the walk where they like.  Hence the
    owner of the link itself must be root, as with the kernel's
    protected_symlinks.

    :raises EnvtoolsError: the link is not root's, or one hop too many.
    """
    try:
        if info.st_uid != 0:
            owner = info.st_uid
            where = quote(shown)
            raise EnvtoolsError(
                f"refusing {where}: symbolic link owned by uid {owner}, not root"
            )
        return _read_link(link_fd, shown, hops)
    finally:
        os.close(link_fd)


def _open_path(dir_fd: int, name: str, shown: str, vanish: bool = False) -> int:
    try:
        return os.open(name, _PATH_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        raise _os_error(error, shown, vanish) from None


def _follow_inside(dir_fd: int, name: str, dir_path: str) -> int:
    """Follow the symbolic link *name* by hand, never out of *dir_fd*.

    Each component is opened with ``O_PATH|O_NOFOLLOW`` relative to the one
    before; directories on the way are checked like the snapshot directory,
    links must be root's and are read with ``readlinkat``, their target
    walked in turn.

    :returns: the final file opened for reading (not yet checked).
    """
    pending = [name]
    entered: list[tuple[int, str]] = []
    hops = 0
    try:
        while pending:
            part = pending.pop(0)
            current = entered[-1][0] if entered else dir_fd
            shown = os.path.join(dir_path, *[n for _, n in entered], part)
            if part in ("", "."):
                continue
            if part == "..":
                _climb(entered, os.path.join(dir_path, name))
                continue
            fd = _open_path(current, part, shown, vanish=True)
            info = os.fstat(fd)
            if stat.S_ISLNK(info.st_mode):
                hops += 1
                try:
                    # In a sticky directory anyone may add a link: it would
                    # give a root file a name of their choosing.
                    _check_owner(info, shown)
                    pending = _link_parts(fd, shown, hops) + pending
                finally:
                    os.close(fd)
            elif pending:
                entered.append((fd, part))
                check_dir(info, shown)
            else:
                try:
                    return _reopen_regular(fd, info, current, part, shown)
                finally:
                    os.close(fd)
        shown = quote(os.path.join(dir_path, name))
        raise EnvtoolsError(f"refusing {shown}: not a regular file")
    finally:
        for fd, _ in entered:
            os.close(fd)


def _climb(entered: list[tuple[int, str]], shown: str) -> None:
    """Leave the directory entered last, for a ``..`` in a link's target."""
    if not entered:
        where = quote(shown)
        raise EnvtoolsError(f"refusing {where}: symbolic link leaves the directory")
    os.close(entered.pop()[0])


def _link_parts(link_fd: int, shown: str, hops: int) -> list[str]:
    """The components of the target of the link opened as *link_fd*."""
    target = _read_link(link_fd, shown, hops, vanish=True)
    if target.startswith("/"):
        where = quote(shown)
        raise EnvtoolsError(f"refusing {where}: symbolic link to an absolute path")
    return target.split("/")


def _read_link(link_fd: int, shown: str, hops: int, vanish: bool = False) -> str:
    """Read the link opened as *link_fd*, the *hops*-th followed in one lookup.

    With readlinkat(2) on the ``O_PATH`` descriptor itself, not by name: a
    name can be swapped for a file between the fstat that found a link and
    the read.

    :raises EnvtoolsError: more than ``MAX_HOPS`` links, or readlinkat(2)
        failed.
    """
    if hops > MAX_HOPS:
        raise EnvtoolsError(f"refusing {quote(shown)}: too many symbolic links")
    try:
        return os.readlink("", dir_fd=link_fd)
    except OSError as error:
        raise _os_error(error, shown, vanish) from None


def _reopen_regular(
    path_fd: int, info: os.stat_result, dir_fd: int, part: str, shown: str
) -> int:
    """Open the ``O_PATH`` descriptor *path_fd* for reading, if a regular file.

    Through ``/proc/self/fd``, so it is the inode *info* describes.  Without
    /proc, *part* is opened again in *dir_fd* and must still be that inode.

    :raises EnvtoolsError: not a regular file, or the open failed.
    :raises Vanished: without /proc, *part* was replaced in between.
    """
    if not stat.S_ISREG(info.st_mode):
        raise EnvtoolsError(f"refusing {quote(shown)}: not a regular file")
    try:
        return os.open(f"/proc/self/fd/{path_fd}", _REOPEN_FLAGS)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise _os_error(error, shown) from None

    try:
        fd = os.open(part, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            # It was a regular file a moment ago: swapped under us.
            raise Vanished(shown) from None
        raise _os_error(error, shown, vanish=True) from None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
        os.close(fd)
        raise Vanished(shown)
    return fd


def _check_owner(info: os.stat_result, path: str) -> None:
    if info.st_uid != 0:
        owner = info.st_uid
        raise EnvtoolsError(f"refusing {quote(path)}: owned by uid {owner}, not root")


def _check_mode(info: os.stat_result, path: str) -> None:
    if info.st_mode & stat.S_IWOTH:
        raise EnvtoolsError(f"refusing {quote(path)}: writable by others")
    if info.st_mode & stat.S_IWGRP:
        raise EnvtoolsError(f"refusing {quote(path)}: writable by its group")


def _os_error(error: OSError, shown: str, vanish: bool = False) -> Exception:
    """Map *error* to a one-line failure, or `Vanished` for a listed name."""
    if vanish and error.errno == errno.ENOENT:
        return Vanished(shown)
    return EnvtoolsError(f"cannot open {quote(shown)}: {os.strerror(error.errno or 0)}")


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _listed_member(user: str, gid: int) -> bool:
    """Whether the group database gives *user* the group *gid*."""
    import pwd

    try:
        return gid in os.getgrouplist(user, pwd.getpwnam(user).pw_gid)
    except (KeyError, OSError):
        return False


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
