"""How the runtime's forked child (a stage 1 of `create`, or the process of an `exec`) gets into
the container's cgroup, before it does anything of the container's.

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

A `create` that needs no stage 1 (runtime/init.py says when) has the same clone3 make the
container's init itself, born in its new namespaces as well; it enters the v1 hierarchies the
same way, first of all (writing "0" to ``tasks`` names the writer whatever its PID namespace),
and only then joins the namespaces given by path and unshares a new cgroup namespace, which is
never among the clone's flags: its root is the cgroup its maker is in, in every hierarchy. An
`exec`'s child is the process itself, born in the container's PID namespace (runtime/execute.py)
and entering the cgroup as a stage 1 does.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.record import Record
from lading.runtime import process_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.linux.cgroups.cgroup import Cgroup
    from lading.runtime.cgroups import ContainerCgroup
    from lading.runtime.process_attrs import Attrs


class Entry(Record):
    """What the child needs to finish entering: the cgroup (None: it has none of its own, a
    rootless container without a delegated cgroup), whether it was born in its cgroup2 part, for
    an exec the container's init (whose cgroup2 cgroup it joins where the container's own takes
    no process: Cgroup.join), and whether it was born in the container's new namespaces too (it
    is then the container's init itself, see runtime/init.py)."""

    cgroup: Cgroup | None
    born_in_v2: bool
    attrs: Attrs
    init_pid: int | None = None
    born_in_namespaces: bool = False

    def enter(self) -> None:
        """In the child, first of all: the initial CPU affinity, then every hierarchy of the
        cgroup it was not born in."""
        process_attrs.apply_initial(self.attrs)
        if self.cgroup is not None:
            self.cgroup.join(v2=not self.born_in_v2, beside=self.init_pid)


def fork(
    cgroup: ContainerCgroup | None, attrs: Attrs, init_pid: int | None = None, namespaces: int | None = None
) -> tuple[int, Entry]:
    """``posix.fork()`` for a child that goes into ``cgroup``: (the pid as posix.fork returns it, what
    the child passes to :meth:`Entry.enter` first). ``init_pid``: see :class:`Entry`.

    ``namespaces`` (CLONE_NEW* flags, for a create that needs no stage 1): the child is born in
    those new namespaces too where it can be, cloned into its cgroup2 directory; where it cannot
    (no cgroup of its own or no cgroup2 part, an initial CPU affinity, clone3 refused) it is
    born in the runtime's, and ``Entry.born_in_namespaces`` is false."""
    if cgroup is None:
        return posix.fork(), Entry(None, False, attrs)
    if attrs.initial_cpus is not None:
        return posix.fork(), Entry(cgroup.cg, False, attrs, init_pid)
    if namespaces is not None and (pid := cgroup.cg.clone(namespaces)) is not None:
        return pid, Entry(cgroup.cg, True, attrs, init_pid, born_in_namespaces=True)
    pid, born = cgroup.cg.fork()  # a busy cgroup2 directory refuses clone3's child too
    return pid, Entry(cgroup.cg, born, attrs, init_pid)
