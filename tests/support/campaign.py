"""Helpers of the hostile-input campaign (tests/campaign): figures, I/O and
the real consumers of the docker and systemd formats.

Every campaign test adds what it tried to one tally; the campaign's
conftest prints the totals at the end of the run and, when
``ENVTOOLS_CAMPAIGN_FIGURES`` names a file, writes them there as JSON, the
numbers docs/CAMPAIGN.md reports.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import selectors
import shutil
import socketserver
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

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


# The docker client reads an --env-file itself and sends what it made of it
# as the "Env" list of its container-create request.  No engine runs here,
# so a small stand-in engine on a Unix socket answers that request and keeps
# its body: what is checked is the real client's reading of the file.
DOCKER_API = "1.50"
DOCKER_ID = b"envtools-campaign"
DOCKER_MARK = "ENVTOOLS_CAMPAIGN_FILE"


class _EngineHandler(http.server.BaseHTTPRequestHandler):
    """Answers the client's ping and container-create requests."""

    protocol_version = "HTTP/1.1"
    server: _Engine

    def do_HEAD(self) -> None:
        self._answer(200, b"")

    def do_GET(self) -> None:
        self._answer(200 if self.path.endswith("/_ping") else 404, b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if not self.path.split("?")[0].endswith("/containers/create"):
            self._answer(404, b"")
            return
        self.server.bodies.append(body)
        self._answer(201, b'{"Id":"' + DOCKER_ID + b'","Warnings":[]}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("API-Version", DOCKER_API)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a Unix socket has no client address to log anyway."""


class _Engine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(path, _EngineHandler)
        self.bodies: list[bytes] = []


@contextlib.contextmanager
def docker_engine() -> Iterator[DockerClient]:
    """A stand-in docker engine for the duration; yields a client of it."""
    directory = tempfile.mkdtemp(prefix="envtools-docker-")
    engine = _Engine(os.path.join(directory, "engine.sock"))
    thread = threading.Thread(target=engine.serve_forever, daemon=True)
    thread.start()
    try:
        yield DockerClient(engine, directory)
    finally:
        engine.shutdown()
        engine.server_close()
        thread.join(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


class DockerClient:
    """The real docker client, talking to a stand-in engine."""

    def __init__(self, engine: _Engine, directory: str) -> None:
        self._engine = engine
        self._directory = directory

    def read_env_files(self, files: list[Path]) -> list[list[bytes]]:
        """The ``NAME=value`` entries docker makes of each file, in order.

        One ``docker create`` reads every file; before each goes a marker
        file naming its index, so the one list the client sends can be cut
        back into files.

        :raises AssertionError: the client failed, or said anything at all.
        """
        argv = [shutil.which("docker") or "docker", "create"]
        for index, path in enumerate(files):
            mark = Path(self._directory, f"mark-{index}")
            mark.write_text(f"{DOCKER_MARK}={index}\n")
            argv += ["--env-file", str(mark), "--env-file", str(path)]
        self._engine.bodies.clear()
        env = {
            "DOCKER_HOST": f"unix://{self._directory}/engine.sock",
            "DOCKER_CONFIG": os.path.join(self._directory, "config"),
            "HOME": self._directory,
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [*argv, "envtools-campaign"], env=env, capture_output=True, timeout=120
        )
        shown = f"docker: {result.returncode} {result.stderr[:2000]!r}"
        assert (result.returncode, result.stdout) == (0, DOCKER_ID + b"\n"), shown
        assert result.stderr == b"", shown
        assert len(self._engine.bodies) == 1, self._engine.bodies
        return _split_marks(json.loads(self._engine.bodies[0])["Env"], len(files))


def _split_marks(entries: list[str], count: int) -> list[list[bytes]]:
    """Cut the client's one list of entries at the marker entries."""
    files: list[list[bytes]] = []
    for entry in entries:
        if entry == f"{DOCKER_MARK}={len(files)}":
            files.append([])
        else:
            assert files, f"an entry before the first marker: {entry[:80]!r}"
            files[-1].append(entry.encode("utf-8"))
    assert len(files) == count, f"{len(files)} markers of {count}"
    return files


# systemd's own parser of environment files (env-file.c, shared by
# EnvironmentFile= and environment.d) can be run here through the
# environment.d generator, which reads *.conf files and prints the result.
# It is not EnvironmentFile= in two ways, after the same unquoting: it
# expands "$NAME" and "${NAME}" in values, and it ignores an empty value as
# invalid syntax.  So it is the reference for every other value only.
ENV_D_GENERATOR = (
    "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator"
)

# Where the generator looks besides $XDG_CONFIG_HOME/environment.d; each
# that exists is hidden under an empty tmpfs in a private mount namespace,
# so the machine's own files add nothing.
_ENV_D_SYSTEM = [
    "/etc/environment.d",
    "/run/environment.d",
    "/usr/local/lib/environment.d",
    "/usr/lib/environment.d",
]

_GENERATOR_ESCAPES = {"\\": "\\", '"': '"', "`": "`", "$": "$", "n": "\n", "t": "\t"}


def systemd_read(
    files: list[Path], out: Path
) -> list[tuple[dict[bytes, bytes], bytes]]:
    """What systemd's parser makes of each file: the variables, and stderr.

    One ``unshare --mount`` shell runs the generator once per file, each with
    its own ``$XDG_CONFIG_HOME`` holding only that file.

    :param out: a directory for the generator's homes and outputs.
    :raises AssertionError: the shell or a generator run failed.
    """
    assert os.access(ENV_D_GENERATOR, os.X_OK), f"{ENV_D_GENERATOR} is missing"
    lines = ["set -e"]
    lines += [
        f"mount -t tmpfs envtools '{path}'"
        for path in _ENV_D_SYSTEM
        if os.path.isdir(path)
    ]
    for index, path in enumerate(files):
        home = out / f"systemd-{index}"
        (home / "environment.d").mkdir(parents=True)
        shutil.copyfile(path, home / "environment.d" / "envtools.conf")
        lines.append(
            f"env -i XDG_CONFIG_HOME='{home}' {ENV_D_GENERATOR}"
            f" > '{home}.out' 2> '{home}.err'"
        )
    script = out / "systemd-batch"
    script.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        ["unshare", "--mount", "/bin/sh", str(script)], capture_output=True, timeout=120
    )
    assert (result.returncode, result.stderr) == (0, b""), result.stderr
    homes = [out / f"systemd-{index}" for index in range(len(files))]
    outputs = [Path(f"{home}.out").read_bytes() for home in homes]
    errors = [Path(f"{home}.err").read_bytes() for home in homes]
    return [(_generator_output(o), e) for o, e in zip(outputs, errors, strict=True)]


def _generator_output(data: bytes) -> dict[bytes, bytes]:
    """The generator's ``NAME=value`` lines, each value shell-quoted if need be."""
    result: dict[bytes, bytes] = {}
    for line in data.decode("utf-8").split("\n")[:-1]:
        name, sep, value = line.partition("=")
        assert sep and name not in result, line[:80]
        result[name.encode()] = _generator_value(value).encode("utf-8")
    return result


def _generator_value(value: str) -> str:
    """Undo the generator's quoting: plain, or double quotes with escapes."""
    if not value.startswith('"'):
        return value
    assert len(value) >= 2 and value.endswith('"'), value[:80]
    out, pos = [], 1
    while pos < len(value) - 1:
        char = value[pos]
        if char == "\\":
            following = value[pos + 1]
            assert following in _GENERATOR_ESCAPES, f"escape \\{following}"
            out.append(_GENERATOR_ESCAPES[following])
            pos += 2
        else:
            assert char != '"', value[:80]
            out.append(char)
            pos += 1
    assert pos == len(value) - 1, value[-80:]
    return "".join(out)
