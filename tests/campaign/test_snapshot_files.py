"""Hostile snapshot files: each refused or handled in one line, nothing hangs.

Both readers run on every case: ``container-env --format nul`` (status 1 on
a refusal) and ``with-container-env --clear`` running ``env -0`` (status
125).  Memory is measured with wait4(2) where a case could make it grow.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from support.campaign import run_measured
from support.campaign import tally
from support.fifos import blocked_writer
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.snapshots import write_snapshot
from support.snapshots import write_value

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for owners and nodes"),
]

BASE = {b"KEEP": b"kept"}

# A reader must not need more than this, whatever the snapshot holds.
MAX_RSS_KIB = 64 * 1024


def readers(directory: Path) -> list[tuple[str, list[str], int]]:
    """The two readers on *directory*: name, argv, status on refusal."""
    where = ["--dir", str(directory)]
    return [
        ("container-env", [command("container-env"), *where, "--format", "nul"], 1),
        (
            "with-container-env",
            [command("with-container-env"), "--clear", *where, "/usr/bin/env", "-0"],
            125,
        ),
    ]


def nul_block(env: dict[bytes, bytes]) -> bytes:
    """*env* as ``NAME=value\\0`` entries, in name order."""
    return b"".join(name + b"=" + env[name] + b"\0" for name in sorted(env))


def expect_refusal(directory: Path, shown: Path | str, reason: str) -> None:
    """Both readers refuse with the one line naming *shown* and *reason*."""
    for prog, argv, status in readers(directory):
        result = run_measured(argv, base_env(), timeout=20)
        tally("snapshot files", tried=1, refused=1)
        line = f"{prog}: refusing '{shown}': {reason}\n".encode()
        check(result, status, b"", line)


def expect_values(directory: Path, env: dict[bytes, bytes], warning: str = "") -> int:
    """Both readers print exactly *env*; return the larger max RSS (KiB)."""
    largest = 0
    for prog, argv, _ in readers(directory):
        result = run_measured(argv, base_env(), timeout=20)
        tally("snapshot files", tried=1, handled=1)
        stderr = f"{prog}: warning: {warning}\n".encode() if warning else b""
        check(result, 0, nul_block(env), stderr)
        largest = max(largest, result.maxrss)
    return largest


def make_fifo(path: Path) -> None:
    os.mkfifo(path, 0o640)


def make_char_device(path: Path) -> None:
    # /dev/zero's numbers: reading it would never end.
    os.mknod(path, 0o640 | stat.S_IFCHR, os.makedev(1, 5))


def make_block_device(path: Path) -> None:
    os.mknod(path, 0o640 | stat.S_IFBLK, os.makedev(7, 0))


def make_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
    path.chmod(0o640)


def make_subdirectory(path: Path) -> None:
    path.mkdir(mode=0o750)


SPECIAL: dict[str, Callable[[Path], None]] = {
    "fifo": make_fifo,
    "char device": make_char_device,
    "block device": make_block_device,
    "socket": make_socket,
    "directory": make_subdirectory,
}


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_special_file_refused(snapshot_dir, kind):
    """A FIFO, device node, socket or directory entry is refused at once."""
    write_snapshot(snapshot_dir, BASE)
    SPECIAL[kind](snapshot_dir / "ODD")
    expect_refusal(snapshot_dir, snapshot_dir / "ODD", "not a regular file")


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_special_file_behind_link_refused(snapshot_dir, kind):
    """The same through a Kubernetes-style link, named at its real place."""
    write_snapshot(snapshot_dir, BASE)
    data = snapshot_dir / "..data"
    data.mkdir(mode=0o750)
    SPECIAL[kind](data / "ODD")
    (snapshot_dir / "ODD").symlink_to("..data/ODD")
    expect_refusal(snapshot_dir, data / "ODD", "not a regular file")


def test_fifo_is_never_opened(snapshot_dir):
    """The readers do not even open a FIFO: a writer waiting on it stays blocked."""
    write_snapshot(snapshot_dir, BASE)
    fifo = snapshot_dir / "ODD"
    make_fifo(fifo)
    with blocked_writer(fifo) as opened:
        expect_refusal(snapshot_dir, fifo, "not a regular file")
        assert not opened.is_set()
    assert opened.is_set()


def test_sparse_huge_file_skipped_with_bounded_memory(snapshot_dir):
    """A 600 MiB sparse file is skipped with a warning; the reader stays small."""
    write_snapshot(snapshot_dir, BASE)
    big = write_value(snapshot_dir, b"BIG", b"")
    os.truncate(big, 600 * 1024 * 1024)
    warning = f"skipping '{big}': NAME=value over the kernel's 128 KiB limit"
    largest = expect_values(snapshot_dir, BASE, warning)
    tally("snapshot files", max_rss_kib_600mib=largest)
    assert largest < MAX_RSS_KIB


def test_many_largest_values_memory(snapshot_dir):
    """200 values at the 128 KiB limit: read exactly, memory grows with them only."""
    # The largest value a four-letter name can pass to execve.
    env = {b"V%03d" % index: b"x" * (128 * 1024 - 6) for index in range(200)}
    write_snapshot(snapshot_dir, env)
    argv = readers(snapshot_dir)[0][1]
    result = run_measured(argv, base_env(), timeout=30)
    tally("snapshot files", tried=1, handled=1, max_rss_kib_25mib=result.maxrss)
    check(result, 0, nul_block(env), b"")
    # The values themselves are 25 MiB; the reader holds them about twice.
    assert result.maxrss < MAX_RSS_KIB + 3 * 25 * 1024


def test_zero_length_file_is_empty_value(snapshot_dir):
    """An empty file is a variable with an empty value."""
    write_snapshot(snapshot_dir, BASE)
    empty = write_value(snapshot_dir, b"EMPTY", b"")
    empty.write_bytes(b"")
    expect_values(snapshot_dir, {**BASE, b"EMPTY": b""})


def test_name_with_newline_is_carried_as_is(snapshot_dir):
    """A file name holding a newline is a variable name like any other to execve."""
    write_snapshot(snapshot_dir, {**BASE, b"A\nB": b"x"})
    expect_values(snapshot_dir, {**BASE, b"A\nB": b"x"})


def test_name_with_newline_left_out_of_shell_format(snapshot_dir):
    """The sh format cannot hold it: left out, named in one escaped line."""
    write_snapshot(snapshot_dir, {**BASE, b"A\nB": b"x"})
    argv = [command("container-env"), "--dir", str(snapshot_dir)]
    result = run_measured(argv, base_env())
    tally("snapshot files", tried=1, handled=1)
    assert result.returncode == 0
    assert result.stderr == (
        b"container-env: warning: left out 'A\\x0aB': not a shell identifier\n"
    )
    assert b"KEEP" in result.stdout and b"A\nB" not in result.stdout


def test_name_with_equals_skipped(snapshot_dir):
    """A name holding '=' could not reach execve as itself: skipped, one line."""
    write_snapshot(snapshot_dir, {**BASE, b"A=B": b"x"})
    expect_values(
        snapshot_dir, BASE, f"skipping '{snapshot_dir}/A=B': name contains '='"
    )


def test_hard_link_to_file_of_another_owner(snapshot_dir, tmp_path):
    """A hard link to a file nobody owns is refused by its owner."""
    write_snapshot(snapshot_dir, BASE)
    theirs = tmp_path / "theirs"
    theirs.write_bytes(b"planted\n")
    theirs.chmod(0o640)
    os.chown(theirs, 65534, 0)
    os.link(theirs, snapshot_dir / "PLANTED")
    expect_refusal(
        snapshot_dir, snapshot_dir / "PLANTED", "owned by uid 65534, not root"
    )


LINKS = {
    "absolute": ("/etc/hostname", "symbolic link to an absolute path", "X"),
    "leaving": ("../outside", "symbolic link leaves the directory", "X"),
    "loop": ("Y", "too many symbolic links", "X"),
}


@pytest.mark.parametrize("kind", sorted(LINKS))
def test_symbolic_link_refused(snapshot_dir, kind):
    """A link out of the directory, absolute or by '..', or a loop, is refused."""
    target, reason, shown = LINKS[kind]
    write_snapshot(snapshot_dir, BASE)
    (snapshot_dir / "X").symlink_to(target)
    if kind == "loop":
        (snapshot_dir / "Y").symlink_to("X")
    expect_refusal(snapshot_dir, snapshot_dir / shown, reason)


@pytest.mark.parametrize(
    "where, mode, reason",
    [
        ("dir", 0o770, "writable by its group"),
        ("dir", 0o757, "writable by others"),
        ("file", 0o660, "writable by its group"),
        ("file", 0o646, "writable by others"),
        ("parent", 0o775, "writable by its group"),
        ("parent", 0o777, "writable by others"),
    ],
)
def test_writable_by_others_refused(tmp_path, where, mode, reason):
    """A snapshot, a file or a parent that the group or others can write is refused."""
    parent = tmp_path / "parent"
    parent.mkdir(mode=0o755)
    directory = write_snapshot(parent / "snapshot", BASE)
    target = {"dir": directory, "file": directory / "KEEP", "parent": parent}[where]
    target.chmod(mode)
    expect_refusal(directory, target, reason)


@pytest.mark.parametrize("where", ["dir", "file", "parent"])
def test_owned_by_another_user_refused(tmp_path, where):
    """A snapshot, a file or a parent that another user owns is refused."""
    parent = tmp_path / "parent"
    parent.mkdir(mode=0o755)
    directory = write_snapshot(parent / "snapshot", BASE)
    target = {"dir": directory, "file": directory / "KEEP", "parent": parent}[where]
    os.chown(target, 65534, 65534)
    expect_refusal(directory, target, "owned by uid 65534, not root")


def test_snapshot_directory_is_a_symbolic_link(snapshot_dir, tmp_path):
    """The snapshot directory itself replaced by a link is refused."""
    real = write_snapshot(tmp_path / "real", BASE)
    snapshot_dir.symlink_to(real)
    expect_refusal(snapshot_dir, snapshot_dir, "is a symbolic link")


def test_snapshot_directory_is_a_fifo(snapshot_dir):
    """A FIFO where the directory should be is refused, without blocking."""
    os.mkfifo(snapshot_dir, 0o640)
    expect_refusal(snapshot_dir, snapshot_dir, "not a directory")


# Swappers run as their own process: a thread would hold the GIL against
# the test's own process starts.  Each loops until killed.
ENTRY_SWAPPER = """
import os, sys, time
secret, value, link, spare = sys.argv[1:]
while True:
    time.sleep(0.001)
    os.symlink(secret, link)
    os.rename(link, value)
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    os.write(fd, b"inside\\n")
    os.close(fd)
    os.rename(spare, value)
