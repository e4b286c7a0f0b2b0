"""setuser: run a command as another user, in place of this process.

The plain form ``setuser SPEC COMMAND [ARG]...`` is parsed by hand and never
imports click; every other form (an option, ``--``, ``--help``) goes through
the click command built by :func:`_click_command`.  Both end in :func:`run`.

Every module the switch and the exec need, error reporting included, is
imported here, at the top: after the switch the target user may be unable
to read the interpreter or its library (a virtual environment under /root).
"""

from __future__ import annotations

import sys

from envtools import creds
from envtools import errors
from envtools import execute
from envtools import procenv

# Importing typing costs milliseconds; mypy takes this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

PROG = "setuser"

DEFAULT_PAM_SERVICE = "setuser"


def main() -> None:
    """Entry point of the ``setuser`` launcher."""
    procenv.prepare()
    args = sys.argv[1:]
    if len(args) >= 2 and not args[0].startswith("-"):
        sys.exit(run(args[0], args[1:]))

    from envtools.commands import _click

    failed = errors.EXIT_WRAPPER_FAILED
    _click.run(_click_command(), args, PROG, failed, failed)


def run(
    user_spec: str,
    argv: list[str],
    *,
    no_new_privs: bool = False,
    login: bool = False,
    pam_service: str | None = None,
    allow_missing_home: bool = False,
    setsid: bool = False,
) -> int:
    """Switch to *user_spec* and exec *argv*; return only on failure.

    Reads the environment, resolves the user spec, adds HOME, USER and
    LOGNAME, then gives up the controlling terminal and sets no_new_privs
    when asked, switches and execs.  The two command-line paths both end
    here.

    :param user_spec: ``USER[:GROUP]``, see :func:`envtools.creds.resolve`.
    :param argv: the command and its arguments.
    :param no_new_privs: set the no_new_privs flag before the switch.
    :param login: run in a PAM session instead (``--login``).
    :param pam_service: the PAM service for *login*; ``None`` for
        :data:`DEFAULT_PAM_SERVICE`, with libpam's 'other' service as the
        fallback when it has no file.
    :param allow_missing_home: with *login*, start in ``/`` without a home.
    :param setsid: give up the controlling terminal before the switch
        (``--setsid``), see :func:`envtools.creds.drop_terminal`.
    :returns: 125, 126 or 127 after reporting the error on stderr; with
        *login*, the command's own status.
    """
    try:
        env = procenv.passable(PROG)
        target = creds.resolve(user_spec)
        env.update(creds.identity(target))
        _debug_target(target)

        if setsid:
            creds.drop_terminal()
            errors.debug(PROG, "gave up the controlling terminal")
        if login:
            return _login(
                target, argv, env, pam_service, allow_missing_home, no_new_privs
            )

        if no_new_privs:
            creds.set_no_new_privs()
            errors.debug(PROG, "set no_new_privs")
        creds.switch(target)
        # "running as", not "switched to": a caller that already is the
        # target is not switched at all.
        errors.debug(PROG, f"running as uid {target.uid} gid {target.gid}")
        execute.exec_command(argv, env)
    except errors.EnvtoolsError as error:
        return errors.fail(PROG, error, errors.EXIT_WRAPPER_FAILED)


def _debug_target(target: creds.Target) -> None:
    """Say, with ``-v``, whom the user spec named: names and ids only."""
    errors.debug(
        PROG,
        f"user {errors.quote(target.name)} uid {target.uid} gid {target.gid}, "
        f"{len(target.groups)} supplementary groups",
    )


def _login(
    target: creds.Target,
    argv: list[str],
    env: dict[bytes, bytes],
    service: str | None,
    allow_missing_home: bool,
    no_new_privs: bool,
) -> int:
    """Run *argv* in a PAM session as *target* (``--login``)."""
    from envtools import session

    return session.run(
        target,
        argv,
        env,
        service=DEFAULT_PAM_SERVICE if service is None else service,
        fallback=service is None,
        allow_missing_home=allow_missing_home,
        no_new_privs=no_new_privs,
    )


def _click_command() -> click.Command:
    """Build the click command for every form but the plain one."""
    import click

    from envtools import __version__
    from envtools import completion

    @click.command(
        name=PROG,
        context_settings={"allow_interspersed_args": False},
    )
    @click.option(
        "--no-new-privs",
        is_flag=True,
        help="Set the no_new_privs flag: the command and its children cannot "
        "gain privileges through setuid, setgid or file capabilities.",
    )
    @click.option(
        "--login",
        is_flag=True,
        help="Open a PAM session for the user and run the command in it.",
    )
    @click.option(
        "--pam-service",
        metavar="NAME",
        help=f"PAM service for --login (default: {DEFAULT_PAM_SERVICE}).",
    )
    @click.option(
        "--allow-missing-home",
        is_flag=True,
        help="With --login, start in / when the home directory is missing.",
    )
    @click.option(
        "--setsid",
        is_flag=True,
        help="Give up the controlling terminal first, so that the command "
        "cannot push input into the caller's terminal (TIOCSTI).",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Report each step on stderr.")
    @click.version_option(
        __version__, prog_name=PROG, message="%(prog)s (envtools) %(version)s"
    )
    @click.argument(
        "user_spec", metavar="USER[:GROUP]", shell_complete=completion.user_spec
    )
    @click.argument(
        "command",
        nargs=-1,
        required=True,
        type=click.UNPROCESSED,
        metavar="COMMAND [ARG]...",
    )
    def setuser(
        user_spec: str,
        command: tuple[str, ...],
        no_new_privs: bool,
        login: bool,
        pam_service: str | None,
        allow_missing_home: bool,
        setsid: bool,
        verbose: bool,
    ) -> None:
        """Run a command as another user and group, in place of setuser.

        USER[:GROUP] is a user name or uid, optionally followed by a group
        name or gid.  Without a group, the command gets the user's primary
        group and supplementary groups; with one, exactly that group.
        """
        if not login and (pam_service is not None or allow_missing_home):
            given = "--allow-missing-home" if allow_missing_home else "--pam-service"
            raise click.UsageError(f"{given} requires --login")
        errors.set_verbose(verbose)
        status = run(
            user_spec,
            list(command),
            no_new_privs=no_new_privs,
            login=login,
            pam_service=pam_service,
            allow_missing_home=allow_missing_home,
            setsid=setsid,
        )
        # Exit here rather than return through click: nothing after the
        # switch may run code that was not loaded before it.
        sys.exit(status)

    return setuser
