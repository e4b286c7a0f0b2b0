"""The shell format: ``export NAME='value'`` lines for POSIX shells.

dash, bash (also ``--posix``), zsh, ksh93, mksh, posh and busybox sh read
any byte but NUL inside single quotes unchanged, so each value is one
single-quoted word, with ``'`` written as ``'\\''``.  Nothing in a value is
ever executed: a single-quoted word has no expansion at all.

yash is the exception.  It holds variables as wide-character strings and
decodes its input with the locale: a byte it cannot decode stops the
sourced file at that line ("cannot read input"), and a value it cannot
decode cannot be held at all.  So :func:`render` writes ASCII values first,
then values that are valid UTF-8, then values that are not; before each of
the last two groups a guard line makes yash (and only yash) return from the
file when it could not read what follows.  yash therefore gets every ASCII
value, every UTF-8 value in a UTF-8 locale, and never a value it cannot
hold; every other shell gets everything.

``return`` only suits a sourced file: in text given to ``eval`` it ends
yash's whole script.  But yash decodes the text of an ``eval`` at once and
drops everything from the first byte it cannot decode, so for ``eval`` each
guard is a comment holding such a byte (one only a UTF-8 locale decodes,
then one no locale does): the text yash keeps ends in a complete comment.
"""

from __future__ import annotations

from collections.abc import Mapping

from envtools.snapshot import IDENTITY_NAMES

# Names that a supported shell treats specially on assignment: read-only
# (bash's UID, mksh's KSH_VERSION), recomputed on each use (RANDOM,
# SECONDS, LINENO), typed as integers (zsh's HISTSIZE), tied to an array
# (zsh's lowercase path), or with side effects (zsh's UID, EUID, GID, EGID
# and USERNAME change the shell's credentials when assigned).  Each entry is
# proved by tests/core/test_shell.py to change or lose the value in at least
# one shell; the list was built by running that probe over every special
# parameter the shells' manuals name.  Locale variables (LANG, LC_*) are not
# here: they misbehave only when the value names a locale that is not
# installed (see the man page, BUGS).
SPECIAL_NAMES = frozenset(
    b"""
    ARGC ARGV0 BASHOPTS BASHPID BASH_ALIASES BASH_ARGC BASH_ARGV BASH_CMDS BASH_COMMAND
    BASH_COMPAT BASH_LINENO BASH_SOURCE BASH_SUBSHELL BASH_VERSINFO BASH_XTRACEFD
    COLUMNS DIRSTACK EGID EPOCHREALTIME EPOCHSECONDS ERRNO EUID FUNCNAME FUNCNEST GID
    GROUPS HISTCHARS HISTCMD HISTSIZE JOBMAX KEYBOARD_HACK KEYTIMEOUT KSHEGID KSHGID
    KSHUID KSH_VERSION LINENO LINES LISTMAX MAILCHECK OPTIND PGRP PIPESTATUS
    POSH_VERSION PPID RANDOM SAVEHIST SECONDS SHELLOPTS SHLVL SRANDOM TMOUT
    TRY_BLOCK_ERROR TRY_BLOCK_INTERRUPT TTYIDLE UID USERNAME USER_ID WATCH
    ZLE_RPROMPT_INDENT ZSH_EVAL_CONTEXT ZSH_SUBSHELL _ aliases argv builtins cdpath
    commands dirstack dis_aliases dis_builtins dis_functions dis_functions_source
    dis_galiases dis_patchars dis_reswords dis_saliases fignore fpath funcfiletrace
    funcsourcetrace funcstack functions functions_source functrace galiases histchars
    history historywords jobdirs jobstates jobtexts keymaps mailpath manpath module_path
    modules nameddirs options parameters patchars path pipestatus psvar reswords
    saliases signals status termcap terminfo userdirs usergroups watch widgets
    zsh_eval_context zsh_scheduled_events
    """.split()
)

_FIRST = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_REST = _FIRST | frozenset(b"0123456789")

_HEADER = b"# Container environment, by envtools: source it, do not edit it.\n"

# yash returns here unless its locale decodes UTF-8: yash keeps printf's
# output up to the first byte it cannot decode, and only in UTF-8 are the
# six bytes of U+2080 twice exactly two characters.  (An e-acute would not
# do: its two bytes are one character in GB18030, EUC-JP and Big5 too.)
_YASH_UTF8_GUARD = (
    b"case ${YASH_VERSION-} in ?*) "
    b"case $(printf '\\342\\202\\200\\342\\202\\200') in ??) ;; "
    b"*) return 0;; esac;; esac\n"
)

# yash cannot hold bytes that are not valid in its locale: it stops here.
_YASH_STOP = b"case ${YASH_VERSION-} in ?*) return 0;; esac\n"

_YASH_MARK = b"YASH_VERSION"

# The same two stops for text given to eval (see the module notes).  The
# last byte of U+2080 followed by a newline is invalid in every multibyte
# encoding glibc has but UTF-8.
_EVAL_UTF8_GUARD = b"# yash reads on only in a UTF-8 locale: \xe2\x82\x80\n"
_EVAL_STOP = b"# yash reads no further: \xff\n"


def quote(value: bytes) -> bytes:
    """Return *value* as one single-quoted shell word.

    :param value: any bytes but NUL.
    :raises ValueError: *value* holds a NUL, which no shell can carry.
    """
    if b"\0" in value:
        raise ValueError("value holds a NUL byte")
    return b"'" + value.replace(b"'", b"'\\''") + b"'"


def name_problem(name: bytes) -> str | None:
    """Say why *name* cannot be an export line, or return None.

    :param name: the variable name.
    """
    if not name or name[0] not in _FIRST or not _REST.issuperset(name):
        return "not a shell identifier"
    if name in SPECIAL_NAMES:
        return "special in some shell"
    if name == _YASH_MARK:
        # The guard lines test it: exported first, it would stop every
        # other shell at the first guard.
        return "special in some shell"
    if name in IDENTITY_NAMES:
        # A sourced HOME or USER would make a group member's login shell
        # (--profile) think it is someone else; with-container-env never
        # takes these from the snapshot either.
        return "names who the shell runs as"
    return None


def render(
    env: Mapping[bytes, bytes], for_eval: bool = False
) -> tuple[bytes, list[tuple[bytes, str]]]:
    """Return the shell file for *env*, and the names left out with why.

    ASCII values come first, then UTF-8 ones, then the rest, each group
    behind its yash guard (see the module notes); order within a group is
    the order of *env*.

    :param env: names and values; values hold no NUL.
    :param for_eval: guard for ``eval`` rather than for sourcing.
    """
    groups: tuple[list[bytes], list[bytes], list[bytes]] = ([], [], [])
    skipped: list[tuple[bytes, str]] = []
    for name, value in env.items():
        problem = name_problem(name)
        if problem is not None:
            skipped.append((name, problem))
            continue
        line = b"export " + name + b"=" + quote(value) + b"\n"
        groups[_group(value)].append(line)

    utf8_guard, stop = (
        (_EVAL_UTF8_GUARD, _EVAL_STOP) if for_eval else (_YASH_UTF8_GUARD, _YASH_STOP)
    )
    parts = [_HEADER, *groups[0]]
    if groups[1]:
        parts += [utf8_guard, *groups[1]]
    if groups[2]:
        parts += [stop, *groups[2]]
    return b"".join(parts), skipped


def _group(value: bytes) -> int:
    """0 for ASCII, 1 for other valid UTF-8, 2 for anything else."""
    if value.isascii():
        return 0
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return 2
    return 1
