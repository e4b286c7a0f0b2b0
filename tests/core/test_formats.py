"""Every output format of container-env, read back by its consumer.

fish and python-dotenv are real; docker and systemd are read with the
parsers in support.envfiles, written from their documentation.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from support.envfiles import Rejected
from support.envfiles import parse_docker
from support.envfiles import parse_systemd
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run
from support.shells import LEGACY_LOCALES
from support.shells import SHELLS
from support.snapshots import write_snapshot

from envtools import formats
from envtools.snapshot import jsonfile

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="snapshots are root's")

VALUES = [
    b"plain",
    b"",
    b"two\nlines",
    b"ends in newlines\n\n",
    b'it\'s "quoted" \\ back\\',
    b"a=b=c",
    b"$HOME ${HOME} `id` $(id)",
    b"\ttab and  spaces ",
    b"#not a comment",
    b";semi",
    b"caf\xc3\xa9 \xe2\x82\xac",
    b"\xff\xfe raw",
    b"carriage\rreturn",
    b"x" * 100_000,
    b"bell\x07",
    b"ends in cr\r",
]

VARIABLES = {b"VAL_%02d" % index: value for index, value in enumerate(VALUES)}

# Which of VALUES each format must leave out, by index.
LEFT_OUT = {
    "sh": set(),
    "json": set(),
    "nul": set(),
    "fish": {11},
    "dotenv": {6, 11, 12, 15},
    "docker": {2, 3, 11, 13, 15},
    "systemd": {11, 12, 14, 15},
}

NAMES = [b"a.b", b"A-B", b"1X", b"x y", b"#x", b"_ok", b"PWD"]

# Which of NAMES each format must leave out.
NAMES_LEFT_OUT = {
    "json": set(),
    "nul": set(),
    "fish": {b"a.b", b"A-B", b"x y", b"#x", b"PWD"},
    "dotenv": {b"x y", b"#x"},
    "docker": {b"x y", b"#x"},
    "systemd": {b"a.b", b"A-B", b"1X", b"x y", b"#x"},
}

_WARNING = re.compile(rb"container-env: warning: left out '([^']*)': [^\n]+\n")


def _render(directory: Path, format: str) -> tuple[bytes, set[bytes]]:
    """Run container-env in *format*; return stdout and the names left out."""
    result = run(
        [command("container-env"), "--dir", str(directory), "--format", format]
    )
    check(result, 0)
    left_out = set(_WARNING.findall(result.stderr))
    assert _WARNING.sub(b"", result.stderr) == b"", result.stderr
    return result.stdout, left_out


def _env0(output: bytes, names: set[bytes]) -> dict[bytes, bytes]:
    """The variables among *names* in an ``env -0`` listing."""
    pairs = (entry.partition(b"=") for entry in output.split(b"\0") if entry)
    return {name: value for name, _, value in pairs if name in names}


def _read_back(format: str, text: bytes, path: Path, names: set[bytes]) -> dict:
    """Parse *text* with the format's consumer; bytes names and values."""
    path.write_bytes(text)
    if format == "fish":
        script = f"source {path}; /usr/bin/env -0"
        result = run(["fish", "--no-config", "-c", script], env=base_env())
        check(result, 0, stderr=b"")
        return _env0(result.stdout, names)
    if format == "dotenv":
        values = dotenv_values(path)
        return {k.encode(): (v or "").encode() for k, v in values.items()}
    if format == "docker":
        return {k.encode(): v.encode() for k, v in parse_docker(text).items()}
    if format == "systemd":
        kept, ignored = parse_systemd(text)
        assert ignored == []
        return {k.encode(): v.encode() for k, v in kept.items()}
    if format == "json":
        return jsonfile.loads(text)
    assert format == "nul"
    return _env0(text, names)


@pytest.mark.parametrize(
    "format", ["fish", "json", "dotenv", "docker", "systemd", "nul"]
)
def test_values_round_trip(format: str, tmp_path: Path) -> None:
    """Each value comes back exactly, or is left out and named on stderr."""
    directory = write_snapshot(tmp_path / "snap", VARIABLES)
    text, left_out = _render(directory, format)
    expected_out = {b"VAL_%02d" % index for index in LEFT_OUT[format]}
    assert left_out == expected_out
    expected = {k: v for k, v in VARIABLES.items() if k not in expected_out}
    parsed = _read_back(format, text, tmp_path / "out", set(VARIABLES))
    assert parsed == expected


@pytest.mark.parametrize("format", sorted(NAMES_LEFT_OUT))
def test_names_round_trip(format: str, tmp_path: Path) -> None:
    """Each name comes back intact, or is left out and named on stderr."""
    env = {name: b"value of " + name for name in NAMES}
    directory = write_snapshot(tmp_path / "snap", env)
    text, left_out = _render(directory, format)
    assert left_out == NAMES_LEFT_OUT[format]
    expected = {k: v for k, v in env.items() if k not in left_out}
    parsed = _read_back(format, text, tmp_path / "out", set(expected))
    assert parsed == expected


@pytest.mark.parametrize("shell", ["dash", "bash", "zsh", "mksh"])
def test_sh_evaluated_by_shells(shell: str, tmp_path: Path) -> None:
    """The default format, given to eval, sets every value exactly."""
    env = {k: v for k, v in VARIABLES.items() if k != b"VAL_11"}
    directory = write_snapshot(tmp_path / "snap", env)
    script = f'eval "$({command("container-env")} --dir {directory})"; env -0'
    result = run([shell, "-c", script], env=base_env())
    check(result, 0, stderr=b"")
    assert _env0(result.stdout, set(env)) == env


