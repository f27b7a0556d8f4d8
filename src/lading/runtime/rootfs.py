"""Building the container's root filesystem inside its new mount namespace (the init process runs this).

The steps follow runc's linuxStandardInit: make the host's mounts private to us, bind the rootfs
onto itself, perform every ``mounts`` entry in order, create the default devices and /dev links,
pivot_root into it, then mask, write-protect and seal. Every destination inside the rootfs is
resolved with ``lading.linux.fs`` (openat2 RESOLVE_IN_ROOT) and mounted through its
/proc/self/fd path, so a symlink in an image can never send a mount or a device onto the host.
"""

from __future__ import annotations

import errno
import posix  # not os: runtime/store.py says why
import stat

from lading import log
from lading.errors import LadingError
from lading.linux import fs, mountinfo
from lading.linux import mount as m
from lading.linux.cgroups import layout as cgroup_layout
from lading.linux.files import exists
from lading.linux.paths import join, normpath, relpath
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from lading.spec.runtime_config import LinuxDevice, Mount, Spec

# (path, type, major, minor): the devices every container gets (runtime-linux.md "Default Devices").
DEFAULT_DEVICES = [
    ("/dev/null", "c", 1, 3),
    ("/dev/zero", "c", 1, 5),
    ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8),
    ("/dev/urandom", "c", 1, 9),
    ("/dev/tty", "c", 5, 0),
]
DEV_LINKS = [
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
]
# A user namespace without its own network namespace may not mount a new sysfs: the host's is
# bound instead, as crun does (runc 1.1 fails; its `spec --rootless` binds /sys in the config).
BIND_INSTEAD = {"sysfs": "/sys"}
_ROOT_PROPAGATION = {
    "shared": m.MS_SHARED | m.MS_REC,
    "slave": m.MS_SLAVE | m.MS_REC,
    "private": m.MS_PRIVATE | m.MS_REC,
    "unbindable": m.MS_UNBINDABLE | m.MS_REC,
}


def root_propagation(name: str | None) -> int:
    """rootfsPropagation as mount flags; runc's default is rslave."""
    key = (name or "rslave").removeprefix("r")
    if key not in _ROOT_PROPAGATION:
        raise LadingError(f"config.json: $.linux.rootfsPropagation: unknown propagation {name!r}")
    return _ROOT_PROPAGATION[key]


class Sources(Record):
    """O_PATH fds opened by stage 1 while it still has the host's ids (see :func:`open_sources`)."""

    rootfs: int
    binds: dict[int, int]  # index in mounts -> the bind source
    idmapped: dict[int, int]  # index in mounts -> a detached id-mapped tree the runtime made
    later: dict[int, str]  # index in mounts -> a bind source not there yet (an earlier mount may make it)

    def close(self) -> None:
        for fd in (self.rootfs, *self.binds.values(), *self.idmapped.values()):
            posix.close(fd)


