"""A group member who is not root cannot make root load what it controls.

A throwaway user in the snapshot's group plants files with its own rights
(through /bin/sh, which every user can run), wherever the modes let it;
root's with-container-env must then refuse the snapshot in one line, and
never run the command with a planted value.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.accounts import temp_group
from support.accounts import temp_user
from support.campaign import tally
from support.child import public_dir
from support.proc import check
from support.proc import command
from support.proc import run
from support.snapshots import write_snapshot

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for real accounts"),
]

PLANTED = b"LD_PRELOAD"


@pytest.fixture(scope="module")
def member() -> Iterator[tuple[object, object]]:
    """A group, and a user who is a member of it; both removed afterwards."""
    with temp_group() as group, temp_user(groups=[group.gr_name]) as user:
        yield user, group


def as_member(user: object, script: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``/bin/sh -c SCRIPT`` as *user*, with its groups."""
    argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
    argv += ["--init-groups", "/bin/sh", "-c", script]
    return run(argv, env={"PATH": "/usr/bin:/bin"})


def root_runs(directory: Path) -> subprocess.CompletedProcess[bytes]:
    """Root's with-container-env on *directory*, printing the planted name."""
    argv = [command("with-container-env"), "--dir", str(directory)]
    return run([*argv, "/usr/bin/printenv", os.fsdecode(PLANTED)], env={})


@pytest.fixture
def layout(member) -> Iterator[tuple[Path, Path]]:
    """A public parent holding a snapshot root:GROUP 0750 with one value."""
    _, group = member
    with public_dir() as top:
        parent = top / "etc"
        parent.mkdir(mode=0o755)
        directory = write_snapshot(parent / "snapshot", {b"A": b"1"}, gid=group.gr_gid)
        yield parent, directory


def test_default_modes_keep_member_out(member, layout):
    """With the writer's modes the member can read but not plant anything."""
    user, _ = member
    _, directory = layout
    planted = as_member(user, f"echo evil > '{directory}/{PLANTED.decode()}'")
    tally("privilege boundaries", tried=1, refused=1)
    assert planted.returncode != 0
    assert b"Permission denied" in planted.stderr
    read = as_member(user, f"cat '{directory}/A'")
    check(read, 0, b"1\n", b"")


@pytest.mark.parametrize("where", ["snapshot", "parent"])
def test_group_writable_place_refused(member, layout, where):
    """A snapshot or parent the group can write is refused, planted file or not."""
    user, group = member
    parent, directory = layout
    writable = directory if where == "snapshot" else parent
    os.chown(writable, 0, group.gr_gid)
    writable.chmod(0o770 if where == "snapshot" else 0o775)
    if where == "snapshot":
        script = f"echo evil > '{directory}/{PLANTED.decode()}'"
    else:
        # Swap the whole snapshot for one of the member's own making.
        script = (
            f"cd '{parent}' && mkdir mine && echo evil > mine/{PLANTED.decode()}"
            f" && mv snapshot theirs && mv mine snapshot"
        )
    check(as_member(user, script), 0, b"", b"")

    result = root_runs(directory)

    tally("privilege boundaries", tried=1, refused=1)
    if where == "snapshot":
        reason = f"refusing '{directory}': writable by its group"
    else:
        reason = f"refusing '{parent}': writable by its group"
    check(result, 125, b"", f"with-container-env: {reason}\n".encode())


def test_member_owned_file_refused(member, layout):
    """A file the member owns, even in root's directory, is refused."""
    user, _ = member
    _, directory = layout
    planted = directory / PLANTED.decode()
    planted.write_bytes(b"evil\n")
    planted.chmod(0o640)
    os.chown(planted, user.pw_uid, user.pw_gid)

    result = root_runs(directory)

    tally("privilege boundaries", tried=1, refused=1)
    reason = f"refusing '{planted}': owned by uid {user.pw_uid}, not root"
    check(result, 125, b"", f"with-container-env: {reason}\n".encode())


def test_member_link_to_own_file_refused(member, layout):
    """A link root made to a file the member controls is refused as leaving."""
    user, _ = member
    parent, directory = layout
    theirs = parent / "theirs"
    theirs.write_bytes(b"evil\n")
    os.chown(theirs, user.pw_uid, user.pw_gid)
    (directory / PLANTED.decode()).symlink_to("../theirs")

    result = root_runs(directory)

    tally("privilege boundaries", tried=1, refused=1)
    reason = f"refusing '{directory}/{PLANTED.decode()}': symbolic link leaves the"
    check(result, 125, b"", f"with-container-env: {reason} directory\n".encode())


def test_member_owned_file_not_laundered_by_save(member, layout):
    """Root's next save refuses the member's file instead of rewriting it as root's."""
    user, group = member
    _, directory = layout
    planted = directory / PLANTED.decode()
    planted.write_bytes(b"evil\n")
    os.chown(planted, user.pw_uid, user.pw_gid)

    argv = [command("save-container-env"), "--dir", str(directory)]
    saved = run([*argv, "--group", group.gr_name], env={"A": "2"})
    result = root_runs(directory)

    tally("privilege boundaries", tried=1, refused=1)
    reason = f"refusing '{planted}': owned by uid {user.pw_uid}, not root"
    check(saved, 1, b"", f"save-container-env: {reason}\n".encode())
    check(result, 125, b"", f"with-container-env: {reason}\n".encode())
