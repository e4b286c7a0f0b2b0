"""install.sh: what it puts under a prefix, and that uninstall takes it all."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from support.proc import base_env
from support.proc import check
from support.proc import run

REPO = Path(__file__).resolve().parent.parent.parent

COMMANDS = ["setuser", "save-container-env", "container-env", "with-container-env"]

PAGES = sorted(page.name for page in (REPO / "man").glob("*.[18]"))


def expected_files() -> set[str]:
    """Every file an install puts under the prefix, relative to it."""
    files = {"lib/envtools/envtools.pyz", "lib/envtools/installed"}
    for name in COMMANDS:
        files |= {
            f"bin/{name}",
            f"share/bash-completion/completions/{name}",
            f"share/zsh/site-functions/_{name}",
            f"share/fish/vendor_completions.d/{name}.fish",
        }
    for page in PAGES:
        files.add(f"share/man/man{page[-1]}/{page}")
    return files


def tree(top: Path) -> set[str]:
    """Every file and link below *top*, relative to it; directories left out."""
    found = set()
    for directory, dirs, files in os.walk(top):
        for name in files + [d for d in dirs if os.path.islink(Path(directory, d))]:
            found.add(str(Path(directory, name).relative_to(top)))
    return found


def install(pyz_build: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the install.sh that build-pyz put beside the archive."""
    return run(["/bin/sh", str(pyz_build / "install.sh"), *args], env=base_env())


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    path = tmp_path / "prefix"
    path.mkdir()
    return path


def test_install_puts_every_file(pyz_build: Path, prefix: Path) -> None:
    """An install writes exactly the archive, links, pages and completions."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    assert tree(prefix) == expected_files()
    for name in COMMANDS:
        link = prefix / "bin" / name
        assert os.readlink(link) == "../lib/envtools/envtools.pyz"
    assert (prefix / "lib/envtools/envtools.pyz").stat().st_mode & 0o777 == 0o755
    shared = [prefix / name for name in expected_files() if name.startswith("share/")]
    assert {path.stat().st_mode & 0o777 for path in shared} == {0o644}


def test_installed_command_runs(pyz_build: Path, prefix: Path) -> None:
    """A command run through its installed link does its job."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    result = run([str(prefix / "bin/setuser"), "nobody", "/usr/bin/id", "-u"])
    check(result, 0, b"65534\n", b"")


@pytest.mark.parametrize("page", PAGES)
def test_installed_page_renders(pyz_build: Path, prefix: Path, page: str) -> None:
    """Each installed man page renders with man -l and names its command."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    path = prefix / f"share/man/man{page[-1]}" / page
    result = run(["man", "-l", str(path)], env=base_env(MANWIDTH="80"))
    check(result, 0, None, b"")
    assert page.rsplit(".", 1)[0].encode() in result.stdout


def test_uninstall_leaves_nothing(pyz_build: Path, prefix: Path) -> None:
    """Uninstall removes every file and every directory the install made."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    check(install(pyz_build, "--prefix", str(prefix), "--uninstall"), 0, b"", b"")
    assert list(prefix.iterdir()) == []


def test_uninstall_keeps_other_files(pyz_build: Path, prefix: Path) -> None:
    """Files someone else added beside ours survive, with their directories."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    other = prefix / "share/zsh/site-functions/_other"
    other.write_text("#compdef other\n")
    check(install(pyz_build, "--prefix", str(prefix), "--uninstall"), 0, b"", b"")
    assert tree(prefix) == {"share/zsh/site-functions/_other"}


def test_reinstall_replaces_own_install(pyz_build: Path, prefix: Path) -> None:
    """Installing twice is allowed and leaves one install, then nothing."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    assert tree(prefix) == expected_files()
    check(install(pyz_build, "--prefix", str(prefix), "--uninstall"), 0, b"", b"")
    assert list(prefix.iterdir()) == []


def test_refuses_foreign_file(pyz_build: Path, prefix: Path) -> None:
    """A file install did not put there is never replaced; nothing is written."""
    (prefix / "bin").mkdir()
    (prefix / "bin/setuser").write_text("#!/bin/sh\n")
    expected = f"install.sh: '{prefix}/bin/setuser' exists and was not installed by "
    expected += "install.sh\n"
    check(install(pyz_build, "--prefix", str(prefix)), 1, b"", expected.encode())
    assert tree(prefix) == {"bin/setuser"}


def test_destdir_staging(pyz_build: Path, tmp_path: Path) -> None:
    """--destdir stages under D/PREFIX with relative links and manifest."""
    stage = tmp_path / "stage"
    check(install(pyz_build, "--destdir", str(stage)), 0, b"", b"")
    assert tree(stage / "usr/local") == expected_files()
    manifest = (stage / "usr/local/lib/envtools/installed").read_text()
    assert str(stage) not in manifest
    assert "f bin/setuser\n" in manifest
    check(install(pyz_build, "--destdir", str(stage), "--uninstall"), 0, b"", b"")
    assert list((stage / "usr/local").iterdir()) == []


def test_uninstall_without_install(pyz_build: Path, prefix: Path) -> None:
    """Uninstalling where nothing is installed fails in one line, exit 1."""
    expected = f"install.sh: no envtools install found under '{prefix}'\n".encode()
    check(install(pyz_build, "--prefix", str(prefix), "--uninstall"), 1, b"", expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefix", "relative"], "prefix 'relative' is not an absolute path"),
        (["--prefix"], "option '--prefix' needs a value"),
        (["--bogus"], "unknown argument '--bogus'"),
    ],
)
def test_usage_errors(pyz_build: Path, args: list[str], message: str) -> None:
    """A wrong command line is one line plus a --help hint, exit 2."""
    expected = f"install.sh: {message}\nTry 'install.sh --help'.\n".encode()
    check(install(pyz_build, *args), 2, b"", expected)
