"""One entry point for all four commands, chosen by name.

The single-file build (``envtools.pyz``) is installed once and linked under
each command's name, as busybox is.  The name the file was run under picks
the command; failing that, the first argument does, so
``envtools.pyz setuser nobody id`` works without any link.
"""

from __future__ import annotations

import importlib
import os
import sys

from envtools import errors

PROG = "envtools"

# Command name to module.  Only the chosen module is imported: each command
# keeps its own hot path, and none pays for the others' imports.
COMMANDS = {
    "setuser": "envtools.commands.setuser",
    "save-container-env": "envtools.commands.save_container_env",
    "container-env": "envtools.commands.container_env",
    "with-container-env": "envtools.commands.with_container_env",
}

_NAMES = ", ".join(COMMANDS)

USAGE = f"usage: {PROG} COMMAND [ARG]...; COMMAND is one of {_NAMES}"



def choose(argv: list[str]) -> tuple[str, list[str]] | None:
    """Pick the command for *argv* and the argv that command should see.

    The basename of ``argv[0]`` is tried first, then ``argv[1]``; in the
    second case the command name becomes the new ``argv[0]``, so the
    command sees itself as it would when run through a link.

    :param argv: the process's arguments, ``argv[0]`` included.
    :returns: the module name and the argv for it, or ``None`` when
        neither names a command.
    """
    name = os.path.basename(argv[0]) if argv else ""
    if name in COMMANDS:
        return COMMANDS[name], argv
    if len(argv) > 1 and argv[1] in COMMANDS:
        return COMMANDS[argv[1]], argv[1:]
    return None


def main() -> None:
    """Run the command named by ``argv[0]`` or ``argv[1]``, else exit 2."""
    chosen = choose(sys.argv)
    if chosen is None:
        sys.exit(_usage(sys.argv[1:]))
    module, sys.argv = chosen
    command = importlib.import_module(module)
    command.main()


def _usage(args: list[str]) -> int:
    """Print help on stdout for ``--help``, else one line on stderr."""
    if args[:1] in (["--help"], ["-h"]):
        sys.stdout.write(USAGE[0].upper() + USAGE[1:] + "\n")
        return errors.EXIT_OK
    if args:
        name = errors.quote(args[0])
        errors.report(PROG, f"unknown command {name}: expected {_NAMES}")
    else:
        errors.report(PROG, USAGE)
    return errors.EXIT_USAGE
