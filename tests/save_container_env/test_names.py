"""Names that cannot be a file or an export line: left out, with one warning."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from support.proc import check
from support.proc import command
from support.proc import run

from envtools.snapshot import envdir
from envtools.snapshot import jsonfile
from save_container_env.conftest import Saver
from save_container_env.helpers import group_warning
from save_container_env.helpers import read_dir
from save_container_env.helpers import sidecar
from save_container_env.helpers import with_location

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("name", "warnings"),
    [
        (b"A-B", ["left 'A-B' out of 'D.sh': not a shell identifier"]),
        (b"1X", ["left '1X' out of 'D.sh': not a shell identifier"]),
        (b"a.b", ["left 'a.b' out of 'D.sh': not a shell identifier"]),
        (b"f%%", ["left 'f%%' out of 'D.sh': not a shell identifier"]),
        (b"RANDOM", ["left 'RANDOM' out of 'D.sh': special in some shell"]),
        (b"path", ["left 'path' out of 'D.sh': special in some shell"]),
        (b"\xff", ["left '\\xff' out of 'D.sh': not a shell identifier"]),
        (
            b".",
            [
                "left '.' out of 'D.sh': not a shell identifier",
                "left '.' out of 'D': name starts with '.'",
            ],
        ),
        (
            b"..",
            [
                "left '..' out of 'D.sh': not a shell identifier",
                "left '..' out of 'D': name starts with '.'",
            ],
        ),
        (
            b"..data",
            [
                "left '..data' out of 'D.sh': not a shell identifier",
                "left '..data' out of 'D': name starts with '.'",
            ],
        ),
        (
            b"../../x",
            [
                "left '../../x' out of 'D.sh': not a shell identifier",
                "left '../../x' out of 'D': name contains '/'",
            ],
        ),
        (
            b"x" * 256,
            [
                f"left '{'x' * 256}' out of 'D': name longer than 255 bytes",
            ],
        ),
    ],
)  # fmt: skip
def test_left_out_with_warning(
    name: bytes, warnings: list[str], save: Saver, snapshot_dir: Path
) -> None:
    """The name stays in JSON, is left out where it cannot be, and is named."""
    lines = [line.replace("'D", f"'{snapshot_dir}") for line in warnings]
    stderr = "".join(f"save-container-env: warning: {line}\n" for line in lines)
    check(save({name: b"v", b"GOOD": b"g"}), 0, b"", group_warning() + stderr.encode())

    env = with_location({name: b"v", b"GOOD": b"g"}, snapshot_dir)
    assert jsonfile.loads(sidecar(snapshot_dir, ".json").read_bytes()) == dict(
        sorted(env.items())
    )
    files = read_dir(snapshot_dir)
    assert (name in files) == (envdir.file_name_problem(name) is None)
    assert files[b"GOOD"] == b"g\n"


def test_nothing_outside(save: Saver, snapshot_dir: Path) -> None:
    """Whatever the names, only the snapshot and its lock appear in the parent."""
    names = [
        b"..",
        b".",
        b"../escape",
        b"/etc/x",
        b"..data",
        b".container_environment.lock",
    ]
    check(save({n: b"v" for n in names}), 0)
    parent = snapshot_dir.parent
    assert sorted(os.listdir(parent)) == [
        ".container_environment.lock",
        "container_environment",
        "container_environment.json",
        "container_environment.sh",
    ]
    assert not Path("/etc/x").exists()
    assert sorted(os.listdir(snapshot_dir)) == ["ENVTOOLS_SNAPSHOT_DIR"]


# Starts a program with a raw environment block: Python's own exec functions
# take a mapping, which can hold neither a repeated name nor an entry
# without "=".
_RAW_EXEC = """
import ctypes, sys
argv = [a.encode() for a in sys.argv[1:]]
envp = [b"A=first", b"A=second", b"NOEQUALS", b"B=1"]
envp.append(b"ENVTOOLS_SNAPSHOT_DIR=" + argv.pop())
libc = ctypes.CDLL(None)
c_argv = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
c_envp = (ctypes.c_char_p * (len(envp) + 1))(*envp, None)
libc.execve(argv[0], c_argv, c_envp)
sys.exit("execve failed")
"""


def test_malformed_entries(snapshot_dir: Path) -> None:
    """A repeated name keeps its first value; each odd entry gets one line."""
    argv = [sys.executable, "-c", _RAW_EXEC, command("save-container-env")]
    result = run(argv + [str(snapshot_dir)], env={})
    warn = "save-container-env: warning: dropped"
    check(
        result,
        0,
        b"",
        f"{warn} repeated environment variable 'A'\n"
        f"{warn} an environment entry without '='\n".encode()
        + group_warning(),
    )
    files = read_dir(snapshot_dir)
    assert files[b"A"] == b"first\n"
    assert b"NOEQUALS" not in files
