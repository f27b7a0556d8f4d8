"""Reading, writing, creating and removing cgroup directories, and moving processes into them.

Every failure becomes one LadingError line naming the file and the kernel's reason, because a
refused cgroup write (an out-of-range limit, a controller that is not enabled) is usually the
user's configuration talking.
"""

from __future__ import annotations

import errno
import posix  # not os (runtime/store.py says why): state, list and delete read and remove cgroups
import time

from lading.errors import LadingError
from lading.linux.files import read_file


def _join(directory: str, name: str) -> str:
    """os.path.join(directory, name) for a file name."""
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


class Busy(LadingError):
    """The kernel refused a write as busy (EBUSY), e.g. a process into a cgroup2 cgroup that has
    controllers enabled for its children ("no internal processes", cgroup-v2.rst)."""


def write(directory: str, name: str, value: str) -> None:
    path = _join(directory, name)
    try:
        fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC)
    except OSError as e:
        raise LadingError(f"cgroup: cannot open {path}: {e.strerror}") from None
    try:
        posix.write(fd, value.encode())
    except OSError as e:
        error = Busy if e.errno == errno.EBUSY else LadingError
        raise error(f"cgroup: cannot write {value!r} to {path}: {e.strerror}") from None
    finally:
        posix.close(fd)


def read(directory: str, name: str) -> str:
    path = _join(directory, name)
    try:
        return read_text(path)
    except OSError as e:
        raise LadingError(f"cgroup: cannot read {path}: {e.strerror}") from None


def read_optional(directory: str, name: str) -> str | None:
    """The file's text, or None when the file does not exist (a controller or kernel feature is absent)."""
    try:
        return read_text(_join(directory, name))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENODEV):
            return None
        raise LadingError(f"cgroup: cannot read {_join(directory, name)}: {e.strerror}") from None


def read_text(path: str) -> str:
    """A small file's text (cgroup and /proc files): posix calls, without the fstat, ioctl and
    lseek and the codec lookup of a buffered text file."""
    return read_file(path).decode()


def parse_uint(text: str) -> int:
    """A cgroup integer; "max" (v2 unlimited) reads as 0 like runc's stats do."""
    text = text.strip()
    return 0 if text == "max" else int(text)


def parse_flat_keyed(text: str) -> dict[str, int]:
    """Files of ``key value`` lines (memory.stat, cpu.stat, memory.events, ...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = parse_uint(parts[1])
            except ValueError:
                continue
    return out


def make(directory: str, copy_from_parent: tuple[str, ...] = ()) -> list[str]:
    """Create ``directory`` and missing parents; returns the directories it created, top first.

    ``copy_from_parent`` names files that start out empty in a new cgroup and must be filled in
    before a process can join (v1 cpuset.cpus and cpuset.mems): each empty one on the way down,
    in a cgroup made now or one someone made and left empty, gets its parent's value.
    """
    from lading.linux.paths import dirname  # create only

    created: list[str] = []
    for _ in range(_MAKE_ATTEMPTS):
        try:
            _make_missing(directory, created)
            break
        except FileNotFoundError:  # a parent was removed meanwhile (the engine drops its empty one)
            continue
    else:
        raise LadingError(f"cgroup: cannot create {directory}: its parent keeps disappearing")
    for name in copy_from_parent:
        empty: list[str] = []
        d = directory
        while not read(d, name).strip():  # the hierarchy's root always has a value
            empty.append(d)
            d = dirname(d)
        for d in reversed(empty):
            write(d, name, read(dirname(d), name).strip())
    return created


_MAKE_ATTEMPTS = 5


def _make_missing(directory: str, created: list[str]) -> None:
    """mkdir of directory and its missing parents, top first, appending each made to created; a
    parent removed between the check and the mkdir below it raises FileNotFoundError."""
    from lading.linux.paths import dirname, isdir  # create only

    missing: list[str] = []
    d = directory
    while not isdir(d):
        missing.append(d)
        parent = dirname(d)
        if parent == d:
            break
        d = parent
    for d in reversed(missing):
        try:
            posix.mkdir(d, 0o755)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise
        except OSError as e:
            raise LadingError(f"cgroup: cannot create {d}: {e.strerror}") from None
        created.append(d)


def add_process(directory: str, pid: int) -> None:
    """Move process ``pid`` (0: the caller) with all its threads into the cgroup. The kernel takes
    its global lock on every thread group for this, which waits for an RCU grace period: 8-20 ms
    on cgroup2 and, for the first such write in a while, on v1 (Linux 6.18)."""
    write(directory, "cgroup.procs", str(pid))


def add_calling_thread(directory: str) -> None:
    """Move the calling thread into a cgroup v1 directory ("0" in ``tasks``): the whole process
    when it has no other thread. A thread that moves itself spares the kernel that global lock:
    0.06 ms where the same process writing "0" to ``cgroup.procs`` waits 8-9 ms (Linux 6.18)."""
    write(directory, "tasks", "0")


def procs(directory: str, recursive: bool = True) -> list[int]:
    """The processes in the cgroup (and its descendants); an absent cgroup has none."""
    found: list[int] = []
    dirs = [directory]
    while dirs:
        d = dirs.pop()
        text = read_optional(d, "cgroup.procs")
        if text is None:
            continue
        found.extend(int(p) for p in text.split())
        if recursive:
            try:
                dirs.extend(e.path for e in posix.scandir(d) if e.is_dir(follow_symlinks=False))
            except OSError:
                pass
    return found


def remove(directory: str, timeout: float = 5.0) -> None:
    """Remove the cgroup and any sub-cgroups, retrying while exiting tasks drain out."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            _remove_tree(directory)
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise LadingError(f"cgroup: cannot remove {e.filename or directory}: {e.strerror}") from None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _remove_tree(directory: str) -> None:
    try:
        posix.rmdir(directory)  # the usual cgroup, with no sub-cgroups: no listing
        return
    except FileNotFoundError:
        return
    except OSError as e:
        if e.errno != errno.EBUSY:  # what the kernel says of a cgroup with sub-cgroups (or tasks)
            raise
    try:
        entries = [e.path for e in posix.scandir(directory) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for sub in entries:
        _remove_tree(sub)
    try:
        posix.rmdir(directory)
    except FileNotFoundError:
        pass
