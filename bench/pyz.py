"""Time ``setuser nobody true`` from the single-file build against its floors.

Contenders, interleaved in one run:

- the installed launcher (what install.sh puts in P/bin), whose first line
  is the archive's own, ``#!/usr/bin/python3 -IS``;
- the same launcher with ``-I`` alone, the interpreter flags of a plain
  ``python3 -I`` start with site-packages;
- a ``setuser`` symlink to the archive, which Python runs through runpy;
- the floor script of bench/setuser.py under ``python3 -IS`` and under
  ``python3 -I``, and packed as a zipapp of its own (``-IS``).

The target is the one setuser has: at most 1.2x the floor under the same
interpreter with the same flags.  Besides wall-clock medians, the table
gives the medians of CPU time (user + system, from wait4) of each run:
on a busy shared machine they move less than wall-clock time, which also
holds the time spent waiting for a CPU.  Run as root:
``.venv/bin/python bench/pyz.py [RUNS] [--pyz PATH]``; without --pyz, the
archive is built first into a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipapp
from collections.abc import Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from setuser import FLOOR

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SYSTEM_PYTHON = "/usr/bin/python3"

COMMANDS = ("setuser", "save-container-env", "container-env", "with-container-env")

FLOOR_IS = "floor (python3 -IS)"
FLOOR_I = "floor (python3 -I)"
LAUNCHER = "installed launcher (-IS)"
LAUNCHER_I = "launcher with -I only"
LINK = "symlink to the pyz (-IS)"
FLOOR_PYZ = "floor as a zipapp (-IS)"


def build(directory: str) -> str:
    """Build envtools.pyz and its installer into *directory*."""
    script = os.path.join(REPO, "packaging", "build-pyz")
    subprocess.run(
        [sys.executable, script, "--output", directory],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return os.path.join(directory, "envtools.pyz")


def install(pyz: str, prefix: str) -> str:
    """Install *pyz* under *prefix* with install.sh; return the bin directory.

    install.sh takes completions too; empty files stand in for them.
    """
    source = os.path.join(prefix, "from")
    os.makedirs(os.path.join(source, "man"))
    os.makedirs(os.path.join(source, "completion"))
    shutil.copy(pyz, source)
    for shell, names in {"bash": "{}", "zsh": "_{}", "fish": "{}.fish"}.items():
        os.mkdir(os.path.join(source, "completion", shell))
        for name in COMMANDS:
            path = os.path.join(source, "completion", shell, names.format(name))
            with open(path, "w"):
                pass
    script = os.path.join(REPO, "packaging", "install.sh")
    subprocess.run(
        ["/bin/sh", script, "--prefix", prefix, "--from", source], check=True
    )
    return os.path.join(prefix, "bin")


def variant(launcher: str, flags: str) -> str:
    """A copy of *launcher* beside it, whose interpreter line has *flags*.

    Beside it, since a launcher finds the archive from where it is.
    """
    with open(launcher) as stream:
        lines = stream.read().split("\n")
    lines[0] = f"#!{SYSTEM_PYTHON} {flags}"
    target = f"{launcher}{flags}"
    with open(target, "w") as stream:
        stream.write("\n".join(lines))
    os.chmod(target, 0o755)
    return target


def pack_floor(directory: str) -> str:
    """The floor script as the __main__ of a zipapp with envtools' flags."""
    source = os.path.join(directory, "floor-app")
    os.mkdir(source)
    with open(os.path.join(source, "__main__.py"), "w") as stream:
        stream.write(FLOOR)
    target = os.path.join(directory, "floor.pyz")
    zipapp.create_archive(source, target, interpreter=f"{SYSTEM_PYTHON} -IS")
    return target


def contenders(temp: str, pyz: str) -> dict[str, Sequence[str]]:
    """Set up every contender under *temp*; their commands, by name."""
    bin_dir = install(pyz, os.path.join(temp, "prefix"))
    launcher = os.path.join(bin_dir, "setuser")
    link = os.path.join(temp, "setuser")
    os.symlink(pyz, link)
    floor = os.path.join(temp, "floor.py")
    with open(floor, "w") as stream:
        stream.write(FLOOR)
    plain_i = variant(launcher, "-I")
    return {
        LAUNCHER: [launcher, "nobody", "true"],
        FLOOR_IS: [SYSTEM_PYTHON, "-IS", floor],
        LAUNCHER_I: [plain_i, "nobody", "true"],
        FLOOR_I: [SYSTEM_PYTHON, "-I", floor],
        LINK: [link, "nobody", "true"],
        FLOOR_PYZ: [pack_floor(temp)],
    }


def time_runs(
    commands: dict[str, Sequence[str]], runs: int, env: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """Run each command *runs* times, interleaved; medians of wall and CPU ms.

    Like bench/common.py's time_commands, with the CPU time of each run
    from wait4 beside the wall-clock time.
    """
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            child = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
            _, status, usage = os.wait4(child.pid, 0)
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(usage.ru_utime + usage.ru_stime)
            if status != 0:
                sys.exit(f"bench: {name} exited with wait status {status}")
    return {
        name: (
            statistics.median(walls[name]) * 1000,
            statistics.median(cpus[name]) * 1000,
        )
        for name in commands
    }


def report(medians: dict[str, tuple[float, float]]) -> None:
    """Print the table against the -IS floor, then the ratios that matter."""
    width = max(len(name) for name in medians)
    base_wall, base_cpu = medians[FLOOR_IS]
    print(f"{'':<{width}}  {'wall':>8}  {'ratio':>6}  {'CPU':>8}  {'ratio':>6}")
    for name, (wall, cpu) in medians.items():
        print(
            f"{name:<{width}}  {wall:5.2f} ms  {wall / base_wall:5.2f}x  "
            f"{cpu:5.2f} ms  {cpu / base_cpu:5.2f}x"
        )
    ratios = [
        (LAUNCHER, FLOOR_IS, " (target 1.20x)"),
        (LAUNCHER_I, FLOOR_I, " (target 1.20x)"),
        (LAUNCHER, FLOOR_I, ""),
        (LINK, FLOOR_IS, ""),
        (LINK, FLOOR_PYZ, ""),
    ]
    print()
    for name, floor, note in ratios:
        wall = medians[name][0] / medians[floor][0]
        cpu = medians[name][1] / medians[floor][1]
        print(f"{name} / {floor}: wall {wall:.2f}x, CPU {cpu:.2f}x{note}")


def main() -> None:
    """Time every contender interleaved; print medians, ratios and targets."""
    if os.geteuid() != 0:
        sys.exit("bench: run as root: the contenders switch users")
    parser = argparse.ArgumentParser(prog="bench/pyz.py")
    parser.add_argument("runs", nargs="?", type=int, default=200)
    parser.add_argument("--pyz")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="envtools-bench-") as temp:
        os.chmod(temp, 0o755)
        pyz = os.path.abspath(args.pyz) if args.pyz else build(temp)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
        medians = time_runs(contenders(temp, pyz), args.runs, env)

    report(medians)


if __name__ == "__main__":
    main()
