"""Where the engine keeps things: the storage root (survives reboots) and the run root (does not),
and the OCI runtime a container is run with (docs/engine.md has the tree)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from lading import boot
from lading.engine import own_runtime
from lading.engine.containers import ContainerStore
from lading.engine.layers import LayerStore
from lading.errors import LadingError

DEFAULT_STORAGE_ROOT = "/var/lib/lading"
DEFAULT_RUN_ROOT = "/run/lading-engine"


def boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def runtime_path(runtime: str) -> str:
    """``lading`` (this program), a runtime's name on PATH (runc, crun) or a path to one."""
    if runtime == own_runtime.NAME:
        return runtime
    found = shutil.which(runtime) if "/" not in runtime else (runtime if os.access(runtime, os.X_OK) else None)
    if not found:
        raise LadingError(f"unknown or invalid runtime name: {runtime}")
    return os.path.abspath(found)


class Roots:
    def __init__(self, storage: Path, run: Path) -> None:
        self.storage = storage
        self.run = run
        self.containers = ContainerStore(self.storage)
        self.layers = LayerStore(self.storage)

    def run_dir(self, cid: str) -> Path:
        return self.run / "containers" / cid

    def lading(self, *args: str) -> list[str]:
        """This program, for the monitor to run later (its exit command, the default runtime),
        started as cli/launcher.py's launcher does: ``python -I -S`` with lading's and msgspec's
        directories put on sys.path, so each runtime verb skips site processing, and lading's
        modules from the precompiled file install.sh's launcher built."""
        return [sys.executable, "-I", "-S", "-c", boot.code(boot.paths()), *args]

    def runtime_root(self, runtime: str) -> str:
        """The runtime's --root: each runtime keeps its containers' state apart."""
        return str(self.run / "runtimes" / Path(runtime).name)

    def runtime_argv(self, runtime: str, in_process: bool = False) -> list[str]:
        """The runtime as a command; with ``in_process``, lading's own as the monitor calls it
        in a forked child (own_runtime.argv) instead of a fresh interpreter."""
        root = self.runtime_root(runtime)
        if runtime == own_runtime.NAME:
            return own_runtime.argv(root) if in_process else self.lading("--root", root)
        return [runtime, "--root", root]

    def exit_command(self, cid: str) -> list[str]:
        """What the monitor runs when the container has exited: this lading's cleanup, in a child
        it forks (engine/exit_command.py)."""
        from lading.engine import exit_command

        return exit_command.argv(str(self.storage), str(self.run), cid)
