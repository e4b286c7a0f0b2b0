"""Running a click command with envtools' error format.

Imported only on the option path: importing click is the most expensive
thing any command does.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from envtools import errors


def run(
    command: click.Command,
    args: list[str],
    prog: str,
    usage_status: int,
    failure_status: int = errors.EXIT_FAILED,
) -> NoReturn:
    """Run *command* on *args* and exit; a usage error is one line plus a hint.

    click's own ``Error:`` form is replaced by ``prog: message`` and
    ``Try 'prog --help'.``, exit *usage_status*.  When click cannot print
    ``--help`` or ``--version`` (a full disk, a closed pipe), that is one
    line too, exit *failure_status*.
    """
    if sys.stdout is None:
        # Started with stdout closed: click would print --help to nothing
        # and exit 0.  Descriptor 1 is procenv's read-only placeholder, so
        # printing fails with EBADF instead, and is reported below.
        sys.stdout = open(1, "w", closefd=False)
    repeated = _repeated_option(command, args)
    if repeated is not None:
        error = errors.UsageError(f"option {errors.quote(repeated)} given twice")
        sys.exit(errors.fail(prog, error, usage_status))
    stdout = sys.stdout
    try:
        status = command.main(args, prog_name=prog, standalone_mode=False)
    except SystemExit:
        # click turns a broken pipe into exit 1 without a word, even with
        # standalone_mode off; it replaces sys.stdout then, and only then.
        if sys.stdout is stdout:
            raise
        broken = errors.EnvtoolsError("cannot write output: Broken pipe")
        sys.exit(errors.fail(prog, broken, failure_status))
    except click.UsageError as error:
        message = _one_line(error.format_message())
        sys.exit(errors.fail(prog, errors.UsageError(message), usage_status))
    except click.Abort:
        sys.exit(usage_status)
    except OSError as error:
        # The commands report their own failures: only click's printing
        # raises here.  Python's flush at exit would fail again, noisily.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        failure = errors.EnvtoolsError(f"cannot write output: {error.strerror}")
        sys.exit(errors.fail(prog, failure, failure_status))
    sys.exit(status if isinstance(status, int) else 0)


def _repeated_option(command: click.Command, args: list[str]) -> str | None:
    """The first option before the arguments given twice, if it holds one value.

    click keeps the last of ``--user www-data --user root``; a sudo rule
    ending in ``--user www-data *`` would then grant root.  So, as setpriv
    does, a second one is an error.  The scan stops at ``--`` or the first
    argument that is not an option; an option click does not know is left
    for click to report.
    """
    by_name = {
        name: param
        for param in command.params
        if isinstance(param, click.Option)
        for name in [*param.opts, *param.secondary_opts]
    }
    seen: set[str] = set()
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        name, equals, _ = args[index].partition("=")
        option = by_name.get(name)
        if option is None:
            return None
        if not option.multiple and not option.count:
            if option.name in seen:
                return name
            seen.add(str(option.name))
        takes_value = not option.is_flag and not option.count
        index += 2 if takes_value and not equals else 1
    return None


def nonempty(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A click callback that refuses an empty path.

    ``--dir "$UNSET"`` would otherwise mean the default location, and the
    writer would replace the real snapshot.
    """
    if value == "":
        raise click.BadParameter("must not be empty")
    return value


def _one_line(message: str) -> str:
    """Make click's sentences fit the ``prog: lowercase message`` form.

    "No such option 'x'. Did you mean 'y'?" becomes one clause list:
    "no such option 'x'; did you mean 'y'?".
    """
    message = " ".join(message.split()).rstrip(".")
    return "; ".join(_lower_first(part) for part in message.split(". "))


def _lower_first(sentence: str) -> str:
    """*sentence* with a capitalized first word in lower case."""
    if sentence[:1].isupper() and sentence[1:2].islower():
        return sentence[0].lower() + sentence[1:]
    return sentence
