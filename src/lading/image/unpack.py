"""Applying layers to a directory (image-spec layer.md), safely against hostile layers.

Every path in a layer is taken as seen from inside the container: it is cleaned lexically
(``..`` that would climb above the root is rejected; a leading ``/`` is dropped), its parent
directory is opened with openat2(RESOLVE_IN_ROOT) so that symlinks, even absolute ones or ones
planted by an earlier entry, resolve inside the target, and the last component is only ever
created, removed or changed through that parent's fd with no-follow calls. So an entry below a
symlink to ``/etc`` lands in ``DIR/etc``, a hardlink can only name a file inside DIR, and a
whiteout can only remove something inside DIR. Nothing ever writes outside DIR.

Whiteouts: ``.wh.NAME`` removes NAME from the lower layers; ``.wh..wh..opq`` empties its
directory of everything from lower layers. Both only affect lower layers, never entries of the
same layer, whatever order the entries come in. For the engine's layer store, where each layer
is its own directory and overlayfs stacks them (``overlay_whiteouts``), a whiteout is kept the
way overlayfs reads one instead: NAME as a 0:0 character device, an opaque directory as the
``trusted.overlay.opaque`` xattr. Directory mtimes are set after their layer
(writing into a directory changes its mtime).
"""

from __future__ import annotations

import collections
import errno
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from lading import log
from lading.errors import LadingError
from lading.image import tarstream as tar
from lading.linux.fs import open_in_root

# Where an unprivileged unpack records an owner it cannot give (the rootlesscontainers.com
# convention umoci follows): a protobuf ``Resource {uint32 uid = 1; uint32 gid = 2;}``.
ROOTLESS_XATTR = "user.rootlesscontainers"
_UNMAPPED_WARNED: list[str] = []  # the layer whose unmapped owners were reported: one line per command
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_DIR_CACHE = 64
_DIR = os.O_PATH | os.O_DIRECTORY


class LayerError(LadingError):
    pass


def rootless_owner(uid: int, gid: int) -> bytes:
    """The protobuf encoding of ROOTLESS_XATTR's Resource (a zero field is left out)."""
    out = bytearray()
    for tag, value in ((0x08, uid), (0x10, gid)):
        if value:
            out.append(tag)
            while value > 0x7F:
                out.append(value & 0x7F | 0x80)
                value >>= 7
            out.append(value)
    return bytes(out)


def clean(name: str, source: str) -> str:
    """``./a//b/../c`` -> ``a/c``; a path that climbs out of the root is an error."""
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise LayerError(f"{source}: entry {name!r} points outside the root directory")
            parts.pop()
        else:
            parts.append(p)
    return "/".join(parts)


