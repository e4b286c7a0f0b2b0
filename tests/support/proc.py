"""Running the installed commands and checking what they did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The entry points of the install under test: the launchers beside the
# interpreter that runs pytest.
BIN = Path(sys.executable).parent


def command(name: str) -> str:
    """The path of an installed envtools command."""
    path = BIN / name
    assert path.exists(), f"{name} is not installed beside {sys.executable}"
    return str(path)


def run(
    argv: list[str | bytes],
    *,
    env: dict[str, str] | dict[bytes, bytes] | None = None,
    input: bytes | None = None,
    timeout: float = 30,
    **kwargs: object,
) -> subprocess.CompletedProcess[bytes]:
    """Run *argv* with captured output and no terminal input."""
    return subprocess.run(
        argv,
        env=env,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        **kwargs,  # type: ignore[arg-type]
    )


def check(
    result: subprocess.CompletedProcess[bytes],
    returncode: int,
    stdout: bytes | None = None,
    stderr: bytes | None = None,
) -> None:
    """Assert status and streams exactly; show both streams on a mismatch."""
    shown = (
        f"\nargv: {result.args!r}\nstatus: {result.returncode}"
        f"\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    )
    assert result.returncode == returncode, shown
    if stdout is not None:
        assert result.stdout == stdout, shown
    if stderr is not None:
        assert result.stderr == stderr, shown


def base_env(**extra: str) -> dict[str, str]:
    """A small, known environment for a child."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def proc_status(text: str) -> dict[str, str]:
    """Parse the lines of /proc/PID/status into a mapping."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def environ_of(pid: int) -> dict[bytes, bytes]:
    """The initial environment of a running process, from /proc."""
    block = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (entry.partition(b"=") for entry in block.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


def is_root() -> bool:
    return os.geteuid() == 0
