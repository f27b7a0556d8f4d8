"""/proc/self/mountinfo as records: what is mounted where, from which root, and how it propagates.

The runtime reads it to find the cgroup hierarchies, the mount that holds a rootfs (pivot_root
refuses a shared one) and, for --no-pivot, the proc and sysfs mounts it must hide. No ctypes here:
`lading spec` reads the cgroup layout and should not pay for loading libc.
"""

from __future__ import annotations

from lading.linux.files import read_file
from lading.record import Record

MOUNTINFO = "/proc/self/mountinfo"


class MountInfo(Record):
    root: str  # the directory of the filesystem that is mounted ("/" for a whole filesystem)
    mountpoint: str
    tags: tuple[str, ...]  # optional fields: "shared:N", "master:N", "propagate_from:N", "unbindable"
    fstype: str
    options: str  # the superblock's options

    @property
    def shared(self) -> bool:
        return any(t.startswith("shared:") for t in self.tags)


def unescape(s: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and len(s[i + 1 : i + 4]) == 3 and s[i + 1 : i + 4].isdigit():
            out.append(chr(int(s[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse(text: str) -> list[MountInfo]:
    """Every mount of a mountinfo file, in the file's order (parents before children)."""
    found: list[MountInfo] = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if len(fields) < sep + 4:
            continue
        found.append(
            MountInfo(unescape(fields[3]), unescape(fields[4]), tuple(fields[6:sep]), fields[sep + 1], fields[sep + 3])
        )
    return found


def read() -> list[MountInfo]:
    return parse(read_file(MOUNTINFO).decode())


def read_holding(path: str) -> MountInfo:
    """``holding(read(), path)``, with a record made only for the first mount (holding's
    fallback) and the mounts on ``path`` or one of its parents: making a record is most of the
    cost of a line, and the container's init asks this once, on its way to its first mount."""
    found: list[MountInfo] = []
    for line in read_file(MOUNTINFO).decode().splitlines():
        fields = line.split(maxsplit=5)
        if found and (len(fields) < 5 or not is_under(path, unescape(fields[4]))):
            continue
        found.extend(parse(line))
    return holding(found, path)


def holding(mounts: list[MountInfo], path: str) -> MountInfo:
    """The mount that ``path`` (absolute, symlinks resolved) lies on: the last one mounted on the
    longest mountpoint that is ``path`` or one of its parents."""
    best = mounts[0]
    for m in mounts:
        if is_under(path, m.mountpoint) and len(m.mountpoint) >= len(best.mountpoint):
            best = m
    return best


def is_under(path: str, directory: str) -> bool:
    """``path`` is ``directory`` or below it."""
    return directory == "/" or path == directory or path.startswith(directory.rstrip("/") + "/")
