"""Each difference docs/MIGRATION.md lists between setuser and the tools it
replaces: baseimage-docker's setuser, gosu, su-exec, chpst -u and sudo -u.

gosu, chpst and sudo are installed by .ci/deps; each runs side by side with
setuser on the same account, and a test that needs one is skipped, saying
which, only where it is missing.  su-exec and baseimage's setuser are not
Debian packages: for those the test pins setuser's side, and MIGRATION.md
cites the lines of the peer's source that behave otherwise.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from support.accounts import temp_group
from support.accounts import temp_user
from support.child import REPORT
from support.child import Report
from support.child import expected_environ
from support.child import parse
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run

# A uid and gid that no passwd or group entry on a test machine uses.
LOOSE_ID = 54_321

# PATH as sudo sets it: secure_path in Debian 12's default sudoers.
SECURE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The variables sudo adds to the environment it resets.
SUDO_ADDED = [b"MAIL", b"SUDO_COMMAND", b"SUDO_USER", b"SUDO_UID", b"SUDO_GID"]


@pytest.fixture(autouse=True)
def _root_only() -> None:
    """Every comparison switches users for real, which needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the tools switch users")


@pytest.fixture(scope="module")
def member() -> Iterator[tuple[pwd.struct_passwd, int]]:
    """A throwaway user with its own primary group and one extra group."""
    with temp_group() as extra, temp_user(groups=[extra.gr_name]) as user:
        yield user, extra.gr_gid


def peer(name: str) -> str:
    """The path of a peer tool, or skip the test when it is not installed."""
    path = shutil.which(name, path=base_env()["PATH"])
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def report(argv: list[str], **env: str) -> Report:
    """Run *argv* (ending in the reporting child), expect success, parse."""
    result = run(argv + REPORT, env=base_env(**env))
    check(result, 0)
    return parse(result.stdout)


def setuser(*args: str) -> list[str]:
    return [command("setuser"), *args]


def gosu(*args: str) -> list[str]:
    return [peer("gosu"), *args]


def failed(result: subprocess.CompletedProcess[bytes], status: int, about: str) -> None:
    """Assert a peer's failure: *status*, nothing on stdout, and *about* named
    on stderr, so that a status shared by every failure is the one meant."""
    check(result, status, b"")
    assert about.encode() in result.stderr, f"stderr: {result.stderr!r}"


# Exit statuses.


def test_unknown_user_status() -> None:
    """An unknown user: setuser exits 125, chpst 111, sudo and gosu 1."""
    expected = b"setuser: user 'etnosuchuser' not found\n"
    check(run(setuser("etnosuchuser", "true")), 125, b"", expected)
    failed(run([peer("chpst"), "-u", "etnosuchuser", "true"]), 111, "etnosuchuser")
    failed(run([peer("sudo"), "-u", "etnosuchuser", "true"]), 1, "etnosuchuser")
    failed(run(gosu("etnosuchuser", "true")), 1, "etnosuchuser")


def test_command_not_found_status() -> None:
    """A missing command: setuser exits 127, chpst 111, sudo and gosu 1."""
    name = "etnosuchcommand"
    expected = b"setuser: command 'etnosuchcommand' not found\n"
    check(run(setuser("nobody", name)), 127, b"", expected)
    failed(run([peer("chpst"), "-u", "nobody", name]), 111, name)
    failed(run([peer("sudo"), "-u", "nobody", name]), 1, name)
    failed(run(gosu("nobody", name)), 1, name)


def test_not_executable_status() -> None:
    """A file that cannot be executed is 126 from setuser, 111 from chpst and 1
    from sudo and gosu."""
    expected = b"setuser: cannot execute '/etc/passwd': Permission denied\n"
    check(run(setuser("nobody", "/etc/passwd")), 126, b"", expected)
    failed(run([peer("chpst"), "-u", "nobody", "/etc/passwd"]), 111, "/etc/passwd")
    failed(run([peer("sudo"), "-u", "nobody", "/etc/passwd"]), 1, "/etc/passwd")
    failed(run(gosu("nobody", "/etc/passwd")), 1, "/etc/passwd")


