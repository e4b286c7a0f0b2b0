"""Every value comes back exactly through the directory, DIR.sh and DIR.json."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from support.proc import check
from support.proc import command
from support.proc import run
from support.shells import SHELLS
from support.shells import source_and_dump
from support.shells import yash_can_hold

from envtools.errors import quote
from envtools.snapshot import NOT_SAVED
from envtools.snapshot import envdir
from envtools.snapshot import jsonfile
from envtools.snapshot import shell
from save_container_env.conftest import Saver
from save_container_env.helpers import group_warning
from save_container_env.helpers import read_dir
from save_container_env.helpers import sidecar
from save_container_env.helpers import with_location

pytestmark = pytest.mark.timeout(300)

# Each command in these values would create the canary file.
TRICKY = {
    b"EMPTY": b"",
    b"QUOTES": b"it's \"quoted\" ''",
    b"SUBST": b"$(touch CANARY)",
    b"BACKTICK": b"`touch CANARY`",
    b"BREAKOUT": b"'; touch CANARY; echo '",
    b"EXPAND": b"$HOME ${PATH} $$ \\ \\n",
    b"NEWLINES": b"\n\nline\n\n",
    b"CR": b"a\r\nb\r",
    b"EQUALS": b"=a=b==",
    b"UTF8": "é ✓ \U0001f600".encode(),
    b"INVALID": b"\xff\xfe\xc3(",
    b"LONG": b"x" * 100_000,
}


def _tricky(canary: Path) -> dict[bytes, bytes]:
    return {k: v.replace(b"CANARY", bytes(canary)) for k, v in TRICKY.items()}


def test_directory_and_json(save: Saver, snapshot_dir: Path, tmp_path: Path) -> None:
    """Each file holds the value and one newline; JSON loads to the same map."""
    env = _tricky(tmp_path / "canary")
    check(save(env), 0, b"", group_warning())

    saved = with_location(env, snapshot_dir)
    files = read_dir(snapshot_dir)
    assert files == {name: value + b"\n" for name, value in sorted(saved.items())}
    assert jsonfile.loads(sidecar(snapshot_dir, ".json").read_bytes()) == saved
    assert not (tmp_path / "canary").exists()


@pytest.mark.parametrize("shell_id", SHELLS)
def test_sourced_in_every_shell(
    shell_id: str, save: Saver, snapshot_dir: Path, tmp_path: Path
) -> None:
    """Sourcing DIR.sh exports every value byte for byte and runs nothing."""
    canary = tmp_path / "canary"
    env = _tricky(canary)
    check(save(env), 0, b"", group_warning())

    script = sidecar(snapshot_dir, ".sh")
    result, dumped = source_and_dump(SHELLS[shell_id], script, cwd=tmp_path)
    expected = with_location(env, snapshot_dir)
    if shell_id == "yash":
        expected = {n: v for n, v in expected.items() if yash_can_hold(v)}
    assert result.stderr == b"rc=0\n"
    assert {name: dumped.get(name) for name in expected} == expected
    assert not canary.exists()


_NAMES = st.one_of(
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z").map(str.encode),
    st.sampled_from([b"A-B", b"1X", b"a.b", b"BASH_FUNC_f%%", b".", b"..",
                     b"a/b", b"..data", b".hidden", b"RANDOM", b"\xc3\xa9"]),
).filter(lambda name: name not in NOT_SAVED)  # fmt: skip
_VALUES = st.one_of(
    st.binary(max_size=30).map(lambda v: v.replace(b"\0", b"")),
    st.lists(
        st.sampled_from([b"'", b'"', b"\\", b"$(", b")", b"`", b"\n", b"\r",
                         b"\xff", "é".encode(), b"$x", b";", b" ", b"a"]),
        max_size=10,
    ).map(b"".join),
    st.integers(0, 5).map(lambda n: b"v" * (n * 20_000)),
)  # fmt: skip


def _expected_warnings(env: dict[bytes, bytes], path: str) -> bytes:
    """The warning lines for *env*: group, then DIR.sh, then DIR, by name."""
    lines = []
    for name in sorted(env):
        problem = shell.name_problem(name)
        if problem:
            lines.append(f"left {quote(name)} out of {quote(path + '.sh')}: {problem}")
    for name in sorted(env):
        problem = envdir.file_name_problem(name)
        if problem:
            lines.append(f"left {quote(name)} out of {quote(path)}: {problem}")
    text = "".join(f"save-container-env: warning: {line}\n" for line in lines)
    return group_warning() + text.encode()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(env=st.dictionaries(_NAMES, _VALUES, max_size=8))
def test_generated_environments(env: dict[bytes, bytes], tmp_path: Path) -> None:
    """Generated names and values: exact in all three artifacts, or warned about."""
    directory = Path(tempfile.mkdtemp(dir=tmp_path)) / "snap"
    saved = with_location(env, directory)
    result = run([command("save-container-env")], env=saved)
    check(result, 0, b"", _expected_warnings(saved, str(directory)))

    as_files = {n: v for n, v in saved.items() if envdir.file_name_problem(n) is None}
    assert read_dir(directory) == {n: v + b"\n" for n, v in sorted(as_files.items())}
    assert jsonfile.loads(sidecar(directory, ".json").read_bytes()) == saved

    as_shell = {n: v for n, v in saved.items() if shell.name_problem(n) is None}
    for shell_id, argv in SHELLS.items():
        expected = as_shell
        if shell_id == "yash":
            expected = {n: v for n, v in as_shell.items() if yash_can_hold(v)}
        outcome, dumped = source_and_dump(argv, sidecar(directory, ".sh"))
        assert outcome.stderr == b"rc=0\n", shell_id
        assert {n: dumped.get(n) for n in expected} == expected, shell_id
    assert sorted(os.listdir(directory.parent)) == [
        ".snap.lock",
        "snap",
        "snap.json",
        "snap.sh",
    ]
