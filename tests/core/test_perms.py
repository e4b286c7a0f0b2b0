"""Trust checks: every hostile layout refused with one exact line.

Run through the installed container-env (exit 1) and with-container-env
(exit 125), on real files with real owners and modes.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from support.proc import check
from support.proc import command
from support.proc import run
from support.snapshots import kubernetes_volume
from support.snapshots import write_snapshot
from support.snapshots import write_value

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root-owned files")

SAFE = {b"A": b"one", b"B": b"two"}


def _read(directory: Path, *extra: str) -> object:
    return run([command("container-env"), "--dir", str(directory), *extra], timeout=10)


def _refused(directory: Path, message: str) -> None:
    """Both readers refuse *directory* with *message*, as one line."""
    line = f"{message}\n".encode()
    check(_read(directory), 1, stdout=b"", stderr=b"container-env: " + line)
    result = run(
        [command("with-container-env"), "--dir", str(directory), "true"], timeout=10
    )
    check(result, 125, stdout=b"", stderr=b"with-container-env: " + line)


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    return write_snapshot(tmp_path / "snap", SAFE)


def test_safe_layout_is_read(snap: Path) -> None:
    """A root-owned 0750 directory of 0640 files is read in name order."""
    check(_read(snap, "--format", "nul"), 0, stdout=b"A=one\0B=two\0", stderr=b"")


def test_link_made_by_another_user_refused(snap: Path) -> None:
    """In a sticky directory anyone can add a link; only root's are followed."""
    snap.chmod(0o1777)
    check(_read(snap, "--format", "nul"), 0, stdout=b"A=one\0B=two\0", stderr=b"")
    link = snap / "CHOSEN"
    link.symlink_to("A")
    os.lchown(link, 65534, 65534)
    _refused(snap, f"refusing '{link}': owned by uid 65534, not root")


def test_symlink_to_absolute_path_refused(snap: Path) -> None:
    """A file that is a symbolic link to an absolute path is refused."""
    (snap / "P").symlink_to("/etc/passwd")
    _refused(snap, f"refusing '{snap}/P': symbolic link to an absolute path")


def test_symlink_climbing_out_refused(snap: Path, tmp_path: Path) -> None:
    """A relative link whose '..' leaves the snapshot directory is refused."""
    write_value(tmp_path, b"outside", b"secret")
    (snap / "P").symlink_to("../outside")
    _refused(snap, f"refusing '{snap}/P': symbolic link leaves the directory")


def test_symlink_loop_refused(snap: Path) -> None:
    """Links that point at each other stop after 40 hops."""
    (snap / "L1").symlink_to("L2")
    (snap / "L2").symlink_to("L1")
    _refused(snap, f"refusing '{snap}/L1': too many symbolic links")


def test_symlinked_snapshot_dir_refused(snap: Path, tmp_path: Path) -> None:
    """A snapshot directory that is itself a symbolic link is refused."""
    link = tmp_path / "link"
    link.symlink_to(snap)
    _refused(link, f"refusing '{link}': is a symbolic link")


def test_file_of_another_owner_refused(snap: Path) -> None:
    """A file not owned by root is refused, naming its owner."""
    os.chown(snap / "B", 4321, 0)
    _refused(snap, f"refusing '{snap}/B': owned by uid 4321, not root")


def test_directory_of_another_owner_refused(snap: Path) -> None:
    """A snapshot directory not owned by root is refused."""
    os.chown(snap, 4321, 0)
    _refused(snap, f"refusing '{snap}': owned by uid 4321, not root")


@pytest.mark.parametrize(
    ("mode", "who"), [(0o660, "its group"), (0o646, "others"), (0o666, "others")]
)
def test_writable_file_refused(snap: Path, mode: int, who: str) -> None:
    """A file writable by its group or by others is refused."""
    (snap / "A").chmod(mode)
    _refused(snap, f"refusing '{snap}/A': writable by {who}")


def test_group_writable_parent_refused(snap: Path, tmp_path: Path) -> None:
    """A parent directory writable by its group is refused."""
    tmp_path.chmod(0o775)
    _refused(snap, f"refusing '{tmp_path}': writable by its group")


def test_sticky_world_writable_parent_accepted(snap: Path, tmp_path: Path) -> None:
    """A sticky parent, writable by all like /tmp, is accepted."""
    tmp_path.chmod(0o1777)
    check(_read(snap, "--format", "nul"), 0, stdout=b"A=one\0B=two\0", stderr=b"")


def test_fifo_refused_without_hanging(snap: Path) -> None:
    """A FIFO in place of a file is refused at once, never waited on."""
    os.mkfifo(snap / "F")
    _refused(snap, f"refusing '{snap}/F': not a regular file")


