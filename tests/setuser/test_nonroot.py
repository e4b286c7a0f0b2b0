"""A caller that is not root: exec when it already is the target, else 125."""

from __future__ import annotations

import pytest

from support.child import AS_NOBODY
from support.child import REPORT
from support.child import assert_switched
from support.child import run_report
from support.proc import base_env
from support.proc import check
from support.proc import run

FORMS = {"plain": [], "click": ["--"]}


@pytest.fixture(params=sorted(FORMS))
def as_nobody(request, public_install):
    """Build ``setuser [--] SPEC COMMAND...`` run as nobody:nogroup."""
    prefix = [*AS_NOBODY, str(public_install / "setuser"), *FORMS[request.param]]

    def build(spec, *argv):
        return [*prefix, spec, *argv]

    return build


@pytest.mark.parametrize("spec", ["nobody", "65534", "nobody:nogroup", "65534:65534"])
def test_same_target_execs(as_nobody, spec):
    """A caller that already is the target runs the command, unchanged."""
    report, _, pid = run_report(as_nobody(spec, *REPORT), base_env())

    assert_switched(report, 65534, 65534, set())
    assert report.pid == pid


def test_same_target_keeps_environment_rule(as_nobody):
    """The environment rule holds without a switch: HOME, USER, LOGNAME set."""
    report, _, _ = run_report(as_nobody("nobody", *REPORT), base_env(HOME="/root"))

    assert report.environ[b"HOME"] == b"/nonexistent"
    assert report.environ[b"USER"] == b"nobody"


@pytest.mark.parametrize(
    ("spec", "name"),
    [("www-data", "www-data"), ("nobody:www-data", "nobody"), ("0", "root")],
)
def test_other_target_needs_root(as_nobody, spec, name):
    """Any other target is refused with one line that says root is needed."""
    result = run(as_nobody(spec, "/bin/echo", "ran"), env=base_env())

    line = f"setuser: cannot switch to user '{name}': root needed\n"
    check(result, 125, stdout=b"", stderr=line.encode())


def test_not_found_as_non_root(as_nobody):
    """Exec failures keep their statuses without a switch."""
    result = run(as_nobody("nobody", "etnosuchcommand"), env=base_env())

    check(
        result,
        127,
        stdout=b"",
        stderr=b"setuser: command 'etnosuchcommand' not found\n",
    )