"""

DIRECTORY_SWAPPER = """
import os, sys, time
snapshot, other, aside, link = sys.argv[1:]
while True:
    time.sleep(0.002)
    os.rename(snapshot, aside)
    os.symlink(other, link)
    os.rename(link, snapshot)
    time.sleep(0.001)
    os.rename(snapshot, link)
    os.unlink(link)
    os.rename(aside, snapshot)
"""

SWAP_READS = 40


def swapping(script: str, *args: Path) -> subprocess.Popen[bytes]:
    """Start a swapper process; the caller kills it."""
    return subprocess.Popen(["/usr/bin/python3", "-c", script, *map(str, args)])


def read_while_swapping(
    directory: Path,
    swapper: subprocess.Popen[bytes],
    exact: bytes,
    reasons: tuple[bytes, ...],
) -> dict[str, int]:
    """Read *directory* with both readers while *swapper* runs.

    Each read must print *exact* or fail with one line that names a path in
    quotes and ends with one of *reasons*.

    :returns: how many reads came out exact and refused.
    """
    outcomes = {"exact": 0, "refused": 0}
    try:
        for _ in range(SWAP_READS):
            for prog, argv, status in readers(directory):
                result = run_measured(argv, base_env(), timeout=20)
                assert b"SECRET" not in result.stdout + result.stderr
                if result.returncode == 0:
                    assert (result.stdout, result.stderr) == (exact, b"")
                    outcomes["exact"] += 1
                    continue
                assert result.returncode == status, result.stderr
                assert result.stderr.count(b"\n") == 1, result.stderr
                assert result.stderr.startswith(prog.encode() + b": ")
                assert result.stderr.endswith(reasons), result.stderr
                outcomes["refused"] += 1
    finally:
        swapper.kill()
        swapper.wait()
    # Both outcomes, or the swap was never hit, or no read ever got through.
    assert outcomes["exact"] > 0 and outcomes["refused"] > 0, outcomes
    return outcomes


def test_entry_swapped_with_link_during_reads(snapshot_dir, tmp_path):
    """An entry flipping between a file and a link out: exact, or refused; never out."""
    write_snapshot(snapshot_dir, BASE)
    secret = tmp_path / "secret"
    secret.write_bytes(b"SECRET\n")
    secret.chmod(0o640)
    value = write_value(snapshot_dir, b"FLIP", b"inside")
    link, spare = snapshot_dir / ".flip-link", snapshot_dir / ".flip-file"
    swapper = swapping(ENTRY_SWAPPER, secret, value, link, spare)
    exact = nul_block({**BASE, b"FLIP": b"inside"})
    reason = f"refusing '{value}': symbolic link to an absolute path\n".encode()
    outcomes = read_while_swapping(snapshot_dir, swapper, exact, (reason,))
    tally("snapshot swaps (entry)", tried=2 * SWAP_READS, **outcomes)


def test_directory_swapped_with_link_during_reads(snapshot_dir, tmp_path):
    """The directory flipping with a link to another: one snapshot whole, or refused."""
    first = {b"WHICH": b"first", b"ONLY_FIRST": b"1"}
    write_snapshot(snapshot_dir, first)
    other = write_snapshot(tmp_path / "other", {b"WHICH": b"second"})
    aside, link = tmp_path / "aside", tmp_path / "link"
    swapper = swapping(DIRECTORY_SWAPPER, snapshot_dir, other, aside, link)
    try:
        reasons = (
            f"cannot open '{snapshot_dir}': No such file or directory\n".encode(),
            f"refusing '{snapshot_dir}': is a symbolic link\n".encode(),
            f"cannot read '{snapshot_dir}': missing or replaced at each try\n".encode(),
        )
        outcomes = read_while_swapping(snapshot_dir, swapper, nul_block(first), reasons)
    finally:
        if aside.exists():
            if snapshot_dir.is_symlink():
                snapshot_dir.unlink()
            link.unlink(missing_ok=True)
            aside.rename(snapshot_dir)
    tally("snapshot swaps (directory)", tried=2 * SWAP_READS, **outcomes)
