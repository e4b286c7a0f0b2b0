"""Each difference docs/MIGRATION.md lists between setuser and the tools it
replaces: baseimage-docker's setuser, gosu, su-exec, chpst -u and sudo -u.

Where the peer is installed here (chpst, sudo), it runs side by side with
setuser on the same account.  gosu, su-exec and baseimage's setuser are not
Debian packages on this machine; for those the test pins setuser's side, and
MIGRATION.md cites the lines of the peer's source that behave otherwise.
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
from support.child import parse
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run

# A uid and gid that no passwd or group entry on a test machine uses.
LOOSE_ID = 54_321


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


# Exit statuses.


def test_unknown_user_status() -> None:
    """setuser exits 125 for an unknown user; chpst 111, sudo 1 (and gosu,
    su-exec and baseimage's setuser 1)."""
    expected = b"setuser: user 'etnosuchuser' not found\n"
    check(run(setuser("etnosuchuser", "true")), 125, b"", expected)
    check(run([peer("chpst"), "-u", "etnosuchuser", "true"]), 111)
    check(run([peer("sudo"), "-u", "etnosuchuser", "true"]), 1)


def test_command_not_found_status() -> None:
    """setuser exits 127 for a missing command; chpst 111, sudo 1."""
    expected = b"setuser: command 'etnosuchcommand' not found\n"
    check(run(setuser("nobody", "etnosuchcommand")), 127, b"", expected)
    check(run([peer("chpst"), "-u", "nobody", "etnosuchcommand"]), 111)
    check(run([peer("sudo"), "-u", "nobody", "etnosuchcommand"]), 1)


def test_not_executable_status() -> None:
    """setuser exits 126 for a file it cannot execute; chpst 111, sudo 1."""
    expected = b"setuser: cannot execute '/etc/passwd': Permission denied\n"
    check(run(setuser("nobody", "/etc/passwd")), 126, b"", expected)
    check(run([peer("chpst"), "-u", "nobody", "/etc/passwd"]), 111)
    check(run([peer("sudo"), "-u", "nobody", "/etc/passwd"]), 1)


def test_usage_status() -> None:
    """A missing command line is usage error 125 on stderr; chpst says 100;
    su-exec prints its usage on stdout and exits 0."""
    expected = b"setuser: missing argument 'USER[:GROUP]'\nTry 'setuser --help'.\n"
    check(run(setuser()), 125, b"", expected)
    check(run([peer("chpst"), "-u"]), 100)


def test_command_status_passes_through() -> None:
    """The command's own status comes back unchanged, as with every peer."""
    check(run(setuser("nobody", "/bin/sh", "-c", "exit 3")), 3, b"", b"")
    check(run([peer("chpst"), "-u", "nobody", "/bin/sh", "-c", "exit 3"]), 3)


# HOME, USER, LOGNAME, SHELL, UID.


def test_identity_variables(member: tuple[pwd.struct_passwd, int]) -> None:
    """setuser sets HOME, USER and LOGNAME; chpst leaves the caller's;
    gosu and su-exec set HOME only; baseimage's setuser sets no LOGNAME."""
    user, _ = member
    caller = {"HOME": "/root", "USER": "root", "LOGNAME": "root"}
    ours = report(setuser(user.pw_name), **caller).environ
    assert ours[b"HOME"] == user.pw_dir.encode()
    assert ours[b"USER"] == ours[b"LOGNAME"] == user.pw_name.encode()
    theirs = report([peer("chpst"), "-u", user.pw_name], **caller).environ
    assert (theirs[b"HOME"], theirs[b"USER"], theirs[b"LOGNAME"]) == (
        b"/root", b"root", b"root"
    )


def test_shell_and_uid_untouched(member: tuple[pwd.struct_passwd, int]) -> None:
    """setuser neither sets UID (baseimage's setuser does) nor SHELL (sudo
    sets the target's); both pass through as the caller had them."""
    user, _ = member
    caller = {"SHELL": "/bin/bash", "UID": "0"}
    ours = report(setuser(user.pw_name), **caller).environ
    assert (ours[b"SHELL"], ours[b"UID"]) == (b"/bin/bash", b"0")
    theirs = report([peer("sudo"), "-u", user.pw_name], **caller).environ
    assert theirs[b"SHELL"] == user.pw_shell.encode()
    assert b"UID" not in theirs


def test_environment_kept() -> None:
    """setuser passes the caller's environment on; sudo resets it."""
    ours = report(setuser("nobody"), GREETING="hello").environ
    assert ours[b"GREETING"] == b"hello"
    theirs = report([peer("sudo"), "-u", "nobody"], GREETING="hello").environ
    assert b"GREETING" not in theirs


# Groups for user and user:group.


def test_user_gets_every_membership(member: tuple[pwd.struct_passwd, int]) -> None:
    """For USER, setuser sets the primary group and every membership, as
    baseimage's setuser and su-exec do; chpst -u sets the primary gid only;
    gosu sets the memberships listed in /etc/group only."""
    user, extra = member
    ours = report(setuser(user.pw_name))
    assert ours.groups() == {user.pw_gid, extra}
    theirs = report([peer("chpst"), "-u", user.pw_name])
    assert theirs.groups() == {user.pw_gid}


def test_user_group_gets_exactly_that_group(
    member: tuple[pwd.struct_passwd, int],
) -> None:
    """For USER:GROUP, setuser sets exactly GROUP, as su-exec and chpst do;
    sudo -g adds the user's memberships; gosu sets no supplementary group."""
    user, extra = member
    spec = f"{user.pw_name}:nogroup"
    ours = report(setuser(spec))
    assert (ours.ids("Gid")[0], ours.groups()) == (65534, {65534})
    chpst = report([peer("chpst"), "-u", spec])
    assert chpst.groups() == {65534}
    sudo = report([peer("sudo"), "-u", user.pw_name, "-g", "nogroup"])
    assert sudo.groups() == {65534, user.pw_gid, extra}


def test_group_list_refused(member: tuple[pwd.struct_passwd, int]) -> None:
    """chpst -u USER:G1:G2 sets several groups; setuser takes one group and
    reads the rest as its name."""
    user, extra = member
    name = grp.getgrgid(extra).gr_name
    spec = f"{user.pw_name}:nogroup:{name}"
    expected = f"setuser: group 'nogroup:{name}' not found\n".encode()
    check(run(setuser(spec, "true")), 125, b"", expected)
    assert report([peer("chpst"), "-u", spec]).groups() == {65534, extra}


# A uid with no passwd entry, and numeric specs.


def test_loose_uid_needs_a_group() -> None:
    """A bare uid with no passwd entry is refused; gosu and su-exec would
    run it with the caller's gid (0 for root), sudo refuses '#uid'."""
    expected = (
        f"setuser: uid '{LOOSE_ID}' has no passwd entry: give a group, "
        f"as '{LOOSE_ID}:GID'\n"
    ).encode()
    check(run(setuser(str(LOOSE_ID), "true")), 125, b"", expected)
    check(run([peer("sudo"), "-u", f"#{LOOSE_ID}", "true"]), 1)


def test_loose_uid_with_gid() -> None:
    """uid:gid with no entries runs with exactly that gid, HOME=/, and the
    decimal uid as USER and LOGNAME."""
    got = report(setuser(f"{LOOSE_ID}:{LOOSE_ID}"))
    assert got.ids("Uid") == [LOOSE_ID] * 4
    assert got.groups() == {LOOSE_ID}
    expected = (b"/", str(LOOSE_ID).encode(), str(LOOSE_ID).encode())
    assert (got.environ[b"HOME"], got.environ[b"USER"], got.environ[b"LOGNAME"]) == (
        expected
    )


def test_numeric_user_is_a_uid() -> None:
    """setuser reads digits as a uid, as gosu and su-exec do; chpst -u looks
    digits up as a name (uids need ':uid:gid'); baseimage's setuser too."""
    got = report(setuser("65534"))
    assert got.ids("Uid") == [65534] * 4
    check(run([peer("chpst"), "-u", "65534", "true"]), 111)


# The process itself.


def test_exec_in_place() -> None:
    """setuser becomes the command (same pid), like gosu, su-exec and chpst;
    sudo stays as the command's parent."""
    popen = subprocess.Popen(
        setuser("nobody") + REPORT, env=base_env(), stdout=subprocess.PIPE
    )
    stdout, _ = popen.communicate(timeout=30)
    assert popen.returncode == 0
    assert parse(stdout).pid == popen.pid
    sudo = subprocess.Popen(
        [peer("sudo"), "-u", "nobody"] + REPORT, env=base_env(), stdout=subprocess.PIPE
    )
    stdout, _ = sudo.communicate(timeout=30)
    assert parse(stdout).pid != sudo.pid
