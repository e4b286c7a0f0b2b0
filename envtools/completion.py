"""Shell completion of user specs from the user and group databases.

Used as click's ``shell_complete`` callback on every ``USER[:GROUP]``
parameter; click runs it when ``_PROG_COMPLETE`` is set, so it is imported
only on the click path, never when a command simply runs.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Iterable

import click
from click.shell_completion import CompletionItem


def user_spec(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Complete ``USER[:GROUP]``: user names, or group names after a colon.

    Reads the whole user database (getpwent(3)) or the whole group database
    (getgrent(3)), so names from every NSS source configured for
    enumeration are offered.  The part before the colon is kept as typed,
    which lets ``www-data:<TAB>`` and ``:<TAB>`` both complete the group.

    :param ctx: unused; part of click's callback signature.
    :param param: unused; part of click's callback signature.
    :param incomplete: the word typed so far.
    :returns: the matching specs, sorted, each once.
    """
    user, colon, group = incomplete.partition(":")
    if colon:
        groups = _matching((entry.gr_name for entry in grp.getgrall()), group)
        return [CompletionItem(f"{user}:{name}") for name in groups]
    users = _matching((entry.pw_name for entry in pwd.getpwall()), user)
    return [CompletionItem(name) for name in users]


def _matching(names: Iterable[str], prefix: str) -> list[str]:
    """Sorted names starting with *prefix*, each once: two NSS sources may
    both list a name."""
    return sorted({name for name in names if name.startswith(prefix)})
