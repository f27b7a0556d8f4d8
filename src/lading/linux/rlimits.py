"""Resource limits of a process via prlimit(2), with exact unsigned 64-bit values.

Python's ``resource`` module takes signed C longs (so 2**64-1, RLIM_INFINITY, overflows) and
turns EPERM into a ValueError; this wrapper keeps the kernel's numbers and errno.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.linux import cdata

INFINITY = (1 << 64) - 1

# getrlimit(2) resource numbers (asm-generic; x86, arm, arm64, riscv, s390, ppc alike).
NUMBERS: dict[str, int] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}


class _Rlimit(cdata.Structure):
    _fields_ = (("cur", cdata.c_uint64), ("max", cdata.c_uint64))


_prlimit = cdata.CDLL(None, use_errno=True).prlimit
_prlimit.argtypes = (cdata.c_int, cdata.c_int, cdata.POINTER(_Rlimit), cdata.POINTER(_Rlimit))
_prlimit.restype = cdata.c_int


def _call(pid: int, resource: int, new: _Rlimit | None) -> tuple[int, int]:
    old = _Rlimit()
    if _prlimit(pid, resource, cdata.byref(new) if new is not None else None, cdata.byref(old)) < 0:
        err = cdata.get_errno()
        raise OSError(err, posix.strerror(err))
    return old.cur, old.max


def get_limit(resource: int, pid: int = 0) -> tuple[int, int]:
    """(soft, hard) of a resource of a process (0: this one)."""
    return _call(pid, resource, None)


def set_limit(resource: int, soft: int, hard: int, pid: int = 0) -> None:
    """Set (soft, hard); raising the hard limit needs CAP_SYS_RESOURCE in the initial namespace."""
    _call(pid, resource, _Rlimit(soft, hard))
