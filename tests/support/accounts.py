"""Throwaway users and groups, created for a test and always removed."""

from __future__ import annotations

import grp
import pwd
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def _name(prefix: str) -> str:
    # Short and unique: useradd limits names to 32 characters.
    return f"et{prefix}{secrets.token_hex(4)}"


@contextmanager
def temp_group(gid: int | None = None) -> Iterator[grp.struct_group]:
    """A new system group, deleted on exit whatever happened."""
    name = _name("g")
    argv = ["groupadd", "--system"]
    if gid is not None:
        argv += ["--gid", str(gid)]
    subprocess.run(argv + [name], check=True, capture_output=True)
    try:
        yield grp.getgrnam(name)
    finally:
        subprocess.run(["groupdel", name], capture_output=True)


@contextmanager
def temp_user(
    groups: list[str] = (),  # type: ignore[assignment]
    home: str | None = None,
    shell: str = "/bin/sh",
    uid: int | None = None,
) -> Iterator[pwd.struct_passwd]:
    """A new user with its own primary group, deleted on exit.

    :param groups: supplementary groups to add the user to.
    :param home: home directory recorded in passwd (not created).
    """
    name = _name("u")
    argv = ["useradd", "--no-create-home", "--user-group", "--shell", shell]
    argv += ["--home-dir", home or f"/nonexistent/{name}"]
    if groups:
        argv += ["--groups", ",".join(groups)]
    if uid is not None:
        argv += ["--uid", str(uid)]
    subprocess.run(argv + [name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        # userdel removes the user's own group only when nobody else
        # uses it; make sure it is gone.
        subprocess.run(["groupdel", name], capture_output=True)
