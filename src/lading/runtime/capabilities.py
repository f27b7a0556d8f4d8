"""The container process's capabilities: config.json ``process.capabilities`` -> the five sets.

:func:`prepare` runs in the runtime before forking: it turns names into a :class:`CapPlan`.
Names the kernel does not know (or newer than /proc/sys/kernel/cap_last_cap) are skipped with
one warning, as config.md asks ("MUST be logged as a warning ... SHOULD NOT fail") and as runc
1.1 does. A capability the runtime itself cannot have (outside its bounding set, e.g.
CAP_SYS_RESOURCE on a host that dropped it) fails create when the effective, permitted or
inheritable set asks for it, as runc's capset does ("unable to apply caps"), rather than start a
container with less than its config says. A missing ``capabilities`` object, or a missing set,
means an empty set.

The container init then calls, in this order (single-threaded; each call acts on the calling
thread only):

1. :func:`before_user_switch` (still uid 0, with the runtime's capabilities): drops every
   capability not listed in ``bounding`` from the bounding set (PR_CAPBSET_DROP needs
   CAP_SETPCAP, which is why this comes first) and sets PR_SET_KEEPCAPS so that the permitted
   set survives the change to a non-zero uid.
2. the init's own setgroups / setresgid / setresuid (needs CAP_SETGID/CAP_SETUID, still
   effective here).
3. :func:`after_user_switch`: clears PR_SET_KEEPCAPS, capset(2)s exactly ``effective``,
   ``permitted`` and ``inheritable``, then raises each ``ambient`` capability (the kernel needs
   it permitted and inheritable first, hence the order); an ambient capability that is not
   both is not raised, quietly, as with runc.

What survives execve is then the kernel's business (capabilities(7)): a non-root user ends up
with exactly the ``ambient`` set as permitted and effective; uid 0 gets its ``bounding`` set
(limited to the permitted set when no_new_privs is on).
"""

from __future__ import annotations

from lading import log
from lading.errors import LadingError
from lading.linux import capabilities as caps
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.spec.runtime_config import Process

_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


class CapPlan(Record):
    """The five capability sets to give the container process, as bit masks."""

    bounding: int = 0
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: int = 0


def prepare(process: Process) -> CapPlan:
    """Resolve ``process.capabilities``; unknown names are dropped with one warning. A known
    capability outside the runtime's own bounding set cannot be granted: in effective,
    permitted or inheritable that fails create naming the set (as runc, whose capset fails);
    in ambient (runc raises nothing there) or bounding (nothing to keep) it is left out."""
    spec = process.capabilities
    last = caps.last_cap()
    masks: dict[str, int] = {}
    unknown: list[str] = []
    for which in _SETS:
        m = 0
        for name in (getattr(spec, which) if spec is not None else None) or ():
            n = caps.NUMBERS.get(name)
            if n is None or n > last:
                if name not in unknown:
                    unknown.append(name)
            else:
                m |= 1 << n
        masks[which] = m
    where = "config.json: $.process.capabilities"
    if unknown:
        log.warning(f"{where}: ignoring unknown or unavailable capabilities: {' '.join(unknown)}")
    if spec is not None:
        held = caps.bounding()
        for which in ("effective", "permitted", "inheritable"):
            if lacking := masks[which] & ~held:
                raise LadingError(
                    f"{where}.{which}: cannot grant {_names(lacking)}: not in the runtime's own bounding set"
                )
    return CapPlan(**masks)


def _names(m: int) -> str:
    return " ".join(caps.name(c) for c in caps.members(m))


def before_user_switch(plan: CapPlan) -> None:
    """Step 1 (as uid 0, before setresuid): shrink the bounding set, keep caps across setuid."""
    for c in range(caps.last_cap() + 1):
        if not plan.bounding >> c & 1:
            caps.drop_bounding(c)
    caps.set_keep_caps(True)


def after_user_switch(plan: CapPlan) -> None:
    """Step 3 (after setgroups/setresgid/setresuid): set the effective, permitted, inheritable
    and ambient sets to exactly what the plan says (:func:`prepare` refused what the runtime
    cannot grant; ambient ones it does not hold are left out)."""
    caps.set_keep_caps(False)
    held = caps.capget().permitted
    permitted = plan.permitted & held
    inheritable = plan.inheritable & held
    if stray := plan.effective & held & ~permitted:
        log.warning(f"effective capabilities must also be permitted; dropped: {_names(stray)}")
    caps.capset(plan.effective & permitted, permitted, inheritable)
    caps.clear_ambient()
    for c in caps.members(plan.ambient & permitted & inheritable):
        caps.raise_ambient(c)
    if skipped := plan.ambient & ~(permitted & inheritable) & held:
        # runc's default config asks for this (ambient without inheritable) and runc says nothing
        log.debug("ambient capabilities must be permitted and inheritable; not raised: %s", _names(skipped))
