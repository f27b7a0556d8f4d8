"""A private cgroup parent for the clients' containers, removed from every hierarchy afterwards.

podman (``--cgroup-parent``) and ctr (``--cgroup``) put containers under a path we name, so
nothing lands in the shared ``libpod_parent`` or ``default`` cgroups and the test can remove the
whole tree when it is done.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_parent(tag: str) -> str:
    """A unique top-level cgroup path (like /lading-clients-podman-1234)."""
    return f"/lading-clients-{tag}-{os.getpid()}"


def hierarchies() -> list[Path]:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]  # unified (cgroup v2 only)
    return [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink()]


def remove_cgroup_tree(path: str) -> list[str]:
    """rmdir path and everything below it in every hierarchy; returns what could not be removed."""
    left = []
    for hierarchy in hierarchies():
        top = hierarchy / path.lstrip("/")
        if not top.is_dir():
            continue
        for dirpath, _, _ in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
        if top.exists():
            left.append(str(top))
    return left
