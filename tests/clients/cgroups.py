"""A private cgroup parent for the clients' containers, removed from every hierarchy afterwards.

podman (``--cgroup-parent``) and ctr (``--cgroup``) put containers under a path we name, so
nothing lands in the shared ``libpod_parent`` or ``default`` cgroups and the test can remove the
whole tree when it is done.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_parent(tag: str) -> str:
    """A unique top-level cgroup path (like /lading-clients-podman-1234)."""
    return f"/lading-clients-{tag}-{os.getpid()}"


def hierarchies() -> list[Path]:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]  # unified (cgroup v2 only)
    return [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink()]


def remove_cgroup_tree(path: str, timeout: float = 10) -> list[str]:
    """rmdir path and everything below it in every hierarchy, once the processes in it are gone;
    returns what could not be removed. A client's helpers can outlive the command that removed
    their container: conmon, and the exit command it runs (`podman container cleanup`), leave a
    moment after `podman rm` returns, and a cgroup that still holds them cannot be removed."""
    deadline = time.monotonic() + timeout
    while processes_under(path) and time.monotonic() < deadline:
        time.sleep(0.05)
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


def processes_under(path: str) -> list[int]:
    """The processes in cgroup path, or below it, in any hierarchy."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                paths = [line.split(":", 2)[2] for line in (entry / "cgroup").read_text().splitlines()]
                if any((p + "/").startswith(path + "/") for p in paths):
                    found.append(int(entry.name))
    return found


def kill_processes_under(path: str, timeout: float = 10) -> list[str]:
    """SIGKILL whatever is left in cgroup path (so it can be removed); returns what was there."""
    left = processes_under(path)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while processes_under(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [f"process {pid} in cgroup {path}" for pid in left]
