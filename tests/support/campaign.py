"""Helpers of the hostile-input campaign (tests/campaign): figures and I/O.

Every campaign test adds what it tried to one tally; the campaign's
conftest prints the totals at the end of the run and, when
``ENVTOOLS_CAMPAIGN_FIGURES`` names a file, writes them there as JSON, the
numbers docs/CAMPAIGN.md reports.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import tempfile
import time
from collections import Counter

# kind -> {"tried": n, "refused": n, "exact": n, ...}
FIGURES: dict[str, Counter[str]] = {}


def tally(kind: str, **counts: int) -> None:
    """Add *counts* (tried, refused, exact, ...) to the figures of *kind*."""
    FIGURES.setdefault(kind, Counter()).update(counts)


def read_until_eof(fd: int, deadline: float) -> bytes:
    """Everything from *fd* until end of file (or EIO, a pty's end).

    :param deadline: a time.monotonic() value.
    :raises TimeoutError: the writers did not finish in time.
    """
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError(f"no end of output in time; got {data!r}")
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                # EIO: every slave side of the pty is closed.
                return data
            if not chunk:
                return data
            data += chunk


def one_line(stderr: bytes, prog: str) -> bool:
    """Whether *stderr* is exactly one ``prog: ...`` line."""
    return (
        stderr.startswith(prog.encode() + b": ")
        and stderr.count(b"\n") == 1
        and (stderr.endswith(b"\n"))
    )


class Measured:
    """A finished command: status, output, and its peak memory.

    :param returncode: the exit status; 128+N for a death by signal N.
    :param maxrss: the child's maximum resident set size, in KiB.
    """

    def __init__(
        self,
        argv: list[str],
        returncode: int,
        stdout: bytes,
        stderr: bytes,
        maxrss: int,
    ) -> None:
        self.args = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.maxrss = maxrss


# Runs argv[2:] as its child and writes the child's peak RSS to argv[1].
# The measurement must come from a small process: Linux keeps the high-water
# mark of the memory a process had before execve, so a command forked from
# pytest itself would report pytest's size.
_MEASURER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as stream:
    stream.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""


def run_measured(
    argv: list[str], env: dict[str, str], timeout: float = 30, **kwargs: object
) -> Measured:
    """Run *argv* with captured output; measure its peak memory with wait4(2).

    A command killed by signal N reports status 128+N.

    :raises subprocess.TimeoutExpired: still running after *timeout* seconds.
    """
    with tempfile.NamedTemporaryFile() as rss:
        result = subprocess.run(
            ["/usr/bin/python3", "-c", _MEASURER, rss.name, *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            **kwargs,  # type: ignore[arg-type]
        )
        maxrss = int(rss.read() or b"0")
    return Measured(argv, result.returncode, result.stdout, result.stderr, maxrss)
