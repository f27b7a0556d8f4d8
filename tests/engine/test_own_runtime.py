"""lading's runtime called in-process by the engine (engine/own_runtime.py) leaves what the
`lading` command would: its state under the runtime's --root, which `lading state` and `lading
list` read; the container's init is its monitor's child (re-parented from the create child the
monitor forked), and `rm` leaves no runtime state."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.engine.conftest import BUSYBOX
from tests.engine.support import Engine
from tests.support import lading_argv, lading_env


def _runtime(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    root = engine.run_root / "runtimes" / "lading"
    argv = [*lading_argv(), "--root", str(root), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=lading_env(), timeout=60, check=True)


def test_the_runtime_state_is_the_commands(engine: Engine) -> None:
    cid = engine("run", "-d", BUSYBOX, "sleep", "600").stdout.strip()
    record = engine.record(cid)["State"]
    state = json.loads(_runtime(engine, "state", cid).stdout)
    assert (state["id"], state["status"], state["pid"]) == (cid, "running", record["Pid"])
    assert _runtime(engine, "list", "-q").stdout.split() == [cid]
    status = Path(f"/proc/{record['Pid']}/status").read_text()
    assert f"\nPPid:\t{record['MonitorPid']}\n" in status
    engine("rm", "-f", cid)
    assert _runtime(engine, "list", "-q").stdout.split() == []
