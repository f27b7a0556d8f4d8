"""Out-of-memory kills in a cgroup: how many so far, and a file descriptor that wakes on the next.

v1 counts kills in memory.oom_control (``oom_kill``, Linux 4.13+) and notifies through an eventfd
registered in cgroup.event_control. v2 counts them in memory.events, whose changes wake poll() with
POLLPRI. Either way the watcher's ``fileno()`` and ``poll_events`` go straight into select.poll.
"""

from __future__ import annotations

import os
import select

from lading.errors import LadingError
from lading.linux.cgroups import cgroupfs


def oom_kills(directory: str, version: int) -> int:
    """Processes the kernel's OOM killer has killed in this memory cgroup so far."""
    name = "memory.oom_control" if version == 1 else "memory.events"
    text = cgroupfs.read_optional(directory, name)
    return cgroupfs.parse_flat_keyed(text).get("oom_kill", 0) if text else 0


class OomWatcher:
    """Wakes poll() when the memory cgroup at ``directory`` hits an OOM; ``read()`` says how many."""

    def __init__(self, directory: str, version: int) -> None:
        self.directory, self.version = directory, version
        if version == 1:
            self._fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            control = os.open(os.path.join(directory, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                cgroupfs.write(directory, "cgroup.event_control", f"{self._fd} {control}")
            except LadingError:
                os.close(self._fd)
                raise
            finally:
                os.close(control)
            self.poll_events = select.POLLIN
        else:
            try:
                self._fd = os.open(os.path.join(directory, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise LadingError(f"cgroup: cannot watch {directory}/memory.events: {e.strerror}") from None
            self.poll_events = select.POLLPRI | select.POLLERR
        self._seen = oom_kills(directory, version) if version == 2 else 0

    def fileno(self) -> int:
        return self._fd

    def read(self) -> int:
        """OOM events since the last call (0 if none); call when poll() reports the fd ready."""
        if self.version == 1:
            try:
                count = int.from_bytes(os.read(self._fd, 8), "little")
            except BlockingIOError:
                return 0
            # the eventfd also fires when the cgroup is removed: that is not an OOM
            return count if os.path.exists(os.path.join(self.directory, "cgroup.event_control")) else 0
        os.lseek(self._fd, 0, os.SEEK_SET)
        now = cgroupfs.parse_flat_keyed(os.read(self._fd, 4096).decode()).get("oom_kill", 0)
        new, self._seen = now - self._seen, now
        return max(new, 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> OomWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
