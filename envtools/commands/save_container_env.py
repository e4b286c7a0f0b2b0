"""save-container-env: write the container's environment snapshot.

The plain form (no argument at all, as an entrypoint runs it) is handled by
hand and never imports click; every other form goes through the click
command built by :func:`_click_command`.  Both end in :func:`run`.
"""

from __future__ import annotations

import os
import sys

from envtools import errors
from envtools import procenv
from envtools import snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from envtools.snapshot.writer import Request

PROG = "save-container-env"

_COMPLETE = "_SAVE_CONTAINER_ENV_COMPLETE"


def main() -> None:
    """Entry point of the ``save-container-env`` launcher."""
    procenv.prepare()
    args = sys.argv[1:]
    # A shell asking click for completions runs the command with no
    # argument too; only click can answer it, and nothing may be written.
    if not args and _COMPLETE not in os.environ:
        from envtools.snapshot.writer import Request

        directory = _location(None)
        sys.exit(run(Request(directory, snapshot.DEFAULT_GROUP)))

    from envtools.commands import _click

    _click.run(_click_command(), args, PROG, errors.EXIT_USAGE)


def _location(option: str | None) -> str:
    """:func:`envtools.snapshot.location`, or exit 1 with its error."""
    try:
        return snapshot.location(option)
    except errors.EnvtoolsError as error:
        sys.exit(errors.fail(PROG, error, errors.EXIT_FAILED))


def run(request: Request) -> int:
    """Save the environment this process was started with, as *request* says.

    :param request: where and how to save.
    :returns: 0, or 1 with the failure reported on stderr.
    """
    from envtools.snapshot import writer

    environ = procenv.passable(PROG)
    try:
        writer.save(request, environ)
    except errors.EnvtoolsError as error:
        return errors.fail(PROG, error, errors.EXIT_FAILED)
    errors.debug(PROG, f"saved {errors.quote(request.directory)}")
    return errors.EXIT_OK


def _click_command() -> click.Command:
    """Build the click command for every form but the plain one."""
    import click

    from envtools import __version__
    from envtools.commands import _click
    from envtools.snapshot.writer import Request

    @click.command(name=PROG)
    @click.option(
        "--dir",
        "directory",
        metavar="DIR",
        callback=_click.nonempty,
        help=f"Write the snapshot to DIR, DIR.sh and DIR.json (default: "
        f"${snapshot.DIR_VARIABLE}, else {snapshot.DEFAULT_DIR}).",
    )
    @click.option(
        "--group",
        metavar="NAME",
        default=snapshot.DEFAULT_GROUP,
        show_default=True,
        help="The group that may read the snapshot.",
    )
    @click.option(
        "--keep-existing",
        is_flag=True,
        help="Files already in DIR win over the environment.",
    )
    @click.option(
        "--exclude",
        metavar="NAME",
        multiple=True,
        help="Do not take NAME from the environment (repeatable).",
    )
    @click.option(
        "--include",
        metavar="NAME",
        multiple=True,
        help="Take NAME from the environment even if excluded (repeatable).",
    )
    @click.option(
        "--unset",
        metavar="NAME",
        multiple=True,
        help="Leave NAME out of the snapshot, even if a file in DIR defines "
        "it (repeatable).",
    )
    @click.option(
        "--profile",
        is_flag=True,
        help="Also install a profile.d snippet that sources DIR.sh.",
    )
    @click.option(
        "--profile-dir",
        metavar="PDIR",
        callback=_click.nonempty,
        default="/etc/profile.d",
        show_default=True,
        help="Where --profile installs its snippet.",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Report each step on stderr.")
    @click.version_option(
        __version__, prog_name=PROG, message="%(prog)s (envtools) %(version)s"
    )
    def save_container_env(
        directory: str | None,
        group: str,
        keep_existing: bool,
        exclude: tuple[str, ...],
        include: tuple[str, ...],
        unset: tuple[str, ...],
        profile: bool,
        profile_dir: str,
        verbose: bool,
    ) -> None:
        """Write the container's environment snapshot.

        Saves the environment this command was started with to DIR (one file
        per variable), DIR.sh (export lines) and DIR.json, replacing each
        atomically.  Files already in DIR are kept; for a name in both, the
        environment wins.  HOME, USER, LOGNAME, GROUP, UID, GID, SHELL, PWD,
        OLDPWD, SHLVL, _ and TERM are not taken from the environment.  Must be
        run as root.
        """
        errors.set_verbose(verbose)
        request = Request(
            directory=_location(directory),
            group=group,
            keep_existing=keep_existing,
            exclude=frozenset(os.fsencode(name) for name in exclude),
            include=frozenset(os.fsencode(name) for name in include),
            profile_dir=os.path.abspath(profile_dir) if profile else None,
            unset=frozenset(os.fsencode(name) for name in unset),
        )
        sys.exit(run(request))

    return save_container_env
