"""Time ``with-container-env true`` over 50 variables against the floor.

The floor is the least a Python reader can do: the same interpreter running
a script that lists the directory, reads each of the 50 files and execs,
with no trust checks, no gate and no error handling.  Peers: s6-envdir and
chpst -e, where installed.  Target: with-container-env at most 1.3x the
floor.

Run as root: ``.venv/bin/python bench/with_container_env.py [RUNS]``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import bin_dir  # noqa: E402
from common import print_table  # noqa: E402
from common import time_commands  # noqa: E402

VARIABLES = 50

FLOOR = """\
import os
import sys
top = sys.argv[1]
env = dict(os.environb)
for name in os.listdir(top):
    with open(os.path.join(top, name), "rb") as stream:
        env[os.fsencode(name)] = stream.read()[:-1]
os.execvpe("true", ["true"], env)
"""


def make_snapshot(top: str) -> str:
    """Write a 50-variable snapshot as the writer lays it out."""
    snap = os.path.join(top, "snap")
    os.mkdir(snap, 0o750)
    for index in range(VARIABLES):
        path = os.path.join(snap, f"VARIABLE_{index:02d}")
        with open(path, "wb") as stream:
            stream.write(b"value %d with some length to it\n" % index)
        os.chmod(path, 0o640)
    return snap


def contenders(floor_script: str, snap: str) -> dict[str, list[str]]:
    """The commands to time, by name; peers only where installed."""
    commands = {
        "with-container-env true": [
            os.path.join(bin_dir(), "with-container-env"),
            "true",
        ],
        "floor (python script)": [sys.executable, floor_script, snap],
    }
    if shutil.which("s6-envdir"):
        commands["s6-envdir"] = ["s6-envdir", snap, "true"]
    if shutil.which("chpst"):
        commands["chpst -e"] = ["chpst", "-e", snap, "true"]
    return commands


def main() -> None:
    """Time every contender interleaved and print medians and ratios."""
    if os.geteuid() != 0:
        sys.exit("bench: run as root: the snapshot is root's")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200

    top = tempfile.mkdtemp(prefix="envtools-bench-")
    try:
        snap = make_snapshot(top)
        floor_script = os.path.join(top, "floor.py")
        with open(floor_script, "w") as stream:
            stream.write(FLOOR)
        # The hot path takes the location from this variable: no option,
        # so no click.
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "ENVTOOLS_SNAPSHOT_DIR": snap}
        medians = time_commands(contenders(floor_script, snap), runs=runs, env=env)
    finally:
        shutil.rmtree(top)

    print_table(medians, floor="floor (python script)")


if __name__ == "__main__":
    main()
