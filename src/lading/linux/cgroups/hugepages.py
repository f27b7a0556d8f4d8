"""The huge page sizes this kernel supports, named the way cgroup files name them ("2MB", "1GB")."""

from __future__ import annotations

import os

_SYSFS = "/sys/kernel/mm/hugepages"


def size_name(kib: int) -> str:
    """2048 -> "2MB", 1048576 -> "1GB", 64 -> "64KB" (the largest unit that divides evenly)."""
    for unit, scale in (("GB", 1 << 20), ("MB", 1 << 10)):
        if kib % scale == 0:
            return f"{kib // scale}{unit}"
    return f"{kib}KB"


def sizes() -> list[str]:
    try:
        entries = os.listdir(_SYSFS)
    except OSError:
        return []
    kibs = sorted(int(e[len("hugepages-") : -len("kB")]) for e in entries if e.startswith("hugepages-"))
    return [size_name(k) for k in kibs]
