"""The shell format: quoting, refused names, and sourcing in every shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from support.shells import SHELLS
from support.shells import source_and_dump
from support.shells import LEGACY_LOCALES
from support.shells import yash_can_hold

from envtools.snapshot import shell

pytestmark = pytest.mark.timeout(300)

# Values that break naive quoting, or try to run something: each command
# would create the canary file.
TRICKY = {
    b"EMPTY": b"",
    b"SPACES": b"  a  b  ",
    b"QUOTES": b"it's \"quoted\" ''",
    b"SUBST": b"$(touch CANARY)",
    b"BACKTICK": b"`touch CANARY`",
    b"BREAKOUT": b"'; touch CANARY; echo '",
    b"EXPAND": b"$HOME ${PATH} $$ $0 $1 \\ \\n",
    b"NEWLINES": b"\n\nline\n\n",
    b"CR": b"a\r\nb\r",
    b"CONTROL": bytes(range(1, 32)) + b"\x7f",
    b"UTF8": "é ß ✓ \U0001f600".encode(),
    b"INVALID": b"\xff\xfe\xc3(\x80\xed\xa0\x80",
    b"GLOB": b"* ? [a] ~ ~root",
    b"EQUALS": b"=a=b==",
    b"LONG": b"x" * 100_000,
}

# Names every shell must carry as plain variables, special or not.
ORDINARY = [
    b"PATH", b"LANG", b"TERM", b"IFS", b"PWD", b"OLDPWD", b"ENV",
    b"BASH_ENV", b"PS1", b"PS4", b"HOSTNAME", b"CDPATH", b"MAIL", b"TMPDIR",
    b"POSIXLY_CORRECT", b"ZSH_VERSION", b"if", b"export",
]  # fmt: skip


def _with_canary(env: dict[bytes, bytes], canary: Path) -> dict[bytes, bytes]:
    return {k: v.replace(b"CANARY", bytes(canary)) for k, v in env.items()}


@pytest.mark.parametrize(
    ("value", "word"),
    [
        (b"", b"''"),
        (b"abc", b"'abc'"),
        (b"a'b", b"'a'\\''b'"),
        (b"'", b"''\\'''"),
        (b"$x\n", b"'$x\n'"),
    ],
)
def test_quote(value: bytes, word: bytes) -> None:
    """Each value is one single-quoted word, ' written as '\\''."""
    assert shell.quote(value) == word


def test_quote_refuses_nul() -> None:
    """A NUL cannot be carried by any shell, so quote refuses it."""
    with pytest.raises(ValueError, match="NUL"):
        shell.quote(b"a\0b")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (b"A", None),
        (b"_A1", None),
        (b"lower_case", None),
        (b"", "not a shell identifier"),
        (b"1X", "not a shell identifier"),
        (b"A-B", "not a shell identifier"),
        (b"a.b", "not a shell identifier"),
        (b"BASH_FUNC_f%%", "not a shell identifier"),
        (b"\xc3\xa9", "not a shell identifier"),
        (b"UID", "special in some shell"),
        (b"path", "special in some shell"),
        (b"RANDOM", "special in some shell"),
        (b"YASH_VERSION", "special in some shell"),
        (b"HOME", "names who the shell runs as"),
        (b"USER", "names who the shell runs as"),
        (b"LOGNAME", "names who the shell runs as"),
        (b"SHELL", "names who the shell runs as"),
        (b"GROUP", "names who the shell runs as"),
    ],
)
def test_name_problem(name: bytes, problem: str | None) -> None:
    """Non-identifiers, special and identity names are refused, with the reason."""
    assert shell.name_problem(name) == problem


def test_render_layout() -> None:
    """ASCII values come first, then UTF-8 behind the yash guard, then the rest."""
    env = {b"B": b"\xff", b"U": "é".encode(), b"A": b"1", b"A-B": b"x"}
    script, skipped = shell.render(env)
    assert script == (
        b"# Container environment, by envtools: source it, do not edit it.\n"
        b"export A='1'\n"
        b"case ${YASH_VERSION-} in ?*) "
        b"case $(printf '\\342\\202\\200\\342\\202\\200') in ??) ;; "
        b"*) return 0;; esac;; esac\n"
        b"export U='\xc3\xa9'\n"
        b"case ${YASH_VERSION-} in ?*) return 0;; esac\n"
        b"export B='\xff'\n"
    )
    assert skipped == [(b"A-B", "not a shell identifier")]


def test_render_layout_for_eval() -> None:
    """For eval, each yash guard is a comment holding a byte yash may not decode."""
    env = {b"B": b"\xff", b"U": "é".encode(), b"A": b"1"}
    script, _ = shell.render(env, for_eval=True)
    assert script == (
        b"# Container environment, by envtools: source it, do not edit it.\n"
        b"export A='1'\n"
        b"# yash reads on only in a UTF-8 locale: \xe2\x82\x80\n"
        b"export U='\xc3\xa9'\n"
        b"# yash reads no further: \xff\n"
        b"export B='\xff'\n"
    )


def _probe(argv: list[str], name: bytes, value: bytes, tmp: Path) -> bool:
    """Whether sourcing ``export NAME='VALUE'`` exports exactly that value."""
    script = tmp / "probe.sh"
    script.write_bytes(b"export " + name + b"=" + shell.quote(value) + b"\n")
    result, dumped = source_and_dump(argv, script)
    return result.stderr == b"rc=0\n" and dumped.get(name) == value


# A word, a number, and one longer than the three or one characters zsh keeps
# of some of its variables.
PROBE_VALUES = (b"x", b"7", b"wxyz")


@pytest.fixture(scope="module")
def probing_shells(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """The shells, each shown to keep an ordinary name with every probe value.

    Otherwise a shell failing for an unrelated reason (a locale warning, a
    broken build) would make every name look special.
    """
    tmp = tmp_path_factory.mktemp("control")
    for shell_id, argv in SHELLS.items():
        for value in PROBE_VALUES:
            kept = _probe(argv, b"ENVTOOLS_CONTROL", value, tmp)
            assert kept, f"{shell_id} fails the control probe with {value!r}"
    return list(SHELLS.values())


@pytest.mark.parametrize("name", sorted(shell.SPECIAL_NAMES))
def test_special_name_misbehaves(
    name: bytes, probing_shells: list[list[str]], tmp_path: Path
) -> None:
    """Each refused name loses or changes its value in at least one shell."""
    for argv in probing_shells:
        for value in PROBE_VALUES:
            if not _probe(argv, name, value, tmp_path):
                return
    pytest.fail(f"{name!r} behaves in every shell: drop it from SPECIAL_NAMES")


@pytest.mark.parametrize("shell_id", SHELLS)
def test_ordinary_names_kept(shell_id: str, tmp_path: Path) -> None:
    """Names that are merely special to some shell still round-trip."""
    env = {name: b"/v 1" for name in ORDINARY}
    env[b"LANG"] = b"C.UTF-8"
    script = tmp_path / "env.sh"
    script.write_bytes(shell.render(env)[0])
    result, dumped = source_and_dump(SHELLS[shell_id], script)
    assert result.stderr == b"rc=0\n"
    assert {name: dumped.get(name) for name in env} == env


@pytest.mark.parametrize("shell_id", SHELLS)
def test_tricky_values_round_trip(shell_id: str, tmp_path: Path) -> None:
    """Every tricky value comes back byte for byte and nothing is executed."""
    canary = tmp_path / "canary"
    env = _with_canary(TRICKY, canary)
    script = tmp_path / "env.sh"
    script.write_bytes(shell.render(env)[0])
    result, dumped = source_and_dump(SHELLS[shell_id], script, cwd=tmp_path)
    if shell_id == "yash":
        env = {name: value for name, value in env.items() if yash_can_hold(value)}
    assert result.stderr == b"rc=0\n"
    assert {name: dumped.get(name) for name in env} == env
    assert not canary.exists()


def test_yash_in_c_locale_keeps_ascii_values(tmp_path: Path) -> None:
    """yash in the C locale gets the ASCII values, silently, and stops there."""
    script = tmp_path / "env.sh"
    script.write_bytes(shell.render(TRICKY)[0])
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    result, dumped = source_and_dump(SHELLS["yash"], script, env=env)
    assert result.stderr == b"rc=0\n"
    ascii_only = {name: v for name, v in TRICKY.items() if v.isascii()}
    assert {name: dumped.get(name) for name in ascii_only} == ascii_only
    assert b"UTF8" not in dumped
    assert b"INVALID" not in dumped


@pytest.mark.parametrize("locale", LEGACY_LOCALES)
def test_yash_in_legacy_multibyte_locale(
    locale: str, legacy_locales: str, tmp_path: Path
) -> None:
    """In GB18030, EUC-JP or Big5, yash stops before UTF-8 values, silently.

    Those encodings read the two bytes of an e-acute as one character of
    their own: a guard probing with it let yash on, to fail on a value.
    """
    script = tmp_path / "env.sh"
    script.write_bytes(shell.render(TRICKY)[0])
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": locale, "LOCPATH": legacy_locales}
    result, dumped = source_and_dump(SHELLS["yash"], script, env=env)
    assert result.stderr == b"rc=0\n"
    ascii_only = {name: v for name, v in TRICKY.items() if v.isascii()}
    assert {name: dumped.get(name) for name in ascii_only} == ascii_only
    assert b"UTF8" not in dumped


_NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z").filter(
    lambda name: shell.name_problem(name.encode()) is None
)
_VALUES = st.one_of(
    st.binary(max_size=40).map(lambda v: v.replace(b"\0", b"")),
    st.lists(
        st.sampled_from(
            [
                b"'",
                b'"',
                b"\\",
                b"$(",
                b")",
                b"`",
                b"\n",
                b"\r",
                b"\xff",
                b"\xc3",
                "é".encode(),
                b"$x",
                b"!",
                b";",
                b" ",
                b"a",
                b"${",
                b"}",
            ]
        ),  # fmt: skip
        max_size=12,
    ).map(b"".join),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(env=st.dictionaries(_NAMES.map(str.encode), _VALUES, max_size=8))
def test_generated_environments(env: dict[bytes, bytes], tmp_path: Path) -> None:
    """Generated names and byte values round-trip in every shell."""
    script = tmp_path / "gen.sh"
    script.write_bytes(shell.render(env)[0])
    for shell_id, argv in SHELLS.items():
        result, dumped = source_and_dump(argv, script)
        expected = env
        if shell_id == "yash":
            expected = {n: v for n, v in env.items() if yash_can_hold(v)}
        assert result.stderr == b"rc=0\n", shell_id
        assert {n: dumped.get(n) for n in expected} == expected, shell_id
