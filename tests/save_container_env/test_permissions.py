"""Owner, group and modes on every write, whatever the umask; root only."""

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

from save_container_env.conftest import Saver
from save_container_env.helpers import group_warning
from save_container_env.helpers import sidecar

pytestmark = pytest.mark.timeout(120)


def _modes(snapshot_dir: Path) -> dict[str, tuple[int, int, int]]:
    """(uid, gid, permission bits) of each artifact and each file."""
    paths = {
        "dir": snapshot_dir,
        "sh": sidecar(snapshot_dir, ".sh"),
        "json": sidecar(snapshot_dir, ".json"),
        "lock": snapshot_dir.with_name(f".{snapshot_dir.name}.lock"),
    }
    paths.update({f"file {p.name}": p for p in snapshot_dir.iterdir()})
    result = {}
    for label, path in paths.items():
        info = path.lstat()
        result[label] = (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
    return result


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o777])
def test_group_modes(
    umask: int, save_with: Saver, snapshot_dir: Path, group: grp.struct_group
) -> None:
    """root:GROUP, 0750 and 0640 (lock 0600 root), on a first and a second write."""
    gid = group.gr_gid
    expected = {
        "dir": (0, gid, 0o750),
        "sh": (0, gid, 0o640),
        "json": (0, gid, 0o640),
        "lock": (0, 0, 0o600),
        "file A": (0, gid, 0o640),
        "file ENVTOOLS_SNAPSHOT_DIR": (0, gid, 0o640),
    }
    for _ in range(2):
        check(
            save_with({b"A": b"1"}, "--group", group.gr_name, umask=umask), 0, b"", b""
        )
        assert _modes(snapshot_dir) == expected
        # Changed by hand: the next write sets them again.  A directory or
        # file others may write is refused instead (see below).
        for path in snapshot_dir.iterdir():
            path.chmod(0o600)
        snapshot_dir.chmod(0o700)
        sidecar(snapshot_dir, ".sh").chmod(0o777)


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_missing_group(umask: int, save: Saver, snapshot_dir: Path) -> None:
    """Without the default group: one warning, group root, 0700 and 0600."""
    if not group_warning():
        pytest.skip("this machine has a docker_env group; the fallback needs none")
    result = save({b"A": b"1"}, umask=umask)
    check(result, 0, b"", group_warning())
    assert _modes(snapshot_dir) == {
        "dir": (0, 0, 0o700),
        "sh": (0, 0, 0o600),
        "json": (0, 0, 0o600),
        "lock": (0, 0, 0o600),
        "file A": (0, 0, 0o600),
        "file ENVTOOLS_SNAPSHOT_DIR": (0, 0, 0o600),
    }


def test_unknown_named_group_fails(save_with: Saver, snapshot_dir: Path) -> None:
    """A group named with --group that does not exist is an error, not a
    fallback: nothing is written."""
    result = save_with({b"A": b"1"}, "--group", "no_such_group_x")
    check(
        result, 1, b"", b"save-container-env: group 'no_such_group_x' not found\n"
    )
    assert not snapshot_dir.exists()
    assert not sidecar(snapshot_dir, ".sh").exists()


def test_plain_form_default_group(save: Saver, snapshot_dir: Path) -> None:
    """With no option, the group is docker_env (or root with a warning)."""
    check(save({b"A": b"1"}, umask=0o000), 0, b"", group_warning())
    mode = stat.S_IMODE(snapshot_dir.stat().st_mode)
    assert mode == (0o700 if group_warning() else 0o750)


@pytest.mark.parametrize("args", [[], ["--dir", "{dir}"]])
def test_refuses_non_root(
    args: list[str], public_install: Path, open_dir: Path
) -> None:
    """Run by nobody, both forms refuse in one line, exit 1, and write nothing."""
    target = open_dir / "snap"
    argv = [str(public_install / "save-container-env")]
    argv += [arg.replace("{dir}", str(target)) for arg in args]
    env = {"PATH": "/usr/bin:/bin", "ENVTOOLS_SNAPSHOT_DIR": str(target)}
    result = run(argv, env=env, user="nobody", group="nogroup", extra_groups=[])
    check(result, 1, b"", b"save-container-env: must be run as root\n")
    assert os.listdir(open_dir) == []


@pytest.mark.parametrize(
    ("mode", "uid"),
    [(0o777, 0), (0o775, 0), (0o757, 0), (0o755, 65534)],
)
def test_refuses_unsafe_parent(mode: int, uid: int, open_dir: Path) -> None:
    """A parent that others can write to (or own) is refused, exit 1."""
    parent = open_dir / "parent"
    parent.mkdir()
    os.chown(parent, uid, 0)
    parent.chmod(mode)
    target = parent / "snap"
    result = run(
        [command("save-container-env"), "--dir", str(target)],
        env={"A": "1"},
    )
    reason = {
        0o777: "writable by others",
        0o775: "writable by its group",
        0o757: "writable by others",
        0o755: "owned by uid 65534, not root",
    }[mode]
    check(
        result,
        1,
        b"",
        f"save-container-env: refusing '{parent}': {reason}\n".encode(),
    )
    assert os.listdir(parent) == []


