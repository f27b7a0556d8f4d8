"""cgroup v1 controllers on this host, exercised with real processes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lading.linux.cgroups import cgroupfs, oom, stats
from lading.linux.cgroups.cgroup import Cgroup
from tests.cgroups.helpers import cpu_ticks, start_in, wait_for


def need(cg: Cgroup, controller: str) -> str:
    d = cg.directory(1, controller)
    if d is None:
        pytest.skip(f"no v1 {controller} controller here")
    return d


def test_process_joins_every_hierarchy(cgroup: Cgroup) -> None:
    p = start_in(cgroup, "exec sleep 30")
    own = Path(f"/proc/{p.pid}/cgroup").read_text()
    name = os.path.basename(next(iter(cgroup.v1.values())))
    for line in own.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers.startswith("name="):
            continue
        assert path.endswith("/" + name), line
    assert cgroup.procs() == [p.pid]
    cgroup.kill_all()
    assert p.wait(5) == -signal.SIGKILL


FORKER = """
import os, time
kids = []
try:
    for _ in range(10):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
except OSError as e:
    print(len(kids), e.errno, flush=True)
time.sleep(30)
"""


def test_pids_max_stops_the_sixth_process(cgroup: Cgroup) -> None:
    d = need(cgroup, "pids")
    cgroupfs.write(d, "pids.max", "5")
    p = start_in(cgroup, f"exec {sys.executable} -c '{FORKER}'")
    assert p.stdout is not None
    assert p.stdout.readline().split() == ["4", str(errno.EAGAIN)]  # the parent and 4 children
    assert len(cgroup.procs()) == 5
    assert cgroupfs.read(d, "pids.current").strip() == "5"
    assert stats.collect(cgroup)["pids"] == {"current": 5, "limit": 5}
    cgroup.kill_all()
    assert p.wait(5) == -signal.SIGKILL


def test_memory_hog_is_oom_killed_and_reported(cgroup: Cgroup) -> None:
    d = need(cgroup, "memory")
    cgroupfs.write(d, "memory.limit_in_bytes", str(32 << 20))
    assert cgroupfs.read(d, "memory.limit_in_bytes").strip() == str(32 << 20)
    with oom.OomWatcher(d, 1) as watcher:
        p = start_in(cgroup, f"exec {sys.executable} -c \"x = b'a' * (256 << 20)\"")
        assert p.wait(30) == -signal.SIGKILL
        import select

        poller = select.poll()
        poller.register(watcher.fileno(), watcher.poll_events)
        assert poller.poll(5000), "no OOM notification"
        assert watcher.read() >= 1
    assert oom.oom_kills(d, 1) >= 1
    mem = stats.collect(cgroup)["memory"]
    assert mem["usage"]["limit"] == 32 << 20 and mem["usage"]["failcnt"] > 0


def test_freeze_stops_a_busy_loop_and_thaw_resumes_it(cgroup: Cgroup) -> None:
    p = start_in(cgroup, "while :; do :; done")
    assert wait_for(lambda: cpu_ticks(p.pid) > 0)
    cgroup.freeze()
    assert cgroup.freezer_state() == "frozen"
    before = cpu_ticks(p.pid)
    time.sleep(0.3)
    assert cpu_ticks(p.pid) == before
    cgroup.thaw()
    assert cgroup.freezer_state() == "thawed"
    assert wait_for(lambda: cpu_ticks(p.pid) > before + 5)
    cgroup.kill_all()
    assert p.wait(5) == -signal.SIGKILL


def test_kill_all_on_a_frozen_cgroup(cgroup: Cgroup) -> None:
    procs = [start_in(cgroup, "exec sleep 30") for _ in range(3)]
    cgroup.freeze()
    cgroup.kill_all(signal.SIGKILL)
    assert [p.wait(5) for p in procs] == [-signal.SIGKILL] * 3
    assert cgroup.freezer_state() == "thawed"
    assert cgroup.wait_empty()


def test_kill_all_with_another_signal_keeps_a_paused_cgroup_paused(cgroup: Cgroup) -> None:
    p = start_in(cgroup, "trap 'exit 7' TERM; while :; do sleep 0.05; done")
    time.sleep(0.1)
    cgroup.freeze()
    cgroup.kill_all(signal.SIGTERM)
    assert cgroup.freezer_state() == "frozen"
    cgroup.thaw()
    assert p.wait(5) == 7


def test_cpu_quota_and_shares_read_back(cgroup: Cgroup) -> None:
    d = need(cgroup, "cpu")
    cgroupfs.write(d, "cpu.cfs_period_us", "100000")
    cgroupfs.write(d, "cpu.cfs_quota_us", "10000")
    cgroupfs.write(d, "cpu.shares", "512")
    assert [cgroupfs.read(d, f).strip() for f in ("cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares")] == [
        "100000",
        "10000",
        "512",
    ]
    p = start_in(cgroup, "while :; do :; done")
    assert wait_for(lambda: stats.collect(cgroup)["cpu"]["throttling"].get("throttled_periods", 0) > 0)
    cgroup.kill_all()
    p.wait(5)


def test_devices_deny(cgroup: Cgroup, tmp_path) -> None:
    d = need(cgroup, "devices")
    cgroupfs.write(d, "devices.deny", "a")
    for entry in ("c 1:3 rwm", "c 1:5 r"):
        cgroupfs.write(d, "devices.allow", entry)
    assert cgroupfs.read(d, "devices.list").split("\n")[:2] == ["c 1:3 rwm", "c 1:5 r"]
    node = tmp_path / "mem"
    p = start_in(
        cgroup,
        "cat /dev/null && echo null-ok; (head -c1 /dev/mem >/dev/null) 2>/dev/null || echo mem-denied; "
        "(echo x >/dev/zero) 2>/dev/null || echo zero-write-denied; "
        f"mknod {node} c 1 1 2>/dev/null || echo mknod-denied",
    )
    out, _ = p.communicate(timeout=10)
    assert out.split() == ["null-ok", "mem-denied", "zero-write-denied", "mknod-denied"]


def test_stats_shape(cgroup: Cgroup) -> None:
    p = start_in(cgroup, "exec sleep 30")
    s = stats.collect(cgroup)
    assert set(s) >= {"cpu", "memory", "pids", "blkio", "hugetlb"}
    assert "kernel" in s["cpu"]["usage"] and "user" in s["cpu"]["usage"]
    assert s["memory"]["usage"]["limit"] > 0 and "failcnt" in s["memory"]["swap"]
    cgroup.kill_all()
    p.wait(5)


def test_removal_waits_for_exiting_tasks_and_takes_sub_cgroups(cgroup: Cgroup) -> None:
    for d in cgroup.directories():
        os.mkdir(os.path.join(d, "inner"))
    p = start_in(cgroup, "exec sleep 30")
    cgroup.kill_all()
    cgroup.remove()  # may race the dying process: remove retries while it drains
    assert not any(os.path.exists(d) for d in cgroup.directories())
    p.wait(5)
    cgroup.create()  # the fixture removes it again


def test_missing_cgroup_reads_as_empty(host) -> None:
    ghost = Cgroup.locate(host, "/lading-test-does-not-exist")
    assert ghost.procs() == []
    ghost.remove()  # nothing to do, no error
    assert subprocess.run(["true"]).returncode == 0
