"""Fixtures: every test gets its own state root, temp dirs, busybox bundle and a leak check."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Lading, Runc, default_config, make_busybox_rootfs, open_fds


@pytest.fixture(scope="session")
def busybox_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def lading(tmp_path: Path) -> Iterator[Lading]:
    """A `lading` runner with a private --root; fails the test if anything leaks."""
    runner = Lading(tmp_path)
    fds_before = open_fds()
    yield runner
    leaks = runner.leftovers()
    runner.cleanup()
    leaked_fds = open_fds() - fds_before
    assert not leaks, f"the test left behind: {leaks}"
    assert not leaked_fds, f"the test process leaked fds: {sorted(leaked_fds)}"


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Runc]:
    """Debian's runc with a private --root and the same leak check, for calibrating tests."""
    runner = Runc(tmp_path / "runc")
    yield runner
    leaks = runner.leftovers()
    runner.cleanup()
    assert not leaks, f"the test left behind: {leaks}"


@pytest.fixture(params=["lading", "runc"])
def runtime(request: pytest.FixtureRequest, lading: Lading, runc: Runc) -> Lading:
    """The test once with lading and once with runc, which calibrates what it expects."""
    return lading if request.param == "lading" else runc


@pytest.fixture
def cid() -> str:
    """A container id unique on the machine (runc's default cgroup is /ID in every hierarchy)."""
    return f"t-{uuid.uuid4().hex[:12]}"


class Bundle:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rootfs = path / "rootfs"
        self.config: dict[str, Any] = default_config()

    def write(self, **process: Any) -> Bundle:
        self.config["process"].update(process)
        (self.path / "config.json").write_text(json.dumps(self.config, indent=2))
        return self

    def __str__(self) -> str:
        return str(self.path)


@pytest.fixture
def bundle(tmp_path: Path, busybox_template: Path) -> Bundle:
    """A bundle with a fresh copy of the busybox rootfs and runc's default config (args: sh)."""
    path = tmp_path / "bundle"
    path.mkdir()
    shutil.copytree(busybox_template, path / "rootfs", symlinks=True)
    return Bundle(path)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Mounts a tmpfs with the given options (``ro``, ``size=4k``) at tmp_path/NAME; every one is
    unmounted again whatever the test did."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        d = tmp_path / name
        d.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(d)], check=True)
        mounted.append(d)
        return d

    try:
        yield mount
    finally:
        for d in mounted:
            subprocess.run(["umount", "-l", str(d)], check=True)
