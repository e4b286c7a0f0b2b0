"""setuser from a root terminal: TIOCSTI injection without --setsid, none with it.

Each test opens a real pty.  A root "shell" (a small python3 program, the
session leader of the pty) starts setuser the way an interactive shell does
and, once setuser's command has ended, reports what waits in the terminal's
input queue: what root's shell would read next as typed commands.
"""

from __future__ import annotations

import fcntl
import os
import pty
import subprocess
import termios
import time
from pathlib import Path

import pytest

from support.campaign import read_until_eof
from support.campaign import tally
from support.proc import base_env
from support.proc import command

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users"),
]

LEGACY = Path("/proc/sys/dev/tty/legacy_tiocsti")

# Run as nobody: push "id\n" into the terminal's input, say whether it worked.
INJECTOR = """
import fcntl, termios
try:
    for byte in b"id\\n":
        fcntl.ioctl(0, termios.TIOCSTI, bytes([byte]))
    print("injected", flush=True)
except OSError as error:
    print("refused", error.errno, flush=True)
"""

# The root shell.  argv: MODE SETUSER-ARGV...  MODE "job" starts the command
# in its own process group in the foreground, as a shell with job control
# does; "plain" leaves it in the shell's group, as sh -c does.
ROOT_SHELL = """
import fcntl, os, select, signal, sys, termios
mode, argv = sys.argv[1], sys.argv[2:]
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
attributes = termios.tcgetattr(0)
attributes[3] &= ~termios.ECHO
termios.tcsetattr(0, termios.TCSANOW, attributes)
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    if mode == "job":
        os.setpgid(0, 0)
        os.tcsetpgrp(0, os.getpid())
    os.execv(argv[0], argv)
if mode == "job":
    # Both sides, as shells do; the child may have exec'd already.
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
_, status = os.waitpid(pid, 0)
os.tcsetpgrp(0, os.getpgrp())
waiting = select.select([0], [], [], 0)[0]
queued = os.read(0, 100) if waiting else b""
code = os.waitstatus_to_exitcode(status)
print("pid", pid, "status", code, "queue", repr(queued), flush=True)
"""


def legacy_allowed() -> bool:
    """Whether this kernel lets a process without CAP_SYS_ADMIN use TIOCSTI."""
    try:
        return LEGACY.read_text().strip() != "0"
    except FileNotFoundError:
        # Before Linux 6.2 there is no switch: TIOCSTI always works.
        return True


def run_on_pty(mode: str, options: list[str], script: str = INJECTOR) -> list[bytes]:
    """Run the root shell on a new pty around setuser; return its lines.

    The shell's last line, ``pid P status S queue Q``, has the pid replaced
    by ``P`` when it equals the first number the command printed.
    """
    master, slave = pty.openpty()
    argv = [command("setuser"), *options, "nobody", "/usr/bin/python3", "-c", script]
    try:
        process = subprocess.Popen(
            ["/usr/bin/python3", "-c", ROOT_SHELL, mode, *argv],
            env=base_env(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    try:
        output = read_until_eof(master, time.monotonic() + 30)
        process.wait(timeout=10)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return output.replace(b"\r\n", b"\n").splitlines()


@pytest.mark.parametrize("mode", ["job", "plain"])
def test_injection_works_without_guard(mode):
    """Without --setsid, the command as nobody pushes input into root's terminal."""
    if not legacy_allowed():
        pytest.skip("dev.tty.legacy_tiocsti=0: this kernel refuses TIOCSTI anyway")
    output = run_on_pty(mode, [])
    tally("tiocsti", tried=1)
    assert output[0] == b"injected"
    assert output[1].split(b" ", 2)[2] == b"status 0 queue b'id\\n'"


@pytest.mark.parametrize("mode", ["job", "plain"])
def test_setsid_refuses_injection(mode):
    """With --setsid, TIOCSTI fails with EPERM and root's input stays empty."""
    output = run_on_pty(mode, ["--setsid"])
    tally("tiocsti", tried=1, refused=1)
    assert output[0] == b"refused 1"
    assert output[1].split(b" ", 2)[2] == b"status 0 queue b''"


@pytest.mark.parametrize("mode", ["job", "plain"])
def test_setsid_keeps_pid(mode):
    """--setsid still execs in place: the command has the pid the shell started."""
    script = "import os; print(os.getpid(), flush=True)"
    output = run_on_pty(mode, ["--setsid"], script)
    assert len(output) == 2, output
    assert output[1] == b"pid " + output[0] + b" status 0 queue b''"


def _take_terminal() -> None:
    """In the new session: make stdin, a terminal, the controlling one."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_setsid_as_session_leader():
    """A session leader, like PID 1 of ``docker run -t``, survives and detaches."""
    master, slave = pty.openpty()
    probe = (
        "import os\n"
        "try:\n"
        "    os.open('/dev/tty', os.O_RDWR)\n"
        "    print('attached', flush=True)\n"
        "except OSError as error:\n"
        "    print('detached', error.errno, flush=True)\n"
    )
    argv = [command("setuser"), "--setsid", "nobody", "/usr/bin/python3", "-c", probe]
    try:
        process = subprocess.Popen(
            argv,
            env=base_env(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
    finally:
        os.close(slave)
    try:
        output = read_until_eof(master, time.monotonic() + 30)
        process.wait(timeout=10)
    finally:
        os.close(master)
    assert (process.returncode, output) == (0, b"detached 6\r\n")
