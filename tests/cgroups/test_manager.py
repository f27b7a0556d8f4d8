"""The container cgroup manager on this host: create from a config, limits in force, state
round trip, pause/resume, stats, kill, destroy; and failures that leave nothing behind."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from lading.errors import LadingError
from lading.linux.cgroups import cgroupfs, hugepages, layout
from lading.linux.cgroups.cgroup import Cgroup
from lading.runtime import cgroups
from lading.spec.decode import decode
from lading.spec.runtime_config import Linux
from tests.cgroups.conftest import unique_name
from tests.cgroups.helpers import start_in


def linux(**doc: Any) -> Linux:
    return decode(json.dumps(doc).encode(), Linux, "config.json")


@pytest.fixture
def made(host: layout.Layout) -> Iterator[list[cgroups.ContainerCgroup]]:
    """Container cgroups a test created; destroyed afterwards, and checked to be gone."""
    found: list[cgroups.ContainerCgroup] = []
    yield found
    for c in found:
        c.destroy()
        assert not [d for d in c.cg.directories() if os.path.exists(d)]


def test_create_applies_limits_and_round_trips_through_state(made: list[cgroups.ContainerCgroup]) -> None:
    path = "/" + unique_name()
    spec = linux(
        cgroupsPath=path,
        resources={
            "memory": {"limit": 64 << 20},
            "cpu": {"shares": 256, "quota": 25000, "period": 100000},
            "pids": {"limit": 10},
            "devices": [{"allow": False, "access": "rwm"}],
        },
    )
    c = cgroups.create("c1", spec)
    made.append(c)
    cg = c.cg
    assert c.path == path
    if d := cg.directory(1, "memory"):
        assert cgroupfs.read(d, "memory.limit_in_bytes").strip() == str(64 << 20)
    if d := cg.directory(1, "cpu"):
        assert cgroupfs.read(d, "cpu.cfs_quota_us").strip() == "25000"
        assert cgroupfs.read(d, "cpu.shares").strip() == "256"
    if d := cg.directory(1, "pids"):
        assert cgroupfs.read(d, "pids.max").strip() == "10"
    if d := cg.directory(1, "devices"):
        listed = cgroupfs.read(d, "devices.list").split("\n")
        assert "c 1:3 rwm" in listed and "a *:* rwm" not in listed

    again = cgroups.ContainerCgroup.from_record(json.loads(json.dumps(c.to_record())))
    assert again is not None and again.path == path and again.cg == cg
    assert cgroups.ContainerCgroup.from_record(None) is None

    p = start_in(cg, "exec sleep 30")
    again.freeze()
    assert again.state() == "frozen"
    again.thaw()
    assert again.state() == "thawed"
    assert again.pids() == [p.pid]
    s = again.stats()
    assert s["pids"] == {"current": 1, "limit": 10}
    assert again.oom_kills() == 0
    again.kill_all(signal.SIGTERM)
    assert p.wait(5) == -signal.SIGTERM


def test_update_and_check_before_update(made: list[cgroups.ContainerCgroup]) -> None:
    c = cgroups.create("c2", linux(cgroupsPath="/" + unique_name(), resources={"memory": {"limit": 32 << 20}}))
    made.append(c)
    if c.cg.directory(1, "memory") is None:
        pytest.skip("no v1 memory controller")
    from lading.spec.runtime_config import LinuxResources

    raise_ = decode(b'{"memory": {"limit": 134217728, "swap": 268435456}}', LinuxResources, "r.json")
    c.update(raise_, "resources.json: $")
    d = c.cg.v1["memory"]
    assert cgroupfs.read(d, "memory.limit_in_bytes").strip() == str(128 << 20)
    assert cgroupfs.read(d, "memory.memsw.limit_in_bytes").strip() == str(256 << 20)
    p = start_in(
        c.cg,
        f"exec {sys.executable} -c \"x = b'a' * (8 << 20); print(1, flush=True); __import__('time').sleep(9)\"",
    )
    assert p.stdout is not None and p.stdout.readline() == "1\n"
    tiny = decode(b'{"memory": {"limit": 4194304, "checkBeforeUpdate": true}}', LinuxResources, "r.json")
    with pytest.raises(LadingError, match=r"^resources.json: \$.memory.limit: 4194304 is below"):
        c.update(tiny, "resources.json: $")
    c.kill_all()
    p.wait(5)


def test_hugetlb_goes_to_whichever_hierarchy_has_it(made: list[cgroups.ContainerCgroup]) -> None:
    sizes = hugepages.sizes()
    c = (
        cgroups.create(
            "c3",
            linux(
                cgroupsPath="/" + unique_name(),
                resources={"hugepageLimits": [{"pageSize": sizes[0], "limit": 8 << 20}]},
            )
            if sizes
            else linux(),
        )
        if sizes and (layout.detect().version_of("hugetlb"))
        else pytest.skip("no hugetlb controller")
    )
    made.append(c)
    d = c.cg.directory(1, "hugetlb") or c.cg.directory(2, "hugetlb")
    assert d is not None
    name = f"hugetlb.{sizes[0]}." + ("limit_in_bytes" if d in c.cg.v1.values() else "max")
    assert cgroupfs.read(d, name).strip() == str(8 << 20)


def test_relative_path_is_below_our_own_cgroup(host: layout.Layout, made: list[cgroups.ContainerCgroup]) -> None:
    name = unique_name()
    c = cgroups.create("c4", linux(cgroupsPath=name))
    made.append(c)
    for controller, d in c.cg.v1.items():
        own = host.v1[controller].directory(host.v1[controller].own)
        assert d == os.path.join(own, name)


def test_failed_create_leaves_nothing(host: layout.Layout) -> None:
    path = "/" + unique_name()
    bad_period = linux(cgroupsPath=path, resources={"cpu": {"period": 5_000_000_000}})
    with pytest.raises(LadingError, match=r"cpu\.cfs_period_us|cpu\.max"):
        cgroups.create("c5", bad_period)
    assert not [d for d in Cgroup.locate(host, path).directories() if os.path.exists(d)]


def test_unavailable_controller_is_an_error(host: layout.Layout) -> None:
    if host.version_of("rdma"):
        pytest.skip("this host has rdma")
    path = "/" + unique_name()
    with pytest.raises(LadingError, match="rdma controller is not available"):
        cgroups.create("c6", linux(cgroupsPath=path, resources={"rdma": {"mlx5_0": {"hcaHandles": 1}}}))
    assert not [d for d in Cgroup.locate(host, path).directories() if os.path.exists(d)]


def test_bad_resources_are_refused_before_anything_is_made() -> None:
    with pytest.raises(LadingError, match=r"^config.json: \$.linux.resources.memory.limit: must be -1"):
        cgroups.create("c7", linux(resources={"memory": {"limit": -9}}))
    with pytest.raises(LadingError, match=r"^config.json: \$.linux.cgroupsPath: must not contain '..'"):
        cgroups.create("c7", linux(cgroupsPath="/x/../../y"))


def test_the_default_path_under_another_root_names_it_by_its_crc32() -> None:
    """The name containers under a --root of their own have had all along: zlib's CRC-32 of the
    root (computed without zlib now)."""
    import zlib

    for root in ("/tmp/x", "/var/lib/podman/runtime", "relative/root", "/" + "é" * 40):
        crc = zlib.crc32(os.path.abspath(root).encode())
        assert cgroups.default_path("c1", root) == f"/lading-{crc:08x}-c1"
    assert cgroups.default_path("c1") == cgroups.default_path("c1", "/run/lading/") == "/lading-c1"
