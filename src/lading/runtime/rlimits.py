"""The container process's resource limits: config.json ``process.rlimits`` -> prlimit(2).

:func:`prepare` (in the runtime, before forking) checks names and soft <= hard, each
problem one line with its JSON path. :func:`apply` sets the limits on a process: the init
calls it on itself (pid 0) before it drops capabilities, since raising a hard limit needs
CAP_SYS_RESOURCE; the runtime may equally call it on the init's pid. A limit that cannot be
raised fails with the limit, the wanted values and the current ones.
"""

from __future__ import annotations

import errno

from lading import jsonlite
from lading.errors import LadingError
from lading.linux import rlimits
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.spec.runtime_config import Process


class Rlimit(Record):
    type: str
    resource: int
    soft: int
    hard: int


def prepare(process: Process) -> list[Rlimit]:
    """Validate ``process.rlimits`` (the decoder has checked the form and duplicates already);
    raises LadingError naming the JSON path."""
    out: list[Rlimit] = []
    for i, r in enumerate(process.rlimits or ()):
        where = f"config.json: $.process.rlimits[{i}]"
        if r.type not in rlimits.NUMBERS:
            raise LadingError(f"{where}.type: unknown rlimit {jsonlite.dumps(r.type)}")
        if r.soft > r.hard:
            raise LadingError(f"{where}: soft limit {r.soft} is above the hard limit {r.hard}")
        out.append(Rlimit(r.type, rlimits.NUMBERS[r.type], r.soft, r.hard))
    return out


def _show(value: int) -> str:
    return "unlimited" if value == rlimits.INFINITY else str(value)


def _nr_open() -> int:
    with open("/proc/sys/fs/nr_open") as f:
        return int(f.read())


def apply(limits: list[Rlimit], pid: int = 0) -> None:
    """Set each limit on process ``pid`` (0: the caller)."""
    for lim in limits:
        try:
            rlimits.set_limit(lim.resource, lim.soft, lim.hard, pid)
        except OSError as e:
            wanted = f"{lim.type} to soft {_show(lim.soft)}, hard {_show(lim.hard)}"
            if e.errno != errno.EPERM:
                raise LadingError(f"cannot set {wanted}: {e.strerror}") from e
            cur_soft, cur_hard = rlimits.get_limit(lim.resource, pid)
            now = f"now soft {_show(cur_soft)}, hard {_show(cur_hard)}"
            why = e.strerror
            if lim.type == "RLIMIT_NOFILE" and lim.hard > (nr_open := _nr_open()):
                why = f"the hard limit is above fs.nr_open ({nr_open})"
            elif lim.hard > cur_hard:
                why = "raising the hard limit needs CAP_SYS_RESOURCE"
            raise LadingError(f"cannot set {wanted} ({now}): {why}") from e
