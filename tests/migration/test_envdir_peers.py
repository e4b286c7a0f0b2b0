"""Each difference docs/MIGRATION.md lists between with-container-env,
save-container-env and the environment tools they replace: chpst -e,
s6-envdir, s6-overlay's with-contenv and baseimage-docker's my_init.

chpst and s6-envdir run side by side with with-container-env on the same
directory.  with-contenv is an execline script; its two steps are run here
as it runs them (``emptyenv -p``, then ``s6-envdir -Lf``), from execline
and s6 as installed.  my_init is not installed; for it the test pins
envtools' side, and MIGRATION.md cites the lines of my_init that differ.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.accounts import temp_group
from support.accounts import temp_user
from support.child import REPORT
from support.child import parse
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run

# File contents that the tools read differently.
FILES = {
    "MULTI": b"a\nb\n",
    "TRAIL": b"x  \n",
    "ENDNL": b"v\n\n",
    "EMPTY": b"",
    "HOME": b"/from-the-directory\n",
}

# Where execline keeps emptyenv on Debian (not on PATH).
EMPTYENV = "/usr/lib/execline/bin/emptyenv"

# The names with-container-env never takes from a directory.
IDENTITY = ["HOME", "USER", "LOGNAME", "SHELL", "UID", "GID", "GROUP"]
SUDO = ["SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND"]

# The names save-container-env does not save.
NOT_SAVED = ["HOME", "USER", "LOGNAME", "GROUP", "UID", "GID", "SHELL"]

# Ways an envdir is not to be trusted: the file changed (None: the directory
# itself), its new mode and owner, and the reason the refusal gives.
UNTRUSTED = {
    "directory-others": (None, 0o757, 0, "writable by others"),
    "directory-group": (None, 0o775, 0, "writable by its group"),
    "directory-owner": (None, 0o755, 65534, "owned by uid 65534, not root"),
    "file-others": ("TRAIL", 0o646, 0, "writable by others"),
    "file-group": ("TRAIL", 0o664, 0, "writable by its group"),
    "file-owner": ("TRAIL", 0o644, 65534, "owned by uid 65534, not root"),
}


@pytest.fixture(autouse=True)
def _root_only() -> None:
    """The snapshot and the envdirs are root's, as in a container."""
    if os.geteuid() != 0:
        pytest.skip("needs root: snapshots are root-owned")


@pytest.fixture
def envdir(tmp_path: Path) -> Path:
    """A root-owned envdir holding FILES."""
    path = tmp_path / "env"
    path.mkdir(mode=0o755)
    for name, content in FILES.items():
        (path / name).write_bytes(content)
    return path


def peer(path: str) -> str:
    """*path* of a peer tool, or skip the test when it is not installed."""
    found = shutil.which(path, path=base_env()["PATH"])
    if found is None:
        pytest.skip(f"{path} is not installed")
    return found


def tools(envdir: Path) -> dict[str, list[str]]:
    """Each tool's command line for reading *envdir*, child not included."""
    return {
        "envtools": [command("with-container-env"), "--dir", str(envdir)],
        "chpst": [peer("chpst"), "-e", str(envdir)],
        "s6-envdir": [peer("s6-envdir"), str(envdir)],
        "with-contenv": [
            peer(EMPTYENV), "-p", peer("s6-envdir"), "-Lf", "--", str(envdir)
        ],
    }


def environ(argv: list[str], **env: str) -> dict[bytes, bytes]:
    """The environment the reporting child gets when run under *argv*."""
    result = run(argv + REPORT, env=base_env(**env))
    check(result, 0)
    return parse(result.stdout).environ


def values(envdir: Path, name: str, **env: str) -> dict[str, bytes | None]:
    """What each tool sets *name* to (None: not set at all)."""
    return {
        tool: environ(argv, **env).get(name.encode())
        for tool, argv in tools(envdir).items()
    }


def test_whole_file_not_first_line(envdir: Path) -> None:
    """envtools takes the whole file, as with-contenv does; chpst -e and
    s6-envdir take the first line."""
    assert values(envdir, "MULTI") == {
        "envtools": b"a\nb",
        "chpst": b"a",
        "s6-envdir": b"a",
        "with-contenv": b"a\nb",
    }


def test_trailing_blanks_kept(envdir: Path) -> None:
    """Trailing spaces stay in the value; chpst -e and s6-envdir drop them."""
    assert values(envdir, "TRAIL") == {
        "envtools": b"x  ",
        "chpst": b"x",
        "s6-envdir": b"x",
        "with-contenv": b"x  ",
    }


