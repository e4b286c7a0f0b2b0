"""An envdir from an image layer: overlayfs will not rename it, the save works.

Docker's overlay2 driver mounts overlayfs without redirect_dir, and there
rename(2) of a directory that comes from a lower layer fails with EXDEV.
That is every image that defines a variable at build time with
``echo -n value > /etc/container_environment/NAME``.  These tests mount a
real overlay in a temporary directory and always unmount it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.proc import check
from support.proc import command
from support.proc import run
from support.snapshots import write_snapshot

from save_container_env.helpers import group_warning
from save_container_env.helpers import sidecar

pytestmark = pytest.mark.timeout(60)

NAME = "container_environment"


@pytest.fixture
def merged(tmp_path: Path) -> Iterator[Path]:
    """An overlay whose lower layer holds an envdir with APP_ENV, mounted."""
    lower, upper, work, top = (tmp_path / part for part in ("l", "u", "w", "m"))
    for directory in (lower, upper, work, top):
        directory.mkdir()
    (lower / NAME).mkdir(mode=0o750)
    (lower / NAME / "APP_ENV").write_bytes(b"production")
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    mounted = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(top)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"no overlayfs here: {mounted.stderr.decode().strip()}")
    try:
        yield top
    finally:
        subprocess.run(["umount", str(top)], check=True)


def _save(
    directory: Path, *options: str, **env: str
) -> subprocess.CompletedProcess[bytes]:
    """``save-container-env --dir DIRECTORY OPTION...`` with just *env*."""
    argv = [command("save-container-env"), "--dir", str(directory), *options]
    values = {key.encode(): value.encode() for key, value in env.items()}
    return run(argv, env=values)


def _files(directory: Path) -> dict[str, bytes]:
    """The raw content of every file in *directory*, by name."""
    return {entry.name: entry.read_bytes() for entry in sorted(directory.iterdir())}


def test_lower_layer_dir_cannot_be_renamed(merged):
    """The premise: overlayfs refuses to rename the image's envdir."""
    with pytest.raises(OSError) as caught:
        os.rename(merged / NAME, merged / "moved")

    assert caught.value.errno == 18  # EXDEV


def test_save_replaces_lower_layer_dir(merged):
    """The first save replaces the image's envdir, keeping its definitions."""
    directory = merged / NAME

    first = _save(directory, "-v", GREETING="hello")
    second = _save(directory, "-v", GREETING="again")

    check(first, 0, stdout=b"")
    check(second, 0, stdout=b"")
    assert b"cannot be renamed: deleting it first" in first.stderr
    assert b"cannot be renamed" not in second.stderr
    assert _files(directory) == {"APP_ENV": b"production\n", "GREETING": b"again\n"}
    assert b"export GREETING='again'\n" in sidecar(directory, ".sh").read_bytes()
    assert sorted(os.listdir(merged)) == [
        f".{NAME}.lock", NAME, f"{NAME}.json", f"{NAME}.sh"
    ]


def test_killed_replacement_is_finished(merged):
    """A complete .BASE.next left by a killed writer is put in place first."""
    directory = merged / NAME
    waiting = merged / f".{NAME}.next"
    waiting.mkdir(mode=0o750)
    (waiting / "APP_ENV").write_bytes(b"production\n")
    (waiting / "FROM_KILLED").write_bytes(b"kept\n")

    result = _save(directory, GREETING="hello")

    check(result, 0, stdout=b"", stderr=group_warning())
    assert _files(directory) == {
        "APP_ENV": b"production\n",
        "FROM_KILLED": b"kept\n",
        "GREETING": b"hello\n",
    }
    assert not waiting.exists()


def test_planted_next_is_removed_not_installed(tmp_path):
    """A .BASE.next someone else made in a sticky parent never becomes DIR."""
    parent = tmp_path / "sticky"
    parent.mkdir()
    parent.chmod(0o1777)
    directory = parent / NAME
    check(_save(directory, "--group", "root", FIRST="1"), 0, stdout=b"", stderr=b"")
    planted = parent / f".{NAME}.next"
    planted.mkdir()
    (planted / "EVIL").write_bytes(b"yes\n")
    os.chown(planted, 65534, 65534)

    result = _save(directory, "--group", "root", FIRST="2")

    warning = f"save-container-env: warning: removing '{planted}': not one of"
    check(result, 0, stdout=b"", stderr=f"{warning} this writer's\n".encode())
    assert _files(directory) == {"FIRST": b"2\n"}
    assert not planted.exists()


def test_reader_never_takes_a_retired_dir(tmp_path):
    """An envdir marked as being deleted (mode 01000) is never read as one."""
    directory = write_snapshot(tmp_path / NAME, {b"LEFT": b"over"})
    directory.chmod(0o1000)

    result = run([command("container-env"), "--dir", str(directory)])

    message = f"container-env: cannot read '{directory}': missing or replaced"
    check(result, 1, stdout=b"", stderr=f"{message} at each try\n".encode())
