"""Time the single-file build's commands against the floors of bench/.

Each floor is the one of the command's own bench script, run by the
interpreter with the flags of the archive's first line, ``/usr/bin/python3
-IS``, so the ratios hold the cost of envtools, not of another start-up.
Three tables, each from one interleaved run:

``setuser nobody true``, against the floor of bench/setuser.py:

- the installed launcher (what install.sh puts in P/bin), whose first line
  is the archive's own, ``#!/usr/bin/python3 -IS``;
- the same launcher with ``-I`` alone, the interpreter flags of a plain
  ``python3 -I`` start with site-packages;
- a ``setuser`` symlink to the archive, which Python runs through runpy;
- the floor script under ``python3 -IS`` and under ``python3 -I``, and
  packed as a zipapp of its own (``-IS``).

Target: the one setuser has, at most 1.2x the floor with the same flags.

``with-container-env true`` from the installed launcher, over the 50-variable
snapshot of bench/with_container_env.py and against its floor.  Target:
at most 1.3x.

save-container-env from the installed launcher (the plain form, location
from $ENVTOOLS_SNAPSHOT_DIR) writing the 1,000 variables of 100 bytes of
bench/save_container_env.py, against its minimal writer.  As there, every
run writes the same values unless ``--changing`` is given; then two sets of
values alternate, every contender under env(1).  Target: at most 1.2x.

Every snapshot is written under the temporary directory, never in
/etc/container_environment, and each child gets an environment of its own
with no PYTHON* variable.  Besides wall-clock medians, the tables give the
medians of CPU time (user + system, from wait4) of each run: on a busy
shared machine they move less than wall-clock time, which also holds the
time spent waiting for a CPU.  Run as root:
``.venv/bin/python bench/pyz.py [RUNS] [--save-runs N] [--changing]
[--pyz PATH]``; without --pyz, the archive is built first into a temporary
directory.
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

from save_container_env import COUNT  # noqa: E402
from save_container_env import MINIMAL_WRITER  # noqa: E402
from save_container_env import SIZE  # noqa: E402

# That script's own helpers, private to it: imported, not copied, so both
# benches write the same environments.
from save_container_env import _environment as writer_environment  # noqa: E402
from save_container_env import _with_env as with_env  # noqa: E402
from setuser import FLOOR  # noqa: E402
from with_container_env import FLOOR as READER_FLOOR  # noqa: E402
from with_container_env import VARIABLES  # noqa: E402
from with_container_env import make_snapshot  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SYSTEM_PYTHON = "/usr/bin/python3"

PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

COMMANDS = ("setuser", "save-container-env", "container-env", "with-container-env")

FLOOR_IS = "floor (python3 -IS)"
FLOOR_I = "floor (python3 -I)"
LAUNCHER = "installed launcher (-IS)"
LAUNCHER_I = "launcher with -I only"
LINK = "symlink to the pyz (-IS)"
FLOOR_PYZ = "floor as a zipapp (-IS)"
MINIMAL = "minimal writer (python3 -IS)"

Commands = dict[str, Sequence[str]]


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


def _write(path: str, text: str) -> str:
    """Write *text* to a new file at *path*; return *path*."""
    with open(path, "w") as stream:
        stream.write(text)
    return path


def setuser_contenders(temp: str, bin_dir: str, pyz: str) -> Commands:
    """Set up the setuser contenders under *temp*; their commands, by name."""
    launcher = os.path.join(bin_dir, "setuser")
    link = os.path.join(temp, "setuser")
    os.symlink(pyz, link)
    floor = _write(os.path.join(temp, "floor.py"), FLOOR)
    plain_i = variant(launcher, "-I")
    return {
        LAUNCHER: [launcher, "nobody", "true"],
        FLOOR_IS: [SYSTEM_PYTHON, "-IS", floor],
        LAUNCHER_I: [plain_i, "nobody", "true"],
        FLOOR_I: [SYSTEM_PYTHON, "-I", floor],
        LINK: [link, "nobody", "true"],
        FLOOR_PYZ: [pack_floor(temp)],
    }


def reader_contenders(temp: str, bin_dir: str) -> tuple[Commands, dict[str, str]]:
    """with-container-env true and its floor, and the environment of both.

    The snapshot is bench/with_container_env.py's, in a directory of its
    own under *temp*; the plain form finds it through the environment.
    """
    top = os.path.join(temp, "reader")
    os.mkdir(top, 0o700)
    snap = make_snapshot(top)
    floor = _write(os.path.join(top, "floor.py"), READER_FLOOR)
    commands: Commands = {
        LAUNCHER: [os.path.join(bin_dir, "with-container-env"), "true"],
        FLOOR_IS: [SYSTEM_PYTHON, "-IS", floor, snap],
    }
    return commands, {"PATH": PATH, "ENVTOOLS_SNAPSHOT_DIR": snap}


def writer_contenders(
    temp: str, bin_dir: str, changing: bool
) -> tuple[Commands, dict[str, str] | None]:
    """save-container-env and the minimal writer, and their environment.

    As in bench/save_container_env.py: one environment for every run, or
    with *changing* two in turn, each passed by env(1) (and then ``None``
    is returned for the environment).  Everything is written under *temp*.
    """
    top = os.path.join(temp, "writer")
    os.mkdir(top, 0o700)
    writer = _write(os.path.join(top, "minimal.py"), MINIMAL_WRITER)
    floor = [SYSTEM_PYTHON, "-IS", writer, f"{top}/floor"]
    save = [os.path.join(bin_dir, "save-container-env")]
    if not changing:
        commands: Commands = {MINIMAL: floor, LAUNCHER: save}
        return commands, writer_environment(f"{top}/plain")

    commands = {}
    for tag in "ab":
        env = writer_environment(f"{top}/plain", tag)
        commands[f"{MINIMAL} {tag}"] = with_env(env, floor)
        commands[f"{LAUNCHER} {tag}"] = with_env(env, save)
    return commands, None


def time_runs(
    commands: Commands, runs: int, env: dict[str, str] | None, quiet: bool = False
) -> dict[str, tuple[float, float]]:
    """Run each command *runs* times, interleaved; medians of wall and CPU ms.

    Like bench/common.py's time_commands, with the CPU time of each run
    from wait4 beside the wall-clock time.  With *quiet*, the children's
    stderr goes to /dev/null: the plain save-container-env warns on every
    run when the docker_env group is missing.  A failure still shows as a
    non-zero status.
    """
    stderr = subprocess.DEVNULL if quiet else None
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            child = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
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


def report(
    title: str,
    medians: dict[str, tuple[float, float]],
    floor: str,
    ratios: Sequence[tuple[str, str, str]],
) -> None:
    """Print *title*, the table against *floor*, then the *ratios* that matter.

    :param ratios: ``(contender, floor, note)`` triples; a note such as
        ``" (target 1.20x)"`` follows the two ratios.
    """
    width = max(len(name) for name in medians)
    base_wall, base_cpu = medians[floor]
    print(title)
    print(f"{'':<{width}}  {'wall':>8}  {'ratio':>6}  {'CPU':>8}  {'ratio':>6}")
    for name, (wall, cpu) in medians.items():
        print(
            f"{name:<{width}}  {wall:5.2f} ms  {wall / base_wall:5.2f}x  "
            f"{cpu:5.2f} ms  {cpu / base_cpu:5.2f}x"
        )

    print()
    for name, base, note in ratios:
        wall = medians[name][0] / medians[base][0]
        cpu = medians[name][1] / medians[base][1]
        print(f"{name} / {base}: wall {wall:.2f}x, CPU {cpu:.2f}x{note}")
    print()


def bench_setuser(temp: str, bin_dir: str, pyz: str, runs: int) -> None:
    """Time and report ``setuser nobody true`` and its floors."""
    commands = setuser_contenders(temp, bin_dir, pyz)
    medians = time_runs(commands, runs, {"PATH": PATH})
    target = " (target 1.20x)"
    ratios = [
        (LAUNCHER, FLOOR_IS, target),
        (LAUNCHER_I, FLOOR_I, target),
        (LAUNCHER, FLOOR_I, ""),
        (LINK, FLOOR_IS, ""),
        (LINK, FLOOR_PYZ, ""),
    ]
    title = f"setuser nobody true, median of {runs} runs"
    report(title, medians, FLOOR_IS, ratios)


def bench_reader(temp: str, bin_dir: str, runs: int) -> None:
    """Time and report ``with-container-env true`` and its floor."""
    commands, env = reader_contenders(temp, bin_dir)
    medians = time_runs(commands, runs, env)
    ratios = [(LAUNCHER, FLOOR_IS, " (target 1.30x)")]
    title = f"with-container-env true, {VARIABLES} variables, median of {runs} runs"
    report(title, medians, FLOOR_IS, ratios)


def bench_writer(temp: str, bin_dir: str, runs: int, changing: bool) -> None:
    """Time and report save-container-env and the minimal writer."""
    commands, env = writer_contenders(temp, bin_dir, changing)
    medians = time_runs(commands, runs, env, quiet=True)
    target = " (target 1.20x)"
    if changing:
        tags = ("a", "b")
        ratios = [(f"{LAUNCHER} {t}", f"{MINIMAL} {t}", target) for t in tags]
    else:
        ratios = [(LAUNCHER, MINIMAL, target)]
    kind = "changing" if changing else "unchanged"
    title = (
        f"save-container-env, {COUNT} variables of {SIZE} bytes, {kind} "
        f"values, in {temp}\nmedian of {runs} runs"
    )
    report(title, medians, next(iter(commands)), ratios)


def main() -> None:
    """Time every contender interleaved; print medians, ratios and targets."""
    if os.geteuid() != 0:
        sys.exit("bench: run as root: the contenders switch users")
    parser = argparse.ArgumentParser(prog="bench/pyz.py")
    parser.add_argument(
        "runs",
        nargs="?",
        type=int,
        default=200,
        help="runs of setuser and the reader (default 200)",
    )
    parser.add_argument(
        "--save-runs",
        type=int,
        default=60,
        help="runs of the writer (default 60, as bench/save_container_env.py)",
    )
    parser.add_argument(
        "--changing",
        action="store_true",
        help="the writer changes every value on every run",
    )
    parser.add_argument("--pyz", help="an envtools.pyz already built")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="envtools-bench-") as temp:
        os.chmod(temp, 0o755)
        pyz = os.path.abspath(args.pyz) if args.pyz else build(temp)
        bin_dir = install(pyz, os.path.join(temp, "prefix"))
        bench_setuser(temp, bin_dir, pyz, args.runs)
        bench_reader(temp, bin_dir, args.runs)
        bench_writer(temp, bin_dir, args.save_runs, args.changing)


if __name__ == "__main__":
    main()
