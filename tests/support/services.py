"""Real supervisors and daemons for the tests: runit's runsv, and nginx.

Every process here is started by the test and stopped through its own
control (``sv exit``) or its own pid, never by name.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.wait import until


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_pid(path: Path) -> int | None:
    """The pid in *path*, or None while it is missing or empty."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


@contextmanager
def runsv(service: Path, env: dict[str, str]) -> Iterator[int]:
    """Supervise *service* with runsv; yield the pid of the running service.

    On exit, ``sv exit`` stops the service and runsv, and runsv is waited
    for; killed by its pid only if it does not stop in time.
    """
    process = subprocess.Popen(
        ["runsv", str(service)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pid_file = service / "supervise" / "pid"
        pid = until(lambda: read_pid(pid_file), what="runsv to start the service")
        yield pid
    finally:
        subprocess.run(
            ["sv", "exit", str(service)],
            capture_output=True,
            env=env,
            timeout=30,
            check=False,
        )
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def nginx_config(top: Path, port: int, master: bool = True) -> Path:
    """A minimal nginx configuration kept inside *top*, on 127.0.0.1:*port*.

    :param master: run a master and a worker, else one single process.
    """
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (top / name).mkdir()
    config = top / "nginx.conf"
    config.write_text(
        f"""daemon off;
master_process {"on" if master else "off"};
pid {top}/nginx.pid;
error_log {top}/error.log;
worker_processes 1;
events {{ worker_connections 16; }}
http {{
    access_log off;
    client_body_temp_path {top}/body;
    proxy_temp_path {top}/proxy;
    fastcgi_temp_path {top}/fastcgi;
    uwsgi_temp_path {top}/uwsgi;
    scgi_temp_path {top}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "up\\n"; }}
    }}
}}
"""
    )
    return config


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:*port*."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