def test_one_trailing_newline_removed(envdir: Path) -> None:
    """Exactly one final newline is removed, as s6-envdir -f does, where chpst
    -e and s6-envdir keep the first line only."""
    assert values(envdir, "ENDNL") == {
        "envtools": b"v\n",
        "chpst": b"v",
        "s6-envdir": b"v",
        "with-contenv": b"v\n",
    }


def test_empty_file_sets_empty_value(envdir: Path) -> None:
    """An empty file sets an empty value; the envdir tools unset the variable."""
    assert values(envdir, "EMPTY", EMPTY="before") == {
        "envtools": b"",
        "chpst": None,
        "s6-envdir": None,
        "with-contenv": None,
    }


def test_identity_names_not_taken(envdir: Path) -> None:
    """Files named HOME, USER, LOGNAME, SHELL, UID, GID, GROUP or SUDO_* leave
    the caller's value (or its absence) in place, where every peer takes
    them."""
    names = IDENTITY + SUDO
    for name in names:
        (envdir / name).write_bytes(b"from-the-directory\n")
    caller = {name: "caller" for name in names if name != "SUDO_COMMAND"}
    seen = {tool: environ(argv, **caller) for tool, argv in tools(envdir).items()}
    got = {
        tool: {name: env.get(name.encode()) for name in names}
        for tool, env in seen.items()
    }
    ours = {name: caller[name].encode() if name in caller else None for name in names}
    theirs = {name: b"from-the-directory" for name in names}
    assert got == {
        "envtools": ours,
        "chpst": theirs,
        "s6-envdir": theirs,
        "with-contenv": theirs,
    }


def test_user_option_sets_identity(envdir: Path) -> None:
    """--user sets the user's HOME, USER and LOGNAME, where with-contenv and
    s6-setuidgid keep HOME from the directory and set no USER or LOGNAME."""
    caller = {"HOME": "/root", "USER": "root", "LOGNAME": "root"}
    argv = [command("with-container-env"), "--dir", str(envdir), "--user", "nobody"]
    ours = environ(argv, **caller)
    assert (ours[b"HOME"], ours[b"USER"], ours[b"LOGNAME"]) == (
        b"/nonexistent", b"nobody", b"nobody"
    )
    contenv = tools(envdir)["with-contenv"]
    theirs = environ(contenv + [peer("s6-setuidgid"), "nobody"], **caller)
    assert theirs[b"HOME"] == b"/from-the-directory"
    assert b"USER" not in theirs
    assert b"LOGNAME" not in theirs


def test_laid_over_current_environment(envdir: Path) -> None:
    """The caller's other variables stay, as with chpst -e and s6-envdir, where
    with-contenv empties the environment first and only PATH survives."""
    got = values(envdir, "OUTER", OUTER="kept")
    assert got["envtools"] == got["chpst"] == got["s6-envdir"] == b"kept"
    contenv = environ(tools(envdir)["with-contenv"], OUTER="kept")
    assert set(contenv) == {b"PATH"} | {n.encode() for n, v in FILES.items() if v}


def test_clear_keeps_identity_names(envdir: Path) -> None:
    """--clear starts from the caller's identity names alone, then lays the
    directory over them."""
    argv = [command("with-container-env"), "--dir", str(envdir), "--clear"]
    got = environ(argv, OUTER="dropped", HOME="/caller", USER="caller")
    assert set(got) == {b"USER"} | {name.encode() for name in FILES}
    assert (got[b"HOME"], got[b"USER"]) == (b"/caller", b"caller")


@pytest.mark.parametrize("case", sorted(UNTRUSTED))
def test_untrusted_directory_refused(envdir: Path, case: str) -> None:
    """A directory or file that is not root's, or that its group or others may
    write, is refused in one line with 125, where the peers read it."""
    name, mode, owner, reason = UNTRUSTED[case]
    path = envdir if name is None else envdir / name
    path.chmod(mode)
    os.chown(path, owner, -1)
    argv = tools(envdir)
    expected = f"with-container-env: refusing '{path}': {reason}\n"
    check(run(argv.pop("envtools") + ["true"]), 125, b"", expected.encode())
    for tool in argv.values():
        check(run(tool + ["true"]), 0)


def test_missing_directory_status(tmp_path: Path) -> None:
    """A missing directory is exit 125; chpst and s6-envdir exit 111."""
    missing = tmp_path / "missing"
    argv = tools(missing)
    expected = f"with-container-env: cannot open '{missing}': No such file or directory"
    check(run(argv["envtools"] + ["true"]), 125, b"", expected.encode() + b"\n")
    check(run(argv["chpst"] + ["true"]), 111)
    check(run(argv["s6-envdir"] + ["true"]), 111)


