"""save-container-env against a minimal, non-atomic writer of the same files.

Both write 1,000 variables of 100 bytes as an envdir, a shell file and a
JSON file, with the same interpreter, interleaved.  The minimal writer
opens each file in place and writes it: no lock, no temporary names, no
merge, no modes.  Target: save-container-env at most 1.2x.

The plain form (no argument, location from $ENVTOOLS_SNAPSHOT_DIR) is the
one an entrypoint runs; the --dir form goes through click and is shown for
comparison.  By default every run writes the same values, as at each start
of a container, so save-container-env can keep unchanged files (hard links);
``--changing`` alternates two sets of values of the same sizes, so every
file is compared and then written anew: the worst case.  Run as root:
``.venv/bin/python bench/save_container_env.py [--changing] [--where DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from common import bin_dir
from common import print_table
from common import time_commands

COUNT = 1000
SIZE = 100

# The floor: the same three artifacts, written the simplest way.
MINIMAL_WRITER = r"""
import json, os, sys
target = sys.argv[1]
env = os.environb
os.makedirs(target, exist_ok=True)
for name, value in env.items():
    with open(os.path.join(target.encode(), name), "wb") as f:
        f.write(value + b"\n")
with open(target + ".sh", "wb") as f:
    for name, value in env.items():
        f.write(b"export " + name + b"='" + value.replace(b"'", b"'\\''") + b"'\n")
text = {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
        for k, v in env.items()}
with open(target + ".json", "wb") as f:
    f.write(json.dumps(text).encode() + b"\n")
"""


def _environment(location: str, tag: str = "") -> dict[str, str]:
    """COUNT variables of SIZE bytes, plus the snapshot location.

    *tag* changes every value without changing its size.
    """
    env = {f"VAR_{i:04d}": (tag + f"{i:04d}-" * SIZE)[:SIZE] for i in range(COUNT)}
    env["ENVTOOLS_SNAPSHOT_DIR"] = location
    return env


def _with_env(env: dict[str, str], argv: list[str]) -> list[str]:
    """*argv* run by env(1) with exactly *env*."""
    return ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]


def main() -> None:
    """Time the writers and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument(
        "--where", default=None, help="parent of the work directory (default: $TMPDIR)"
    )
    parser.add_argument(
        "--changing",
        action="store_true",
        help="every run changes every value (no file can be reused)",
    )
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: save-container-env runs as root only")

    top = tempfile.mkdtemp(prefix="bench-save-", dir=options.where)
    try:
        writer = os.path.join(top, "minimal.py")
        with open(writer, "w") as stream:
            stream.write(MINIMAL_WRITER)
        if options.changing:
            commands, env = _changing(top, writer), None
        else:
            commands, env = _steady(top, writer), _environment(f"{top}/plain")
        medians = _quietly(commands, options.runs, env)
    finally:
        shutil.rmtree(top)
    kind = "changing" if options.changing else "unchanged"
    print(f"{COUNT} variables of {SIZE} bytes, {kind} values, in {top}")
    print(f"median of {options.runs} runs each")
    print_table(medians, next(iter(medians)))


def _steady(top: str, writer: str) -> dict[str, list[str]]:
    """The same environment every run, as at each restart of a container."""
    save = os.path.join(bin_dir(), "save-container-env")
    return {
        "minimal writer": [sys.executable, writer, f"{top}/floor"],
        "save-container-env": [save],
        "save-container-env --dir": [save, "--dir", f"{top}/click", "--group", "root"],
    }


def _changing(top: str, writer: str) -> dict[str, list[str]]:
    """Two environments written in turn to one place: every value changes.

    Every contender runs under env(1), so each pays the same extra exec.
    """
    save = os.path.join(bin_dir(), "save-container-env")
    commands = {}
    for tag in "ab":
        env = _environment(f"{top}/plain", tag)
        commands[f"minimal writer {tag}"] = _with_env(
            env, [sys.executable, writer, f"{top}/floor"]
        )
        commands[f"save-container-env {tag}"] = _with_env(env, [save])
    return commands


def _quietly(
    commands: dict[str, list[str]], runs: int, env: dict[str, str] | None
) -> dict[str, float]:
    """time_commands with the children's stderr sent to /dev/null.

    The plain form warns once per run when the docker_env group is missing;
    a failure still shows as a non-zero exit status.
    """
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        return time_commands(commands, runs=runs, env=env)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


if __name__ == "__main__":
    main()
