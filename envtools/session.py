"""setuser --login: the command inside a PAM session, under a root parent.

Plain setuser replaces itself with the command.  A PAM session cannot work
that way: it has to be closed after the command ends, by a process that is
still root.  So this mode forks: the child switches and execs as plain
setuser does, and the parent stays behind, forwards signals, waits, and
then closes the session.

python-pam is imported only here, on demand.  Its high-level API runs
pam_authenticate() before anything else and answers prompts with a
password; setuser has no password and does not authenticate (root needs
none), so this module drives libpam through the ctypes bindings python-pam
keeps in ``pam.__internals`` instead.
"""

from __future__ import annotations

import os
import signal
import sys

from envtools import creds
from envtools import errors
from envtools import execute
from envtools.errors import EnvtoolsError
from envtools.errors import quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from typing import Any
    from typing import NoReturn

PROG = "setuser"

# Signals the parent passes on to the command: the usual ones for a
# supervisor, then every other signal whose default action would end the
# parent and leave the session open.  Left out: SIGKILL and SIGSTOP, which
# cannot be caught; the stop signals; the ones a fault raises (SIGSEGV,
# SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT), which only a bug in
# this process would bring; SIGPIPE and SIGXFSZ, which Python ignores.
FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGCONT,
    signal.SIGALRM,
    signal.SIGVTALRM,
    signal.SIGPROF,
    signal.SIGPWR,
    signal.SIGSTKFLT,
    signal.SIGIO,
    signal.SIGXCPU,
    *range(signal.SIGRTMIN, signal.SIGRTMAX + 1),
)

# The terminal sends these to its whole foreground process group, which
# holds the command too (the child never leaves the parent's group by our
# doing): passing them on as well would deliver each one twice.
TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGWINCH)

# si_code of a signal the kernel generated itself, such as the terminal's,
# rather than kill(2) or sigqueue(3); <asm-generic/siginfo.h>.
_SI_KERNEL = 0x80

# Where libpam (Debian's build of Linux-PAM 1.5) looks for a service file,
# in order; with no file in either it silently uses the 'other' service.
SERVICE_DIRS = ("/etc/pam.d", "/usr/lib/pam.d")

# What libpam reads for a service that has no file of its own.
OTHER_SERVICE = "other"

SHELLS_FILE = "/etc/shells"
FALLBACK_SHELL = "/bin/sh"


def run(
    target: creds.Target,
    argv: list[str],
    env: dict[bytes, bytes],
    *,
    service: str = "setuser",
    fallback: bool = False,
    allow_missing_home: bool = False,
    no_new_privs: bool = False,
) -> int:
    """Run *argv* as *target* inside a PAM session; return its exit status.

    As root: pam_start(3) for *target*'s name and *service*,
    pam_acct_mgmt(3), pam_setcred(3) with PAM_ESTABLISH_CRED,
    pam_open_session(3) and pam_getenvlist(3); then fork(2).  The child
    switches (:func:`envtools.creds.switch`), changes to the home directory
    and execs; its own failures are reported by the child itself, which
    exits 125, 126 or 127.  The parent forwards :data:`FORWARDED` signals,
    waits, then calls pam_close_session(3), pam_setcred(3) with
    PAM_DELETE_CRED and pam_end(3), whatever happened to the child.

    When the child was killed by signal N, this process kills itself with
    N (with core dumps off), so the caller sees the same death; only when
    N does not terminate it does 128+N come back.

    :param target: who the command runs as.
    :param argv: the command and its arguments.
    :param env: the command's environment; PAM's variables and SHELL are
        added, PAM's values winning.
    :param service: the PAM service name.
    :param fallback: when *service* has no file, warn and let libpam use
        its 'other' service, as it does unasked, instead of failing.
    :param allow_missing_home: start in ``/`` when the home is missing.
    :param no_new_privs: set no_new_privs in the child before the switch.
    :returns: the command's exit status.
    :raises EnvtoolsError: not root, python-pam missing, no service file,
        a PAM step failed, or fork failed (all status 125).
    """
    if os.geteuid() != 0:
        raise EnvtoolsError("--login needs root", errors.EXIT_WRAPPER_FAILED)
    path = service_file(service, fallback)
    bindings = _load_pam()

    # From the moment the session opens until it is closed, a forwarded
    # signal must not end this process, or the session would stay open.
    # Until the command exists, such signals are only noted; it gets them
    # as soon as it is forked.
    dispositions = _defer_signals()
    try:
        session = Session(bindings, service, target.name)
    except BaseException:
        _restore_signals(dispositions)
        raise
    try:
        env = login_environ(env, target, session.environment())
        status = _supervise(
            target, argv, env, allow_missing_home, no_new_privs, dispositions
        )
    finally:
        session.close()
    errors.debug(PROG, f"pam: session of service {quote(path)} closed")

    return _exit_status(status)


