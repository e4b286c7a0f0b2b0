"""A root "shell" on a new pty that starts one command and reports TIOCSTI.

The shell (a small python3 program, the session leader of the pty) starts
the command the way an interactive shell does and, once it has ended,
reports what waits in the terminal's input queue: what root's shell would
read next as typed commands.  Used by the setuser and with-container-env
tests alike.
"""

from __future__ import annotations

import os
import pty
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from support.campaign import read_until_eof
from support.proc import base_env
from support.terminal import take_terminal

LEGACY = Path("/proc/sys/dev/tty/legacy_tiocsti")

# Push "id\n" into the terminal's input, say whether it worked.
INJECTOR = """
import fcntl, termios
try:
    for byte in b"id\\n":
        fcntl.ioctl(0, termios.TIOCSTI, bytes([byte]))
    print("injected", flush=True)
except OSError as error:
    print("refused", error.errno, flush=True)
"""

# Whether /dev/tty, the controlling terminal, still opens.
TTY_PROBE = """
import os
try:
    os.open("/dev/tty", os.O_RDWR)
    print("attached", flush=True)
except OSError as error:
    print("detached", error.errno, flush=True)
"""

# argv: MODE COMMAND-ARGV...  MODE "job" starts the command in its own
# process group in the foreground, as a shell with job control does;
# "plain" leaves it in the shell's group, as sh -c does.  The last line is
# "pid P status S queue Q".
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


def run_on_pty(mode: str, argv: list[str], timeout: float = 30) -> list[bytes]:
    """Run the root shell on a new pty around *argv*; return its output lines.

    :param mode: "job" or "plain", see ROOT_SHELL.
    :raises TimeoutError: the shell did not finish within *timeout* seconds.
    """
    shell = ["/usr/bin/python3", "-c", ROOT_SHELL, mode, *argv]
    _, output = _on_new_pty(shell, timeout)
    return output.replace(b"\r\n", b"\n").splitlines()


def run_as_session_leader(argv: list[str], timeout: float = 30) -> tuple[int, bytes]:
    """Run *argv* as the leader of a new session whose terminal it controls.

    As PID 1 of ``docker run -t`` is.

    :returns: the exit status and everything written on the terminal.
    """
    return _on_new_pty(argv, timeout, take_terminal)


def _on_new_pty(
    argv: list[str], timeout: float, preexec_fn: Callable[[], None] | None = None
) -> tuple[int, bytes]:
    """Run *argv* in a new session on a new pty until it ends.

    :returns: the exit status and everything written on the terminal.
    :raises TimeoutError: the terminal was not closed within *timeout*.
    """
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            argv,
            env=base_env(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    finally:
        os.close(slave)
    try:
        output = read_until_eof(master, time.monotonic() + timeout)
        process.wait(timeout=10)
    finally:
        os.close(master)
        if process.poll() is None:
            # Our own child, by its pid: never a group or a name.
            process.kill()
            process.wait()
    return process.returncode, output
