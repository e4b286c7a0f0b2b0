"""What environment the command gets, and that it is exec'd directly.

Each behaviour runs through both parsers: the hand-parsed plain form and
the click form (forced with ``--``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.child import REPORT
from support.child import parse
from support.proc import check
from support.proc import command
from support.proc import run
from support.snapshots import write_snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="snapshots are root's")

ENV0 = ["/usr/bin/env", "-0"]

CALLER = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/caller",
    "USER": "caller",
    "LOGNAME": "caller",
    "SHELL": "/bin/dash",
    "SUDO_USER": "admin",
    "KEEP_ME": "current",
    "BOTH": "current",
}

SAVED = {
    b"BOTH": b"saved",
    b"ONLY_SAVED": b"saved\nwith a newline",
    b"HOME": b"/root",
    b"USER": b"root",
    b"LOGNAME": b"root",
    b"SHELL": b"/bin/bash",
    b"UID": b"0",
    b"GID": b"0",
    b"GROUP": b"root",
    b"SUDO_USER": b"intruder",
    b"SUDO_COMMAND": b"/bin/false",
    b"a.b": b"dotted",
    b"A-B": b"dashed",
    b"PATH": b"/usr/local/bin:/usr/bin:/bin",
}

FORMS = pytest.mark.parametrize("form", [[], ["--"]], ids=["plain", "click"])


def _env(block: bytes) -> dict[bytes, bytes]:
    pairs = (entry.partition(b"=") for entry in block.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


def _caller(snap: Path, **extra: str) -> dict[str, str]:
    env = dict(CALLER, ENVTOOLS_SNAPSHOT_DIR=str(snap))
    env.update(extra)
    return env


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    return write_snapshot(tmp_path / "snap", SAVED)


@FORMS
def test_snapshot_laid_over_current(snap: Path, form: list[str]) -> None:
    """Saved values win; identity names and SUDO_* stay the caller's."""
    result = run([command("with-container-env"), *form, *ENV0], env=_caller(snap))
    check(result, 0, stderr=b"")
    expected = {k.encode(): v.encode() for k, v in _caller(snap).items()}
    expected.update(
        {
            b"BOTH": b"saved",
            b"ONLY_SAVED": b"saved\nwith a newline",
            b"a.b": b"dotted",
            b"A-B": b"dashed",
            b"PATH": b"/usr/local/bin:/usr/bin:/bin",
        }
    )
    assert _env(result.stdout) == expected


def test_clear_keeps_identity_and_sudo_only(snap: Path) -> None:
    """--clear: the snapshot plus the caller's identity names and SUDO_*."""
    argv = [command("with-container-env"), "--clear", *ENV0]
    result = run(argv, env=_caller(snap))
    check(result, 0, stderr=b"")
    expected = {
        b"HOME": b"/home/caller",
        b"USER": b"caller",
        b"LOGNAME": b"caller",
        b"SHELL": b"/bin/dash",
        b"SUDO_USER": b"admin",
        b"BOTH": b"saved",
        b"ONLY_SAVED": b"saved\nwith a newline",
        b"a.b": b"dotted",
        b"A-B": b"dashed",
        b"PATH": b"/usr/local/bin:/usr/bin:/bin",
    }
    assert _env(result.stdout) == expected


def test_clear_with_keep(snap: Path) -> None:
    """--clear --keep NAME carries NAME over from the current environment."""
    argv = [command("with-container-env"), "--clear", "--keep", "KEEP_ME", *ENV0]
    result = run(argv, env=_caller(snap))
    check(result, 0, stderr=b"")
    assert _env(result.stdout)[b"KEEP_ME"] == b"current"


def test_no_override(snap: Path) -> None:
    """--no-override: a current value wins, a saved-only one is added."""
    argv = [command("with-container-env"), "--no-override", *ENV0]
    result = run(argv, env=_caller(snap))
    check(result, 0, stderr=b"")
    env = _env(result.stdout)
    assert (env[b"BOTH"], env[b"ONLY_SAVED"]) == (b"current", b"saved\nwith a newline")
    assert env[b"PATH"] == b"/usr/bin:/bin"


def test_keep_one_name(snap: Path) -> None:
    """--keep BOTH keeps that current value; other saved values still win."""
    argv = [command("with-container-env"), "--keep", "BOTH", "--keep", "NOPE", *ENV0]
    result = run(argv, env=_caller(snap))
    check(result, 0, stderr=b"")
    env = _env(result.stdout)
    assert (env[b"BOTH"], env[b"PATH"]) == (b"current", b"/usr/local/bin:/usr/bin:/bin")


