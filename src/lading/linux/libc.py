"""The C library, loaded once (through cdata, ctypes without its package), and the errno-checking call wrapper.

Python's ``os`` covers most of what a runtime needs; the few syscalls it lacks on 3.11 (mount,
unshare, setns, pivot_root, openat2, prctl, capset, ...) go through ``libc.syscall`` or libc's own
wrappers here, and every failure becomes an ``OSError`` with the errno and what was attempted.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.linux import cdata

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

libc = cdata.CDLL(None, use_errno=True)
libc.syscall.restype = cdata.c_long


def check(ret: int, what: str) -> int:
    """Raise OSError(errno, what) if a libc call returned -1."""
    if ret == -1:
        err = cdata.get_errno()
        raise OSError(err, f"{what}: {posix.strerror(err)}")
    return ret


def syscall(nr: int, *args: Any, what: str) -> int:
    return check(libc.syscall(nr, *args), what)


# x86_64 and aarch64 numbers for the syscalls libc has no wrapper for (or only a recent one).
_MACHINE = posix.uname().machine
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}[_MACHINE]
SYS_OPENAT2 = 437
SYS_MOUNT_SETATTR = 442
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_CLOSE_RANGE = 436
SYS_CLONE3 = 435
