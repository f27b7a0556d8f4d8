"""--pid-file: the host PID of the container's init (create, run) or of an exec'd process.

Its own module because `exec` writes one too, and should not load `create` for it.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading import log
from lading.errors import LadingError
from lading.linux.paths import abspath, basename, dirname, join


def write(path: str, pid: int) -> None:
    """Write the pid file atomically, as podman and containerd read it right away.

    The rename replaces whatever stands at path, so a device, FIFO, socket or directory there is
    refused instead (runc's `--pid-file /dev/null` turns the host's /dev/null into a file); a
    regular file or a symlink (the link itself is replaced) is fine. The temporary file is made
    fresh, never through a link someone planted."""
    import stat

    path = abspath(path)
    tmp = join(dirname(path), f".{basename(path)}.tmp")
    try:
        try:
            mode = posix.lstat(path).st_mode
        except FileNotFoundError:
            mode = stat.S_IFREG
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise LadingError(f"--pid-file {path}: exists and is not a regular file; refusing to replace it")
        try:
            posix.unlink(tmp)
        except FileNotFoundError:
            pass
        fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW | posix.O_CLOEXEC, 0o644)
        with open(fd, "w") as f:
            f.write(str(pid))
        posix.rename(tmp, path)
    except OSError as e:
        try:
            posix.unlink(tmp)
        except OSError:
            pass
        raise LadingError(f"--pid-file {path}: {e.strerror}") from None
    log.debug("wrote pid file %s", path)
