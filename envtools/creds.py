"""User specs, their lookup, and the switch to the target credentials.

Everything that reads the user and group databases happens in
:func:`resolve`, before any credential changes: after :func:`switch` the
target user may be unable to read the interpreter, its standard library or
NSS modules, so nothing may be imported or looked up from then on.
"""

from __future__ import annotations

import grp
import os
import pwd

from envtools.errors import EnvtoolsError
from envtools.errors import quote as _q

# Importing typing costs milliseconds; mypy takes this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# prctl(2) option number, from <linux/prctl.h>.
_PR_SET_NO_NEW_PRIVS = 38

# The largest id a user spec may name.  -1 and its unsigned twin 4294967295
# mean "leave unchanged" to setresuid(2) and friends: a spec that reached
# them as either would leave the command running as root.  Staying within
# a signed 32-bit int keeps every id clear of both.
MAX_ID = 2147483647


class Target:
    """Who the command runs as: the result of resolving a user spec.

    Immutable.  Written by hand rather than as a dataclass: importing
    dataclasses costs more than the whole start-up of the plain setuser path.

    :param uid: the uid to set (real, effective and saved).
    :param gid: the gid to set (real, effective and saved).
    :param groups: the exact supplementary group list to set.
    :param name: the passwd name, or the decimal uid when there is no entry.
    :param home: the passwd home; ``/`` when there is no entry or it is empty.
    :param shell: the passwd shell; ``None`` when there is no entry.
    """

    __slots__ = ("uid", "gid", "groups", "name", "home", "shell")

    uid: int
    gid: int
    groups: tuple[int, ...]
    name: str
    home: str
    shell: str | None

    def __init__(
        self,
        uid: int,
        gid: int,
        groups: tuple[int, ...],
        name: str,
        home: str,
        shell: str | None,
    ) -> None:
        values = (uid, gid, tuple(groups), name, home, shell)
        for field, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, field, value)

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, field) for field in self.__slots__)

    def __setattr__(self, field: str, value: object) -> None:
        raise AttributeError(f"Target is immutable: cannot set {field}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Target):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        pairs = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"Target({pairs})"


def parse_id(text: str, kind: str) -> int | None:
    """Return *text* as an id if it is one, else ``None`` (it is a name).

    A part is a number exactly when it is ASCII digits only: no sign, space,
    underscore or other scripts' digits, all of which ``int()`` accepts.

    :param kind: ``uid`` or ``gid``, for the message.
    :raises EnvtoolsError: digits outside 0..2147483647.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    if value > MAX_ID:
        raise EnvtoolsError(f"{kind} {_q(text)} out of range (0 to {MAX_ID})")
    return value


def split_spec(spec: str) -> tuple[str, str | None]:
    """Split ``USER[:GROUP]`` into its parts, refusing empty ones.

    :raises EnvtoolsError: empty spec, empty user or empty group.
    """
    user, colon, group = spec.partition(":")
    if not user:
        raise EnvtoolsError(f"invalid user spec {_q(spec)}: no user")
    if colon and not group:
        raise EnvtoolsError(f"invalid user spec {_q(spec)}: no group after ':'")
    return user, (group if colon else None)


def resolve(spec: str) -> Target:
    """Parse *spec* and look up everything the switch and the command need.

    Calls getpwnam(3) or getpwuid(3), getgrnam(3) for a group name and
    getgrouplist(3) for a user without an explicit group.  A name that is
    not found is an error, never retried as a number, and the reverse.

    Supplementary groups: the user's groups from the group database (with
    the primary gid) when no group is given; exactly the one given group
    otherwise; only the gid for ``uid:gid`` with no passwd entry.

    :param spec: ``user``, ``uid``, ``user:group``, ``uid:gid``,
        ``user:gid`` or ``uid:group``.
    :raises EnvtoolsError: bad spec, unknown user or group, or a bare uid
        with no passwd entry (it has no group to take).
    """
    user, group = split_spec(spec)

    uid = parse_id(user, "uid")
    gid = None if group is None else parse_id(group, "gid")
    entry = _passwd_entry(user, uid)

    if group is not None and gid is None:
        gid = _group_gid(group)

    if entry is None:
        assert uid is not None  # a name without an entry raised above
        if gid is None:
            raise EnvtoolsError(
                f"uid {_q(user)} has no passwd entry: give a group, as '{uid}:GID'"
            )
        return Target(uid, gid, (gid,), str(uid), "/", None)

    if gid is None:
        groups = _member_groups(entry.pw_name, entry.pw_gid)
        gid = entry.pw_gid
    else:
        groups = (gid,)
    home = entry.pw_dir or "/"
    return Target(entry.pw_uid, gid, groups, entry.pw_name, home, entry.pw_shell)


def _passwd_entry(user: str, uid: int | None) -> pwd.struct_passwd | None:
    """The passwd entry of *user*; ``None`` only for a uid without one.

    :raises EnvtoolsError: a user name that is not found.
    """
    try:
        if uid is None:
            return pwd.getpwnam(user)
        return pwd.getpwuid(uid)
    except (KeyError, ValueError):
        # ValueError: an embedded NUL, which no name in the database has.
        if uid is None:
            raise EnvtoolsError(f"user {_q(user)} not found") from None
        return None


def _group_gid(group: str) -> int:
    """The gid of group name *group*.

    :raises EnvtoolsError: the group is not found.
    """
    try:
        return grp.getgrnam(group).gr_gid
    except (KeyError, ValueError):
        raise EnvtoolsError(f"group {_q(group)} not found") from None


def _member_groups(name: str, gid: int) -> tuple[int, ...]:
    """*gid* and every group that lists *name* as a member, in order, once."""
    # Gap (2026-12-03): supplementary groups come from the group database
    # only; memberships that PAM modules such as pam_group grant are not
    # applied, not even with setuser --login, whose child sets exactly these
    # groups.  Taking them would mean reading the groups PAM left on the
    # parent after pam_setcred.
    groups: list[int] = []
    for member_gid in os.getgrouplist(name, gid):
        if member_gid not in groups:
            groups.append(member_gid)
    return tuple(groups)


def identity(target: Target) -> dict[bytes, bytes]:
    """The variables that say who the command runs as: HOME, USER, LOGNAME.

    Never ``UID``: shells set it themselves, read-only in some of them.
    """
    name = os.fsencode(target.name)
    return {b"HOME": os.fsencode(target.home), b"USER": name, b"LOGNAME": name}


def is_current(target: Target) -> bool:
    """Whether this process already runs exactly as *target*.

    Real, effective and saved uid and gid must all match.  Groups match when
    they grant the same access: the gid counts as a member whether or not the
    supplementary list names it, as the kernel checks both.
    """
    ids = (target.uid,) * 3
    if os.getresuid() != ids or os.getresgid() != (target.gid,) * 3:
        return False
    wanted = set(target.groups) | {target.gid}
    return set(os.getgroups()) | {target.gid} == wanted


def switch(target: Target) -> None:
    """Change every credential of this process to *target*'s, then verify.

    Calls setgroups(2), setresgid(2), setresuid(2) in that order (the
    group calls need root, which the uid call gives up), then
    getresuid(2), getresgid(2) and getgroups(2) to check the result, and
    when the target is not root, setuid(0) to check it fails.  When the
    caller is not root and already is *target* (:func:`is_current`),
    nothing is called and nothing changes.

    :raises EnvtoolsError: a call failed, the result differs from what was
        asked, uid 0 could be regained, or the caller is not root and is
        someone else.
    """
    if os.geteuid() != 0:
        if is_current(target):
            return
        raise EnvtoolsError(f"cannot switch to user {_q(target.name)}: root needed")

    _call("set supplementary groups", os.setgroups, list(target.groups))
    _call("set gid", os.setresgid, target.gid, target.gid, target.gid)
    _call("set uid", os.setresuid, target.uid, target.uid, target.uid)

    _verify(target)


def _call(step: str, function: Callable[..., None], *args: object) -> None:
    """Call *function*; an OSError becomes ``unable to STEP: reason``."""
    try:
        function(*args)
    except OSError as error:
        raise EnvtoolsError(f"unable to {step}: {error.strerror}") from None


def _verify(target: Target) -> None:
    """Check the switch took, every id of it; see :func:`switch`.

    :raises EnvtoolsError: any difference, or uid 0 regained.
    """
    if os.getresuid() != (target.uid,) * 3:
        raise EnvtoolsError("switch verification failed: uid not fully changed")
    if os.getresgid() != (target.gid,) * 3:
        raise EnvtoolsError("switch verification failed: gid not fully changed")
    if set(os.getgroups()) != set(target.groups):
        raise EnvtoolsError("switch verification failed: supplementary groups differ")
    if target.uid == 0:
        return

    try:
        os.setuid(0)
    except OSError:
        return
    raise EnvtoolsError("switch verification failed: uid 0 could be regained")


def set_no_new_privs() -> None:
    """Set this process's no_new_privs flag with prctl(2).

    ctypes is imported here, only when asked for: it is too costly for the
    plain path.  Call it before the switch, which is when imports still work.

    :raises EnvtoolsError: prctl failed.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        reason = os.strerror(ctypes.get_errno())
        raise EnvtoolsError(f"unable to set no_new_privs: {reason}")


