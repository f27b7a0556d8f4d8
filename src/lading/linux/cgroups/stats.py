"""Resource usage of a cgroup, in the JSON shape of ``runc events --stats`` (its ``data`` object).

Tools that read runc's stats (podman stats, containerd's metrics) expect these field names and
units: CPU times in nanoseconds, memory in bytes, v1's mem+swap figures under ``swap``. On v2 the
same shape is filled from the v2 files (cpu.stat, memory.current, io.stat, ...).
"""

from __future__ import annotations

import os
from typing import Any

from lading.linux.cgroups import cgroupfs, hugepages
from lading.linux.cgroups.cgroup import Cgroup

_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _int(d: str, name: str) -> int:
    text = cgroupfs.read_optional(d, name)
    try:
        return cgroupfs.parse_uint(text) if text else 0
    except ValueError:
        return 0


def _ints(d: str, name: str) -> list[int]:
    text = cgroupfs.read_optional(d, name)
    return [int(x) for x in text.split()] if text else []


def _keyed(d: str, name: str) -> dict[str, int]:
    text = cgroupfs.read_optional(d, name)
    return cgroupfs.parse_flat_keyed(text) if text else {}


def _omit_zero(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Drop ``keys`` whose value is 0 or empty, as runc's JSON does for its omitempty fields."""
    for k in keys:
        if k in d and not d[k]:
            del d[k]
    return d


def _entry(limit: int = 0, usage: int = 0, max_usage: int = 0, failcnt: int = 0) -> dict[str, int]:
    return _omit_zero({"limit": limit, "usage": usage, "max": max_usage, "failcnt": failcnt}, "usage", "max")


def _usage(
    total: int, percpu: list[int], kernel_percpu: list[int], user_percpu: list[int], kernel: int, user: int
) -> dict[str, Any]:
    d = {"total": total, "percpu": percpu, "percpu_kernel": kernel_percpu, "percpu_user": user_percpu}
    return {**_omit_zero(d, *d), "kernel": kernel, "user": user}


def _throttling(periods: int, throttled: int, time_ns: int) -> dict[str, int]:
    d = {"periods": periods, "throttled_periods": throttled, "throttled_time": time_ns}
    return _omit_zero(d, *d)


# --- cpu ---------------------------------------------------------------------------------------


def cpu_v1(cpuacct: str | None, cpu: str | None) -> dict[str, Any]:
    usage = _usage(0, [], [], [], 0, 0)
    if cpuacct:
        ticks = _keyed(cpuacct, "cpuacct.stat")
        usage = _usage(
            _int(cpuacct, "cpuacct.usage"),
            _ints(cpuacct, "cpuacct.usage_percpu"),
            _ints(cpuacct, "cpuacct.usage_percpu_sys"),
            _ints(cpuacct, "cpuacct.usage_percpu_user"),
            ticks.get("system", 0) * _NS_PER_TICK,
            ticks.get("user", 0) * _NS_PER_TICK,
        )
    st = _keyed(cpu, "cpu.stat") if cpu else {}
    throttling = _throttling(st.get("nr_periods", 0), st.get("nr_throttled", 0), st.get("throttled_time", 0))
    return {"usage": usage, "throttling": throttling}


def cpu_v2(d: str) -> dict[str, Any]:
    st = _keyed(d, "cpu.stat")
    usage = _usage(
        st.get("usage_usec", 0) * 1000,
        [],
        [],
        [],
        st.get("system_usec", 0) * 1000,
        st.get("user_usec", 0) * 1000,
    )
    throttling = _throttling(st.get("nr_periods", 0), st.get("nr_throttled", 0), st.get("throttled_usec", 0) * 1000)
    return {"usage": usage, "throttling": throttling}


def _cpu_list(text: str | None) -> list[int]:
    """ "0-2,5" -> [0, 1, 2, 5]."""
    out: list[int] = []
    for part in (text or "").strip().split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


def cpuset_v1(d: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cpus": _cpu_list(cgroupfs.read_optional(d, "cpuset.cpus")),
        "cpu_exclusive": _int(d, "cpuset.cpu_exclusive"),
        "mems": _cpu_list(cgroupfs.read_optional(d, "cpuset.mems")),
    }
    for name in (
        "mem_hardwall",
        "mem_exclusive",
        "memory_migrate",
        "memory_spread_page",
        "memory_spread_slab",
        "memory_pressure",
        "sched_load_balance",
    ):
        out[name] = _int(d, f"cpuset.{name}")
    text = cgroupfs.read_optional(d, "cpuset.sched_relax_domain_level")
    out["sched_relax_domain_level"] = int(text) if text and text.strip() else 0
    return out


def cpuset_v2(d: str) -> dict[str, Any]:
    return {
        "cpus": _cpu_list(cgroupfs.read_optional(d, "cpuset.cpus.effective")),
        "mems": _cpu_list(cgroupfs.read_optional(d, "cpuset.mems.effective")),
    }


# --- memory ------------------------------------------------------------------------------------


def _memory_entry_v1(d: str, prefix: str) -> dict[str, int]:
    return _entry(
        _int(d, f"{prefix}.limit_in_bytes"),
        _int(d, f"{prefix}.usage_in_bytes"),
        _int(d, f"{prefix}.max_usage_in_bytes"),
        _int(d, f"{prefix}.failcnt"),
    )


def memory_v1(d: str) -> dict[str, Any]:
    raw = _keyed(d, "memory.stat")
    out = {
        "cache": raw.get("cache", 0),
        "usage": _memory_entry_v1(d, "memory"),
        "swap": _memory_entry_v1(d, "memory.memsw"),
        "kernel": _memory_entry_v1(d, "memory.kmem"),
        "kernelTCP": _memory_entry_v1(d, "memory.kmem.tcp"),
        "raw": raw,
    }
    return _omit_zero(out, "cache", "raw")


def memory_v2(d: str) -> dict[str, Any]:
    raw = _keyed(d, "memory.stat")
    events = _keyed(d, "memory.events")
    usage, limit = _int(d, "memory.current"), _int(d, "memory.max")
    swap_usage, swap_limit = _int(d, "memory.swap.current"), _int(d, "memory.swap.max")
    out = {
        "cache": raw.get("file", 0),
        "usage": _entry(limit, usage, _int(d, "memory.peak"), events.get("max", 0)),
        # v1 reports memory+swap here; keep that meaning so consumers compute the same thing
        "swap": _entry(limit + swap_limit if limit and swap_limit else 0, usage + swap_usage, 0, 0),
        "kernel": _entry(),
        "kernelTCP": _entry(),
        "raw": raw,
    }
    return _omit_zero(out, "cache", "raw")


# --- pids, blkio, hugetlb ----------------------------------------------------------------------


def pids(d: str) -> dict[str, int]:
    return _omit_zero({"current": _int(d, "pids.current"), "limit": _int(d, "pids.max")}, "current", "limit")


def _blkio_entries(d: str, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in (cgroupfs.read_optional(d, name) or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, minor = parts[0].split(":")
        out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def blkio_v1(d: str) -> dict[str, Any]:
    bytes_, serviced = "blkio.io_service_bytes_recursive", "blkio.io_serviced_recursive"
    if not os.path.exists(os.path.join(d, bytes_)):
        bytes_, serviced = "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"
    out = {
        "ioServiceBytesRecursive": _blkio_entries(d, bytes_),
        "ioServicedRecursive": _blkio_entries(d, serviced),
    }
    return _omit_zero(out, *out)


def io_v2(d: str) -> dict[str, Any]:
    service_bytes: list[dict[str, Any]] = []
    serviced: list[dict[str, Any]] = []
    for line in (cgroupfs.read_optional(d, "io.stat") or "").splitlines():
        dev, *pairs = line.split()
        major, minor = (int(x) for x in dev.split(":"))
        kv = dict(p.split("=", 1) for p in pairs if "=" in p)
        for key, op, dest in (
            ("rbytes", "Read", service_bytes),
            ("wbytes", "Write", service_bytes),
            ("dbytes", "Discard", service_bytes),
            ("rios", "Read", serviced),
            ("wios", "Write", serviced),
            ("dios", "Discard", serviced),
        ):
            if key in kv:
                dest.append({"major": major, "minor": minor, "op": op, "value": int(kv[key])})
    out = {"ioServiceBytesRecursive": service_bytes, "ioServicedRecursive": serviced}
    return _omit_zero(out, *out)


def hugetlb(d: str, version: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for size in hugepages.sizes():
        p = f"hugetlb.{size}"
        if version == 1:
            usage, peak, failcnt = (
                _int(d, f"{p}.usage_in_bytes"),
                _int(d, f"{p}.max_usage_in_bytes"),
                _int(d, f"{p}.failcnt"),
            )
        else:
            usage, peak, failcnt = _int(d, f"{p}.current"), 0, _keyed(d, f"{p}.events").get("max", 0)
        out[size] = _omit_zero({"usage": usage, "max": peak, "failcnt": failcnt}, "usage", "max")
    return out


def collect(cg: Cgroup) -> dict[str, Any]:
    """Everything runc's Stats carries that cgroups provide, from whichever hierarchy has it."""
    out: dict[str, Any] = {}
    if "cpuacct" in cg.v1 or "cpu" in cg.v1:
        out["cpu"] = cpu_v1(cg.v1.get("cpuacct"), cg.v1.get("cpu"))
    elif cg.v2:
        out["cpu"] = cpu_v2(cg.v2)
    if d := cg.directory(1, "cpuset"):
        out["cpuset"] = cpuset_v1(d)
    elif d := cg.directory(2, "cpuset"):
        out["cpuset"] = cpuset_v2(d)
    if d := cg.directory(1, "memory"):
        out["memory"] = memory_v1(d)
    elif d := cg.directory(2, "memory"):
        out["memory"] = memory_v2(d)
    if d := cg.directory(1, "pids") or cg.directory(2, "pids"):
        out["pids"] = pids(d)
    if d := cg.directory(1, "blkio"):
        out["blkio"] = blkio_v1(d)
    elif d := cg.directory(2, "io"):
        out["blkio"] = io_v2(d)
    if d := cg.directory(1, "hugetlb"):
        out["hugetlb"] = hugetlb(d, 1)
    elif d := cg.directory(2, "hugetlb"):
        out["hugetlb"] = hugetlb(d, 2)
    else:
        out["hugetlb"] = {}
    out.setdefault("blkio", {})
    return out
