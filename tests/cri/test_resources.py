"""Resources through the CRI: limits in the container's cgroup files, UpdateContainerResources on
a running container, OOM kills reported as OOMKilled, and ContainerStats."""

from __future__ import annotations

import json
from typing import Any

from tests.clients.cgroups import CGROUP_ROOT
from tests.cri.client import Cri

MiB = 1024 * 1024


def resources(cri: Cri, **fields: Any) -> Any:
    return cri.pb.LinuxContainerConfig(resources=cri.pb.LinuxContainerResources(**fields))


def cgroup_file(cri: Cri, cid: str, controller: str, name: str) -> str:
    """A file of the container's cgroup, read on the host (the path containerd gave the runtime)."""
    info = json.loads(cri.call("ContainerStatus", container_id=cid, verbose=True).info["info"])
    path = info["runtimeSpec"]["linux"]["cgroupsPath"].lstrip("/")
    unified = CGROUP_ROOT / "cgroup.controllers"
    directory = CGROUP_ROOT / path if unified.exists() else CGROUP_ROOT / controller / path
    return (directory / name).read_text().strip()


def test_cpu_and_memory_limits_in_the_cgroup_files(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    cid = cri.run_idle(
        pod,
        linux=resources(cri, cpu_shares=512, cpu_period=100000, cpu_quota=50000, memory_limit_in_bytes=64 * MiB),
    )
    assert cgroup_file(cri, cid, "cpu", "cpu.shares") == "512"
    assert cgroup_file(cri, cid, "cpu", "cpu.cfs_period_us") == "100000"
    assert cgroup_file(cri, cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_file(cri, cid, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    # what the container itself is limited by: its own cgroup, mounted at /sys/fs/cgroup
    assert cri.sh(cid, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes") == f"{64 * MiB}\n"


def test_update_container_resources_of_a_running_container(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    cid = cri.run_idle(pod, linux=resources(cri, cpu_shares=512, memory_limit_in_bytes=64 * MiB))
    update = cri.pb.LinuxContainerResources(
        cpu_shares=256, cpu_period=100000, cpu_quota=20000, memory_limit_in_bytes=96 * MiB
    )
    cri.call("UpdateContainerResources", container_id=cid, linux=update)
    assert cgroup_file(cri, cid, "cpu", "cpu.shares") == "256"
    assert cgroup_file(cri, cid, "cpu", "cpu.cfs_quota_us") == "20000"
    assert cgroup_file(cri, cid, "memory", "memory.limit_in_bytes") == str(96 * MiB)
    reported = cri.status(cid).resources.linux
    assert (reported.cpu_shares, reported.cpu_quota, reported.memory_limit_in_bytes) == (256, 20000, 96 * MiB)
    assert cri.exec(cid, ["true"]).exit_code == 0, "still running"


def test_out_of_memory_is_reported_as_oom_killed(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    # dd fills a 64 MiB buffer: past the limit, so the kernel kills it. The shim watches for
    # OOM only once the runtime's `start` has returned, so the program gives it a second first.
    limit = resources(cri, memory_limit_in_bytes=16 * MiB)
    cid = cri.run(pod, ["sh", "-c", "sleep 1; exec dd if=/dev/zero of=/dev/null bs=64M count=1"], linux=limit)
    status = cri.wait_exited(cid)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


def test_container_stats(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    busy = cri.run(pod, ["sh", "-c", "head -c 8000000 /dev/urandom | md5sum > /tmp/sum; exec sleep 1000"])
    idle = cri.run_idle(pod)
    cri.sh(busy, "while [ ! -s /tmp/sum ]; do sleep 0.05; done")
    stats = cri.call("ContainerStats", container_id=busy).stats
    assert stats.attributes.id == busy
    assert stats.cpu.usage_core_nano_seconds.value > 0
    assert stats.memory.working_set_bytes.value > 0
    listed = cri.call("ListContainerStats", filter=cri.pb.ContainerStatsFilter(pod_sandbox_id=pod.id)).stats
    assert {s.attributes.id for s in listed} == {busy, idle}
