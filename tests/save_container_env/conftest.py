"""Fixtures for the save-container-env tests: both paths, a throwaway group."""

from __future__ import annotations

import grp
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.accounts import temp_group
from support.proc import command
from support.proc import is_root
from support.proc import run

from save_container_env.helpers import with_location

PROG = "save-container-env"

# The plain form (no argument) is parsed by hand and finds the location in
# $ENVTOOLS_SNAPSHOT_DIR; the click form gets the same location from --dir.
# Both set the variable, so both save the same environment.
FORMS = {"plain": False, "click": True}

Saver = Callable[..., "subprocess.CompletedProcess[bytes]"]


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if not is_root():
        pytest.skip("save-container-env runs as root only")


@pytest.fixture(params=sorted(FORMS))
def save(request: pytest.FixtureRequest, snapshot_dir: Path) -> Saver:
    """Run ``save-container-env`` in the form under test, no other option."""
    use_click = FORMS[request.param]

    def run_save(
        env: dict[bytes, bytes], **kwargs: object
    ) -> subprocess.CompletedProcess[bytes]:
        argv = [command(PROG)]
        if use_click:
            argv += ["--dir", str(snapshot_dir)]
        return run(argv, env=with_location(env, snapshot_dir), **kwargs)

    return run_save


@pytest.fixture
def save_with(snapshot_dir: Path) -> Saver:
    """Run ``save-container-env --dir SNAPSHOT OPTION...`` (click form)."""

    def run_save(
        env: dict[bytes, bytes], *options: str, **kwargs: object
    ) -> subprocess.CompletedProcess[bytes]:
        argv = [command(PROG), "--dir", str(snapshot_dir), *options]
        return run(argv, env=with_location(env, snapshot_dir), **kwargs)

    return run_save


@pytest.fixture(scope="session")
def group() -> Iterator[grp.struct_group]:
    """A throwaway group to own the snapshot."""
    if not is_root():
        pytest.skip("needs root to create a group")
    with temp_group() as made:
        yield made


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can enter, removed afterwards."""
    top = Path(tempfile.mkdtemp(prefix="envtools-save-"))
    try:
        top.chmod(0o755)
        yield top
    finally:
        shutil.rmtree(top)
