"""The snapshot: where it lives and which names it never carries.

One module per on-disk format (``envdir``, ``shell``, ``jsonfile``), each
with its writer and reader.
"""

from __future__ import annotations

import os

from envtools.errors import EnvtoolsError
from envtools.errors import quote

DEFAULT_DIR = "/etc/container_environment"

# Overrides DEFAULT_DIR for every command; --dir overrides both.
DIR_VARIABLE = "ENVTOOLS_SNAPSHOT_DIR"

DEFAULT_GROUP = "docker_env"

# Names that describe who a process is, not what container it runs in.  The
# writer does not take them from its own environment, and with-container-env
# never takes them from the snapshot.
IDENTITY_NAMES = frozenset(
    [b"HOME", b"USER", b"LOGNAME", b"GROUP", b"UID", b"GID", b"SHELL"]
)


# Names a shell or a terminal sets for one process: the directory it was
# started in, its nesting level, the last command, the terminal type.  Saved,
# they would follow every reader around (a PWD that is not the working
# directory, root's TERM in a member's login shell through --profile).
SESSION_NAMES = frozenset([b"PWD", b"OLDPWD", b"SHLVL", b"_", b"TERM"])

# The mode of an envdir the writer is deleting in place (only where it
# cannot be swapped away, see writer._replace_unmovable): sticky, no
# permissions, which no envdir the writer makes ever has.
RETIRED_MODE = 0o1000

# What the writer does not take from its own environment unless --include
# names it.
NOT_SAVED = IDENTITY_NAMES | SESSION_NAMES


def location(option: str | None) -> str:
    """The snapshot directory: *option*, else $ENVTOOLS_SNAPSHOT_DIR, else
    the default.  Always an absolute path without a trailing slash.

    :raises EnvtoolsError: a relative path, and the working directory is
        gone.
    """
    path = option or os.environ.get(DIR_VARIABLE) or DEFAULT_DIR
    try:
        return os.path.abspath(path)
    except OSError as error:
        message = f"cannot resolve {quote(path)}: {error.strerror}"
        raise EnvtoolsError(message) from None
