"""Fixtures for the setuser tests: both command-line paths, real accounts."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from support.accounts import temp_group
from support.accounts import temp_user
from support.installs import venv_install
from support.proc import command

# The plain form is parsed by hand; "--" sends the same request through the
# click command.  Every behaviour test runs through both.
FORMS = {
    "plain": [],
    "click": ["--"],
}

# How many extra groups the "many groups" user belongs to.
MANY = 12


@pytest.fixture(params=sorted(FORMS))
def setuser(request: pytest.FixtureRequest) -> Callable[..., list[str]]:
    """Build ``setuser [--] SPEC COMMAND...`` for the form under test."""
    prefix = [command("setuser")] + FORMS[request.param]

    def build(spec: str, *argv: str) -> list[str]:
        return prefix + [spec, *argv]

    return build


@pytest.fixture(autouse=True)
def _root_only() -> None:
    """Every setuser test switches users for real, which needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: setuser switches users for real")


@pytest.fixture(scope="module")
def many_groups_user() -> Iterator[tuple[object, list[int]]]:
    """A throwaway user in many throwaway groups; removed afterwards.

    :returns: the passwd entry and the gids of the extra groups.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to create users")
    with ExitStack() as stack:
        groups = [stack.enter_context(temp_group()) for _ in range(MANY)]
        names = [group.gr_name for group in groups]
        user = stack.enter_context(temp_user(groups=names, home="/srv/etnohome"))
        yield user, [group.gr_gid for group in groups]


@pytest.fixture(scope="session")
def hidden_install() -> Iterator[Path]:
    """A bin directory of envtools inside a 0700 directory only root can enter.

    The interpreter is copied in as well (``venv --copies``), so a dropped
    process can read neither it nor the envtools and click modules: any
    import or lookup after the switch would fail.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to build a root-only install")
    python = os.path.realpath(sys.executable)
    with venv_install(python, 0o700, "envtools-hidden-", "--copies") as bin_dir:
        yield bin_dir
