"""Run a command under a child subreaper, as conmon or a containerd shim runs a runtime:
``python subreaper.py COMMAND ARGS...``. Exits with the command's status, after writing to stderr
a line ``left: PID...`` if the command left processes to it (re-parented here when the command
exited: live ones or zombies it never reaped), each then killed and reaped."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from lading.linux import prctl


def children() -> list[int]:
    """This process's children, zombies included."""
    return [int(pid) for pid in Path(f"/proc/self/task/{os.getpid()}/children").read_text().split()]


def main() -> int:
    prctl.set_child_subreaper()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(sys.argv[1], sys.argv[1:])
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    left = children()
    if left:
        sys.stderr.write(f"left: {' '.join(map(str, left))}\n")
    for child in left:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