def test_dir_option(snap: Path, tmp_path: Path) -> None:
    """--dir reads another location than $ENVTOOLS_SNAPSHOT_DIR."""
    other = write_snapshot(tmp_path / "other", {b"BOTH": b"other"})
    argv = [command("with-container-env"), "--dir", str(other), *ENV0]
    result = run(argv, env=_caller(snap))
    check(result, 0, stderr=b"")
    assert _env(result.stdout)[b"BOTH"] == b"other"


def test_python_locale_coercion_not_passed(snap: Path) -> None:
    """With no locale set, Python's own LC_CTYPE never reaches the command."""
    env = {"PATH": "/usr/bin:/bin", "ENVTOOLS_SNAPSHOT_DIR": str(snap)}
    result = run([command("with-container-env"), *ENV0], env=env)
    check(result, 0, stderr=b"")
    assert b"LC_CTYPE" not in _env(result.stdout)


@FORMS
def test_command_is_execd(snap: Path, form: list[str]) -> None:
    """The command replaces with-container-env: same PID, no parent left."""
    process = subprocess.Popen(
        [command("with-container-env"), *form, *REPORT],
        env=_caller(snap),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    stdout, stderr = process.communicate(timeout=30)
    assert (process.returncode, stderr) == (0, b"")
    report = parse(stdout)
    assert report.pid == process.pid
    assert report.environ[b"a.b"] == b"dotted"
    # Python ignores SIGPIPE and SIGXFSZ; an ignored signal survives exec.
    assert report.status["SigIgn"] == "0000000000000000"


@FORMS
@pytest.mark.parametrize("status", [0, 1, 2, 125, 126, 127, 255])
def test_exit_status_passed_through(snap: Path, form: list[str], status: int) -> None:
    """The command's own exit status is with-container-env's."""
    argv = [command("with-container-env"), *form, "sh", "-c", f"exit {status}"]
    check(run(argv, env=_caller(snap)), status, stdout=b"", stderr=b"")


def test_signal_death_passed_through(snap: Path) -> None:
    """A command killed by a signal is seen killed by it, nothing in between."""
    argv = [command("with-container-env"), "sh", "-c", "kill -TERM $$"]
    check(run(argv, env=_caller(snap)), -signal.SIGTERM, stdout=b"", stderr=b"")


def test_command_not_found(snap: Path) -> None:
    """A missing command is 127 and one line."""
    argv = [command("with-container-env"), "no-such-command-here"]
    stderr = b"with-container-env: command 'no-such-command-here' not found\n"
    check(run(argv, env=_caller(snap)), 127, stdout=b"", stderr=stderr)


def test_command_not_executable(snap: Path, tmp_path: Path) -> None:
    """A file that cannot be executed is 126 and one line."""
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    argv = [command("with-container-env"), str(script)]
    stderr = f"with-container-env: cannot execute '{script}': Permission denied\n"
    check(run(argv, env=_caller(snap)), 126, stdout=b"", stderr=stderr.encode())


def test_shebang_script(snap: Path, tmp_path: Path) -> None:
    """As a '#!' interpreter, it runs the script's shell with the snapshot."""
    script = tmp_path / "script"
    script.write_text(
        f"#!{command('with-container-env')} sh\n"
        'printf "%s|%s|%s" "$BOTH" "$1" "$HOME"\n'
    )
    script.chmod(0o755)
    result = run([str(script), "arg one"], env=_caller(snap))
    check(result, 0, stdout=b"saved|arg one|/home/caller", stderr=b"")


@pytest.mark.parametrize(
    "line",
    ["#!{wce}", "#!/usr/bin/env {name}", "#! {wce}  ", "#!{wce} --setsid",
     "#!{wce} --no-override", "#!/usr/bin/env -S {name} --setsid --no-override"],
)  # fmt: skip
def test_shebang_without_command_is_refused(
    snap: Path, tmp_path: Path, line: str
) -> None:
    """A script naming with-container-env alone, or with options only, as
    interpreter is refused, not exec'd in an endless loop."""
    wce = command("with-container-env")
    script = tmp_path / "script"
    script.write_text(line.format(wce=wce, name="with-container-env") + "\necho ran\n")
    script.chmod(0o755)
    env = _caller(snap)
    env["PATH"] = f"{Path(wce).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    result = run([str(script)], env=env, timeout=10)
    check(
        result,
        125,
        stdout=b"",
        stderr=f"with-container-env: '{script}' names with-container-env as its "
        "interpreter without a command: give one, as "
        "'#!/usr/local/bin/with-container-env sh'\n".encode(),
    )


def test_user_reads_as_root_then_drops(snap: Path) -> None:
    """--user nobody gets the root-only snapshot and runs as nobody."""
    argv = [command("with-container-env"), "--user", "nobody", *REPORT]
    result = run(argv, env=_caller(snap))
    check(result, 0, stderr=b"")
    report = parse(result.stdout)
    assert report.ids("Uid") == [65534] * 4
    assert report.environ[b"ONLY_SAVED"] == b"saved\nwith a newline"
    assert report.environ[b"HOME"] == b"/nonexistent"
    assert (report.environ[b"USER"], report.environ[b"LOGNAME"]) == (b"nobody",) * 2
    assert report.environ[b"SUDO_USER"] == b"admin"


def test_user_unknown(snap: Path) -> None:
    """An unknown --user is refused before anything is read: 125."""
    argv = [command("with-container-env"), "--user", "no-such-user", "true"]
    stderr = b"with-container-env: user 'no-such-user' not found\n"
    check(run(argv, env=_caller(snap)), 125, stdout=b"", stderr=stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "missing argument 'COMMAND [ARG]...'"),
        (["--clear"], "missing argument 'COMMAND [ARG]...'"),
        (["--keep"], "option '--keep' requires an argument"),
        (["--dir", "", "true"], "invalid value for '--dir': must not be empty"),
    ],
)
def test_usage_errors(snap: Path, args: list[str], message: str) -> None:
    """A wrong command line is one line, a hint, and 125."""
    result = run([command("with-container-env"), *args], env=_caller(snap))
    stderr = f"with-container-env: {message}\nTry 'with-container-env --help'.\n"
    check(result, 125, stdout=b"", stderr=stderr.encode())


