"""Timing whole commands side by side, for ratios within one run.

Absolute times say little on a shared machine; a ratio against a peer run
in the same loop, interleaved, says what the code costs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence


def time_commands(
    commands: Mapping[str, Sequence[str]],
    runs: int = 200,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    """Run each command *runs* times, interleaved; return medians in ms.

    Interleaving spreads machine noise evenly over the contenders.
    """
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            status = subprocess.call(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
            samples[name].append(time.perf_counter() - start)
            if status != 0:
                sys.exit(f"bench: {name} exited {status}: {list(argv)}")
    return {name: statistics.median(times) * 1000 for name, times in samples.items()}


def print_table(medians: dict[str, float], floor: str) -> None:
    """Print each median and its ratio to the *floor* contender."""
    base = medians[floor]
    width = max(len(name) for name in medians)
    for name, value in medians.items():
        print(f"{name:<{width}}  {value:7.2f} ms  {value / base:5.2f}x")


def bin_dir() -> str:
    """Where the envtools launchers under test are: beside this Python."""
    return os.path.dirname(sys.executable)
