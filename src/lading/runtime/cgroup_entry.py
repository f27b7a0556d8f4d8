"""How a forked stage 1 (of `create` or `exec`) gets into the container's cgroup, before it does
anything of the container's.

The runtime could fork it and write its pid to every hierarchy's ``cgroup.procs``, but each such
write makes the kernel wait for an RCU grace period (10-20 ms, most of a `run`; see
linux/cgroups/cgroupfs.py). Instead, the runtime makes the cgroup before the fork and
:func:`fork` has the child born in its cgroup2 directory (clone3 with CLONE_INTO_CGROUP,
linux/clone.py), and stage 1's first act is :meth:`Entry.enter`: it sets its initial CPU affinity
and moves itself into every v1 hierarchy (its only thread through ``tasks``, which the kernel does
without that wait), and into cgroup2 through ``cgroup.procs`` only where it was not born there.
That is where the kernel refuses clone3 (an older kernel, a seccomp filter, see linux/clone.py)
and where ``process.execCPUAffinity.initial`` is set: the spec sets that affinity before the
transition to the container's cgroup, whose cpuset may not allow those CPUs.
"""

from __future__ import annotations

import os

from lading.record import Record
from lading.runtime import process_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.linux.cgroups.cgroup import Cgroup
    from lading.runtime.cgroups import ContainerCgroup
    from lading.runtime.process_attrs import Attrs


class Entry(Record):
    """What the child needs to finish entering: the cgroup (None: it has none of its own, a
    rootless container without a delegated cgroup), whether it was born in its cgroup2 part, and
    for an exec the container's init (whose cgroup2 cgroup it joins where the container's own
    takes no process: Cgroup.join)."""

    cgroup: Cgroup | None
    born_in_v2: bool
    attrs: Attrs
    init_pid: int | None = None

    def enter(self) -> None:
        """In stage 1, first of all: the initial CPU affinity, then every hierarchy of the cgroup
        it was not born in."""
        process_attrs.apply_initial(self.attrs)
        if self.cgroup is not None:
            self.cgroup.join(v2=not self.born_in_v2, beside=self.init_pid)


def fork(cgroup: ContainerCgroup | None, attrs: Attrs, init_pid: int | None = None) -> tuple[int, Entry]:
    """``os.fork()`` for a stage 1 that goes into ``cgroup``: (the pid as os.fork returns it, what
    the child passes to :meth:`Entry.enter` first). ``init_pid``: see :class:`Entry`."""
    if cgroup is None:
        return os.fork(), Entry(None, False, attrs)
    if attrs.initial_cpus is not None:
        pid, born = os.fork(), False
    else:
        pid, born = cgroup.cg.fork()  # a busy cgroup2 directory refuses clone3's child too
    return pid, Entry(cgroup.cg, born, attrs, init_pid)
