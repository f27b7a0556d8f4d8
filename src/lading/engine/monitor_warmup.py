"""Quickening the monitor's code before it serves spawn requests, so that forked monitors find it done.

CPython 3.11 counts the first calls of a code object in the code object itself (a warm-up counter
that goes from -8 up to 0) and at 0 rewrites its bytecode in place with adaptive instructions
(PEP 659's quickening), whose first runs then specialize them. A monitor forked from another keeps
every page it writes (monitor_spawn), and code that a monitor runs once (its start, the take-over,
the serving of a spawn request) would reach 0 only in the eighth monitor of a chain, each one
before it having written the code's pages on the way. So a monitor exec'd to serve spawn requests
sets that counter to -1 in every code object of lading's modules before it starts: its own run
quickens and specializes what it runs, and the monitors forked from it inherit that
(bench/monitor.py: about 80 KiB less private memory per forked monitor).

The counter's place in the code object is found rather than assumed: the one 16-bit field of a
fresh code object that goes from -8 to -7 when it is run once. A CPython without it (3.12 and later
quicken code when it is made) has no such field, and nothing is changed.
"""

from __future__ import annotations

import sys

_FRESH = -8  # a 3.11 code object's warm-up counter before its first call
_SEARCHED = range(16, 128, 2)  # byte offsets in the code object where it may be


def quicken_on_next_call(prefix: str = "lading.") -> int:
    """Have every code object of the loaded modules named ``prefix...`` quicken on its next
    call; how many were set (0 where this CPython keeps no warm-up counter, or has no ``_ctypes``:
    the warm-up saves memory, it never keeps a monitor from starting)."""
    try:
        import _ctypes
    except ImportError:
        return 0

    class Short(_ctypes._SimpleCData):  # type: ignore[type-arg]  # ctypes.c_short
        _type_ = "h"

    def field(code: object, offset: int) -> int:
        return int(Short.from_address(id(code) + offset).value)

    probe = _probe.__code__.replace()  # a fresh copy: never run (compile() would cost 200 KiB)
    before = [field(probe, at) for at in _SEARCHED]
    exec(probe)
    moved = [at for at, old in zip(_SEARCHED, before, strict=True) if old == _FRESH and field(probe, at) == _FRESH + 1]
    if len(moved) != 1:
        return 0
    codes = _code_objects(prefix)
    for code in codes:
        Short.from_address(id(code) + moved[0]).value = -1
    return len(codes)


def _probe() -> None:
    """Run once, as a fresh copy, to find the warm-up counter."""


def _code_objects(prefix: str) -> list[object]:
    """The code objects of the functions and methods of those modules, nested ones included."""
    found: dict[int, object] = {}
    todo: list[object] = []
    for name, module in list(sys.modules.items()):
        if name.startswith(prefix) and module is not None:
            for value in vars(module).values():
                members = vars(value).values() if isinstance(value, type) else [value]
                todo += [m.__code__ for m in members if callable(m) and hasattr(m, "__code__")]
    while todo:
        code = todo.pop()
        if id(code) not in found:
            found[id(code)] = code
            todo += [c for c in getattr(code, "co_consts", ()) if hasattr(c, "co_consts")]
    return list(found.values())
