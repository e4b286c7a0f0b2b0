"""Generated environments: saved, read back through every format and shell.

Each hypothesis example is a batch of environments, so that one shell
process can source a whole batch, each environment in its own subshell
(``( . DIR.sh; env -0 > OUT )``), instead of starting a shell per
environment.  Two tiers:

- bulk: :data:`BATCHES` batches of :data:`BATCH` environments, saved by the
  writer's core (``writer.save``) and read back by the readers' core
  (``load.load``, ``jsonfile.loads``, the fish and dotenv renderers), then
  ``DIR.sh`` sourced by every POSIX shell and the fish output by fish;
- commands: environments handed to the installed ``save-container-env``
  through execve, read back by the installed ``container-env`` and
  ``with-container-env``.

Every comparison is byte for byte.  Values carry command substitutions
that would create :data:`CANARY`; it must never exist.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from support.campaign import tally
from support.proc import check
from support.proc import command
from support.proc import run
from support.shells import SHELLS

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(os.geteuid() != 0, reason="the writer needs root"),
]

CANARY = f"/tmp/envtools-canary-{os.getpid()}"

# The kernel's MAX_ARG_STRLEN: "NAME=value" and its NUL must fit.
MAX_ARG_STRLEN = 131072

BATCH = 20
BATCHES = 100
COMMAND_EXAMPLES = 40

# What a shell adds to the environment of the commands it starts.
SHELL_OWN = {b"PWD", b"OLDPWD", b"SHLVL", b"_", b"HOME", b"LOGNAME", b"A__z"}
SHELL_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}

PIECES = [
    b"'", b'"', b"\\", b"$", b"`", b"${X}", b"$X", b"$(", b")", b"\\'", b"'\\''",
    b"$(touch " + CANARY.encode() + b")", b"`touch " + CANARY.encode() + b"`",
    b"'; touch " + CANARY.encode() + b"; '", b"(touch " + CANARY.encode() + b")",
    b"\n", b"\r\n", b"\r", b"\n\n", b";", b"&", b"|", b"*", b"?", b"[a]", b"~",
    b"#", b"!", b"{a,b}", b"%s", b"-", b"--", b"-n", b"=", b"==", b" ", b"\t",
    b"\x1b[2J", b"\x7f", b"\x01", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc3\xa9",
    b"\xe2\x80\xa8", b"\xf0\x9f\x98\x80", b"\\x41", b"\\n", b"%", b"}", b"{",
]  # fmt: skip

# Names that look harmless but mean something to a shell or to envtools.
NAME_POOL = [
    b"PATH", b"IFS", b"ENV", b"BASH_ENV", b"PS1", b"PS2", b"PS4", b"CDPATH",
    b"POSIXLY_CORRECT", b"ZDOTDIR", b"MAIL", b"MAILPATH", b"HISTFILE", b"FPATH",
    b"TERM", b"TMPDIR", b"PWD", b"OLDPWD", b"NLSPATH", b"ENVTOOLS_SNAPSHOT_DIR",
    b"HOME", b"USER", b"SHELL", b"fish_greeting", b"a", b"_A", b"A1", b"x_y",
    b"PYTHONPATH", b"YASH_AFTER_CD", b"KSH_VERSION",
]  # fmt: skip

# Names no POSIX shell can export: they go to the envdir and JSON only.
ODD_NAMES = [
    b"A-B", b"1X", b"A B", b"A.B", b"\xc3\xa4", b"A\nB", b"-X", b"A:B", b"\xff",
    b"A'B", b"$A", b"A\\B",
]  # fmt: skip

IDENTIFIERS = st.from_regex(rb"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z", fullmatch=True)
NAMES = (
    st.sampled_from(NAME_POOL)
    | st.sampled_from(ODD_NAMES)
    | IDENTIFIERS.filter(lambda name: not name.startswith((b"LC_", b"LANG", b"LD_")))
)

SMALL_VALUES = st.lists(
    st.sampled_from(PIECES)
    | st.binary(max_size=8).map(lambda b: b.replace(b"\0", b"")),
    max_size=8,
).map(b"".join)

# A few values are long: 64 KiB lines (docker's limit), and the largest an
# execve can carry for the name (computed once the name is known).
LENGTHS = st.sampled_from([None] * 76 + [65535, 65536, 100000, -1])


@st.composite
def environments(draw: st.DrawFn) -> dict[bytes, bytes]:
    """One environment: up to 12 variables with hostile names and values."""
    env = {}
    for _ in range(draw(st.integers(0, 12))):
        name = draw(NAMES)
        value = draw(SMALL_VALUES)
        length = draw(LENGTHS)
        if length is not None:
            if length < 0:
                length = MAX_ARG_STRLEN - len(name) - 2
            seed = value or b"x"
            value = (seed * (length // len(seed) + 1))[:length]
        env[name] = value
    return env


def expected_snapshot(env: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """What the writer keeps of *env*: not the identity names."""
    from envtools.snapshot import NOT_SAVED
    from envtools.snapshot import envdir

    return {
        name: value
        for name, value in sorted(env.items())
        if name not in NOT_SAVED and envdir.file_name_problem(name) is None
    }


def parse_nul(data: bytes) -> dict[bytes, bytes]:
    """``NAME=value\\0`` entries into a mapping."""
    pairs = (entry.partition(b"=") for entry in data.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


def save_in_process(directory: Path, env: dict[bytes, bytes]) -> None:
    """The writer's core, as save-container-env calls it."""
    from envtools.snapshot import writer

    writer.save(writer.Request(str(directory), "root"), env)


