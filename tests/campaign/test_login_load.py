"""setuser --login under load: 200 start/stop cycles, every session closed.

Cycles run four at a time.  Each ends one of four ways: the command exits
with a chosen status, or setuser is sent SIGTERM or SIGHUP (forwarded), or
the command itself is killed with SIGKILL.  The PAM hook counts sessions
opened and closed.  At close_session it also lists the children of
setuser, its parent, which is still running then: the command must already
be reaped, not left as a zombie, so the hook itself must be the only child.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import pam
from support.accounts import temp_user
from support.campaign import tally
from support.proc import base_env
from support.proc import command
from support.wait import until

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for PAM sessions"),
]

CYCLES = 200
AT_ONCE = 4
STATUSES = [0, 1, 2, 126, 127, 255, 3, 100]
ENDINGS = ["exit", "SIGTERM", "SIGHUP", "SIGKILL-command"]


@pytest.fixture
def user() -> Iterator[object]:
    """A throwaway user with a home of its own."""
    home = Path(tempfile.mkdtemp(prefix="envtools-home-"))
    try:
        with temp_user(home=str(home)) as entry:
            os.chown(home, entry.pw_uid, entry.pw_gid)
            yield entry
    finally:
        shutil.rmtree(home, ignore_errors=True)


def start(service: pam.Service, name: str, script: str) -> subprocess.Popen[bytes]:
    """``setuser --login`` running ``/bin/sh -c SCRIPT`` as *name*."""
    argv = [command("setuser"), "--login", "--pam-service", service.name, name]
    return subprocess.Popen(
        [*argv, "/bin/sh", "-c", script],
        env=base_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def cycle(process: subprocess.Popen[bytes], ending: str) -> tuple[int, int]:
    """Read the command's pid, end it the *ending* way; return pid and status."""
    child = int(pam.read_line(process.stdout, time.monotonic() + 30))
    if ending == "SIGKILL-command":
        os.kill(child, signal.SIGKILL)
    elif ending != "exit":
        process.send_signal(getattr(signal, ending))
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        pam.stop(process, child)
    assert stderr == b"", stderr
    return child, process.returncode


def expected_status(ending: str, status: int) -> int:
    """What Popen reports for setuser after *ending*."""
    if ending == "exit":
        return status
    if ending == "SIGKILL-command":
        return -signal.SIGKILL
    return -getattr(signal, ending)


# The marker line as pam.temp_service writes it; then, at close_session,
# one line "PPID pid:state ..." for every child of setuser but the hook.
_HOOK = """#!/bin/sh
echo "$PAM_TYPE $PAM_USER${{PAM_TTY:+ $PAM_TTY}}" >> {marker}
[ "$PAM_TYPE" = close_session ] || exit 0
others=""
for pid in $(cat /proc/$PPID/task/*/children); do
    [ "$pid" = "$$" ] && continue
    state=$(sed 's/.*) //; s/ .*//' /proc/$pid/stat 2>/dev/null || echo gone)
    others="$others $pid:$state"
done
echo "$PPID$others" >> {children}
"""


def watch_children(service: pam.Service, directory: Path) -> Path:
    """Make *service*'s hook list setuser's other children at close_session.

    :returns: the file it appends to, one line per session closed.
    """
    children = directory / "children"
    hook = _HOOK.format(marker=service.marker, children=children)
    service.hook.write_text(hook)
    return children


def gone(pid: int) -> bool:
    """Whether *pid* no longer exists, not even as a zombie."""
    return not os.path.exists(f"/proc/{pid}")


def test_login_cycles_close_every_session(tmp_path, user):
    """200 cycles: right statuses, 200 sessions closed, each with no zombie child."""
    name = user.pw_name
    children = []
    setusers = []
    with pam.temp_service(tmp_path) as service:
        listed = watch_children(service, tmp_path)
        for first in range(0, CYCLES, AT_ONCE):
            batch = []
            for index in range(first, first + AT_ONCE):
                ending = ENDINGS[index % len(ENDINGS)]
                status = STATUSES[index % len(STATUSES)]
                script = (
                    f"echo $$; exit {status}"
                    if ending == "exit"
                    else ("echo $$; exec /bin/sleep 60")
                )
                batch.append((start(service, name, script), ending, status))
            setusers += [process.pid for process, _, _ in batch]
            for process, ending, status in batch:
                child, returncode = cycle(process, ending)
                children.append(child)
                assert returncode == expected_status(ending, status), ending
            tally("login cycles", tried=AT_ONCE)
        marks = service.marks().splitlines()

    assert marks.count(f"open_session {name}") == CYCLES
    assert marks.count(f"close_session {name}") == CYCLES
    assert len(marks) == 2 * CYCLES
    lines = [line.split() for line in listed.read_text().splitlines()]
    assert sorted(int(line[0]) for line in lines) == sorted(setusers)
    left = [line for line in lines if len(line) > 1]
    zombies = sum(entry.endswith(":Z") for line in left for entry in line[1:])
    assert left == [], f"setuser had other children at close_session: {left}"
    until(lambda: all(gone(pid) for pid in children), 10, "the commands to be gone")
    tally("login cycles", sessions_closed=CYCLES, children_checked=len(lines))
    tally("login cycles", zombies=zombies)


STARTUP_TRIALS = 60


def test_sigterm_during_startup_leaks_no_session(tmp_path, user):
    """SIGTERM at any point of start-up: every session opened is closed."""
    name = user.pw_name
    argv = [command("setuser"), "--login", "--allow-missing-home", "--pam-service"]
    with pam.temp_service(tmp_path) as service:
        for trial in range(STARTUP_TRIALS):
            process = subprocess.Popen(
                [*argv, service.name, name, "/bin/true"],
                env=base_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            if trial % 2:
                # Aimed: just after the session opened, before the fork.
                before = service.marks().count("open_session")
                until(
                    lambda: (
                        process.poll() is not None
                        or service.marks().count("open_session") > before
                    ),
                    30,
                    "the session to open",
                )
                time.sleep(0.002 * (trial % 5))
            else:
                # Spread over the start-up: interpreter, PAM, fork, exec.
                time.sleep(0.15 * trial / STARTUP_TRIALS)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=30)
            assert (stdout, stderr) == (b"", b""), stderr
            assert process.returncode in (0, -signal.SIGTERM)
            marks = service.marks().splitlines()
            opened = marks.count(f"open_session {name}")
            assert marks.count(f"close_session {name}") == opened, trial
            tally("login SIGTERM at start-up", tried=1)
    tally("login SIGTERM at start-up", sessions_opened=opened, sessions_closed=opened)
