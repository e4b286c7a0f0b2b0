"""Options and usage errors: the click path and its one-line failures."""

from __future__ import annotations

import pytest

from envtools import __version__
from support.child import REPORT
from support.child import assert_switched
from support.child import run_report
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run

HINT = b"Try 'setuser --help'.\n"


def setuser(*args: str) -> list[str]:
    return [command("setuser"), *args]


def test_version():
    """--version prints the program, the suite and the version on stdout."""
    result = run(setuser("--version"), env=base_env())

    check(result, 0, stdout=f"setuser (envtools) {__version__}\n".encode(), stderr=b"")


def test_help():
    """--help prints usage and every option on stdout and exits 0."""
    result = run(setuser("--help"), env=base_env())

    check(result, 0, stderr=b"")
    assert result.stdout.startswith(
        b"Usage: setuser [OPTIONS] USER[:GROUP] COMMAND [ARG]...\n"
    )
    for option in (
        b"--no-new-privs",
        b"--login",
        b"--pam-service NAME",
        b"-v, --verbose",
    ):
        assert option in result.stdout


def test_no_new_privs():
    """--no-new-privs sets the flag the command sees in /proc/self/status."""
    report, _, _ = run_report(setuser("--no-new-privs", "nobody", *REPORT), base_env())

    assert_switched(report, 65534, 65534, {65534}, no_new_privs=1)


def test_no_new_privs_stops_setuid():
    """Under --no-new-privs a setuid-root program does not gain root."""
    argv = setuser("--no-new-privs", "nobody", "/usr/bin/sudo", "-n", "true")

    result = run(argv, env=base_env())

    assert result.returncode == 1, result
    assert b"no new privileges" in result.stderr, result


def test_verbose_reports_names_and_ids():
    """-v reports the resolved user and the switch, names and ids only."""
    result = run(setuser("-v", "nobody:www-data", "true"), env=base_env())

    check(
        result,
        0,
        stdout=b"",
        stderr=b"setuser: debug: user 'nobody' uid 65534 gid 33, "
        b"1 supplementary groups\n"
        b"setuser: debug: running as uid 65534 gid 33\n",
    )


def test_verbose_with_no_new_privs():
    """-v also reports that no_new_privs was set."""
    result = run(setuser("-v", "--no-new-privs", "nobody", "true"), env=base_env())

    check(
        result,
        0,
        stdout=b"",
        stderr=b"setuser: debug: user 'nobody' uid 65534 gid 65534, "
        b"1 supplementary groups\n"
        b"setuser: debug: set no_new_privs\n"
        b"setuser: debug: running as uid 65534 gid 65534\n",
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ((), b"setuser: missing argument 'USER[:GROUP]'\n"),
        (("nobody",), b"setuser: missing argument 'COMMAND [ARG]...'\n"),
        (("--", "nobody"), b"setuser: missing argument 'COMMAND [ARG]...'\n"),
        (
            ("--bogus", "nobody", "true"),
            b"setuser: no such option '--bogus'; did you mean '--verbose'?\n",
        ),
        (("-1", "true"), b"setuser: no such option '-1'\n"),
        (
            ("--pam-service", "other", "nobody", "true"),
            b"setuser: --pam-service requires --login\n",
        ),
        (
            ("--allow-missing-home", "nobody", "true"),
            b"setuser: --allow-missing-home requires --login\n",
        ),
    ],
)
def test_usage_errors(args, line):
    """A usage error is one line and a --help hint, status 125, nothing run."""
    result = run(setuser(*args), env=base_env())

    check(result, 125, stdout=b"", stderr=line + HINT)
