"""A child that reports who it is, and helpers to run setuser around it.

The child is /bin/sh, which every user can run: it prints its own
/proc/PID/status (credentials, capabilities, signal dispositions, no_new_privs)
and the environment block it was started with, exactly as execve(2) gave it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.proc import check
from support.proc import proc_status

MARKER = b"\n--environ--\n"

# /proc/$$/status of the shell itself: $$ is the process setuser became.
# /proc/$$/environ is the block execve handed over, before the shell
# touched anything.
SCRIPT = (
    "/bin/cat /proc/$$/status; printf '%s' '"
    + MARKER.decode()
    + "'; "
    + ("/bin/cat /proc/$$/environ")
)

REPORT = ["/bin/sh", "-c", SCRIPT]

# Every capability set of a process that is not root must be empty.
NO_CAPS = "0000000000000000"


@dataclass
class Report:
    """What the child saw: its status fields and its environment."""

    status: dict[str, str]
    environ: dict[bytes, bytes]

    @property
    def pid(self) -> int:
        return int(self.status["Pid"])

    def ids(self, field: str) -> list[int]:
        """The ids of a ``Uid``/``Gid`` line: real, effective, saved, fs."""
        return [int(part) for part in self.status[field].split()]

    def groups(self) -> set[int]:
        return {int(part) for part in self.status["Groups"].split()}


def parse(stdout: bytes) -> Report:
    """Split the child's output into its status and its environment."""
    status, marker, block = stdout.partition(MARKER)
    assert marker, f"child output has no environment part: {stdout!r}"
    pairs = (entry.partition(b"=") for entry in block.split(b"\0") if entry)
    environ = {name: value for name, _, value in pairs}
    return Report(proc_status(status.decode()), environ)


def run_report(
    argv: list[str], env: dict[str, str], timeout: float = 30
) -> tuple[Report, subprocess.CompletedProcess[bytes], int]:
    """Run *argv* (ending in :data:`REPORT`), expect success and no stderr.

    :returns: the report, the finished process and the PID it was started as.
    """
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = process.communicate(timeout=timeout)
    result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    check(result, 0, stderr=b"")
    return parse(stdout), result, process.pid


def assert_switched(
    report: Report,
    uid: int,
    gid: int,
    groups: set[int],
    no_new_privs: int = 0,
) -> None:
    """Check every credential field the child reports, and its dispositions."""
    shown = f"\nstatus: {report.status!r}"
    assert report.ids("Uid") == [uid] * 4, shown
    assert report.ids("Gid") == [gid] * 4, shown
    assert report.groups() == groups, shown
    if uid != 0:
        assert report.status["CapEff"] == NO_CAPS, shown
        assert report.status["CapPrm"] == NO_CAPS, shown
    assert report.status["NoNewPrivs"] == str(no_new_privs), shown
    # Python ignores SIGPIPE and SIGXFSZ; an ignored signal survives exec.
    assert report.status["SigIgn"] == NO_CAPS, shown


def expected_environ(env: dict[str, str], home: str, user: str) -> dict[bytes, bytes]:
    """The environment the command must get: *env* plus the identity three."""
    expected = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
    expected[b"HOME"] = os.fsencode(home)
    expected[b"USER"] = os.fsencode(user)
    expected[b"LOGNAME"] = os.fsencode(user)
    return expected


@contextmanager
def public_dir() -> Iterator[Path]:
    """A fresh directory every user can search, removed on exit.

    pytest's tmp_path sits under a 0700 directory, out of reach of a
    dropped child.
    """
    top = Path(tempfile.mkdtemp(prefix="envtools-test-"))
    try:
        top.chmod(0o755)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def write_script(path: Path, text: str, mode: int = 0o755) -> Path:
    """Write a file with *text* and set *mode*; return its path."""
    path.write_text(text)
    path.chmod(mode)
    return path


# Run the rest of an argv as nobody:nogroup with no supplementary groups.
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


# Starts argv with an environment block given entry by entry, through
# execve(2) itself: subprocess takes a mapping, which cannot hold a
# repeated name or an entry without '='.
_RAW_EXEC = """
import ctypes, os, sys
argv = {argv!r}
entries = {entries!r}
libc = ctypes.CDLL(None, use_errno=True)
args = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
block = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
libc.execve(argv[0], args, block)
sys.exit("execve failed: " + os.strerror(ctypes.get_errno()))
"""


def raw_environ_argv(argv: list[str], entries: list[bytes]) -> list[str]:
    """An argv that runs *argv* with exactly the environment *entries*."""
    code = _RAW_EXEC.format(argv=[os.fsencode(a) for a in argv], entries=entries)
    return [sys.executable, "-c", code]
