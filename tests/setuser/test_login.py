"""setuser --login: a real PAM session around the command, closed after it.

Each test writes its own PAM service (tests/support/pam.py) and runs the
installed setuser as root against it.
"""

from __future__ import annotations

import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import pam
from support.accounts import temp_user
from support.child import SCRIPT
from support.child import expected_environ
from support.child import parse
from support.proc import base_env
from support.proc import check
from support.proc import command
from support.proc import run
from support.terminal import take_terminal

pytestmark = pytest.mark.timeout(60)

# The command's cwd and its open-files limit, then support.child's report.
LOGIN_SCRIPT = "pwd; /bin/grep '^Max open files' /proc/$$/limits; " + SCRIPT

# Prints each signal it gets by name; exits 7 on SIGTERM.  os.write, not
# print: a handler may run in the middle of another write.
CATCHER = """
import os, signal
def show(number, frame):
    os.write(1, signal.Signals(number).name.encode() + b"\\n")
    if number == signal.SIGTERM:
        os._exit(7)
for name in {names!r}:
    signal.signal(getattr(signal, name), show)
os.write(1, b"%d\\n" % os.getpid())
while True:
    signal.pause()
"""

# Reports its pid, then waits to be killed.
SLEEPER = "import os, signal; print(os.getpid(), flush=True); signal.pause()"

# The forwarded signals but SIGTERM, which the tests send last.
FORWARDED = ["SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT"]

# Signals that end a process by default and are no supervisor's usual
# ones: setuser forwards them too, or one would end it with the session open.
FATAL_OTHERS = [
    "SIGALRM",
    "SIGVTALRM",
    "SIGPROF",
    "SIGPWR",
    "SIGSTKFLT",
    "SIGIO",
    "SIGXCPU",
    "SIGRTMIN",
    "SIGRTMAX",
]


@pytest.fixture
def home() -> Iterator[Path]:
    """A home directory of its own, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="envtools-home-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def user(home: Path) -> Iterator[object]:
    """A throwaway user whose home is :func:`home`, owned by it."""
    with temp_user(home=str(home), shell="/bin/bash") as entry:
        os.chown(home, entry.pw_uid, entry.pw_gid)
        yield entry


@pytest.fixture
def service(tmp_path: Path) -> Iterator[pam.Service]:
    """A temporary PAM service with limits, pam_env and marker hooks."""
    with pam.temp_service(tmp_path) as created:
        yield created


def login(service: pam.Service, name: str, *argv: str) -> list[str]:
    """``setuser --login --pam-service SERVICE NAME ARGV...``."""
    return [command("setuser"), "--login", "--pam-service", service.name, name, *argv]


def opened_and_closed(name: str) -> str:
    """The marker lines of one session of *name*, opened and closed."""
    return f"open_session {name}\nclose_session {name}\n"


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start *argv* with pipes, for tests that signal it while it runs."""
    return subprocess.Popen(
        argv,
        env=base_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_command_runs_in_the_session(service, user, home):
    """The command runs as the user, in its home, with PAM's limits and env."""
    env = base_env(**{pam.CONF_VARIABLE: "from-caller"})

    result = run(login(service, user.pw_name, "/bin/sh", "-c", LOGIN_SCRIPT), env=env)

    check(result, 0, stderr=b"")
    cwd, limits, rest = result.stdout.split(b"\n", 2)
    assert cwd == os.fsencode(home)
    assert limits.split()[3:5] == [b"4242", b"4242"]
    report = parse(rest)
    assert report.ids("Uid") == [user.pw_uid] * 4
    assert report.ids("Gid") == [user.pw_gid] * 4
    assert report.groups() == {user.pw_gid}
    expected = expected_environ(env, str(home), user.pw_name)
    expected[b"SHELL"] = b"/bin/bash"
    expected[b"PWD"] = os.fsencode(home)
    expected[pam.CONF_VARIABLE.encode()] = pam.CONF_VALUE.encode()
    expected[pam.FILE_VARIABLE.encode()] = pam.FILE_VALUE.encode()
    assert report.environ == expected
    assert service.marks() == opened_and_closed(user.pw_name)


@pytest.mark.parametrize("given, flag", [([], "0"), (["--no-new-privs"], "1")])
def test_no_new_privs(service, user, given, flag):
    """--no-new-privs sets the flag on the command only, as without --login."""
    argv = login(service, user.pw_name, "/bin/sh", "-c", LOGIN_SCRIPT)
    argv[1:1] = given

    result = run(argv, env=base_env())

    check(result, 0, stderr=b"")
    report = parse(result.stdout.split(b"\n", 2)[2])
    assert report.status["NoNewPrivs"] == flag
    assert report.ids("Uid") == [user.pw_uid] * 4


@pytest.mark.parametrize(
    "shell, expected",
    [("/bin/sh", "/bin/sh"), ("/usr/sbin/nologin", "/bin/sh"), ("", "/bin/sh")],
)
def test_shell_is_a_listed_one(service, home, shell, expected):
    """SHELL is the account's shell when /etc/shells lists it, else /bin/sh."""
    with temp_user(home=str(home), shell=shell) as entry:
        os.chown(home, entry.pw_uid, entry.pw_gid)
        argv = login(service, entry.pw_name, "/bin/sh", "-c", 'echo "$SHELL"')
        result = run(argv, env=base_env())

    check(result, 0, stdout=f"{expected}\n".encode(), stderr=b"")


@pytest.mark.parametrize("status", [0, 1, 2, 125, 126, 127, 255])
def test_status_passes_through(service, user, status):
    """The command's exit status is setuser's, and the session is closed."""
    argv = login(service, user.pw_name, "/bin/sh", "-c", f"exit {status}")

    result = run(argv, env=base_env())

    check(result, status, stdout=b"", stderr=b"")
    assert service.marks() == opened_and_closed(user.pw_name)


def test_command_not_found(service, user):
    """A command the child cannot find is 127, one line, session closed."""
    result = run(login(service, user.pw_name, "etnosuchcommand"), env=base_env())

    message = b"setuser: command 'etnosuchcommand' not found\n"
    check(result, 127, stdout=b"", stderr=message)
    assert service.marks() == opened_and_closed(user.pw_name)


def test_parent_stays_root(service, user):
    """The command's parent is setuser itself, still root, until it ends."""
    script = "/bin/grep '^Uid:' /proc/$PPID/status; echo $PPID"
    process = spawn(login(service, user.pw_name, "/bin/sh", "-c", script))

    stdout, stderr = process.communicate(timeout=30)

    assert (process.returncode, stderr) == (0, b""), stderr
    assert stdout == f"Uid:\t0\t0\t0\t0\n{process.pid}\n".encode()


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGKILL, signal.SIGUSR1])
def test_signal_death_is_repeated(service, user, number):
    """A command killed by signal N kills setuser with N, after the close."""
    argv = login(service, user.pw_name, "/bin/sh", "-c", f"kill -{number.name[3:]} $$")

    result = run(argv, env=base_env())

    check(result, -number, stdout=b"", stderr=b"")
    assert service.marks() == opened_and_closed(user.pw_name)


