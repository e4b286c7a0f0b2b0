"""with-container-env under real sudo, runit and nginx."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.accounts import temp_group
from support.accounts import temp_user
from support.child import public_dir
from support.child import write_script
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import environ_of
from support.proc import proc_status
from support.proc import run
from support.services import accepts
from support.services import free_port
from support.services import nginx_config
from support.services import read_pid
from support.services import runsv
from support.snapshots import write_snapshot
from support.wait import until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="starts real services")

SAVED = {
    b"APP_MODE": b"production",
    b"APP_SECRET": b"s3cr3t with spaces",
    b"HOME": b"/root",
    b"USER": b"root",
    b"LOGNAME": b"root",
    b"SUDO_USER": b"intruder",
}


@pytest.fixture
def shared() -> Iterator[tuple[Path, object, object]]:
    """A reachable snapshot owned by a new group, and a member of it."""
    with (
        temp_group() as group,
        temp_user(groups=[group.gr_name]) as user,
        public_dir() as top,
    ):
        snap = write_snapshot(top / "snap", SAVED, gid=group.gr_gid)
        yield snap, group, user


def _env0(block: bytes) -> dict[bytes, bytes]:
    pairs = (entry.partition(b"=") for entry in block.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


def test_after_sudo_env_reset(shared: tuple, public_install: Path) -> None:
    """``sudo -u MEMBER with-container-env env``: saved values, sudo's identity."""
    snap, _group, user = shared
    argv = [
        "sudo",
        "-u",
        user.pw_name,
        f"ENVTOOLS_SNAPSHOT_DIR={snap}",
        str(public_install / "with-container-env"),
        "/usr/bin/env",
        "-0",
    ]
    result = run(argv, env=base_env(APP_MODE="from-root"))
    check(result, 0, stderr=b"")
    env = _env0(result.stdout)
    assert env[b"APP_MODE"] == b"production"
    assert env[b"APP_SECRET"] == b"s3cr3t with spaces"
    assert env[b"HOME"] == user.pw_dir.encode()
    assert env[b"USER"] == env[b"LOGNAME"] == user.pw_name.encode()
    assert env[b"SUDO_USER"] == b"root"


def test_runit_service_with_user(shared: tuple, public_install: Path) -> None:
    """A runsv service run through ``with-container-env --user nobody``."""
    snap, _, _ = shared
    with public_dir() as top:
        service = top / "service"
        service.mkdir()
        write_script(
            service / "run",
            "#!/bin/sh\n"
            f"exec {public_install / 'with-container-env'} --dir {snap} "
            "--user nobody /bin/sleep 600\n",
        )
        with runsv(service, base_env()) as pid:
            status = until(
                lambda: _status_if(pid, "sleep"), what="the service to exec sleep"
            )
            assert status["Uid"].split() == ["65534"] * 4
            assert status["Gid"].split() == ["65534"] * 4
            assert status["Groups"] == "65534"
            env = environ_of(pid)
        assert env[b"APP_MODE"] == b"production"
        assert (env[b"HOME"], env[b"USER"]) == (b"/nonexistent", b"nobody")
        assert b"SUDO_USER" not in env


def _status_if(pid: int, name: str) -> dict[str, str] | None:
    """/proc/PID/status once the process has become *name*."""
    try:
        status = proc_status(Path(f"/proc/{pid}/status").read_text())
    except FileNotFoundError:
        return None
    return status if status["Name"] == name else None


def _start_nginx(snap: Path, top: Path, master: bool) -> tuple[subprocess.Popen, int]:
    """nginx, exec'd by with-container-env, listening on a free port."""
    top.mkdir()
    port = free_port()
    config = nginx_config(top, port, master)
    argv = [command("with-container-env"), "--dir", str(snap), "nginx"]
    argv += ["-e", str(top / "error.log"), "-p", str(top), "-c", str(config)]
    process = subprocess.Popen(
        argv,
        env=base_env(HOME="/home/caller"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


def _stop(process: subprocess.Popen) -> None:
    """Graceful shutdown through nginx's own pid, then reap it."""
    os.kill(process.pid, signal.SIGQUIT)
    process.wait(timeout=30)


def test_nginx_master_is_the_started_process(tmp_path: Path) -> None:
    """The nginx master is the very process with-container-env became.

    nginx writes its process title over the memory /proc/PID/environ shows
    once the master starts, so the environment is checked in the next test,
    where nginx runs as one process and leaves that memory alone.
    """
    snap = write_snapshot(tmp_path / "snap", SAVED)
    process, port = _start_nginx(snap, tmp_path / "nginx", master=True)
    pid_file = tmp_path / "nginx" / "nginx.pid"
    try:
        until(lambda: accepts(port), what="nginx to listen")
        # nginx may listen before it writes its pid file.
        until(lambda: read_pid(pid_file) is not None, what="nginx's pid file")
        assert read_pid(pid_file) == process.pid
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert cmdline.startswith(b"nginx: master process")
    finally:
        _stop(process)
    assert process.returncode == 0


def test_nginx_environment(tmp_path: Path) -> None:
    """nginx started through with-container-env has the saved values."""
    snap = write_snapshot(tmp_path / "snap", SAVED)
    process, port = _start_nginx(snap, tmp_path / "nginx", master=False)
    pid_file = tmp_path / "nginx" / "nginx.pid"
    try:
        until(lambda: accepts(port), what="nginx to listen")
        until(lambda: read_pid(pid_file) is not None, what="nginx's pid file")
        assert read_pid(pid_file) == process.pid
        env = environ_of(process.pid)
        assert env[b"APP_SECRET"] == b"s3cr3t with spaces"
        assert env[b"HOME"] == b"/home/caller"
        assert b"SUDO_USER" not in env
    finally:
        _stop(process)
    assert process.returncode == 0