@pytest.mark.parametrize("locale", ["C", "C.UTF-8", *LEGACY_LOCALES])
@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_sh_eval_never_ends_the_script(
    shell: str, locale: str, legacy_locales: str, tmp_path: Path
) -> None:
    """After eval the script goes on in every shell; yash skips what it cannot hold.

    A ``return`` guard, right for a sourced file, would end yash's whole
    script here with status 0: an entrypoint's ``exec app`` would never run.
    """
    env = {b"A": b"plain", b"U": "\u00e9t\u00e9".encode(), b"BAD": b"\xff", b"Z": b"z"}
    directory = write_snapshot(tmp_path / "snap", env)
    script = f'eval "$({command("container-env")} --dir {directory})"'
    script += '; echo "rc=$?" >&2; exec /usr/bin/env -0'
    shell_env = {"PATH": "/usr/bin:/bin", "LC_ALL": locale, "LOCPATH": legacy_locales}

    result = run([*SHELLS[shell], "-c", script], env=shell_env)

    check(result, 0, stderr=b"rc=0\n")
    expected = dict(env)
    if shell == "yash":
        del expected[b"BAD"]
        if locale != "C.UTF-8":
            del expected[b"U"]
    assert _env0(result.stdout, set(env)) == expected


def test_docker_leaves_out_byte_order_mark_names() -> None:
    """A name starting with U+FEFF would lose it as docker's first line."""
    bom = "\ufeff".encode()
    env = {bom + b"APP": b"v", bom: b"w", b"OK": b"1"}
    text, problems = formats.render_docker(env)
    reason = "docker strips a leading byte-order mark"
    assert problems == [(bom + b"APP", reason), (bom, reason)]
    assert parse_docker(text) == {"OK": "1"}
    assert parse_docker(bom + b"APP=v\n") == {"APP": "v"}


def test_docker_line_limit_is_exact(tmp_path: Path) -> None:
    """A line one byte under 64 KiB is written, one of 64 KiB is left out."""
    longest = b"v" * (64 * 1024 - 1 - len(b"A="))
    env = {b"A": longest, b"B": longest + b"v"}
    directory = write_snapshot(tmp_path / "snap", env)
    result = run(
        [command("container-env"), "--dir", str(directory), "--format", "docker"]
    )
    check(
        result,
        0,
        stdout=b"A=" + longest + b"\n",
        stderr=b"container-env: warning: left out 'B': "
        b"docker cannot read a line of 64 KiB or more\n",
    )
    assert parse_docker(result.stdout) == {"A": longest.decode()}
    with pytest.raises(Rejected):
        parse_docker(b"B=" + longest + b"v\n")


def test_dotenv_stream_keeps_everything_else(tmp_path: Path) -> None:
    """python-dotenv reading the output from a stream sees the same values."""
    directory = write_snapshot(tmp_path / "snap", VARIABLES)
    text, left_out = _render(directory, "dotenv")
    values = dotenv_values(stream=io.StringIO(text.decode()))
    assert set(values) == {k.decode() for k in VARIABLES} - {
        n.decode() for n in left_out
    }


def test_nul_output_feeds_env(tmp_path: Path) -> None:
    """``xargs -0 env`` given the nul format runs with every value intact."""
    directory = write_snapshot(tmp_path / "snap", VARIABLES)
    text, _ = _render(directory, "nul")
    result = subprocess.run(
        ["xargs", "-0", "env", "-i", "env", "-0"],
        input=text,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _env0(result.stdout, set(VARIABLES)) == VARIABLES


_names = st.binary(min_size=1, max_size=12).filter(
    lambda n: b"=" not in n and b"\0" not in n
)
_values = st.binary(max_size=40).filter(lambda v: b"\0" not in v) | st.text(
    alphabet="${}:-#'\"\\ \t\r\nab=", max_size=20
).map(str.encode)
_envs = st.dictionaries(_names, _values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(_envs)
def test_dotenv_never_mangles(env: dict[bytes, bytes]) -> None:
    """Whatever dotenv renders, python-dotenv reads back exactly."""
    text, problems = formats.render_dotenv(env)
    kept = {k: v for k, v in env.items() if k not in dict(problems)}
    values = dotenv_values(stream=io.StringIO(text.decode()), interpolate=True)
    assert {k.encode(): (v or "").encode() for k, v in values.items()} == kept


@settings(max_examples=300, deadline=None)
@given(_envs)
def test_docker_never_mangles(env: dict[bytes, bytes]) -> None:
    """Whatever docker renders, the documented grammar reads back exactly."""
    text, problems = formats.render_docker(env)
    kept = {k: v for k, v in env.items() if k not in dict(problems)}
    parsed = parse_docker(text)
    assert {k.encode(): v.encode() for k, v in parsed.items()} == kept


@settings(max_examples=300, deadline=None)
@given(_envs)
def test_systemd_never_mangles(env: dict[bytes, bytes]) -> None:
    """Whatever systemd renders, the documented grammar reads back exactly."""
    text, problems = formats.render_systemd(env)
    kept = {k: v for k, v in env.items() if k not in dict(problems)}
    parsed, ignored = parse_systemd(text)
    assert ignored == []
    assert {k.encode(): v.encode() for k, v in parsed.items()} == kept
