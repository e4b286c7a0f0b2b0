"""Unchanged files are kept by hard link; anything doubtful is written anew."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.proc import check

from save_container_env.conftest import Saver
from save_container_env.helpers import group_warning
from save_container_env.helpers import read_dir
from save_container_env.helpers import sidecar

pytestmark = pytest.mark.timeout(60)


def _inodes(snapshot_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in snapshot_dir.iterdir()}


def test_unchanged_file_kept(save: Saver, snapshot_dir: Path) -> None:
    """A value that did not change keeps its file; a changed one gets a new one."""
    check(save({b"SAME": b"1", b"CHANGED": b"a"}), 0, b"", group_warning())
    before = _inodes(snapshot_dir)
    check(save({b"SAME": b"1", b"CHANGED": b"b"}), 0, b"", group_warning())
    after = _inodes(snapshot_dir)

    assert after["SAME"] == before["SAME"]
    assert after["CHANGED"] != before["CHANGED"]
    assert (snapshot_dir / "SAME").stat().st_nlink == 1
    assert read_dir(snapshot_dir)[b"CHANGED"] == b"b\n"


def test_edited_file_rewritten(save: Saver, snapshot_dir: Path) -> None:
    """A file edited by hand to the same size is compared, not trusted."""
    check(save({b"A": b"1111"}), 0, b"", group_warning())
    (snapshot_dir / "A").write_bytes(b"2222\n")
    check(save({b"A": b"1111"}), 0, b"", group_warning())
    assert read_dir(snapshot_dir)[b"A"] == b"1111\n"


def test_stale_json_hint(save: Saver, snapshot_dir: Path) -> None:
    """A DIR.json that lies about the values changes nothing in the result."""
    check(save({b"A": b"1", b"B": b"2"}), 0, b"", group_warning())
    (snapshot_dir / "B").write_bytes(b"9\n")
    sidecar(snapshot_dir, ".json").write_bytes(b'{"A": "0", "B": "2"}\n')
    check(save({b"A": b"1", b"B": b"2"}), 0, b"", group_warning())
    files = read_dir(snapshot_dir)
    assert (files[b"A"], files[b"B"]) == (b"1\n", b"2\n")


def test_linked_elsewhere_not_reused(
    save: Saver, snapshot_dir: Path, tmp_path: Path
) -> None:
    """A file that has another link is never shared with the new snapshot."""
    check(save({b"A": b"1"}), 0, b"", group_warning())
    outside = tmp_path / "outside"
    os.link(snapshot_dir / "A", outside)
    check(save({b"A": b"1"}), 0, b"", group_warning())
    assert (snapshot_dir / "A").stat().st_ino != outside.stat().st_ino
    assert outside.stat().st_nlink == 1


def test_loose_directory_not_reused(save: Saver, snapshot_dir: Path) -> None:
    """When others may add to the old directory, nothing in it is reused.

    Sticky: without the bit the directory is refused outright (see
    test_permissions.py); with it, others' own files would be refused.
    """
    check(save({b"A": b"1"}), 0, b"", group_warning())
    before = _inodes(snapshot_dir)
    snapshot_dir.chmod(0o1777)
    check(save({b"A": b"1"}), 0, b"", group_warning())
    assert _inodes(snapshot_dir)["A"] != before["A"]
