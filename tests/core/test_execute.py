"""envtools.execute: the PATH search, the exec and its 126/127 mapping."""

from __future__ import annotations

import sys
import textwrap

import pytest

from envtools import execute
from support.child import public_dir
from support.child import write_script
from support.proc import check
from support.proc import run


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    [
        ("ls", b"/a:/b", [b"/a/ls", b"/b/ls"]),
        ("ls", b"/a::/b", [b"/a/ls", b"./ls", b"/b/ls"]),
        ("ls", b"", [b"./ls"]),
        ("ls", b"/a:", [b"/a/ls", b"./ls"]),
        ("ls", None, [b"/bin/ls", b"/usr/bin/ls"]),
        ("./ls", b"/a", [b"./ls"]),
        ("/bin/ls", b"/a", [b"/bin/ls"]),
        ("sub/ls", b"/a", [b"sub/ls"]),
        ("", b"/a", []),
        ("l\udcffs", b"/a", [b"/a/l\xffs"]),
    ],
)
def test_candidates(name, path, expected):
    """Candidates follow execvp: a slash means no search; empty is the cwd."""
    env = {} if path is None else {b"PATH": path}

    assert execute.candidates(name, env) == expected


EXEC = """
    import sys
    from envtools.errors import EnvtoolsError
    from envtools.execute import exec_command
    try:
        exec_command({argv!r}, {env!r})
    except EnvtoolsError as error:
        print(error.status, error.message)
"""


def exec_in_child(argv, env):
    """Call exec_command in a fresh interpreter; return what happened."""
    code = textwrap.dedent(EXEC.format(argv=argv, env=env))
    return run([sys.executable, "-c", code])


def test_exec_replaces_and_restores_signals():
    """The command runs with SIGPIPE and SIGXFSZ back at their defaults."""
    argv = ["sh", "-c", "grep SigIgn /proc/$$/status"]

    result = exec_in_child(argv, {b"PATH": b"/usr/bin:/bin"})

    check(result, 0, stdout=b"SigIgn:\t0000000000000000\n", stderr=b"")


def test_exec_passes_env_exactly():
    """The environment given is the command's whole environment."""
    result = exec_in_child(["env"], {b"PATH": b"/usr/bin:/bin", b"A": b"1"})

    check(result, 0, stdout=b"PATH=/usr/bin:/bin\nA=1\n", stderr=b"")


def test_not_found_is_127():
    """No candidate found raises status 127 and a lookup-miss message."""
    result = exec_in_child(["etnosuchcommand"], {b"PATH": b"/usr/bin:/bin"})

    check(result, 0, stdout=b"127 command 'etnosuchcommand' not found\n", stderr=b"")


def test_format_error_is_126():
    """A file with no #! line is not run by sh: 126, Exec format error."""
    with public_dir() as top:
        write_script(top / "bare", "echo ran\n")
        result = exec_in_child(["bare"], {b"PATH": str(top).encode()})

    check(
        result, 0, stdout=b"126 cannot execute 'bare': Exec format error\n", stderr=b""
    )


def test_argument_too_long_is_126():
    """E2BIG from a real oversized argument is remembered: 126 with its reason."""
    code = textwrap.dedent(EXEC).replace("{argv!r}", '["true", "x" * 200_000]')
    code = code.replace("{env!r}", repr({b"PATH": b"/usr/bin:/bin"}))

    result = run([sys.executable, "-c", code])

    check(result, 0, stdout=b"126 cannot execute 'true': Argument list too long\n")


def test_first_failure_is_reported():
    """When several candidates fail, the first real failure is the one reported."""
    with public_dir() as top:
        (top / "a").mkdir()
        write_script(top / "a" / "tool", "echo a\n")
        (top / "b").mkdir()
        write_script(top / "b" / "tool", "#!/bin/sh\n", mode=0o644)
        path = f"{top}/a:{top}/b".encode()
        result = exec_in_child(["tool"], {b"PATH": path})

    check(result, 0, stdout=b"126 cannot execute 'tool': Exec format error\n")
