"""Path resolution confined to a root directory, for building a container's rootfs safely.

An image may hold symlinks such as ``/dev -> /`` or ``etc/x -> ../../../../host``. Every path the
runtime creates or mounts onto inside a rootfs is therefore resolved with openat2(2)'s
RESOLVE_IN_ROOT, which treats the rootfs as ``/`` for every step, absolute symlinks and ``..``
included, so no image content can redirect a mount, a device node or a masked path onto the host.
The caller then mounts onto ``/proc/self/fd/N``, the very inode that was resolved.

A path that ends in, or passes through, a symlink whose target does not exist yet (an image's
``/etc/localtime -> ../usr/share/zoneinfo/...``) is created at the target, read the same way,
so the mount lands where the container will look for it.
"""

from __future__ import annotations

import errno
import posix  # not os: runtime/store.py says why

from lading.linux import cdata
from lading.linux.libc import SYS_OPENAT2, check, libc
from lading.linux.paths import fsencode, join, relpath

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
O_PATH = 0o10000000
MAX_SYMLINKS = 40  # as the kernel's path walk


class _OpenHow(cdata.Structure):
    _fields_ = (("flags", cdata.c_uint64), ("mode", cdata.c_uint64), ("resolve", cdata.c_uint64))


_HOW_SIZE = cdata.sizeof(_OpenHow)


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    how = _OpenHow(flags | posix.O_CLOEXEC, mode, resolve)
    fd: int = libc.syscall(SYS_OPENAT2, dirfd, fsencode(path), cdata.byref(how), _HOW_SIZE)
    if fd == -1:  # the message only for a failure: the init opens some sixty paths
        check(fd, f"open {path}")
    return fd


def open_in_root(root_fd: int, path: str, flags: int = O_PATH, mode: int = 0) -> int:
    """Open ``path`` as if ``root_fd`` were ``/``; symlinks cannot leave it."""
    while True:
        try:
            return openat2(root_fd, path.lstrip("/") or ".", flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        except OSError as e:
            if e.errno != errno.EAGAIN:  # the kernel asks to retry when a rename raced the walk
                raise


def mkdir_all_in_root(root_fd: int, path: str, mode: int = 0o755, _links: int = 0) -> int:
    """Create every missing directory of ``path`` inside the root; return an O_PATH fd to it.

    A path that is there already is one openat2 call. A missing directory is made in its parent
    (made first the same way) and the path resolved again from the root, never from the parent,
    so a symlink on the way is followed as the container would see it, and still cannot leave
    the root.
    """
    try:
        return open_in_root(root_fd, path, O_PATH | posix.O_DIRECTORY)
    except FileNotFoundError:
        pass
    parent, _, name = path.rstrip("/").rpartition("/")
    pfd = mkdir_all_in_root(root_fd, parent, mode, _links)
    try:
        if name not in (".", ".."):
            try:
                posix.mkdir(name, mode, dir_fd=pfd)
            except FileExistsError:  # a dangling symlink: make its target instead
                target = _symlink_target(root_fd, pfd, name, path, _links)
                return mkdir_all_in_root(root_fd, target, mode, _links + 1)
        return open_in_root(root_fd, path, O_PATH | posix.O_DIRECTORY)
    finally:
        posix.close(pfd)


def create_in_root(root_fd: int, path: str, directory: bool, mode: int = 0o755, _links: int = 0) -> int:
    """An O_PATH fd to ``path`` in the root, created (as a directory or an empty file) if missing."""
    if directory:
        return mkdir_all_in_root(root_fd, path, mode)
    try:
        return open_in_root(root_fd, path, O_PATH)
    except FileNotFoundError:
        pass
    parent, _, name = path.rstrip("/").rpartition("/")
    pfd = mkdir_all_in_root(root_fd, parent, mode)
    try:
        try:
            fd = open_in_root(pfd, name, posix.O_CREAT | posix.O_WRONLY | posix.O_NOFOLLOW, 0o644)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            target = _symlink_target(root_fd, pfd, name, path, _links)
            return create_in_root(root_fd, target, directory, mode, _links + 1)
        posix.close(fd)
        return open_in_root(pfd, name, O_PATH)
    finally:
        posix.close(pfd)


def _symlink_target(root_fd: int, dir_fd: int, name: str, path: str, links: int) -> str:
    """Where the symlink ``name`` in ``dir_fd`` points, as a path inside the root."""
    if links >= MAX_SYMLINKS:
        raise OSError(errno.ELOOP, posix.strerror(errno.ELOOP), path)
    target = posix.readlink(name, dir_fd=dir_fd)
    if target.startswith("/"):
        return target
    here = relpath(posix.readlink(fd_path(dir_fd)), posix.readlink(fd_path(root_fd)))
    return join("/", here, target)


def fd_path(fd: int) -> str:
    """The magic-link path that names exactly the file behind fd, for mount(2) targets."""
    return f"/proc/self/fd/{fd}"
