"""setuser from a root terminal: TIOCSTI injection without --setsid, none with it.

Each test opens a real pty and runs setuser under the root "shell" of
support.tiocsti, which reports what the command left in the terminal's
input queue once it has ended: what root's shell would read next.
"""

from __future__ import annotations

import os

import pytest

from support.campaign import tally
from support.proc import command
from support.tiocsti import INJECTOR
from support.tiocsti import TTY_PROBE
from support.tiocsti import legacy_allowed
from support.tiocsti import run_as_session_leader
from support.tiocsti import run_on_pty

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users"),
]


def _setuser(options: list[str], script: str = INJECTOR) -> list[str]:
    """setuser with *options* running *script* as nobody."""
    return [command("setuser"), *options, "nobody", "/usr/bin/python3", "-c", script]


@pytest.mark.parametrize("mode", ["job", "plain"])
def test_injection_works_without_guard(mode):
    """Without --setsid, the command as nobody pushes input into root's terminal."""
    if not legacy_allowed():
        pytest.skip("dev.tty.legacy_tiocsti=0: this kernel refuses TIOCSTI anyway")
    output = run_on_pty(mode, _setuser([]))
    tally("tiocsti", tried=1)
    assert output[0] == b"injected"
    assert output[1].split(b" ", 2)[2] == b"status 0 queue b'id\\n'"


@pytest.mark.parametrize("mode", ["job", "plain"])
def test_setsid_refuses_injection(mode):
    """With --setsid, TIOCSTI fails with EPERM and root's input stays empty."""
    output = run_on_pty(mode, _setuser(["--setsid"]))
    tally("tiocsti", tried=1, refused=1)
    assert output[0] == b"refused 1"
    assert output[1].split(b" ", 2)[2] == b"status 0 queue b''"


@pytest.mark.parametrize("mode", ["job", "plain"])
def test_setsid_keeps_pid(mode):
    """--setsid still execs in place: the command has the pid the shell started."""
    script = "import os; print(os.getpid(), flush=True)"
    output = run_on_pty(mode, _setuser(["--setsid"], script))
    assert len(output) == 2, output
    assert output[1] == b"pid " + output[0] + b" status 0 queue b''"


def test_setsid_as_session_leader():
    """A session leader, like PID 1 of ``docker run -t``, survives and detaches."""
    argv = _setuser(["--setsid"], TTY_PROBE)

    assert run_as_session_leader(argv) == (0, b"detached 6\r\n")
