"""The runit and s6 examples, run under real runsv and s6-supervise.

Each test copies the example's service directory into a 0755 temporary
directory and changes only names that differ on a test machine: the user
(a throwaway one, in an extra group), the port and the document directory.
The commands come from links to the built archive first on PATH, and the
snapshot lives where ENVTOOLS_SNAPSHOT_DIR points: both reach the run script
through the supervisor's environment, as they would in the image.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.accounts import temp_group
from support.accounts import temp_user
from support.proc import base_env
from support.proc import check
from support.proc import environ_of
from support.proc import proc_status
from support.proc import run
from support.services import free_port
from support.wait import until

REPO = Path(__file__).resolve().parent.parent.parent

COMMANDS = ["setuser", "save-container-env", "container-env", "with-container-env"]

DEADLINE = 20.0

# Values that only survive a snapshot written and read back exactly.
SAVED = {"GREETING": "hello\nworld", "EMPTY": "", "QUOTED": "it's \"$x\" = 1"}


@dataclass(frozen=True)
class Supervisor:
    """How to start, query and stop one supervisor on one service."""

    start: Callable[[Path], list[str]]
    status: Callable[[Path], list[str]]
    stop: Callable[[Path], list[str]]
    pid: Callable[[str], int | None]


def _runit_pid(status: str) -> int | None:
    # sv status: "run: /dir: (pid 123) 4s"
    if not status.startswith("run: ") or "(pid " not in status:
        return None
    return int(status.split("(pid ", 1)[1].split(")", 1)[0])


def _s6_pid(status: str) -> int | None:
    # s6-svstat: "up (pid 123) 4 seconds"
    if not status.startswith("up (pid "):
        return None
    return int(status.split("(pid ", 1)[1].split(")", 1)[0])


SUPERVISORS = {
    "runit": Supervisor(
        start=lambda svc: ["runsv", str(svc)],
        status=lambda svc: ["sv", "status", str(svc)],
        stop=lambda svc: ["sv", "exit", str(svc)],
        pid=_runit_pid,
    ),
    "s6": Supervisor(
        start=lambda svc: ["s6-supervise", str(svc)],
        status=lambda svc: ["s6-svstat", str(svc)],
        stop=lambda svc: ["s6-svc", "-xd", str(svc)],
        pid=_s6_pid,
    ),
}


@pytest.fixture(autouse=True)
def _root_only() -> None:
    """The services switch to another user, which needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the run scripts switch users")


@pytest.fixture
def top() -> Iterator[Path]:
    """A 0755 directory the service user can enter (tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="envtools-example-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def links(pyz_build: Path, top: Path) -> Path:
    """Links to the built archive, one per command, as install.sh makes."""
    directory = top / "bin"
    directory.mkdir(mode=0o755)
    for name in COMMANDS:
        (directory / name).symlink_to(pyz_build / "envtools.pyz")
    return directory


@pytest.fixture
def account() -> Iterator[tuple[pwd.struct_passwd, int]]:
    """A throwaway user in one extra throwaway group."""
    with temp_group() as extra, temp_user(groups=[extra.gr_name]) as user:
        yield user, extra.gr_gid


def save_snapshot(links: Path, snapshot: Path) -> None:
    """Write the snapshot as the image's entry point does, from SAVED."""
    env = base_env(ENVTOOLS_SNAPSHOT_DIR=str(snapshot), **SAVED)
    result = run([str(links / "save-container-env")], env=env)
    check(result, 0, b"")


def copy_service(kind: str, top: Path, user: str, port: int) -> Path:
    """Copy examples/KIND/web to *top*, with this machine's names."""
    service = top / kind
    shutil.copytree(REPO / "examples" / kind / "web", service)
    www = top / "www"
    www.mkdir(mode=0o755, exist_ok=True)
    (www / "index.html").write_text("ok\n")
    script = service / "run"
    text = script.read_text()
    changes = {"--user app": f"--user {user}", "8080": str(port), "/srv/www": str(www)}
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    script.write_text(text)
    return service


# A process's name as /proc shows it: the first 15 bytes of the file name.
_LAUNCHER_NAME = "with-container-env"[:15]


def service_pid(supervisor: Supervisor, service: Path, uid: int) -> int:
    """The service's pid, once with-container-env has become the server."""

    def probe() -> int | None:
        result = run(supervisor.status(service))
        pid = supervisor.pid(result.stdout.decode())
        if pid is None:
            return None
        try:
            status = proc_status(Path(f"/proc/{pid}/status").read_text())
        except FileNotFoundError:
            return None
        # The uid changes just before the exec: until the name does too,
        # /proc still shows with-container-env's own environment.
        switched = status["Uid"].split()[0] == str(uid)
        return pid if switched and status["Name"] != _LAUNCHER_NAME else None

    return until(probe, DEADLINE, "the service to run as its user")


def fetch(port: int) -> bytes | None:
    """The server's index page, or None while it does not answer."""
    url = f"http://127.0.0.1:{port}/index.html"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bytes(response.read())
    except OSError:
        return None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", sorted(SUPERVISORS))
def test_service_runs_as_user_with_snapshot(
    kind: str, top: Path, links: Path, account: tuple[pwd.struct_passwd, int]
) -> None:
    """The supervised server runs as the user, its groups, and the snapshot."""
    user, extra_gid = account
    name, uid, gid = user.pw_name, user.pw_uid, user.pw_gid
    supervisor = SUPERVISORS[kind]
    port = free_port()
    snapshot = top / "container_environment"
    save_snapshot(links, snapshot)
    service = copy_service(kind, top, name, port)

    env = base_env(ENVTOOLS_SNAPSHOT_DIR=str(snapshot))
    env["PATH"] = f"{links}:{env['PATH']}"
    with open(top / "output", "wb") as output:
        process = subprocess.Popen(
            supervisor.start(service), env=env, stdin=subprocess.DEVNULL,
            stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        pid = service_pid(supervisor, service, uid)
        status = proc_status(Path(f"/proc/{pid}/status").read_text())
        environ = environ_of(pid)
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        served = until(lambda: fetch(port), DEADLINE, "the server to answer")
    finally:
        subprocess.run(supervisor.stop(service), capture_output=True)
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log = (top / "output").read_bytes()

    assert status["Uid"].split() == [str(uid)] * 4, log
    assert status["Gid"].split() == [str(gid)] * 4, log
    assert set(status["Groups"].split()) == {str(gid), str(extra_gid)}, log
    assert status["NoNewPrivs"] == "0"
    for key, value in SAVED.items():
        assert environ[key.encode()] == value.encode()
    assert environ[b"USER"] == environ[b"LOGNAME"] == name.encode()
    assert environ[b"HOME"] == f"/nonexistent/{name}".encode()
    assert argv[1:3] == [b"-m", b"http.server"]
    assert served == b"ok\n"
    assert process.returncode == 0, log
    assert not Path(f"/proc/{pid}").exists()
