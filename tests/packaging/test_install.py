"""install.sh: what it puts under a prefix, and that uninstall takes it all."""

from __future__ import annotations

import os
import shutil
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


def launcher(name: str) -> str:
    """The launcher install.sh writes for command *name*."""
    status = 125 if name in ("setuser", "with-container-env") else 1
    return (
        "#!/usr/bin/python3 -IS\n"
        f"# {name} from the single-file envtools, written by install.sh.\n"
        "import os\n"
        "import sys\n"
        "top = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))\n"
        'archive = os.path.join(top, "lib/envtools/envtools.pyz")\n'
        "sys.path.insert(0, archive)\n"
        "try:\n"
        "    import envtools_boot\n"
        "except ImportError:\n"
        f'    sys.stderr.write(f"{name}: cannot load envtools from '
        "'{archive}'\\n\")\n"
        f"    sys.exit({status})\n"
        f'envtools_boot.run("{name}")\n'
    )


def test_install_puts_every_file(pyz_build: Path, prefix: Path) -> None:
    """An install writes exactly the archive, launchers, pages and completions."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    assert tree(prefix) == expected_files()
    for name in COMMANDS:
        path = prefix / "bin" / name
        assert path.read_text() == launcher(name)
        assert path.stat().st_mode & 0o777 == 0o755
    assert (prefix / "lib/envtools/envtools.pyz").stat().st_mode & 0o777 == 0o755
    shared = [prefix / name for name in expected_files() if name.startswith("share/")]
    assert {path.stat().st_mode & 0o777 for path in shared} == {0o644}


def test_installed_command_runs(pyz_build: Path, prefix: Path) -> None:
    """A command run through its installed launcher does its job."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    result = run([str(prefix / "bin/setuser"), "nobody", "/usr/bin/id", "-u"])
    check(result, 0, b"65534\n", b"")


def test_launcher_is_its_command_under_any_name(pyz_build: Path, prefix: Path) -> None:
    """A link to a launcher under another name still runs the launcher's command."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    alias = prefix / "as-user"
    alias.symlink_to(prefix / "bin/setuser")
    result = run([str(alias), "nobody", "/usr/bin/id", "-u"])
    check(result, 0, b"65534\n", b"")
    alias.unlink()


def test_launcher_takes_the_archive_interpreter(
    pyz_build: Path, prefix: Path, tmp_path: Path
) -> None:
    """The launchers start with the archive's own first line, whatever it is."""
    source = tmp_path / "from"
    for part in ("man", "completion"):
        shutil.copytree(pyz_build / part, source / part)
    data = (pyz_build / "envtools.pyz").read_bytes()
    body = data[data.index(b"\n") :]
    (source / "envtools.pyz").write_bytes(b"#!/usr/bin/python3.11 -IS" + body)
    check(install(pyz_build, "--prefix", str(prefix), "--from", str(source)), 0, b"")
    first = (prefix / "bin/setuser").read_text().split("\n")[0]
    assert first == "#!/usr/bin/python3.11 -IS"
    result = run([str(prefix / "bin/setuser"), "nobody", "/usr/bin/id", "-u"])
    check(result, 0, b"65534\n", b"")


