"""What a command inherits at start: closed descriptors, SIGINT, full disks.

The first file a process opens takes the lowest free descriptor: with 2
closed, the writer's temporary file would become stderr, and a warning
would be written into the snapshot.  And the command a wrapper execs must
still get exactly the descriptors, and the ignored signals, the wrapper was
given.  Ctrl-C ends a command as it ends a C one, without a traceback.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.child import public_dir
from support.proc import check
from support.proc import command
from support.proc import run

from envtools import __version__
from envtools.snapshot import jsonfile

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="snapshots are root's"),
]

PATH = "/usr/bin:/bin"

# Lists the shell's own descriptors into the file named by its argument (it
# may have no stdout to print on).  Not Python: its start-up opens files,
# which would take the very numbers under test.
REPORT_FDS = ["/bin/sh", "-c", 'ls "/proc/$$/fd" > "$1"', "sh"]


def closing(redirects: str, argv: list[str]) -> list[str]:
    """*argv* run through sh with *redirects* (such as ``2>&-``) applied."""
    return ["/bin/sh", "-c", f'exec "$@" {redirects}', "sh", *argv]


@pytest.mark.parametrize("redirects", ["2>&-", ">&-", "<&- >&- 2>&-"])
@pytest.mark.parametrize("options", [[], ["--group", "root"]], ids=["plain", "click"])
def test_writer_keeps_warnings_out_of_snapshot(
    redirects: str, options: list[str], snapshot_dir: Path
) -> None:
    """A warning with stderr closed is dropped, never written into a file."""
    env = {"PATH": PATH, "A": "1", "ENVTOOLS_SNAPSHOT_DIR": str(snapshot_dir)}
    # A central HOME, which the shell file never carries: one warning.
    snapshot_dir.mkdir()
    (snapshot_dir / "HOME").write_bytes(b"/srv\n")
    argv = [command("save-container-env"), *options]

    result = run(closing(redirects, argv), env=env)

    check(result, 0, b"", b"" if "2>&-" in redirects else None)
    assert b"left 'HOME' out" in result.stderr or "2>&-" in redirects
    saved = jsonfile.loads(Path(f"{snapshot_dir}.json").read_bytes())
    assert saved == {
        b"A": b"1",
        b"ENVTOOLS_SNAPSHOT_DIR": os.fsencode(snapshot_dir),
        b"HOME": b"/srv",
        b"PATH": PATH.encode(),
    }
    assert b"save-container-env:" not in Path(f"{snapshot_dir}.sh").read_bytes()


@pytest.mark.parametrize("options", [[], ["--format", "sh"]], ids=["plain", "click"])
def test_reader_with_stdout_closed_fails(
    options: list[str], snapshot_dir: Path
) -> None:
    """Nothing to print on is a failure, as for the coreutils."""
    env = {"PATH": PATH, "A": "1", "ENVTOOLS_SNAPSHOT_DIR": str(snapshot_dir)}
    check(run([command("save-container-env")], env=env), 0)
    argv = [command("container-env"), *options]

    result = run(closing(">&-", argv), env=env)

    message = b"container-env: cannot write output: Bad file descriptor\n"
    check(result, 1, b"", message)


@pytest.mark.parametrize(
    "wrapper", [["setuser", "nobody"], ["with-container-env"]], ids=lambda w: w[0]
)
def test_command_gets_descriptors_as_given(wrapper: list[str], snapshot_dir: Path):
    """The wrapper fills the gaps for itself only: closed stays closed."""
    env = {"PATH": PATH, "ENVTOOLS_SNAPSHOT_DIR": str(snapshot_dir)}
    check(run([command("save-container-env")], env=env), 0)
    with public_dir() as top:
        out = top / "out"
        out.touch()
        out.chmod(0o666)
        argv = [command(wrapper[0]), *wrapper[1:], *REPORT_FDS, str(out)]

        check(run(closing("<&- 2>&-", argv), env=env), 0, b"", b"")

        standard = {"0", "1", "2"} & set(out.read_text().split())
        assert standard == {"1"}


COMMANDS = ["setuser", "save-container-env", "container-env", "with-container-env"]


@pytest.mark.parametrize("option", ["--help", "--version"])
@pytest.mark.parametrize("name", COMMANDS)
def test_click_output_to_full_disk(name: str, option: str) -> None:
    """click's own printing failing is one line and the command's failure status."""
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [command(name), option], stdout=full, stderr=subprocess.PIPE, timeout=30
        )
    status = 125 if name in ("setuser", "with-container-env") else 1
    assert result.returncode == status
    message = f"{name}: cannot write output: No space left on device\n"
    assert result.stderr == message.encode()


@pytest.mark.parametrize("option", ["--help", "--version"])
@pytest.mark.parametrize("name", COMMANDS)
def test_click_output_to_broken_pipe(name: str, option: str) -> None:
    """A reader gone before --help is printed is one line, not a silent 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [command(name), option],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=30,
        )
    finally:
        os.close(write_end)
    status = 125 if name in ("setuser", "with-container-env") else 1
    assert result.returncode == status
    assert result.stderr == f"{name}: cannot write output: Broken pipe\n".encode()


