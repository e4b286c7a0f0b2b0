"""User specs: every form, as the dropped child reports its credentials."""

from __future__ import annotations

import pytest

from support.child import REPORT
from support.child import assert_switched
from support.child import expected_environ
from support.child import run_report
from support.proc import base_env
from support.proc import check
from support.proc import run

NOBODY = 65534
NOGROUP = 65534
WWW_DATA = 33

# A uid and gid that no passwd or group entry names.
UNNAMED = 54321

# spec -> (uid, gid, supplementary groups, HOME, USER and LOGNAME)
VALID = {
    "nobody": (NOBODY, NOGROUP, {NOGROUP}, "/nonexistent", "nobody"),
    "65534": (NOBODY, NOGROUP, {NOGROUP}, "/nonexistent", "nobody"),
    "nobody:www-data": (NOBODY, WWW_DATA, {WWW_DATA}, "/nonexistent", "nobody"),
    "65534:33": (NOBODY, WWW_DATA, {WWW_DATA}, "/nonexistent", "nobody"),
    "nobody:33": (NOBODY, WWW_DATA, {WWW_DATA}, "/nonexistent", "nobody"),
    "65534:www-data": (NOBODY, WWW_DATA, {WWW_DATA}, "/nonexistent", "nobody"),
    "www-data": (WWW_DATA, WWW_DATA, {WWW_DATA}, "/var/www", "www-data"),
    "00033": (WWW_DATA, WWW_DATA, {WWW_DATA}, "/var/www", "www-data"),
    f"{UNNAMED}:{UNNAMED}": (UNNAMED, UNNAMED, {UNNAMED}, "/", str(UNNAMED)),
    f"{UNNAMED}:www-data": (UNNAMED, WWW_DATA, {WWW_DATA}, "/", str(UNNAMED)),
    f"{UNNAMED}:0": (UNNAMED, 0, {0}, "/", str(UNNAMED)),
}

NO_ENTRY_HINT = (
    f"setuser: uid '{UNNAMED}' has no passwd entry: give a group, as '{UNNAMED}:GID'\n"
)

# 65534 in fullwidth digits: digits to str.isdigit, a name to setuser.
FULLWIDTH = "\uff16\uff15\uff15\uff13\uff14"

# spec -> the one line setuser prints; every one exits 125.
INVALID = {
    "": "setuser: invalid user spec '': no user\n",
    ":": "setuser: invalid user spec ':': no user\n",
    ":www-data": "setuser: invalid user spec ':www-data': no user\n",
    "nobody:": "setuser: invalid user spec 'nobody:': no group after ':'\n",
    "etnosuchuser": "setuser: user 'etnosuchuser' not found\n",
    "nobody:etnosuchgroup": "setuser: group 'etnosuchgroup' not found\n",
    "etnosuchuser:www-data": "setuser: user 'etnosuchuser' not found\n",
    str(UNNAMED): NO_ENTRY_HINT,
    "2147483648": "setuser: uid '2147483648' out of range (0 to 2147483647)\n",
    "4294967295": "setuser: uid '4294967295' out of range (0 to 2147483647)\n",
    "18446744073709551615": (
        "setuser: uid '18446744073709551615' out of range (0 to 2147483647)\n"
    ),
    "nobody:4294967295": "setuser: gid '4294967295' out of range (0 to 2147483647)\n",
    "nobody:-1": "setuser: group '-1' not found\n",
    "+65534": "setuser: user '+65534' not found\n",
    " 65534": "setuser: user ' 65534' not found\n",
    "65534 ": "setuser: user '65534 ' not found\n",
    "65_534": "setuser: user '65_534' not found\n",
    FULLWIDTH: f"setuser: user '{FULLWIDTH}' not found\n",
    "\u0663\u0663": "setuser: user '\u0663\u0663' not found\n",
    "nobody:\u0663\u0663": "setuser: group '\u0663\u0663' not found\n",
    "a\nb": "setuser: user 'a\\x0ab' not found\n",
}


@pytest.mark.parametrize("spec", sorted(VALID))
def test_valid_spec(setuser, spec):
    """Each spec form runs the command with exactly the ids and names it names."""
    uid, gid, groups, home, user = VALID[spec]
    env = base_env()

    report, _, _ = run_report(setuser(spec, *REPORT), env)

    assert_switched(report, uid, gid, groups)
    assert report.environ == expected_environ(env, home, user)


def test_many_groups(setuser, many_groups_user):
    """A user in many groups gets all of them plus the primary, nothing else."""
    user, extra = many_groups_user
    env = base_env()

    report, _, _ = run_report(setuser(user.pw_name, *REPORT), env)

    assert_switched(report, user.pw_uid, user.pw_gid, {user.pw_gid, *extra})
    assert report.environ == expected_environ(env, user.pw_dir, user.pw_name)


def test_many_groups_by_uid(setuser, many_groups_user):
    """A bare uid with a passwd entry gets that user's groups, as the name does."""
    user, extra = many_groups_user

    report, _, _ = run_report(setuser(str(user.pw_uid), *REPORT), base_env())

    assert_switched(report, user.pw_uid, user.pw_gid, {user.pw_gid, *extra})


def test_explicit_group_replaces_memberships(setuser, many_groups_user):
    """With :group the supplementary list is exactly that group."""
    user, extra = many_groups_user

    report, _, _ = run_report(
        setuser(f"{user.pw_name}:{extra[0]}", *REPORT), base_env()
    )

    assert_switched(report, user.pw_uid, extra[0], {extra[0]})


@pytest.mark.parametrize("spec", sorted(INVALID))
def test_invalid_spec(setuser, spec):
    """A bad, unknown or incomplete spec is one line and 125; nothing runs."""
    result = run(setuser(spec, "/bin/echo", "ran"), env=base_env())

    check(result, 125, stdout=b"", stderr=INVALID[spec].encode())
