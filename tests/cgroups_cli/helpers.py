"""Running containers for the cgroup verbs' tests, and watching them from outside."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def with_out_dir(bundle, tmp_path: Path) -> Path:
    """Bind-mount a fresh host directory at /out in the container."""
    out = tmp_path / "out"
    out.mkdir()
    bundle.config["mounts"].append({"destination": "/out", "type": "bind", "source": str(out), "options": ["bind"]})
    return out


def run_detached(lading, bundle, cid: str, script: str) -> dict[str, Any]:
    bundle.write(args=["sh", "-c", script])
    lading("run", "-d", "--bundle", str(bundle), cid)
    return lading.state(cid)


def saved_state(lading, cid: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((lading.root / cid / "state.json").read_text())
    return state


def cgroup_dirs(lading, cid: str) -> list[str]:
    cg = saved_state(lading, cid)["cgroup"]
    return [*cg["v1"].values(), *([cg["v2"]] if cg["v2"] else [])]


def cgroup_file(lading, cid: str, controller: str, name: str) -> str:
    cg = saved_state(lading, cid)["cgroup"]
    d = cg["v1"].get(controller) or cg["v2"]
    return Path(d, name).read_text().strip()


def container_pids(lading, cid: str) -> list[int]:
    pids: list[int] = json.loads(lading("ps", "--format", "json", cid).stdout)
    return pids


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def memsw_available() -> bool:
    return os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
