"""with-container-env on a root terminal: TIOCSTI works only without --setsid.

Each test opens a real pty and runs with-container-env under a root "shell"
of support.tiocsti, which reports what the command left in the terminal's
input queue once it has ended.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.proc import command
from support.snapshots import write_snapshot
from support.tiocsti import INJECTOR
from support.tiocsti import TTY_PROBE
from support.tiocsti import legacy_allowed
from support.tiocsti import run_as_session_leader
from support.tiocsti import run_on_pty

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users"),
]

MODES = pytest.mark.parametrize("mode", ["job", "plain"])


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    return write_snapshot(tmp_path / "snap", {b"SAVED": b"value"})


def _argv(snap: Path, options: list[str], script: str) -> list[str]:
    wce = [command("with-container-env"), "--dir", str(snap), *options]
    return [*wce, "/usr/bin/python3", "-c", script]


@MODES
def test_injection_works_without_setsid(snap: Path, mode: str) -> None:
    """Without --setsid, a command as nobody pushes input into root's tty."""
    if not legacy_allowed():
        pytest.skip("dev.tty.legacy_tiocsti=0: this kernel refuses TIOCSTI anyway")
    output = run_on_pty(mode, _argv(snap, ["--user", "nobody"], INJECTOR))
    assert output[0] == b"injected", output
    assert output[1].split(b" ", 2)[2] == b"status 0 queue b'id\\n'", output


@MODES
def test_setsid_refuses_injection(snap: Path, mode: str) -> None:
    """With --setsid, TIOCSTI fails with EPERM and root's input stays empty."""
    options = ["--setsid", "--user", "nobody"]
    output = run_on_pty(mode, _argv(snap, options, INJECTOR))
    assert output[0] == b"refused 1", output
    assert output[1].split(b" ", 2)[2] == b"status 0 queue b''", output


@MODES
def test_setsid_keeps_pid_and_snapshot(snap: Path, mode: str) -> None:
    """--setsid still execs in place, with the snapshot, as the user given."""
    script = "import os; print(os.getpid(), os.getuid(), os.environ['SAVED'])"
    options = ["--setsid", "--user", "nobody"]
    output = run_on_pty(mode, _argv(snap, options, script))
    assert len(output) == 2, output
    pid = output[0].split(b" ")[0]
    assert output[0] == pid + b" 65534 value", output
    assert output[1] == b"pid " + pid + b" status 0 queue b''", output


@MODES
def test_setsid_without_user(snap: Path, mode: str) -> None:
    """--setsid without --user leaves root's own command with no terminal."""
    output = run_on_pty(mode, _argv(snap, ["--setsid"], TTY_PROBE))
    assert output[0] == b"detached 6", output
    assert output[1].split(b" ", 2)[2] == b"status 0 queue b''", output


def test_setsid_as_session_leader(snap: Path) -> None:
    """A session leader, as PID 1 of ``docker run -t``, lives and detaches."""
    argv = _argv(snap, ["--setsid", "--user", "nobody"], TTY_PROBE)

    assert run_as_session_leader(argv) == (0, b"detached 6\r\n")
