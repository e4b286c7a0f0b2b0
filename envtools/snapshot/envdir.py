"""The envdir format: one regular file per variable.

The file is named after the variable and holds the value's bytes followed
by one newline.  Readers strip exactly one trailing newline, so an empty
value or one that ends in newlines survives, and a file made by hand with
``echo value > NAME`` reads as ``value``.  A NUL in a hand-made file reads
as a newline, the convention ``s6-envdir`` and daemontools' envdir share
(an environment value cannot hold a NUL, a file can).
"""

from __future__ import annotations

# NAME_MAX on every Linux file system we care about.
_NAME_MAX = 255


def encode_value(value: bytes) -> bytes:
    """Return the content of the file that holds *value*.

    :param value: the variable's value, any bytes but NUL.
    """
    return value + b"\n"


def decode_value(content: bytes) -> bytes:
    """Return the value a file with *content* holds.

    Strips exactly one trailing newline, then turns each NUL into a newline.

    :param content: the file's bytes.
    """
    if content.endswith(b"\n"):
        content = content[:-1]
    return content.replace(b"\0", b"\n")


def file_name_problem(name: bytes) -> str | None:
    """Say why *name* cannot be a file in the envdir, or return None.

    Names starting with a dot are refused because readers skip dot-files:
    Kubernetes puts ``..data`` and friends in a mounted volume, and the
    writer's own temporary files start with a dot.

    :param name: the variable name.
    """
    if not name:
        return "empty name"
    if b"/" in name:
        return "name contains '/'"
    if b"=" in name or b"\0" in name:
        return "name contains '=' or NUL"
    if name.startswith(b"."):
        return "name starts with '.'"
    if len(name) > _NAME_MAX:
        return f"name longer than {_NAME_MAX} bytes"
    return None
