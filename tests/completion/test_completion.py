"""Completion through real bash, fish and the zsh protocol, from the build.

Each test puts links to the built archive first on PATH, loads the
completion file that install.sh would install, and asks the shell.  Most
bash tests call the completion function with COMP_* filled in by hand; the
pty tests type at an interactive bash instead, so that ``complete -F``
and readline's own splitting of words at ':' are in the path.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.accounts import temp_group
from support.accounts import temp_user
from support.proc import base_env
from support.proc import check
from support.proc import run
from support.terminal import Terminal

COMMANDS = ["setuser", "save-container-env", "container-env", "with-container-env"]

# bash: fill in what bash sets for a completion function, then call it.
BASH = """
source "$1"
COMP_LINE=$2
COMP_POINT=${#COMP_LINE}
read -ra COMP_WORDS <<<"$COMP_LINE"
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
"$3" "${COMP_WORDS[0]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""

# The interactive bash's prompt, waited for before each line is typed.
PROMPT = "etprompt> "

# Bound to C-x: print the line readline is editing, between markers that the
# echo of this very definition does not contain.
SHOW_LINE = """bind -x '"\\C-x": printf "\\n=%s=%s=\\n" line "$READLINE_LINE"'"""

# How many ':' COMP_WORDBREAKS holds, as a line the shell prints.
SHOW_BREAKS = 'b=${COMP_WORDBREAKS//[^:]/}; echo "=breaks=${#b}="'


@pytest.fixture(scope="module")
def path(pyz_build: Path) -> str:
    """A PATH whose first entry holds a link per command to the archive."""
    links = pyz_build / "completion-links"
    if not links.exists():
        links.mkdir(mode=0o755)
        for name in COMMANDS:
            (links / name).symlink_to(pyz_build / "envtools.pyz")
    return f"{links}:{base_env()['PATH']}"


@pytest.fixture
def env(path: str, tmp_path: Path) -> dict[str, str]:
    """The shells' environment: the links on PATH, a snapshot of the test's
    own, so that a command that ran for real instead of completing could
    never touch /etc."""
    return base_env(PATH=path, ENVTOOLS_SNAPSHOT_DIR=str(tmp_path / "snapshot"))


@pytest.fixture(scope="module")
def account() -> Iterator[tuple[str, str]]:
    """A throwaway user and group with names no other account starts with."""
    with temp_group() as group, temp_user() as user:
        yield user.pw_name, group.gr_name


def bash(
    pyz_build: Path, env: dict[str, str], line: str
) -> subprocess.CompletedProcess[bytes]:
    """Complete *line* in bash, as if TAB was pressed at its end."""
    name = line.split()[0]
    script = pyz_build / "completion/bash" / name
    func = "_envtools_" + name.replace("-", "_")
    argv = ["bash", "--norc", "--noprofile", "-c", BASH, "bash"]
    return run(argv + [str(script), line, func], env=env)


def fish(
    pyz_build: Path, env: dict[str, str], line: str
) -> subprocess.CompletedProcess[bytes]:
    """Complete *line* in fish with ``complete -C``."""
    name = line.split()[0]
    script = pyz_build / "completion/fish" / f"{name}.fish"
    argv = ["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"]
    return run(argv, env=env)


def test_bash_options(pyz_build: Path, env: dict[str, str]) -> None:
    """bash completes an option name from the start of it."""
    check(bash(pyz_build, env, "setuser --no"), 0, b"--no-new-privs\n", b"")


def test_bash_format_values(pyz_build: Path, env: dict[str, str]) -> None:
    """bash completes --format with the formats container-env knows."""
    result = bash(pyz_build, env, "container-env --format j")
    check(result, 0, b"json\n", b"")


def test_bash_user_name(pyz_build: Path, env: dict[str, str]) -> None:
    """bash completes www-d to the user www-data."""
    check(bash(pyz_build, env, "setuser www-d"), 0, b"www-data\n", b"")


def test_bash_throwaway_user(
    pyz_build: Path, env: dict[str, str], account: tuple[str, str]
) -> None:
    """bash completes a user that exists only for this test."""
    user, _ = account
    check(bash(pyz_build, env, f"setuser {user[:-2]}"), 0, f"{user}\n".encode(), b"")


def test_bash_group_after_colon(
    pyz_build: Path, env: dict[str, str], account: tuple[str, str]
) -> None:
    """After USER: bash offers group names only, as it replaces after ':'."""
    _, group = account
    result = bash(pyz_build, env, f"setuser www-data:{group[:-1]}")
    check(result, 0, f"{group}\n".encode(), b"")


def test_bash_all_groups_after_colon(pyz_build: Path, env: dict[str, str]) -> None:
    """www-data:<TAB> in bash offers every group, root and www-data among them."""
    result = bash(pyz_build, env, "setuser www-data:")
    check(result, 0)
    assert {b"root", b"www-data"} <= set(result.stdout.split(b"\n"))


def test_bash_user_option(
    pyz_build: Path, env: dict[str, str], account: tuple[str, str]
) -> None:
    """bash completes the user spec given to with-container-env --user."""
    user, group = account
    result = bash(pyz_build, env, f"with-container-env --user {user}:{group[:-1]}")
    check(result, 0, f"{group}\n".encode(), b"")


def test_fish_user_name(pyz_build: Path, env: dict[str, str]) -> None:
    """fish completes www-d to the user www-data."""
    check(fish(pyz_build, env, "setuser www-d"), 0, b"www-data\n", b"")


def test_fish_group_after_colon(
    pyz_build: Path, env: dict[str, str], account: tuple[str, str]
) -> None:
    """fish completes USER:GR to the whole spec, user part kept."""
    user, group = account
    result = fish(pyz_build, env, f"setuser {user}:{group[:-1]}")
    check(result, 0, f"{user}:{group}\n".encode(), b"")


def test_fish_format_values(pyz_build: Path, env: dict[str, str]) -> None:
    """fish completes --format with the formats container-env knows."""
    result = fish(pyz_build, env, "container-env --format j")
    check(result, 0, b"json\n", b"")


def test_zsh_protocol(pyz_build: Path, env: dict[str, str]) -> None:
    """The command answers zsh's request with type, value and description."""
    env = dict(env, COMP_WORDS="setuser www-d", COMP_CWORD="1")
    env["_SETUSER_COMPLETE"] = "zsh_complete"
    check(run(["setuser"], env=env), 0, b"plain\nwww-data\n_\n", b"")


@pytest.mark.parametrize("name", COMMANDS)
def test_zsh_file_autoloads(pyz_build: Path, name: str) -> None:
    """Each zsh file is an autoload function for its command that zsh parses."""
    script = pyz_build / "completion/zsh" / f"_{name}"
    assert script.read_text().startswith(f"#compdef {name}\n")
    check(run(["zsh", "-n", str(script)]), 0, b"", b"")


@pytest.mark.parametrize("name", COMMANDS)
def test_completion_writes_no_snapshot(
    pyz_build: Path, env: dict[str, str], name: str
) -> None:
    """TAB after a bare command completes options; it never runs the command."""
    result = bash(pyz_build, env, f"{name} --he")
    check(result, 0, b"--help\n", b"")
    assert not os.path.exists(env["ENVTOOLS_SNAPSHOT_DIR"])


@pytest.fixture
def interactive(
    pyz_build: Path, env: dict[str, str], tmp_path: Path
) -> Iterator[Terminal]:
    """An interactive bash on a pty, every bash completion file sourced.

    HOME and HISTFILE point into the test's directory, so the history bash
    writes on hang-up stays there; INPUTRC=/dev/null keeps the machine's
    readline settings out.
    """
    env = dict(env, HOME=str(tmp_path), HISTFILE=str(tmp_path / "history"))
    env.update(TERM="dumb", INPUTRC="/dev/null", PS1=PROMPT)
    shell = Terminal(["bash", "--norc", "--noprofile", "-i"], env)
    try:
        shell.expect(PROMPT.encode())
        scripts = (pyz_build / "completion/bash" / name for name in COMMANDS)
        for line in [*(f"source {script}" for script in scripts), SHOW_LINE]:
            shell.send(line.encode() + b"\r")
            shell.expect(PROMPT.encode())
        yield shell
    finally:
        shell.close()


def tab(shell: Terminal, line: str) -> bytes:
    """Type *line* and TAB, then return the line as readline now holds it."""
    shell.send(line.encode() + b"\t\x18")
    return shell.expect(rb"=line=(.*?)=\r\n").group(1)


# What is typed before TAB, and the whole line readline holds after it.
TAB_LINES = [
    ("setuser www-d", "setuser www-data "),
    ("setuser --no", "setuser --no-new-privs "),
    ("container-env --format js", "container-env --format json "),
    (
        "with-container-env --user www-data:nog",
        "with-container-env --user www-data:nogroup ",
    ),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("typed", "completed"), TAB_LINES)
def test_bash_tab_completes_line(
    interactive: Terminal, typed: str, completed: str
) -> None:
    """TAB in an interactive bash completes the last word via complete -F."""
    assert tab(interactive, typed) == completed.encode()


@pytest.mark.timeout(60)
def test_bash_tab_after_colon(interactive: Terminal) -> None:
    """With ':' in COMP_WORDBREAKS, TAB after USER: completes the group."""
    interactive.send(SHOW_BREAKS.encode() + b"\r")
    assert interactive.expect(rb"=breaks=(\d+)=\r\n").group(1) == b"1"
    assert tab(interactive, "setuser www-data:nog") == b"setuser www-data:nogroup "
