"""save-container-env killed, racing, or out of space: the snapshot stays whole.

The writer alternates between two small environments, A and B.  Whatever
happens to it, each artifact (the envdir, DIR.sh, DIR.json) must be all of
A or all of B, a reader running alongside must never see anything else,
and the next writer must succeed and leave no temporary names behind.
"""

from __future__ import annotations

import grp
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.campaign import tally
from support.proc import check
from support.proc import command
from support.proc import run

pytestmark = [
    pytest.mark.timeout(400),
    pytest.mark.skipif(os.geteuid() != 0, reason="the writer needs root"),
]

TRIALS = 1000

# Enough files that the transaction takes a few milliseconds; the same names
# in both, since the writer keeps files whose names it is not given.
VERSIONS = [
    {f"V{index:02d}".encode(): f"a{index}'$x\n".encode() for index in range(30)},
    {f"V{index:02d}".encode(): f"b{index}".encode() * 50 for index in range(30)},
]

# Loads the snapshot over and over with the readers' core until SIGTERM,
# then prints how many reads were whole A, whole B, or gone for a moment.
# Any other outcome ends it at once with status 1 and the reason.
READER = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from envtools.errors import EnvtoolsError
from envtools.snapshot import load
path, versions = sys.argv[1], {versions!r}
GONE = (": No such file or directory", ": missing or replaced at each try")
counts = {{"A": 0, "B": 0, "refused": 0}}
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
while not stop:
    try:
        env = load.load(path)
    except EnvtoolsError as error:
        if not error.message.endswith(GONE):
            sys.exit("reader: " + error.message)
        counts["refused"] += 1
        continue
    if env == versions[0]:
        counts["A"] += 1
    elif env == versions[1]:
        counts["B"] += 1
    else:
        sys.exit("reader: mixed snapshot: " + repr(sorted(env))[:200])
