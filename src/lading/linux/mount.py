"""mount(2), umount2(2), pivot_root(2), mount_setattr(2), open_tree(2) and move_mount(2), and mount
option parsing.

Option names are those of mount(8) and the runtime spec: each is either a flag (set or cleared),
a propagation change (applied by a separate mount call, as the kernel requires), a recursive
attribute (``rro``, ``rnosuid``, ... applied with mount_setattr), or filesystem data.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.linux import cdata
from lading.linux.libc import (
    SYS_MOUNT_SETATTR,
    SYS_MOVE_MOUNT,
    SYS_OPEN_TREE,
    SYS_PIVOT_ROOT,
    check,
    libc,
    syscall,
)
from lading.record import Record

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_I_VERSION = 0x800000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_DETACH = 0x2
PROPAGATION = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE

# name -> (clear?, flag)
FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "iversion": (False, MS_I_VERSION),
    "lazytime": (False, MS_LAZYTIME),
    "loud": (True, MS_SILENT),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noiversion": (True, MS_I_VERSION),
    "noexec": (False, MS_NOEXEC),
    "nolazytime": (True, MS_LAZYTIME),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "silent": (False, MS_SILENT),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "symfollow": (True, MS_NOSYMFOLLOW),
    "sync": (False, MS_SYNCHRONOUS),
}

PROPAGATION_OPTIONS: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_RECURSIVE = 0x8000
AT_EMPTY_PATH = 0x1000
OPEN_TREE_CLONE = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
AT_FDCWD = -100

# name -> (set, clear) for mount_setattr(AT_RECURSIVE); from runtime-spec "recursive" options.
RECURSIVE_OPTIONS: dict[str, tuple[int, int]] = {
    "rro": (MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0),
    "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0),
    "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME),
    "rnorelatime": (0, MOUNT_ATTR__ATIME),
    "rnoatime": (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME),
    "ratime": (0, MOUNT_ATTR__ATIME),
    "rstrictatime": (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
    "rnostrictatime": (0, MOUNT_ATTR__ATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0),
    "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
}


# runc's extension, done by the runtime rather than mount(2): fill a new tmpfs with what it covers.
TMPCOPYUP = "tmpcopyup"
# Id-mapped bind mounts (the runtime's, through set_idmap; never passed to mount(2)).
IDMAP_OPTIONS = frozenset({"idmap", "ridmap"})


class Options(Record):
    """Mount options split the way the kernel wants them."""

    flags: int
    propagation: list[int]
    attr_set: int
    attr_clear: int
    data: str
    tmpcopyup: bool


def parse_options(options: list[str]) -> Options:
    """Split option strings into flags, propagation changes, recursive attributes and data."""
    flags = 0
    propagation: list[int] = []
    attr_set = attr_clear = 0
    data: list[str] = []
    tmpcopyup = False
    for opt in options:
        if opt == TMPCOPYUP:
            tmpcopyup = True
        elif opt in IDMAP_OPTIONS:
            continue
        elif opt in FLAG_OPTIONS:
            clear, flag = FLAG_OPTIONS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in PROPAGATION_OPTIONS:
            propagation.append(PROPAGATION_OPTIONS[opt])
        elif opt in RECURSIVE_OPTIONS:
            s, c = RECURSIVE_OPTIONS[opt]
            attr_set, attr_clear = (attr_set & ~c) | s, attr_clear | c
        else:
            data.append(opt)
    return Options(flags, propagation, attr_set, attr_clear, ",".join(data), tmpcopyup)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    ret = libc.mount(
        source.encode() if source is not None else None,
        target.encode(),
        fstype.encode() if fstype is not None else None,
        cdata.c_ulong(flags),
        data.encode() if data else None,
    )
    if ret == -1:  # the message only for a failure: the init mounts some forty times
        check(ret, f"mount {source or fstype} on {target}")


def umount(target: str, flags: int = 0) -> None:
    check(libc.umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    syscall(SYS_PIVOT_ROOT, new_root.encode(), put_old.encode(), what="pivot_root")


class _MountAttr(cdata.Structure):
    _fields_ = (
        ("attr_set", cdata.c_uint64),
        ("attr_clr", cdata.c_uint64),
        ("propagation", cdata.c_uint64),
        ("userns_fd", cdata.c_uint64),
    )


def set_recursive_attributes(target: str, attr_set: int, attr_clear: int) -> None:
    """mount_setattr(2) with AT_RECURSIVE: apply ro/nosuid/... to a whole mount tree."""
    attr = _MountAttr(attr_set, attr_clear, 0, 0)
    syscall(
        SYS_MOUNT_SETATTR,
        AT_FDCWD,
        target.encode(),
        AT_RECURSIVE,
        cdata.byref(attr),
        cdata.sizeof(attr),
        what=f"mount_setattr {target}",
    )


def open_tree(source: int, recursive: bool) -> int:
    """A detached copy of the mount tree at the O_PATH fd ``source`` (open_tree OPEN_TREE_CLONE,
    like a bind mount not yet attached anywhere); ``recursive`` copies submounts too."""
    flags = OPEN_TREE_CLONE | posix.O_CLOEXEC | AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    return syscall(SYS_OPEN_TREE, source, b"", flags, what="open_tree")


def set_idmap(tree_fd: int, userns_fd: int, recursive: bool) -> None:
    """Id-map a detached mount tree through the user namespace ``userns_fd`` (mount_setattr
    MOUNT_ATTR_IDMAP): a file owned by id N on disk shows as the id N maps to in that namespace.
    The kernel maps only a mount never attached, for a caller privileged over the filesystem."""
    attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    syscall(SYS_MOUNT_SETATTR, tree_fd, b"", flags, cdata.byref(attr), cdata.sizeof(attr), what="mount_setattr idmap")


def move_mount(tree_fd: int, target_fd: int) -> None:
    """Attach the detached mount tree ``tree_fd`` on the file the O_PATH fd ``target_fd`` names
    (not through /proc/self/fd, which move_mount refuses); ``tree_fd`` then names its root."""
    flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH
    syscall(SYS_MOVE_MOUNT, tree_fd, b"", target_fd, b"", flags, what="move_mount")
