"""The plain form's start-up: no click, nothing costly imported."""

from __future__ import annotations

import re
import sys

import pytest

from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run

# Modules the plain path must not load: each costs milliseconds, and click
# alone costs more than the whole switch and exec.
COSTLY = {"click", "typing", "dataclasses", "logging", "enum", "signal", "ctypes", "re"}

IMPORTED = re.compile(rb"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", re.MULTILINE)


def imported_by(args):
    """The modules Python imports to run *args*, as -X importtime lists them."""
    result = run([sys.executable, "-X", "importtime", *args], env=base_env())
    check(result, 0, stdout=b"")
    return {name.decode() for name in IMPORTED.findall(result.stderr)}


def test_plain_form_imports_nothing_costly():
    """setuser SPEC CMD loads none of the costly modules the interpreter did not."""
    # The interpreter's own start-up (site, .pth files) is not setuser's cost.
    baseline = imported_by(["-c", "pass"])

    modules = imported_by([command("setuser"), "nobody", "true"]) - baseline

    assert "envtools.creds" in modules
    assert sorted(COSTLY & modules) == []


@pytest.mark.parametrize("option", ["-v", "--no-new-privs", "--"])
def test_option_form_uses_click(option):
    """Any option sends the call through click; the plain parser is a shortcut."""
    modules = imported_by([command("setuser"), option, "nobody", "true"])

    assert "click" in modules
