"""Linux namespaces: their clone flags, unshare(2) and setns(2)."""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.linux.libc import check, libc

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# The name of each namespace under /proc/PID/ns/ and its clone flag.
FLAGS: dict[str, int] = {
    "mnt": CLONE_NEWNS,
    "cgroup": CLONE_NEWCGROUP,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "user": CLONE_NEWUSER,
    "pid": CLONE_NEWPID,
    "net": CLONE_NEWNET,
    "time": CLONE_NEWTIME,
}


def unshare(flags: int) -> None:
    check(libc.unshare(flags), "unshare")


def setns(path: str, flag: int = 0) -> None:
    """Join the namespace that the file at ``path`` (e.g. /proc/PID/ns/net) refers to."""
    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        check(libc.setns(fd, flag), f"setns {path}")
    finally:
        posix.close(fd)


def same_namespace(path: str, kind: str) -> bool:
    """True when ``path`` names the namespace of that kind this process is already in."""
    try:
        a, b = posix.stat(path), posix.stat(f"/proc/self/ns/{kind}")
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def open_other(pid: int) -> dict[str, int]:
    """{kind: fd} for each namespace of process ``pid`` that this process is not also in.

    The fds are O_RDONLY|O_CLOEXEC handles on /proc/PID/ns/KIND, opened now so that joining later
    cannot be redirected by PID reuse; kinds the kernel lacks are skipped.
    """
    fds: dict[str, int] = {}
    try:
        for kind in FLAGS:
            try:
                fd = posix.open(f"/proc/{pid}/ns/{kind}", posix.O_RDONLY | posix.O_CLOEXEC)
            except FileNotFoundError:
                if kind in ("time", "cgroup"):
                    continue  # an older kernel without this namespace kind
                raise
            theirs, ours = posix.fstat(fd), posix.stat(f"/proc/self/ns/{kind}")
            if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
                posix.close(fd)
            else:
                fds[kind] = fd
    except BaseException:
        for fd in fds.values():
            posix.close(fd)
        raise
    return fds


def setns_fd(fd: int, kind: str) -> None:
    check(libc.setns(fd, FLAGS[kind]), f"setns {kind}")


def children_into_pid_namespace(fd: int) -> int | None:
    """setns into the PID namespace open at ``fd``, which changes only where this process's next
    children are born (its own PID namespace never changes): an fd on the namespace its children
    were born in until now, to come back with (``setns_fd(back, "pid")``), or None, with nothing
    changed, where it may not go there or come back. Both need CAP_SYS_ADMIN in the user
    namespace that owns the PID namespace and in the caller's own: a rootless runtime has neither,
    and one that is root in a user namespace of its own (a rootless engine's) cannot come back to
    the host's. Coming back is tried first, which changes nothing; a kernel without
    /proc/PID/ns/pid_for_children (before 4.12) is one where it may not."""
    try:
        back = posix.open("/proc/self/ns/pid_for_children", posix.O_RDONLY | posix.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        setns_fd(back, "pid")
        setns_fd(fd, "pid")
    except PermissionError:
        posix.close(back)
        return None
    except BaseException:
        posix.close(back)
        raise
    return back
