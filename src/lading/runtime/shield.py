"""Keeping the host out of reach while the runtime's own process is inside a container.

Between joining (or creating) a container's namespaces and the execve of the user's program, a
copy of the runtime runs in the container with the host's interpreter as its executable. Two
classic runc escapes come from that window:

- CVE-2019-5736: a root process in the container opens /proc/PID/exe of the runtime (the host's
  python3) and later writes through it, or reads /proc/PID/fd/N, /proc/PID/cwd. Made impossible by
  PR_SET_DUMPABLE 0 before any namespace is entered: /proc/PID files of a non-dumpable process
  need CAP_SYS_PTRACE in the user namespace the runtime was started in, which no container has
  unless it shares the host's with that capability. execve of the user program makes the process
  dumpable again, as usual.
- CVE-2024-21626: a file descriptor of a host directory (or the host cwd) survives into the
  container, and ``process.cwd`` = /proc/self/fd/N (or the program itself) walks through it to
  the host. Here every inherited descriptor that could name a host file is closed as soon as the
  child is forked, the cwd is moved off the host, and the final cwd is checked to be reachable
  from the container's root (the kernel's getcwd says "(unreachable)" otherwise).

Sockets are left open (they name no file: the runtime's own channels, and an O_PATH handle on a
seccomp agent's socket); they and every other descriptor outside the preserved range are
close-on-exec by the time the user's program starts.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why
import stat

from lading.errors import LadingError
from lading.linux import prctl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def enter(keep: Iterable[int]) -> None:
    """In a freshly forked child, before it joins or creates any namespace."""
    prctl.set_dumpable(False)
    posix.chdir("/")
    close_host_fds(set(keep))


def close_host_fds(keep: set[int]) -> None:
    """Close every fd from 3 up that is not in ``keep`` and could lead to a file (not a socket)."""
    for name in posix.listdir("/proc/self/fd"):
        fd = int(name)
        if fd < 3 or fd in keep:
            continue
        try:
            mode = posix.fstat(fd).st_mode
        except OSError:
            continue  # the directory fd listdir itself used, already closed
        if not stat.S_ISSOCK(mode):
            posix.close(fd)


def chdir_inside(cwd: str) -> None:
    """chdir to the process's cwd and make sure it did not lead out of the container's root."""
    try:
        posix.chdir(cwd)
    except OSError as e:
        raise LadingError(f"chdir to cwd {cwd!r} set in the process failed: {e.strerror}") from None
    try:
        where = posix.getcwd()
    except FileNotFoundError:
        where = ""
    if not where.startswith("/"):
        raise LadingError(f"cwd {cwd!r} is outside the container's root filesystem")
