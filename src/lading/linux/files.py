"""Whole small files (/proc, cgroup files, state records) and pipes read to their end, with posix
calls only; and os.path.exists, which the light verbs need too (the rest of os.path is
linux/paths.py, which only the verbs that make a container or a process load).

A buffered file object costs an fstat, an ioctl and an lseek per open (and a text one a codec
lookup), and ``os`` costs its import: the runtime's light verbs (state, list, delete: see
runtime/store.py) and the engine's monitor and its setup child (engine/monitor_process.py) import
neither, so the readers they share live here, below everything that reads.
"""

from __future__ import annotations

import posix

_CHUNK = 65536


def read_to_end(fd: int) -> bytes:
    """Everything until end of file (for a pipe: until every writer is gone)."""
    chunks = []
    while chunk := posix.read(fd, _CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def read_file(path: str) -> bytes:
    """A whole file; a failure names the path, as open()'s does (reading a directory, say)."""
    fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        return read_to_end(fd)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None
    finally:
        posix.close(fd)


def exists(path: str) -> bool:
    """os.path.exists(path)."""
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True
