"""envtools.creds: user spec parsing, lookup, the switch and its checks."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envtools import creds
from envtools.errors import EnvtoolsError
from support.proc import check
from support.proc import command
from support.proc import run

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("65534", 65534),
        ("007", 7),
        ("2147483647", 2147483647),
        ("nobody", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1 ", None),
        ("1_000", None),
        ("1.0", None),
        ("0x10", None),
        ("\uff11", None),
        ("\u0661", None),
        ("\u00b2", None),
        ("", None),
    ],
)
def test_parse_id(text, value):
    """Only ASCII digit strings are ids; everything else is a name."""
    assert creds.parse_id(text, "uid") == value


@pytest.mark.parametrize("text", ["2147483648", "4294967295", "4294967296", "9" * 40])
def test_parse_id_out_of_range(text):
    """Digit strings past 2147483647 are refused, never taken as names."""
    with pytest.raises(EnvtoolsError) as caught:
        creds.parse_id(text, "gid")

    assert caught.value.message == f"gid '{text}' out of range (0 to 2147483647)"


@given(st.text())
def test_parse_id_never_negative_or_huge(text):
    """Whatever the text, an id that comes out is within 0..2147483647."""
    try:
        value = creds.parse_id(text, "uid")
    except EnvtoolsError:
        return
    assert value is None or 0 <= value <= creds.MAX_ID


@pytest.mark.parametrize(
    ("spec", "parts"),
    [
        ("nobody", ("nobody", None)),
        ("nobody:nogroup", ("nobody", "nogroup")),
        ("1:2", ("1", "2")),
        ("a:b:c", ("a", "b:c")),
    ],
)
def test_split_spec(spec, parts):
    """A spec splits at its first colon; no colon means no group."""
    assert creds.split_spec(spec) == parts


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "invalid user spec '': no user"),
        (":", "invalid user spec ':': no user"),
        (":g", "invalid user spec ':g': no user"),
        ("u:", "invalid user spec 'u:': no group after ':'"),
    ],
)
def test_split_spec_refuses_empty_parts(spec, message):
    """Empty specs and empty parts are errors, never defaults."""
    with pytest.raises(EnvtoolsError) as caught:
        creds.split_spec(spec)

    assert caught.value.message == message


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        (
            "nobody",
            creds.Target(
                65534, 65534, (65534,), "nobody", "/nonexistent", "/usr/sbin/nologin"
            ),
        ),
        (
            "65534",
            creds.Target(
                65534, 65534, (65534,), "nobody", "/nonexistent", "/usr/sbin/nologin"
            ),
        ),
        (
            "www-data:0",
            creds.Target(33, 0, (0,), "www-data", "/var/www", "/usr/sbin/nologin"),
        ),
        (
            "33:nogroup",
            creds.Target(
                33, 65534, (65534,), "www-data", "/var/www", "/usr/sbin/nologin"
            ),
        ),
        ("54321:54322", creds.Target(54321, 54322, (54322,), "54321", "/", None)),
        ("54321:www-data", creds.Target(54321, 33, (33,), "54321", "/", None)),
    ],
)
def test_resolve(spec, target):
    """resolve() fills every field from the databases, or the defaults."""
    assert creds.resolve(spec) == target


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("etnosuchuser", "user 'etnosuchuser' not found"),
        ("nobody:etnosuchgroup", "group 'etnosuchgroup' not found"),
        ("a\0b", "user 'a\\x00b' not found"),
        ("nobody:a\0b", "group 'a\\x00b' not found"),
        ("54321", "uid '54321' has no passwd entry: give a group, as '54321:GID'"),
    ],
)
def test_resolve_refuses(spec, message):
    """Unknown names and a bare uid without an entry are errors."""
    with pytest.raises(EnvtoolsError) as caught:
        creds.resolve(spec)

    assert caught.value.message == message
    assert caught.value.status is None


def test_resolve_groups_from_database():
    """Without a group, the groups are getgrouplist's, primary included, once."""
    target = creds.resolve("root")

    assert target.groups == tuple(dict.fromkeys(os.getgrouplist("root", 0)))
    assert target.gid in target.groups


def test_identity():
    """identity() gives HOME, USER and LOGNAME, and never UID."""
    target = creds.Target(5, 6, (6,), "svc", "/srv", None)

    assert creds.identity(target) == {
        b"HOME": b"/srv",
        b"USER": b"svc",
        b"LOGNAME": b"svc",
    }


def test_target_is_immutable_and_comparable():
    """A Target cannot be changed, compares by value and hashes."""
    target = creds.Target(5, 6, [6, 7], "svc", "/srv", None)

    with pytest.raises(AttributeError):
        target.uid = 0
    assert target.groups == (6, 7)
    assert target == creds.Target(5, 6, (6, 7), "svc", "/srv", None)
    assert len({target, creds.Target(5, 6, (6, 7), "svc", "/srv", None)}) == 1
    assert repr(target).startswith("Target(uid=5, gid=6, groups=(6, 7)")


def test_is_current_for_this_process():
    """The process's own ids are current; another uid is not."""
    uid, gid = os.getuid(), os.getgid()
    mine = creds.Target(uid, gid, tuple(os.getgroups()), "me", "/", None)
    other = creds.Target(uid + 1, gid, tuple(os.getgroups()), "other", "/", None)

    assert creds.is_current(mine)
    assert not creds.is_current(other)


def run_python(code, *, prefix=()):
    """Run *code* with this interpreter, optionally under a *prefix* command."""
    return run([*prefix, sys.executable, "-c", textwrap.dedent(code)])


SWITCH_AND_SHOW = """
    import os
    from envtools import creds
    from envtools.errors import EnvtoolsError
    try:
        creds.switch(creds.resolve({spec!r}))
    except EnvtoolsError as error:
        print(error.message)
    else:
        print(os.getresuid(), os.getresgid(), sorted(os.getgroups()))
"""


@ROOT_ONLY
def test_switch_sets_everything():
    """switch() sets real, effective and saved ids and exactly the groups."""
    result = run_python(SWITCH_AND_SHOW.format(spec="nobody:www-data"))

    check(result, 0, stdout=b"(65534, 65534, 65534) (33, 33, 33) [33]\n", stderr=b"")


@ROOT_ONLY
@pytest.mark.parametrize(
    ("capability", "message"),
    [
        ("setgid", "unable to set supplementary groups: Operation not permitted"),
        ("setuid", "unable to set uid: Operation not permitted"),
    ],
)
def test_switch_step_fails_for_real(capability, message):
    """A root without the capability for a step gets that step's one line."""
    prefix = ["setpriv", f"--bounding-set=-{capability}", f"--inh-caps=-{capability}"]

    result = run_python(SWITCH_AND_SHOW.format(spec="nobody"), prefix=prefix)

    check(result, 0, stdout=f"{message}\n".encode(), stderr=b"")


@ROOT_ONLY
def test_regained_root_is_refused():
    """If uid 0 can be regained after the switch, setuser refuses to exec.

    SECBIT_NO_SETUID_FIXUP keeps the capabilities across setresuid(2), so
    the dropped process really can take uid 0 back: a real kernel state.
    """
    prefix = ["setpriv", "--securebits", "+no_setuid_fixup"]

    result = run([*prefix, command("setuser"), "nobody", "/usr/bin/id"])

    message = b"setuser: switch verification failed: uid 0 could be regained\n"
    check(result, 125, stdout=b"", stderr=message)
