"""The save transaction: merge, then replace the snapshot atomically.

The snapshot is three artifacts beside each other: the envdir ``DIR``, the
shell file ``DIR.sh`` and the JSON file ``DIR.json``.  Everything the writer
creates in the parent directory is named ``.BASE.tmp.*`` (``BASE`` being
the last component of ``DIR``) until it is renamed into place, so a writer
killed at any point leaves only such names behind, and the next writer
removes them while it holds the lock.  The one exception is ``.BASE.next``,
a complete envdir waiting to replace a DIR that overlayfs will not rename
(see :func:`_replace_unmovable`): the next writer puts it in place.  Files
whose value did not change are carried into the new envdir as hard links
(see :class:`_Reuse`).

No fsync: the renames protect readers and killed writers, and the snapshot
is rebuilt at each container start, so surviving a power loss is not a goal.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import stat
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

from envtools import errors
from envtools import perms
from envtools.errors import EnvtoolsError
from envtools.errors import quote
from envtools.snapshot import DEFAULT_GROUP
from envtools.snapshot import NOT_SAVED
from envtools.snapshot import RETIRED_MODE
from envtools.snapshot import envdir
from envtools.snapshot import jsonfile
from envtools.snapshot import shell

PROG = "save-container-env"

# A previous DIR.json larger than this is not read as a hint.
_MAX_HINT = 64 * 1024 * 1024

_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2

# POSIX ACLs as Linux keeps them: extended attributes.
_ACL_ACCESS = "system.posix_acl_access"
_ACL_DEFAULT = "system.posix_acl_default"

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Request:
    """What to save, and where.

    A plain class, not a dataclass: importing dataclasses pulls in inspect,
    which costs more than a quarter of the whole run (see bench/).

    :param directory: the snapshot directory, absolute, no trailing slash.
    :param group: the group that may read the snapshot.
    :param keep_existing: files already in the directory win over the
        process environment.
    :param exclude: names not taken from the process environment, on top
        of :data:`~envtools.snapshot.NOT_SAVED`.
    :param include: names taken from the process environment even when
        excluded (by default or by *exclude*).
    :param profile_dir: where to install the profile snippet, or None.
    :param unset: names left out of the snapshot, whether the environment
        or a file already in the directory defines them.
    """

    __slots__ = (
        "directory",
        "group",
        "keep_existing",
        "exclude",
        "include",
        "profile_dir",
        "unset",
    )

    def __init__(
        self,
        directory: str,
        group: str,
        keep_existing: bool = False,
        exclude: frozenset[bytes] = frozenset(),
        include: frozenset[bytes] = frozenset(),
        profile_dir: str | None = None,
        unset: frozenset[bytes] = frozenset(),
    ) -> None:
        self.directory = directory
        self.group = group
        self.keep_existing = keep_existing
        self.exclude = exclude
        self.include = include
        self.profile_dir = profile_dir
        self.unset = unset


class _Owner:
    """The group and the modes every artifact gets.

    *strip_acl* is set when the parent has a default ACL: each artifact
    would inherit it, and the modes would only cap what its named users and
    groups may do, not take their access away.
    """

    __slots__ = ("gid", "dir_mode", "file_mode", "strip_acl")

    def __init__(self, gid: int, dir_mode: int, file_mode: int) -> None:
        self.gid = gid
        self.dir_mode = dir_mode
        self.file_mode = file_mode
        self.strip_acl = False


def save(request: Request, environ: Mapping[bytes, bytes]) -> None:
    """Merge *environ* with the snapshot on disk and replace the snapshot.

    Checks the caller is root and the parent directory (and the profile
    directory, if any) is trusted, resolves the group, takes the lock,
    removes leftovers of killed writers, reads the existing envdir, then
    writes ``DIR.json`` and ``DIR.sh`` (temporary file and rename each),
    swaps in a new ``DIR`` built beside the old one (renameat2
    RENAME_EXCHANGE, or RENAME_NOREPLACE the first time), deletes the old
    tree, and last installs the profile snippet.

    :param request: what to save and where.
    :param environ: the process environment, as bytes.
    :raises EnvtoolsError: not root, untrusted parent, or a failed step.
    """
    if os.geteuid() != 0:
        raise EnvtoolsError("must be run as root")
    parent, base = os.path.split(request.directory)
    if not base:
        raise EnvtoolsError(f"not a snapshot location: {quote(request.directory)}")

    fds: list[int] = []
    old_umask = os.umask(0)
    try:
        fds.append(perms.open_trusted_dir(parent))
        if request.profile_dir is not None:
            # Checked before anything is written, not after.
            fds.append(perms.open_trusted_dir(request.profile_dir))
            _check_profile_dir(fds[0], fds[1], request)
        owner = _owner(request.group)
        owner.strip_acl = _has_default_acl(fds[0])
        with _Lock(fds[0], base, parent):
            _transaction(request, environ, fds, base, owner)
    except OSError as error:
        where = quote(error.filename) if error.filename else quote(request.directory)
        raise EnvtoolsError(f"cannot save {where}: {error.strerror}") from None
    finally:
        os.umask(old_umask)
        for fd in fds:
            os.close(fd)


def _check_profile_dir(parent_fd: int, profile_fd: int, request: Request) -> None:
    """Refuse a profile directory that is the snapshot's parent, or inside DIR.

    In the parent, the snippet ``PDIR/BASE.sh`` would replace ``DIR.sh``
    with a file that sources itself: every shell reading it would recurse
    until it crashed.  Inside DIR, it would be deleted with the old DIR.
    """
    shown = quote(str(request.profile_dir))
    parent, profile = os.fstat(parent_fd), os.fstat(profile_fd)
    if (parent.st_dev, parent.st_ino) == (profile.st_dev, profile.st_ino):
        replaced = quote(request.directory + ".sh")
        message = f"profile directory {shown} holds the snapshot"
        raise EnvtoolsError(f"{message}: the snippet would replace {replaced}")

    real = os.path.realpath(str(request.profile_dir))
    inside = os.path.realpath(request.directory)
    if real == inside or real.startswith(inside + "/"):
        raise EnvtoolsError(f"profile directory {shown} is inside the snapshot")


def _transaction(
    request: Request,
    environ: Mapping[bytes, bytes],
    fds: list[int],
    base: str,
    owner: _Owner,
) -> None:
    """The steps of :func:`save` that run under the lock.

    :param fds: the parent directory, then the profile directory if any.
    """
    parent_fd = fds[0]
    parent = os.path.dirname(request.directory)
    _finish_replace(parent_fd, base, parent)
    _remove_leftovers(parent_fd, base, parent)
    old_fd = _open_old(parent_fd, base, request.directory)
    try:
        taken = _taken(request, environ)
        unread = frozenset() if request.keep_existing else taken.keys()
        existing = _read_existing(old_fd, request.directory, unread)
        merged = _merge(request, taken, existing)
        # Old files may carry an inherited ACL: none is reused then.
        reused_fd = -1 if owner.strip_acl else old_fd
        reuse = _Reuse(reused_fd, owner, _previous_values(parent_fd, base))
        _write_artifacts(parent_fd, base, request.directory, merged, owner, reuse)
    finally:
        if old_fd >= 0:
            os.close(old_fd)
    if len(fds) > 1 and request.profile_dir is not None:
        _install_profile(fds[1], request.profile_dir, request.directory)


def _owner(group: str) -> _Owner:
    """Resolve *group*; fall back to root and owner-only modes if missing.

    Only the default group falls back: an image without docker_env still
    gets a root-only snapshot, but a group named on purpose and mistyped
    would leave a snapshot its readers cannot open, with exit status 0.

    :raises EnvtoolsError: *group* is not the default and does not exist.
    """
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        shown = quote(group)
        if group != DEFAULT_GROUP:
            raise EnvtoolsError(f"group {shown} not found") from None
        errors.warn(PROG, f"group {shown} not found: using 'root', 0700 and 0600")
        return _Owner(0, 0o700, 0o600)
    return _Owner(gid, 0o750, 0o640)


class _Lock:
    """Hold an exclusive flock on ``.BASE.lock`` in the parent directory.

    The lock file is root's and 0600: a lock that others could open would
    let them block every writer.
    """

    def __init__(self, parent_fd: int, base: str, parent: str) -> None:
        self._name = f".{base}.lock"
        self._shown = quote(os.path.join(parent, self._name))
        self._parent_fd = parent_fd
        self._fd = -1

    def __enter__(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self._fd = os.open(self._name, flags, 0o600, dir_fd=self._parent_fd)
        except OSError as error:
            message = f"cannot open lock {self._shown}: {error.strerror}"
            raise EnvtoolsError(message) from None
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != 0:
            os.close(self._fd)
            raise EnvtoolsError(f"lock {self._shown} is not a file of root")
        os.fchmod(self._fd, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)


def _temp_prefix(base: str) -> str:
    return f".{base}.tmp."


# Random hex digits after the prefix: only names of exactly this form are
# leftovers, so the lock of a snapshot named BASE.tmp.x is not one.
_TEMP_DIGITS = 12


def _temp_name(base: str) -> str:
    return _temp_prefix(base) + os.urandom(_TEMP_DIGITS // 2).hex()


def _is_temp_name(name: str, base: str) -> bool:
    """Whether *name* is one :func:`_temp_name` could have made for *base*."""
    prefix = _temp_prefix(base)
    digits = name[len(prefix) :]
    hexdigits = "0123456789abcdef"
    return (
        name.startswith(prefix)
        and len(digits) == _TEMP_DIGITS
        and all(digit in hexdigits for digit in digits)
    )


def _remove_leftovers(parent_fd: int, base: str, parent: str) -> None:
    """Delete what killed writers left: every ``.BASE.tmp.*`` entry.

    Only called under the lock, so no live writer owns such a name.

    :param parent: the path of *parent_fd*, for messages.
    """
    for name in os.listdir(parent_fd):
        if _is_temp_name(name, base):
            errors.debug(PROG, f"removing leftover {quote(name)}")
            try:
                _remove_tree(parent_fd, name)
            except OSError as error:
                # Immutable, say: warned about, and no reason to refuse.
                shown = quote(os.path.join(parent, name))
                errors.warn(PROG, f"cannot remove {shown}: {error.strerror}")


def _remove_tree(parent_fd: int, name: str) -> None:
    """Delete *name* under *parent_fd*, never following a symbolic link.

    Depth first with a stack of open directories, not recursion: a tree
    planted in a sticky parent can be deeper than Python's recursion limit.
    Each directory is listed once.  A tree deeper than the descriptor limit
    fails with EMFILE, an OSError like any other.
    """
    try:
        os.unlink(name, dir_fd=parent_fd)
        return
    except IsADirectoryError:
        pass
    except FileNotFoundError:
        return
    stack: _Stack = []
    try:
        _enter(stack, parent_fd, name)
        while stack:
            up, here, fd, entries = stack[-1]
            for entry in entries:
                try:
                    os.unlink(entry, dir_fd=fd)
                except IsADirectoryError:
                    _enter(stack, fd, entry)
                    break
                except FileNotFoundError:
                    pass
            else:
                stack.pop()
                os.close(fd)
                os.rmdir(here, dir_fd=up)
    finally:
        for _, _, fd, _ in stack:
            os.close(fd)


_Stack = list[tuple[int, str, int, Iterator[str]]]


def _enter(stack: _Stack, up: int, name: str) -> None:
    """Open directory *name* in *up* and push it with its listing on *stack*."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=up)
    try:
        entries = iter(os.listdir(fd))
    except BaseException:
        os.close(fd)
        raise
    stack.append((up, name, fd, entries))


