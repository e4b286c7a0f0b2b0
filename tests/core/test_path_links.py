"""Symbolic links on the path of the snapshot: only root's are followed.

The writer and both readers walk the path from ``/`` as the kernel resolves
it, link by link, so a link a user planted cannot send them past a check.
Every command runs installed, on real links with real owners, made by a
throwaway user where the user could make them.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.accounts import temp_user
from support.child import public_dir
from support.proc import check
from support.proc import command
from support.proc import run
from support.snapshots import write_snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs real owners")

SAFE = {b"A": b"one"}


@pytest.fixture
def top() -> Iterator[Path]:
    """A root-owned 0755 directory every user can enter, removed afterwards."""
    with public_dir() as made:
        yield made


@pytest.fixture(scope="module")
def user() -> Iterator[pwd.struct_passwd]:
    """A throwaway user to plant links."""
    with temp_user() as made:
        yield made


@pytest.fixture
def victim(top: Path) -> Path:
    """A trusted directory holding a snapshot, where a link may lead."""
    directory = top / "victim"
    directory.mkdir()
    write_snapshot(directory / "cenv", SAFE)
    return directory


def _as_user(user: pwd.struct_passwd, *argv: str) -> None:
    """Run *argv* as *user*, with its own group only, and require success."""
    ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    check(run(list(argv), env={"PATH": "/usr/bin:/bin"}, **ids), 0, b"", b"")


def _save(directory: Path) -> subprocess.CompletedProcess[bytes]:
    argv = [command("save-container-env"), "--dir", str(directory)]
    return run(argv + ["--group", "root"], env={"A": "1"}, timeout=10)


def _readers(directory: Path) -> list[tuple[subprocess.CompletedProcess[bytes], str]]:
    """Both readers run on *directory*, each with its command name."""
    show = ["/bin/sh", "-c", 'printf %s "$A"']
    plain = [command("container-env"), "--dir", str(directory), "--get", "A"]
    wrapped = [command("with-container-env"), "--dir", str(directory), *show]
    return [
        (run(plain, timeout=10), "container-env"),
        (run(wrapped, timeout=10), "with-container-env"),
    ]


def _refused(directory: Path, message: str) -> None:
    """The writer and both readers refuse *directory* with *message*."""
    check(_save(directory), 1, b"", f"save-container-env: {message}\n".encode())
    for result, prog in _readers(directory):
        status = 125 if prog == "with-container-env" else 1
        check(result, status, b"", f"{prog}: {message}\n".encode())


def _accepted(directory: Path, real: Path) -> None:
    """The writer saves into *real* through *directory*; both readers read it."""
    check(_save(directory), 0, b"", b"")
    assert (real / "A").read_bytes() == b"1\n"
    for result, _ in _readers(directory):
        check(result, 0, b"1", b"")


def test_user_link_in_own_directory_refused(
    top: Path, victim: Path, user: pwd.struct_passwd
) -> None:
    """A directory of the user's swapped for a link to a trusted one is still
    refused, naming the user's directory, and nothing is written."""
    app = top / "app"
    app.mkdir()
    os.chown(app, user.pw_uid, user.pw_gid)
    _as_user(user, "mkdir", str(app / "run"))
    check(_save(app / "run" / "cenv"), 1, stdout=b"")

    _as_user(user, "rmdir", str(app / "run"))
    _as_user(user, "ln", "-s", str(victim), str(app / "run"))

    reason = f"owned by uid {user.pw_uid}, not root"
    _refused(app / "run" / "cenv", f"refusing '{app}': {reason}")
    assert sorted(os.listdir(victim)) == ["cenv"]


def test_user_link_in_sticky_directory_refused(
    top: Path, victim: Path, user: pwd.struct_passwd
) -> None:
    """A link a user added to a sticky directory is refused, naming the link."""
    sticky = top / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    _as_user(user, "ln", "-s", str(victim), str(sticky / "run"))

    reason = f"symbolic link owned by uid {user.pw_uid}, not root"
    _refused(sticky / "run" / "cenv", f"refusing '{sticky}/run': {reason}")
    assert sorted(os.listdir(victim)) == ["cenv"]