def test_launcher_without_archive(pyz_build: Path, prefix: Path) -> None:
    """A launcher whose archive is gone fails in one line with its own status."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    (prefix / "lib/envtools/envtools.pyz").unlink()
    archive = prefix / "lib/envtools/envtools.pyz"
    for name, status in (("setuser", 125), ("container-env", 1)):
        result = run([str(prefix / "bin" / name), "nobody", "true"])
        expected = f"{name}: cannot load envtools from '{archive}'\n"
        check(result, status, b"", expected.encode())


def test_refuses_archive_without_interpreter(pyz_build: Path, tmp_path: Path) -> None:
    """An archive with no #! line is refused in one line, exit 1, nothing written."""
    source = tmp_path / "from"
    source.mkdir()
    (source / "envtools.pyz").write_bytes(b"PK\x05\x06" + bytes(18))
    prefix = tmp_path / "prefix"
    expected = f"install.sh: '{source}/envtools.pyz' does not start with an "
    expected += "interpreter line\n"
    argv = ["--prefix", str(prefix), "--from", str(source)]
    check(install(pyz_build, *argv), 1, b"", expected.encode())
    assert not prefix.exists()


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
    """--destdir stages under D/PREFIX; launchers and manifest name PREFIX only."""
    stage = tmp_path / "stage"
    check(install(pyz_build, "--destdir", str(stage)), 0, b"", b"")
    assert tree(stage / "usr/local") == expected_files()
    for name in COMMANDS:
        assert (stage / "usr/local/bin" / name).read_text() == launcher(name)
    result = run([str(stage / "usr/local/bin/setuser"), "nobody", "/usr/bin/id", "-u"])
    check(result, 0, b"65534\n", b"")
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


def test_foreign_file_keeps_previous_install(pyz_build: Path, prefix: Path) -> None:
    """A reinstall that finds a foreign file stops before removing the old one."""
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    # As after an older release that did not ship this file, which someone
    # else then put there.
    manifest = prefix / "lib/envtools/installed"
    listed = manifest.read_text().splitlines()
    rel = "share/zsh/site-functions/_setuser"
    manifest.write_text("".join(f"{line}\n" for line in listed if line != f"f {rel}"))
    foreign = prefix / rel
    foreign.write_text("#compdef setuser\n")

    result = install(pyz_build, "--prefix", str(prefix))

    expected = f"install.sh: '{foreign}' exists and was not installed by install.sh\n"
    check(result, 1, b"", expected.encode())
    assert tree(prefix) == expected_files()
    check(run([str(prefix / "bin/setuser"), "0", "/bin/true"]), 0, b"", b"")


def test_failed_install_rolls_back(pyz_build: Path, prefix: Path) -> None:
    """Midway failure removes what it made, so that a retry can succeed."""
    # A file where a directory must go: mkdir fails after the archive, the
    # launchers and the bash completion are in place.
    (prefix / "share").mkdir()
    (prefix / "share/zsh").write_text("in the way\n")

    result = install(pyz_build, "--prefix", str(prefix))

    assert result.returncode == 1
    assert b"share/zsh" in result.stderr
    assert tree(prefix) == {"share/zsh"}
    assert sorted(os.listdir(prefix)) == ["share"]
    (prefix / "share/zsh").unlink()
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    assert tree(prefix) == expected_files()


# Stands in for install(1): the Nth call misbehaves as MODE says, the others
# run the real one.
FAKE_INSTALL = """#!/bin/sh
count=$(cat "$FAKE_DIR/count" 2>/dev/null || echo 0)
count=$((count + 1))
echo "$count" > "$FAKE_DIR/count"
if [ "$count" -eq "$FAKE_AT" ]; then
    for target; do :; done
    case $FAKE_MODE in
    partial) printf 'half' > "$target"; exit 1 ;;
    interrupt) kill -INT "$PPID"; exit 1 ;;
    esac
fi
exec /usr/bin/install "$@"
"""


@pytest.mark.parametrize("mode", ["partial", "interrupt"])
def test_broken_step_rolled_back(
    mode: str, pyz_build: Path, prefix: Path, tmp_path: Path
) -> None:
    """A file left half-written, or Ctrl-C midway: nothing stays, a retry works."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "install").write_text(FAKE_INSTALL)
    (fake / "install").chmod(0o755)
    env = base_env(FAKE_DIR=str(fake), FAKE_AT="3", FAKE_MODE=mode)
    env["PATH"] = f"{fake}:{env['PATH']}"
    argv = ["/bin/sh", str(pyz_build / "install.sh"), "--prefix", str(prefix)]

    result = run(argv, env=env)

    assert result.returncode == (130 if mode == "interrupt" else 1)
    assert list(prefix.iterdir()) == []
    check(install(pyz_build, "--prefix", str(prefix)), 0, b"", b"")
    assert tree(prefix) == expected_files()