# my_init: the writer side, through save-container-env.


@pytest.fixture
def snapshot() -> Iterator[Path]:
    """A snapshot location in a 0755 directory, so members can reach it."""
    top = Path(tempfile.mkdtemp(prefix="envtools-migration-"))
    try:
        top.chmod(0o755)
        yield top / "container_environment"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def save(snapshot: Path, *args: str, **env: str) -> None:
    """Run save-container-env on *env* into *snapshot*."""
    argv = [command("save-container-env"), "--dir", str(snapshot), *args]
    check(run(argv, env=base_env(**env)), 0, b"")


def test_round_trip_keeps_final_newline(snapshot: Path) -> None:
    """A value ending in a newline is saved with one more and comes back whole,
    as multi-line and empty values do; my_init loses the newline."""
    save(snapshot, "--group", "root", NL="x\n", MULTI="a\nb", EMPTY="")
    assert (snapshot / "NL").read_bytes() == b"x\n\n"
    got = environ([command("with-container-env"), "--dir", str(snapshot)])
    assert (got[b"NL"], got[b"MULTI"], got[b"EMPTY"]) == (b"x\n", b"a\nb", b"")


def test_logname_not_saved(snapshot: Path) -> None:
    """LOGNAME is not saved, nor HOME, USER, GROUP, UID, GID and SHELL, where
    my_init skips the others but saves LOGNAME."""
    save(snapshot, "--group", "root", KEPT="1", **{n: "x" for n in NOT_SAVED})
    assert sorted(p.name for p in snapshot.iterdir()) == ["KEPT", "LANG", "PATH"]


def written(snapshot: Path) -> list[Path]:
    """The snapshot's directory, each file in it, its .sh and its .json."""
    extras = [snapshot.with_suffix(".sh"), snapshot.with_suffix(".json")]
    return [snapshot, *sorted(snapshot.iterdir()), *extras]


def test_snapshot_modes(snapshot: Path) -> None:
    """The writer sets root, the group, 0750 and 0640 itself, where my_init
    relies on modes its image build set (0700 directory, 0640 .sh, .json)."""
    with temp_group() as group:
        save(snapshot, "--group", group.gr_name, A="1")
        owners = {(p.lstat().st_uid, p.lstat().st_gid) for p in written(snapshot)}
        assert owners == {(0, group.gr_gid)}
        assert snapshot.stat().st_mode & 0o7777 == 0o750
        for path in written(snapshot)[1:]:
            assert path.lstat().st_mode & 0o7777 == 0o640, path


def test_snapshot_replaced_by_rename(snapshot: Path) -> None:
    """Saving again puts new files in place of the old ones and never writes
    into a file a reader may have open."""
    save(snapshot, "--group", "root", A="1")
    paths = [snapshot / "A", snapshot.with_suffix(".sh"), snapshot.with_suffix(".json")]
    opened = [path.open("rb") for path in paths]
    try:
        before = [(os.fstat(f.fileno()).st_ino, f.read()) for f in opened]
        save(snapshot, "--group", "root", A="2")
        for path, file, (inode, content) in zip(paths, opened, before):
            assert path.stat().st_ino != inode, path
            file.seek(0)
            assert file.read() == content, path
    finally:
        for file in opened:
            file.close()


def test_group_members_read_others_refused(snapshot: Path, pyz_build: Path) -> None:
    """A member of the snapshot's group reads it; anyone else gets one line,
    exit 1.  my_init's directory is root's alone."""
    pyz = str(pyz_build / "envtools.pyz")
    with temp_group() as group, temp_user(groups=[group.gr_name]) as member:
        save(snapshot, "--group", group.gr_name, GREETING="hi")
        argv = [pyz, "container-env", "--get", "GREETING"]
        env = base_env(ENVTOOLS_SNAPSHOT_DIR=str(snapshot))
        ids = {"group": member.pw_gid, "extra_groups": [group.gr_gid]}
        check(run(argv, env=env, user=member.pw_uid, **ids), 0, b"hi", b"")
        cat = ["/bin/cat", f"{snapshot}.sh", f"{snapshot}.json"]
        check(run(cat, env=env, user=member.pw_uid, **ids), 0, stderr=b"")
        denied = run(argv, env=env, user=65534, group=65534, extra_groups=[])
    message = (
        f"container-env: '{snapshot}' is for root and group '{group.gr_name}': "
        f"ask root to run 'usermod -aG {group.gr_name} nobody', then log in again\n"
    )
    check(denied, 1, b"", message.encode())
