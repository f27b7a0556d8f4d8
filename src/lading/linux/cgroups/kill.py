"""Signalling every process of a cgroup.

cgroup v2 (Linux 5.14+) kills a whole subtree atomically through cgroup.kill. Otherwise the
processes are listed and signalled one by one, which races with forks unless the caller froze the
cgroup first: a frozen process cannot fork, and a SIGKILL sent to it takes effect on thaw.
"""

from __future__ import annotations

import posix  # not os (runtime/store.py says why): delete kills what is left

from lading.errors import LadingError
from lading.linux.cgroups import cgroupfs


def has_cgroup_kill(directory: str) -> bool:
    try:
        posix.stat(f"{directory}/cgroup.kill")
    except (OSError, ValueError):
        return False
    return True


def kill_v2(directory: str) -> None:
    """SIGKILL every process in the v2 cgroup and its descendants."""
    cgroupfs.write(directory, "cgroup.kill", "1")


def signal_each(directory: str, sig: int) -> list[int]:
    """Send ``sig`` to each process listed in the cgroup's subtree; returns the pids signalled."""
    sent: list[int] = []
    for pid in cgroupfs.procs(directory):
        try:
            posix.kill(pid, sig)
        except ProcessLookupError:
            continue
        except OSError as e:
            raise LadingError(f"cgroup: cannot signal process {pid} in {directory}: {e.strerror}") from None
        sent.append(pid)
    return sent
