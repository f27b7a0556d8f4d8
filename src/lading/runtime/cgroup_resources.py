"""linux.resources as cgroup file writes, for v1 and for v2, and the checks that come first.

Pure functions: a controller's settings go in, ``(controller, file, value)`` writes come out, in
the order they must happen. The cgroup manager picks, per controller, whether the host serves it
from v1 or v2 (on a hybrid host it can be either), and performs the writes. Conversions between
the two follow runc and crun, so a config means the same thing under each: cpu shares become a
weight on the same log scale (1024 -> 100), v1's memory+swap total becomes v2's swap-only limit,
CFS quota and period become one cpu.max line, blkio weights become io weights.
"""

from __future__ import annotations

from lading import log
from lading.errors import LadingError
from lading.linux.cgroups.device_filter import WILDCARD, DeviceRule
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.spec.runtime_config import (
        LinuxBlockIO,
        LinuxCPU,
        LinuxMemory,
        LinuxResources,
    )


class Write(Record):
    controller: str  # the controller's name in its hierarchy's version ("blkio" on v1, "io" on v2)
    file: str
    value: str
    optional: bool = False  # skip quietly when the kernel lacks the file (e.g. hugetlb rsvd limits)


# logical controller (v1 name) -> v2 name; None: no v2 equivalent
V2_NAME: dict[str, str | None] = {
    "memory": "memory",
    "cpu": "cpu",
    "cpuset": "cpuset",
    "pids": "pids",
    "blkio": "io",
    "hugetlb": "hugetlb",
    "rdma": "rdma",
    "net_cls": None,
    "net_prio": None,
}

_DEFAULT_PERIOD = 100000


# --- validation ----------------------------------------------------------------------------------


def _limit(where: str, value: int | None) -> None:
    if value is not None and value < -1:
        raise LadingError(f"{where}: must be -1 (unlimited) or a non-negative number, got {value}")


def _is_cpu_list(text: str) -> bool:
    """Numbers and ranges, comma-separated: "0-3,7" (not re: start-up cost)."""
    return all(
        len(bounds) <= 2 and all(b.isdecimal() for b in bounds)
        for bounds in (part.split("-") for part in text.split(","))
    )


def validate(res: LinuxResources, where: str) -> None:
    """Reject settings no kernel would accept, naming the JSON path (``where`` is its prefix,
    e.g. ``config.json: $.linux.resources``)."""
    if m := res.memory:
        for name, key in (
            ("limit", "limit"),
            ("reservation", "reservation"),
            ("swap", "swap"),
            ("kernel", "kernel"),
            ("kernel_tcp", "kernelTCP"),
        ):
            _limit(f"{where}.memory.{key}", getattr(m, name))
        if m.limit is not None and m.swap is not None and m.limit > 0 and 0 < m.swap < m.limit:
            raise LadingError(
                f"{where}.memory.swap: the memory+swap limit ({m.swap}) must not be below the memory limit ({m.limit})"
            )
    if c := res.cpu:
        _limit(f"{where}.cpu.quota", c.quota)
        if c.quota is not None and c.quota == 0:
            raise LadingError(f"{where}.cpu.quota: must be -1 (unlimited) or a positive number of microseconds")
        if c.burst is not None and c.quota is not None and c.quota > 0 and c.burst > c.quota:
            raise LadingError(f"{where}.cpu.burst: must not exceed the quota ({c.quota}), got {c.burst}")
        if c.period is not None and c.period == 0:
            raise LadingError(f"{where}.cpu.period: must be a positive number of microseconds")
        for name in ("cpus", "mems"):
            value = getattr(c, name)
            if value and not _is_cpu_list(value):
                raise LadingError(f'{where}.cpu.{name}: expected a list like "0-3,7", got {value!r}')
        if c.idle is not None and c.idle not in (0, 1):
            raise LadingError(f"{where}.cpu.idle: must be 0 or 1, got {c.idle}")
    if res.pids and res.pids.limit is not None:
        _limit(f"{where}.pids.limit", res.pids.limit)
    for i, d in enumerate(res.devices or []):
        for name in ("major", "minor"):
            value = getattr(d, name)
            if value is not None and value < -1:
                raise LadingError(f"{where}.devices[{i}].{name}: must be -1 (all) or a device number, got {value}")
    if b := res.block_io:
        for name in ("weight", "leaf_weight"):
            value = getattr(b, name)
            if value is not None and value != 0 and not 10 <= value <= 1000:
                key = "leafWeight" if name == "leaf_weight" else name
                raise LadingError(f"{where}.blockIO.{key}: must be between 10 and 1000, got {value}")
    for key in res.unified or {}:
        if "/" in key or key.startswith(".") or "." not in key:
            raise LadingError(f"{where}.unified: {key!r} is not a cgroup v2 file name")


