"""An install the target cannot read: nothing may load after the switch."""

from __future__ import annotations

import pytest

from support.child import AS_NOBODY
from support.child import REPORT
from support.child import assert_switched
from support.child import parse
from support.child import run_report
from support.proc import base_env
from support.proc import check
from support.proc import run

FORMS = {
    "plain": [],
    "click": ["--"],
    "verbose": ["-v"],
    "no-new-privs": ["--no-new-privs"],
}


@pytest.fixture(params=sorted(FORMS))
def hidden_setuser(request, hidden_install):
    """The hidden install's setuser, in each command-line form."""
    return [str(hidden_install / "setuser"), *FORMS[request.param]], request.param


def test_precondition_target_cannot_read_install(hidden_install):
    """nobody can read neither the hidden interpreter nor the envtools package."""
    for path in (hidden_install / "python3", hidden_install.parent / "lib"):
        result = run([*AS_NOBODY, "/usr/bin/test", "-r", str(path)])

        check(result, 1, stdout=b"", stderr=b"")


def test_switch_and_exec(hidden_setuser):
    """The switch and exec work when the target cannot read the install."""
    prefix, form = hidden_setuser

    report = run_report_any([*prefix, "nobody", *REPORT])

    nnp = int(form == "no-new-privs")
    assert_switched(report, 65534, 65534, {65534}, no_new_privs=nnp)


def test_not_found_after_switch(hidden_setuser):
    """A command missing after the switch is one line and 127, no traceback."""
    prefix, form = hidden_setuser

    result = run([*prefix, "nobody", "etnosuchcommand"], env=base_env())

    line = b"setuser: command 'etnosuchcommand' not found\n"
    check(result, 127, stdout=b"", stderr=_debug(form) + line)


def test_cannot_execute_after_switch(hidden_setuser):
    """A command the target may not run is one line and 126, no traceback."""
    prefix, form = hidden_setuser

    result = run([*prefix, "nobody", "/root"], env=base_env())

    line = b"setuser: cannot execute '/root': Permission denied\n"
    check(result, 126, stdout=b"", stderr=_debug(form) + line)


def run_report_any(argv):
    """Run the reporting child, allowing -v debug lines on stderr."""
    if "-v" not in argv:
        return run_report(argv, base_env())[0]
    result = run(argv, env=base_env())
    check(result, 0, stderr=_debug("verbose"))
    return parse(result.stdout)


def _debug(form):
    """The -v lines for a switch to nobody, or nothing in the other forms."""
    if form != "verbose":
        return b""
    return (
        b"setuser: debug: user 'nobody' uid 65534 gid 65534, 1 supplementary groups\n"
        b"setuser: debug: running as uid 65534 gid 65534\n"
    )