def test_subdirectory_refused(snap: Path) -> None:
    """A directory among the files is refused."""
    (snap / "D").mkdir()
    _refused(snap, f"refusing '{snap}/D': not a regular file")


def test_missing_directory_reported(tmp_path: Path) -> None:
    """A snapshot directory that does not exist is one line, exit 1."""
    missing = tmp_path / "none"
    _refused(missing, f"cannot open '{missing}': No such file or directory")


def test_kubernetes_layout_accepted(tmp_path: Path) -> None:
    """Names linking into '..data' inside the directory are read."""
    volume = kubernetes_volume(tmp_path / "vol", {b"DB_HOST": b"db", b"TOKEN": b"t\n"})
    check(
        _read(volume, "--format", "nul"),
        0,
        stdout=b"DB_HOST=db\0TOKEN=t\n\0",
        stderr=b"",
    )


def test_kubernetes_data_link_leaving_refused(tmp_path: Path) -> None:
    """A '..data' that points outside the volume is refused."""
    volume = kubernetes_volume(tmp_path / "vol", {b"K": b"v"})
    (volume / "..data").unlink()
    (volume / "..data").symlink_to("../elsewhere")
    _refused(volume, f"refusing '{volume}/K': symbolic link leaves the directory")


def test_kubernetes_group_writable_data_dir_refused(tmp_path: Path) -> None:
    """A directory reached through a link is checked like the snapshot's."""
    volume = kubernetes_volume(tmp_path / "vol", {b"K": b"v"})
    real = next(volume.glob("..2*"))
    real.chmod(0o775)
    _refused(volume, f"refusing '{volume}/{real.name}': writable by its group")


def test_skipped_names_and_sizes(snap: Path) -> None:
    """Dot-files are skipped silently; '=' in a name and oversize files warn."""
    write_value(snap, b".hidden", b"x")
    write_value(snap, b"X=Y", b"x")
    write_value(snap, b"BIG", b"b" * 128 * 1024)
    largest = 128 * 1024 - len(b"MAX") - 2
    write_value(snap, b"MAX", b"m" * largest)
    # One byte longer than MAX's in all: the name counts too.
    write_value(snap, b"OVER", b"o" * largest)
    result = _read(snap, "--format", "nul")
    expected = b"A=one\0B=two\0MAX=" + b"m" * largest + b"\0"
    too_long = "NAME=value over the kernel's 128 KiB limit"
    warnings = (
        f"container-env: warning: skipping '{snap}/BIG': {too_long}\n"
        f"container-env: warning: skipping '{snap}/OVER': {too_long}\n"
        f"container-env: warning: skipping '{snap}/X=Y': name contains '='\n"
    )
    check(result, 0, stdout=expected, stderr=warnings.encode())


def test_nul_in_file_reads_as_newline(snap: Path) -> None:
    """A hand-edited file holding a NUL reads as the envdir way: a newline."""
    (snap / "A").write_bytes(b"x\0y\n")
    check(_read(snap, "--get", "A"), 0, stdout=b"x\ny", stderr=b"")


_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd = -100
    if libc.renameat2(
        at_fdcwd, bytes(first), at_fdcwd, bytes(second), _RENAME_EXCHANGE
    ):
        raise OSError(ctypes.get_errno(), "renameat2")


def _swapper(snap: Path, stop: threading.Event) -> None:
    """Replace the snapshot the writer's way, again and again: build, swap,
    delete the old one."""
    generation = 0
    while not stop.is_set():
        generation += 1
        fresh = snap.with_name(".fresh")
        values = {b"V%02d" % i: b"%d" % generation for i in range(20)}
        write_snapshot(fresh, values)
        _exchange(fresh, snap)
        shutil.rmtree(fresh)


def test_swap_during_read_never_mixes(tmp_path: Path) -> None:
    """While the directory is swapped under it, each read sees one snapshot."""
    snap = write_snapshot(tmp_path / "snap", {b"V%02d" % i: b"0" for i in range(20)})
    stop = threading.Event()
    thread = threading.Thread(target=_swapper, args=(snap, stop))
    thread.start()
    try:
        results = [_read(snap, "--format", "json") for _ in range(40)]
    finally:
        stop.set()
        thread.join(timeout=10)
    for result in results:
        if result.returncode == 0:
            values = set(json.loads(result.stdout).values())
            assert len(values) == 1, values
            assert len(json.loads(result.stdout)) == 20
        else:
            # Only possible when every attempt lost the race: one line.
            assert result.returncode == 1
            assert result.stderr.count(b"\n") == 1
            assert b"missing or replaced at each try" in result.stderr
    assert sum(result.returncode == 0 for result in results) >= 30
