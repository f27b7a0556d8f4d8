"""Cgroups seen from inside real containers run by `lading`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.support import lading_argv, lading_env, pid_alive


def test_limits_are_in_force_inside_the_container(lading, bundle) -> None:
    if {"type": "cgroup"} not in bundle.config["linux"]["namespaces"]:  # runc's default has one on cgroup v2 only
        bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle.config["linux"]["resources"].update(pids={"limit": 5}, memory={"limit": 64 << 20})
    bundle.write(
        args=[
            "sh",
            "-c",
            "cat /proc/self/cgroup /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes;"
            "(for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait) 2>&1",
        ]
    )
    p = lading("run", "--bundle", str(bundle), "cg-limits", check=False)
    lines = p.stdout.splitlines()
    own = [line for line in lines if line[:1].isdigit() and line.count(":") == 2]
    assert own and all(line.endswith(":/") for line in own), "the cgroup namespace's root"
    assert "5" in lines and str(64 << 20) in lines
    assert "can't fork" in p.stdout


def test_kill_all_and_delete_remove_the_cgroup(lading, bundle) -> None:
    bundle.write(args=["sh", "-c", "sleep 30 & sleep 30 & exec sleep 30"])
    # the init keeps create's stdout open until start: do not wait for it to close
    argv = [*lading_argv(), "--root", str(lading.root), "create", "--bundle", str(bundle), "cg-kill"]
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=lading_env(), check=True, timeout=60)
    lading("start", "cg-kill")
    state = lading.state("cg-kill")
    saved = json.loads((lading.root / "cg-kill" / "state.json").read_text())
    dirs = [*saved["cgroup"]["v1"].values(), *([saved["cgroup"]["v2"]] if saved["cgroup"]["v2"] else [])]
    assert all(os.path.isdir(d) for d in dirs)
    procs_dir = saved["cgroup"]["v2"] or saved["cgroup"]["v1"]["pids"]
    deadline = time.monotonic() + 5
    procs = Path(procs_dir, "cgroup.procs")
    while len(procs.read_text().split()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = [int(x) for x in procs.read_text().split()]
    assert state["pid"] in pids and len(pids) == 3
    lading("kill", "--all", "cg-kill", "KILL")
    deadline = time.monotonic() + 5
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(pid_alive(p) for p in pids)
    lading("delete", "cg-kill")
    assert not any(os.path.exists(d) for d in dirs)