@dataclass
class Unpacker:
    """Applies layers, in order, into one directory."""

    root: str
    privileged: bool = field(default_factory=lambda: os.geteuid() == 0)
    overlay_whiteouts: bool = False
    opaque_xattr: str = "trusted.overlay.opaque"  # user.overlay.opaque for overlay's userxattr mounts

    def __post_init__(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        self.rootfd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._dirs: dict[str, int] = {}
        self._stale: list[int] = []
        self._warned: set[str] = set()

    def close(self) -> None:
        self._forget()
        self._close_stale()
        os.close(self.rootfd)

    def __enter__(self) -> Unpacker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- directories ----------------------------------------------------------------------------

    def _forget(self) -> None:
        """Drop cached directory fds: something was removed or replaced, paths may mean new things.
        They are closed after the current entry, which may still be using one."""
        self._stale.extend(self._dirs.values())
        self._dirs.clear()

    def _close_stale(self) -> None:
        for fd in self._stale:
            os.close(fd)
        self._stale.clear()

    def _dir(self, path: str, source: str) -> int:
        """An fd for directory ``path`` inside the root, creating missing ones (0755, root-owned)."""
        if not path:
            return self.rootfd
        fd = self._dirs.get(path)
        if fd is not None:
            return fd
        try:
            fd = open_in_root(self.rootfd, path, _DIR)
        except FileNotFoundError:
            fd = self._make_dirs(path, source)
        except NotADirectoryError:
            raise LayerError(f"{source}: {path!r} is not a directory in the layers below") from None
        if len(self._dirs) >= _DIR_CACHE:
            self._forget()
        self._dirs[path] = fd
        return fd

    def _make_dirs(self, path: str, source: str) -> int:
        """Create the missing directories of ``path``, following symlinks (even dangling ones)
        the way the kernel would inside the root; returns an fd for the directory."""
        todo = collections.deque(path.split("/"))
        real: list[str] = []  # the resolved path so far: no symlinks in it
        hops = 0
        while todo:
            part = todo.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if real:
                    real.pop()
                continue
            cur = open_in_root(self.rootfd, "/".join(real), _DIR)
            try:
                try:
                    st = os.stat(part, dir_fd=cur, follow_symlinks=False)
                except FileNotFoundError:
                    os.mkdir(part, 0o755, dir_fd=cur)
                    real.append(part)
                    continue
                if stat.S_ISLNK(st.st_mode):
                    hops += 1
                    if hops > 40:
                        raise LayerError(f"{source}: {path!r}: too many levels of symlinks")
                    target = os.readlink(part, dir_fd=cur)
                    if target.startswith("/"):
                        real = []
                    todo.extendleft(reversed(target.split("/")))
                elif stat.S_ISDIR(st.st_mode):
                    real.append(part)
                else:
                    raise LayerError(f"{source}: {path!r}: {'/'.join([*real, part])!r} is not a directory")
            finally:
                os.close(cur)
        return open_in_root(self.rootfd, "/".join(real), _DIR)

    def _remove(self, pfd: int, base: str) -> None:
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        self._forget()
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(base, dir_fd=pfd)
        else:
            os.unlink(base, dir_fd=pfd)

    # --- layers ---------------------------------------------------------------------------------

    def apply(self, blob: IO[bytes], compression: str, source: str, diff_id: str = "") -> str:
        """Apply one layer; returns its DiffID, checked against ``diff_id`` if given."""
        src = tar.LayerSource(blob, compression, source)
        written: set[str] = set()
        dir_times: list[tuple[str, int, int]] = []  # (path, mode, mtime_ns)
        old_umask = os.umask(0)
        try:
            for entry in tar.entries(src):
                self._entry(src, entry, source, written, dir_times)
                self._close_stale()
            actual = src.drain()
        finally:
            os.umask(old_umask)
            src.close()
            self._forget()
            self._close_stale()
        self._finish_dirs(dir_times)
        if diff_id and actual != diff_id:
            raise LayerError(f"{source}: uncompressed content is {actual}, but the image config says {diff_id}")
        return actual

    def _entry(
        self,
        src: tar.LayerSource,
        e: tar.Entry,
        source: str,
        written: set[str],
        dir_times: list[tuple[str, int, int]],
    ) -> None:
        path = clean(e.name, source)
        parent, _, base = path.rpartition("/")
        if base.startswith(WHITEOUT):
            src.skip(e.size)
            self._whiteout(path, parent, base, source, written)
            return
        if not path:  # the root directory itself
            src.skip(e.size)
            if e.type == tar.DIRECTORY:
                self._attrs(self.rootfd, None, e, source, set_mode=self.privileged)
                dir_times.append(("", e.mode, e.mtime_ns))
            return
        pfd = self._dir(parent, source)
        written.add(path)
        if e.type == tar.REGULAR:
            self._file(src, pfd, base, e, source)
        elif e.type == tar.DIRECTORY:
            self._mkdir(pfd, base, path, e, source)
            dir_times.append((path, e.mode, e.mtime_ns))
        elif e.type == tar.SYMLINK:
            self._create(pfd, base, lambda: os.symlink(e.linkname, base, dir_fd=pfd))
            self._attrs(pfd, base, e, source)
        elif e.type == tar.HARDLINK:
            target = clean(e.linkname, source)
            if not target:
                raise LayerError(f"{source}: hardlink {e.name!r} to the root directory")
            tparent, _, tbase = target.rpartition("/")
            tfd = self._dir(tparent, source)
            try:
                self._create(
                    pfd,
                    base,
                    lambda: os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False),
                )
            except FileNotFoundError:
                raise LayerError(f"{source}: hardlink {e.name!r} to {e.linkname!r}, which does not exist") from None
            except PermissionError:
                raise LayerError(f"{source}: hardlink {e.name!r} to {e.linkname!r}: not a linkable file") from None
        elif e.type in (tar.CHAR, tar.BLOCKDEV, tar.FIFO):
            if e.type != tar.FIFO and not self.privileged:
                self._warn("device", f"{source}: skipping device nodes (they need root), e.g. {e.name!r}")
                return
            kind = {tar.CHAR: stat.S_IFCHR, tar.BLOCKDEV: stat.S_IFBLK, tar.FIFO: stat.S_IFIFO}[e.type]
            dev = os.makedev(e.devmajor, e.devminor)
            self._create(pfd, base, lambda: os.mknod(base, kind | e.mode, dev, dir_fd=pfd))
            self._attrs(pfd, base, e, source)
        else:
            src.skip(e.size)
            self._warn(e.type, f"{source}: skipping {e.name!r} of unsupported tar type {e.type!r}")

    def _warn(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg)

    def _create(self, pfd: int, base: str, make: Callable[[], None]) -> None:
        """Run ``make``; if the name is taken, remove what is there (never following it) and retry."""
        try:
            make()
        except FileExistsError:
            self._remove(pfd, base)
            make()

    def _file(self, src: tar.LayerSource, pfd: int, base: str, e: tar.Entry, source: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(base, flags, 0o600, dir_fd=pfd)
        except FileExistsError:
            self._remove(pfd, base)
            fd = os.open(base, flags, 0o600, dir_fd=pfd)
        try:
            tar.copy_to_fd(src, fd, e.size)
            self._attrs(fd, None, e, source)
        finally:
            os.close(fd)

    def _mkdir(self, pfd: int, base: str, path: str, e: tar.Entry, source: str) -> None:
        try:
            os.mkdir(base, 0o700, dir_fd=pfd)
        except FileExistsError:
            if not stat.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode):
                self._remove(pfd, base)
                os.mkdir(base, 0o700, dir_fd=pfd)
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self._attrs(fd, None, e, source, set_mode=self.privileged)
            if not self.privileged:
                os.fchmod(fd, e.mode | 0o700)  # keep it writable until the layer is done
        except BaseException:
            os.close(fd)
            raise
        if len(self._dirs) >= _DIR_CACHE:
            self._forget()
        old = self._dirs.pop(path, None)
        if old is not None:
            os.close(old)
        self._dirs[path] = fd

    def _attrs(self, fd: int, base: str | None, e: tar.Entry, source: str, set_mode: bool = True) -> None:
        """Owner, then mode (chown clears setuid), then xattrs, then times: on ``fd``, or on
        ``base`` in directory ``fd`` without following it when ``base`` is given."""
        if self.privileged:
            try:
                if base is None:
                    os.fchown(fd, e.uid, e.gid)
                else:
                    os.chown(base, e.uid, e.gid, dir_fd=fd, follow_symlinks=False)
            except OSError as err:
                if err.errno != errno.EINVAL:
                    raise
                # root of a user namespace that maps only its own ids (the rootless engine without
                # subordinate ids): the file stays root's, said once for the whole command
                if not _UNMAPPED_WARNED:
                    _UNMAPPED_WARNED.append(source)
                    log.warning(
                        f"{source}: owner {e.uid}:{e.gid} of {e.name!r} (and any other but root) is not mapped in "
                        "this user namespace (no subordinate ids: /etc/subuid, /etc/subgid, newuidmap): such files "
                        "are root's"
                    )
        xattrs = e.xattrs
        if not self.privileged and (e.uid or e.gid) and e.type != tar.SYMLINK:  # no user xattrs on a symlink
            xattrs = {**xattrs, ROOTLESS_XATTR: rootless_owner(e.uid, e.gid)}
            self._warn(
                "owner",
                f"{source}: not root: owners other than root are recorded in {ROOTLESS_XATTR} xattrs, "
                f"the files are this user's (e.g. {e.name!r})",
            )
        if base is None and set_mode:
            os.fchmod(fd, e.mode)
        for key, value in xattrs.items():
            try:
                if base is None:
                    os.setxattr(fd, key, value)
                else:
                    os.setxattr(f"/proc/self/fd/{fd}/{base}", key, value, follow_symlinks=False)
            except OSError as err:
                if err.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                    raise LayerError(f"{source}: {e.name!r}: cannot set xattr {key}: {err.strerror}") from None
                self._warn(f"xattr {key}", f"{source}: cannot set xattr {key} here ({err.strerror}); skipped")
        if e.type != tar.DIRECTORY:
            if base is None:
                os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))
            else:
                os.utime(base, ns=(e.mtime_ns, e.mtime_ns), dir_fd=fd, follow_symlinks=False)

    def _whiteout(self, path: str, parent: str, base: str, source: str, written: set[str]) -> None:
        if self.overlay_whiteouts:
            self._overlay_whiteout(path, parent, base, source, written)
            return
        if base == OPAQUE:
            try:
                pfd = open_in_root(self.rootfd, parent, os.O_RDONLY | os.O_DIRECTORY)
            except (FileNotFoundError, NotADirectoryError):
                return
            try:
                prefix = f"{parent}/" if parent else ""
                for name in os.listdir(pfd):
                    if prefix + name not in written:
                        self._remove(pfd, name)
            finally:
                os.close(pfd)
            return
        if base.startswith(WHITEOUT + WHITEOUT):
            return  # other AUFS metadata (.wh..wh.plnk and such): not content
        name = base[len(WHITEOUT) :]
        if name in ("", ".", ".."):
            raise LayerError(f"{source}: whiteout {path!r} names no file")
        target = f"{parent}/{name}" if parent else name
        if target in written:
            return  # a whiteout hides lower layers only, never its own layer
        try:
            pfd = open_in_root(self.rootfd, parent, _DIR)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            self._remove(pfd, name)
        finally:
            os.close(pfd)

    def _overlay_whiteout(self, path: str, parent: str, base: str, source: str, written: set[str]) -> None:
        pfd = self._dir(parent, source)
        if base == OPAQUE:
            os.setxattr(f"/proc/self/fd/{pfd}", self.opaque_xattr, b"y")
            return
        name = base[len(WHITEOUT) :]
        if base.startswith(WHITEOUT + WHITEOUT) or (f"{parent}/{name}" if parent else name) in written:
            return
        if name in ("", ".", ".."):
            raise LayerError(f"{source}: whiteout {path!r} names no file")
        self._create(pfd, name, lambda: os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd))

    def _finish_dirs(self, dir_times: list[tuple[str, int, int]]) -> None:
        for path, mode, mtime_ns in reversed(dir_times):
            try:
                fd = open_in_root(self.rootfd, path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except OSError:
                continue  # removed or replaced later in the layer
            try:
                if not self.privileged:
                    os.fchmod(fd, mode)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(fd)
