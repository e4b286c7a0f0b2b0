"""Reading what save-container-env wrote, and the lines it prints."""

from __future__ import annotations

import grp
import os
from pathlib import Path


def group_warning() -> bytes:
    """The line both forms print when the default group is missing."""
    try:
        grp.getgrnam("docker_env")
    except KeyError:
        return (
            b"save-container-env: warning: group 'docker_env' not found: "
            b"using 'root', 0700 and 0600\n"
        )
    return b""


def with_location(env: dict[bytes, bytes], directory: Path) -> dict[bytes, bytes]:
    """*env* plus ENVTOOLS_SNAPSHOT_DIR, as the command is given it."""
    return {**env, b"ENVTOOLS_SNAPSHOT_DIR": os.fsencode(directory)}


def read_dir(directory: Path) -> dict[bytes, bytes]:
    """The raw content of every file in *directory*, by name."""
    return {
        os.fsencode(entry.name): entry.read_bytes()
        for entry in sorted(directory.iterdir())
    }


def sidecar(directory: Path, suffix: str) -> Path:
    """DIR.sh or DIR.json beside *directory*."""
    return directory.with_name(directory.name + suffix)