def test_sigterm_to_setuser_ends_the_command(service, user):
    """SIGTERM sent to setuser reaches the command, and both die of it."""
    process = spawn(login(service, user.pw_name, "/usr/bin/python3", "-c", SLEEPER))
    child = None
    try:
        child = int(pam.read_line(process.stdout, time.monotonic() + 20))

        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        pam.stop(process, child)

    assert (process.returncode, stdout, stderr) == (-signal.SIGTERM, b"", b"")
    assert not Path(f"/proc/{child}").exists()
    assert service.marks() == opened_and_closed(user.pw_name)


def test_signals_are_forwarded(service, user):
    """Every forwarded signal reaches the command, which decides its fate."""
    script = CATCHER.format(names=FORWARDED + FATAL_OTHERS + ["SIGTERM"])
    process = spawn(login(service, user.pw_name, "/usr/bin/python3", "-c", script))
    child = None
    try:
        deadline = time.monotonic() + 30
        child = int(pam.read_line(process.stdout, deadline))
        for name in FORWARDED + FATAL_OTHERS:
            process.send_signal(getattr(signal, name))
            assert pam.read_line(process.stdout, deadline) == f"{name}\n".encode()

        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        pam.stop(process, child)

    assert (process.returncode, stdout, stderr) == (7, b"SIGTERM\n", b"")
    assert service.marks() == opened_and_closed(user.pw_name)


