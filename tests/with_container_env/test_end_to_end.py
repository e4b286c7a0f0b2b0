"""The whole chain: save-container-env writes, the readers give it back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.accounts import temp_group
from support.accounts import temp_user
from support.child import public_dir
from support.proc import check
from support.proc import command
from support.proc import run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the writer needs root")

CONTAINER = {
    b"PATH": b"/usr/local/bin:/usr/bin:/bin",
    b"DB_URL": b"postgres://u:p@db/app?x=1&y='2'",
    b"MULTI": b"line one\nline two\n",
    b"EMPTY": b"",
    b"UNICODE": b"caf\xc3\xa9",
    b"RAW": b"\xff\xfe",
    b"a.b": b"dotted",
    b"A-B": b"dashed",
    b"HOME": b"/root",
    b"USER": b"root",
}

IDENTITY = {b"HOME", b"USER"}


def _env0(block: bytes) -> dict[bytes, bytes]:
    pairs = (entry.partition(b"=") for entry in block.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


@pytest.fixture
def saved() -> Iterator[tuple[Path, object, object]]:
    """A snapshot written by the real writer for a new group with a member."""
    with (
        temp_group() as group,
        temp_user(groups=[group.gr_name]) as user,
        public_dir() as top,
    ):
        snap = top / "snap"
        argv = [command("save-container-env"), "--dir", str(snap)]
        result = run(argv + ["--group", group.gr_name], env=CONTAINER)
        # The writer's shell file cannot hold the two names shells drop.
        warnings = b"".join(
            b"save-container-env: warning: left '%s' out of '%s.sh': "
            b"not a shell identifier\n" % (name, os.fsencode(snap))
            for name in (b"A-B", b"a.b")
        )
        check(result, 0, stdout=b"", stderr=warnings)
        yield snap, group, user


def test_container_env_gives_back_what_was_saved(saved: tuple) -> None:
    """container-env --format nul returns every saved value exactly."""
    snap = saved[0]
    result = run([command("container-env"), "--dir", str(snap), "--format", "nul"])
    check(result, 0, stderr=b"")
    expected = {k: v for k, v in CONTAINER.items() if k not in IDENTITY}
    assert _env0(result.stdout) == expected


def test_member_after_sudo_gets_saved_values(
    saved: tuple, public_install: Path
) -> None:
    """sudo -u MEMBER with-container-env: the writer's values, sudo's identity."""
    snap, _group, user = saved
    argv = ["sudo", "-u", user.pw_name, f"ENVTOOLS_SNAPSHOT_DIR={snap}"]
    argv += [str(public_install / "with-container-env"), "/usr/bin/env", "-0"]
    result = run(argv, env={"PATH": "/usr/bin:/bin"})
    check(result, 0, stderr=b"")
    env = _env0(result.stdout)
    for name, value in CONTAINER.items():
        if name not in IDENTITY:
            assert env[name] == value, name
    assert env[b"HOME"] == user.pw_dir.encode()
    assert env[b"USER"] == user.pw_name.encode()
