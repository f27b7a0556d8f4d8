"""linux.resources -> cgroup v1 and v2 file writes, and the checks before them (no kernel needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lading.errors import LadingError
from lading.linux.cgroups.device_filter import WILDCARD, DeviceRule
from lading.runtime import cgroup_resources as r
from lading.runtime.cgroups import cgroup_path
from lading.spec.decode import decode
from lading.spec.runtime_config import LinuxResources

WHERE = "config.json: $.linux.resources"


def resources(**doc: Any) -> LinuxResources:
    return decode(json.dumps(doc).encode(), LinuxResources, "config.json")


def writes(version: int, **doc: Any) -> list[tuple[str, str, str]]:
    return [(w.controller, w.file, w.value) for w in r.all_writes(resources(**doc), version)]


def test_memory_v1() -> None:
    got = writes(1, memory={"limit": 1 << 20, "reservation": 1 << 19, "swap": 2 << 20, "swappiness": 10})
    assert got == [
        ("memory", "memory.limit_in_bytes", "1048576"),
        ("memory", "memory.memsw.limit_in_bytes", "2097152"),
        ("memory", "memory.soft_limit_in_bytes", "524288"),
        ("memory", "memory.swappiness", "10"),
    ]


def test_memory_v1_raising_the_limit_writes_memsw_first() -> None:
    res = resources(memory={"limit": 300 << 20, "swap": 400 << 20})
    assert res.memory is not None
    files = [w.file for w in r.memory_writes(res.memory, 1, current_limit=100 << 20)]
    assert files == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_memory_v1_unlimited_limit_also_lifts_swap() -> None:
    assert writes(1, memory={"limit": -1}) == [
        ("memory", "memory.memsw.limit_in_bytes", "-1"),
        ("memory", "memory.limit_in_bytes", "-1"),
    ]


def test_memory_v1_oom_killer_and_kernel_tcp() -> None:
    got = writes(1, memory={"disableOOMKiller": True, "kernelTCP": 4096, "kernel": 8192})
    assert got == [
        ("memory", "memory.kmem.tcp.limit_in_bytes", "4096"),
        ("memory", "memory.oom_control", "1"),
    ]


def test_memory_v2() -> None:
    got = writes(2, memory={"limit": 100 << 20, "reservation": 50 << 20, "swap": 150 << 20})
    assert got == [
        ("memory", "memory.swap.max", str(50 << 20)),  # v1's memory+swap minus memory
        ("memory", "memory.max", str(100 << 20)),
        ("memory", "memory.low", str(50 << 20)),
    ]
    assert writes(2, memory={"limit": -1}) == [
        ("memory", "memory.swap.max", "max"),
        ("memory", "memory.max", "max"),
    ]
    assert writes(2, memory={"limit": 1000, "swap": -1})[0] == ("memory", "memory.swap.max", "max")


def test_memory_v2_swap_without_limit_is_an_error() -> None:
    with pytest.raises(LadingError, match="swap limit needs a memory limit"):
        writes(2, memory={"swap": 1 << 20})


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1024, 100), (262144, 10000), (512, 59), (2048, 174)])
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert r.shares_to_weight(shares) == weight


def test_cpu_v1() -> None:
    got = writes(1, cpu={"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0-1", "mems": "0"})
    assert got == [
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpu", "cpu.cfs_burst_us", "1000"),
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
    ]
    assert writes(1, cpu={"realtimeRuntime": 950, "realtimePeriod": 1000, "idle": 1}) == [
        ("cpu", "cpu.rt_period_us", "1000"),
        ("cpu", "cpu.rt_runtime_us", "950"),
        ("cpu", "cpu.idle", "1"),
    ]


def test_cpu_v2() -> None:
    got = writes(2, cpu={"shares": 1024, "quota": 50000, "period": 200000, "burst": 1000, "cpus": "1"})
    assert got == [
        ("cpu", "cpu.weight", "100"),
        ("cpu", "cpu.max", "50000 200000"),
        ("cpu", "cpu.max.burst", "1000"),
        ("cpuset", "cpuset.cpus", "1"),
    ]
    assert writes(2, cpu={"quota": -1}) == [("cpu", "cpu.max", "max 100000")]
    assert writes(2, cpu={"quota": 20000}) == [("cpu", "cpu.max", "20000 100000")]
    with pytest.raises(LadingError, match="realtime"):
        writes(2, cpu={"realtimeRuntime": 5})


def test_pids() -> None:
    assert writes(1, pids={"limit": 5}) == [("pids", "pids.max", "5")]
    assert writes(2, pids={"limit": -1}) == [("pids", "pids.max", "max")]
    assert writes(2, pids={"limit": 0}) == [("pids", "pids.max", "0")]  # 0 is a real limit


def test_block_io() -> None:
    doc = {
        "weight": 500,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}],
    }
    assert writes(1, blockIO=doc) == [
        ("blkio", "blkio.weight", "500"),
        ("blkio", "blkio.bfq.weight", "500"),
        ("blkio", "blkio.weight_device", "8:0 300"),
        ("blkio", "blkio.bfq.weight_device", "8:0 300"),
        ("blkio", "blkio.throttle.read_bps_device", "8:0 600"),
        ("blkio", "blkio.throttle.write_iops_device", "8:16 300"),
    ]
    assert writes(2, blockIO=doc) == [
        ("io", "io.bfq.weight", "500"),
        ("io", "io.weight", f"default {1 + 490 * 9999 // 990}"),
        ("io", "io.bfq.weight", "8:0 300"),
        ("io", "io.weight", f"8:0 {1 + 290 * 9999 // 990}"),
        ("io", "io.max", "8:0 rbps=600"),
        ("io", "io.max", "8:16 wiops=300"),
    ]


def test_hugetlb_rdma_network_unified() -> None:
    assert writes(1, hugepageLimits=[{"pageSize": "2MB", "limit": 4 << 20}]) == [
        ("hugetlb", "hugetlb.2MB.limit_in_bytes", str(4 << 20)),
        ("hugetlb", "hugetlb.2MB.rsvd.limit_in_bytes", str(4 << 20)),
    ]
    assert writes(2, hugepageLimits=[{"pageSize": "1GB", "limit": 1 << 30}])[0] == (
        "hugetlb",
        "hugetlb.1GB.max",
        str(1 << 30),
    )
    assert writes(2, rdma={"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}) == [
        ("rdma", "rdma.max", "mlx5_1 hca_handle=3 hca_object=10000")
    ]
    assert writes(1, network={"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}) == [
        ("net_cls", "net_cls.classid", "1048577"),
        ("net_prio", "net_prio.ifpriomap", "eth0 5"),
    ]
    with pytest.raises(LadingError, match="do not exist on cgroup v2"):
        writes(2, network={"classID": 1})
    assert writes(2, unified={"io.max": "259:0 rbps=2097152", "memory.high": "1000000"}) == [
        ("io", "io.max", "259:0 rbps=2097152"),
        ("memory", "memory.high", "1000000"),
    ]
    with pytest.raises(LadingError, match="cgroup v1 host"):
        writes(1, unified={"memory.high": "1"})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"memory": {"limit": -5}},
            "$.linux.resources.memory.limit: must be -1 (unlimited) or a non-negative",
        ),
        ({"memory": {"limit": 100, "swap": 50}}, "$.linux.resources.memory.swap: the memory+swap limit (50)"),
        ({"memory": {"kernelTCP": -2}}, "$.linux.resources.memory.kernelTCP: must be -1"),
        ({"cpu": {"quota": -3}}, "$.linux.resources.cpu.quota: must be -1"),
        ({"cpu": {"quota": 0}}, "$.linux.resources.cpu.quota: must be -1 (unlimited) or a positive"),
        ({"cpu": {"quota": 1000, "burst": 2000}}, "$.linux.resources.cpu.burst: must not exceed the quota"),
        ({"cpu": {"cpus": "0-3,x"}}, "$.linux.resources.cpu.cpus: expected a list like"),
        ({"cpu": {"period": 0}}, "$.linux.resources.cpu.period: must be a positive"),
        ({"pids": {"limit": -2}}, "$.linux.resources.pids.limit: must be -1"),
        ({"devices": [{"allow": True, "major": -7}]}, "$.linux.resources.devices[0].major: must be -1"),
        ({"blockIO": {"weight": 5}}, "$.linux.resources.blockIO.weight: must be between 10 and 1000"),
        (
            {"unified": {"../../etc/x": "1"}},
            "$.linux.resources.unified: '../../etc/x' is not a cgroup v2 file",
        ),
    ],
)
def test_validation_names_the_json_path(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(LadingError) as e:
        r.validate(resources(**doc), WHERE)
    assert str(e.value).startswith("config.json: " + message), str(e.value)


def test_device_rules_and_v1_writes() -> None:
    res = resources(
        devices=[{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "minor": 200}]
    )
    rules = r.device_rules(res)
    assert rules[:2] == [DeviceRule(False), DeviceRule(True, "c", 10, 200, "rwm")]
    assert rules[2:] == list(r.DEFAULT_DEVICE_RULES)
    v1 = [(w.file, w.value) for w in r.v1_device_writes(rules)]
    assert v1[:3] == [("devices.deny", "a"), ("devices.deny", "a *:* rwm"), ("devices.allow", "c 10:200 rwm")]
    assert ("devices.allow", "c 136:* rwm") in v1
    assert r.DEFAULT_DEVICE_RULES[0] == DeviceRule(True, "c", WILDCARD, WILDCARD, "m")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "/lading-c1"),
        ("", "/lading-c1"),
        ("/a/b", "/a/b"),
        ("/a//b/./c/", "/a/b/c"),
        ("pods/c1", "pods/c1"),
    ],
)
def test_cgroup_path(given: str | None, expected: str) -> None:
    assert cgroup_path("c1", given) == expected


@pytest.mark.parametrize("bad", ["/a/../../etc", "../escape", "a/..", "/", "a\0b"])
def test_cgroup_path_rejects_escapes(bad: str) -> None:
    with pytest.raises(LadingError, match=r"^config.json: \$.linux.cgroupsPath: must"):
        cgroup_path("c1", bad)