def test_terminal_signal_is_not_forwarded(service, user):
    """Ctrl-C reaches the command from the terminal, and only from there."""
    master, slave = pty.openpty()
    attributes = termios.tcgetattr(slave)
    attributes[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attributes)
    script = CATCHER.format(names=["SIGINT", "SIGUSR1", "SIGTERM"])
    argv = login(service, user.pw_name, "/usr/bin/python3", "-c", script)
    argv.insert(1, "-v")
    try:
        process = subprocess.Popen(
            argv,
            env=base_env(),
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=take_terminal,
        )
    finally:
        os.close(slave)
    child = None
    try:
        deadline = time.monotonic() + 30
        child = int(pam.read_line(master, deadline))
        os.write(master, b"\x03")
        assert pam.read_line(master, deadline) == b"SIGINT\r\n"
        process.send_signal(signal.SIGUSR1)
        assert pam.read_line(master, deadline) == b"SIGUSR1\r\n"
        process.send_signal(signal.SIGTERM)
        assert pam.read_line(master, deadline) == b"SIGTERM\r\n"
        _, stderr = process.communicate(timeout=20)
    finally:
        pam.stop(process, child)
        os.close(master)

    assert process.returncode == 7
    told = [line for line in stderr.splitlines() if b"SIG" in line]
    assert told == [
        b"setuser: debug: left SIGINT to the terminal",
        b"setuser: debug: forwarded SIGUSR1",
        b"setuser: debug: forwarded SIGTERM",
    ]


def test_close_hooks_get_default_signals(service, user):
    """Programs run while the session closes start with no signal blocked."""
    report = "/bin/grep '^SigBlk' /proc/$$/status"
    hook = f"#!/bin/sh\necho $PAM_TYPE $({report}) >> {service.marker}\n"
    service.hook.write_text(hook)
    argv = login(service, user.pw_name, "/bin/true")

    result = run(argv, env=base_env())

    check(result, 0, stdout=b"", stderr=b"")
    closing = service.marks().splitlines()[1].split()
    assert closing[:3] == ["close_session", "SigBlk:", "0000000000000000"]


def test_account_refused(tmp_path, user):
    """A service whose account step denies is 125, one line, no session."""
    with pam.temp_service(tmp_path, account="pam_deny.so") as denying:
        result = run(login(denying, user.pw_name, "/bin/true"), env=base_env())

    message = b"setuser: pam: account management failed: Authentication failure\n"
    check(result, 125, stdout=b"", stderr=message)
    assert denying.marks() == ""


@pytest.mark.parametrize(
    ("stack", "step", "reason"),
    [
        ({"auth_first": "pam_deny.so"}, "setting credentials", "Failure setting "
         "user credentials"),
        ({"session_first": "pam_deny.so"}, "opening the session", "Cannot "
         "make/remove an entry for the specified session"),
    ],
)  # fmt: skip
def test_pam_step_refused(tmp_path, user, stack, step, reason):
    """A later PAM step that fails is 125 and one line; no session is left."""
    with pam.temp_service(tmp_path, **stack) as denying:
        result = run(login(denying, user.pw_name, "/bin/true"), env=base_env())

    message = f"setuser: pam: {step} failed: {reason}\n"
    check(result, 125, stdout=b"", stderr=message.encode())
    assert "open_session" not in denying.marks()


def test_missing_service_file(user):
    """A named service with no file is 125, before libpam can fall back."""
    name = pam.unique_name()
    argv = [command("setuser"), "--login", "--pam-service", name, user.pw_name, "true"]

    result = run(argv, env=base_env())

    message = f"setuser: pam: service file '/etc/pam.d/{name}' not found\n"
    check(result, 125, stdout=b"", stderr=message.encode())


@pytest.mark.skipif(
    os.path.exists("/etc/pam.d/setuser") or not os.path.exists("/etc/pam.d/other"),
    reason="needs /etc/pam.d/other and no /etc/pam.d/setuser",
)
def test_default_service_falls_back_to_other(user, home):
    """With no setuser service file, --login warns once and uses 'other'."""
    script = 'id -u; echo "$PWD"'
    argv = [command("setuser"), "--login", user.pw_name, "/bin/sh", "-c", script]

    result = run(argv, env=base_env())

    message = (
        b"setuser: warning: pam: service file '/etc/pam.d/setuser' not found:"
        b" using 'other'\n"
    )
    check(result, 0, stdout=f"{user.pw_uid}\n{home}\n".encode(), stderr=message)


def test_pwd_is_the_start_directory(service, home, user, tmp_path):
    """PWD names the directory the command starts in, not the caller's."""
    env = base_env(PWD=str(tmp_path))
    argv = login(service, user.pw_name, "/usr/bin/env")
    missing = [*argv[:1], "--allow-missing-home", *argv[1:]]

    in_home = run(argv, env=env, cwd=tmp_path)
    home.rmdir()
    in_root = run(missing, env=env, cwd=tmp_path)

    check(in_home, 0, stderr=b"")
    check(in_root, 0, stderr=b"")
    assert f"PWD={home}\n".encode() in in_home.stdout.splitlines(keepends=True)
    assert b"PWD=/\n" in in_root.stdout.splitlines(keepends=True)


