"""The state store: one directory per container under the runtime root, e.g. /run/lading/ID/.

``state.json`` holds what later verbs need (init PID and start time, bundle, the config as it was at
create time, cgroup paths); ``exec.fifo`` exists from create until start, and its presence is what
makes a live container ``created`` rather than ``running``. Every verb that changes a container
holds an flock on its directory, so concurrent verbs on one container are serialised.

The verbs that only read or signal a container (state, list, kill, start, delete) are one fresh
process each, so this module makes its system calls through ``posix``, not ``os``: importing os
builds some thirty abstract base classes (``_collections_abc``), about 1 ms, a tenth of `state`.
Nor do create, run and exec: the functions of os.path (and os.makedirs) that they use are in
linux/paths.py, which these verbs do not load.
"""

from __future__ import annotations

import posix

from lading import jsonlite
from lading.errors import LadingError, NotFoundError
from lading.linux.files import exists, read_file
from lading.runtime.container_state import ContainerState

STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
# What the init writes to exec.fifo once nothing of lading's is left to fail before the execve
# (runtime/init.py): `start` returns on it (runtime/lifecycle.py). Never the first byte of an error.
EXECVE_NEXT = b"\x01"
SECCOMP_CACHE = "seccomp:cache"  # compiled seccomp filters (runtime/seccomp_cache.py)
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-")


def validate_id(cid: str) -> None:
    """Container IDs name a directory, so they must be one safe path component (like runc)."""
    if not cid:
        raise LadingError("container id cannot be empty")
    if cid in (".", "..") or not _ID_CHARS.issuperset(cid) or len(cid) > 255:
        raise LadingError(f"invalid container id {cid!r}: use 1-255 of [A-Za-z0-9_+.-], not . or ..")


class Lock:
    """An flock held on a container's directory until released (or the process exits)."""

    def __init__(self, fd: int, path: str) -> None:
        self.fd = fd
        self.path = path

    def release(self) -> None:
        if self.fd >= 0:
            posix.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def absolute(path: str) -> str:
    """os.path.abspath(path), without loading linux/paths when the path is absolute and already
    normal (no empty, ``.`` or ``..`` component, no trailing slash): the usual --root."""
    if path == "/" or (path.startswith("/") and all(p not in ("", ".", "..") for p in path[1:].split("/"))):
        return path
    from lading.linux.paths import abspath

    return abspath(path)


class Store:
    def __init__(self, root: str) -> None:
        self.root = absolute(root)

    def seccomp_cache(self) -> str:
        """Where compiled seccomp filters are kept (runtime/seccomp_cache.py): a name no
        container ID can take. Named here, not imported from there: that module (and libseccomp's
        bindings, SHA-256) loads only for a config with ``linux.seccomp``."""
        return self.root.rstrip("/") + "/" + SECCOMP_CACHE

    def dir(self, cid: str) -> str:
        validate_id(cid)
        return self.root.rstrip("/") + "/" + cid  # os.path.join: cid has no slash

    def file(self, cid: str, name: str) -> str:
        """The path of file ``name`` (STATE_FILE, EXEC_FIFO) in the container's directory."""
        return f"{self.dir(cid)}/{name}"

    def reserve(self, cid: str) -> Lock:
        """Create and lock a new container directory; fail if the ID is taken."""
        from lading.linux.paths import makedirs  # create only

        path = self.dir(cid)
        makedirs(self.root, 0o711)
        try:
            posix.mkdir(path, 0o711)
        except FileExistsError:
            raise LadingError(f"container with id exists: {cid}") from None
        return self._flock(path)

    def lock(self, cid: str) -> Lock:
        """Lock an existing container; NotFoundError if it does not exist (or vanished meanwhile)."""
        path = self.dir(cid)
        try:
            lock = self._flock(path)
        except FileNotFoundError:
            raise NotFoundError(f"container does not exist: {cid}") from None
        if not exists(self.file(cid, STATE_FILE)):
            lock.release()
            raise NotFoundError(f"container does not exist: {cid}")
        return lock

    @staticmethod
    def _flock(path: str) -> Lock:
        import fcntl  # the verbs that change a container: state, list and kill take no lock

        fd = posix.open(path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            posix.close(fd)
            raise
        return Lock(fd, path)

    def load(self, cid: str) -> ContainerState:
        try:
            data = jsonlite.loads(read_file(self.file(cid, STATE_FILE)))
        except FileNotFoundError:
            raise NotFoundError(f"container does not exist: {cid}") from None
        except ValueError as e:
            raise LadingError(f"{cid}: corrupt state file: {e}") from None
        return ContainerState.from_json(cid, data)

    def save(self, state: ContainerState) -> None:
        """Write state.json atomically (write a temp file, then rename over)."""
        path = self.file(state.id, STATE_FILE)
        tmp = path + ".tmp"
        data = jsonlite.dumps(state.to_json()).encode()
        fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o666)
        try:
            while data:  # a buffered file's codec and buffer are not needed for one write
                data = data[posix.write(fd, data) :]
        finally:
            posix.close(fd)
        posix.rename(tmp, path)

    def remove(self, cid: str) -> None:
        path = self.dir(cid)
        try:
            names = posix.listdir(path)
        except FileNotFoundError:
            return
        for name in names:
            try:
                posix.unlink(f"{path}/{name}")
            except FileNotFoundError:
                pass
        try:
            posix.rmdir(path)
        except FileNotFoundError:
            pass

    def ids(self) -> list[str]:
        try:
            with posix.scandir(self.root) as entries:
                return sorted(e.name for e in entries if _is_dir(e))
        except FileNotFoundError:
            return []


def _is_dir(entry: posix.DirEntry[str]) -> bool:
    """os.path.isdir of the entry (a symlink to a directory counts)."""
    try:
        return entry.is_dir()
    except OSError:
        return False
