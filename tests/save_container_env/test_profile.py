"""--profile: a profile.d snippet that gives members the snapshot, others nothing."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

import pytest
from support.accounts import temp_user
from support.proc import check
from support.proc import command
from support.proc import run
from support.shells import SHELLS
from support.shells import source_and_dump

pytestmark = pytest.mark.timeout(120)

ENV = {b"GREETING": b"it's $(id) `x`", b"EMPTY": b""}


def _install(open_dir: Path, group: grp.struct_group) -> tuple[Path, Path]:
    """Save ENV to OPEN_DIR/snap with --profile; return snapshot and snippet."""
    profile_dir = open_dir / "profile.d"
    profile_dir.mkdir(mode=0o755)
    snapshot = open_dir / "snap"
    argv = [
        command("save-container-env"), "--dir", str(snapshot), "--group",
        group.gr_name, "--profile", "--profile-dir", str(profile_dir),
    ]  # fmt: skip
    check(run(argv, env=ENV), 0, b"", b"")
    return snapshot, profile_dir / "snap.sh"


def test_snippet(open_dir: Path, group: grp.struct_group) -> None:
    """The snippet is root's, 0644, and sources DIR.sh only when readable."""
    snapshot, snippet = _install(open_dir, group)
    assert snippet.read_bytes() == (
        b"# Installed by save-container-env --profile: the container's\n"
        b"# environment, for the members of its group.\n"
        b"if [ -r '" + bytes(snapshot) + b".sh' ]; then\n"
        b"    . '" + bytes(snapshot) + b".sh'\n"
        b"fi\n"
    )
    info = snippet.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o644)
    assert sorted(os.listdir(snippet.parent)) == ["snap.sh"]


@pytest.mark.parametrize("shell_id", SHELLS)
def test_member_and_non_member(
    shell_id: str, open_dir: Path, group: grp.struct_group
) -> None:
    """A member's shell gets the variables; a non-member's stays silent."""
    _, snippet = _install(open_dir, group)
    with temp_user(groups=[group.gr_name]) as member, temp_user() as other:
        for user, expected in ((member, ENV), (other, {})):
            result, dumped = source_and_dump(
                SHELLS[shell_id],
                snippet,
                user=user.pw_uid,
                group=user.pw_gid,
                extra_groups=os.getgrouplist(user.pw_name, user.pw_gid),
                cwd="/",
            )
            assert result.stderr == b"rc=0\n", user.pw_name
            assert {n: dumped[n] for n in ENV if n in dumped} == expected


def test_unsafe_profile_dir(open_dir: Path, group: grp.struct_group) -> None:
    """A profile directory others can write to is refused before any write."""
    profile_dir = open_dir / "profile.d"
    profile_dir.mkdir()
    profile_dir.chmod(0o777)
    snapshot = open_dir / "snap"
    argv = [
        command("save-container-env"), "--dir", str(snapshot), "--group",
        group.gr_name, "--profile", "--profile-dir", str(profile_dir),
    ]  # fmt: skip
    message = f"save-container-env: refusing '{profile_dir}': writable by others\n"
    check(run(argv, env=ENV), 1, b"", message.encode())
    assert sorted(os.listdir(open_dir)) == ["profile.d"]


def test_profile_dir_holding_snapshot_refused(
    open_dir: Path, group: grp.struct_group
) -> None:
    """PDIR/BASE.sh would be DIR.sh, sourcing itself: exit 1, nothing written."""
    snapshot = open_dir / "snap"
    argv = [
        command("save-container-env"), "--dir", str(snapshot), "--group",
        group.gr_name, "--profile", "--profile-dir", str(open_dir),
    ]  # fmt: skip

    result = run(argv, env=ENV)

    message = (
        f"save-container-env: profile directory '{open_dir}' holds the snapshot: "
        f"the snippet would replace '{snapshot}.sh'\n"
    )
    check(result, 1, b"", message.encode())
    assert os.listdir(open_dir) == []


@pytest.mark.parametrize("where", ["snap", "snap/sub"])
def test_profile_dir_inside_snapshot_refused(
    open_dir: Path, group: grp.struct_group, where: str
) -> None:
    """A PDIR in DIR would go with the old DIR: exit 1, snapshot unchanged."""
    snapshot = open_dir / "snap"
    profile_dir = open_dir / where
    profile_dir.mkdir(parents=True)
    argv = [
        command("save-container-env"), "--dir", str(snapshot), "--group",
        group.gr_name, "--profile", "--profile-dir", str(profile_dir),
    ]  # fmt: skip

    result = run(argv, env=ENV)

    message = f"save-container-env: profile directory '{profile_dir}' is inside"
    check(result, 1, b"", f"{message} the snapshot\n".encode())
    assert sorted(os.listdir(open_dir)) == ["snap"]