def open_sources(spec: Spec, rootfs: str, bundle: str, idmapped: dict[int, int]) -> Sources:
    """The rootfs and every bind source, opened in the container's new mount namespace before the
    process becomes the container's root: a root mapped to another host id can then mount from
    a directory only host root may enter (a bundle under /root, a 0700 temp dir), as with runc.
    A source that does not exist yet is opened when its turn comes, after the mounts before it."""
    root = posix.open(rootfs, fs.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
    binds: dict[int, int] = {}
    later: dict[int, str] = {}
    try:
        for i, entry in enumerate(spec.mounts or []):
            if is_bind(entry) and i not in idmapped and entry.type != "cgroup":
                source = join(bundle, entry.source or "")
                try:
                    binds[i] = _open_source(i, entry, source)
                except FileNotFoundError:
                    later[i] = source
    except BaseException:
        Sources(root, binds, {}, {}).close()
        raise
    return Sources(root, binds, idmapped, later)


def _open_source(i: int, entry: Mount, path: str) -> int:
    """An O_PATH fd of a bind source; FileNotFoundError if it is not there, any other failure
    as the config's error."""
    try:
        return posix.open(path, fs.O_PATH | posix.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise LadingError(
            f"config.json: $.mounts[{i}]: cannot mount bind {entry.source or ''} on {entry.destination}: {e.strerror}"
        ) from None


def prepare(
    spec: Spec, sources: Sources, bind_devices: bool, own_cgroupns: bool, cgroups: cgroup_layout.Layout | None = None
) -> int:
    """Everything up to (not including) pivot_root: the caller runs createContainer hooks next.
    Returns an O_PATH fd of the mounted rootfs, for :func:`pivot`. ``cgroups``: the layout for
    :func:`mount_cgroup`."""
    linux = spec.linux
    propagation = root_propagation(linux.rootfs_propagation if linux else None)
    m.mount(None, "/", None, propagation)
    # pivot_root (and a move for --no-pivot) refuses a root whose parent mount is shared, which
    # it is after "shared": make just that one mount private, so that the bind of the rootfs,
    # a copy of it, is private too and its mounts never reach the host (as runc does).
    parent = mountinfo.read_holding(posix.readlink(fs.fd_path(sources.rootfs)))
    if parent.shared:
        m.mount(None, parent.mountpoint, None, m.MS_PRIVATE)
    # the rootfs bound onto itself, reached through the fd stage 1 opened (see open_sources)
    root_fd = m.open_tree(sources.rootfs, recursive=True)
    try:
        m.move_mount(root_fd, sources.rootfs)
        for i, entry in enumerate(spec.mounts or []):
            try:
                if i in sources.idmapped:
                    new_root = attach_tree(root_fd, entry, sources.idmapped[i])
                elif i in sources.later:
                    source = _open_source(i, entry, sources.later[i])
                    try:
                        new_root = mount_entry(root_fd, entry, source, own_cgroupns, cgroups)
                    finally:
                        posix.close(source)
                else:
                    new_root = mount_entry(root_fd, entry, sources.binds.get(i), own_cgroupns, cgroups)
            except OSError as e:
                raise LadingError(
                    f"config.json: $.mounts[{i}]: cannot mount {entry.type or 'bind'} "
                    f"{entry.source or ''} on {entry.destination}: {e.strerror or e}"
                ) from None
            if new_root is not None:
                posix.close(root_fd)
                root_fd = new_root
        create_devices(root_fd, (linux.devices if linux else None) or [], bind_devices)
        if spec.process and spec.process.cwd:
            try:
                posix.close(fs.mkdir_all_in_root(root_fd, spec.process.cwd))
            except OSError as e:
                cwd, why = spec.process.cwd, posix.strerror(e.errno or 0)
                raise LadingError(f"config.json: $.process.cwd: cannot create {cwd!r} in the rootfs: {why}") from None
    except BaseException:
        posix.close(root_fd)
        raise
    return root_fd


def attach_tree(root_fd: int, entry: Mount, tree: int) -> int | None:
    """An id-mapped bind mount: the runtime's detached tree, attached, then the entry's flags.
    Returns the new root if the entry was mounted on the root."""
    opts = m.parse_options(entry.options or [])
    target = fs.create_in_root(root_fd, entry.destination, directory=stat.S_ISDIR(posix.fstat(tree).st_mode))
    try:
        new_root = _attach(root_fd, tree, target)
    finally:
        posix.close(target)
    _finish_bind(new_root if new_root is not None else root_fd, entry.destination, opts)
    return new_root


def _attach(root_fd: int, tree: int, target: int) -> int | None:
    """move_mount a detached tree onto ``target``; on the root itself the tree is the root from
    then on, and an fd of it is returned (the old root fd still names what it covers)."""
    m.move_mount(tree, target)
    if not _same_inode(root_fd, target):
        return None
    return posix.dup(tree)


def _same_inode(a: int, b: int) -> bool:
    sa, sb = posix.fstat(a), posix.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def is_bind(entry: Mount) -> bool:
    opts = entry.options or []
    return entry.type == "bind" or "bind" in opts or "rbind" in opts


def read_only_later(entry: Mount) -> bool:
    """A read-only tmpfs or /dev is mounted writable and made read-only by ``finish``, as runc
    does: the mounts below it, the device nodes and a tmpcopyup need to write into it first."""
    return (entry.type == "tmpfs" or normpath(entry.destination) == "/dev") and bool(
        m.parse_options(entry.options or []).flags & m.MS_RDONLY
    )


def mount_entry(
    root_fd: int,
    entry: Mount,
    source: int | None,
    own_cgroupns: bool = True,
    cgroups: cgroup_layout.Layout | None = None,
) -> int | None:
    """One ``mounts`` entry; ``source`` is the bind source's O_PATH fd (see open_sources).
    Returns the new root if the entry was a bind mount on the root itself."""
    opts = m.parse_options(entry.options or [])
    if read_only_later(entry):
        opts = opts.replace(flags=opts.flags & ~m.MS_RDONLY)
    dest = entry.destination
    log.debug("mount %s %s on %s", entry.type or "bind", entry.source or "", dest)
    if entry.type == "cgroup":
        mount_cgroup(root_fd, dest, opts.flags, own_cgroupns, cgroups)
        return None
    if is_bind(entry):
        if source is None:
            raise FileNotFoundError(errno.ENOENT, "source does not exist", entry.source)
        target = fs.create_in_root(root_fd, dest, directory=stat.S_ISDIR(posix.fstat(source).st_mode))
        tree = m.open_tree(source, recursive=bool(opts.flags & m.MS_REC))
        try:
            new_root = _attach(root_fd, tree, target)
        finally:
            posix.close(tree)
            posix.close(target)
        _finish_bind(new_root if new_root is not None else root_fd, dest, opts)
        return new_root
    target = fs.mkdir_all_in_root(root_fd, dest)
    try:
        if _same_inode(root_fd, target):
            raise OSError(errno.EINVAL, "only a bind mount can replace the root")
        try:
            m.mount(entry.source or entry.type, fs.fd_path(target), entry.type, opts.flags, opts.data)
        except PermissionError:
            host = BIND_INSTEAD.get(entry.type or "")
            if host is None:
                raise
            m.mount(host, fs.fd_path(target), None, m.MS_BIND | m.MS_REC)
            _finish_bind(root_fd, dest, opts)
            return None
        if opts.tmpcopyup and entry.type == "tmpfs":
            covered = fs.fd_path(target)
            _on_mount(root_fd, dest, lambda mounted: _copy_up(covered, mounted))
    finally:
        posix.close(target)
    _finish(root_fd, dest, opts)
    return None


def _finish_bind(root_fd: int, dest: str, opts: m.Options) -> None:
    """A bind mount's own flags need a remount; then propagation and recursive attributes."""
    remount = opts.flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT)
    if remount:
        _on_mount(root_fd, dest, lambda p: m.mount(None, p, None, m.MS_BIND | m.MS_REMOUNT | remount))
    _finish(root_fd, dest, opts)


def _finish(root_fd: int, dest: str, opts: m.Options) -> None:
    if opts.propagation:
        _on_mount(root_fd, dest, lambda p: _set_propagation(p, opts.propagation))
    if opts.attr_set or opts.attr_clear:
        _on_mount(root_fd, dest, lambda p: m.set_recursive_attributes(p, opts.attr_set, opts.attr_clear))


def _set_propagation(path: str, changes: list[int]) -> None:
    for change in changes:
        m.mount(None, path, None, change)


def _copy_up(covered: str, mounted: str) -> None:
    """tmpcopyup: copy what the new tmpfs hides (still reachable through its old fd) into it."""
    import shutil  # before pivot_root, so the standard library is still reachable

    shutil.copytree(covered, mounted, symlinks=True, dirs_exist_ok=True)


def _on_mount(root_fd: int, dest: str, action: Callable[[str], None]) -> None:
    """Run ``action(path)`` on the mount now at ``dest`` (re-resolved: the old fd is under it)."""
    fd = fs.open_in_root(root_fd, dest)
    try:
        action(fs.fd_path(fd))
    finally:
        posix.close(fd)


def mount_cgroup(
    root_fd: int, dest: str, flags: int, own_namespace: bool, layout: cgroup_layout.Layout | None = None
) -> None:
    """/sys/fs/cgroup in the container: each host hierarchy, showing only the container's cgroup.

    With its own cgroup namespace the container gets fresh cgroup mounts, rooted at its cgroup by
    the kernel; without one (podman's default on cgroup v1) each hierarchy's directory of the
    container is bind-mounted, as runc does. ``layout``: the hierarchies as the runtime found
    them, the container's cgroup its own (create's ``ContainerCgroup.layout``); without it they
    are read from /proc again.
    """
    if layout is None:
        layout = cgroup_layout.detect()
    if layout.mode == "v2" and layout.unified is not None:
        _mount_hierarchy(root_fd, dest, layout.unified, flags, own_namespace)
        return
    target = fs.mkdir_all_in_root(root_fd, dest)
    try:
        m.mount("tmpfs", fs.fd_path(target), "tmpfs", flags & ~m.MS_RDONLY, "mode=755")
    finally:
        posix.close(target)
    target = fs.open_in_root(root_fd, dest)  # the new tmpfs, not the directory it covers
    try:
        for h in layout.hierarchies():
            _mount_hierarchy(target, relpath(h.mountpoint, "/sys/fs/cgroup"), h, flags, own_namespace)
    finally:
        posix.close(target)
    if flags & m.MS_RDONLY:
        _on_mount(root_fd, dest, lambda p: m.mount(None, p, None, m.MS_REMOUNT | m.MS_BIND | flags))


def _mount_hierarchy(parent: int, sub: str, h: cgroup_layout.Hierarchy, flags: int, own_namespace: bool) -> None:
    fd = fs.mkdir_all_in_root(parent, sub)
    try:
        if own_namespace:
            fstype = "cgroup2" if h.version == 2 else "cgroup"
            m.mount("cgroup", fs.fd_path(fd), fstype, flags, ",".join(sorted(h.controllers)))
            return
        m.mount(h.directory(h.own), fs.fd_path(fd), None, m.MS_BIND | m.MS_REC)
    finally:
        posix.close(fd)
    if flags & ~m.MS_REC:
        _on_mount(parent, sub, lambda p: m.mount(None, p, None, m.MS_BIND | m.MS_REMOUNT | (flags & ~m.MS_REC)))


def create_devices(root_fd: int, devices: list[LinuxDevice], bind_devices: bool) -> None:
    dev = fs.mkdir_all_in_root(root_fd, "/dev")
    try:
        named = {d.path for d in devices}  # the config's entry for a default device wins (as runc)
        for path, kind, major, minor in DEFAULT_DEVICES:
            if path not in named:
                _device(root_fd, path, kind, major, minor, 0o666, 0, 0, bind_devices)
        for d in devices:
            mode = d.file_mode if d.file_mode is not None else 0o666
            _device(root_fd, d.path, d.type, d.major or 0, d.minor or 0, mode, d.uid or 0, d.gid or 0, bind_devices)
        for target, name in DEV_LINKS:
            _symlink(target, name, dev)
        if _lstat(dev, "pts/ptmx") is not None:
            st = _lstat(dev, "ptmx")
            if st is not None and not stat.S_ISLNK(st.st_mode):
                posix.unlink("ptmx", dir_fd=dev)
            _symlink("pts/ptmx", "ptmx", dev)
        if exists("/proc/kcore"):
            _symlink("/proc/kcore", "core", dev)
    finally:
        posix.close(dev)


def _device(
    root_fd: int, path: str, kind: str, major: int, minor: int, mode: int, uid: int, gid: int, bind: bool
) -> None:
    try:
        make_device(root_fd, path, kind, major, minor, mode, uid, gid, bind)
    except OSError as e:
        raise LadingError(f"device {path}: cannot create it in the rootfs: {e.strerror or e}") from None


def _lstat(dir_fd: int, name: str) -> posix.stat_result | None:
    try:
        return posix.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _symlink(target: str, name: str, dir_fd: int) -> None:
    try:
        posix.symlink(target, name, dir_fd=dir_fd)
    except FileExistsError:
        pass


_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def make_device(
    root_fd: int, path: str, kind: str, major: int, minor: int, mode: int, uid: int, gid: int, bind_devices: bool
) -> None:
    """mknod a device inside the rootfs (bind-mount the host's node where mknod is not allowed)."""
    parent, _, name = path.rpartition("/")
    pfd = fs.mkdir_all_in_root(root_fd, parent)
    try:
        try:
            posix.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise LadingError(f"config.json: device {path} is a directory in the rootfs") from None
        if bind_devices and kind != "p":
            fd = posix.open(
                name, posix.O_CREAT | posix.O_WRONLY | posix.O_CLOEXEC | posix.O_NOFOLLOW, 0o644, dir_fd=pfd
            )
            posix.close(fd)
            target = fs.open_in_root(pfd, name)
            try:
                m.mount(path, fs.fd_path(target), None, m.MS_BIND)
            finally:
                posix.close(target)
            return
        posix.mknod(name, _KINDS[kind] | (mode & 0o7777), posix.makedev(major, minor), dir_fd=pfd)
        posix.chmod(name, mode & 0o7777, dir_fd=pfd)
        posix.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
    finally:
        posix.close(pfd)


def pivot(root_fd: int, no_pivot: bool) -> None:
    """Make the rootfs (the fd prepare returned) the process's /. pivot_root(".", ".") then
    detaching the old root leaves no path to the host; --no-pivot moves the rootfs over / and
    chroots (for ramfs roots)."""
    posix.fchdir(root_fd)
    if no_pivot:
        m.mount(None, "/", None, m.MS_SLAVE | m.MS_REC)  # neither the move nor an unmount reaches the host
        _hide_host_proc_and_sys(posix.getcwd())
        m.mount(".", "/", None, m.MS_MOVE)
        posix.chroot(".")
    else:
        old_root = posix.open("/", posix.O_DIRECTORY | posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            m.pivot_root(".", ".")
            # "." is still the new root, with the old one stacked on it: step onto the old root
            # so that only its tree is made a slave (the detach must not reach the host) while
            # the container's mounts keep the propagation the config gave them (as runc does).
            posix.fchdir(old_root)
        finally:
            posix.close(old_root)
        m.mount(None, ".", None, m.MS_SLAVE | m.MS_REC)
        m.umount(".", m.MNT_DETACH)
    posix.chdir("/")


def _hide_host_proc_and_sys(rootfs: str) -> None:
    """Without pivot_root the host's mounts stay in the container's mount namespace, out of
    sight behind the chroot. The kernel lets a process that unshares a user and mount namespace
    mount a fresh proc or sysfs only while an unmasked one is mounted in its namespace, so
    detach (or, where that is not allowed, cover) every whole proc and sysfs outside the rootfs."""
    for info in mountinfo.read():
        if info.root != "/" or info.fstype not in ("proc", "sysfs") or mountinfo.is_under(info.mountpoint, rootfs):
            continue
        try:
            m.umount(info.mountpoint, m.MNT_DETACH)
        except OSError as e:
            if e.errno == errno.ENOENT:  # under a mount detached already
                continue
            if e.errno not in (errno.EINVAL, errno.EPERM):  # a locked mount (user namespace): cover it
                raise
            m.mount("tmpfs", info.mountpoint, "tmpfs", m.MS_RDONLY)


def finish(spec: Spec) -> None:
    """After pivot_root: masked paths, read-only paths, the mounts left writable until now, then
    a read-only root."""
    linux = spec.linux
    for path in (linux.masked_paths if linux else None) or []:
        mask(path)
    for path in (linux.readonly_paths if linux else None) or []:
        make_readonly(path)
    root_fd = posix.open("/", fs.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
    try:
        for entry in spec.mounts or []:
            if read_only_later(entry):
                _on_mount(root_fd, entry.destination, _remount_readonly)
    finally:
        posix.close(root_fd)
    if spec.root and spec.root.readonly:
        _remount_readonly("/")


def _remount_readonly(path: str) -> None:
    m.mount(None, path, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | _current_flags(path))


def mask(path: str) -> None:
    """Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory."""
    try:
        st = posix.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(st.st_mode):
        m.mount("tmpfs", path, "tmpfs", m.MS_RDONLY)
    else:
        m.mount("/dev/null", path, None, m.MS_BIND)


def make_readonly(path: str) -> None:
    try:
        m.mount(path, path, None, m.MS_BIND | m.MS_REC)
    except FileNotFoundError:
        return
    m.mount(None, path, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | m.MS_REC | _current_flags(path))


def _current_flags(path: str) -> int:
    """The nosuid/nodev/noexec flags a mount already has (a bind remount must repeat them)."""
    f = posix.statvfs(path).f_flag
    flags = 0
    for st_flag, ms_flag in (
        (posix.ST_NOSUID, m.MS_NOSUID),
        (posix.ST_NODEV, m.MS_NODEV),
        (posix.ST_NOEXEC, m.MS_NOEXEC),
    ):
        if f & st_flag:
            flags |= ms_flag
    return flags
