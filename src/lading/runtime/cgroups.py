"""The container's cgroup: where it goes, creating it with its limits, and everything later verbs
do with it (update, pause/resume, kill --all, ps, events, delete).

``create`` runs during `lading create`, before the init runs anything of the user's: it checks
linux.resources and linux.cgroupsPath, makes the cgroup in every hierarchy, applies the limits and
the device rules. Its ``to_record()`` dict goes into state.json, and ``from_record`` rebuilds the
object from it in later verbs without decoding config.json (no msgspec import there).

cgroupsPath: absolute paths are taken from each hierarchy's root; relative ones are below this
process's own cgroup (its parent on cgroup2, as runc does); absent means ``/lading-<id>`` for the
default state root and ``/lading-<hash of root>-<id>`` for any other, so that two state roots (two
podman stores, two test runs) with the same container ID never share, or kill, each other's cgroup.
The default is flat, so delete leaves no empty parent behind.
"""

from __future__ import annotations

from lading import log
from lading.errors import LadingError
from lading.linux import signals
from lading.linux.cgroups import cgroupfs
from lading.linux.cgroups.cgroup import Cgroup
from lading.linux.files import exists

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lading.linux.cgroups import oom
    from lading.linux.cgroups.device_filter import DeviceRule
    from lading.linux.cgroups.freezer import State
    from lading.linux.cgroups.layout import Layout
    from lading.runtime import cgroup_resources as res_
    from lading.spec.runtime_config import Linux, LinuxResources

# Imported where used: state, kill and delete only need the directories and the freezer.

DEFAULT_ROOT = "/run/lading"


def default_path(cid: str, state_root: str = DEFAULT_ROOT) -> str:
    from lading.linux.paths import abspath  # create and exec: pause and resume go without it

    if abspath(state_root) == DEFAULT_ROOT:
        return f"/lading-{cid}"
    return f"/lading-{_crc32(abspath(state_root).encode()):08x}-{cid}"


