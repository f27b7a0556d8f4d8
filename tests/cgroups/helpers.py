"""Start a process inside a cgroup before it runs anything of interest."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from lading.linux.cgroups.cgroup import Cgroup

# ``python WITHOUT_CLONE3 COMMAND...``: the command runs where clone3 fails with ENOSYS
WITHOUT_CLONE3 = str(Path(__file__).with_name("without_clone3.py"))


def start_in(cg: Cgroup, script: str, **kw: object) -> subprocess.Popen[str]:
    """Run ``sh -c script`` with the cgroup joined first (the shell waits for a line on stdin)."""
    p = subprocess.Popen(
        ["sh", "-c", f"read _; {script}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[call-overload]
    )
    cg.add(p.pid)
    assert p.stdin is not None
    p.stdin.write("\n")
    p.stdin.close()
    p.stdin = None
    return p


def parse(text: str) -> dict[str, str]:
    """A /proc/PID/cgroup text as {hierarchy ("" for cgroup2): path}, without named hierarchies
    (name=systemd: runc moves a process there, lading leaves it to systemd)."""
    found = {}
    for line in text.splitlines():
        _, names, path = line.split(":", 2)
        if not names.startswith("name="):
            found[names] = path
    return found


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_for(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False
