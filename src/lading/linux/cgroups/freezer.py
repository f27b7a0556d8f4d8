"""Freezing and thawing every process of a cgroup, and waiting until the kernel says it is done.

v1 writes FROZEN or THAWED to freezer.state and polls it until FREEZING settles; a freeze can
stall while a task is in an uninterruptible sleep, so the request is repeated and, if it never
settles, undone. v2 writes cgroup.freeze and waits for ``frozen`` in cgroup.events to follow.
"""

from __future__ import annotations

import time

from lading.errors import LadingError
from lading.linux.cgroups import cgroupfs

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable  # collections.abc imports collections
    from typing import Literal, TypeAlias

    State: TypeAlias = Literal["thawed", "freezing", "frozen"]


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.01)


def state(v1: str | None, v2: str | None) -> State:
    """The freezer state of a cgroup whose v1 freezer directory is ``v1`` and cgroup2 directory
    ``v2`` (either may be None): v1's freezer where the host has one, as it then serves the
    freezer on a hybrid host; thawed where there is neither."""
    if v1:
        return state_v1(v1)
    return state_v2(v2) if v2 else "thawed"


def state_v1(directory: str) -> State:
    value = cgroupfs.read(directory, "freezer.state").strip()
    if value == "FROZEN":
        return "frozen"
    return "freezing" if value == "FREEZING" else "thawed"


def freeze_v1(directory: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cgroupfs.write(directory, "freezer.state", "FROZEN")
        if _wait(lambda: state_v1(directory) == "frozen", 0.1):
            return
    cgroupfs.write(directory, "freezer.state", "THAWED")
    raise LadingError(f"cgroup: {directory} did not freeze within {timeout:g}s; thawed it again")


def thaw_v1(directory: str, timeout: float = 5.0) -> None:
    cgroupfs.write(directory, "freezer.state", "THAWED")
    if not _wait(lambda: state_v1(directory) == "thawed", timeout):
        raise LadingError(f"cgroup: {directory} did not thaw within {timeout:g}s")


def frozen_v2(directory: str) -> bool:
    """Frozen, by its own cgroup.freeze or a parent's (cgroup.events says which is in force)."""
    return cgroupfs.parse_flat_keyed(cgroupfs.read(directory, "cgroup.events")).get("frozen") == 1


def state_v2(directory: str) -> State:
    wanted = cgroupfs.read_optional(directory, "cgroup.freeze")
    if wanted is None or wanted.strip() != "1":
        return "thawed"
    return "frozen" if frozen_v2(directory) else "freezing"


def freeze_v2(directory: str, timeout: float = 5.0) -> None:
    cgroupfs.write(directory, "cgroup.freeze", "1")
    if not _wait(lambda: frozen_v2(directory), timeout):
        cgroupfs.write(directory, "cgroup.freeze", "0")
        raise LadingError(f"cgroup: {directory} did not freeze within {timeout:g}s; thawed it again")


def thaw_v2(directory: str, timeout: float = 5.0) -> None:
    cgroupfs.write(directory, "cgroup.freeze", "0")
    if not _wait(lambda: not frozen_v2(directory), timeout):
        raise LadingError(f"cgroup: {directory} did not thaw within {timeout:g}s")