def _crc32(data: bytes) -> int:
    """zlib.crc32(data), bit by bit: for a path's few dozen bytes this costs less than loading
    the zlib module (a shared object) on every create."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def cgroup_path(
    cid: str,
    cgroups_path: str | None,
    where: str = "config.json: $.linux.cgroupsPath",
    state_root: str = DEFAULT_ROOT,
) -> str:
    """The validated cgroupsPath, or the default for the container."""
    if not cgroups_path:
        return default_path(cid, state_root)
    if "\0" in cgroups_path or "\n" in cgroups_path:
        raise LadingError(f"{where}: must not contain NUL or newline characters")
    parts = [p for p in cgroups_path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LadingError(f"{where}: must not contain '..', got {cgroups_path!r}")
    if not parts:
        raise LadingError(f"{where}: must name a cgroup below the root, got {cgroups_path!r}")
    return ("/" if cgroups_path.startswith("/") else "") + "/".join(parts)


class ContainerCgroup:
    def __init__(self, cg: Cgroup, path: str, layout: Layout | None = None) -> None:
        self.cg = cg
        self.path = path
        # create's: the host's hierarchies as the container's processes see them, its cgroup
        # their own (the init mounts /sys/fs/cgroup from it instead of reading it all again)
        self.layout = layout

    def sub(self, paths: dict[str, str]) -> ContainerCgroup:
        """The existing sub-cgroup(s) an exec joins instead (runc's ``exec --cgroup``)."""
        return ContainerCgroup(self.cg.sub(paths), self.path)

    # --- state.json ------------------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        return {"path": self.path, **self.cg.to_dict()}

    @classmethod
    def from_record(cls, d: dict[str, Any] | None) -> ContainerCgroup | None:
        """The container's cgroup from state.json's ``cgroup`` record, if it has one."""
        if not isinstance(d, dict):
            return None
        return cls(Cgroup.from_dict(d), str(d.get("path", "")))

    # --- limits ----------------------------------------------------------------------------------

    def _version(self, controller: str) -> int | None:
        from lading.runtime import cgroup_resources as res_

        if controller in self.cg.v1:
            return 1
        v2 = res_.V2_NAME.get(controller)
        if v2 is not None and self.cg.v2 and v2 in self.cg.v2_controllers:
            return 2
        return None

    def apply(self, res: LinuxResources, devices: bool = True) -> None:
        """Write every setting in ``res`` to the hierarchy that serves its controller."""
        from lading.runtime import cgroup_resources as res_

        for controller in res_.requested(res):
            version = self._version(controller)
            if version is None:
                raise LadingError(f"cgroup: the {controller} controller is not available on this host")
            current = None
            if controller == "memory" and version == 1 and res.memory and res.memory.limit is not None:
                current = self._memory_limit_v1()
            for w in res_.controller_writes(res, controller, version, current):
                self._write(version, w)
        for w in res_.unified_writes(res):
            if not self.cg.v2:
                raise LadingError("linux.resources.unified: this host has no cgroup v2 hierarchy")
            if w.controller not in self.cg.v2_controllers and w.controller != "cgroup":
                raise LadingError(f"linux.resources.unified: {w.file}: no {w.controller} controller on cgroup v2 here")
            self._write(2, w)
        if devices:
            self._apply_devices(res_.device_rules(res))

    def _memory_limit_v1(self) -> int | None:
        text = cgroupfs.read_optional(self.cg.v1["memory"], "memory.limit_in_bytes")
        return int(text) if text and text.strip().isdigit() else None

    def _write(self, version: int, w: res_.Write) -> None:
        d = self.cg.directory(version, w.controller)
        if d is None:
            raise LadingError(f"cgroup: the {w.controller} controller is not available on this host")
        from lading.linux.paths import join  # create and update

        if w.optional and not exists(join(d, w.file)):
            return
        cgroupfs.write(d, w.file, w.value)

    def _apply_devices(self, rules: list[DeviceRule]) -> None:
        from lading.runtime import cgroup_resources as res_

        if "devices" in self.cg.v1:
            for w in res_.v1_device_writes(rules):
                self._write(1, w)
        elif self.cg.v2 and not self.cg.v1:
            from lading.linux.cgroups import device_filter

            device_filter.install(self.cg.v2, rules)
        else:
            log.warning("cgroup: no devices controller on this host; device rules are not enforced")

    def update(self, res: LinuxResources, where: str = "resources") -> None:
        """`lading update`: check and apply; devices only if given. checkBeforeUpdate refuses a
        memory limit below the current usage (v2 would otherwise OOM-kill to get there)."""
        from lading.runtime import cgroup_resources as res_

        res_.validate(res, where)
        m = res.memory
        if m is not None and m.check_before_update and m.limit is not None and m.limit > 0:
            usage = self.memory_usage()
            if usage > m.limit:
                raise LadingError(
                    f"{where}.memory.limit: {m.limit} is below the container's current memory usage ({usage})"
                )
        self.apply(res, devices=res.devices is not None)

    def memory_usage(self) -> int:
        if d := self.cg.directory(1, "memory"):
            return int(cgroupfs.read(d, "memory.usage_in_bytes"))
        if d := self.cg.directory(2, "memory"):
            return int(cgroupfs.read(d, "memory.current"))
        return 0

    # --- processes -------------------------------------------------------------------------------

    def pids(self) -> list[int]:
        return self.cg.procs()

    def kill_all(self, sig: int = signals.SIGKILL) -> None:
        self.cg.kill_all(sig)

    def freeze(self) -> None:
        self.cg.freeze()

    def thaw(self) -> None:
        self.cg.thaw()

    def state(self) -> State:
        return self.cg.freezer_state()

    def stats(self) -> dict[str, Any]:
        from lading.linux.cgroups import stats

        return stats.collect(self.cg)

    def oom_kills(self) -> int:
        """OOM kills in the container's memory cgroup so far (0 without a memory controller)."""
        from lading.linux.cgroups import oom

        if d := self.cg.directory(1, "memory"):
            return oom.oom_kills(d, 1)
        if d := self.cg.directory(2, "memory"):
            return oom.oom_kills(d, 2)
        return 0

    def oom_watcher(self) -> oom.OomWatcher | None:
        from lading.linux.cgroups import oom

        if d := self.cg.directory(1, "memory"):
            return oom.OomWatcher(d, 1)
        if d := self.cg.directory(2, "memory"):
            return oom.OomWatcher(d, 2)
        return None

    def destroy(self) -> None:
        self.cg.destroy()


def create(
    cid: str,
    linux: Linux | None,
    where: str = "config.json: $.linux",
    state_root: str = DEFAULT_ROOT,
    optional: bool = False,
) -> ContainerCgroup | None:
    """Check linux.resources and cgroupsPath, make the cgroup and apply the limits; on failure
    nothing is left behind.

    ``optional`` (a rootless container): a cgroup this user may not make is skipped with a
    warning, as runc does, unless a limit was asked for; device rules are then the kernel's
    (a user namespace cannot make device nodes)."""
    from lading.linux.cgroups import layout
    from lading.linux.paths import isdir
    from lading.runtime import cgroup_resources as res_

    res = linux.resources if linux else None
    if res is not None:
        res_.validate(res, f"{where}.resources")
    path = cgroup_path(cid, linux.cgroups_path if linux else None, f"{where}.cgroupsPath", state_root)
    host = layout.detect()
    cg = Cgroup.locate(host, path)
    existed = [d for d in cg.directories() if isdir(d)]
    container = ContainerCgroup(cg, path, host.placed(path))
    try:
        try:
            cg.create()
        except LadingError as e:
            if not optional:
                raise
            if res is not None and (res_.requested(res) or res.unified):
                raise LadingError(f"{e}: resource limits need a cgroup delegated to this user") from None
            log.warning(f"{e}: running without a cgroup of its own (rootless)")
            return None
        log.debug("cgroup %s made", path)
        if cg.frozen():  # the init would hang in it, unkillable until someone thaws it
            raise LadingError(f"cgroup {path}: the container's cgroup is unexpectedly frozen")
        if found := cg.procs():
            log.warning(f"cgroup {path}: the container's cgroup is not empty: {len(found)} process(es) found")
        if res is not None:
            container.apply(res, devices=not optional)
        elif not optional:
            container._apply_devices(res_.device_rules(None))
        log.debug("cgroup limits and device rules applied")
    except BaseException:
        if not existed:
            try:
                cg.remove()
            except LadingError as e:
                log.warning(str(e))
        raise
    return container
