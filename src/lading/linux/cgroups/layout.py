"""Which cgroup hierarchies this host mounts, and where this process sits in each.

A host is "v1" (one cgroup mount per controller or group of controllers), "v2" (a single cgroup2
mount holding every controller) or "hybrid" (v1 controllers plus a cgroup2 mount, usually at
/sys/fs/cgroup/unified, that holds whatever controllers v1 did not claim). Everything is read from
/proc/self/mountinfo and /proc/self/cgroup, so it works the same inside a container with a cgroup
namespace, where a mount's root and this process's paths are both relative to the namespace.
"""

from __future__ import annotations

from lading.linux import mountinfo
from lading.linux.cgroups.cgroupfs import read_text
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal, TypeAlias

    Mode: TypeAlias = Literal["v1", "v2", "hybrid"]

MODES = ("v1", "v2", "hybrid")

# cgroup v1 mount options that are not controller names
_NOT_CONTROLLERS = frozenset({"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "none"})


class Hierarchy(Record):
    """One mounted hierarchy: ``controllers`` is empty for cgroup2 (see ``Layout.v2_controllers``)."""

    version: Literal[1, 2]
    mountpoint: str
    root: str
    controllers: frozenset[str]
    own: str = "/"

    def directory(self, path: str) -> str:
        """The directory of hierarchy path ``path`` (absolute in the hierarchy) under this mount."""
        if self.root != "/" and (path == self.root or path.startswith(self.root + "/")):
            path = path[len(self.root) :]
        return self.mountpoint + ("" if path in ("", "/") else path)


class Layout(Record):
    mode: Mode
    v1: dict[str, Hierarchy] = {}  # noqa: RUF012  # a Record default, never mutated
    unified: Hierarchy | None = None
    v2_controllers: frozenset[str] = frozenset()

    def hierarchies(self) -> list[Hierarchy]:
        """Every distinct hierarchy, v1 ones first (co-mounted controllers appear once)."""
        # a dict keeps the first of equal ones in order; a list's ``in`` compared each with every
        # one before it, field by field (the init's cgroup mounts: 36 comparisons for 9 hierarchies)
        seen = list(dict.fromkeys(self.v1.values()))
        if self.unified is not None:
            seen.append(self.unified)
        return seen

    def placed(self, path: str) -> Layout:
        """The layout as a process in cgroup ``path`` sees it: ``path`` absolute from each
        hierarchy's root, or relative to the own v1 cgroup and to the parent of the own cgroup2
        one (where the own cgroup holds processes, so it cannot have controllers enabled for
        children). A v1 hierarchy of named groups only (name=systemd) keeps its own: a
        container's cgroup is not made there."""
        # here, not at the top: the monitor's setup child reads the layout without it
        from lading.linux.paths import dirname, join, normpath

        v1: dict[str, Hierarchy] = {}
        moved: dict[Hierarchy, Hierarchy] = {}
        for controller, h in self.v1.items():
            if h not in moved:
                named_only = all(c.startswith("name=") for c in h.controllers)
                own = h.own if named_only else normpath(join(h.own, path))
                moved[h] = h.replace(own=own)
            v1[controller] = moved[h]
        unified = self.unified
        if unified is not None:
            own = normpath(join(dirname(unified.own), path))
            unified = unified.replace(own=own)
        return Layout(self.mode, v1, unified, self.v2_controllers)

    def version_of(self, controller: str) -> Literal[1, 2] | None:
        """Where ``controller`` (v1 name for v1, v2 name for v2) lives, or None if nowhere."""
        if controller in self.v1:
            return 1
        if controller in self.v2_controllers:
            return 2
        return None


def parse_mountinfo(text: str) -> list[Hierarchy]:
    """The cgroup and cgroup2 mounts in a mountinfo file, first mount of each hierarchy only."""
    found: list[Hierarchy] = []
    seen: set[tuple[int, frozenset[str]]] = set()
    for m in mountinfo.parse(text):
        if m.fstype == "cgroup2":
            key: tuple[int, frozenset[str]] = (2, frozenset())
            version: Literal[1, 2] = 2
            controllers: frozenset[str] = frozenset()
        elif m.fstype == "cgroup":
            version = 1
            controllers = frozenset(
                o for o in m.options.split(",") if o not in _NOT_CONTROLLERS and not o.startswith("release_agent=")
            )
            key = (1, controllers)
        else:
            continue
        if key in seen:
            continue
        seen.add(key)
        found.append(Hierarchy(version, m.mountpoint, m.root, controllers))
    return found


def parse_proc_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """(v1 controller -> own path, own v2 path) from a /proc/PID/cgroup file."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, names, path = parts
        if names == "":
            v2 = path
        else:
            for name in names.split(","):
                v1[name] = path
    return v1, v2


def build(mounts: list[Hierarchy], own_v1: dict[str, str], own_v2: str | None, v2_controllers: str) -> Layout:
    """The layout from parsed mounts, this process's paths, and the cgroup2 root's cgroup.controllers."""
    v1: dict[str, Hierarchy] = {}
    unified: Hierarchy | None = None
    for m in mounts:
        if m.version == 2:
            unified = Hierarchy(2, m.mountpoint, m.root, m.controllers, own_v2 or "/")
            continue
        own = next((own_v1[c] for c in sorted(m.controllers) if c in own_v1), "/")
        h = Hierarchy(1, m.mountpoint, m.root, m.controllers, own)
        for c in m.controllers:
            v1.setdefault(c, h)
    if not v1 and unified is not None:
        mode: Mode = "v2"
    elif unified is not None:
        mode = "hybrid"
    else:
        mode = "v1"
    claimed = set(v1)
    v2 = frozenset(v2_controllers.split()) - claimed if unified is not None else frozenset()
    return Layout(mode, v1, unified, v2)


def detect() -> Layout:
    """The layout of this host as this process sees it."""
    mounts = parse_mountinfo(read_text("/proc/self/mountinfo"))
    own_v1, own_v2 = parse_proc_cgroup(read_text("/proc/self/cgroup"))
    available = ""
    for m in mounts:
        if m.version == 2:
            try:
                available = read_text(f"{m.mountpoint}/cgroup.controllers")
            except OSError:
                pass
    return build(mounts, own_v1, own_v2, available)
