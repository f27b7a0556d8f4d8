"""What the container process is run with besides its credentials: ``process.scheduler``,
``process.ioPriority``, ``process.execCPUAffinity``, ``linux.personality`` and
``linux.memoryPolicy``.

:func:`prepare` (in the runtime, before forking) turns them into numbers, each problem one line
naming the JSON path. The initial CPU affinity is set by the forked stage 1 on itself before it
joins the container's cgroup (:func:`apply_initial`, see cgroup_entry.py), and the rest in the
process pipeline before it reports ready (:func:`apply`), so that what the kernel refuses fails
``create``: each survives execve. The final affinity is set there too, as runc 1.2 does.

``lading.linux.sched`` (its tables and system calls) loads only for a config with one of these
fields, in :func:`prepare`, before the fork: :func:`apply` finds it loaded after pivot_root.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.errors import LadingError
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from lading.spec.runtime_config import Linux, Process


class Scheduling(Record):
    policy: int
    flags: int
    nice: int
    priority: int
    runtime: int
    deadline: int
    period: int


class Attrs(Record):
    scheduler: Scheduling | None = None
    io_priority: tuple[int, int] | None = None  # class, level
    initial_cpus: set[int] | None = None
    final_cpus: set[int] | None = None
    personality: int | None = None
    memory_policy: tuple[int, set[int]] | None = None  # mode with its flags, nodes


def _cpus(text: str | None, where: str) -> set[int] | None:
    if text is None:
        return None
    from lading.linux import sched

    try:
        cpus = sched.parse_list(text)
    except ValueError:
        raise LadingError(f"{where}: {text!r} is not a CPU list like 0-3,7") from None
    if not cpus:
        raise LadingError(f"{where}: no CPU given")
    return cpus


def prepare(process: Process, linux: Linux | None) -> Attrs:
    if (
        process.scheduler is None
        and process.io_priority is None
        and process.exec_cpu_affinity is None
        and (linux is None or (linux.personality is None and linux.memory_policy is None))
    ):
        return Attrs()
    from lading.linux import sched

    where = "config.json: $.process"
    scheduling = None
    if (s := process.scheduler) is not None:
        flags = 0
        for name in s.flags or ():
            flags |= sched.SCHED_FLAGS[name]
        if s.policy == "SCHED_ISO":
            raise LadingError(f"{where}.scheduler.policy: SCHED_ISO is not implemented by Linux")
        scheduling = Scheduling(
            sched.SCHED_POLICIES[s.policy], flags, s.nice, s.priority, s.runtime, s.deadline, s.period
        )
    io = None
    if (p := process.io_priority) is not None:
        io = (sched.IOPRIO_CLASSES[p.class_], p.priority)
    affinity = process.exec_cpu_affinity
    initial = _cpus(affinity.initial, f"{where}.execCPUAffinity.initial") if affinity else None
    final = _cpus(affinity.final, f"{where}.execCPUAffinity.final") if affinity else None
    persona = None
    policy = None
    if linux is not None:
        if linux.personality is not None:
            if linux.personality.flags:
                raise LadingError("config.json: $.linux.personality.flags: no flags are defined")
            persona = sched.PERSONALITIES[linux.personality.domain]
        if (m := linux.memory_policy) is not None:
            at = "config.json: $.linux.memoryPolicy"
            try:
                nodes = sched.parse_list(m.nodes or "")
            except ValueError:
                raise LadingError(f"{at}.nodes: {m.nodes!r} is not a node list like 0-3,7") from None
            needs_nodes = m.mode not in ("MPOL_DEFAULT", "MPOL_LOCAL", "MPOL_PREFERRED")
            if needs_nodes and not nodes:
                raise LadingError(f"{at}.nodes: {m.mode} needs nodes")
            if m.mode in ("MPOL_DEFAULT", "MPOL_LOCAL") and nodes:
                raise LadingError(f"{at}.nodes: {m.mode} takes no nodes")
            mode = sched.MEMPOLICY_MODES[m.mode]
            for name in m.flags or ():
                mode |= sched.MEMPOLICY_FLAGS[name]
            policy = (mode, nodes)
    return Attrs(scheduling, io, initial, final, persona, policy)


def apply_initial(attrs: Attrs) -> None:
    """The initial CPU affinity of the calling, freshly forked process, before it joins the
    cgroup."""
    if (cpus := attrs.initial_cpus) is not None:
        _apply("process.execCPUAffinity.initial", lambda: posix.sched_setaffinity(0, cpus))


def apply(attrs: Attrs) -> None:
    """Everything else, on the calling process, before execve."""
    if attrs == Attrs():
        return
    from lading.linux import sched  # loaded by prepare, before the fork

    steps: list[tuple[str, Callable[[], object]]] = []
    if (sc := attrs.scheduler) is not None:
        steps.append(
            (
                "process.scheduler",
                lambda: sched.set_scheduler(
                    sc.policy, sc.flags, sc.nice, sc.priority, sc.runtime, sc.deadline, sc.period
                ),
            )
        )
    if (io := attrs.io_priority) is not None:
        steps.append(("process.ioPriority", lambda: sched.set_io_priority(*io)))
    if (persona := attrs.personality) is not None:
        steps.append(("linux.personality", lambda: sched.set_personality(persona)))
    if (policy := attrs.memory_policy) is not None:
        steps.append(("linux.memoryPolicy", lambda: sched.set_mempolicy(*policy)))
    if (cpus := attrs.final_cpus) is not None:
        steps.append(("process.execCPUAffinity.final", lambda: posix.sched_setaffinity(0, cpus)))
    for where, step in steps:
        _apply(where, step)


def _apply(where: str, step: Callable[[], object]) -> None:
    try:
        step()
    except OSError as e:
        raise LadingError(f"config.json: $.{where}: cannot be applied: {e.strerror}") from None
