"""Fixtures for cgroup tests: a uniquely named cgroup on this host, removed afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from lading.linux.cgroups import layout
from lading.linux.cgroups.cgroup import Cgroup


def unique_name() -> str:
    return f"lading-test-{secrets.token_hex(4)}"


@pytest.fixture
def host() -> layout.Layout:
    found = layout.detect()
    if os.geteuid() != 0 or not found.hierarchies():
        pytest.skip("needs root and mounted cgroups")
    return found


@pytest.fixture
def cgroup(host: layout.Layout) -> Iterator[Cgroup]:
    """A fresh cgroup at /lading-test-<random> in every hierarchy; everything in it is killed
    and every directory removed at the end, and the test fails if anything is left."""
    cg = Cgroup.locate(host, "/" + unique_name())
    cg.create()
    yield cg
    cg.kill_all()
    assert cg.wait_empty(), f"processes outlived the test: {cg.procs()}"
    cg.remove()
    left = [d for d in cg.directories() if os.path.exists(d)]
    assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def unified_dir(host: layout.Layout) -> Iterator[str]:
    """A bare directory on the cgroup2 hierarchy (hybrid or v2 hosts)."""
    if host.unified is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    d = os.path.join(host.unified.mountpoint, unique_name())
    os.mkdir(d)
    yield d
    from lading.linux.cgroups import cgroupfs, kill

    if os.path.exists(os.path.join(d, "cgroup.kill")):
        kill.kill_v2(d)
    cgroupfs.write(d, "cgroup.freeze", "0")
    cgroupfs.remove(d)
    assert not os.path.exists(d)