@pytest.mark.parametrize("name", ["../common-auth", "..", "pam.d/other"])
def test_invalid_service_name(user, name):
    """A service name that is not one file name is refused with 125."""
    argv = [command("setuser"), "--login", "--pam-service", name, user.pw_name, "true"]

    result = run(argv, env=base_env())

    message = f"setuser: pam: invalid service name '{name}'\n"
    check(result, 125, stdout=b"", stderr=message.encode())


def test_service_name_is_folded(service, user):
    """An upper-case service name uses the lower-case file, as libpam does."""
    argv = login(service, user.pw_name, "/bin/true")
    argv[3] = service.name.upper()

    result = run(argv, env=base_env())

    check(result, 0, stdout=b"", stderr=b"")
    assert service.marks() == opened_and_closed(user.pw_name)


def test_terminal_is_the_pam_tty(service, user):
    """When stdin is a terminal, the modules see it as PAM_TTY."""
    master, slave = pty.openpty()
    try:
        tty = os.ttyname(slave)
        argv = login(service, user.pw_name, "/bin/true")
        result = subprocess.run(
            argv, env=base_env(), stdin=slave, capture_output=True, timeout=30
        )
    finally:
        os.close(slave)
        os.close(master)

    check(result, 0, stderr=b"")
    name = user.pw_name
    assert service.marks() == f"open_session {name} {tty}\nclose_session {name} {tty}\n"


def test_missing_home(service):
    """A home that does not exist is 125, and the session is still closed."""
    with temp_user(home="/nonexistent/etlogin") as entry:
        result = run(login(service, entry.pw_name, "/bin/pwd"), env=base_env())

    message = (
        b"setuser: home '/nonexistent/etlogin' does not exist: "
        b"try --allow-missing-home\n"
    )
    check(result, 125, stdout=b"", stderr=message)
    assert service.marks() == opened_and_closed(entry.pw_name)


def test_allow_missing_home(service):
    """With --allow-missing-home the command starts in /, HOME unchanged."""
    with temp_user(home="/nonexistent/etlogin") as entry:
        argv = login(service, entry.pw_name, "/bin/sh", "-c", 'pwd; echo "$HOME"')
        argv.insert(2, "--allow-missing-home")
        result = run(argv, env=base_env())

    check(result, 0, stdout=b"/\n/nonexistent/etlogin\n", stderr=b"")


def test_home_the_user_cannot_enter(service, user, home):
    """A home the user may not search is refused after the switch, 125."""
    home.chmod(0o000)

    result = run(login(service, user.pw_name, "/bin/pwd"), env=base_env())

    message = f"setuser: unable to enter home directory '{home}': Permission denied\n"
    check(result, 125, stdout=b"", stderr=message.encode())


def test_needs_root(public_install, service, user):
    """--login run by a user other than root is 125 with one line."""
    argv = [command("setuser"), user.pw_name, str(public_install / "setuser")]
    argv += ["--login", "--pam-service", service.name, user.pw_name, "/bin/true"]

    result = run(argv, env=base_env())

    check(result, 125, stdout=b"", stderr=b"setuser: --login needs root\n")
    assert service.marks() == ""


def test_python_pam_missing(public_install, service, user):
    """Without python-pam (the public install has none), --login is 125."""
    argv = [str(public_install / "setuser"), "--login", "--pam-service", service.name]

    result = run(argv + [user.pw_name, "/bin/true"], env=base_env())

    message = b"setuser: pam: python-pam is not installed: No module named 'pam'\n"
    check(result, 125, stdout=b"", stderr=message)


def test_plain_setuser_does_not_import_pam():
    """The plain path loads neither python-pam nor the session module."""
    argv = [sys.executable, "-X", "importtime", command("setuser"), "nobody", "true"]

    result = run(argv, env=base_env())

    check(result, 0, stdout=b"")
    modules = [line.rsplit(b"|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert b"envtools.commands.setuser" in modules
    assert not {b"pam", b"envtools.session", b"ctypes"} & set(modules)


@pytest.mark.parametrize(
    "number, name",
    [
        (signal.SIGTERM, "SIGTERM"),
        (signal.SIGRTMIN, "SIGRTMIN"),
        (signal.SIGRTMIN + 3, "SIGRTMIN+3"),
        (signal.SIGRTMAX, "SIGRTMAX"),
    ],
)
def test_signal_names(number, name):
    """Debug lines name real-time signals by their offset from SIGRTMIN."""
    from envtools import session

    assert session.signal_name(number) == name