@pytest.mark.parametrize("option", ["--help", "--version"])
@pytest.mark.parametrize("name", COMMANDS)
def test_click_output_with_stdout_closed(name: str, option: str) -> None:
    """Nothing to print --help on is a failure, not a silent exit 0."""
    result = run(closing(">&-", [command(name), option]), env={"PATH": PATH})
    status = 125 if name in ("setuser", "with-container-env") else 1
    message = f"{name}: cannot write output: Bad file descriptor\n"
    check(result, status, b"", message.encode())


@pytest.mark.parametrize("options", [[], ["--group", "root"]], ids=["plain", "click"])
def test_interrupted_writer_dies_of_sigint(options: list[str], snapshot_dir: Path):
    """Ctrl-C while waiting for the lock: killed by SIGINT, no traceback."""
    env = {"PATH": PATH, "A": "1", "ENVTOOLS_SNAPSHOT_DIR": str(snapshot_dir)}
    lock = snapshot_dir.parent / f".{snapshot_dir.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        child = subprocess.Popen(
            [command("save-container-env"), *options],
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_blocked(child.pid)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        os.close(fd)
    assert child.returncode == -signal.SIGINT
    # Only the warning for a missing docker_env group, if any, comes first.
    for line in stderr.splitlines():
        assert line.startswith(b"save-container-env: warning: group "), stderr
    assert not snapshot_dir.exists()


def test_ignored_sigint_stays_ignored() -> None:
    """A SIGINT the caller ignored is still ignored by the command exec'd."""
    script = "kill -INT $$; echo survived"
    result = run(
        [command("setuser"), "nobody", "/bin/sh", "-c", script],
        env={"PATH": PATH},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    check(result, 0, b"survived\n", b"")


def _wait_blocked(pid: int) -> None:
    """Wait until *pid* sleeps in flock(2), past the interpreter's start."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        if "flock" in wchan or "locks" in wchan:
            return
        time.sleep(0.02)
    pytest.fail(f"process {pid} never blocked on the lock")


@pytest.mark.parametrize("name", COMMANDS)
def test_launcher_under_another_name_stays_its_command(name, tmp_path):
    """A launcher copied under another name (for a sudo rule) runs its command.

    Choosing the command by argv[1] there would turn a rule for the reader
    into one for setuser.
    """
    copy = tmp_path / "renamed"
    shutil.copy(command(name), copy)

    result = run([str(copy), "--version"], env={"PATH": PATH})

    check(result, 0, f"{name} (envtools) {__version__}\n".encode(), b"")


WRAPPED = {"container-env": 1, "save-container-env": 1, "with-container-env": 125}


@pytest.mark.parametrize("form", ["option", "variable"])
@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_relative_location_in_removed_directory(name, form, tmp_path):
    """A relative snapshot path where the working directory is gone: one line."""
    gone = tmp_path / "gone"
    gone.mkdir()
    tail = ["true"] if name == "with-container-env" else []
    given = ["--dir", "rel"] if form == "option" else []
    script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
    argv = ["/bin/sh", "-c", script, "sh", str(gone), command(name), *given, *tail]
    env = {"PATH": PATH}
    if form == "variable":
        env["ENVTOOLS_SNAPSHOT_DIR"] = "rel"

    result = run(argv, env=env)

    message = f"{name}: cannot resolve 'rel': No such file or directory\n"
    check(result, WRAPPED[name], b"", message.encode())


@pytest.mark.parametrize(
    ("name", "args", "option", "status"),
    [
        ("with-container-env", ["--user", "nobody", "--user", "root", "id"],
         "--user", 125),
        ("setuser", ["-v", "--verbose", "nobody", "true"], "--verbose", 125),
        ("container-env", ["--format", "sh", "--format=json"], "--format", 2),
        ("save-container-env", ["--group", "a", "--group", "root"], "--group", 2),
    ],
)  # fmt: skip
def test_option_given_twice_is_refused(name, args, option, status):
    """A second copy of a one-value option is a usage error, never the winner."""
    result = run([command(name), *args], env={"PATH": PATH})

    message = f"{name}: option '{option}' given twice\nTry '{name} --help'.\n"
    check(result, status, b"", message.encode())


def test_repeatable_options_stay_repeatable():
    """--keep, --exclude and friends take many values, as documented."""
    argv = [command("with-container-env"), "--keep", "A", "--keep", "B", "--dir",
            "/nonexistent", "true"]  # fmt: skip

    result = run(argv, env={"PATH": PATH})

    message = b"with-container-env: cannot open '/nonexistent': No such file or "
    check(result, 125, b"", message + b"directory\n")