def test_version_and_help(snap: Path) -> None:
    """--version and --help print on stdout and exit 0."""
    version = run([command("with-container-env"), "--version"], env=_caller(snap))
    check(version, 0, stderr=b"")
    assert version.stdout.startswith(b"with-container-env (envtools) ")
    helped = run([command("with-container-env"), "--help"], env=_caller(snap))
    check(helped, 0, stderr=b"")
    assert b"Run a command with the container's environment snapshot." in helped.stdout


def test_verbose_names_no_values(snap: Path) -> None:
    """-v reports steps and names on stderr, never a value."""
    argv = [command("with-container-env"), "-v", "true"]
    result = run(argv, env=_caller(snap))
    check(result, 0, stdout=b"")
    assert f"with-container-env: debug: read 14 variables from '{snap}'\n".encode() in (
        result.stderr
    )
    assert b"saved" not in result.stderr
    assert b"intruder" not in result.stderr


def test_plain_form_never_imports_click(snap: Path) -> None:
    """The plain form is parsed by hand: click is never imported."""
    argv = ["-X", "importtime", command("with-container-env"), "true"]
    result = run([sys.executable, *argv], env=_caller(snap))
    check(result, 0, stdout=b"")
    imported = [line.split(b"|")[-1].strip() for line in result.stderr.splitlines()]
    assert b"envtools.snapshot.load" in imported
    assert b"click" not in imported


def test_largest_value_reaches_command(tmp_path: Path) -> None:
    """The longest NAME=value execve takes arrives; one byte more is skipped.

    Reading the file size alone would let a value through that execve then
    refuses with E2BIG, blamed on the command as 126.
    """
    largest = 128 * 1024 - len(b"BIG") - 2
    snap = write_snapshot(
        tmp_path / "snap", {b"BIG": b"b" * largest, b"OVER": b"o" * largest}
    )
    argv = [command("with-container-env"), "/usr/bin/printenv", "BIG"]
    result = run(argv, env=_caller(snap))
    warning = f"skipping '{snap}/OVER': NAME=value over the kernel's 128 KiB limit"
    stderr = f"with-container-env: warning: {warning}\n".encode()
    check(result, 0, b"b" * largest + b"\n", stderr)
