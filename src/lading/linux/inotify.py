"""inotify(7): be woken when a file in a directory changes, instead of polling it.

`logs -f` watches the log's directory: a write to the log, and the rename or removal and
re-creation that rotation does, all arrive as events on that one watch, with the file's name.
"""

from __future__ import annotations

import os
import struct

from lading.linux.libc import check, libc

IN_MODIFY = 0x002
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200

_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name


class Inotify:
    def __init__(self) -> None:
        self.fd = check(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC), "inotify_init1")

    def watch(self, path: str, mask: int) -> int:
        return check(libc.inotify_add_watch(self.fd, os.fsencode(path), mask), f"inotify_add_watch {path}")

    def read(self) -> list[tuple[int, str]]:
        """The (mask, name) of every event queued so far; [] if none."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        events = []
        offset = 0
        while offset < len(data):
            _, mask, _, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = data[offset : offset + length].rstrip(b"\0")
            events.append((mask, os.fsdecode(name)))
            offset += length
        return events

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
