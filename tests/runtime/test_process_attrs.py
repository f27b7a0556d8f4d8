"""Config fields that set what the process runs with: each applied and visible inside the
container, or refused with the JSON path (runc 1.1.5 decodes these and runs without them)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.conftest import Bundle
from tests.support import Lading


def run(lading: Lading, bundle: Bundle, script: str, **process: Any) -> tuple[int, str, str]:
    bundle.write(args=["sh", "-c", script], **process)
    p = lading("run", "--bundle", str(bundle), "attrs", check=False)
    return p.returncode, p.stdout, p.stderr


def test_scheduler_policy_and_nice(lading: Lading, bundle: Bundle) -> None:
    code, out, err = run(
        lading,
        bundle,
        "grep -E '^policy' /proc/self/sched; cut -d' ' -f19 /proc/self/stat",
        scheduler={"policy": "SCHED_BATCH", "nice": 7},
    )
    assert code == 0, err
    assert out.split() == ["policy", ":", "3", "7"]  # SCHED_BATCH, nice 7


def test_io_priority(lading: Lading, bundle: Bundle) -> None:
    code, out, err = run(lading, bundle, "ionice -p $$", ioPriority={"class": "IOPRIO_CLASS_IDLE", "priority": 0})
    assert code == 0, err
    assert out.strip().startswith("idle")


def test_personality_linux32(lading: Lading, bundle: Bundle) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("LINUX32 shows as i686 on x86_64")
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    code, out, err = run(lading, bundle, "uname -m")
    assert (code, out) == (0, "i686\n"), err


def test_exec_cpu_affinity_final(lading: Lading, bundle: Bundle) -> None:
    code, out, err = run(
        lading, bundle, "grep Cpus_allowed_list /proc/self/status", execCPUAffinity={"initial": "0", "final": "0"}
    )
    assert code == 0, err
    assert out.split() == ["Cpus_allowed_list:", "0"]


def test_memory_policy(lading: Lading, bundle: Bundle) -> None:
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0"}
    code, out, err = run(lading, bundle, "grep -m1 -o 'bind:0' /proc/self/numa_maps")
    assert (code, out) == (0, "bind:0\n"), err


@pytest.mark.parametrize(
    ("linux", "message"),
    [
        (
            {"netDevices": {"eth9": {"name": "eth0"}}},
            "config.json: $.linux.netDevices: moving host network interfaces into the container is not supported",
        ),
        (
            {"intelRdt": {"closID": "c1"}},
            "config.json: $.linux.intelRdt: Intel RDT (resctrl) is not supported",
        ),
        (
            {"memoryPolicy": {"mode": "MPOL_BIND"}},
            "config.json: $.linux.memoryPolicy.nodes: MPOL_BIND needs nodes",
        ),
    ],
)
def test_what_is_not_applied_is_refused(lading: Lading, bundle: Bundle, linux: dict[str, Any], message: str) -> None:
    bundle.config["linux"].update(linux)
    bundle.write(args=["true"])
    p = lading("create", "--bundle", str(bundle), "refused", check=False)
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith(message), p.stderr


def test_a_cpu_the_machine_lacks_fails_create(lading: Lading, bundle: Bundle) -> None:
    bundle.write(args=["true"], execCPUAffinity={"final": "4000"})
    p = lading("create", "--bundle", str(bundle), "cpus", check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == "config.json: $.process.execCPUAffinity.final: cannot be applied: Invalid argument"