def service_file(service: str, fallback: bool = False) -> str:
    """The file libpam will read for *service*, checked before pam_start.

    libpam falls back to the 'other' service without a word when the file
    is missing, and keeps only the last path component of the name, so
    both are refused here instead; with *fallback*, a missing file is a
    warning and the 'other' service's file is returned.

    :raises EnvtoolsError: an invalid name, or no file (status 125).
    """
    if not service or "/" in service or service in (".", ".."):
        message = f"pam: invalid service name {quote(service)}"
        raise EnvtoolsError(message, errors.EXIT_WRAPPER_FAILED)

    # libpam folds the name to lower case, ASCII only, as bytes.lower does.
    folded = os.fsdecode(os.fsencode(service).lower())
    path = _find_service(folded)
    if path is not None:
        return path

    missing = quote(os.path.join(SERVICE_DIRS[0], folded))
    other = _find_service(OTHER_SERVICE)
    if fallback and other is not None:
        errors.warn(PROG, f"pam: service file {missing} not found: using 'other'")
        return other
    message = f"pam: service file {missing} not found"
    if fallback:
        # The sample is for the default service; a service of one's own
        # needs a file of one's own.
        message += ": install the sample, see setuser(8)"
    raise EnvtoolsError(message, errors.EXIT_WRAPPER_FAILED)


def _find_service(name: str) -> str | None:
    """The first file for service *name* in :data:`SERVICE_DIRS`, if any."""
    for directory in SERVICE_DIRS:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def login_environ(
    env: dict[bytes, bytes], target: creds.Target, pam_env: list[bytes]
) -> dict[bytes, bytes]:
    """*env* plus SHELL, then the PAM variables over both, as login(1) does.

    :param pam_env: ``NAME=value`` entries from pam_getenvlist(3).
    """
    merged = dict(env)
    merged[b"SHELL"] = os.fsencode(login_shell(target.shell))
    for entry in pam_env:
        name, sep, value = entry.partition(b"=")
        if sep and name:
            merged[name] = value
    return merged


def login_shell(shell: str | None) -> str:
    """*shell* when /etc/shells lists it, else ``/bin/sh``.

    An account whose shell is nologin, empty or missing still gets a SHELL
    that runs.  An unreadable /etc/shells lists nothing.
    """
    try:
        with open(SHELLS_FILE, encoding="utf-8", errors="surrogateescape") as stream:
            listed = {line.strip() for line in stream}
    except OSError:
        listed = set()
    if shell and shell in listed:
        return shell
    return FALLBACK_SHELL


def _load_pam() -> Any:
    """Import python-pam and load libpam; return ``pam.__internals``.

    :raises EnvtoolsError: python-pam or libpam is missing (status 125).
    """
    try:
        import pam.__internals as bindings  # type: ignore[import-untyped]
    except ImportError as error:
        message = f"pam: python-pam is not installed: {error}"
        raise EnvtoolsError(message, errors.EXIT_WRAPPER_FAILED) from None
    try:
        bindings.PamAuthenticator._ensure_libs()
    except (OSError, AttributeError) as error:
        message = f"pam: cannot load libpam: {error}"
        raise EnvtoolsError(message, errors.EXIT_WRAPPER_FAILED) from None
    return bindings


