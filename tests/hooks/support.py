"""A recording hook: a sh script (run by the host's sh or the container's busybox) that leaves
one directory per call with what it saw: its stdin, command line, environment, mount and PID
namespaces, and the output of a probe command; and appends its name to a shared order file."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from tests.conftest import Bundle

RECORD_SCRIPT = r"""#!/bin/sh
# record NAME DIR [PROBE [PROC]]: PROC is a procfs of the hook's own PID namespace, when /proc is not
name=$1
d="$2/$name"
mkdir -p "$d"
echo "$name" >> "$2/order"
cat > "$d/stdin"
tr '\0' '\n' < "${4:-/proc}/$$/cmdline" > "$d/cmdline"
env > "$d/env"
readlink /proc/self/ns/mnt > "$d/mnt"
readlink /proc/self/ns/pid > "$d/pidns"
pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$d/stdin")
if [ -n "$3" ]; then eval "$3" > "$d/probe" 2>&1; fi
exit 0
"""
IN_CONTAINER_SCRIPT = "/record-hook.sh"
IN_CONTAINER_LOG = "/hooklog"
KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
HOOK_ENV = ["HOOK_VAR=a value with spaces", "OTHER=2"]


def unique_id() -> str:
    return f"hk-{secrets.token_hex(4)}"


class Recorder:
    """Hooks that record into ``log`` (bound into the container at /hooklog for startContainer)."""

    def __init__(self, tmp: Path, bundle: Bundle) -> None:
        self.log = tmp / "hooklog"
        self.log.mkdir(mode=0o777)
        self.log.chmod(0o777)
        self.rootfs = bundle.rootfs
        self.script = tmp / "record-hook.sh"
        self.script.write_text(RECORD_SCRIPT)
        self.script.chmod(0o755)
        inside = bundle.rootfs / IN_CONTAINER_SCRIPT.lstrip("/")
        shutil.copy(self.script, inside)
        inside.chmod(0o755)
        bundle.config["mounts"].append(
            {"destination": IN_CONTAINER_LOG, "type": "bind", "source": str(self.log), "options": ["rbind"]}
        )

    def hook(self, kind: str, name: str, probe: str = "", env: list[str] | None = None) -> dict[str, Any]:
        """A hook entry for ``kind``: container-side paths for startContainer (path resolved in
        the container), the host script's own path for createContainer (resolved in the runtime
        namespace), and /bin/sh with a custom argv[0] for the rest."""
        if kind == "startContainer":
            hook: dict[str, Any] = {
                "path": IN_CONTAINER_SCRIPT,
                "args": ["record-hook.sh", name, IN_CONTAINER_LOG, probe],
            }
        elif kind == "createContainer":
            # /proc is still the host's here; the container's is mounted in the rootfs
            proc = os.path.realpath(self.rootfs / "proc")
            hook = {"path": str(self.script), "args": ["record-hook.sh", name, str(self.log), probe, proc]}
        else:
            hook = {
                "path": "/bin/sh",
                "args": [f"argv0-{name}", str(self.script), name, str(self.log), probe],
            }
        if env is not None:
            hook["env"] = env
        return hook

    def order(self) -> list[str]:
        path = self.log / "order"
        return path.read_text().split() if path.exists() else []

    def stdin(self, name: str) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.log / name / "stdin").read_text())
        return state

    def read(self, name: str, what: str) -> str:
        return (self.log / name / what).read_text()

    def env(self, name: str) -> dict[str, str]:
        lines = self.read(name, "env").splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


def failing_hook(kind: str, status: int = 3) -> dict[str, Any]:
    """A hook that says why on stderr and exits ``status``."""
    return {"path": "/bin/sh", "args": ["sh", "-c", f"echo {kind} went wrong >&2; exit {status}"]}


def namespaces(pid: int | str) -> tuple[str, str]:
    return os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink(f"/proc/{pid}/ns/pid")


def cgroup_dirs(cid: str) -> list[str]:
    """Any cgroup directory of the container's default path (/lading-[ROOTHASH-]ID) in any hierarchy."""
    found = {str(p) for p in Path("/sys/fs/cgroup").glob(f"*/lading-*{cid}")}
    found |= {str(p) for p in Path("/sys/fs/cgroup").glob(f"lading-*{cid}")}
    return sorted(found)


def processes_with_args(*args: str) -> list[int]:
    """PIDs of live processes whose command line is exactly ``args``."""
    want = ("\0".join(args) + "\0").encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/cmdline").read_bytes() == want:
                    found.append(int(entry))
            except OSError:
                continue
    return found
