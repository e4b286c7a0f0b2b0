"""Exit statuses: the command's own passes through; 126 and 127 are setuser's."""

from __future__ import annotations

import signal

import pytest

from support.child import public_dir
from support.child import write_script
from support.proc import base_env
from support.proc import check
from support.proc import run


@pytest.mark.parametrize("status", [0, 1, 2, 125, 126, 127, 255])
def test_status_passes_through(setuser, status):
    """The command's exit status is setuser's, unchanged."""
    result = run(setuser("nobody", "/bin/sh", "-c", f"exit {status}"), env=base_env())

    check(result, status, stdout=b"", stderr=b"")


def test_signal_death_passes_through(setuser):
    """A command killed by a signal looks killed by it to setuser's parent."""
    argv = setuser("nobody", "/bin/sh", "-c", "kill -TERM $$")

    result = run(argv, env=base_env())

    check(result, -signal.SIGTERM, stdout=b"", stderr=b"")


def test_not_found_in_path(setuser):
    """A name found in no PATH directory is 127 with a lookup-miss line."""
    result = run(setuser("nobody", "etnosuchcommand"), env=base_env())

    check(
        result,
        127,
        stdout=b"",
        stderr=b"setuser: command 'etnosuchcommand' not found\n",
    )


def test_not_found_by_path(setuser):
    """A command given as a path that does not exist is 127."""
    result = run(setuser("nobody", "/nonexistent/cmd"), env=base_env())

    check(
        result,
        127,
        stdout=b"",
        stderr=b"setuser: command '/nonexistent/cmd' not found\n",
    )


def test_empty_command_name(setuser):
    """An empty command name is not found, never the current directory."""
    result = run(setuser("nobody", ""), env=base_env())

    check(result, 127, stdout=b"", stderr=b"setuser: command '' not found\n")


def test_directory_is_not_executable(setuser):
    """A directory given as the command is 126, permission denied."""
    result = run(setuser("nobody", "/tmp"), env=base_env())

    check(
        result,
        126,
        stdout=b"",
        stderr=b"setuser: cannot execute '/tmp': Permission denied\n",
    )


def test_not_executable_file(setuser):
    """A file without execute permission is 126, in PATH or by path."""
    with public_dir() as top:
        write_script(top / "plain", "#!/bin/sh\necho ran\n", mode=0o644)
        by_path = run(setuser("nobody", str(top / "plain")), env=base_env())
        in_path = run(setuser("nobody", "plain"), env=base_env(PATH=str(top)))

    line = f"setuser: cannot execute '{top}/plain': Permission denied\n".encode()
    check(by_path, 126, stdout=b"", stderr=line)
    check(
        in_path,
        126,
        stdout=b"",
        stderr=b"setuser: cannot execute 'plain': Permission denied\n",
    )


def test_executable_only_for_root(setuser):
    """A file only root may execute is 126 for the target: the search runs as it."""
    with public_dir() as top:
        write_script(top / "rootonly", "#!/bin/sh\necho ran\n", mode=0o744)
        result = run(setuser("nobody", "rootonly"), env=base_env(PATH=str(top)))

    check(
        result,
        126,
        stdout=b"",
        stderr=b"setuser: cannot execute 'rootonly': Permission denied\n",
    )


def test_exec_format_error(setuser):
    """An executable with no #! line and no binary format is 126, never run by sh."""
    with public_dir() as top:
        write_script(top / "noshebang", "echo ran\n")
        result = run(setuser("nobody", str(top / "noshebang")), env=base_env())

    line = f"setuser: cannot execute '{top}/noshebang': Exec format error\n"
    check(result, 126, stdout=b"", stderr=line.encode())


def test_unsearchable_path_directory_is_not_found(setuser):
    """A PATH directory the target cannot search hides nothing: 127, as in bash."""
    with public_dir() as top:
        (top / "closed").mkdir(mode=0o700)
        write_script(top / "closed" / "tool", "#!/bin/sh\necho ran\n")
        result = run(setuser("nobody", "tool"), env=base_env(PATH=f"{top}/closed"))

    check(result, 127, stdout=b"", stderr=b"setuser: command 'tool' not found\n")


def test_path_in_unsearchable_directory_is_permission_denied(setuser):
    """A command given as a path the target cannot reach is 126, as in the shells."""
    with public_dir() as top:
        (top / "closed").mkdir(mode=0o700)
        tool = top / "closed" / "tool"
        write_script(tool, "#!/bin/sh\necho ran\n")
        result = run(setuser("nobody", str(tool)), env=base_env())

    check(
        result,
        126,
        stdout=b"",
        stderr=f"setuser: cannot execute '{tool}': Permission denied\n".encode(),
    )


def test_search_goes_past_unsearchable_directory(setuser):
    """After an unsearchable PATH directory the search goes on to the next one."""
    with public_dir() as top:
        (top / "closed").mkdir(mode=0o700)
        write_script(top / "closed" / "tool", "#!/bin/sh\necho closed\n")
        (top / "open").mkdir(mode=0o755)
        write_script(top / "open" / "tool", "#!/bin/sh\necho open\n")
        path = f"{top}/closed:{top}/open"
        result = run(setuser("nobody", "tool"), env=base_env(PATH=path))

    check(result, 0, stdout=b"open\n", stderr=b"")


def test_search_goes_past_not_executable(setuser):
    """A later executable match wins over an earlier non-executable one."""
    with public_dir() as top:
        (top / "a").mkdir(mode=0o755)
        write_script(top / "a" / "tool", "#!/bin/sh\necho a\n", mode=0o644)
        (top / "b").mkdir(mode=0o755)
        write_script(top / "b" / "tool", "#!/bin/sh\necho b\n")
        path = f"{top}/a:{top}/b"
        result = run(setuser("nobody", "tool"), env=base_env(PATH=path))

    check(result, 0, stdout=b"b\n", stderr=b"")


def test_empty_path_element_is_current_directory(setuser):
    """An empty PATH element searches the current directory, as execvp does."""
    with public_dir() as top:
        write_script(top / "here", "#!/bin/sh\necho here\n")
        result = run(setuser("nobody", "here"), env=base_env(PATH="/bin:"), cwd=top)

    check(result, 0, stdout=b"here\n", stderr=b"")


def test_path_comes_from_the_environment(setuser):
    """PATH is read from the environment given to setuser."""
    with public_dir() as top:
        write_script(top / "mine", "#!/bin/sh\necho mine\n")
        result = run(setuser("nobody", "mine"), env={"PATH": str(top)})

    check(result, 0, stdout=b"mine\n", stderr=b"")


def test_default_path_when_unset(setuser):
    """With no PATH at all the search uses /bin:/usr/bin."""
    result = run(setuser("nobody", "true"), env={})

    check(result, 0, stdout=b"", stderr=b"")
