"""The Dockerfile example: its inputs exist, and its entry point works.

No image is built here (the test machine has no container engine); what
runs in the image is run directly: install.sh, then the entry point with a
service command as CMD.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.child import REPORT
from support.child import parse
from support.proc import base_env
from support.proc import check
from support.proc import run

REPO = Path(__file__).resolve().parent.parent.parent

DOCKERFILE = REPO / "examples/Dockerfile"


def instructions(keyword: str) -> list[list[str]]:
    """The words of every *keyword* instruction in the Dockerfile."""
    found = []
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if words[:1] == [keyword]:
            found.append(words[1:])
    return found


@pytest.fixture(autouse=True)
def _root_only() -> None:
    """The entry point writes a root-owned snapshot and switches users."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the snapshot is root's")


@pytest.fixture
def image_root(pyz_build: Path) -> Iterator[Path]:
    """A staging tree laid out as the Dockerfile's COPY and RUN leave it."""
    top = Path(tempfile.mkdtemp(prefix="envtools-image-"))
    try:
        top.chmod(0o755)
        result = run(["sh", str(pyz_build / "install.sh"), "--destdir", str(top)])
        check(result, 0, b"", b"")
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_copied_sources_exist(pyz_build: Path) -> None:
    """Every COPY source is in the repository or in the build output."""
    for words in instructions("COPY"):
        source = words[0]
        if source.startswith("dist/"):
            assert (pyz_build / "install.sh").is_file()
            assert (pyz_build / "envtools.pyz").is_file()
        else:
            assert (REPO / source).exists(), source
    assert os.access(REPO / "examples/entrypoint", os.X_OK)


def test_entrypoint_saves_then_runs_cmd(image_root: Path, tmp_path: Path) -> None:
    """The entry point saves the snapshot, then execs CMD, which reads it."""
    snapshot = tmp_path / "container_environment"
    bin_dir = image_root / "usr/local/bin"
    env = base_env(ENVTOOLS_SNAPSHOT_DIR=str(snapshot), GREETING="hello\nworld")
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    cmd = ["with-container-env", "--user", "nobody"] + REPORT
    result = run([str(REPO / "examples/entrypoint"), *cmd], env=env)
    check(result, 0)
    report = parse(result.stdout)
    assert report.ids("Uid") == [65534] * 4
    assert report.environ[b"GREETING"] == b"hello\nworld"
    assert (snapshot / "GREETING").is_file()
