"""Helpers for the exec tests: a running container, and `lading exec` in the background."""

from __future__ import annotations

import subprocess
from typing import Any

from tests.conftest import Bundle
from tests.support import Lading, lading_argv, lading_env

USERNS = {
    "uidMappings": [{"containerID": 0, "hostID": 0, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 0, "size": 65536}],
}


def start(lading: Lading, bundle: Bundle, cid: str = "c1", userns: bool = False, **process: Any) -> int:
    """Run a detached container whose process sleeps; returns the init's host PID."""
    if userns:
        bundle.config["linux"]["namespaces"].append({"type": "user"})
        bundle.config["linux"].update(USERNS)
    process.setdefault("args", ["sleep", "1000"])
    bundle.write(**process)
    lading("run", "--detach", "--bundle", str(bundle), cid)
    pid: int = lading.state(cid)["pid"]
    return pid


def popen(lading: Lading, *args: str, **kw: Any) -> subprocess.Popen[str]:
    """`lading exec ARGS...` in the background."""
    return subprocess.Popen(
        [*lading_argv(), "--root", str(lading.root), "exec", *args], env=lading_env(), text=True, **kw
    )


def ns_ids(pid: int | str) -> dict[str, str]:
    """{kind: 'kind:[inode]'} of a process, read from the host."""
    import os

    kinds = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")
    return {k: os.readlink(f"/proc/{pid}/ns/{k}") for k in kinds}