def test_refuses_unsafe_grandparent(open_dir: Path) -> None:
    """Every directory up to / counts, not only the parent: whoever can
    rename entries in a grandparent could swap the parent itself."""
    top = open_dir / "top"
    top.mkdir()
    top.chmod(0o777)
    (top / "etc").mkdir()
    result = run(
        [command("save-container-env"), "--dir", str(top / "etc" / "snap")],
        env={"A": "1"},
    )
    message = f"save-container-env: refusing '{top}': writable by others\n"
    check(result, 1, b"", message.encode())
    assert os.listdir(top / "etc") == []


def test_sticky_parent_accepted(open_dir: Path, group: grp.struct_group) -> None:
    """A root-owned sticky directory (like /tmp) is accepted."""
    parent = open_dir / "sticky"
    parent.mkdir()
    parent.chmod(0o1777)
    target = parent / "snap"
    argv = [
        command("save-container-env"),
        "--dir",
        str(target),
        "--group",
        group.gr_name,
    ]
    check(run(argv, env={"A": "1"}), 0, b"", b"")
    assert (target / "A").read_bytes() == b"1\n"


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_location_not_a_directory(kind: str, save: Saver, snapshot_dir: Path) -> None:
    """A file or a symbolic link where the directory goes: exit 1, one line."""
    if kind == "symlink":
        snapshot_dir.symlink_to("/etc")
    else:
        snapshot_dir.write_bytes(b"")
    message = f"save-container-env: '{snapshot_dir}' is not a directory\n"
    check(save({b"A": b"1"}), 1, b"", group_warning() + message.encode())
    assert snapshot_dir.is_symlink() == (kind == "symlink")
    assert not sidecar(snapshot_dir, ".sh").exists()


def test_location_of_another_user(save: Saver, snapshot_dir: Path) -> None:
    """A directory someone else made at the location is refused, exit 1."""
    snapshot_dir.mkdir()
    (snapshot_dir / "PATH").write_bytes(b"/evil\n")
    os.chown(snapshot_dir, 65534, 65534)
    reason = "owned by uid 65534, not root"
    message = f"save-container-env: refusing '{snapshot_dir}': {reason}\n"
    check(save({b"A": b"1"}), 1, b"", group_warning() + message.encode())
    assert not sidecar(snapshot_dir, ".json").exists()


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_location_others_may_write_refused(
    mode: int, save: Saver, snapshot_dir: Path
) -> None:
    """Root's directory that others could have added files to: exit 1."""
    snapshot_dir.mkdir()
    (snapshot_dir / "PATH").write_bytes(b"/evil\n")
    snapshot_dir.chmod(mode)
    who = "others" if mode & 0o002 else "its group"
    message = f"save-container-env: refusing '{snapshot_dir}': writable by {who}\n"
    check(save({b"A": b"1"}), 1, b"", group_warning() + message.encode())
    assert not sidecar(snapshot_dir, ".json").exists()
    assert (snapshot_dir / "PATH").read_bytes() == b"/evil\n"


@pytest.mark.parametrize(
    ("owner", "mode", "reason"),
    [
        (65534, 0o644, "owned by uid 65534, not root"),
        (0, 0o664, "writable by its group"),
        (0, 0o646, "writable by others"),
    ],
)
def test_untrusted_central_file_refused(
    owner: int, mode: int, reason: str, save: Saver, snapshot_dir: Path
) -> None:
    """A file the readers would refuse is not laundered into a trusted one."""
    snapshot_dir.mkdir()
    planted = snapshot_dir / "LD_PRELOAD"
    planted.write_bytes(b"/tmp/evil.so\n")
    os.chown(planted, owner, owner)
    planted.chmod(mode)

    message = f"save-container-env: refusing '{planted}': {reason}\n"
    check(save({b"A": b"1"}), 1, b"", group_warning() + message.encode())
    left = sorted(path.name for path in snapshot_dir.parent.iterdir())
    assert left == [".container_environment.lock", "container_environment"]
    assert os.listdir(snapshot_dir) == ["LD_PRELOAD"]
    assert os.stat(planted).st_uid == owner


def test_default_acl_of_parent_not_inherited(
    open_dir: Path, group: grp.struct_group
) -> None:
    """A default ACL naming an outsider would survive the modes: it is removed."""
    parent = open_dir / "etc"
    parent.mkdir(mode=0o755)
    snapshot = parent / "snap"
    with temp_user() as outsider:
        acl = f"u:{outsider.pw_name}:rwx"
        check(run(["setfacl", "-d", "-m", acl, str(parent)]), 0, b"", b"")
        argv = [command("save-container-env"), "--dir", str(snapshot)]
        argv += ["--group", group.gr_name]
        check(run(argv, env={"SECRET": "s"}), 0, b"", b"")
        check(run(argv, env={"SECRET": "t"}), 0, b"", b"")

        artifacts = [snapshot, snapshot / "SECRET", sidecar(snapshot, ".sh")]
        artifacts.append(sidecar(snapshot, ".json"))
        for path in artifacts:
            assert os.listxattr(path) == [], path
        as_outsider = ["setpriv", f"--reuid={outsider.pw_uid}"]
        as_outsider += [f"--regid={outsider.pw_gid}", "--clear-groups", "cat"]
        for path in artifacts[1:]:
            result = run([*as_outsider, str(path)])
            assert result.returncode == 1
            assert b"Permission denied" in result.stderr
