"""The group gate: root and members of the snapshot's group, nobody else.

Commands run as the test users come from the public install: the suite's
own interpreter may be out of their reach.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.accounts import temp_group
from support.accounts import temp_user
from support.child import public_dir
from support.proc import base_env
from support.proc import check
from support.proc import run
from support.snapshots import write_snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs throwaway accounts")


@pytest.fixture
def world() -> Iterator[tuple[Path, object, object]]:
    """A snapshot owned by a new group, and a new user outside it."""
    with temp_group() as group, temp_user() as user, public_dir() as top:
        snap = write_snapshot(top / "snap", {b"A": b"one"}, gid=group.gr_gid)
        yield snap, group, user


def _as_user(argv: list[str], user: object, **ids: object) -> object:
    """Run *argv* as *user* with the groups given in *ids*."""
    kwargs = {"group": user.pw_gid, "extra_groups": []}
    kwargs.update(ids)
    return run(argv, env=base_env(), user=user.pw_uid, **kwargs)


def test_non_member_refused(world: tuple, public_install: Path) -> None:
    """A user outside the group is told which group and how to join it."""
    snap, group, user = world
    argv = [str(public_install / "container-env"), "--dir", str(snap)]
    message = (
        f"container-env: '{snap}' is for root and group '{group.gr_name}': "
        f"ask root to run 'usermod -aG {group.gr_name} {user.pw_name}', "
        "then log in again\n"
    )
    check(_as_user(argv, user), 1, stdout=b"", stderr=message.encode())


def test_root_group_snapshot_is_not_joined(public_install: Path) -> None:
    """A root-only snapshot never tells a user to join root's group."""
    with temp_user() as user, public_dir() as top:
        snap = write_snapshot(top / "snap", {b"A": b"one"}, gid=0)
        argv = [str(public_install / "container-env"), "--dir", str(snap)]
        result = _as_user(argv, user)
    message = (
        f"container-env: '{snap}' is for root only: "
        "ask root to save it with --group\n"
    )
    check(result, 1, stdout=b"", stderr=message.encode())


def test_member_without_the_group_is_told_so(
    public_install: Path,
) -> None:
    """A listed member whose process lacks the group is not told to usermod."""
    with temp_group() as group, public_dir() as top:
        with temp_user(groups=[group.gr_name]) as user:
            snap = write_snapshot(top / "snap", {b"A": b"one"}, gid=group.gr_gid)
            argv = [str(public_install / "container-env"), "--dir", str(snap)]
            result = _as_user(argv, user)
    message = (
        f"container-env: '{snap}' is for root and group '{group.gr_name}': "
        f"user '{user.pw_name}' is a member, but this process was started "
        "without it\n"
    )
    check(result, 1, stdout=b"", stderr=message.encode())


def test_non_member_refused_by_wrapper(world: tuple, public_install: Path) -> None:
    """with-container-env refuses the same way, with 125."""
    snap, _group, user = world
    argv = [str(public_install / "with-container-env"), "--dir", str(snap), "true"]
    result = _as_user(argv, user)
    check(result, 125, stdout=b"")
    assert result.stderr.startswith(
        f"with-container-env: '{snap}' is for root".encode()
    )


def test_supplementary_member_reads(world: tuple, public_install: Path) -> None:
    """Membership through a supplementary group opens the snapshot."""
    snap, group, user = world
    argv = [str(public_install / "container-env"), "--dir", str(snap), "--get", "A"]
    result = _as_user(argv, user, extra_groups=[group.gr_gid])
    check(result, 0, stdout=b"one", stderr=b"")


def test_primary_member_reads(world: tuple, public_install: Path) -> None:
    """Membership through the primary (real and effective) gid counts too."""
    snap, group, user = world
    argv = [str(public_install / "container-env"), "--dir", str(snap), "--get", "A"]
    result = _as_user(argv, user, group=group.gr_gid)
    check(result, 0, stdout=b"one", stderr=b"")


def test_member_gets_environment(world: tuple, public_install: Path) -> None:
    """A member running with-container-env gets the saved values."""
    snap, group, user = world
    env_dir = f"ENVTOOLS_SNAPSHOT_DIR={snap}"
    wrapper = str(public_install / "with-container-env")
    argv = ["/usr/bin/env", env_dir, wrapper, "printenv", "A"]
    result = _as_user(argv, user, extra_groups=[group.gr_gid])
    check(result, 0, stdout=b"one\n", stderr=b"")
