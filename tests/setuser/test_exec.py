"""The exec itself: same process, arguments untouched, exact environment."""

from __future__ import annotations

import os
import signal
import subprocess

from support.child import REPORT
from support.child import assert_switched
from support.child import expected_environ
from support.child import parse
from support.child import raw_environ_argv
from support.child import run_report
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run


def test_same_pid(setuser):
    """The command runs as the very process that was started: no parent left."""
    report, _, pid = run_report(setuser("nobody", *REPORT), base_env())

    assert report.pid == pid


def test_dispositions_restored(setuser):
    """SIGPIPE and SIGXFSZ reach the command at their defaults, not ignored."""
    report, _, _ = run_report(setuser("nobody", *REPORT), base_env())

    assert report.status["SigIgn"] == "0000000000000000"


def test_broken_pipe_kills_the_command(setuser):
    """A command writing to a closed pipe dies of SIGPIPE, as it would alone."""
    argv = setuser("nobody", "/bin/sh", "-c", "sleep 0.2; echo x; echo alive >&2")
    process = subprocess.Popen(
        argv, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()

    stderr = process.stderr.read()
    status = process.wait(timeout=30)

    assert (status, stderr) == (-signal.SIGPIPE, b"")


def test_environment_is_exact(setuser):
    """The command gets the caller's environment plus HOME, USER and LOGNAME."""
    env = {
        "PATH": "/usr/bin:/bin",
        "FOO": "bar baz",
        "EMPTY": "",
        "MULTI": "one\ntwo",
        "EQUALS": "a=b=c",
    }

    report, _, _ = run_report(setuser("www-data", *REPORT), env)

    assert report.environ == expected_environ(env, "/var/www", "www-data")


def test_identity_variables_replaced(setuser):
    """HOME, USER and LOGNAME from the caller are replaced; UID is never set."""
    env = base_env(HOME="/root", USER="root", LOGNAME="root", SHELL="/bin/bash")

    report, _, _ = run_report(setuser("www-data", *REPORT), env)

    assert report.environ == expected_environ(env, "/var/www", "www-data")
    assert b"UID" not in report.environ


def test_no_locale_coercion_leaks(setuser):
    """With no locale set, Python's own LC_CTYPE never reaches the command."""
    env = {"PATH": "/usr/bin:/bin"}

    report, _, _ = run_report(setuser("nobody", *REPORT), env)

    assert report.environ == expected_environ(env, "/nonexistent", "nobody")
    assert b"LC_CTYPE" not in report.environ


def test_undecodable_environment_passes(setuser):
    """Bytes that are not UTF-8, in names and values, pass through unchanged."""
    env = {b"PATH": b"/usr/bin:/bin", b"RAW\xff": b"\xfe\x80value"}

    report, _, _ = run_report(setuser("nobody", *REPORT), env)

    assert report.environ[b"RAW\xff"] == b"\xfe\x80value"


def test_malformed_entries_dropped_with_warnings(setuser):
    """Entries execve cannot pass on are dropped, one warning each, names only."""
    entries = [b"PATH=/usr/bin:/bin", b"A=1", b"A=secret", b"NOEQUALS", b"=empty"]
    argv = raw_environ_argv(setuser("nobody", *REPORT), entries)

    result = run(argv)

    check(
        result,
        0,
        stderr=b"setuser: warning: dropped repeated environment variable 'A'\n"
        b"setuser: warning: dropped an environment entry without '='\n"
        b"setuser: warning: dropped an environment entry with an empty name\n",
    )
    expected = {b"PATH": b"/usr/bin:/bin", b"A": b"1"}
    expected |= {b"HOME": b"/nonexistent", b"USER": b"nobody", b"LOGNAME": b"nobody"}
    assert parse(result.stdout).environ == expected


def test_dash_arguments_go_to_the_command(setuser):
    """Arguments after the command that start with - are the command's."""
    argv = setuser("nobody", "/bin/echo", "-n", "--help", "-v", "--", "x")

    result = run(argv, env=base_env())

    check(result, 0, stdout=b"--help -v -- x", stderr=b"")


def test_options_then_double_dash():
    """Options, then --, then the spec and command, then the command's options."""
    argv = [command("setuser"), "--no-new-privs", "--", "nobody", *REPORT]

    report, _, _ = run_report(argv, base_env())

    assert_switched(report, 65534, 65534, {65534}, no_new_privs=1)


def test_double_dash_after_spec_is_the_command():
    """Once the spec is read, -- is just the command name, on both paths."""
    for argv in (
        [command("setuser"), "nobody", "--", "true"],
        [command("setuser"), "--", "nobody", "--", "true"],
    ):
        result = run(argv, env=base_env())

        check(result, 127, stdout=b"", stderr=b"setuser: command '--' not found\n")


def test_undecodable_arguments_pass(setuser):
    """Arguments that are not UTF-8 reach the command byte for byte."""
    argv = [os.fsencode(arg) for arg in setuser("nobody", "/usr/bin/printf", "%s")]

    result = run([*argv, b"\xff\xferaw"], env=base_env())

    check(result, 0, stdout=b"\xff\xferaw", stderr=b"")


def test_stdin_is_the_callers(setuser):
    """The command reads setuser's own standard input."""
    result = run(setuser("nobody", "/bin/cat"), env=base_env(), input=b"through\n")

    check(result, 0, stdout=b"through\n", stderr=b"")


def test_working_directory_kept(setuser):
    """The command starts in setuser's working directory."""
    result = run(setuser("nobody", "/bin/pwd"), env=base_env(), cwd="/usr/share")

    check(result, 0, stdout=b"/usr/share\n", stderr=b"")


def test_switch_to_root_keeps_root(setuser):
    """root:root as root keeps uid 0 and drops other supplementary groups."""
    report, _, _ = run_report(setuser("root", *REPORT), base_env())

    assert report.ids("Uid") == [0] * 4
    assert report.groups() == set(os.getgrouplist("root", 0))
