"""The single-file build: multi-call dispatch, isolation, no unpacking."""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from support.pam import temp_service
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
HINT = b"Try 'envtools --help'.\n"

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


@pytest.fixture(scope="session")
def launchers(pyz_build: Path) -> Path:
    """The bin directory of an install of the build, readable by everyone."""
    prefix = pyz_build / "prefix"
    if not prefix.exists():
        argv = ["/bin/sh", str(pyz_build / "install.sh"), "--prefix", str(prefix)]
        check(run(argv, env=base_env()), 0, b"", b"")
    return prefix / "bin"


@pytest.fixture(params=["launcher", "link", "argument"])
def form(
    request: pytest.FixtureRequest, pyz: Path, links: Path, launchers: Path
) -> Argv:
    """Build the argv of a command run installed, through a link or by name."""

    def build(name: str, *args: str) -> list[str]:
        if request.param == "launcher":
            return [str(launchers / name), *args]
        if request.param == "link":
            return [str(links / name), *args]
        return [str(pyz), name, *args]

    return build


def interpreter_venv(top: Path, *packages: Path) -> Path:
    """A venv of /usr/bin/python3 at *top*, *packages* copied into it.

    :returns: its site-packages directory.
    """
    subprocess.run(
        ["/usr/bin/python3", "-m", "venv", "--without-pip", str(top)], check=True
    )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = top / "lib" / version / "site-packages"
    for package in packages:
        shutil.copytree(package, site / package.name)
    return site


def retarget(pyz: Path, python: Path, target: Path) -> Path:
    """Copy *pyz* to *target* with ``#!PYTHON -IS`` as its first line."""
    data = pyz.read_bytes()
    body = data[data.index(b"\n") :]
    target.write_bytes(f"#!{python} -IS".encode() + body)
    target.chmod(0o755)
    return target


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
    check(run([str(pyz)], env=base_env()), 2, b"", USAGE + HINT)


def test_unknown_command(pyz: Path) -> None:
    """An argument that names no command is refused in one line, exit 2."""
    expected = (
        b"envtools: unknown command 'sh': expected setuser, save-container-env, "
        b"container-env, with-container-env\n" + HINT
    )
    check(run([str(pyz), "sh", "-c", "true"], env=base_env()), 2, b"", expected)


def test_help(pyz: Path) -> None:
    """envtools.pyz --help prints the usage line on stdout, exit 0."""
    stdout = b"U" + USAGE[len(b"envtools: u") :]
    check(run([str(pyz), "--help"], env=base_env()), 0, stdout, b"")


def test_link_under_other_name(pyz_build: Path, links: Path) -> None:
    """A link whose name is no command falls back to the first argument."""
    link = links / "envtools"
    if not link.is_symlink():
        link.symlink_to(pyz_build / "envtools.pyz")
    check(run([str(link), "setuser", "0", "/bin/echo", "ok"]), 0, b"ok\n", b"")
    check(run([str(link)], env=base_env()), 2, b"", USAGE + HINT)


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


def test_writes_nothing_as_nobody(pyz_build: Path, form: Argv, tmp_path: Path) -> None:
    """Running the archive as a service user writes no file anywhere it can."""
    home = tmp_path / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    before = sorted(p.name for p in pyz_build.iterdir())
    env = base_env(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))
    result = as_nobody(form("container-env", "--help"), env=env, cwd=home)
    check(result, 0)
    assert list(home.iterdir()) == []
    assert sorted(p.name for p in pyz_build.iterdir()) == before


def test_archive_layout(pyz: Path) -> None:
    """Bytecode, two bundle entries, click's licence; no pam, no directories."""
    assert pyz.read_bytes().startswith(b"#!/usr/bin/python3 -IS\n")
    assert pyz.stat().st_mode & 0o777 == 0o755
    with zipfile.ZipFile(pyz) as archive:
        names = set(archive.namelist())
        methods = {info.compress_type for info in archive.infolist()}
        sources = marshal.loads(archive.read("envtools.sources"))
    assert methods == {zipfile.ZIP_STORED}
    others = {name for name in names if not name.endswith(".pyc")}
    dist_info = {name for name in others if ".dist-info/" in name}
    assert others - dist_info == {
        "__main__.py",
        "envtools_boot.py",
        "envtools.bundle",
        "envtools.sources",
    }
    assert {name.rsplit("/", 1)[-1] for name in dist_info} == {
        "METADATA",
        "LICENSE.txt",
    }
    modules = {name for name in names if name.endswith(".pyc")}
    modules -= {"__main__.pyc", "envtools_boot.pyc"}
    expected = {
        name[: -len("/__init__.pyc")] if name.endswith("/__init__.pyc") else name[:-4]
        for name in modules
    }
    assert set(sources) == {name.replace("/", ".") for name in expected}
    assert {"click/__init__.pyc", "envtools/multicall.pyc"} <= modules
    assert not any("__pycache__" in name for name in names)
    assert not any(name.split("/")[0] in ("pam", "six") for name in names)


def test_bundle_serves_envtools(pyz: Path) -> None:
    """Once installed, the bundle loads envtools' modules; click stays in the zip."""
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(pyz)!r})\n"
        "import envtools_boot\n"
        "envtools_boot.install()\n"
        "import envtools.commands.setuser, click\n"
        "for module in envtools.commands.setuser, envtools.commands, click:\n"
        "    print(type(module.__loader__).__name__, module.__file__)\n"
    )
    result = run(["/usr/bin/python3", "-IS", "-c", script], env=base_env())
    expected = (
        f"Bundle {pyz}/envtools/commands/setuser.py\n"
        f"Bundle {pyz}/envtools/commands/__init__.py\n"
        f"zipimporter {pyz}/click/__init__.pyc\n"
    )
    check(result, 0, expected.encode(), b"")


