"""Fixtures shared by every command's tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.installs import venv_install

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Give the commands under test default signal dispositions.

    nohup, or a background job of a shell without job control, starts pytest
    with SIGHUP, SIGINT or SIGQUIT ignored, and an ignored signal survives
    exec: every child would inherit it, and the tests that check a command
    ends up with nothing ignored would fail for a reason of the runner's.
    """
    for number in (signal.SIGHUP, signal.SIGQUIT):
        signal.signal(number, signal.SIG_DFL)
    # Python's own handler: reset to the default in every child at exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def public_install() -> Iterator[Path]:
    """A bin directory of envtools that every user can run.

    The suite's own interpreter may live where service users cannot read
    (a pyenv under /root), so commands started *as* another user (after
    sudo, as a shebang in a dropped service) come from this second install:
    a virtual environment of Debian's /usr/bin/python3 in a 0755 directory.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to build a system-wide install")
    with venv_install("/usr/bin/python3", 0o755, "envtools-public-") as bin_dir:
        yield bin_dir


@pytest.fixture
def snapshot_dir(tmp_path: Path) -> Path:
    """A snapshot location of the test's own, never /etc."""
    # tmp_path's parents are root-owned and not group-writable, so the
    # readers' trust checks accept it.
    return tmp_path / "container_environment"


@pytest.fixture(scope="session")
def pyz_build() -> Iterator[Path]:
    """The output of packaging/build-pyz, built once, readable by everyone.

    The directory is 0755 under /tmp (pytest's own tmp dirs are 0700), so
    the archive also runs as a service user.
    """
    top = Path(tempfile.mkdtemp(prefix="envtools-pyz-"))
    try:
        top.chmod(0o755)
        subprocess.run(
            [sys.executable, str(REPO / "packaging/build-pyz"), "--output", str(top)],
            check=True,
            capture_output=True,
        )
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def legacy_locales(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A LOCPATH with GB18030, EUC-JP and Big5 locales, built for the run."""
    from support.shells import build_locales

    return build_locales(tmp_path_factory.mktemp("locales"))
