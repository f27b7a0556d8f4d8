"""linux.uidMappings and gidMappings, and mounts' own mappings, checked before anything is made.

A map the kernel would refuse (overlapping ranges), one that leaves the container's root
unmapped (the init becomes root in the namespace), a process user outside it, or, for a user
without privilege, host ids that are neither its own nor subordinate ids /etc/subuid and
/etc/subgid give it: each is one line naming the JSON path, before any process or state exists.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.errors import LadingError
from lading.linux.userns import IdRange, helper, own_id, single_fallback, subordinate_ranges, user_name, writes_itself

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from lading.spec.runtime_config import LinuxIDMapping, Spec


def ranges(maps: Sequence[LinuxIDMapping] | None) -> list[IdRange]:
    return [IdRange(m.container_id, m.host_id, m.size) for m in maps or []]


def check(where: str, found: list[IdRange]) -> None:
    """Sizes positive and no two ranges overlapping on either side (the kernel's rules)."""
    if not found:
        raise LadingError(f"{where}: at least one mapping is needed")
    for i, r in enumerate(found):
        if r.size <= 0:
            raise LadingError(f"{where}[{i}].size: must be positive")
        for j, other in enumerate(found[:i]):
            for side in ("container", "host"):
                a, b = getattr(r, side), getattr(other, side)
                if a < b + other.size and b < a + r.size:
                    raise LadingError(f"{where}[{i}]: {side} ids overlap those of {where}[{j}]")


def host_id(found: list[IdRange], container_id: int) -> int | None:
    """The host id that ``container_id`` maps to, or None if it is not mapped."""
    for r in found:
        if r.container <= container_id < r.container + r.size:
            return r.host + container_id - r.container
    return None


def check_allowed(kind: str, where: str, found: list[IdRange]) -> None:
    """As a user without privilege: only its own id and its subordinate ids (what newuidmap and
    newgidmap would allow), said before the helpers refuse it halfway through create."""
    if posix.geteuid() == 0:
        return
    allowed = [(own_id(kind), 1), *subordinate_ranges(kind, user_name(), posix.getuid())]
    for i, r in enumerate(found):
        if not any(first <= r.host and r.host + r.size <= first + count for first, count in allowed):
            raise LadingError(
                f"{where}[{i}]: host {kind}s {r.host}-{r.host + r.size - 1} are neither this user's own {kind} "
                f"({own_id(kind)}) nor in its range in {'/etc/sub' + kind}"
            )


def single_fallback_maps(kind: str, where: str, found: list[IdRange]) -> list[IdRange]:
    """For a user without privilege that has no newuidmap/newgidmap or no range in /etc/subuid
    (/etc/subgid): the one map it may write itself, its own id as root, with a warning when the
    config asked for more (its other container ids are then not mapped)."""
    if writes_itself(kind, found) or posix.geteuid() == 0:
        return found
    user = user_name()
    if not single_fallback(kind, user):
        return found
    why = f"new{kind}map is not installed" if helper(kind) is None else f"/etc/sub{kind} has no range for {user}"
    from lading import log

    log.warning(f"{where}: {why}: only {kind} {own_id(kind)} is mapped, as 0; other container {kind}s are not")
    return [IdRange(0, own_id(kind), 1)]


def container_maps(spec: Spec) -> tuple[list[IdRange], list[IdRange]]:
    """The checked uid and gid maps of a new user namespace for this config."""
    linux = spec.linux
    assert linux is not None
    maps = {"uid": ranges(linux.uid_mappings), "gid": ranges(linux.gid_mappings)}
    for kind, where in (("uid", "uidMappings"), ("gid", "gidMappings")):
        check(f"config.json: $.linux.{where}", maps[kind])
        if host_id(maps[kind], 0) is None:
            raise LadingError(f"config.json: $.linux.{where}: the container's root (0) is not mapped")
        maps[kind] = single_fallback_maps(kind, f"config.json: $.linux.{where}", maps[kind])
        check_allowed(kind, f"config.json: $.linux.{where}", maps[kind])
    uids, gids = maps["uid"], maps["gid"]
    user = spec.process.user if spec.process else None
    if user is not None:
        if host_id(uids, user.uid) is None:
            raise LadingError(f"config.json: $.process.user.uid: {user.uid} is not mapped in the user namespace")
        for key, gid in [("gid", user.gid), *(("additionalGids", g) for g in user.additional_gids or [])]:
            if host_id(gids, gid) is None:
                raise LadingError(f"config.json: $.process.user.{key}: {gid} is not mapped in the user namespace")
    return uids, gids