# --- devices -------------------------------------------------------------------------------------

# Always allowed, after the config's own rules (so they win): mknod of any device, the standard
# /dev nodes, and terminals. runc and crun allow the same set.
DEFAULT_DEVICE_RULES = (
    DeviceRule(True, "c", WILDCARD, WILDCARD, "m"),
    DeviceRule(True, "b", WILDCARD, WILDCARD, "m"),
    DeviceRule(True, "c", 1, 3, "rwm"),  # null
    DeviceRule(True, "c", 1, 5, "rwm"),  # zero
    DeviceRule(True, "c", 1, 7, "rwm"),  # full
    DeviceRule(True, "c", 1, 8, "rwm"),  # random
    DeviceRule(True, "c", 1, 9, "rwm"),  # urandom
    DeviceRule(True, "c", 5, 0, "rwm"),  # tty
    DeviceRule(True, "c", 5, 2, "rwm"),  # ptmx
    DeviceRule(True, "c", 136, WILDCARD, "rwm"),  # pts
)


def device_rules(res: LinuxResources | None) -> list[DeviceRule]:
    """The config's rules in order, then the defaults. A device in linux.devices gets only what
    these grant (as in runc): listing a node creates it, it does not open the device cgroup."""
    rules = [
        DeviceRule(
            d.allow,
            d.type or "a",
            WILDCARD if d.major is None else d.major,
            WILDCARD if d.minor is None else d.minor,
            d.access or "rwm",
        )
        for d in ((res.devices if res else None) or [])
    ]
    rules += DEFAULT_DEVICE_RULES
    return rules


def v1_device_writes(rules: list[DeviceRule]) -> list[Write]:
    """Deny everything, then the rules in order: the same default-deny the v2 program has."""
    out = [Write("devices", "devices.deny", "a")]
    out += [Write("devices", "devices.allow" if r.allow else "devices.deny", r.v1_entry()) for r in rules]
    return out


# --- per controller ------------------------------------------------------------------------------


def _max(value: int) -> str:
    return "max" if value == -1 else str(value)


def memory_writes(m: LinuxMemory, version: int, current_limit: int | None = None) -> list[Write]:
    """``current_limit`` (v1): the limit in force now; raising the limit above the current
    memory+swap limit only works if memory+swap is raised first."""
    if version == 1:
        limit: list[Write] = []
        if m.limit is not None:
            limit.append(Write("memory", "memory.limit_in_bytes", str(m.limit)))
        swap = m.swap if m.swap is not None else (-1 if m.limit == -1 else None)
        if swap is not None:
            sw = Write("memory", "memory.memsw.limit_in_bytes", str(swap))
            raising = swap == -1 or (m.limit is not None and current_limit is not None and m.limit > current_limit)
            limit = [sw, *limit] if raising else [*limit, sw]
        out = limit
        if m.reservation is not None:
            out.append(Write("memory", "memory.soft_limit_in_bytes", str(m.reservation)))
        if m.kernel_tcp is not None:
            out.append(Write("memory", "memory.kmem.tcp.limit_in_bytes", str(m.kernel_tcp)))
        if m.swappiness is not None:
            out.append(Write("memory", "memory.swappiness", str(m.swappiness)))
        if m.disable_oom_killer:
            out.append(Write("memory", "memory.oom_control", "1"))
        if m.kernel is not None:
            log.debug("linux.resources.memory.kernel is ignored: kernels no longer limit kernel memory separately")
        return out
    out = []
    swap = _v2_swap(m.limit, m.swap)
    if swap is not None:
        out.append(Write("memory", "memory.swap.max", _max(swap)))
    if m.limit is not None:
        out.append(Write("memory", "memory.max", _max(m.limit)))
    if m.reservation is not None:
        out.append(Write("memory", "memory.low", _max(m.reservation)))
    for name in ("kernel", "kernel_tcp", "swappiness"):
        if getattr(m, name) is not None:
            log.debug("linux.resources.memory.%s has no cgroup v2 equivalent; ignored", name)
    if m.disable_oom_killer:
        log.warning("linux.resources.memory.disableOOMKiller has no cgroup v2 equivalent; ignored")
    return out