class Session:
    """An open PAM session for one user, from pam_start to pam_end.

    :param bindings: ``pam.__internals``, its libraries loaded.
    :param service: the PAM service name.
    :param user: the user name handed to pam_start(3).
    :raises EnvtoolsError: a PAM step failed; what was set up is undone.
    """

    def __init__(self, bindings: Any, service: str, user: str) -> None:
        self._lib = bindings.PamAuthenticator
        self._bindings = bindings
        # libpam calls back into this object until pam_end: keep it alive.
        self._conversation = bindings.PamConv(bindings.conv_func(self._converse), None)
        self._handle = bindings.PamHandle()
        self._status = bindings.PAM_SUCCESS
        self._open = False

        self._start(service, user)
        try:
            self._begin()
        except EnvtoolsError:
            self._lib.pam_end(self._handle, self._status)
            raise
        self._open = True

    def _begin(self) -> None:
        """pam_acct_mgmt(3), pam_setcred(3) ESTABLISH, pam_open_session(3)."""
        lib = self._lib
        self._step("account management", lib.pam_acct_mgmt, 0)
        # Gap (2026-12-03): groups that pam_group adds here go to this
        # parent only; the child's switch then sets exactly the target's
        # groups.  Passing them on needs getgroups() compared around this
        # call, and a test stack with pam_group, whose group.conf has a
        # fixed path under /etc/security that tests must not touch.
        establish = self._bindings.PAM_ESTABLISH_CRED
        self._step("setting credentials", lib.pam_setcred, establish)
        try:
            self._step("opening the session", lib.pam_open_session, 0)
        except EnvtoolsError:
            lib.pam_setcred(self._handle, self._bindings.PAM_DELETE_CRED)
            raise

    def _start(self, service: str, user: str) -> None:
        """pam_start(3), then PAM_TTY when stdin is a terminal."""
        code = self._lib.pam_start(
            os.fsencode(service),
            os.fsencode(user),
            self._bindings.byref(self._conversation),
            self._bindings.byref(self._handle),
        )
        if code != self._bindings.PAM_SUCCESS:
            raise EnvtoolsError(
                f"pam: start failed: {self._reason(code)}", errors.EXIT_WRAPPER_FAILED
            )
        if os.isatty(0):
            # pam_securetty, pam_lastlog and pam_loginuid look at it.
            tty = self._bindings.c_char_p(os.fsencode(os.ttyname(0)))
            self._lib.pam_set_item(self._handle, self._bindings.PAM_TTY, tty)

    def _step(self, step: str, function: Any, flags: int) -> None:
        """Call one libpam function on the handle; a failure raises."""
        self._status = function(self._handle, flags)
        if self._status != self._bindings.PAM_SUCCESS:
            reason = self._reason(self._status)
            raise EnvtoolsError(
                f"pam: {step} failed: {reason}", errors.EXIT_WRAPPER_FAILED
            )

    def _reason(self, code: int) -> str:
        """pam_strerror(3) of *code*, as text."""
        text = self._lib.pam_strerror(self._handle, code)
        return os.fsdecode(text) if text else f"PAM error {code}"

    def environment(self) -> list[bytes]:
        """The PAM environment: ``NAME=value`` items, pam_getenvlist(3)."""
        # libpam mallocs the list and its strings; they are not freed: a
        # few hundred bytes, once, in a process that then only waits.
        entries = self._lib.pam_getenvlist(self._handle)
        found: list[bytes] = []
        index = 0
        while entries and entries[index]:
            found.append(entries[index])
            index += 1
        return found

    def close(self) -> None:
        """pam_close_session(3), pam_setcred(3) DELETE, pam_end(3).

        A failure here comes after the command has run: it is reported as
        a warning and does not change the exit status.
        """
        if not self._open:
            return
        self._open = False
        delete = self._bindings.PAM_DELETE_CRED
        steps = (
            ("closing the session", self._lib.pam_close_session, 0),
            ("deleting credentials", self._lib.pam_setcred, delete),
        )
        for step, function, flags in steps:
            try:
                self._step(step, function, flags)
            except EnvtoolsError as error:
                errors.warn(PROG, error.message)
        self._lib.pam_end(self._handle, self._status)

    def _converse(self, count: int, messages: Any, replies: Any, data: Any) -> int:
        """The PAM conversation: show messages, refuse every prompt.

        setuser runs unattended and has nothing to answer with, so a module
        that asks for input fails its step with PAM_CONV_ERR.
        """
        bindings = self._bindings
        shown = (bindings.PAM_ERROR_MSG, bindings.PAM_TEXT_INFO)
        # ctypes turns an exception in here into a return of 0, which is
        # PAM_SUCCESS with no replies: fail the conversation instead.
        try:
            notes = [messages[i].contents for i in range(count)]
            if any(note.msg_style not in shown for note in notes):
                return int(bindings.PAM_CONV_ERR)
            for note in notes:
                errors.report(PROG, "pam: " + quote(note.msg or b""))
            # libpam frees the reply array, so it must come from calloc.
            size = bindings.sizeof(bindings.PamResponse)
            array = self._lib.calloc(count, size)
            replies[0] = bindings.cast(array, bindings.POINTER(bindings.PamResponse))
        except Exception:
            return int(bindings.PAM_CONV_ERR)
        return int(bindings.PAM_SUCCESS)