def _open_old(parent_fd: int, base: str, path: str) -> int:
    """Open the envdir as it is now; -1 when there is none yet.

    :raises EnvtoolsError: it is not a directory, or untrusted (see
        :func:`envtools.perms.check_dir`).
    """
    try:
        dir_fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        return -1
    except OSError as error:
        if error.errno in (errno.ENOTDIR, errno.ELOOP):
            # A symbolic link is refused too: the swap would replace the
            # link, and a reader would follow it elsewhere.
            raise EnvtoolsError(f"{quote(path)} is not a directory") from None
        raise EnvtoolsError(f"cannot open {quote(path)}: {error.strerror}") from None
    # In a sticky parent such as /tmp, anyone may have made the directory,
    # and in one others may write to, anyone may have added files: they
    # would pass for central definitions once rewritten by root.
    try:
        perms.check_dir(os.fstat(dir_fd), path)
    except BaseException:
        os.close(dir_fd)
        raise
    return dir_fd


def _read_existing(
    dir_fd: int, path: str, unread: AbstractSet[bytes]
) -> dict[bytes, bytes]:
    """Read the variables defined by files already in the envdir *dir_fd*.

    Dot-files are skipped silently (readers skip them too), and so are the
    names in *unread*, which the process environment overrides.  Anything
    else that is not a regular file, or whose value could not be passed to
    execve (:func:`envtools.perms.fits_execve`), is skipped with a warning.

    :raises EnvtoolsError: a file is not root's or others may write to it,
        as the readers would refuse it: rewritten by root, it would pass.

    :param dir_fd: the envdir, or -1 when there is none.
    """
    existing: dict[bytes, bytes] = {}
    if dir_fd < 0:
        return existing
    for name in sorted(os.listdir(dir_fd)):
        key = os.fsencode(name)
        if name.startswith(".") or key in unread:
            continue
        problem = envdir.file_name_problem(key)
        if problem is not None:
            shown = quote(f"{path}/{name}")
            errors.warn(PROG, f"skipped existing {shown}: {problem}")
            continue
        _read_one(dir_fd, name, path, existing)
    return existing


