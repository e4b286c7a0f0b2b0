"""container-env's command line: selection, --get, exit statuses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run
from support.snapshots import write_snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="snapshots are root's")

SAVED = {b"A": b"one", b"B": b"it's", b"EMPTY": b"", b"NL": b"ends\n"}

HEADER = b"# Container environment, by envtools: source it, do not edit it.\n"


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    return write_snapshot(tmp_path / "snap", SAVED)


def _run(snap: Path, *args: str) -> object:
    env = base_env(ENVTOOLS_SNAPSHOT_DIR=str(snap))
    return run([command("container-env"), *args], env=env)


def test_plain_form_prints_sh(snap: Path) -> None:
    """With no argument, the sh format of the whole snapshot, in name order."""
    result = _run(snap)
    check(result, 0, stderr=b"")
    assert result.stdout.startswith(HEADER)
    lines = result.stdout[len(HEADER) :]
    assert lines == (
        b"export A='one'\nexport B='it'\\''s'\nexport EMPTY=''\nexport NL='ends\n'\n"
    )


def test_get_prints_raw_value(snap: Path) -> None:
    """--get prints the value's bytes with no newline added."""
    check(_run(snap, "--get", "NL"), 0, stdout=b"ends\n", stderr=b"")
    check(_run(snap, "--get", "EMPTY"), 0, stdout=b"", stderr=b"")


def test_get_unset_fails(snap: Path) -> None:
    """--get of a name the snapshot lacks is exit 1 and one line."""
    stderr = b"container-env: 'NOPE' is not in the snapshot\n"
    check(_run(snap, "--get", "NOPE"), 1, stdout=b"", stderr=stderr)


def test_names_select_in_given_order(snap: Path) -> None:
    """NAMEs print only those variables, in the order given."""
    check(
        _run(snap, "--format", "nul", "B", "A"),
        0,
        stdout=b"B=it's\0A=one\0",
        stderr=b"",
    )


def test_missing_name_reported(snap: Path) -> None:
    """A NAME not in the snapshot is named on stderr; the others print; exit 1."""
    result = _run(snap, "--format", "nul", "A", "NOPE")
    stderr = b"container-env: 'NOPE' is not in the snapshot\n"
    check(result, 1, stdout=b"A=one\0", stderr=stderr)


def test_dir_overrides_variable(snap: Path, tmp_path: Path) -> None:
    """--dir wins over $ENVTOOLS_SNAPSHOT_DIR."""
    other = write_snapshot(tmp_path / "other", {b"O": b"x"})
    check(
        _run(snap, "--dir", str(other), "--format", "nul"),
        0,
        stdout=b"O=x\0",
        stderr=b"",
    )


def test_json_format(snap: Path) -> None:
    """--format json is the snapshot codec's JSON object."""
    result = _run(snap, "--format", "json")
    check(result, 0, stderr=b"")
    assert (
        result.stdout == b'{"A": "one", "B": "it\'s", "EMPTY": "", "NL": "ends\\n"}\n'
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--format", "xml"],
            (
                "invalid value for '--format': 'xml' is not one of "
                "'sh', 'fish', 'json', 'dotenv', 'docker', 'systemd', 'nul'"
            ),
        ),
        (["--get", "A", "B"], "--get cannot be combined with NAME"),
        (["--get", "A", "--format", "sh"], "--get cannot be combined with --format"),
        (["--zzz"], "no such option '--zzz'"),
        (["--dir", ""], "invalid value for '--dir': must not be empty"),
    ],
)
def test_usage_errors(snap: Path, args: list[str], message: str) -> None:
    """A wrong command line is one line, a hint, and exit 2."""
    stderr = f"container-env: {message}\nTry 'container-env --help'.\n"
    check(_run(snap, *args), 2, stdout=b"", stderr=stderr.encode())


def test_closed_stdout_is_one_line(snap: Path) -> None:
    """Output to a closed pipe is reported once, exit 1, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [command("container-env"), "--dir", str(snap)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=30,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == b"container-env: cannot write output: Broken pipe\n"


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_slow_nonblocking_reader_gets_everything(
    unbuffered: str, tmp_path: Path
) -> None:
    """A pipe set O_NONBLOCK by someone else still gets every byte, exit 0.

    Under PYTHONUNBUFFERED, Python's stdout wrote what fit and dropped the
    rest without a word.
    """
    env = {b"V%02d" % index: b"x" * 100_000 for index in range(12)}
    snap = write_snapshot(tmp_path / "snap", env)
    expected = _run(snap).stdout
    assert len(expected) > 1_000_000
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    child_env = base_env(ENVTOOLS_SNAPSHOT_DIR=str(snap), PYTHONUNBUFFERED=unbuffered)
    try:
        child = subprocess.Popen(
            [command("container-env")], stdout=write_end, env=child_env
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        time.sleep(0.5)
        got = reader.read()
    assert child.wait(timeout=30) == 0
    assert got == expected


def test_plain_form_never_imports_click(snap: Path) -> None:
    """With no argument, container-env is parsed by hand: no click."""
    env = base_env(ENVTOOLS_SNAPSHOT_DIR=str(snap))
    result = run(
        [sys.executable, "-X", "importtime", command("container-env")], env=env
    )
    check(result, 0)
    imported = [line.split(b"|")[-1].strip() for line in result.stderr.splitlines()]
    assert b"envtools.snapshot.shell" in imported
    assert b"click" not in imported
