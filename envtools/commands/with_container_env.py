"""with-container-env: run a command with the snapshot in its environment.

The plain form ``with-container-env COMMAND [ARG]...`` (the first argument
does not start with ``-``) is parsed by hand and never imports click; it is
also the shebang form, ``#!/usr/bin/with-container-env sh``, which the kernel
runs as ``with-container-env sh SCRIPT [ARG]...``.  Every other form goes
through the click command built by :func:`_click_command`.  Both end in
:func:`run`.

With ``--user``, everything the switch and the exec need is imported before
the switch: the target user may be unable to read the interpreter's files.
"""

from __future__ import annotations

import os
import sys

from envtools import errors
from envtools import execute
from envtools import perms
from envtools import procenv
from envtools import snapshot
from envtools.snapshot import load

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    import click

    from envtools import creds

PROG = "with-container-env"

_SUDO_PREFIX = b"SUDO_"

# How far into a script its "#!" line is looked for: the kernel's own limit
# on the line (BINPRM_BUF_SIZE) is 256 bytes.
_HEAD_SIZE = 256


def main() -> None:
    """Entry point of the ``with-container-env`` launcher."""
    procenv.prepare()
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        sys.exit(run(args, None))

    from envtools.commands import _click

    failed = errors.EXIT_WRAPPER_FAILED
    _click.run(_click_command(), args, PROG, failed, failed)


def run(
    argv: list[str],
    directory: str | None,
    *,
    clear: bool = False,
    no_override: bool = False,
    keep: tuple[str, ...] = (),
    user_spec: str | None = None,
    setsid: bool = False,
) -> int:
    """Load the snapshot in *directory*, build the environment, exec *argv*.

    With *user_spec*, the target is resolved first, the snapshot is read
    with this process's rights (root's), then the switch is made.

    :param clear: start from the caller's identity variables and ``SUDO_*``
        only, not from the whole current environment.
    :param no_override: a current value wins over the snapshot's.
    :param keep: names whose current value wins.
    :param user_spec: ``USER[:GROUP]`` to switch to before the exec.
    :param setsid: give up the controlling terminal after the snapshot is
        read and before the switch (``--setsid``), see
        :func:`envtools.creds.drop_terminal`.
    :returns: 125, 126 or 127 with the error reported on stderr.
    """
    try:
        target = _resolve(user_spec) if user_spec is not None else None
        path = snapshot.location(directory)
        saved = load.load(path, PROG)
        errors.debug(PROG, f"read {len(saved)} variables from {errors.quote(path)}")

        current = procenv.passable(PROG)
        env = merge(current, saved, clear=clear, no_override=no_override, keep=keep)

        if "/" in argv[0]:
            _refuse_own_script(argv[0])
        if setsid:
            _drop_terminal()
        if target is not None:
            _switch(target, env)
        execute.exec_command(argv, env)
    except errors.EnvtoolsError as error:
        return errors.fail(PROG, error, errors.EXIT_WRAPPER_FAILED)


def merge(
    current: Mapping[bytes, bytes],
    saved: Mapping[bytes, bytes],
    *,
    clear: bool = False,
    no_override: bool = False,
    keep: tuple[str, ...] = (),
) -> dict[bytes, bytes]:
    """Lay the snapshot *saved* over the environment *current*.

    Identity names and ``SUDO_*`` always come from *current*, never from
    the snapshot, whatever it holds.

    :returns: the command's environment.
    """
    kept = {name.encode("utf-8", "surrogateescape") for name in keep}
    if clear:
        env = {n: v for n, v in current.items() if _is_identity(n) or n in kept}
    else:
        env = dict(current)

    for name, value in saved.items():
        if _is_identity(name):
            errors.debug(PROG, f"not taking {errors.quote(name)} from the snapshot")
        elif name in env and (no_override or name in kept):
            errors.debug(PROG, f"kept the current {errors.quote(name)}")
        else:
            env[name] = value
    return env


def _is_identity(name: bytes) -> bool:
    return name in snapshot.IDENTITY_NAMES or name.startswith(_SUDO_PREFIX)


