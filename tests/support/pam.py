"""Temporary PAM services and helpers for the ``setuser --login`` tests.

A service file lives in /etc/pam.d, the one place libpam reads it from, so
each one gets a unique name and is removed on exit whatever happened.  Its
modules read their configuration from the test's own directory, never from
/etc/security.
"""

from __future__ import annotations

import os
import secrets
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PAM_DIR = Path("/etc/pam.d")

# What the temporary stack sets, for the tests to look for in the child.
NOFILE = 4242
CONF_VARIABLE = "ETPAM_CONF"
CONF_VALUE = "from-conffile"
FILE_VARIABLE = "ETPAM_FILE"
FILE_VALUE = "from-envfile"

# pam_exec runs this at open_session and at close_session; PAM_TYPE says
# which, and each run appends one line to the marker file, ending with
# PAM_TTY when the application set one.
_HOOK = '#!/bin/sh\necho "$PAM_TYPE $PAM_USER${{PAM_TTY:+ $PAM_TTY}}" >> {marker}\n'


class Service:
    """A temporary PAM service: its name and what its modules write.

    :param name: the service name, for ``--pam-service``.
    :param marker: the file the pam_exec hook appends to.
    :param hook: the script pam_exec runs, to be replaced at will.
    """

    def __init__(self, name: str, marker: Path, hook: Path) -> None:
        self.name = name
        self.marker = marker
        self.hook = hook

    def marks(self) -> str:
        """The marker lines so far; empty when no hook has run."""
        try:
            return self.marker.read_text()
        except FileNotFoundError:
            return ""


def unique_name() -> str:
    """A service name no file in /etc/pam.d has."""
    return f"etpam{secrets.token_hex(4)}"


@contextmanager
def temp_service(
    directory: Path,
    account: str = "pam_permit.so",
    auth_first: str | None = None,
    session_first: str | None = None,
) -> Iterator[Service]:
    """Write /etc/pam.d/<unique name> for a test; remove it on exit.

    The stack: pam_rootok for auth (pam_setcred goes through it),
    *account* for account management, then for the session pam_limits
    (nofile :data:`NOFILE`), pam_env (one variable from a conffile, one
    from an envfile) and a pam_exec hook writing the marker.

    :param directory: where the modules' files go; must be root's and
        not writable by others, as pam_exec and pam_env expect.
    :param account: the account module, ``pam_deny.so`` for a refusal.
    :param auth_first: a module requisite before pam_rootok, so that
        pam_setcred runs it first (``pam_deny.so`` fails that step).
    :param session_first: a module requisite before the session modules
        (``pam_deny.so`` fails pam_open_session).
    """
    limits = directory / "limits.conf"
    limits.write_text(f"* - nofile {NOFILE}\n")
    conffile = directory / "pam_env.conf"
    conffile.write_text(f"{CONF_VARIABLE} DEFAULT={CONF_VALUE}\n")
    envfile = directory / "environment"
    envfile.write_text(f"{FILE_VARIABLE}={FILE_VALUE}\n")
    marker = directory / "marker"
    hook = directory / "hook"
    hook.write_text(_HOOK.format(marker=marker))
    hook.chmod(0o755)

    # requisite: a failure ends the stack there, before the marker hook.
    lines = [f"auth     requisite  {auth_first}"] if auth_first else []
    if session_first:
        lines.append(f"session  requisite  {session_first}")
    lines += [
        "auth     sufficient pam_rootok.so",
        "auth     required   pam_deny.so",
        f"account  required   {account}",
        f"session  required   pam_limits.so conf={limits}",
        f"session  required   pam_env.so conffile={conffile} envfile={envfile}"
        " readenv=1",
        f"session  required   pam_exec.so {hook}",
    ]
    name = unique_name()
    path = PAM_DIR / name
    try:
        path.write_text("\n".join(lines) + "\n")
        yield Service(name, marker, hook)
    finally:
        path.unlink(missing_ok=True)


def read_line(stream: int | BinaryIO, deadline: float) -> bytes:
    """One line from a pipe or a descriptor, waiting at most until *deadline*.

    :param deadline: a time.monotonic() value.
    :raises TimeoutError: no complete line in time.
    """
    fd = stream if isinstance(stream, int) else stream.fileno()
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError(f"no line in time; got {data!r}")
            chunk = os.read(fd, 1)
            if not chunk:
                raise EOFError(f"stream ended; got {data!r}")
            data += chunk
    return data


def stop(process: subprocess.Popen[bytes], child: int | None) -> None:
    """End a test's setuser and its command, if a failed test left them.

    SIGKILL to *child* first (the command, a pid it reported while still
    running under *process*), then to *process*: with the parent gone
    first, the child would outlive the test as the temporary user.
    """
    if process.poll() is not None:
        return
    if child is not None:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.kill()
    process.wait(timeout=10)
