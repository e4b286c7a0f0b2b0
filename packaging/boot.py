"""Start a command of the single-file envtools, its modules read at once.

build-pyz puts this file into envtools.pyz as ``envtools_boot``; the
launchers that install.sh writes, and the archive's own ``__main__``, call
:func:`run`.

zipimport is written in Python.  When it first opens an archive it parses
every entry of the central directory, and for each module it searches its
table, opens the archive again, parses a local header and checks the
bytecode: together several percent of a plain setuser start.  So the
archive holds few entries: bytecode, this module, and two entries that
build-pyz writes.  ``envtools.bundle`` has the bytecode of every envtools
module; :func:`install` reads it with one call and puts a :class:`Bundle`
first on ``sys.meta_path``, which serves envtools' modules from memory.
``envtools.sources`` has the sources of every module, envtools' and
click's: when the bytecode was compiled for another Python than the one
running, zipimport ignores it, and the :class:`Bundle` compiles the
sources instead, on every start.
"""

from __future__ import annotations

import marshal
import sys
from zipimport import zipimporter

# Importing typing costs milliseconds; mypy takes this name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

BYTECODE = "envtools.bundle"
SOURCES = "envtools.sources"

# What importlib builds specs from, without importing importlib.
_ModuleSpec = type(__spec__)


class Bundle:
    """Find and load modules from the bytecode or the sources of one entry.

    :param archive: the archive's path, for ``__file__`` and ``__path__``.
    :param modules: module name to ``(is_package, content)``.
    :param compiled: whether each content is marshalled code, else source.
    """

    def __init__(
        self, archive: str, modules: dict[str, tuple[bool, bytes]], compiled: bool
    ) -> None:
        self._archive = archive
        self._modules = modules
        self._compiled = compiled

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
        /,
    ) -> ModuleSpec | None:
        """The spec of *fullname* when the bundle has it, else ``None``.

        :param fullname: the module's full name.
        :param path: unused: a name is in the bundle or not.
        :param target: unused, part of the finder protocol.
        """
        entry = self._modules.get(fullname)
        if entry is None:
            return None
        is_package = entry[0]
        where = f"{self._archive}/{fullname.replace('.', '/')}"
        origin = f"{where}/__init__.py" if is_package else f"{where}.py"
        # A loader by protocol, not by base class: importlib.abc would cost
        # its import on every start.
        spec = _ModuleSpec(fullname, self, origin=origin)  # type: ignore[arg-type]
        spec.has_location = True
        if is_package:
            # Submodules that the bundle lacks come from the archive.
            spec.submodule_search_locations = [where]
        return spec

    def create_module(self, spec: ModuleSpec) -> None:
        """Let the import system create the module object as usual."""

    def exec_module(self, module: ModuleType) -> None:
        """Run the module's bytecode, or its compiled source, in its namespace."""
        content = self._modules[module.__name__][1]
        if self._compiled:
            code = marshal.loads(content)
        else:
            code = compile(content, module.__file__ or "", "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - this is the loader


def install() -> None:
    """Put a :class:`Bundle` first on ``sys.meta_path``.

    Reads ``envtools.bundle`` through the zipimporter that loaded this
    module: a cache tag, then envtools' modules.  When the tag is not this
    Python's, reads ``envtools.sources`` instead.  Outside an archive (a
    stage directory), nothing is installed.
    """
    loader = __spec__.loader
    if not isinstance(loader, zipimporter):
        return
    tag, modules = marshal.loads(loader.get_data(BYTECODE))
    compiled = tag == sys.implementation.cache_tag
    if not compiled:
        modules = marshal.loads(loader.get_data(SOURCES))
    sys.meta_path.insert(0, Bundle(loader.archive, modules, compiled))


def run(command: str | None) -> None:
    """Run *command*, or the one the arguments name, from the archive.

    :param command: a command name, as a launcher gives it, or ``None``
        (the archive run as a file, through a link or with a command name
        as the first argument).
    """
    install()
    from envtools.multicall import main

    main(command)