def test_usage_status() -> None:
    """A command line without a command is usage error 125 from setuser, 100
    from chpst, 1 from sudo and gosu (su-exec: 0, usage on stdout)."""
    expected = b"setuser: missing argument 'USER[:GROUP]'\nTry 'setuser --help'.\n"
    check(run(setuser()), 125, b"", expected)
    expected = b"setuser: missing argument 'COMMAND [ARG]...'\nTry 'setuser --help'.\n"
    check(run(setuser("nobody")), 125, b"", expected)
    failed(run([peer("chpst"), "-u", "nobody"]), 100, "usage: chpst")
    failed(run([peer("sudo"), "-u", "nobody"]), 1, "usage: sudo")
    failed(run(gosu()), 1, "Usage: gosu")
    failed(run(gosu("nobody")), 1, "Usage: gosu")


def test_command_status_passes_through() -> None:
    """The command's own status comes back unchanged, as with every peer."""
    exit_3 = ["/bin/sh", "-c", "exit 3"]
    check(run(setuser("nobody", *exit_3)), 3, b"", b"")
    check(run([peer("chpst"), "-u", "nobody", *exit_3]), 3, b"", b"")
    check(run([peer("sudo"), "-u", "nobody", *exit_3]), 3, b"", b"")
    check(run(gosu("nobody", *exit_3)), 3, b"", b"")


# HOME, USER, LOGNAME, SHELL, UID and the rest of the environment.


def identity(got: Report) -> tuple[bytes, bytes, bytes]:
    """HOME, USER and LOGNAME as the child got them."""
    return got.environ[b"HOME"], got.environ[b"USER"], got.environ[b"LOGNAME"]


def test_identity_variables(member: tuple[pwd.struct_passwd, int]) -> None:
    """setuser and sudo set HOME, USER and LOGNAME, gosu sets HOME only and
    chpst none of them."""
    user, _ = member
    home, name = user.pw_dir.encode(), user.pw_name.encode()
    caller = {"HOME": "/root", "USER": "root", "LOGNAME": "root"}
    assert identity(report(setuser(user.pw_name), **caller)) == (home, name, name)
    sudo = report([peer("sudo"), "-u", user.pw_name], **caller)
    assert identity(sudo) == (home, name, name)
    assert identity(report(gosu(user.pw_name), **caller)) == (home, b"root", b"root")
    chpst = report([peer("chpst"), "-u", user.pw_name], **caller)
    assert identity(chpst) == (b"/root", b"root", b"root")


def test_shell_and_uid_untouched(member: tuple[pwd.struct_passwd, int]) -> None:
    """setuser passes SHELL and UID through as the caller had them, where sudo
    sets the target's SHELL and drops UID."""
    user, _ = member
    caller = {"SHELL": "/bin/bash", "UID": "0"}
    ours = report(setuser(user.pw_name), **caller).environ
    assert (ours[b"SHELL"], ours[b"UID"]) == (b"/bin/bash", b"0")
    theirs = report([peer("sudo"), "-u", user.pw_name], **caller).environ
    assert theirs[b"SHELL"] == user.pw_shell.encode()
    assert b"UID" not in theirs


def test_environment_kept() -> None:
    """setuser passes the caller's environment on as it is, where sudo keeps
    LANG and TERM, sets PATH to secure_path, adds MAIL and SUDO_* and drops
    the rest."""
    caller = {"GREETING": "hello", "TERM": "xterm"}
    ours = report(setuser("nobody"), **caller).environ
    assert ours == expected_environ(base_env(**caller), "/nonexistent", "nobody")
    theirs = report([peer("sudo"), "-u", "nobody"], **caller).environ
    assert b"GREETING" not in theirs
    assert (theirs[b"LANG"], theirs[b"TERM"]) == (b"C.UTF-8", b"xterm")
    assert theirs[b"PATH"] == SECURE_PATH.encode()
    assert set(SUDO_ADDED) <= set(theirs)


# Groups for user and user:group.


def test_user_gets_every_membership(member: tuple[pwd.struct_passwd, int]) -> None:
    """For USER, setuser and sudo set the primary group and every membership,
    chpst -u the primary gid only, gosu the /etc/group memberships only."""
    user, extra = member
    assert report(setuser(user.pw_name)).groups() == {user.pw_gid, extra}
    sudo = report([peer("sudo"), "-u", user.pw_name])
    assert sudo.groups() == {user.pw_gid, extra}
    chpst = report([peer("chpst"), "-u", user.pw_name])
    assert chpst.groups() == {user.pw_gid}
    theirs = report(gosu(user.pw_name))
    assert (theirs.ids("Gid"), theirs.groups()) == ([user.pw_gid] * 4, {extra})


