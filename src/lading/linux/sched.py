"""Process attributes a container's process can be given before execve, and keeps across it:
scheduling policy (sched_setattr), I/O priority (ioprio_set), CPU affinity, personality and
NUMA memory policy (set_mempolicy). Thin wrappers over the system calls; numbers follow
<linux/sched/types.h>, <linux/ioprio.h>, <sys/personality.h> and <linux/mempolicy.h>.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why
import struct

from lading.linux import cdata
from lading.linux.libc import check, libc, syscall

_MACHINE = posix.uname().machine
_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}[_MACHINE]
_SYS_IOPRIO_SET = {"x86_64": 251, "aarch64": 30}[_MACHINE]
_SYS_SET_MEMPOLICY = {"x86_64": 238, "aarch64": 237}[_MACHINE]

SCHED_POLICIES = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}
MEMPOLICY_MODES = {
    "MPOL_DEFAULT": 0,
    "MPOL_PREFERRED": 1,
    "MPOL_BIND": 2,
    "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4,
    "MPOL_PREFERRED_MANY": 5,
    "MPOL_WEIGHTED_INTERLEAVE": 6,
}
MEMPOLICY_FLAGS = {"MPOL_F_STATIC_NODES": 1 << 15, "MPOL_F_RELATIVE_NODES": 1 << 14, "MPOL_F_NUMA_BALANCING": 1 << 13}
_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_SHIFT = 13
_SCHED_ATTR = struct.Struct("=IIQiIQQQ")  # struct sched_attr, SCHED_ATTR_SIZE_VER0 (48 bytes)


def set_scheduler(policy: int, flags: int, nice: int, priority: int, runtime: int, deadline: int, period: int) -> None:
    """sched_setattr(2) on the calling thread."""
    attr = cdata.create_string_buffer(
        _SCHED_ATTR.pack(_SCHED_ATTR.size, policy, flags, nice, priority, runtime, deadline, period)
    )
    syscall(_SYS_SCHED_SETATTR, 0, attr, 0, what="sched_setattr")


def set_io_priority(io_class: int, level: int) -> None:
    """ioprio_set(2) on the calling process."""
    syscall(_SYS_IOPRIO_SET, _IOPRIO_WHO_PROCESS, 0, io_class << _IOPRIO_CLASS_SHIFT | level, what="ioprio_set")


def set_personality(persona: int) -> None:
    libc.personality.argtypes = (cdata.c_ulong,)
    check(libc.personality(persona), "personality")


def set_mempolicy(mode: int, nodes: set[int]) -> None:
    """set_mempolicy(2) on the calling thread: ``mode`` (with its flags) over ``nodes``."""
    maxnode = max(nodes, default=-1) + 2  # the kernel reads maxnode - 1 bits
    words = (maxnode + 63) // 64
    mask = (cdata.c_ulong * max(words, 1))()
    for n in nodes:
        mask[n // 64] |= 1 << (n % 64)
    syscall(_SYS_SET_MEMPOLICY, mode, mask if nodes else None, maxnode if nodes else 0, what="set_mempolicy")


def parse_list(text: str) -> set[int]:
    """A kernel list like "0-3,7" as a set of numbers; ValueError if it is not one."""
    out: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        lo, hi = int(first), int(last) if sep else int(first)
        if lo > hi:
            raise ValueError(f"{part}: range goes down")
        out.update(range(lo, hi + 1))
    return out
