"""Time ``setuser nobody true`` against the floor and its peers, in one run.

The floor is the least a Python wrapper can do: the same interpreter running
a script that looks the user up, switches and execs, with no checks, no
environment work and no error handling.  Target: setuser at most 1.2x it.

Run as root: ``.venv/bin/python bench/setuser.py [RUNS]``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import bin_dir
from common import print_table
from common import time_commands

# os.execvp imports warnings on first use; after the drop the interpreter
# under /root is unreadable, so the floor loads it first, as setuser does
# with everything it needs.
FLOOR = """\
import os
import pwd
import warnings
entry = pwd.getpwnam("nobody")
os.setgroups(os.getgrouplist(entry.pw_name, entry.pw_gid))
os.setgid(entry.pw_gid)
os.setuid(entry.pw_uid)
os.execvp("true", ["true"])
"""


def contenders(floor_script: str) -> dict[str, list[str]]:
    """The commands to time, by name; peers only where installed."""
    commands = {
        "setuser nobody true": [os.path.join(bin_dir(), "setuser"), "nobody", "true"],
        "floor (python script)": [sys.executable, floor_script],
    }
    peers = {
        "setpriv": ["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                    "--init-groups", "true"],
        "runuser": ["runuser", "-u", "nobody", "--", "true"],
        "gosu": ["gosu", "nobody", "true"],
    }  # fmt: skip
    for name, argv in peers.items():
        if shutil.which(argv[0]):
            commands[name] = argv
    return commands


def main() -> None:
    """Time every contender interleaved and print medians and ratios."""
    if os.geteuid() != 0:
        sys.exit("bench: run as root: the contenders switch users")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(FLOOR)
    try:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
        medians = time_commands(contenders(script.name), runs=runs, env=env)
    finally:
        os.unlink(script.name)

    print_table(medians, floor="floor (python script)")


if __name__ == "__main__":
    main()
