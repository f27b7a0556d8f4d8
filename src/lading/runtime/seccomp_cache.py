"""Compiled seccomp filters kept in the runtime's state root, so that containers with the same
``linux.seccomp`` do not each pay libseccomp's compile.

A Docker-size profile (the engine gives every container one) costs about 12 ms of CPU to compile,
on every ``create`` and every ``exec``; the program it compiles to depends only on what
:func:`key` digests, so the first compile is kept and later ones read it (runtime/seccomp.py's
``prepare``). It lives in the runtime layer, not the engine's, because that is where the filter
is compiled and where the input is known exactly: every ``lading create`` or ``exec`` with an
identical ``linux.seccomp`` gains, whoever wrote the bundle (the engine, podman, containerd),
and nothing has to be passed between the layers.

The key is the SHA-256 of everything the program depends on: the profile as the runtime decoded
it (default action and errno, architectures, flags, every rule: what the engine resolved against
the container's capabilities is already in it); libseccomp's version and the file it was loaded
from (path, size, mtime: a distribution's rebuild may change its system call tables and keep its
version); the kernel (release, version, machine: the flags and actions checked against it); and
this code (runtime/seccomp.py and linux/seccomp.py, path, size and mtime, as lading.precompiled
checks sources).

An entry is ``<state root>/seccomp:cache/<key>`` (the name is runtime/store.py's; ``:`` is in no
container ID, so the cache never takes one): a header naming the key, the filter flags and the
program's SHA-256, then the program exactly as libseccomp exported it (with the ENOSYS prologue):
the bytes the kernel gets either way. It is written to a temporary file and renamed, so a reader
sees no entry or a whole one.

Who can write there: the state root is the runtime's own (root's, mode 0711; a rootless user's
under XDG_RUNTIME_DIR), and whoever can write in it can already change any container's state.
Still, a filter is a container's confinement, so an entry is loaded only when the directory and
the file (a regular file, opened without following a link) are owned by this user and writable by
nobody else, and the file names the same key and carries its program's digest: a corrupted,
truncated, misplaced or foreign entry is ignored, compiled again and replaced. At most
:data:`MAX_ENTRIES` entries are kept (the oldest go first), so profiles that each container
makes up cannot fill the state root.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why
import stat

from lading import jsonlite, log
from lading.digest import sha256_hex
from lading.linux import seccomp as sc
from lading.linux.paths import dirname, makedirs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.spec.runtime_config import LinuxSeccomp

MAX_ENTRIES = 64
_MAGIC = b"lading seccomp filter 1\n"
_MAX_SIZE = 1 << 20  # far above what the kernel loads (4096 instructions of 8 bytes)


def _file_identity(path: str) -> str:
    try:
        st = posix.stat(path)
    except OSError:
        return f"{path}:?"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def key(seccomp: LinuxSeccomp) -> str:
    """The digest of everything the compiled program depends on (see the module's docstring)."""
    from lading.runtime import seccomp as compiler
    from lading.spec.model import to_builtins

    kernel = posix.uname()
    parts = [
        _MAGIC.decode(),
        jsonlite.dumps(to_builtins(seccomp)),
        ".".join(map(str, sc.version())),
        _file_identity(sc.library_file()),
        f"{kernel.release} {kernel.version} {kernel.machine}",
        _file_identity(compiler.__file__),
        _file_identity(sc.__file__),
    ]
    return sha256_hex("\n".join(parts).encode())


def _trusted(st: posix.stat_result) -> bool:
    return st.st_uid == posix.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _open_directory(directory: str) -> int | None:
    """The cache directory, if it is ours alone."""
    try:
        fd = posix.open(directory, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_NOFOLLOW | posix.O_CLOEXEC)
    except OSError:
        return None
    if _trusted(posix.fstat(fd)):
        return fd
    log.debug("seccomp cache %s: not owned by this user alone, not used", directory)
    posix.close(fd)
    return None


def load(directory: str, digest: str) -> tuple[int, bytes] | None:
    """The filter flags and program kept under digest, if there is a sound entry."""
    dir_fd = _open_directory(directory)
    if dir_fd is None:
        return None
    try:
        fd = posix.open(digest, posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_NONBLOCK | posix.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        posix.close(dir_fd)
    try:
        st = posix.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _trusted(st) or st.st_size > _MAX_SIZE:
            log.debug("seccomp cache %s/%s: not a file of this user alone, ignored", directory, digest)
            return None
        data = posix.read(fd, _MAX_SIZE + 1)
    except OSError:
        return None
    finally:
        posix.close(fd)
    found = _parse(data, digest)
    if found is None:
        log.debug("seccomp cache %s/%s: not a sound entry, ignored", directory, digest)
    return found


def _parse(data: bytes, digest: str) -> tuple[int, bytes] | None:
    if not data.startswith(_MAGIC):
        return None
    fields = data[len(_MAGIC) :].split(b"\n", 3)
    if len(fields) != 4:
        return None
    named, flags, program_digest, program = fields
    if named != digest.encode() or not flags.isdigit() or not program or len(program) % 8:
        return None
    if sha256_hex(program).encode() != program_digest:
        return None
    return int(flags), program


def store(directory: str, digest: str, flags: int, program: bytes) -> None:
    """Keep a compiled filter under digest (atomically); a failure only costs the next compile."""
    try:
        makedirs(dirname(directory), 0o711)  # the state root, as Store.reserve makes it
        posix.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        log.debug("seccomp cache %s: %s", directory, e)
        return
    dir_fd = _open_directory(directory)
    if dir_fd is None:
        return
    temporary = f".{digest}.{posix.getpid()}"
    data = b"%s%s\n%d\n%s\n%s" % (_MAGIC, digest.encode(), flags, sha256_hex(program).encode(), program)
    try:
        opening = posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW | posix.O_CLOEXEC
        fd = posix.open(temporary, opening, 0o600, dir_fd=dir_fd)
        try:
            posix.write(fd, data)
        finally:
            posix.close(fd)
        posix.rename(temporary, digest, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        _evict(dir_fd)
    except OSError as e:
        log.debug("seccomp cache %s: %s", directory, e)
        try:
            posix.unlink(temporary, dir_fd=dir_fd)
        except OSError:
            pass
    finally:
        posix.close(dir_fd)


def _evict(dir_fd: int) -> None:
    """Remove the oldest entries beyond MAX_ENTRIES (a temporary file a killed writer left counts)."""
    names = posix.listdir(dir_fd)
    if len(names) <= MAX_ENTRIES:
        return
    aged = []
    for name in names:
        try:
            aged.append((posix.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns, name))
        except FileNotFoundError:
            continue
    for _, name in sorted(aged)[: len(aged) - MAX_ENTRIES]:
        try:
            posix.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass
