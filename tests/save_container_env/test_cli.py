"""The command line: usage errors, --help, --version, -v and the plain path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.proc import check
from support.proc import command
from support.proc import run

from envtools import __version__
from save_container_env.conftest import Saver
from save_container_env.helpers import group_warning
from save_container_env.helpers import with_location

pytestmark = pytest.mark.timeout(60)

HINT = b"Try 'save-container-env --help'.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zzz"], b"no such option '--zzz'"),
        (["extra"], b"got unexpected extra argument (extra)"),
        (["--dir"], b"option '--dir' requires an argument"),
        (["--exclude"], b"option '--exclude' requires an argument"),
        (["--dir", ""], b"invalid value for '--dir': must not be empty"),
        (["--profile-dir", ""], b"invalid value for '--profile-dir': must not be "
                                b"empty"),  # fmt: skip
    ],
)
def test_usage_errors(args: list[str], message: bytes, snapshot_dir: Path) -> None:
    """A wrong command line: one line, the --help hint, exit 2, nothing written."""
    result = run([command("save-container-env"), *args], env={"A": "1"})
    check(result, 2, b"", b"save-container-env: " + message + b"\n" + HINT)
    assert not snapshot_dir.parent.joinpath(".container_environment.lock").exists()


def test_help() -> None:
    """--help prints the usage and every option on stdout, exit 0."""
    result = run([command("save-container-env"), "--help"], env={})
    check(result, 0, stderr=b"")
    assert result.stdout.startswith(b"Usage: save-container-env [OPTIONS]\n")
    options = b"--dir --group --keep-existing --exclude --include --profile"
    for option in options.split() + [b"--profile-dir", b"--verbose"]:
        assert option in result.stdout


def test_version() -> None:
    """--version prints one line, exit 0."""
    result = run([command("save-container-env"), "--version"], env={})
    check(result, 0, f"save-container-env (envtools) {__version__}\n".encode(), b"")


def test_verbose(save_with: Saver, snapshot_dir: Path) -> None:
    """-v reports counts and the location, never a value."""
    (snapshot_dir).mkdir()
    (snapshot_dir / "OLD").write_bytes(b"old\n")
    result = save_with({b"A": b"secret-value"}, "-v")
    debug = "save-container-env: debug: "
    check(
        result,
        0,
        b"",
        group_warning()
        + (
            f"{debug}1 existing files, 2 variables taken\n"
            f"{debug}saved '{snapshot_dir}'\n"
        ).encode(),
    )
    assert b"secret-value" not in result.stderr


def test_plain_form_skips_click(snapshot_dir: Path) -> None:
    """With no argument, click is never imported."""
    launcher = command("save-container-env")
    env = with_location({b"A": b"1"}, snapshot_dir)
    result = run([sys.executable, "-X", "importtime", launcher], env=env)
    assert result.returncode == 0, result.stderr
    imported = [line.split(b"|")[-1].strip() for line in result.stderr.splitlines()]
    assert b"click" not in imported
    assert b"envtools.snapshot.writer" in imported


def test_completion_request_writes_nothing(snapshot_dir: Path) -> None:
    """A shell asking for completions gets them from click, and nothing is saved."""
    env = with_location({b"A": b"1"}, snapshot_dir)
    env[b"_SAVE_CONTAINER_ENV_COMPLETE"] = b"bash_complete"
    env[b"COMP_WORDS"] = b"save-container-env --he"
    env[b"COMP_CWORD"] = b"1"
    result = run([command("save-container-env")], env=env)
    check(result, 0, b"plain,--help\n", b"")
    assert not snapshot_dir.exists()


def test_lock_that_is_a_directory_named_in_full(snapshot_dir: Path) -> None:
    """A lock that cannot be opened is named by its whole path, exit 1."""
    lock = snapshot_dir.parent / ".container_environment.lock"
    lock.mkdir()
    argv = [command("save-container-env"), "--dir", str(snapshot_dir)]

    result = run(argv, env={"A": "1"})

    message = f"save-container-env: cannot open lock '{lock}': Is a directory\n"
    check(result, 1, b"", group_warning() + message.encode())