def _defer_signals() -> dict[int, Any]:
    """Note the :data:`FORWARDED` signals instead of acting on them.

    :returns: the dispositions they had, for :func:`_restore_signals` and
        for the command.
    """
    del _DEFERRED[:]
    return {number: signal.signal(number, _defer) for number in FORWARDED}


def _defer(number: int, frame: object) -> None:
    """A signal handler that keeps the signal for the command."""
    _DEFERRED.append(number)


# Forwarded signals that came before the command existed, in order.
_DEFERRED: list[int] = []


def _restore_signals(dispositions: dict[int, Any]) -> None:
    """Put back the dispositions :func:`_defer_signals` returned."""
    for number, handler in dispositions.items():
        signal.signal(number, signal.SIG_DFL if handler is None else handler)


def _supervise(
    target: creds.Target,
    argv: list[str],
    env: dict[bytes, bytes],
    allow_missing_home: bool,
    no_new_privs: bool,
    dispositions: dict[int, Any],
) -> int:
    """Fork the command and wait for it; return its wait status.

    The forwarded signals and SIGCHLD are blocked before fork(2) and taken
    with sigwaitinfo(2), so none is lost between fork and wait; those
    noted earlier (:func:`_defer_signals`) are sent to the command first.
    The child gets back *dispositions*, the caller's.  Once the
    child is reaped, the forwarded signals get handlers that do nothing
    until this process ends: the command is gone, and a late SIGTERM must
    not stop the session from being closed.

    :raises EnvtoolsError: fork failed.
    """
    set_no_new_privs = creds.set_no_new_privs if no_new_privs else None

    # With SIGCHLD ignored the kernel reaps children itself, and waitpid
    # would never see the status.
    inherited = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    watched = {*FORWARDED, signal.SIGCHLD}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)

    try:
        pid = _fork()
        if pid == 0:
            _child(
                target,
                argv,
                env,
                allow_missing_home,
                set_no_new_privs,
                mask,
                {**dispositions, signal.SIGCHLD: inherited},
            )
        errors.debug(PROG, f"started the command as pid {pid}")
        # Blocked since before the fork, so no handler adds to it now.
        for number in _DEFERRED:
            os.kill(pid, number)
            errors.debug(PROG, f"forwarded {signal_name(number)}")
        return _wait(pid, watched)
    finally:
        # Handlers, not SIG_IGN, and the mask as it was: the programs that
        # closing the session may start (pam_exec) get back the default
        # dispositions at execve, where an ignored or blocked signal
        # would stay so.
        for number in FORWARDED:
            signal.signal(number, _ignore)
        signal.signal(signal.SIGCHLD, inherited)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15; ``SIGRTMIN+3`` for a real-time signal."""
    if signal.SIGRTMIN < number < signal.SIGRTMAX:
        return f"SIGRTMIN+{number - signal.SIGRTMIN}"
    return signal.Signals(number).name


def _ignore(number: int, frame: object) -> None:
    """A signal handler that does nothing."""


def _fork() -> int:
    """fork(2); a failure is an EnvtoolsError (status 125)."""
    try:
        return os.fork()
    except OSError as error:
        message = f"unable to fork: {error.strerror}"
        raise EnvtoolsError(message, errors.EXIT_WRAPPER_FAILED) from None


def _wait(pid: int, watched: set[signal.Signals]) -> int:
    """Forward signals to *pid* until it ends; return its wait status.

    Not forwarded: :data:`TERMINAL_SIGNALS` when the kernel generated them,
    as the terminal does for its foreground process group.
    """
    while True:
        info = signal.sigwaitinfo(watched)
        number = info.si_signo
        if number == signal.SIGCHLD:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
        elif number in TERMINAL_SIGNALS and info.si_code == _SI_KERNEL:
            errors.debug(PROG, f"left {signal_name(number)} to the terminal")
        else:
            # Safe until waitpid reaps it: before that the pid stays the
            # child's, even as a zombie, and cannot name another process.
            os.kill(pid, number)
            errors.debug(PROG, f"forwarded {signal_name(number)}")


def _child(
    target: creds.Target,
    argv: list[str],
    env: dict[bytes, bytes],
    allow_missing_home: bool,
    set_no_new_privs: Callable[[], None] | None,
    mask: Iterable[int],
    dispositions: dict[int, Any],
) -> NoReturn:
    """Become the command: switch, enter the home, exec; never return.

    Failures are reported here and end the child with os._exit(), so no
    cleanup of the parent's (closing the PAM session) runs twice.
    """
    status = errors.EXIT_WRAPPER_FAILED
    try:
        # The caller's dispositions, but for Python's SIGINT handler, which
        # would raise KeyboardInterrupt in here instead of ending the child
        # as the default action does.
        for number, handler in dispositions.items():
            if handler is signal.default_int_handler or handler is None:
                handler = signal.SIG_DFL
            signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)

        if set_no_new_privs is not None:
            set_no_new_privs()
        creds.switch(target)
        # The caller's PWD names the directory the command no longer is in.
        env[b"PWD"] = os.fsencode(_enter_home(target.home, allow_missing_home))
        execute.exec_command(argv, env)
    except EnvtoolsError as error:
        status = errors.fail(PROG, error, errors.EXIT_WRAPPER_FAILED)
    except BaseException:
        sys.excepthook(*sys.exc_info())
    finally:
        os._exit(status)


def _enter_home(home: str, allow_missing: bool) -> str:
    """chdir(2) to *home* as the target user, or to ``/`` when allowed.

    After the switch, as login(1) does: a home the user cannot enter is an
    error, not a directory root opened for it.

    :returns: the directory entered.
    :raises EnvtoolsError: chdir failed (status 125).
    """
    try:
        os.chdir(home)
        return home
    except FileNotFoundError:
        if not allow_missing:
            message = f"home {quote(home)} does not exist: try --allow-missing-home"
            raise EnvtoolsError(message, errors.EXIT_WRAPPER_FAILED) from None
        os.chdir("/")
        return "/"
    except OSError as error:
        message = f"unable to enter home directory {quote(home)}: {error.strerror}"
        raise EnvtoolsError(message, errors.EXIT_WRAPPER_FAILED) from None


def _exit_status(status: int) -> int:
    """The exit status for wait status *status*; a signal death is re-raised.

    Killing this process with the child's signal is the shell convention:
    the caller's wait status then shows the same death.  Core dumps are
    turned off first: a core of this parent would only hide the child's.
    """
    if not os.WIFSIGNALED(status):
        return os.waitstatus_to_exitcode(status)
    number = os.WTERMSIG(status)

    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    if number not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {number})
    os.kill(os.getpid(), number)

    # Still here: signal N does not terminate by default (SIGWINCH, ...).
    return 128 + number
