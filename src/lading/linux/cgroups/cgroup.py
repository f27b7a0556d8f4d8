"""One cgroup path made real in every hierarchy, and the operations that span hierarchies.

On v1 the "same" cgroup is a directory per controller mount; on v2 it is one directory; on a
hybrid host it is both, each controller served by v1 if v1 has it and otherwise by cgroup2. The
directories are plain strings so a Cgroup round-trips through a small dict kept in a container's
state file, and later commands (kill --all, pause, delete) can use it without re-resolving.
"""

from __future__ import annotations

import posix  # not os, as in cgroupfs.py
import time

from lading import log
from lading.errors import LadingError
from lading.linux import signals
from lading.linux.cgroups import cgroupfs, freezer

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lading.linux.cgroups.layout import Layout

# v1 controllers whose new cgroups start empty and must inherit the parent's value
_INHERITED = {"cpuset": ("cpuset.cpus", "cpuset.mems")}


class Cgroup:
    """Not a dataclass: later verbs load this from state.json, and start-up time counts there."""

    def __init__(
        self,
        v1: dict[str, str],
        v2: str | None = None,
        v2_mount: str | None = None,
        v2_controllers: tuple[str, ...] = (),
    ) -> None:
        self.v1 = v1  # v1 controller -> directory
        self.v2 = v2  # directory on the cgroup2 hierarchy
        self.v2_mount = v2_mount
        self.v2_controllers = v2_controllers  # controllers this cgroup gets from cgroup2

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cgroup) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Cgroup({self.to_dict()!r})"

    @classmethod
    def locate(cls, layout: Layout, path: str) -> Cgroup:
        """Directories for ``path``, resolved as :meth:`Layout.placed` says."""
        placed = layout.placed(path)
        v1 = {c: h.directory(h.own) for c, h in placed.v1.items() if not c.startswith("name=")}
        unified = placed.unified
        return cls(
            v1,
            unified.directory(unified.own) if unified is not None else None,
            unified.mountpoint if unified is not None else None,
            tuple(sorted(layout.v2_controllers)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "v1": dict(self.v1),
            "v2": self.v2,
            "v2_mount": self.v2_mount,
            "v2_controllers": list(self.v2_controllers),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cgroup:
        return cls(dict(d.get("v1") or {}), d.get("v2"), d.get("v2_mount"), tuple(d.get("v2_controllers") or ()))

    def sub(self, paths: dict[str, str]) -> Cgroup:
        """A cgroup below this one: ``paths`` maps a v1 controller to a path under its directory,
        or "" to one path under every directory (the only form on cgroup v2). Nothing is made:
        the sub-cgroups must exist (checked here, before anything joins them). A path that leads
        out of this cgroup is refused."""
        if "" in paths:
            found = Cgroup(
                {c: _below(d, paths[""]) for c, d in self.v1.items()},
                _below(self.v2, paths[""]) if self.v2 else None,
                self.v2_mount,
                self.v2_controllers,
            )
        else:
            for controller in paths:
                if controller not in self.v1:
                    raise LadingError(f"unknown controller {controller}")
            v1 = {c: _below(d, paths[c]) if c in paths else d for c, d in self.v1.items()}
            found = Cgroup(v1, self.v2, self.v2_mount, self.v2_controllers)
        for d in found.directories():
            procs = f"{d}/cgroup.procs"
            try:
                posix.stat(procs)
            except OSError as e:
                raise LadingError(f"cgroup: {procs}: {e.strerror}") from None
        return found

    def directories(self) -> list[str]:
        dirs = list(dict.fromkeys(self.v1.values()))
        return [*dirs, self.v2] if self.v2 else dirs

    def directory(self, version: int, controller: str) -> str | None:
        """Where ``controller``'s files for this cgroup are, or None if that controller is not here."""
        if version == 1:
            return self.v1.get(controller)
        if controller and controller not in self.v2_controllers:
            return None
        return self.v2

    # --- lifecycle -------------------------------------------------------------------------------

    def create(self) -> None:
        """Make the directories; on cgroup2, enable the controllers on the way down."""
        for controller, d in self.v1.items():
            cgroupfs.make(d, _INHERITED.get(controller, ()))
        if self.v2 and self.v2_mount:
            try:
                self._create_v2(self.v2, self.v2_mount)
            except LadingError as e:
                if self.v1:  # hybrid: cgroup2 is a convenience there, not a requirement
                    log.debug("not using cgroup2 on this hybrid host: %s", e)
                    self.v2, self.v2_controllers = None, ()
                else:
                    raise

    def _create_v2(self, leaf: str, mount: str) -> None:
        from lading.linux.paths import join, relpath  # create only

        rel = relpath(leaf, mount)
        parent = mount
        for part in rel.split("/")[:-1] if rel != "." else []:
            self._enable(parent)
            parent = join(parent, part)
            cgroupfs.make(parent)
        if rel != ".":
            self._enable(parent)
            cgroupfs.make(leaf)

    def _enable(self, directory: str) -> None:
        enabled = set(cgroupfs.read(directory, "cgroup.subtree_control").split())
        for c in self.v2_controllers:
            if c not in enabled:
                try:
                    cgroupfs.write(directory, "cgroup.subtree_control", f"+{c}")
                except LadingError as e:
                    log.debug("%s", e)

    def write(self, version: int, controller: str, name: str, value: str) -> None:
        d = self.directory(version, controller)
        if d is None:
            raise LadingError(f"cgroup: the {controller} controller is not available on this host")
        cgroupfs.write(d, name, value)

    def add(self, pid: int) -> None:
        """Move ``pid`` into this cgroup in every hierarchy."""
        for d in self.directories():
            cgroupfs.add_process(d, pid)

    def fork(self) -> tuple[int, bool]:
        """``os.fork()``, with the child born in this cgroup's cgroup2 directory where there is
        one and the kernel allows it (linux/clone.py): (the pid as os.fork returns it, whether the
        child was born there). Either way the child then joins the rest itself (:meth:`join`)."""
        if self.v2 is None:
            return posix.fork(), False
        from lading.linux import clone

        fd = self._open_v2(self.v2)
        try:
            return clone.fork_into_cgroup(fd)
        finally:
            posix.close(fd)

    def clone(self, flags: int) -> int | None:
        """A child born in this cgroup's cgroup2 directory and in the new namespaces ``flags``
        (CLONE_NEW*) say: the pid as os.fork returns it, or None where there is no cgroup2
        directory or the kernel refused (linux/clone.py). The child then joins the v1
        hierarchies itself (``join(v2=False)``)."""
        if self.v2 is None:
            return None
        from lading.linux import clone

        fd = self._open_v2(self.v2)
        try:
            return clone.clone_into_cgroup(fd, flags)
        finally:
            posix.close(fd)

    @staticmethod
    def _open_v2(directory: str) -> int:
        try:
            return posix.open(directory, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        except OSError as e:
            raise LadingError(f"cgroup: cannot open {directory}: {e.strerror}") from None

    def join(self, v2: bool = True, beside: int | None = None) -> None:
        """Move the calling process, which must have a single thread (a freshly forked child), into
        this cgroup: every v1 hierarchy by moving its thread (cgroupfs.add_calling_thread), and
        cgroup2, unless ``v2`` is false (it was born there), through cgroup.procs.

        A cgroup2 cgroup with controllers enabled for its children takes no process (the kernel
        says EBUSY): the container moved its init into a sub-cgroup of its own and enabled them
        (systemd in a container, a nested runtime). Given ``beside`` (an exec: the init's pid),
        the process then joins the init's cgroup2 cgroup instead, as runc does there, when that
        is below this one (never out of the container's limits)."""
        for d in dict.fromkeys(self.v1.values()):
            cgroupfs.add_calling_thread(d)
        if v2 and self.v2:
            try:
                cgroupfs.add_process(self.v2, 0)
            except cgroupfs.Busy:
                found = self.v2_of(beside) if beside is not None else None
                if found is None or not found.startswith(self.v2.rstrip("/") + "/"):
                    raise
                cgroupfs.add_process(found, 0)

    def v2_of(self, pid: int) -> str | None:
        """The directory of process ``pid``'s cgroup2 cgroup (its /proc/PID/cgroup "0::" line
        under this cgroup's cgroup2 mount), if it has one."""
        try:
            text = cgroupfs.read(f"/proc/{pid}", "cgroup")
        except LadingError:
            return None
        for line in text.splitlines():
            if line.startswith("0::/") and self.v2_mount:
                return self.v2_mount + line[3:].rstrip("/")
        return None

    def procs(self) -> list[int]:
        """Every process in the cgroup and its sub-cgroups."""
        d = self._procs_dir()
        return sorted(set(cgroupfs.procs(d))) if d else []

    def _procs_dir(self) -> str | None:
        if self.v2:
            return self.v2
        for c in ("pids", "freezer", "memory", "cpu"):
            if c in self.v1:
                return self.v1[c]
        return next(iter(self.v1.values()), None)

    def wait_empty(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.procs():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def remove(self) -> None:
        errors: list[str] = []
        for d in self.directories():
            try:
                cgroupfs.remove(d)
            except LadingError as e:
                errors.append(str(e))
        if errors:
            raise LadingError("; ".join(errors))

    def destroy(self) -> None:
        """Kill whatever is left and remove the cgroup from every hierarchy."""
        if self.procs():
            self.kill_all(signals.SIGKILL)
            self.wait_empty()
        self.remove()

    # --- freezer ---------------------------------------------------------------------------------

    def freezer_state(self) -> freezer.State:
        return freezer.state(self.v1.get("freezer"), self.v2)

    def freeze(self) -> None:
        if "freezer" in self.v1:
            freezer.freeze_v1(self.v1["freezer"])
        elif self.v2:
            freezer.freeze_v2(self.v2)
        else:
            raise LadingError("cgroup: no freezer controller on this host, so the container cannot be paused")

    def thaw(self) -> None:
        if "freezer" in self.v1:
            freezer.thaw_v1(self.v1["freezer"])
        elif self.v2:
            freezer.thaw_v2(self.v2)

    def can_freeze(self) -> bool:
        return "freezer" in self.v1 or self.v2 is not None

    def frozen(self) -> bool:
        """Frozen or freezing, by itself or through a frozen parent."""
        if "freezer" in self.v1:
            return freezer.state_v1(self.v1["freezer"]) != "thawed"
        return self.v2 is not None and freezer.frozen_v2(self.v2)

    def _take_back(self) -> None:
        """Move back into this v1 freezer cgroup every process of ours that was moved to another
        one: frozen there, it would never act on a SIGKILL. Joining a thawed cgroup thaws it."""
        d = self.v1.get("freezer")
        if d is None:
            return
        ours = set(cgroupfs.procs(d))
        for pid in self.procs():
            if pid not in ours:
                try:
                    cgroupfs.add_process(d, pid)
                except LadingError as e:  # it may have exited meanwhile
                    log.debug("%s", e)

    # --- signals ---------------------------------------------------------------------------------

    def kill_all(self, sig: int = signals.SIGKILL) -> None:
        """Send ``sig`` to every process. SIGKILL goes through cgroup.kill where the kernel has it;
        otherwise the cgroup is frozen while the processes are listed and signalled, then left
        thawed for SIGKILL (so the kill lands) and as it was for any other signal. A SIGKILL
        first takes back processes someone moved into another freezer cgroup."""
        from lading.linux.cgroups import kill  # not for state, list or kill without --all

        if sig == signals.SIGKILL:
            self._take_back()
        if sig == signals.SIGKILL and self.v2 and kill.has_cgroup_kill(self.v2):
            kill.kill_v2(self.v2)
            if self.freezer_state() != "thawed":  # a frozen task dies only once thawed
                self.thaw()
            return
        d = self._procs_dir()
        if d is None:
            return
        if not self.can_freeze():
            kill.signal_each(d, sig)
            return
        before = self.freezer_state()
        try:
            self.freeze()
        except LadingError as e:  # signal anyway: a stuck freeze must not stop a kill
            log.warning(str(e))
        try:
            kill.signal_each(d, sig)
        finally:
            if sig == signals.SIGKILL or before != "frozen":
                self.thaw()


def _below(directory: str, path: str) -> str:
    """directory/path, which must not leave directory ("../x" and "a/../../x" are refused)."""
    from lading.linux.paths import normpath  # exec --cgroup only

    joined = normpath(directory + "/" + path)
    if joined != directory and not joined.startswith(directory + "/"):
        raise LadingError(f"{path} is not a sub cgroup path")
    return joined
