"""The single-file build: multi-call dispatch, isolation, no unpacking."""

from __future__ import annotations

import os
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run

COMMANDS = ["setuser", "save-container-env", "container-env", "with-container-env"]

NOBODY = 65534

USAGE = (
    b"envtools: usage: envtools COMMAND [ARG]...; COMMAND is one of setuser, "
    b"save-container-env, container-env, with-container-env\n"
)

Argv = Callable[..., list[str]]


@pytest.fixture(autouse=True)
def _root_only() -> None:
    """The build is tested as root and as nobody, which needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the archive is run as another user")


@pytest.fixture
def pyz(pyz_build: Path) -> Path:
    return pyz_build / "envtools.pyz"


@pytest.fixture(scope="session")
def links(pyz_build: Path) -> Path:
    """A 0755 directory of symlinks to the archive, one per command."""
    directory = pyz_build / "links"
    if not directory.exists():
        directory.mkdir(mode=0o755)
        for name in COMMANDS:
            (directory / name).symlink_to(pyz_build / "envtools.pyz")
    return directory


@pytest.fixture(params=["link", "argument"])
def form(request: pytest.FixtureRequest, pyz: Path, links: Path) -> Argv:
    """Build the argv of a command run through a link or as an argument."""

    def build(name: str, *args: str) -> list[str]:
        if request.param == "link":
            return [str(links / name), *args]
        return [str(pyz), name, *args]

    return build


def as_nobody(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """Run *argv* as nobody:nogroup with no supplementary groups."""
    return run(argv, user=NOBODY, group=NOBODY, extra_groups=[], **kwargs)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_matches_venv_as_root(form: Argv, name: str) -> None:
    """Each command's --help through the archive equals the venv launcher's."""
    expected = run([command(name), "--help"], env=base_env())
    result = run(form(name, "--help"), env=base_env())
    check(result, expected.returncode, expected.stdout, expected.stderr)
    assert result.returncode == 0


@pytest.mark.parametrize("name", COMMANDS)
def test_help_matches_venv_as_nobody(form: Argv, name: str) -> None:
    """The archive runs for a user who cannot read the venv's interpreter."""
    expected = run([command(name), "--help"], env=base_env())
    result = as_nobody(form(name, "--help"), env=base_env())
    check(result, expected.returncode, expected.stdout, expected.stderr)


def test_setuser_switches(form: Argv) -> None:
    """setuser through the archive drops root to nobody and execs id."""
    result = run(form("setuser", "nobody", "/usr/bin/id", "-u"), env=base_env())
    check(result, 0, b"65534\n", b"")


def test_usage_error_names_the_command(form: Argv) -> None:
    """A command run through the archive reports under its own name."""
    expected = run([command("setuser")], env=base_env())
    result = run(form("setuser"), env=base_env())
    check(result, expected.returncode, expected.stdout, expected.stderr)
    assert expected.stderr.startswith(b"setuser: ")


def test_no_command(pyz: Path) -> None:
    """The archive run with no argument prints the usage line, exit 2."""
    check(run([str(pyz)], env=base_env()), 2, b"", USAGE)


def test_unknown_command(pyz: Path) -> None:
    """An argument that names no command is refused in one line, exit 2."""
    expected = (
        b"envtools: unknown command 'sh': expected setuser, save-container-env, "
        b"container-env, with-container-env\n"
    )
    check(run([str(pyz), "sh", "-c", "true"], env=base_env()), 2, b"", expected)


def test_help(pyz: Path) -> None:
    """envtools.pyz --help prints the usage line on stdout, exit 0."""
    stdout = b"U" + USAGE[len(b"envtools: u") :]
    check(run([str(pyz), "--help"], env=base_env()), 0, stdout, b"")


def test_link_under_other_name(pyz_build: Path, tmp_path: Path) -> None:
    """A link whose name is no command falls back to the first argument."""
    link = pyz_build / "links" / "envtools"
    if not link.exists():
        link.symlink_to(pyz_build / "envtools.pyz")
    check(run([str(link), "setuser", "0", "/bin/echo", "ok"]), 0, b"ok\n", b"")
    check(run([str(link)], env=base_env()), 2, b"", USAGE)


def test_python_m_envtools() -> None:
    """``python -m envtools COMMAND`` dispatches like the archive."""
    argv = [str(Path(command("setuser")).parent / "python"), "-m", "envtools"]
    result = run(argv + ["setuser", "nobody", "/usr/bin/id", "-u"], env=base_env())
    check(result, 0, b"65534\n", b"")


def test_imports_only_the_chosen_command(pyz: Path) -> None:
    """Running one command never imports another command's module or click."""
    script = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print(' '.join(sorted(sys.modules))))\n"
        f"sys.argv = [{str(pyz)!r}, 'setuser', 'etnosuchuser', '/bin/true']\n"
        f"runpy.run_path({str(pyz)!r}, run_name='__main__')\n"
    )
    result = run(["/usr/bin/python3", "-I", "-c", script], env=base_env())
    check(result, 125, None, b"setuser: user 'etnosuchuser' not found\n")
    modules = set(result.stdout.decode().split())
    assert "envtools.creds" in modules
    commands = {name for name in modules if name.startswith("envtools.commands.")}
    assert commands == {"envtools.commands.setuser"}
    assert "click" not in modules


def test_isolated_from_python_variables(links: Path, tmp_path: Path) -> None:
    """PYTHONPATH and PYTHONINSPECT reach neither the archive nor its start-up."""
    (tmp_path / "sitecustomize.py").write_text("print('hijacked')\n")
    (tmp_path / "envtools").mkdir()
    (tmp_path / "envtools/__init__.py").write_text("print('hijacked')\n")
    env = base_env(PYTHONPATH=str(tmp_path), PYTHONINSPECT="1")
    result = run([str(links / "setuser"), "nobody", "/usr/bin/id", "-u"], env=env)
    check(result, 0, b"65534\n", b"")


def test_writes_nothing_as_nobody(pyz_build: Path, links: Path, tmp_path: Path) -> None:
    """Running the archive as a service user writes no file anywhere it can."""
    home = tmp_path / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    before = sorted(p.name for p in pyz_build.iterdir())
    env = base_env(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))
    result = as_nobody([str(links / "container-env"), "--help"], env=env, cwd=home)
    check(result, 0)
    assert list(home.iterdir()) == []
    assert sorted(p.name for p in pyz_build.iterdir()) == before


def test_archive_layout(pyz: Path) -> None:
    """Every module has legacy-layout bytecode; click is in, python-pam is not."""
    assert pyz.read_bytes().startswith(b"#!/usr/bin/python3 -I\n")
    assert pyz.stat().st_mode & 0o777 == 0o755
    with zipfile.ZipFile(pyz) as archive:
        names = set(archive.namelist())
    sources = {name for name in names if name.endswith(".py")}
    assert sources, names
    assert {name + "c" for name in sources} <= names
    assert not any("__pycache__" in name for name in names)
    assert "click/__init__.pyc" in names
    assert "envtools/multicall.pyc" in names
    assert not any(name.split("/")[0] in ("pam", "six") for name in names)


def test_login_without_python_pam(form: Argv) -> None:
    """Without python-pam beside the system Python, --login fails in one line."""
    probe = run(["/usr/bin/python3", "-I", "-c", "import pam"])
    if probe.returncode == 0:
        pytest.skip("python-pam is installed for /usr/bin/python3")
    argv = form("setuser", "--login", "--pam-service", "other", "nobody", "true")
    expected = b"setuser: pam: python-pam is not installed: No module named 'pam'\n"
    check(run(argv, env=base_env()), 125, b"", expected)
