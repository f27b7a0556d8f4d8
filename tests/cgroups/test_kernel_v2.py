"""The cgroup2 hierarchy on this host: whatever controllers it has, its freezer and cgroup.kill."""

from __future__ import annotations

import signal
import time

import pytest

from lading.linux.cgroups import cgroupfs, freezer, hugepages, kill, stats
from lading.linux.cgroups.cgroup import Cgroup
from tests.cgroups.helpers import cpu_ticks, start_in, wait_for


def v2_dir(cg: Cgroup) -> str:
    if cg.v2 is None:
        pytest.skip("no cgroup2 hierarchy here")
    return cg.v2


def test_hugetlb_limit_reads_back(cgroup: Cgroup) -> None:
    d = cgroup.directory(2, "hugetlb") or cgroup.directory(1, "hugetlb")
    if d is None or not hugepages.sizes():
        pytest.skip("no hugetlb controller or huge pages here")
    size = hugepages.sizes()[0]
    version = 2 if d == cgroup.v2 else 1
    name = f"hugetlb.{size}.max" if version == 2 else f"hugetlb.{size}.limit_in_bytes"
    cgroupfs.write(d, name, str(4 << 30))
    assert cgroupfs.read(d, name).strip() == str(4 << 30)
    assert stats.collect(cgroup)["hugetlb"][size] == {"failcnt": 0}


def test_procs_are_listed_from_cgroup2(cgroup: Cgroup) -> None:
    d = v2_dir(cgroup)
    p = start_in(cgroup, "sleep 30 & exec sleep 30")
    assert wait_for(lambda: len(cgroupfs.procs(d)) == 2)
    assert p.pid in cgroup.procs()
    cgroup.kill_all()
    assert p.wait(5) == -signal.SIGKILL


def test_cgroup_freeze_and_events(unified_dir: str, cgroup: Cgroup) -> None:
    p = start_in(cgroup, "while :; do :; done")
    cgroupfs.add_process(unified_dir, p.pid)  # out of the fixture's v2 cgroup, still in its v1 ones
    assert wait_for(lambda: cpu_ticks(p.pid) > 0)
    freezer.freeze_v2(unified_dir)
    assert freezer.state_v2(unified_dir) == "frozen"
    before = cpu_ticks(p.pid)
    time.sleep(0.3)
    assert cpu_ticks(p.pid) == before
    freezer.thaw_v2(unified_dir)
    assert freezer.state_v2(unified_dir) == "thawed"
    assert wait_for(lambda: cpu_ticks(p.pid) > before + 5)
    # cgroup.kill reaches even a frozen cgroup
    freezer.freeze_v2(unified_dir)
    kill.kill_v2(unified_dir)
    assert p.wait(5) == -signal.SIGKILL
    assert wait_for(lambda: not cgroupfs.procs(unified_dir))


def test_stats_from_cgroup2_files(unified_dir: str) -> None:
    cpu = stats.cpu_v2(unified_dir)
    assert set(cpu["usage"]) >= {"kernel", "user"}
