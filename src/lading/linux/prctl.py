"""prctl(2) operations the runtime uses on itself."""

from __future__ import annotations

from lading.linux.libc import check, libc

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return check(libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def set_child_subreaper() -> None:
    """Adopt orphaned descendants, so a double-forked container init can still be waited for."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_dumpable(on: bool) -> None:
    prctl(PR_SET_DUMPABLE, int(on))
