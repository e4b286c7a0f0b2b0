"""The pip-installed launchers: isolated from PYTHON* variables, multi-call.

pip writes ``#!/venv/bin/python`` with no flags, so a root process started
with PYTHONPATH pointing at a directory a user controls would import that
user's code.  The launcher starts again with ``-I`` whenever such a
variable is set, with its arguments and environment unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.child import raw_environ_argv
from support.proc import check
from support.proc import command
from support.proc import run

pytestmark = pytest.mark.timeout(60)

CANARY = "import os; os.close(os.open({path!r}, os.O_CREAT | os.O_WRONLY, 0o644))\n"

# Prints its first argument and then its environment as the kernel gave it.
REPORT = (
    "import os, sys; out = sys.stdout.buffer; out.write(os.fsencode(sys.argv[1]));"
    " out.write(b'\\0' + open('/proc/self/environ', 'rb').read())"
)

COMMANDS = [
    ["setuser", "nobody", "/bin/true"],
    ["with-container-env", "--dir", "{missing}", "/bin/true"],
    ["container-env", "--dir", "{missing}"],
    ["save-container-env", "--dir", "{missing}"],
]


def _planted(tmp_path: Path) -> tuple[Path, Path]:
    """A directory whose ``envtools`` package writes a canary on import."""
    planted = tmp_path / "planted"
    (planted / "envtools").mkdir(parents=True)
    canary = tmp_path / "canary"
    (planted / "envtools" / "__init__.py").write_text(CANARY.format(path=str(canary)))
    return planted, canary


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_pythonpath_is_not_imported(tmp_path, argv):
    """A package planted on PYTHONPATH is never imported by a command."""
    planted, canary = _planted(tmp_path)
    missing = str(tmp_path / "none" / "container_environment")
    full = [command(argv[0]), *(part.format(missing=missing) for part in argv[1:])]

    result = run(full, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(planted)})

    assert b"Traceback" not in result.stderr, result.stderr
    assert not canary.exists()


def test_environment_and_arguments_survive_the_restart(tmp_path):
    """The restarted command gets every byte of argv and env as given."""
    planted, _ = _planted(tmp_path)
    env = {
        b"PATH": b"/usr/bin:/bin",
        b"PYTHONPATH": os.fsencode(planted),
        b"ODD": b"\xff\n=x",
        b"EMPTY": b"",
    }
    argv = [command("setuser"), "nobody", "/usr/bin/python3", "-c", REPORT, b"\xfe a"]

    result = run(argv, env=env)

    check(result, 0, stderr=b"")
    shown, *entries, last = result.stdout.split(b"\0")
    assert (shown, last) == (b"\xfe a", b"")
    identity = {b"HOME": b"/nonexistent", b"USER": b"nobody", b"LOGNAME": b"nobody"}
    assert dict(entry.partition(b"=")[::2] for entry in entries) == {**env, **identity}


def test_entries_no_mapping_holds_survive_nothing_else(tmp_path):
    """Entries without a name or '=' are dropped in the restart, not a crash."""
    entries = [b"PATH=/usr/bin:/bin", b"PYTHONPATH=" + os.fsencode(tmp_path),
               b"NOEQUALS", b"=nameless", b"A=1", b"A=2"]  # fmt: skip
    argv = [command("setuser"), "nobody", "/usr/bin/python3", "-c", REPORT, "x"]

    result = run(raw_environ_argv(argv, entries))

    check(result, 0, stderr=b"")
    _, *shown, _ = result.stdout.split(b"\0")
    assert shown == [b"PATH=/usr/bin:/bin", b"PYTHONPATH=" + os.fsencode(tmp_path),
                     b"A=1", b"HOME=/nonexistent", b"USER=nobody",
                     b"LOGNAME=nobody"]  # fmt: skip
