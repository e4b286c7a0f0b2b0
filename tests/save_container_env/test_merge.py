"""Files already in the directory are kept; the environment wins by default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.proc import check

from envtools.snapshot import jsonfile
from save_container_env.conftest import Saver
from save_container_env.helpers import group_warning
from save_container_env.helpers import read_dir
from save_container_env.helpers import sidecar
from save_container_env.helpers import with_location

pytestmark = pytest.mark.timeout(60)

WARN = "save-container-env: warning: "
TOO_LONG = "NAME=value over the kernel's 128 KiB limit"


def _central(snapshot_dir: Path, files: dict[str, bytes]) -> None:
    """Lay down definitions the way an image build does, by hand."""
    snapshot_dir.mkdir(exist_ok=True)
    for name, content in files.items():
        (snapshot_dir / name).write_bytes(content)


def _home_left_out(snapshot_dir: Path) -> bytes:
    """The warning for HOME, which the shell file never carries."""
    shown = f"{snapshot_dir}.sh"
    return f"{WARN}left 'HOME' out of '{shown}': names who the shell runs as\n".encode()


def _saved(snapshot_dir: Path) -> dict[bytes, bytes]:
    """The envdir's files but the location variable the saver was given."""
    files = read_dir(snapshot_dir)
    files.pop(b"ENVTOOLS_SNAPSHOT_DIR", None)
    return files


def test_existing_files_kept(save: Saver, snapshot_dir: Path) -> None:
    """A hand-made file stays, normalized to value plus one newline."""
    _central(snapshot_dir, {"NOLF": b"value", "LF": b"value\n", "NUL": b"a\0b"})
    check(save({b"NEW": b"1"}), 0, b"", group_warning())

    files = read_dir(snapshot_dir)
    assert files[b"NOLF"] == b"value\n"
    assert files[b"LF"] == b"value\n"
    assert files[b"NUL"] == b"a\nb\n"
    assert files[b"NEW"] == b"1\n"
    saved = jsonfile.loads(sidecar(snapshot_dir, ".json").read_bytes())
    assert saved[b"NOLF"] == b"value"
    assert b"export NUL='a\nb'\n" in sidecar(snapshot_dir, ".sh").read_bytes()


def test_environment_wins(save: Saver, snapshot_dir: Path) -> None:
    """For a name in both, the process environment's value is saved."""
    _central(snapshot_dir, {"BOTH": b"file"})
    check(save({b"BOTH": b"env"}), 0, b"", group_warning())
    assert read_dir(snapshot_dir)[b"BOTH"] == b"env\n"


def test_keep_existing(save_with: Saver, snapshot_dir: Path) -> None:
    """--keep-existing makes the file's value win."""
    _central(snapshot_dir, {"BOTH": b"file"})
    check(save_with({b"BOTH": b"env"}, "--keep-existing"), 0, b"", group_warning())
    assert read_dir(snapshot_dir)[b"BOTH"] == b"file\n"


def test_identity_names_not_taken(save: Saver, snapshot_dir: Path) -> None:
    """HOME, USER, PWD, TERM and the rest are not taken from the environment."""
    names = b"HOME USER LOGNAME GROUP UID GID SHELL PWD OLDPWD SHLVL _ TERM".split()
    env = dict.fromkeys(names, b"from-env")
    env[b"KEPT"] = b"1"
    check(save(env), 0, b"", group_warning())
    assert read_dir(snapshot_dir) == {
        b"ENVTOOLS_SNAPSHOT_DIR": os.fsencode(snapshot_dir) + b"\n",
        b"KEPT": b"1\n",
    }


def test_identity_file_kept(save: Saver, snapshot_dir: Path) -> None:
    """A file for an identity name put there by the image author stays."""
    _central(snapshot_dir, {"HOME": b"/srv"})
    result = save({b"HOME": b"/root"})
    check(result, 0, b"", group_warning() + _home_left_out(snapshot_dir))
    assert read_dir(snapshot_dir)[b"HOME"] == b"/srv\n"
    assert b"HOME" not in sidecar(snapshot_dir, ".sh").read_bytes()


def test_exclude_and_include(save_with: Saver, snapshot_dir: Path) -> None:
    """--exclude drops a name from the environment; --include takes one back."""
    env = {b"SECRET": b"s", b"HOME": b"/h", b"OTHER": b"o"}
    result = save_with(env, "--exclude", "SECRET", "--include", "HOME")
    check(result, 0, b"", group_warning() + _home_left_out(snapshot_dir))
    files = read_dir(snapshot_dir)
    assert b"SECRET" not in files
    assert files[b"HOME"] == b"/h\n"
    assert files[b"OTHER"] == b"o\n"


def test_exclude_keeps_file(save_with: Saver, snapshot_dir: Path) -> None:
    """An excluded name's central file is still kept."""
    _central(snapshot_dir, {"SECRET": b"file"})
    check(
        save_with({b"SECRET": b"env"}, "--exclude", "SECRET"), 0, b"", group_warning()
    )
    assert read_dir(snapshot_dir)[b"SECRET"] == b"file\n"


