"""Process capabilities: names and numbers, the five sets, keep-caps and no_new_privs.

Thin ctypes wrappers over capget(2)/capset(2) (version 3: two 32-bit words per set, so 64-bit
masks) and the prctl(2) options for the bounding and ambient sets. A set is an ``int`` bit mask
(bit N = capability N). Every call acts on the calling thread only, as the kernel does: call
them from a single-threaded process (the container init) right before execve.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.linux import cdata
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# capabilities(7), in kernel number order: NAMES[n] is capability n.
NAMES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
NUMBERS: dict[str, int] = {name: n for n, name in enumerate(NAMES)}

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PR_GET_KEEPCAPS = 7
_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_IS_SET = 1
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4


class _Header(cdata.Structure):
    _fields_ = (("version", cdata.c_uint32), ("pid", cdata.c_int))


class _Data(cdata.Structure):
    _fields_ = (
        ("effective", cdata.c_uint32),
        ("permitted", cdata.c_uint32),
        ("inheritable", cdata.c_uint32),
    )


_libc = cdata.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = (cdata.c_int, cdata.c_ulong, cdata.c_ulong, cdata.c_ulong, cdata.c_ulong)
_prctl.restype = cdata.c_int
_capget = _libc.capget
_capget.argtypes = (cdata.POINTER(_Header), cdata.POINTER(_Data))
_capget.restype = cdata.c_int
_capset = _libc.capset
_capset.argtypes = (cdata.POINTER(_Header), cdata.POINTER(_Data))
_capset.restype = cdata.c_int


class CapSets(Record):
    """The capget(2) sets of a thread, as bit masks."""

    effective: int
    permitted: int
    inheritable: int


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = cdata.get_errno()
        raise OSError(err, f"{what}: {posix.strerror(err)}")
    return rc


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


_last_cap: int | None = None


def last_cap() -> int:
    """The highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap)."""
    global _last_cap
    if _last_cap is None:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            _last_cap = int(f.read())
    return _last_cap


def name(cap: int) -> str:
    """CAP_* name of a capability number (``CAP_<n>`` for numbers newer than this table)."""
    return NAMES[cap] if 0 <= cap < len(NAMES) else f"CAP_{cap}"


def mask(caps: Iterable[int]) -> int:
    m = 0
    for c in caps:
        m |= 1 << c
    return m


def members(m: int) -> list[int]:
    """The capability numbers set in a mask, ascending."""
    return [c for c in range(m.bit_length()) if m >> c & 1]


def capget(pid: int = 0) -> CapSets:
    """Effective, permitted and inheritable sets of a thread (0: the calling thread)."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_Data * 2)()
    _check(_capget(cdata.byref(header), data), "capget")
    return CapSets(
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) on the calling thread: replace its effective, permitted and inheritable sets."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = effective >> shift & 0xFFFFFFFF
        data[i].permitted = permitted >> shift & 0xFFFFFFFF
        data[i].inheritable = inheritable >> shift & 0xFFFFFFFF
    _check(_capset(cdata.byref(header), data), "capset")


def bounding() -> int:
    """The calling thread's bounding set: CapBnd of its /proc status, one read where
    PR_CAPBSET_READ would take a system call per capability."""
    fd = posix.open("/proc/thread-self/status", posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        text = posix.read(fd, 65536)
    finally:
        posix.close(fd)
    start = text.index(b"\nCapBnd:") + 8
    return int(text[start : text.index(b"\n", start)], 16)


def drop_bounding(cap: int) -> None:
    """Remove one capability from the bounding set (needs CAP_SETPCAP; irreversible)."""
    prctl(_PR_CAPBSET_DROP, cap)


def ambient() -> int:
    """The calling thread's ambient set."""
    return mask(c for c in range(last_cap() + 1) if prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_IS_SET, c) == 1)


def raise_ambient(cap: int) -> None:
    """Add a capability to the ambient set (it must be permitted and inheritable already)."""
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, cap)


def clear_ambient() -> None:
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)


def set_keep_caps(keep: bool) -> None:
    """PR_SET_KEEPCAPS: keep the permitted set when all uids change from 0 to non-zero."""
    prctl(_PR_SET_KEEPCAPS, int(keep))


def keep_caps() -> bool:
    return prctl(_PR_GET_KEEPCAPS) == 1


def set_no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: execve can never grant privileges again (setuid bits, file caps)."""
    prctl(_PR_SET_NO_NEW_PRIVS, 1)


def no_new_privs() -> bool:
    return prctl(_PR_GET_NO_NEW_PRIVS) == 1
