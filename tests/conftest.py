"""Fixtures: every test gets its own state root, temp dirs, busybox bundle and a leak check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import RUNC, Lading, default_config, make_busybox_rootfs, open_fds


@pytest.fixture(scope="session")
def busybox_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def lading(tmp_path: Path) -> Iterator[Lading]:
    """A `lading` runner with a private --root; fails the test if anything leaks."""
    yield from _checked(Lading(tmp_path))


@pytest.fixture(params=["runc", "lading"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lading]:
    """runc (the reference the test is calibrated on), then lading, on the same test; container
    IDs must be unique on the host, as runc names its cgroups after them."""
    yield from _checked(Lading(tmp_path, [RUNC]) if request.param == "runc" else Lading(tmp_path))


def _checked(runner: Lading) -> Iterator[Lading]:
    fds_before = open_fds()
    yield runner
    leaks = runner.leftovers()
    runner.cleanup()
    leaked_fds = open_fds() - fds_before
    assert not leaks, f"the test left behind: {leaks}"
    assert not leaked_fds, f"the test process leaked fds: {sorted(leaked_fds)}"


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
