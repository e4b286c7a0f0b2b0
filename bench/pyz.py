"""Time ``setuser nobody true`` from envtools.pyz against the venv and floors.

Contenders, interleaved in one run:

- the single-file build, run through a ``setuser`` link to it, as installed
  (its interpreter is ``/usr/bin/python3 -I``);
- the venv launcher of the development install;
- the floor script of bench/setuser.py under each of those interpreters,
  and packed as a zipapp of its own.

The zipapp's target is the one setuser has: at most 1.2x the floor under
the same interpreter.  Python runs any zipapp through runpy, whose imports
cost about as much as the whole floor script; the zipapp floor shows that
share apart from envtools' own.  Run as root:
``.venv/bin/python bench/pyz.py [RUNS] [--pyz PATH]``; without --pyz, the
archive is built first into a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipapp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import bin_dir
from common import print_table
from common import time_commands
from setuser import FLOOR

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SYSTEM_PYTHON = "/usr/bin/python3"


def build(directory: str) -> str:
    """Build envtools.pyz into *directory* with packaging/build-pyz."""
    script = os.path.join(REPO, "packaging", "build-pyz")
    subprocess.run(
        [sys.executable, script, "--output", directory],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return os.path.join(directory, "envtools.pyz")


def pack_floor(directory: str) -> str:
    """The floor script as the __main__ of a zipapp with envtools' shebang."""
    source = os.path.join(directory, "floor-app")
    os.mkdir(source)
    with open(os.path.join(source, "__main__.py"), "w") as stream:
        stream.write(FLOOR)
    target = os.path.join(directory, "floor.pyz")
    zipapp.create_archive(source, target, interpreter=f"{SYSTEM_PYTHON} -I")
    return target


def contenders(link: str, floor: str, floor_pyz: str) -> dict[str, list[str]]:
    """The commands to time, by name."""
    return {
        "pyz via setuser link": [link, "nobody", "true"],
        "floor (/usr/bin/python3 -I)": [SYSTEM_PYTHON, "-I", floor],
        "floor as a zipapp": [floor_pyz],
        "venv launcher": [os.path.join(bin_dir(), "setuser"), "nobody", "true"],
        "floor (venv python)": [sys.executable, floor],
    }


def main() -> None:
    """Time every contender interleaved; print medians, ratios and targets."""
    if os.geteuid() != 0:
        sys.exit("bench: run as root: the contenders switch users")
    parser = argparse.ArgumentParser(prog="bench/pyz.py")
    parser.add_argument("runs", nargs="?", type=int, default=200)
    parser.add_argument("--pyz")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="envtools-bench-") as temp:
        pyz = os.path.abspath(args.pyz) if args.pyz else build(temp)
        link = os.path.join(temp, "setuser")
        os.symlink(pyz, link)
        floor = os.path.join(temp, "floor.py")
        with open(floor, "w") as stream:
            stream.write(FLOOR)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
        argv = contenders(link, floor, pack_floor(temp))
        medians = time_commands(argv, runs=args.runs, env=env)

    print_table(medians, floor="floor (/usr/bin/python3 -I)")
    pyz_ratio = medians["pyz via setuser link"] / medians["floor (/usr/bin/python3 -I)"]
    zip_ratio = medians["pyz via setuser link"] / medians["floor as a zipapp"]
    venv_ratio = medians["venv launcher"] / medians["floor (venv python)"]
    print(f"pyz / its floor:          {pyz_ratio:.2f}x (target 1.20x)")
    print(f"pyz / zipapp floor:       {zip_ratio:.2f}x")
    print(f"venv launcher / floor:    {venv_ratio:.2f}x (target 1.20x)")


if __name__ == "__main__":
    main()
