"""Snapshots written by hand, as the writer lays them out, for the readers.

The readers' tests must not depend on the writer: each file holds the value
and one newline, owned by root, mode 0640, in a 0750 directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def write_snapshot(
    directory: Path,
    env: Mapping[bytes, bytes],
    gid: int = 0,
    mode: int = 0o750,
) -> Path:
    """Create *directory* holding one file per variable of *env*.

    :param gid: the group of the directory and its files.
    :returns: *directory*.
    """
    directory.mkdir(mode=mode)
    os.chown(directory, 0, gid)
    directory.chmod(mode)
    for name, value in env.items():
        write_value(directory, name, value, gid)
    return directory


def write_value(directory: Path, name: bytes, value: bytes, gid: int = 0) -> Path:
    """Write one variable's file the writer's way; return its path."""
    path = Path(os.fsdecode(os.fsencode(directory) + b"/" + name))
    path.write_bytes(value + b"\n")
    os.chown(path, 0, gid)
    path.chmod(0o640)
    return path


def kubernetes_volume(directory: Path, env: Mapping[bytes, bytes]) -> Path:
    """Lay *env* out as kubelet mounts a secret or configmap volume.

    The values sit in a timestamped directory; ``..data`` links to it and
    each name links to ``..data/NAME``, so kubelet swaps them all at once.
    """
    directory.mkdir(mode=0o755)
    real = directory / "..2026_12_03_18_00_00.000000001"
    real.mkdir(mode=0o755)
    for name, value in env.items():
        write_value(real, name, value)
    (directory / "..data").symlink_to(real.name)
    for name in env:
        link = Path(os.fsdecode(os.fsencode(directory) + b"/" + name))
        link.symlink_to("..data/" + os.fsdecode(name))
    return directory
