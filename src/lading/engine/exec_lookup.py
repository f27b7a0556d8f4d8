"""Look up an exec's command in the running container before the runtime is asked to run it.

The engine hands `container exec` over to the runtime's exec (it replaces itself), so it never sees
that runtime fail, and a runtime failure exits 255; docker's clients tell a command that is not
there (127) from one that cannot be run (126). So the engine looks the command up first, as the
runtime will: in the PATH the process gets, a name with a slash from its working directory, and
inside the container's own root as its init sees it (``/proc/PID/root``, volumes included), each
path resolved with RESOLVE_IN_ROOT so no symlink in the container leads out of it.
"""

from __future__ import annotations

import os
import stat

from lading.errors import LadingError
from lading.linux.fs import open_in_root


def check_command(pid: int, name: str, path: str, cwd: str) -> None:
    """Raise the runtime's own words when ``name`` is missing (not found, no such file) or cannot
    be run (permission denied: not executable, or a directory); a root that cannot be opened (the
    init just gone) is left to the runtime to report."""
    try:
        root = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if "/" in name:
            st = _stat(root, os.path.join(cwd, name))
            if st is None:
                raise LadingError(f'exec: "{name}": stat {name}: no such file or directory')
            if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
                raise LadingError(f'exec: "{name}": permission denied')
            return
        for directory in path.split(":"):
            st = _stat(root, os.path.join(cwd, directory or ".", name))
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
                return
        raise LadingError(f'exec: "{name}": executable file not found in $PATH')
    finally:
        os.close(root)


def _stat(root: int, path: str) -> os.stat_result | None:
    try:
        fd = open_in_root(root, path)
    except OSError:
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)