def drop_terminal() -> None:
    """Give up the controlling terminal, keeping this process and its pid.

    Calls setsid(2), which starts a new session without a terminal.  That
    fails for a process-group leader, which is what a shell with job control
    makes of every command it starts; then opens ``/dev/tty`` and calls
    ioctl(2) TIOCNOTTY on it, which detaches this process alone and leaves
    its process group, so keys such as Ctrl-C still reach it.  A session
    leader hangs up its foreground process group when it does this: SIGHUP
    is ignored around the call so that it does not end this process.  Last,
    checks that ``/dev/tty`` no longer opens.

    fcntl, signal and termios are imported here, only when asked for: call
    it before the switch.  A process without a controlling terminal cannot
    push input into one with TIOCSTI unless it holds CAP_SYS_ADMIN.

    :raises EnvtoolsError: the ioctl failed, or a terminal is still there.
    """
    try:
        os.setsid()
    except PermissionError:
        _detach_terminal()

    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return
    raise EnvtoolsError("unable to give up the controlling terminal: still attached")


def _detach_terminal() -> None:
    """ioctl TIOCNOTTY on the controlling terminal, if there is one."""
    import fcntl
    import signal
    import termios

    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        # ENXIO: no controlling terminal, nothing to give up.
        return
    hangup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        fcntl.ioctl(fd, termios.TIOCNOTTY)
    except OSError as error:
        raise EnvtoolsError(
            f"unable to give up the controlling terminal: {error.strerror}"
        ) from None
    finally:
        signal.signal(signal.SIGHUP, hangup)
        os.close(fd)