def _resolve(user_spec: str) -> creds.Target:
    """Look up *user_spec* before anything is read; imports creds."""
    from envtools import creds

    target = creds.resolve(user_spec)
    errors.debug(PROG, f"user {errors.quote(target.name)} uid {target.uid}")
    return target


def _drop_terminal() -> None:
    """Give up the controlling terminal (``--setsid``); imports creds."""
    from envtools import creds

    creds.drop_terminal()
    errors.debug(PROG, "gave up the controlling terminal")


def _switch(target: creds.Target, env: dict[bytes, bytes]) -> None:
    """Give *env* the target's identity, then switch to it."""
    from envtools import creds

    env.update(creds.identity(target))
    creds.switch(target)
    errors.debug(PROG, f"switched to uid {target.uid} gid {target.gid}")


def _refuse_own_script(path: str) -> None:
    """Refuse a script whose ``#!`` line names with-container-env alone.

    The kernel runs such a script as ``with-container-env SCRIPT``, which
    would exec the script, which runs with-container-env again: a loop with
    no end.  Options alone (``#!/usr/local/bin/with-container-env
    --setsid``) loop the same way.  The line is read with
    :func:`envtools.perms.read_head`, which never opens anything but a
    regular file.

    :raises EnvtoolsError: the script's interpreter is with-container-env
        with no command after it.
    """
    head = perms.read_head(path, _HEAD_SIZE)
    if not head.startswith(b"#!"):
        return
    words = head[2:].split(b"\n", 1)[0].split()
    if words and os.path.basename(words[0]) == b"env":
        words = [word for word in words[1:] if not word.startswith(b"-")]
    options_only = all(word.startswith(b"-") for word in words[1:])
    if words and options_only and os.path.basename(words[0]) == PROG.encode():
        raise errors.EnvtoolsError(
            f"{errors.quote(path)} names {PROG} as its interpreter without a "
            f"command: give one, as '#!/usr/local/bin/{PROG} sh'"
        )


def _click_command() -> click.Command:
    """Build the click command for every form but the plain one."""
    import click

    from envtools import __version__
    from envtools import completion
    from envtools.commands import _click

    @click.command(name=PROG, context_settings={"allow_interspersed_args": False})
    @click.option(
        "--clear",
        is_flag=True,
        help="Start from an empty environment, keeping only HOME, USER, "
        "LOGNAME, SHELL, UID, GID, GROUP, SUDO_* and the --keep names from "
        "the current one.",
    )
    @click.option(
        "--no-override",
        is_flag=True,
        help="Keep the current value of every variable that is also saved.",
    )
    @click.option(
        "--keep",
        metavar="NAME",
        multiple=True,
        help="Keep the current value of NAME (repeatable).",
    )
    @click.option(
        "--dir",
        "directory",
        metavar="DIR",
        callback=_click.nonempty,
        help=f"Read the snapshot in DIR (default: ${snapshot.DIR_VARIABLE}, "
        f"else {snapshot.DEFAULT_DIR}).",
    )
    @click.option(
        "--user",
        "user_spec",
        metavar="USER[:GROUP]",
        shell_complete=completion.user_spec,
        help="Read the snapshot as root, then run the command as USER.",
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
        "command",
        nargs=-1,
        required=True,
        type=click.UNPROCESSED,
        metavar="COMMAND [ARG]...",
    )
    def with_container_env(
        clear: bool,
        no_override: bool,
        keep: tuple[str, ...],
        directory: str | None,
        user_spec: str | None,
        setsid: bool,
        verbose: bool,
        command: tuple[str, ...],
    ) -> None:
        """Run a command with the container's environment snapshot.

        The saved variables are laid over the current environment; HOME,
        USER, LOGNAME, SHELL, UID, GID, GROUP and SUDO_* are never taken
        from the snapshot.  The command is executed directly, not through a
        shell.
        """
        errors.set_verbose(verbose)
        status = run(
            list(command),
            directory,
            clear=clear,
            no_override=no_override,
            keep=keep,
            user_spec=user_spec,
            setsid=setsid,
        )
        # Exit here rather than return through click: nothing after the
        # switch may run code that was not loaded before it.
        sys.exit(status)

    return with_container_env
