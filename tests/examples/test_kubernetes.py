"""The Kubernetes example: its command on a secret volume as the kubelet lays
it out (timestamped directory, ``..data`` link, one link per key)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.accounts import temp_user
from support.child import REPORT
from support.child import parse
from support.proc import base_env
from support.proc import check
from support.proc import run

REPO = Path(__file__).resolve().parent.parent.parent

POD = REPO / "examples/kubernetes/pod.yaml"

SECRETS = {"DB_PASSWORD": "s3cret", "TLS_KEY": "-----BEGIN KEY-----\nAAAA\n"}


def pod_field(key: str) -> str:
    """The value of the first ``key:`` line in pod.yaml, as written."""
    for line in POD.read_text().splitlines():
        name, colon, value = line.strip().partition(":")
        if colon and name.lstrip("- ") == key:
            return value.strip()
    raise AssertionError(f"no {key!r} in {POD}")


@pytest.fixture(autouse=True)
def _root_only() -> None:
    """The pod's command switches users, which needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the command switches users")


@pytest.fixture
def volume() -> Iterator[Path]:
    """A secret volume as the kubelet writes it, with pod.yaml's mode."""
    top = Path(tempfile.mkdtemp(prefix="envtools-k8s-"))
    try:
        top.chmod(0o755)
        root = top / "app"
        root.mkdir()
        root.chmod(0o1777)
        data = root / "..2026_12_03_19_00_00.000000001"
        data.mkdir(mode=0o755)
        mode = int(pod_field("defaultMode"), 8)
        for key, value in SECRETS.items():
            (data / key).write_text(value)
            (data / key).chmod(mode)
            (root / key).symlink_to(f"..data/{key}")
        (root / "..data").symlink_to(data.name)
        yield root
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_pod_command_loads_secret_volume(pyz_build: Path, volume: Path) -> None:
    """The pod's command reads every key of the volume, then runs as the user."""
    command = json.loads(pod_field("command"))
    mount = pod_field("mountPath")
    assert mount in command and "app" in command
    links = pyz_build / "k8s-links"
    if not links.exists():
        links.mkdir(mode=0o755)
        (links / command[0]).symlink_to(pyz_build / "envtools.pyz")
    env = base_env(PATH=f"{links}:{base_env()['PATH']}", SECRET_MARK="outer")

    with temp_user() as user:
        names = {mount: str(volume), "app": user.pw_name}
        argv = [names.get(word, word) for word in command] + REPORT
        result = run(argv, env=env)
        check(result, 0, None, b"")
        report = parse(result.stdout)

    assert report.ids("Uid") == [user.pw_uid] * 4
    assert report.ids("Gid") == [user.pw_gid] * 4
    for key, value in SECRETS.items():
        assert report.environ[key.encode()] == value.rstrip("\n").encode()
    assert report.environ[b"SECRET_MARK"] == b"outer"
    assert report.environ[b"USER"] == user.pw_name.encode()
    assert not any(name.startswith(b"..") for name in report.environ)
