"""Linux namespaces: their clone flags, unshare(2) and setns(2)."""

from __future__ import annotations

import os

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
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(libc.setns(fd, flag), f"setns {path}")
    finally:
        os.close(fd)


def same_namespace(path: str, kind: str) -> bool:
    """True when ``path`` names the namespace of that kind this process is already in."""
    try:
        a, b = os.stat(path), os.stat(f"/proc/self/ns/{kind}")
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