def test_user_group_gets_exactly_that_group(
    member: tuple[pwd.struct_passwd, int],
) -> None:
    """For USER:GROUP, setuser and chpst set exactly GROUP, sudo -g adds the
    user's memberships, gosu sets GROUP as gid with no supplementary group."""
    user, extra = member
    spec = f"{user.pw_name}:nogroup"
    ours = report(setuser(spec))
    assert (ours.ids("Gid"), ours.groups()) == ([65534] * 4, {65534})
    chpst = report([peer("chpst"), "-u", spec])
    assert (chpst.ids("Gid"), chpst.groups()) == ([65534] * 4, {65534})
    sudo = report([peer("sudo"), "-u", user.pw_name, "-g", "nogroup"])
    assert sudo.groups() == {65534, user.pw_gid, extra}
    theirs = report(gosu(spec))
    assert (theirs.ids("Gid"), theirs.groups()) == ([65534] * 4, set())


def test_group_list_refused(member: tuple[pwd.struct_passwd, int]) -> None:
    """chpst -u USER:G1:G2 sets several groups, where setuser reads G1:G2 as
    one group name."""
    user, extra = member
    name = grp.getgrgid(extra).gr_name
    spec = f"{user.pw_name}:nogroup:{name}"
    expected = f"setuser: group 'nogroup:{name}' not found\n".encode()
    check(run(setuser(spec, "true")), 125, b"", expected)
    assert report([peer("chpst"), "-u", spec]).groups() == {65534, extra}


# A uid with no passwd entry, and numeric specs.


def test_loose_uid_needs_a_group() -> None:
    """A bare uid with no passwd entry is refused by setuser and sudo, where
    gosu runs it with the caller's gid (root's 0) and no supplementary
    group."""
    expected = (
        f"setuser: uid '{LOOSE_ID}' has no passwd entry: give a group, "
        f"as '{LOOSE_ID}:GID'\n"
    ).encode()
    check(run(setuser(str(LOOSE_ID), "true")), 125, b"", expected)
    failed(run([peer("sudo"), "-u", f"#{LOOSE_ID}", "true"]), 1, f"#{LOOSE_ID}")
    theirs = report(gosu(str(LOOSE_ID)))
    assert (theirs.ids("Uid"), theirs.ids("Gid")) == ([LOOSE_ID] * 4, [0] * 4)
    assert theirs.groups() == set()


def test_loose_uid_with_gid() -> None:
    """uid:gid with no entries runs with exactly that gid as its one group,
    HOME=/ and the decimal uid as USER and LOGNAME; gosu gives no group."""
    loose = str(LOOSE_ID).encode()
    got = report(setuser(f"{LOOSE_ID}:{LOOSE_ID}"))
    assert (got.ids("Uid"), got.ids("Gid")) == ([LOOSE_ID] * 4, [LOOSE_ID] * 4)
    assert got.groups() == {LOOSE_ID}
    assert identity(got) == (b"/", loose, loose)
    theirs = report(gosu(f"{LOOSE_ID}:{LOOSE_ID}"))
    assert (theirs.ids("Gid"), theirs.groups()) == ([LOOSE_ID] * 4, set())


def test_numeric_user_is_a_uid() -> None:
    """setuser and gosu read digits as a uid, where chpst -u looks them up as
    a user name and finds none."""
    assert report(setuser("65534")).ids("Uid") == [65534] * 4
    assert report(gosu("65534")).ids("Uid") == [65534] * 4
    failed(run([peer("chpst"), "-u", "65534", "true"]), 111, "65534")


# The process itself.


def reported_pid(argv: list[str]) -> tuple[int, int]:
    """The pid *argv* was started as, and the pid its reporting child has."""
    popen = subprocess.Popen(argv + REPORT, env=base_env(), stdout=subprocess.PIPE)
    stdout, _ = popen.communicate(timeout=30)
    assert popen.returncode == 0
    return popen.pid, parse(stdout).pid


def test_exec_in_place() -> None:
    """setuser, gosu and chpst become the command (same pid), where sudo stays
    as the command's parent."""
    for argv in [setuser("nobody"), gosu("nobody"), [peer("chpst"), "-u", "nobody"]]:
        started, child = reported_pid(argv)
        assert child == started, argv
    started, child = reported_pid([peer("sudo"), "-u", "nobody"])
    assert child != started
