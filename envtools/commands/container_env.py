"""container-env: print the snapshot, for eval, a file or another program.

The plain form (no argument at all, as in ``eval "$(container-env)"``) is
handled by hand and never imports click; every other form goes through the
click command built by :func:`_click_command`.  Both end in :func:`run`.
"""

from __future__ import annotations

import os
import sys

from envtools import errors
from envtools import procenv
from envtools import snapshot
from envtools.snapshot import load

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    import click

PROG = "container-env"

_COMPLETE = "_CONTAINER_ENV_COMPLETE"

FORMATS = ("sh", "fish", "json", "dotenv", "docker", "systemd", "nul")


def main() -> None:
    """Entry point of the ``container-env`` launcher."""
    procenv.prepare()
    args = sys.argv[1:]
    # A shell asking click for completions runs the command with no
    # argument too; only click can answer it.
    if not args and _COMPLETE not in os.environ:
        sys.exit(run(None, "sh", []))

    from envtools.commands import _click

    _click.run(_click_command(), args, PROG, errors.EXIT_USAGE)


def run(
    directory: str | None, format: str, names: list[str], get: str | None = None
) -> int:
    """Print the snapshot in *directory* in *format*, or one raw value.

    :param directory: the snapshot directory as given, see
        :func:`envtools.snapshot.location`.
    :param format: one of :data:`FORMATS`.
    :param names: print only these; each missing one is reported.
    :param get: print this one value's bytes, nothing else.
    :returns: 0, or 1 with the failure reported on stderr.
    """
    try:
        path = snapshot.location(directory)
        env = load.load(path, PROG)
        errors.debug(PROG, f"read {len(env)} variables from {errors.quote(path)}")
        if get is not None:
            return _print_value(env, get)
        status = errors.EXIT_OK
        if names:
            env, status = _select(env, names)
        _write(_render(env, format))
        return status
    except errors.EnvtoolsError as error:
        return errors.fail(PROG, error, errors.EXIT_FAILED)


def _print_value(env: Mapping[bytes, bytes], name: str) -> int:
    """Write the value of *name* with no newline added; 1 when it is unset."""
    value = env.get(os.fsencode(name))
    if value is None:
        errors.report(PROG, f"{errors.quote(name)} is not in the snapshot")
        return errors.EXIT_FAILED
    _write(value)
    return errors.EXIT_OK


def _select(
    env: Mapping[bytes, bytes], names: list[str]
) -> tuple[dict[bytes, bytes], int]:
    """The variables named, in the order given, and 1 if any was missing."""
    chosen: dict[bytes, bytes] = {}
    status = errors.EXIT_OK
    for name in names:
        key = os.fsencode(name)
        if key in env:
            chosen[key] = env[key]
        else:
            errors.report(PROG, f"{errors.quote(name)} is not in the snapshot")
            status = errors.EXIT_FAILED
    return chosen, status


def _render(env: Mapping[bytes, bytes], format: str) -> bytes:
    """*env* in *format*; each variable the format cannot hold is reported."""
    if format == "sh":
        from envtools.snapshot import shell

        # Printed to be given to eval, as `eval "$(container-env)"`.
        text, problems = shell.render(env, for_eval=True)
    elif format == "json":
        from envtools.snapshot import jsonfile

        text, problems = jsonfile.dumps(env), []
    else:
        from envtools import formats

        text, problems = formats.RENDERERS[format](env)
    for name, reason in problems:
        errors.warn(PROG, f"left out {errors.quote(name)}: {reason}")
    return text


def _write(data: bytes) -> None:
    """Write all of *data* to descriptor 1.

    By hand, not through ``sys.stdout``: under ``PYTHONUNBUFFERED`` that is
    a raw file whose ``write`` may write part of the data and say so in a
    return value nobody reads.  Nothing is left buffered for the exit.

    :raises EnvtoolsError: the write failed (a closed pipe, a full disk).
    """
    # With stdout closed at start, descriptor 1 is procenv's read-only
    # /dev/null: the write fails with EBADF, as on the closed descriptor.
    left = memoryview(data)
    try:
        while left:
            try:
                left = left[os.write(1, left) :]
            except BlockingIOError:
                # A pipe someone made non-blocking: wait for room.
                import select

                select.select([], [1], [])
    except OSError as error:
        raise errors.EnvtoolsError(f"cannot write output: {error.strerror}") from None


def _click_command() -> click.Command:
    """Build the click command for every form but the plain one."""
    import click

    from envtools import __version__
    from envtools.commands import _click

    @click.command(name=PROG)
    @click.option(
        "--format",
        "format_",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format (default: sh).",
    )
    @click.option(
        "--get",
        metavar="NAME",
        help="Print the value of NAME alone, with no newline added.",
    )
    @click.option(
        "--dir",
        "directory",
        metavar="DIR",
        callback=_click.nonempty,
        help=f"Read the snapshot in DIR (default: ${snapshot.DIR_VARIABLE}, "
        f"else {snapshot.DEFAULT_DIR}).",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Report each step on stderr.")
    @click.version_option(
        __version__, prog_name=PROG, message="%(prog)s (envtools) %(version)s"
    )
    @click.argument("names", metavar="[NAME]...", nargs=-1)
    def container_env(
        format_: str | None,
        get: str | None,
        directory: str | None,
        verbose: bool,
        names: tuple[str, ...],
    ) -> None:
        """Print the container's environment snapshot.

        Only root and members of the snapshot directory's group may read it.
        Give NAMEs to print only those variables.  Where the format cannot
        hold a variable, it is left out and named on stderr.
        """
        if get is not None and (names or format_ is not None):
            given = "NAME" if names else "--format"
            raise click.UsageError(f"--get cannot be combined with {given}")
        errors.set_verbose(verbose)
        sys.exit(run(directory, format_ or "sh", list(names), get))

    return container_env
