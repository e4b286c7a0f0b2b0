"""One entry point for all four commands, chosen by name.

The single-file build (``envtools.pyz``) is installed once and run under
each command's name, as busybox is: through a launcher script that names
the command (what install.sh writes) or through a symlink to the archive.
The name the file was run under picks the command; failing that, the first
argument does, so ``envtools.pyz setuser nobody id`` works without any link.
"""

from __future__ import annotations

import os
import sys

from envtools import errors

# Importing typing costs milliseconds; mypy takes this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

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


class SitePackages:
    """Put the site directories on sys.path when python-pam is imported.

    The single-file build runs under ``python3 -IS``: the archive carries
    click, so start-up skips the site module and every ``.pth`` file of the
    system.  python-pam (for ``setuser --login``) is not in the archive but
    in site-packages.  Placed last on ``sys.meta_path``, this finder is
    asked about ``pam`` only when no other finder has it; it then does once
    what ``-I`` alone would have done at start-up (``site.main()``: the
    site-packages directories and their ``.pth`` files, no user site) and
    looks ``pam`` up again.  Any other missing module stays missing, so a
    module left out of the archive fails everywhere, not only on machines
    without it in site-packages.
    """

    @classmethod
    def find_spec(
        cls,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
        /,
    ) -> ModuleSpec | None:
        """Add the site directories, then find ``pam`` on sys.path again.

        :param fullname: the module's full name.
        :param path: the parent package's ``__path__``; ``None`` for a
            top-level module.
        :param target: unused, part of the finder protocol.
        :returns: the module spec, or ``None`` when it is nowhere.
        """
        if fullname != "pam" or path is not None:
            return None
        sys.meta_path.remove(cls)
        import site

        site.main()
        from importlib.machinery import PathFinder

        return PathFinder.find_spec(fullname)


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


def main(command: str | None = None) -> None:
    """Run *command*, else the one named by ``argv[0]`` or ``argv[1]``.

    :param command: a name from :data:`COMMANDS`, as an installed launcher
        gives it; ``None`` to choose by the arguments, exit 2 when they
        name no command.
    """
    if sys.flags.no_site and SitePackages not in sys.meta_path:
        sys.meta_path.append(SitePackages)
    if command is not None:
        chosen: tuple[str, list[str]] | None = (COMMANDS[command], sys.argv)
    else:
        chosen = choose(sys.argv)
    if chosen is None:
        sys.exit(_usage(sys.argv[1:]))
    module, sys.argv = chosen
    # __import__, not importlib.import_module: the importlib package
    # imports warnings, and the plain path would pay for both.
    __import__(module)
    sys.modules[module].main()


def _usage(args: list[str]) -> int:
    """Print help on stdout for ``--help``, else one line on stderr."""
    if args[:1] in (["--help"], ["-h"]):
        sys.stdout.write(USAGE[0].upper() + USAGE[1:] + "\n")
        return errors.EXIT_OK
    if args:
        name = errors.quote(args[0])
        error = errors.UsageError(f"unknown command {name}: expected {_NAMES}")
    else:
        error = errors.UsageError(USAGE)
    return errors.fail(PROG, error, errors.EXIT_USAGE)