def test_unset_removes_from_both_sides(save_with: Saver, snapshot_dir: Path) -> None:
    """--unset drops a name whether a file or the environment defines it."""
    check(save_with({b"GONE": b"1", b"STAYS": b"2"}), 0, b"", group_warning())
    _central(snapshot_dir, {"CENTRAL": b"c"})
    env = {b"STAYS": b"2", b"HOME": b"/h"}

    result = save_with(env, "--unset", "GONE", "--unset", "CENTRAL", "--unset", "HOME",
                       "--include", "HOME")  # fmt: skip

    check(result, 0, b"", group_warning())
    assert _saved(snapshot_dir) == {b"STAYS": b"2\n"}
    saved = jsonfile.loads(sidecar(snapshot_dir, ".json").read_bytes())
    assert saved.keys() == {b"STAYS", b"ENVTOOLS_SNAPSHOT_DIR"}
    assert b"GONE" not in sidecar(snapshot_dir, ".sh").read_bytes()


def test_unset_of_unknown_name_warns(save_with: Saver, snapshot_dir: Path) -> None:
    """--unset of a name the snapshot does not have says so, and saves."""
    result = save_with({b"A": b"1"}, "--unset", "NEVER_THERE")

    warning = f"{WARN}--unset 'NEVER_THERE': not in the snapshot\n".encode()
    check(result, 0, b"", group_warning() + warning)
    assert _saved(snapshot_dir) == {b"A": b"1\n"}


def test_saved_variable_outlives_its_environment(
    save: Saver, snapshot_dir: Path
) -> None:
    """Without --unset, a variable saved once is kept as a central file."""
    check(save({b"ONCE": b"1"}), 0, b"", group_warning())
    check(save({}), 0, b"", group_warning())
    assert _saved(snapshot_dir) == {b"ONCE": b"1\n"}


def test_unsafe_entries_skipped(
    save: Saver, snapshot_dir: Path, tmp_path: Path
) -> None:
    """Links, directories, FIFOs and oversized files are skipped with one line each."""
    _central(snapshot_dir, {"BIG": b"x" * (128 * 1024 + 1), "OK": b"ok"})
    target = tmp_path / "target"
    target.write_bytes(b"secret")
    (snapshot_dir / "LINK").symlink_to(target)
    (snapshot_dir / "SUB").mkdir()
    os.mkfifo(snapshot_dir / "FIFO")
    (snapshot_dir / ".hidden").write_bytes(b"skipped silently")

    shown = f"'{snapshot_dir}"
    check(
        save({}),
        0,
        b"",
        group_warning()
        + (
            f"{WARN}skipped existing {shown}/BIG': {TOO_LONG}\n"
            f"{WARN}skipped existing {shown}/FIFO': not a regular file\n"
            f"{WARN}skipped existing {shown}/LINK': not a regular file\n"
            f"{WARN}skipped existing {shown}/SUB': not a regular file\n"
        ).encode(),
    )
    assert read_dir(snapshot_dir) == {
        b"ENVTOOLS_SNAPSHOT_DIR": os.fsencode(snapshot_dir) + b"\n",
        b"OK": b"ok\n",
    }
    assert target.read_bytes() == b"secret"


def test_overridden_entries_not_read(save: Saver, snapshot_dir: Path) -> None:
    """An odd entry the environment replaces is neither read nor warned about."""
    snapshot_dir.mkdir()
    os.mkfifo(snapshot_dir / "FIFO")
    check(save({b"FIFO": b"v"}), 0, b"", group_warning())
    assert read_dir(snapshot_dir)[b"FIFO"] == b"v\n"


def test_largest_value_kept(save: Saver, snapshot_dir: Path) -> None:
    """A value is kept while NAME=value and a NUL fit in 128 KiB, else skipped."""
    largest = 128 * 1024 - len("MAX") - 2
    _central(snapshot_dir, {"MAX": b"y" * largest, "OVER": b"z" * (largest + 1)})
    shown = f"'{snapshot_dir}/OVER'"
    warning = f"{WARN}skipped existing {shown}: {TOO_LONG}\n".encode()
    check(save({}), 0, b"", group_warning() + warning)
    files = read_dir(snapshot_dir)
    assert files[b"MAX"] == b"y" * largest + b"\n"
    assert b"OVER" not in files


def test_same_set_everywhere(save: Saver, snapshot_dir: Path) -> None:
    """The three artifacts describe the same variables."""
    _central(snapshot_dir, {"FILE": b"f"})
    env = {b"A": b"1", b"B": b"2"}
    check(save(env), 0, b"", group_warning())
    saved = with_location({**env, b"FILE": b"f"}, snapshot_dir)
    assert set(read_dir(snapshot_dir)) == set(saved)
    assert jsonfile.loads(sidecar(snapshot_dir, ".json").read_bytes()) == dict(
        sorted(saved.items())
    )
