"""setuser with odd user specs: status 125 and one line, or a documented result."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from support.campaign import one_line
from support.campaign import tally
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users"),
]

ID = ["/usr/bin/id", "-u"]

LONG = "a" * 131071

# spec -> the one stderr line, without "setuser: " and the newline.
REFUSED = {
    "": "invalid user spec '': no user",
    ":": "invalid user spec ':': no user",
    "::": "invalid user spec '::': no user",
    ":root": "invalid user spec ':root': no user",
    ":0": "invalid user spec ':0': no user",
    "root:": "invalid user spec 'root:': no group after ':'",
    "0:": "invalid user spec '0:': no group after ':'",
    " ": "user ' ' not found",
    " 0": "user ' 0' not found",
    "0 ": "user '0 ' not found",
    "root ": "user 'root ' not found",
    "root : root": "user 'root ' not found",
    "ROOT": "user 'ROOT' not found",
    "+0": "user '+0' not found",
    "0x10": "user '0x10' not found",
    "1e3": "user '1e3' not found",
    "1_000": "user '1_000' not found",
    "\u0663": "user '\u0663' not found",
    "\uff11": "user '\uff11' not found",
    "root:root:root": "group 'root:root' not found",
    "nobody:-1": "group '-1' not found",
    "nobody:+0": "group '+0' not found",
    "2147483648": "uid '2147483648' out of range (0 to 2147483647)",
    "4294967295": "uid '4294967295' out of range (0 to 2147483647)",
    "4294967295:0": "uid '4294967295' out of range (0 to 2147483647)",
    "0:4294967295": "gid '4294967295' out of range (0 to 2147483647)",
    "99999999999999999999999": (
        "uid '99999999999999999999999' out of range (0 to 2147483647)"
    ),
    "2147483647": (
        "uid '2147483647' has no passwd entry: give a group, as '2147483647:GID'"
    ),
    "a\nb": "user 'a\\x0ab' not found",
    "a\rb\tc": "user 'a\\x0db\\x09c' not found",
    "\x1b[31mred": "user '\\x1b[31mred' not found",
    "root\u202e": "user 'root\\u202e' not found",
    "ro\u200bot": "user 'ro\\u200bot' not found",
    "a\u2028b": "user 'a\\u2028b' not found",
    "it's": "user 'it\\'s' not found",
    "back\\slash": "user 'back\\\\slash' not found",
    os.fsdecode(b"\xff\xfe"): "user '\\xff\\xfe' not found",
    os.fsdecode(b"caf\xc3"): "user 'caf\\xc3' not found",
    LONG: f"user '{LONG}' not found",
}

# Specs that look odd but are valid: spec -> the uid the command reports.
ACCEPTED = {
    "0": b"0\n",
    "00": b"0\n",
    "0000000000000000000000": b"0\n",
    "0:0": b"0\n",
    "root:0": b"0\n",
    "0:root": b"0\n",
    "2147483647:2147483647": b"2147483647\n",
    "nobody:0": b"65534\n",
}

# Specs that start with '-' are options to the plain form.
DASHED = {
    "-1": "no such option '-1'",
    "-0": "no such option '-0'",
}


def setuser_argv(spec: str, *argv: str) -> list[str | bytes]:
    """The plain form, or the ``--`` form when *spec* starts with '-'."""
    prefix: list[str | bytes] = [command("setuser")]
    if spec.startswith("-"):
        prefix.append("--")
    return [*prefix, os.fsencode(spec), *argv]


@pytest.mark.parametrize("spec", sorted(REFUSED), ids=repr)
def test_refused_spec(spec):
    """Each odd spec is refused with status 125 and its one exact line."""
    result = run(setuser_argv(spec, *ID), env=base_env())
    tally("setuser specs", tried=1, refused=1)
    expected = f"setuser: {REFUSED[spec]}\n".encode("utf-8", "surrogateescape")
    check(result, 125, b"", expected)


@pytest.mark.parametrize("spec", sorted(ACCEPTED), ids=repr)
def test_accepted_spec(spec):
    """Leading zeros, gid 0 and the largest id run as the man page says."""
    result = run(setuser_argv(spec, *ID), env=base_env())
    tally("setuser specs", tried=1, accepted=1)
    check(result, 0, ACCEPTED[spec], b"")


@pytest.mark.parametrize("spec", sorted(DASHED))
def test_dashed_spec_is_an_option(spec):
    """A spec with a leading '-' is an unknown option, unless after ``--``."""
    result = run([command("setuser"), spec, *ID], env=base_env())
    tally("setuser specs", tried=2, refused=2)
    message = f"setuser: {DASHED[spec]}\nTry 'setuser --help'.\n"
    check(result, 125, b"", message.encode())
    result = run([command("setuser"), "--", spec, *ID], env=base_env())
    check(result, 125, b"", f"setuser: user '{spec}' not found\n".encode())


# Parts built from what makes a spec odd: digits, signs, spaces, colons,
# control and invisible characters, other scripts' digits, bytes that are
# not UTF-8.
HAZARDS = st.sampled_from(
    ["0", "1", "9", "-", "+", ":", " ", "\t", "\n", "\x1b", "\u202e"]
    + ["\u0663", "\uff10", "root", "nobody", "x", "_", "$", "'", "\\", "\udcff"]
)
# argv cannot carry a NUL: execve(2) ends each string there.
SPECS = st.lists(HAZARDS, max_size=8).map("".join) | st.text(max_size=40).filter(
    lambda text: "\x00" not in text
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=SPECS)
def test_any_spec_fails_cleanly_or_runs(spec):
    """Any spec gives status 125 with one line, or runs the command as a uid."""
    result = run(setuser_argv(spec, *ID), env=base_env())
    tally("setuser specs (generated)", tried=1)
    if result.returncode == 0:
        tally("setuser specs (generated)", accepted=1)
        assert result.stdout.strip().isdigit() and result.stderr == b"", result
        return
    tally("setuser specs (generated)", refused=1)
    assert result.returncode == 125, result
    assert result.stdout == b"", result
    assert one_line(result.stderr, "setuser"), result