print(counts["A"], counts["B"], counts["refused"])
"""


def writer_stderr() -> bytes:
    """What a successful plain save-container-env prints: the group warning
    when this machine has no docker_env group, else nothing."""
    try:
        grp.getgrnam("docker_env")
    except KeyError:
        return (
            b"save-container-env: warning: group 'docker_env' not found: "
            b"using 'root', 0700 and 0600\n"
        )
    return b""


def writer_env(directory: Path, version: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """The environment of a writer that saves *version* to *directory*."""
    return {**version, b"ENVTOOLS_SNAPSHOT_DIR": os.fsencode(directory)}


def snapshot_of(version: dict[bytes, bytes], directory: Path) -> dict[bytes, bytes]:
    """What the snapshot holds after *version* was saved to *directory*."""
    return dict(sorted(writer_env(directory, version).items()))


def read_artifacts(directory: Path) -> tuple[dict[bytes, bytes], ...]:
    """The envdir, DIR.sh (as exported by dash) and DIR.json, each as a mapping."""
    from envtools.snapshot import jsonfile
    from envtools.snapshot import load

    envdir = load.load(str(directory))
    from_json = jsonfile.loads(Path(f"{directory}.json").read_bytes())
    sourced = subprocess.run(
        ["dash", "-c", '. "$1"; /usr/bin/env -0', "sh", f"{directory}.sh"],
        env={},
        capture_output=True,
        timeout=30,
    )
    check(sourced, 0, stderr=b"")
    pairs = (e.partition(b"=") for e in sourced.stdout.split(b"\0") if e)
    from_sh = {n: v for n, _, v in pairs if n not in (b"PWD", b"OLDPWD", b"_")}
    return envdir, from_sh, from_json


def leftovers(directory: Path) -> list[str]:
    """Temporary names a writer left in the parent directory."""
    prefix = f".{directory.name}.tmp."
    return [name for name in os.listdir(directory.parent) if name.startswith(prefix)]


def start_writer(
    directory: Path, version: dict[bytes, bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [command("save-container-env")],
        env=writer_env(directory, version),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_in_transaction(
    process: subprocess.Popen[bytes], directory: Path, stale: set[str]
) -> bool:
    """SIGKILL *process* a moment after a temporary name of its own appears.

    :param stale: the temporary names killed writers left before it started,
        which it removes and which must not be taken for its own.
    :returns: whether such a name appeared before the process ended.
    """
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        if set(leftovers(directory)) - stale:
            time.sleep(random.uniform(0, 0.004))
            process.kill()
            return True
    process.kill()
    return False


def outcome(returncode: int, left: set[str]) -> str:
    """How a trial ended: killed mid-transaction, killed elsewhere, completed.

    Mid-transaction means killed by SIGKILL with a temporary name of its own
    left behind: between its first temporary and the end of its clean-up.
    """
    if returncode == 0:
        return "completed"
    assert returncode == -signal.SIGKILL, returncode
    return "in_transaction" if left else "elsewhere"


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    """A root-owned parent for the snapshot, 0755."""
    path = tmp_path / "etc"
    path.mkdir(mode=0o755)
    return path


def test_sigkill_at_random_points(parent):
    """1,000 writers killed at random: every artifact whole, readers see A or B."""
    directory = parent / "snapshot"
    expected = [snapshot_of(version, directory) for version in VERSIONS]
    seeded = run(
        [command("save-container-env")], env=writer_env(directory, VERSIONS[0])
    )
    assert seeded.returncode == 0, seeded.stderr

    repo = str(Path(__file__).resolve().parents[2])
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            READER.format(repo=repo, versions=expected),
            str(directory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    outcomes = {"in_transaction": 0, "elsewhere": 0, "completed": 0, "disagreeing": 0}
    aimed = 0
    try:
        for trial in range(TRIALS):
            stale = set(leftovers(directory))
            process = start_writer(directory, VERSIONS[trial % 2])
            if trial % 2:
                aimed += kill_in_transaction(process, directory, stale)
            else:
                time.sleep(random.uniform(0, 0.15))
                process.kill()
            _, stderr = process.communicate(timeout=30)
            assert stderr in (b"", writer_stderr()), stderr
            left = set(leftovers(directory)) - stale
            outcomes[outcome(process.returncode, left)] += 1
            artifacts = read_artifacts(directory)
            for artifact in artifacts:
                assert artifact in expected, trial
            # Each whole, but not always the same version: a writer killed
            # between its renames leaves them apart (docs/CAMPAIGN.md).
            envdir, from_sh, from_json = artifacts
            outcomes["disagreeing"] += not envdir == from_sh == from_json
            assert reader.poll() is None, reader.communicate()
    finally:
        reader.send_signal(signal.SIGTERM)
        stdout, stderr = reader.communicate(timeout=30)
    check(
        subprocess.CompletedProcess(reader.args, reader.returncode, stdout, stderr), 0
    )
    whole_a, whole_b, gone = (int(part) for part in stdout.split())

    final = run([command("save-container-env")], env=writer_env(directory, VERSIONS[1]))
    check(final, 0, b"", writer_stderr())
    assert leftovers(directory) == []
    assert read_artifacts(directory) == (expected[1],) * 3
    # Not vacuous: some kills did land inside the transaction, and the
    # reader really read while they did.
    assert outcomes["in_transaction"] > 0, outcomes
    assert aimed > 0 and whole_a > 0 and whole_b > 0, (aimed, whole_a, whole_b)
    tally("crash trials", tried=TRIALS, aimed=aimed, **outcomes)
    tally("crash trials", reads_whole_a=whole_a, reads_whole_b=whole_b, reads_gone=gone)


WRITERS = 16


def test_concurrent_writers(parent):
    """16 writers at once: all succeed, one of them wins whole, nothing left over."""
    directory = parent / "snapshot"
    versions = [
        {b"WRITER": str(index).encode(), b"COMMON": b"x" * index}
        for index in range(WRITERS)
    ]
    processes = [start_writer(directory, version) for version in versions]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert (process.returncode, stderr) == (0, writer_stderr())
    envdir, from_sh, from_json = read_artifacts(directory)
    winners = [snapshot_of(version, directory) for version in versions]
    assert envdir in winners
    assert from_sh == envdir and from_json == envdir
    assert leftovers(directory) == []
    tally("concurrent writers", tried=WRITERS, succeeded=WRITERS, whole=1)


@pytest.fixture
def small_fs(tmp_path: Path):
    """A 1 MiB tmpfs with 64 inodes, root's, unmounted at the end."""
    mount = tmp_path / "small"
    mount.mkdir(mode=0o755)
    subprocess.run(
        [
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=1m,nr_inodes=64,mode=0755",
            "envtools",
            mount,
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], capture_output=True)


@pytest.mark.parametrize(
    "what, version",
    [
        ("blocks", {f"BIG{i}".encode(): b"y" * 120000 for i in range(10)}),
        ("inodes", {f"N{i:03d}".encode(): b"z" for i in range(100)}),
    ],
)
def test_full_disk_keeps_old_snapshot(small_fs, what, version):
    """Out of blocks or inodes: one line, status 1, the old snapshot intact."""
    directory = small_fs / "snapshot"
    old = run([command("save-container-env")], env=writer_env(directory, VERSIONS[0]))
    check(old, 0, b"", writer_stderr())
    before = read_artifacts(directory)

    full = run([command("save-container-env")], env=writer_env(directory, version))

    tally("full disk", tried=1)
    assert full.returncode == 1, full.stderr
    assert full.stdout == b""
    warning = writer_stderr()
    assert full.stderr.startswith(warning), full.stderr
    error = full.stderr[len(warning) :]
    assert error.startswith(b"save-container-env: cannot save '"), error
    assert error.endswith(b": No space left on device\n"), error
    assert error.count(b"\n") == 1, error
    assert read_artifacts(directory) == before
    assert before[0] == snapshot_of(VERSIONS[0], directory)
    assert leftovers(directory) == []
    tally("full disk", refused=1, old_intact=1)
    assert json.loads(Path(f"{directory}.json").read_bytes())