def _v2_swap(limit: int | None, swap: int | None) -> int | None:
    """v1's memory+swap total as v2's swap-only limit; None leaves memory.swap.max alone."""
    if swap is None:
        return -1 if limit == -1 else None
    if swap == -1:
        return -1
    if swap == 0:
        return 0 if limit is None or limit <= 0 else None
    if limit is None or limit <= 0:
        raise LadingError("linux.resources.memory.swap: a swap limit needs a memory limit on cgroup v2")
    return swap - limit


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144, default 1024) -> cpu.weight (1..10000, default 100), on the log
    scale crun and runc use so that both defaults and both ends of the ranges line up."""
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    import math  # only for cpu shares on cgroup v2

    exp = math.log2(shares)
    return math.ceil(10 ** ((exp * exp + 125 * exp) / 612.0 - 7.0 / 34.0))


def cpu_writes(c: LinuxCPU, version: int) -> list[Write]:
    out: list[Write] = []
    if version == 1:
        if c.shares is not None and c.shares != 0:
            out.append(Write("cpu", "cpu.shares", str(c.shares)))
        if c.period is not None:
            out.append(Write("cpu", "cpu.cfs_period_us", str(c.period)))
        if c.quota is not None:
            out.append(Write("cpu", "cpu.cfs_quota_us", str(c.quota)))
        if c.burst is not None:
            out.append(Write("cpu", "cpu.cfs_burst_us", str(c.burst)))
        if c.realtime_period is not None:
            out.append(Write("cpu", "cpu.rt_period_us", str(c.realtime_period)))
        if c.realtime_runtime is not None:
            out.append(Write("cpu", "cpu.rt_runtime_us", str(c.realtime_runtime)))
        if c.idle is not None:
            out.append(Write("cpu", "cpu.idle", str(c.idle)))
        return out
    if c.realtime_period or c.realtime_runtime:
        raise LadingError("linux.resources.cpu: realtime settings are not supported on cgroup v2")
    if c.shares:
        out.append(Write("cpu", "cpu.weight", str(shares_to_weight(c.shares))))
    if c.quota is not None or c.period is not None:
        quota = "max" if c.quota is None or c.quota == -1 else str(c.quota)
        out.append(Write("cpu", "cpu.max", f"{quota} {c.period or _DEFAULT_PERIOD}"))
    if c.burst is not None:
        out.append(Write("cpu", "cpu.max.burst", str(c.burst)))
    if c.idle is not None:
        out.append(Write("cpu", "cpu.idle", str(c.idle)))
    return out


def cpuset_writes(c: LinuxCPU, version: int) -> list[Write]:
    out: list[Write] = []
    if c.cpus:
        out.append(Write("cpuset", "cpuset.cpus", c.cpus))
    if c.mems:
        out.append(Write("cpuset", "cpuset.mems", c.mems))
    return out


def pids_writes(limit: int, version: int) -> list[Write]:
    return [Write("pids", "pids.max", _max(limit))]


def blkio_weight_to_io(weight: int) -> int:
    """blkio.weight (10..1000) -> io.weight (1..10000), linearly as runc does."""
    return 1 + (weight - 10) * 9999 // 990


def blkio_writes(b: LinuxBlockIO, version: int) -> list[Write]:
    out: list[Write] = []
    throttles = (
        ("throttle_read_bps_device", "blkio.throttle.read_bps_device", "rbps"),
        ("throttle_write_bps_device", "blkio.throttle.write_bps_device", "wbps"),
        ("throttle_read_iops_device", "blkio.throttle.read_iops_device", "riops"),
        ("throttle_write_iops_device", "blkio.throttle.write_iops_device", "wiops"),
    )
    if version == 1:
        if b.weight:
            out.append(Write("blkio", "blkio.weight", str(b.weight), optional=True))
            out.append(Write("blkio", "blkio.bfq.weight", str(b.weight), optional=True))
        if b.leaf_weight:
            out.append(Write("blkio", "blkio.leaf_weight", str(b.leaf_weight), optional=True))
        for wd in b.weight_device or []:
            if wd.weight is not None:
                line = f"{wd.major}:{wd.minor} {wd.weight}"
                out.append(Write("blkio", "blkio.weight_device", line, optional=True))
                out.append(Write("blkio", "blkio.bfq.weight_device", line, optional=True))
            if wd.leaf_weight is not None:
                out.append(
                    Write(
                        "blkio",
                        "blkio.leaf_weight_device",
                        f"{wd.major}:{wd.minor} {wd.leaf_weight}",
                        optional=True,
                    )
                )
        for attr, file, _ in throttles:
            for t in getattr(b, attr) or []:
                out.append(Write("blkio", file, f"{t.major}:{t.minor} {t.rate}"))
        return out
    if b.weight:
        out.append(Write("io", "io.bfq.weight", str(b.weight), optional=True))
        out.append(Write("io", "io.weight", f"default {blkio_weight_to_io(b.weight)}", optional=True))
    for wd in b.weight_device or []:
        if wd.weight is not None:
            out.append(Write("io", "io.bfq.weight", f"{wd.major}:{wd.minor} {wd.weight}", optional=True))
            out.append(
                Write("io", "io.weight", f"{wd.major}:{wd.minor} {blkio_weight_to_io(wd.weight)}", optional=True)
            )
    for attr, _, key in throttles:
        for t in getattr(b, attr) or []:
            out.append(Write("io", "io.max", f"{t.major}:{t.minor} {key}={t.rate}"))
    return out


def hugetlb_writes(res: LinuxResources, version: int) -> list[Write]:
    out: list[Write] = []
    for h in res.hugepage_limits or []:
        if version == 1:
            out.append(Write("hugetlb", f"hugetlb.{h.page_size}.limit_in_bytes", str(h.limit)))
            out.append(Write("hugetlb", f"hugetlb.{h.page_size}.rsvd.limit_in_bytes", str(h.limit), optional=True))
        else:
            out.append(Write("hugetlb", f"hugetlb.{h.page_size}.max", str(h.limit)))
            out.append(Write("hugetlb", f"hugetlb.{h.page_size}.rsvd.max", str(h.limit), optional=True))
    return out


def rdma_writes(res: LinuxResources, version: int) -> list[Write]:
    out: list[Write] = []
    for dev, r in sorted((res.rdma or {}).items()):
        parts = [dev]
        if r.hca_handles is not None:
            parts.append(f"hca_handle={r.hca_handles}")
        if r.hca_objects is not None:
            parts.append(f"hca_object={r.hca_objects}")
        out.append(Write("rdma", "rdma.max", " ".join(parts)))
    return out


def network_writes(res: LinuxResources, controller: str) -> list[Write]:
    n = res.network
    if n is None:
        return []
    if controller == "net_cls":
        return [Write("net_cls", "net_cls.classid", str(n.class_id))] if n.class_id is not None else []
    return [Write("net_prio", "net_prio.ifpriomap", f"{p.name} {p.priority}") for p in n.priorities or []]


def requested(res: LinuxResources) -> list[str]:
    """The logical controllers (v1 names) the resources set anything for, devices aside."""
    c = res.cpu
    wanted = {
        "memory": res.memory is not None
        and any(
            getattr(res.memory, f) is not None
            for f in ("limit", "reservation", "swap", "kernel_tcp", "swappiness", "disable_oom_killer")
        ),
        "cpu": c is not None
        and any(
            getattr(c, f) is not None
            for f in ("shares", "quota", "burst", "period", "realtime_runtime", "realtime_period", "idle")
        ),
        "cpuset": c is not None and bool(c.cpus or c.mems),
        "pids": res.pids is not None and res.pids.limit is not None,
        "blkio": res.block_io is not None,
        "hugetlb": bool(res.hugepage_limits),
        "rdma": bool(res.rdma),
        "net_cls": res.network is not None and res.network.class_id is not None,
        "net_prio": res.network is not None and bool(res.network.priorities),
    }
    return [name for name, on in wanted.items() if on]


def controller_writes(
    res: LinuxResources, controller: str, version: int, current_memory_limit: int | None = None
) -> list[Write]:
    """The writes for one logical controller (v1 name) on a hierarchy of ``version``."""
    if controller == "memory" and res.memory:
        return memory_writes(res.memory, version, current_memory_limit)
    if controller == "cpu" and res.cpu:
        return cpu_writes(res.cpu, version)
    if controller == "cpuset" and res.cpu:
        return cpuset_writes(res.cpu, version)
    if controller == "pids" and res.pids and res.pids.limit is not None:
        return pids_writes(res.pids.limit, version)
    if controller == "blkio" and res.block_io:
        return blkio_writes(res.block_io, version)
    if controller == "hugetlb":
        return hugetlb_writes(res, version)
    if controller == "rdma":
        return rdma_writes(res, version)
    if controller in ("net_cls", "net_prio"):
        if version == 2:
            raise LadingError("linux.resources.network: net_cls and net_prio do not exist on cgroup v2")
        return network_writes(res, controller)
    return []


def unified_writes(res: LinuxResources) -> list[Write]:
    """linux.resources.unified, verbatim; the controller is the file name's prefix."""
    return [Write(key.split(".", 1)[0], key, value) for key, value in (res.unified or {}).items()]


def all_writes(res: LinuxResources, version: int) -> list[Write]:
    """Everything for a host whose every controller is on ``version`` (devices aside)."""
    out: list[Write] = []
    for controller in requested(res):
        out += controller_writes(res, controller, version)
    if version == 2:
        out += unified_writes(res)
    elif res.unified:
        raise LadingError("linux.resources.unified: cgroup v2 settings cannot be applied on a cgroup v1 host")
    return out