def test_runs_under_another_python(pyz: Path, tmp_path: Path) -> None:
    """Bytecode for another Python is ignored: the archive runs from its sources."""
    archive = tmp_path / "envtools.pyz"
    data = pyz.read_bytes()
    with open(archive, "wb") as out:
        out.write(data[: data.index(b"\n") + 1])
        with zipfile.ZipFile(pyz) as source, zipfile.ZipFile(out, "w") as target:
            for name in source.namelist():
                body = source.read(name)
                if name.endswith(".pyc"):
                    body = b"\0\0" + body[2:]
                if name == "envtools.bundle":
                    body = marshal.dumps(("cpython-0", {}))
                target.writestr(name, body)
    archive.chmod(0o755)
    result = run([str(archive), "setuser", "nobody", "/usr/bin/id", "-u"])
    check(result, 0, b"65534\n", b"")
    launcher = tmp_path / "setuser"
    launcher.write_text(
        "#!/usr/bin/python3 -IS\nimport sys\n"
        f"sys.path.insert(0, {str(archive)!r})\n"
        "import envtools_boot\nenvtools_boot.run('setuser')\n"
    )
    launcher.chmod(0o755)
    result = run([str(launcher), "--no-new-privs", "nobody", "/usr/bin/id", "-u"])
    check(result, 0, b"65534\n", b"")


def test_login_without_python_pam(pyz: Path, tmp_path: Path) -> None:
    """Without python-pam beside the interpreter, --login fails in one line."""
    interpreter_venv(tmp_path / "venv")
    archive = retarget(pyz, tmp_path / "venv/bin/python", tmp_path / "envtools.pyz")
    argv = [str(archive), "setuser", "--login", "--pam-service", "other"]
    expected = b"setuser: pam: python-pam is not installed: No module named 'pam'\n"
    check(run(argv + ["nobody", "true"], env=base_env()), 125, b"", expected)


def test_login_with_python_pam_in_site_packages(pyz: Path, tmp_path: Path) -> None:
    """Under -IS the archive still finds python-pam in site-packages for --login."""
    pam = pytest.importorskip("pam")
    site = interpreter_venv(tmp_path / "venv", Path(pam.__file__).parent)
    archive = retarget(pyz, tmp_path / "venv/bin/python", tmp_path / "envtools.pyz")
    (tmp_path / "pam").mkdir(mode=0o755)
    with temp_service(tmp_path / "pam") as service:
        argv = [str(archive), "setuser", "--login", "--pam-service", service.name]
        argv += ["--allow-missing-home", "nobody", "/usr/bin/id", "-u"]
        check(run(argv, env=base_env()), 0, b"65534\n", b"")
        assert service.marks() == "open_session nobody\nclose_session nobody\n"
    assert (site / "pam").is_dir()


def test_plain_path_skips_site_packages(pyz: Path, tmp_path: Path) -> None:
    """A .pth file in site-packages runs for --login only, never on the plain path."""
    site = interpreter_venv(tmp_path / "venv")
    marker = tmp_path / "pth-ran"
    (site / "zz-probe.pth").write_text(f"import os; os.mkdir({str(marker)!r})\n")
    archive = retarget(pyz, tmp_path / "venv/bin/python", tmp_path / "envtools.pyz")
    argv = [str(archive), "setuser", "nobody", "/usr/bin/id", "-u"]
    check(run(argv, env=base_env()), 0, b"65534\n", b"")
    assert not marker.exists()
    argv = [str(archive), "setuser", "--login", "--pam-service", "other", "nobody"]
    check(run(argv + ["true"], env=base_env()), 125, b"")
    assert marker.is_dir()


def test_launcher_imports(launchers: Path) -> None:
    """The installed plain path imports no site, importlib, click or runpy."""
    argv = ["/usr/bin/python3", "-IS", "-X", "importtime"]
    argv += [str(launchers / "setuser"), "nobody", "true"]
    result = run(argv, env=base_env())
    check(result, 0, b"")
    lines = result.stderr.decode().splitlines()
    modules = {line.rsplit("|", 1)[-1].strip() for line in lines}
    assert {"envtools_boot", "envtools.commands.setuser"} <= modules
    assert not {"site", "importlib", "runpy", "click", "pam"} & modules
    commands = {name for name in modules if name.startswith("envtools.commands.")}
    assert commands == {"envtools.commands.setuser"}


def test_site_packages_only_for_pam(pyz: Path, tmp_path: Path) -> None:
    """Under -IS a missing module other than pam never loads site-packages."""
    site = interpreter_venv(tmp_path / "venv")
    (site / "zz-probe.pth").write_text("import sys; sys.pth_ran = True\n")
    (site / "elsewhere.py").write_text("")
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(pyz)!r})\n"
        "from envtools import multicall\n"
        "sys.meta_path.append(multicall.SitePackages)\n"
        "for name in ('elsewhere', 'pam'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError as error:\n"
        "        print(error)\n"
        "    print(hasattr(sys, 'pth_ran'))\n"
    )
    result = run([str(tmp_path / "venv/bin/python"), "-IS", "-c", script])
    expected = b"No module named 'elsewhere'\nFalse\nNo module named 'pam'\nTrue\n"
    check(result, 0, expected, b"")
