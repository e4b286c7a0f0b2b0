"""Man pages: every option of --help documented, and rendering without warnings."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run

MAN = Path(__file__).resolve().parent.parent / "man"

COMMANDS = ["setuser", "save-container-env", "container-env", "with-container-env"]


LONG_OPTION = re.compile(rb"(?<![\w-])--[a-z][a-z0-9-]*")

# A fixed width and locale, so that line filling and its warnings do not
# depend on the terminal the tests run in.
RENDER_ENV = base_env(MANWIDTH="80")


def page_of(name: str) -> Path:
    """The page of command *name* in man/, in whatever section it is."""
    pages = sorted(MAN.glob(f"{name}.[1-8]"))
    assert pages, f"man/{name}.[1-8] is missing"
    return pages[0]


def page_text(page: Path) -> bytes:
    """The page source with roff escapes for hyphens and breaks removed."""
    text = page.read_bytes()
    for escape, plain in ((rb"\-", b"-"), (rb"\%", b""), (rb"\&", b"")):
        text = text.replace(escape, plain)
    return text


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_option_documented(name):
    """Each long option that --help lists appears in the command's page."""
    page = page_text(page_of(name))
    result = run([command(name), "--help"], env=base_env())
    check(result, 0, stderr=b"")

    options = set(LONG_OPTION.findall(result.stdout))

    assert options, result.stdout
    missing = sorted(option for option in options if option not in page)
    assert missing == []


@pytest.mark.parametrize("name", COMMANDS)
def test_groff_renders_without_warnings(name):
    """groff with all warnings on has nothing to say about the page."""
    page = page_of(name)
    if not shutil.which("groff"):
        pytest.skip("groff is not installed")

    result = run(["groff", "-man", "-ww", "-z", str(page)], env=RENDER_ENV)

    check(result, 0, stdout=b"", stderr=b"")


@pytest.mark.parametrize("name", COMMANDS)
def test_man_renders_without_warnings(name):
    """man --warnings formats the page with no warning output."""
    page = page_of(name)
    if not shutil.which("man"):
        pytest.skip("man is not installed")

    result = run(["man", "--warnings", "-l", str(page)], env=RENDER_ENV)

    check(result, 0, stderr=b"")
    assert name.encode() in result.stdout
