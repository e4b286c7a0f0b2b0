"""Killed and concurrent writers: readers see the old or the new snapshot."""

from __future__ import annotations

import os
import random
import re
import resource
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from support.proc import check
from support.proc import command
from support.proc import run

from envtools.snapshot import jsonfile
from envtools.snapshot import shell
from save_container_env.helpers import read_dir
from save_container_env.helpers import sidecar
from save_container_env.helpers import with_location

pytestmark = pytest.mark.timeout(300)

COUNT = 400
FINAL = [".container_environment.lock", "container_environment",
         "container_environment.json", "container_environment.sh"]  # fmt: skip


def _env(tag: str) -> dict[bytes, bytes]:
    """COUNT variables whose values all carry *tag*."""
    return {
        f"V{i:04d}".encode(): f"{tag}:{i}:".encode() + b"v" * 60 for i in range(COUNT)
    }


def _start(snapshot_dir: Path, tag: str) -> subprocess.Popen[bytes]:
    argv = [
        command("save-container-env"),
        "--dir",
        str(snapshot_dir),
        "--group",
        "root",
    ]
    return subprocess.Popen(
        argv,
        env=with_location(_env(tag), snapshot_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _expected(snapshot_dir: Path, tag: str) -> dict[bytes, bytes]:
    return dict(sorted(with_location(_env(tag), snapshot_dir).items()))


def _tag_of(data: bytes, marker: bytes) -> str:
    start = data.index(marker) + len(marker)
    return data[start : data.index(b":", start)].decode()


def _check_complete(snapshot_dir: Path, tags: set[str]) -> dict[str, str]:
    """Each artifact is exactly the snapshot of one tag; return which."""
    sh = sidecar(snapshot_dir, ".sh").read_bytes()
    sh_tag = _tag_of(sh, b"export V0000='")
    assert sh == shell.render(_expected(snapshot_dir, sh_tag))[0]

    js = sidecar(snapshot_dir, ".json").read_bytes()
    js_tag = _tag_of(js, b'"V0000": "')
    assert js == jsonfile.dumps(_expected(snapshot_dir, js_tag))

    files = read_dir(snapshot_dir)
    dir_tag = _tag_of(files[b"V0000"], b"")
    want = {n: v + b"\n" for n, v in _expected(snapshot_dir, dir_tag).items()}
    assert files == want
    assert {sh_tag, js_tag, dir_tag} <= tags
    return {"sh": sh_tag, "json": js_tag, "dir": dir_tag}


def test_sigkill_at_random_points(snapshot_dir: Path) -> None:
    """Killed at any moment, each artifact is old or new, and leftovers go."""
    started = time.monotonic()
    first = _start(snapshot_dir, "r0")
    assert first.wait(timeout=60) == 0
    duration = time.monotonic() - started

    rng = random.Random(1234)
    tags = {"r0"}
    interrupted = 0
    for round_ in range(1, 31):
        # Repeated tags let some rounds reuse files by hard link.
        tag = rng.choice(["r0", "r1", f"t{round_}"])
        writer = _start(snapshot_dir, tag)
        time.sleep(rng.uniform(0, duration * 1.2))
        writer.send_signal(signal.SIGKILL)
        status = writer.wait(timeout=60)
        tags.add(tag)
        _check_complete(snapshot_dir, tags)
        if (
            status == -signal.SIGKILL
            and sorted(os.listdir(snapshot_dir.parent)) != FINAL
        ):
            interrupted += 1

    assert interrupted > 0, "no kill landed inside a write: the test proved nothing"
    last = _start(snapshot_dir, "last")
    assert last.wait(timeout=60) == 0
    assert _check_complete(snapshot_dir, {"last"}) == dict.fromkeys(
        ["sh", "json", "dir"], "last"
    )
    assert sorted(os.listdir(snapshot_dir.parent)) == FINAL


def test_concurrent_writers(snapshot_dir: Path) -> None:
    """Two writers at once both succeed; the result is one whole snapshot."""
    assert _start(snapshot_dir, "base").wait(timeout=60) == 0
    stop = threading.Event()
    seen: list[str] = []
    failures: list[BaseException] = []

    def reader() -> None:
        # Reads the two files over and over while the writers run.
        while not stop.is_set():
            try:
                sh = sidecar(snapshot_dir, ".sh").read_bytes()
                tag = _tag_of(sh, b"export V0000='")
                assert sh == shell.render(_expected(snapshot_dir, tag))[0]
                seen.append(tag)
            except BaseException as error:  # reported in the main thread
                failures.append(error)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_ in range(5):
            writers = [_start(snapshot_dir, f"w{round_}{side}") for side in "ab"]
            results = [w.communicate(timeout=60) for w in writers]
            assert [w.returncode for w in writers] == [0, 0], results
            assert results == [(b"", b""), (b"", b"")]
            tags = _check_complete(snapshot_dir, {f"w{round_}a", f"w{round_}b"})
            assert len(set(tags.values())) == 1, tags
    finally:
        stop.set()
        thread.join()
    assert not failures, failures[0]
    assert seen
    assert sorted(os.listdir(snapshot_dir.parent)) == FINAL


def test_leftovers_removed(snapshot_dir: Path, tmp_path: Path) -> None:
    """Temporary names of killed writers are removed; links are not followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")
    dead = snapshot_dir.with_name(".container_environment.tmp.0123456789ab")
    (dead / "sub").mkdir(parents=True)
    (dead / "A").write_bytes(b"1\n")
    (dead / "sub" / "B").write_bytes(b"2\n")
    (dead / "link").symlink_to(outside)
    snapshot_dir.with_name(".container_environment.tmp.c0ffee000000").write_bytes(b"x")
    # The lock of a snapshot named container_environment.tmp.x is not ours.
    other = snapshot_dir.with_name(".container_environment.tmp.x.lock")
    other.write_bytes(b"")

    argv = [
        command("save-container-env"),
        "--dir",
        str(snapshot_dir),
        "--group",
        "root",
    ]
    check(run(argv, env={"A": "1"}), 0, b"", b"")
    assert sorted(os.listdir(snapshot_dir.parent)) == sorted(
        FINAL + ["outside", other.name]
    )
    assert (outside / "keep").read_bytes() == b"keep"


def test_leftover_deeper_than_recursion_limit(snapshot_dir: Path) -> None:
    """A leftover tree 1,500 directories deep is removed, no traceback."""
    deep = snapshot_dir.with_name(".container_environment.tmp.0123456789ab")
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1500):
        os.mkdir("d", dir_fd=fd)
        next_fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = next_fd
    os.close(fd)
    argv = [command("save-container-env"), "--dir", str(snapshot_dir)]
    argv += ["--group", "root"]

    # One descriptor a level: make sure 1,500 fit, whatever this machine's.
    result = run(argv, env={"A": "1"}, preexec_fn=_nofile_4096)

    check(result, 0, b"", b"")
    assert not deep.exists()


def _nofile_4096() -> None:
    """In the child: a soft limit of 4,096 open files."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))


@pytest.mark.parametrize("suffix", [".json", ".sh"])
def test_directory_in_place_of_sidecar(suffix: str, snapshot_dir: Path) -> None:
    """Found before the first rename: the old snapshot stays whole, no leftovers."""
    env = with_location({b"A": b"1"}, snapshot_dir)
    argv = [command("save-container-env"), "--group", "root"]
    check(run(argv, env=env), 0, b"", b"")
    sidecar(snapshot_dir, suffix).unlink()
    sidecar(snapshot_dir, suffix).mkdir()
    before = {
        name: sidecar(snapshot_dir, name).read_bytes()
        for name in (".json", ".sh")
        if name != suffix
    }

    result = run(argv, env=with_location({b"A": b"2"}, snapshot_dir))

    message = f"save-container-env: '{snapshot_dir}{suffix}' is a directory\n"
    check(result, 1, b"", message.encode())
    for name, content in before.items():
        assert sidecar(snapshot_dir, name).read_bytes() == content
    assert read_dir(snapshot_dir)[b"A"] == b"1\n"
    leftovers = [n for n in os.listdir(snapshot_dir.parent) if ".tmp." in n]
    assert leftovers == []


def test_failed_swap_leaves_all_three_old(snapshot_dir: Path) -> None:
    """DIR a mount point: the swap fails first, DIR.json and DIR.sh stay old."""
    argv = [command("save-container-env"), "--group", "root"]
    check(run(argv, env=with_location({b"A": b"1"}, snapshot_dir)), 0, b"", b"")
    before = {s: sidecar(snapshot_dir, s).read_bytes() for s in (".json", ".sh")}
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0755", "envtools-test", snapshot_dir],
        check=True,
    )
    try:
        result = run(argv, env=with_location({b"A": b"2"}, snapshot_dir))
    finally:
        subprocess.run(["umount", snapshot_dir], check=True)

    reason = "Device or resource busy"
    message = (
        f"save-container-env: cannot rename into place '{snapshot_dir}': {reason}\n"
    )
    check(result, 1, b"", message.encode())
    after = {s: sidecar(snapshot_dir, s).read_bytes() for s in (".json", ".sh")}
    assert after == before
    assert read_dir(snapshot_dir)[b"A"] == b"1\n"
    assert [n for n in os.listdir(snapshot_dir.parent) if ".tmp." in n] == []


def test_undeletable_old_file_warns(snapshot_dir: Path) -> None:
    """An immutable old file cannot go: a warning, and later saves still work."""
    snapshot_dir.mkdir()
    central = snapshot_dir / "F"
    central.write_bytes(b"v\n")
    if subprocess.run(["chattr", "+i", central], capture_output=True).returncode:
        pytest.skip("this file system has no immutable flag")
    argv = [command("save-container-env"), "--group", "root"]
    try:
        first = run(argv, env=with_location({b"A": b"1"}, snapshot_dir))
        second = run(argv, env=with_location({b"A": b"2"}, snapshot_dir))
    finally:
        for path in snapshot_dir.parent.rglob("F"):
            subprocess.run(["chattr", "-i", path], check=True)

    old = re.escape(f"'{snapshot_dir.parent}/.{snapshot_dir.name}.tmp.")
    warning = rb"save-container-env: warning: cannot remove (old )?" + old.encode()
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert re.match(
            warning + rb"[0-9a-f]+': Operation not permitted\n\Z", result.stderr
        )
    assert read_dir(snapshot_dir) == {
        b"A": b"2\n",
        b"ENVTOOLS_SNAPSHOT_DIR": os.fsencode(snapshot_dir) + b"\n",
        b"F": b"v\n",
    }
