"""The POSIX shells the shell format supports, and sourcing files in them."""

from __future__ import annotations

import subprocess
from pathlib import Path

# Every shell DIR.sh must work in, by a short id for test names.
SHELLS: dict[str, list[str]] = {
    "dash": ["dash"],
    "bash": ["bash"],
    "bash-posix": ["bash", "--posix"],
    "zsh": ["zsh"],
    "ksh": ["ksh"],
    "mksh": ["mksh"],
    "yash": ["yash"],
    "posh": ["posh"],
    "busybox": ["busybox", "sh"],
}

# The absolute path, so that a PATH variable in the sourced file cannot hide
# it.
ENV = "/usr/bin/env"


def source_and_dump(
    shell: list[str],
    script: Path | str,
    env: dict[str, str] | None = None,
    **kwargs: object,
) -> tuple[subprocess.CompletedProcess[bytes], dict[bytes, bytes]]:
    """Source *script* in *shell*, then return what ``env -0`` sees.

    The shell runs ``. SCRIPT`` and, whatever that returned, ``env -0``; the
    exit status of the dot command is reported as ``rc=N`` on stderr.
    """
    env = env if env is not None else {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    code = f'. "$1"; echo "rc=$?" >&2; {ENV} -0'
    result = subprocess.run(
        [*shell, "-c", code, "sh", str(script)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        **kwargs,  # type: ignore[arg-type]
    )
    dumped = {}
    for entry in result.stdout.split(b"\0"):
        if entry:
            name, _, value = entry.partition(b"=")
            dumped[name] = value
    return result, dumped


def yash_can_hold(value: bytes) -> bool:
    """Whether yash in a UTF-8 locale keeps *value* (valid UTF-8 only)."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Multibyte encodings other than UTF-8 that glibc can build a locale for.
LEGACY_LOCALES = ["zh_CN.GB18030", "ja_JP.EUC-JP", "zh_TW.BIG5"]


def build_locales(directory: Path) -> str:
    """Compile LEGACY_LOCALES into *directory*; return it, for LOCPATH."""
    for name in LEGACY_LOCALES:
        source, charmap = name.split(".")
        argv = ["localedef", "-i", source, "-f", charmap, str(directory / name)]
        # localedef warns about characters some charmaps lack, with status 1;
        # the locale is written all the same.
        subprocess.run(argv, capture_output=True, timeout=120, check=False)
        assert (directory / name / "LC_CTYPE").exists(), f"{name} was not built"
    return str(directory)