def _read_one(dir_fd: int, name: str, path: str, into: dict[bytes, bytes]) -> None:
    """Add the variable file *name* to *into*, or warn why it is skipped.

    :raises EnvtoolsError: the file is untrusted.
    """
    shown = quote(f"{path}/{name}")
    try:
        # Checked before opening as well as after: opening a device file
        # can have side effects.
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            errors.warn(PROG, f"skipped existing {shown}: not a regular file")
            return
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        errors.warn(PROG, f"skipped existing {shown}: {error.strerror}")
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            errors.warn(PROG, f"skipped existing {shown}: not a regular file")
            return
        perms.check_file(info, f"{path}/{name}")
        content = perms.read_limited(fd)
    finally:
        os.close(fd)
    key = os.fsencode(name)
    value = envdir.decode_value(content)
    if not perms.fits_execve(key, value):
        errors.warn(PROG, f"skipped existing {shown}: {perms.TOO_LONG}")
        return
    into[key] = value


def _taken(request: Request, environ: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """The variables of the process environment that go into the snapshot."""
    excluded = (NOT_SAVED | request.exclude) - request.include
    return {name: value for name, value in environ.items() if name not in excluded}


def _merge(
    request: Request, taken: dict[bytes, bytes], existing: dict[bytes, bytes]
) -> dict[bytes, bytes]:
    """Combine the envdir's files and the variables taken, by name.

    Names in ``request.unset`` go, whichever side has them: without it, a
    variable once saved could never leave the snapshot, since the last
    save's files count as central definitions.
    """
    if request.keep_existing:
        merged = {**taken, **existing}
    else:
        merged = {**existing, **taken}
    errors.debug(PROG, f"{len(existing)} existing files, {len(taken)} variables taken")
    for name in sorted(request.unset - merged.keys()):
        # Most likely a typo, which would otherwise go unseen.
        errors.warn(PROG, f"--unset {quote(name)}: not in the snapshot")
    return {name: merged[name] for name in sorted(merged.keys() - request.unset)}


def _write_artifacts(
    parent_fd: int,
    base: str,
    path: str,
    env: dict[bytes, bytes],
    owner: _Owner,
    reuse: _Reuse,
) -> None:
    """Write DIR.json, DIR.sh and the new DIR, then rename them into place.

    All three are complete under temporary names before the first rename, so
    a write that fails (a full disk) leaves every artifact as it was; the
    temporaries are removed before the error goes up.  Then the new DIR,
    DIR.json and DIR.sh are swapped in, in that order (see
    :func:`_put_in_place`), and the old versions deleted.
    """
    _check_replaceable(parent_fd, base, path)
    script, skipped = shell.render(env)
    for name, problem in skipped:
        errors.warn(PROG, f"left {quote(name)} out of {quote(path + '.sh')}: {problem}")
    temps: list[str] = []
    try:
        temps.append(_write_temp_file(parent_fd, base, jsonfile.dumps(env), owner))
        temps.append(_write_temp_file(parent_fd, base, script, owner))
        temps.append(_build_dir(parent_fd, base, path, env, owner, reuse))
    except BaseException:
        for temp in temps:
            _discard(parent_fd, temp)
        raise

    # Loaded before the first rename: importing ctypes takes milliseconds,
    # which would keep the three renames that much further apart.
    renameat2 = _renameat2()
    json_temp, script_temp, dir_temp = temps
    moves = [(dir_temp, ""), (json_temp, ".json"), (script_temp, ".sh")]
    old = _put_in_place(renameat2, parent_fd, base, path, moves)
    for temp in old:
        _remove_old(parent_fd, temp, path)


def _put_in_place(
    renameat2: Callable[..., int],
    parent_fd: int,
    base: str,
    path: str,
    moves: list[tuple[str, str]],
) -> list[str]:
    """Swap each temporary into place, in order; on a failure, undo them all.

    The directory goes first: the rename most likely to fail (DIR is a
    mount point, or immutable).  Each step is a RENAME_EXCHANGE, which an
    exchange back undoes, so a failure leaves the three artifacts as they
    were instead of a new DIR.json beside an old DIR.

    :param moves: temporary names and the suffix each takes after *base*.
    :returns: the temporary names that now hold the old versions.
    :raises EnvtoolsError: a swap failed; the temporaries are gone.
    """
    done: list[tuple[str, str, bool]] = []
    try:
        for temp, suffix in moves:
            final = base + suffix
            exchanged, code = _rename(renameat2, parent_fd, temp, final)
            if code == errno.EXDEV and not suffix:
                # Not undone by a later failure: the old envdir is gone.
                _replace_unmovable(parent_fd, temp, base, os.path.dirname(path))
                continue
            if code:
                message = f"cannot rename into place {quote(path + suffix)}"
                raise EnvtoolsError(f"{message}: {os.strerror(code)}")
            done.append((temp, final, exchanged))
    except EnvtoolsError:
        for temp, final, exchanged in reversed(done):
            flag = _RENAME_EXCHANGE if exchanged else _RENAME_NOREPLACE
            # Best effort: the same rename just succeeded the other way.
            renameat2(parent_fd, os.fsencode(final), parent_fd, os.fsencode(temp), flag)
        for temp, _ in moves:
            _discard(parent_fd, temp)
        raise
    return [temp for temp, _, exchanged in done if exchanged]


def _remove_old(parent_fd: int, temp: str, path: str) -> None:
    """Delete an old version, or warn: the new snapshot is in place already.

    An old file root made immutable cannot go; failing here would report a
    save that happened as failed.  The next writer tries again.
    """
    try:
        _remove_tree(parent_fd, temp)
    except OSError as error:
        shown = quote(os.path.join(os.path.dirname(path), temp))
        errors.warn(PROG, f"cannot remove old {shown}: {error.strerror}")


def _check_replaceable(parent_fd: int, base: str, path: str) -> None:
    """Refuse a directory where DIR.json or DIR.sh goes, before any rename.

    Found only at the second rename, it would leave a new DIR.json beside an
    old DIR.sh and DIR.
    """
    for suffix in (".json", ".sh"):
        try:
            info = os.stat(base + suffix, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(info.st_mode):
            raise EnvtoolsError(f"{quote(path + suffix)} is a directory")


def _discard(parent_fd: int, temp: str) -> None:
    """Remove the temporary *temp* after a failure, as far as possible.

    What stays behind is removed by the next writer, under the lock.
    """
    try:
        _remove_tree(parent_fd, temp)
    except OSError:
        pass


def _write_temp_file(parent_fd: int, base: str, data: bytes, owner: _Owner) -> str:
    """Write *data* to a new temporary file of the right owner and mode.

    :returns: its name in *parent_fd*; removed again if writing fails.
    """
    temp = _temp_name(base)
    fd = os.open(temp, _CREATE_FLAGS, owner.file_mode, dir_fd=parent_fd)
    try:
        if owner.strip_acl:
            _strip_acl(fd)
        os.fchown(fd, 0, owner.gid)
        os.fchmod(fd, owner.file_mode)
        _write_all(fd, data)
    except BaseException:
        os.close(fd)
        _discard(parent_fd, temp)
        raise
    os.close(fd)
    return temp


def _has_default_acl(dir_fd: int) -> bool:
    """Whether directory *dir_fd* passes a default ACL on to what is made in it."""
    try:
        os.getxattr(dir_fd, _ACL_DEFAULT)
    except OSError as error:
        if error.errno in (errno.ENODATA, errno.EOPNOTSUPP):
            return False
        raise
    return True


def _strip_acl(fd: int) -> None:
    """Remove the access and default ACLs of *fd*, leaving its mode alone."""
    for name in (_ACL_ACCESS, _ACL_DEFAULT):
        try:
            os.removexattr(fd, name)
        except OSError as error:
            # ENODATA: none; EACCES: a file has no default ACL to remove.
            if error.errno not in (errno.ENODATA, errno.EACCES, errno.EOPNOTSUPP):
                raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _build_dir(
    parent_fd: int,
    base: str,
    path: str,
    env: dict[bytes, bytes],
    owner: _Owner,
    reuse: _Reuse,
) -> str:
    """Build the new envdir under a temporary name beside the old one.

    :returns: its name in *parent_fd*; removed again if building fails.
    """
    temp = _temp_name(base)
    os.mkdir(temp, 0o700, dir_fd=parent_fd)
    try:
        dir_fd = os.open(temp, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            if owner.strip_acl:
                # Before any file is made in it: they inherit nothing then.
                _strip_acl(dir_fd)
            # The set-group-ID bit makes each new file inherit the group,
            # which saves one fchown per file; it is cleared once the files
            # exist.
            os.fchown(dir_fd, 0, owner.gid)
            os.fchmod(dir_fd, 0o2700)
            _fill_dir(dir_fd, path, env, owner.file_mode, reuse)
            os.fchmod(dir_fd, owner.dir_mode)
        finally:
            os.close(dir_fd)
    except BaseException:
        _discard(parent_fd, temp)
        raise
    return temp


def _fill_dir(
    dir_fd: int, path: str, env: dict[bytes, bytes], mode: int, reuse: _Reuse
) -> None:
    """Put one file per variable in the directory *dir_fd*."""
    open_, write, close = os.open, os.write, os.close
    for name, value in env.items():
        problem = envdir.file_name_problem(name)
        if problem is not None:
            errors.warn(PROG, f"left {quote(name)} out of {quote(path)}: {problem}")
            continue
        content = envdir.encode_value(value)
        if reuse.link(name, value, content, dir_fd):
            continue
        fd = open_(name, _CREATE_FLAGS, mode, dir_fd=dir_fd)
        try:
            written = write(fd, content)
            if written != len(content):
                _write_all(fd, content[written:])
        finally:
            close(fd)


class _Reuse:
    """Hard-links unchanged files of the old envdir into the new one.

    On a journaling file system a new file costs several times what a new
    link to an existing one does (bench/ measured 0.3 ms against 0.01 ms on
    ext4), and at a container's restart most values have not changed.  A
    file is reused only when it is a regular file with one link, owned by
    root, of the final group and mode, holding exactly the new content.
    Only root can change entries in the old envdir (it is root's, and
    reuse is off when its group or others may write to it), so the checks
    by name are not raced by anyone else.

    The previous DIR.json, when there is one, serves as a hint: a name
    whose value it records differently is not even looked at, which keeps
    the cost low when every value changed.  The hint is never trusted: a
    file is always compared before it is reused.
    """

    def __init__(
        self, old_fd: int, owner: _Owner, previous: dict[bytes, bytes] | None
    ) -> None:
        self._old_fd = old_fd
        self._owner = owner
        self._previous = previous
        if old_fd >= 0 and os.fstat(old_fd).st_mode & 0o022:
            self._old_fd = -1

    def link(self, name: bytes, value: bytes, content: bytes, new_fd: int) -> bool:
        """Link the old file *name* into *new_fd* if it holds *content*."""
        if self._old_fd < 0:
            return False
        if self._previous is not None and self._previous.get(name) != value:
            return False
        try:
            info = os.stat(name, dir_fd=self._old_fd, follow_symlinks=False)
        except OSError:
            return False
        if not self._fits(info, len(content)):
            return False
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=self._old_fd)
            try:
                same = os.read(fd, len(content) + 1) == content
            finally:
                os.close(fd)
            if same:
                old_fd = self._old_fd
                os.link(
                    name,
                    name,
                    src_dir_fd=old_fd,
                    dst_dir_fd=new_fd,
                    follow_symlinks=False,
                )
        except OSError:
            return False
        return same

    def _fits(self, info: os.stat_result, size: int) -> bool:
        owner = self._owner
        return (
            stat.S_ISREG(info.st_mode)
            and info.st_nlink == 1
            and info.st_size == size
            and info.st_uid == 0
            and info.st_gid == owner.gid
            and stat.S_IMODE(info.st_mode) == owner.file_mode
        )


def _previous_values(parent_fd: int, base: str) -> dict[bytes, bytes] | None:
    """The variables the current DIR.json records, or None if unreadable."""
    try:
        fd = os.open(base + ".json", _READ_FLAGS, dir_fd=parent_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_HINT:
            return None
        return jsonfile.loads(os.read(fd, info.st_size))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def _renameat2() -> Callable[..., int]:
    """renameat2(2) from the C library, through ctypes (imported here)."""
    import ctypes

    renameat2: Callable[..., int] = ctypes.CDLL(None, use_errno=True).renameat2
    return renameat2


def _rename(
    renameat2: Callable[..., int], parent_fd: int, temp: str, final: str
) -> tuple[bool, int]:
    """Put *temp* at *final* in one step, with *renameat2*.

    RENAME_EXCHANGE when *final* exists (the old version ends up at *temp*),
    else RENAME_NOREPLACE (nothing ends up at *temp*).

    :returns: whether it was an exchange, and 0 or the errno of a failure.
    """
    import ctypes

    old, new = os.fsencode(temp), os.fsencode(final)
    if renameat2(parent_fd, old, parent_fd, new, _RENAME_EXCHANGE) == 0:
        return True, 0
    code = ctypes.get_errno()
    if code == errno.ENOENT:
        if renameat2(parent_fd, old, parent_fd, new, _RENAME_NOREPLACE) == 0:
            return False, 0
        code = ctypes.get_errno()
    return False, code


def _replace_unmovable(parent_fd: int, temp: str, base: str, parent: str) -> None:
    """Put the envdir *temp* in place of one that cannot be renamed.

    overlayfs, Docker's usual storage driver, refuses with EXDEV to rename
    a directory that comes from a lower layer, as DIR does when the image
    made it at build time.  Such a directory can be deleted, and the new
    one, made in the upper layer, renamed in its place; every later swap
    is atomic again.  Between the two, readers find no DIR.  *temp* is
    first renamed to ``.BASE.next``, so that a writer killed in between
    leaves a complete envdir that the next writer puts in place
    (:func:`_finish_replace`).
    """
    errors.debug(PROG, f"{quote(base)} cannot be renamed: deleting it first")
    os.rename(temp, _next_name(base), src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
    _finish_replace(parent_fd, base, parent)


def _retire(parent_fd: int, base: str) -> None:
    """Mark the envdir *base* as being deleted: mode :data:`RETIRED_MODE`.

    Its files go one by one while its inode stays; without the mark, a
    reader listing it then would take what is left for the snapshot.
    Readers treat the mode as a directory swapped away and read again
    (:mod:`envtools.snapshot.load`).
    """
    try:
        fd = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        # A killed writer deleted it already.
        return
    try:
        os.fchmod(fd, RETIRED_MODE)
    finally:
        os.close(fd)


def _next_name(base: str) -> str:
    return f".{base}.next"


def _finish_replace(parent_fd: int, base: str, parent: str) -> None:
    """Delete DIR and rename ``.BASE.next`` to DIR (no-op without one).

    Only called under the lock.  ``.BASE.next`` exists only once it is
    complete, so it is always the envdir to put in place.
    """
    waiting = _next_name(base)
    try:
        info = os.stat(waiting, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    ours = stat.S_ISDIR(info.st_mode) and info.st_uid == 0
    if not ours or info.st_mode & 0o022:
        # In a sticky parent anyone may make this name: what root did not
        # make is removed, never put in place of the snapshot.
        shown = quote(os.path.join(parent, waiting))
        errors.warn(PROG, f"removing {shown}: not one of this writer's")
        _remove_tree(parent_fd, waiting)
        return
    _retire(parent_fd, base)
    _remove_tree(parent_fd, base)
    os.rename(waiting, base, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)


def _install_profile(dir_fd: int, profile_dir: str, path: str) -> None:
    """Install ``PDIR/BASE.sh``, which sources ``DIR.sh`` if readable.

    Users outside the group cannot read ``DIR.sh``; the ``-r`` test keeps
    their login shells silent.

    :param dir_fd: the profile directory *profile_dir*, already checked.
    """
    base = os.path.basename(path)
    _remove_leftovers(dir_fd, base, profile_dir)
    target = shell.quote(os.fsencode(path + ".sh"))
    snippet = (
        b"# Installed by save-container-env --profile: the container's\n"
        b"# environment, for the members of its group.\n"
        b"if [ -r " + target + b" ]; then\n"
        b"    . " + target + b"\n"
        b"fi\n"
    )
    temp = _write_temp_file(dir_fd, base, snippet, _Owner(0, 0o755, 0o644))
    os.replace(temp, base + ".sh", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
