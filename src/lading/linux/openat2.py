"""openat2(2) with RESOLVE_IN_ROOT: open a path as if a directory were the root.

Symlinks (absolute or relative) and ``..`` are resolved by the kernel without ever leaving the
root directory, which is what extracting an untrusted archive into a directory needs: a path
such as ``etc/x`` below a symlink ``etc -> /`` lands in ``ROOT/x``, never the host's ``/x``.
"""

from __future__ import annotations

import ctypes
import errno
import os

_SYS_OPENAT2 = 437  # the same number on every architecture (added after the syscall table unification)

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = RESOLVE_IN_ROOT) -> int:
    """Open ``path`` relative to ``dirfd`` with the given RESOLVE_* flags; returns a new fd."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path)
    while True:
        fd = _syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dirfd),
            ctypes.c_char_p(raw),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err in (errno.EAGAIN, errno.EINTR):  # a concurrent rename raced the lookup: try again
            continue
        raise OSError(err, os.strerror(err), path)


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH | os.O_DIRECTORY, mode: int = 0) -> int:
    """Open ``path`` inside the root directory ``rootfd``, resolving every symlink within it."""
    return openat2(rootfd, path or ".", flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
