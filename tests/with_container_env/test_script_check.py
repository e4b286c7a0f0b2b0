"""The '#!' check opens only a regular file, and only the inode it checked.

with-container-env reads the first line of a command given as a path, as
root and before any switch, to refuse a script that would run itself
without end.  A FIFO or device node at that path, or behind a link there,
must never be opened: opening a watchdog device arms it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fifos import blocked_writer
from support.proc import check
from support.proc import command
from support.proc import run
from support.snapshots import write_snapshot
from support.wait import until

from envtools.commands import with_container_env

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="snapshots are root's"),
]

FORMS = pytest.mark.parametrize(
    "form", [[], ["--"], ["--user", "nobody"]], ids=["plain", "click", "user"]
)

# Points LINK (argv[1]) at "fifo" and at "script" in turn, as fast as it can.
SWAPPER = """
import os, sys
link = sys.argv[1]
spare = link + ".new"
while True:
    for target in ("fifo", "script"):
        os.symlink(target, spare)
        os.replace(spare, link)
"""

REFUSAL = (
    "with-container-env: '{path}' names with-container-env as its interpreter "
    "without a command: give one, as '#!/usr/local/bin/with-container-env sh'\n"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    snap = write_snapshot(tmp_path / "snap", {b"SAVED": b"value"})
    return {"PATH": "/usr/bin:/bin", "ENVTOOLS_SNAPSHOT_DIR": str(snap)}


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[Path, threading.Event]]:
    """A FIFO, and an event set once its blocked writer gets a reader."""
    path = tmp_path / "fifo"
    # Executable, so that only the kernel's own type check stops execve.
    os.mkfifo(path, 0o755)
    with blocked_writer(path) as opened:
        yield path, opened
    assert opened.is_set()


def _wce(form: list[str], path: Path) -> list[str]:
    return [command("with-container-env"), *form, str(path)]


@FORMS
@pytest.mark.parametrize("via", ["fifo", "link"])
def test_fifo_is_never_opened(
    env: dict[str, str], fifo: tuple, tmp_path: Path, form: list[str], via: str
) -> None:
    """A FIFO, named or behind a link, is left to execve, never opened."""
    path, opened = fifo
    if via == "link":
        (tmp_path / "link").symlink_to(path)
        path = tmp_path / "link"
    stderr = f"with-container-env: cannot execute '{path}': Permission denied\n"
    result = run(_wce(form, path), env=env, timeout=20)
    check(result, 126, stdout=b"", stderr=stderr.encode())
    assert not opened.is_set()


def _script(path: Path, first_line: str) -> Path:
    path.write_text(first_line + "\nprintf '%s' \"$SAVED\"\n")
    path.chmod(0o755)
    return path


@FORMS
def test_refused_through_link(env: dict[str, str], tmp_path: Path, form: list) -> None:
    """A link to a script naming only with-container-env is refused."""
    _script(tmp_path / "script", f"#!{command('with-container-env')}")
    link = tmp_path / "link"
    link.symlink_to("script")
    stderr = REFUSAL.format(path=link).encode()
    result = run(_wce(form, link), env=env, timeout=20)
    check(result, 125, stdout=b"", stderr=stderr)


@pytest.mark.parametrize("via", ["file", "link"])
def test_script_with_command_runs(
    env: dict[str, str], tmp_path: Path, via: str
) -> None:
    """A script whose '#!' line gives a command runs, also by a link."""
    path = _script(tmp_path / "script", "#!/bin/sh")
    if via == "link":
        (tmp_path / "link").symlink_to("script")
        path = tmp_path / "link"
    result = run(_wce([], path), env=env, timeout=20)
    check(result, 0, stdout=b"value", stderr=b"")


def test_link_swapped_to_fifo_is_never_opened(fifo: tuple, tmp_path: Path) -> None:
    """A link flipped between a script and a FIFO never gets the FIFO opened.

    In-process, on the check itself: the window between a check and an open
    lasts microseconds, and one check per started command would take
    minutes to hit it; a check by name and an open by name hit it within a
    few thousand tries.
    """
    path, opened = fifo
    _script(tmp_path / "script", "#!/bin/sh")
    link = tmp_path / "link"
    link.symlink_to("script")
    swapper = subprocess.Popen(["/usr/bin/python3", "-c", SWAPPER, str(link)])
    seen = set()
    try:
        until(lambda: os.readlink(link) == "fifo", what="the first swap")
        for _ in range(20000):
            with_container_env._refuse_own_script(str(link))
            seen.add(stat.S_IFMT(os.stat(link).st_mode))
    finally:
        # Our own child, by its pid.
        swapper.kill()
        swapper.wait(timeout=10)
    assert seen == {stat.S_IFIFO, stat.S_IFREG}
    assert not opened.is_set()