def start_batch(
    argv: list[str], scripts: list[Path], out: Path, label: str, fish: bool = False
) -> tuple[subprocess.Popen[bytes], list[Path]]:
    """Start one shell process that sources each script in turn.

    POSIX shells source each in a subshell; fish has none, so after each
    dump it sources ``SCRIPT.erase``, which erases the names SCRIPT set.

    :returns: the running shell and the ``env -0`` dump of each script.
    """
    dumps = [out / f"{label}-{index}" for index in range(len(scripts))]
    template = (
        "source '{0}'; /usr/bin/env -0 > '{1}'; source '{0}.erase'\n"
        if fish
        else "( . '{0}'; /usr/bin/env -0 > '{1}' )\n"
    )
    batch = out / f"batch-{label}"
    pairs = zip(scripts, dumps, strict=True)
    batch.write_text("".join(template.format(s, d) for s, d in pairs))
    process = subprocess.Popen(
        [*argv, str(batch)],
        env={**SHELL_ENV, "HOME": str(out)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return process, dumps


def finish_batch(process: subprocess.Popen[bytes]) -> None:
    """Wait for a batch shell; it must succeed without a word."""
    stdout, stderr = process.communicate(timeout=300)
    result = subprocess.CompletedProcess(
        process.args, process.returncode, stdout, stderr
    )
    check(result, 0, b"", b"")


def check_shell_dump(shell: str, dump: Path, expected: dict[bytes, bytes]) -> None:
    """The variables a shell exported after sourcing: exactly *expected*."""
    from envtools.snapshot import shell as shellfile

    seen = parse_nul(dump.read_bytes())
    wanted = {n: v for n, v in expected.items() if shellfile.name_problem(n) is None}
    if shell == "yash":
        wanted = {n: v for n, v in wanted.items() if _utf8(v)}
    got = {n: v for n, v in seen.items() if n in wanted}
    assert got == wanted, shell
    extra = set(seen) - set(wanted) - SHELL_OWN - {n.encode() for n in SHELL_ENV}
    if shell == "yash":
        extra -= {n for n in expected if not _utf8(expected[n])}
    assert extra == set(), shell


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root-owned directory the snapshots of this module go under."""
    return tmp_path_factory.mktemp("roundtrip")


@pytest.fixture(autouse=True)
def no_canary():
    """No value was ever executed: the canary file never appears."""
    yield
    exists = os.path.exists(CANARY)
    if exists:
        os.unlink(CANARY)
    assert not exists, "a value was executed as a command"


@settings(
    max_examples=BATCHES,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
)
@given(batch=st.lists(environments(), min_size=BATCH, max_size=BATCH))
def test_bulk_roundtrip(workdir, batch):
    """Every environment of a batch comes back exact from every format and shell."""
    from envtools import formats
    from envtools.snapshot import jsonfile
    from envtools.snapshot import load

    out = workdir / "batch"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(mode=0o755)
    scripts, fish_scripts, fish_names, expected_all = [], [], [], []
    for index, env in enumerate(batch):
        directory = out / f"env{index}"
        save_in_process(directory, env)
        expected = expected_snapshot(env)
        expected_all.append(expected)

        assert load.load(str(directory)) == expected
        json_text = Path(f"{directory}.json").read_bytes()
        assert jsonfile.loads(json_text) == expected
        fish, left_out = formats.render_fish(expected)
        names = [n for n in expected if n not in dict(left_out)]
        fish_path = out / f"env{index}.fish"
        fish_path.write_bytes(fish)
        erase = b"set -e -g " + b" ".join(names) + b"\n" if names else b""
        Path(f"{fish_path}.erase").write_bytes(erase)
        fish_scripts.append(fish_path)
        fish_names.append(names)
        scripts.append(Path(f"{directory}.sh"))
        check_dotenv(expected)

    # All shells at once: the batches are independent, and CI has two cores.
    running = {
        name: start_batch(shell, scripts, out, name) for name, shell in SHELLS.items()
    }
    fish_run = start_batch(["fish", "--no-config"], fish_scripts, out, "fish", True)
    for name, (process, dumps) in running.items():
        finish_batch(process)
        for dump, expected in zip(dumps, expected_all, strict=True):
            check_shell_dump(name, dump, expected)
            tally("roundtrip shell sourcings", **{name: 1})
    finish_batch(fish_run[0])
    fish = zip(fish_run[1], expected_all, fish_names, strict=True)
    for dump, expected, names in fish:
        seen = parse_nul(dump.read_bytes())
        assert {n: seen.get(n) for n in names} == {n: expected[n] for n in names}
        tally("roundtrip shell sourcings", fish=1)

    variables = sum(len(env) for env in expected_all)
    tally("roundtrip bulk", environments=BATCH, variables=variables, exact=BATCH)


def check_dotenv(expected: dict[bytes, bytes]) -> None:
    """The dotenv rendering, parsed by python-dotenv, gives back what it kept."""
    from dotenv import dotenv_values

    from envtools import formats

    text, left_out = formats.render_dotenv(expected)
    kept = {n: v for n, v in expected.items() if n not in dict(left_out)}
    parsed = dotenv_values(stream=io.StringIO(text.decode("utf-8")))
    assert {n.encode(): (v or "").encode() for n, v in parsed.items()} == kept


def command_env(env: dict[bytes, bytes], directory: Path) -> dict[bytes, bytes]:
    """*env* for the installed writer: no names execve would mangle."""
    usable = {n: v for n, v in env.items() if b"=" not in n and n}
    usable[b"ENVTOOLS_SNAPSHOT_DIR"] = os.fsencode(directory)
    return usable


@settings(
    max_examples=COMMAND_EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
)
@given(env=environments())
def test_commands_roundtrip(workdir, env):
    """Through the installed commands: execve in, every reader out, exact."""
    directory = workdir / "command" / "snapshot"
    shutil.rmtree(directory.parent, ignore_errors=True)
    directory.parent.mkdir(mode=0o755)
    given_env = command_env(env, directory)

    saved = run([command("save-container-env")], env=given_env)
    assert saved.returncode == 0, saved.stderr
    expected = expected_snapshot(given_env)

    where = ["--dir", str(directory)]
    nul = run([command("container-env"), *where, "--format", "nul"], env={})
    check(nul, 0, stderr=b"")
    assert parse_nul(nul.stdout) == expected

    as_json = run([command("container-env"), *where, "--format", "json"], env={})
    check(as_json, 0, stderr=b"")
    document = json.loads(as_json.stdout)
    decoded = {
        n.encode("utf-8", "surrogateescape"): v.encode("utf-8", "surrogateescape")
        for n, v in document.items()
    }
    assert decoded == expected

    ran = run(
        [command("with-container-env"), "--clear", *where, "/usr/bin/env", "-0"], env={}
    )
    check(ran, 0, stderr=b"")
    assert parse_nul(ran.stdout) == expected
    tally("roundtrip commands", environments=1, exact=1, variables=len(expected))


def test_fish_path_with_empty_element_left_out(snapshot_dir):
    """fish would read PATH '' or 'a::b' back with '.': such values are left out."""
    from support.snapshots import write_snapshot

    env = {b"CDPATH": b"a::b", b"MANPATH": b"", b"OTHER_PATH": b":a:", b"PATH": b""}
    write_snapshot(snapshot_dir, env)
    argv = [command("container-env"), "--dir", str(snapshot_dir), "--format", "fish"]
    result = run(argv, env={})
    reason = "fish turns an empty element of it into '.'"
    check(
        result,
        0,
        b"set -gx MANPATH ''\nset -gx OTHER_PATH ':a:'\n",
        f"container-env: warning: left out 'CDPATH': {reason}\n"
        f"container-env: warning: left out 'PATH': {reason}\n".encode(),
    )
    sourced = subprocess.run(
        ["fish", "--no-config", "-c", "source; /usr/bin/env -0"],
        input=result.stdout,
        env=SHELL_ENV,
        capture_output=True,
        timeout=30,
    )
    check(sourced, 0, stderr=b"")
    seen = parse_nul(sourced.stdout)
    assert (seen[b"MANPATH"], seen[b"OTHER_PATH"]) == (b"", b":a:")
