"""Extra installs of envtools for tests that run it as other users."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


@contextmanager
def venv_install(
    python: str, mode: int, prefix: str, *venv_options: str
) -> Iterator[Path]:
    """envtools pip-installed into a new virtual environment of *python*.

    :param mode: of the temporary directory holding it, which decides who
        can run it.
    :returns: the environment's bin directory; all of it is removed on exit.
    """
    top = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        top.chmod(mode)
        venv = top / "venv"
        subprocess.run([python, "-m", "venv", *venv_options, str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin/pip"), "install", "-q", str(REPO)],
            check=True,
            capture_output=True,
        )
        yield venv / "bin"
    finally:
        shutil.rmtree(top, ignore_errors=True)