@pytest.mark.parametrize("target", ["absolute", "relative"])
def test_root_link_to_trusted_directory_accepted(
    top: Path, victim: Path, target: str
) -> None:
    """A root-owned link to a trusted directory is followed by all three."""
    link = top / "run"
    link.symlink_to(victim if target == "absolute" else victim.name)
    _accepted(link / "cenv", victim / "cenv")


def test_system_link_followed() -> None:
    """/var/run, root's link to /run, is followed: a missing snapshot under it
    is reported missing, not refused."""
    if not os.path.islink("/var/run") or os.lstat("/var/run").st_uid != 0:
        pytest.skip("/var/run is not a link of root's here")
    missing = f"/var/run/envtools-none-{os.getpid()}"
    message = f"cannot open '{missing}': No such file or directory\n"
    for result, prog in _readers(Path(missing)):
        status = 125 if prog == "with-container-env" else 1
        check(result, status, b"", f"{prog}: ".encode() + message.encode())


@pytest.mark.parametrize("owner", ["user-owned", "group-writable"])
def test_root_link_into_untrusted_directory_refused(
    top: Path, user: pwd.struct_passwd, owner: str
) -> None:
    """A root-owned link is followed, and the directory it leads to is checked
    like any other."""
    bad = top / "bad"
    bad.mkdir()
    write_snapshot(bad / "cenv", SAFE)
    if owner == "user-owned":
        os.chown(bad, user.pw_uid, user.pw_gid)
        reason = f"owned by uid {user.pw_uid}, not root"
    else:
        bad.chmod(0o775)
        reason = "writable by its group"
    (top / "run").symlink_to(bad)
    _refused(top / "run" / "cenv", f"refusing '{bad}': {reason}")


def test_root_link_through_user_link_refused(
    top: Path, victim: Path, user: pwd.struct_passwd
) -> None:
    """A root-owned link whose target runs through a user's link is refused at
    the user's link."""
    sticky = top / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    _as_user(user, "ln", "-s", str(victim), str(sticky / "run"))
    (top / "app").symlink_to("sticky/run")

    reason = f"symbolic link owned by uid {user.pw_uid}, not root"
    _refused(top / "app" / "cenv", f"refusing '{sticky}/run': {reason}")


def test_link_loop_refused(top: Path) -> None:
    """Two links that point at each other are refused in one line, no
    traceback."""
    (top / "l1").symlink_to("l2")
    (top / "l2").symlink_to("l1")
    # The 41st hop, odd, is l1 again.
    _refused(top / "l1" / "cenv", f"refusing '{top}/l1': too many symbolic links")


@pytest.mark.parametrize("length", [40, 41])
def test_chain_of_links_limited_to_40(top: Path, victim: Path, length: int) -> None:
    """A chain of 40 root-owned links is followed, as by the kernel; 41 are
    refused, naming the 41st."""
    (top / f"c{length}").symlink_to(victim)
    for number in range(length - 1, 0, -1):
        (top / f"c{number}").symlink_to(f"c{number + 1}")
    directory = top / "c1" / "cenv"
    if length == 40:
        _accepted(directory, victim / "cenv")
    else:
        _refused(directory, f"refusing '{top}/c41': too many symbolic links")


def test_dotdot_after_link_climbs_from_target(top: Path, victim: Path) -> None:
    """In a link's target, '..' after a link leaves the directory the link led
    into, as in the kernel, not the one the text names."""
    (victim / "inner").mkdir()
    (top / "deep").symlink_to(victim / "inner")
    (top / "up").symlink_to("deep/..")
    _accepted(top / "up" / "cenv", victim / "cenv")
    assert not (top / "cenv").exists()


def test_dotdot_does_not_cancel_user_link(
    top: Path, victim: Path, user: pwd.struct_passwd
) -> None:
    """A user's link followed by '..' in a root link's target is still refused:
    '..' leaves the link's target, it does not erase the link."""
    (victim / "inner").mkdir()
    sticky = top / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    _as_user(user, "ln", "-s", str(victim / "inner"), str(sticky / "run"))
    (top / "up").symlink_to("sticky/run/..")

    reason = f"symbolic link owned by uid {user.pw_uid}, not root"
    _refused(top / "up" / "cenv", f"refusing '{sticky}/run': {reason}")
