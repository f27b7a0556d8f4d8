"""Driving `lading container` as a user does, on a private storage root and run root, and finding
whatever a test's containers left behind: processes, overlay mounts, cgroups, layer directories."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

from tests.support import lading_argv, lading_env, mounts_under, pid_alive

_HEX = set("0123456789abcdef")
_CGROUPS = Path("/sys/fs/cgroup")
SEEN: set[str] = set()  # every container ID any engine of this session has seen


def engine_cgroup_parents() -> list[Path]:
    """The engine's parent cgroup, /lading-engine, in each hierarchy that has it."""
    return [*_CGROUPS.glob("*/lading-engine"), *_CGROUPS.glob("lading-engine")]


class Engine:
    """`lading container --storage-root S --run-root R ...` for one test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.storage = tmp / "storage"
        self.run_root = tmp / "run"
        self.seen: set[str] = set()

    def argv(self, *args: str) -> list[str]:
        return [
            *lading_argv(),
            "container",
            "--storage-root",
            str(self.storage),
            "--run-root",
            str(self.run_root),
            *args,
        ]

    def __call__(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 90,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        # Files, not pipes: nothing the engine starts may hold the caller's stdio, and a file shows that.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(
                self.argv(*args),
                stdout=out,
                stderr=err,
                text=True,
                input=input,
                timeout=timeout,
                env={**lading_env(), **(env or {})},
            )
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        self.seen |= set(self.ids())
        SEEN.update(self.seen)
        if check and result.returncode != 0:
            raise AssertionError(f"{args} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def image(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [*lading_argv(), "image", args[0], "--storage-root", str(self.storage), *args[1:]]
        return subprocess.run(argv, capture_output=True, text=True, check=True, env=lading_env(), timeout=90)

    def ids(self) -> list[str]:
        d = self.storage / "containers"
        return [p.name for p in d.iterdir() if len(p.name) == 64 and set(p.name) <= _HEX] if d.exists() else []

    def record(self, cid: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.storage / "containers" / cid / "config.v2.json").read_text())
        return data

    def inspect(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self("inspect", name).stdout)[0]
        return doc

    # --- what must be gone -----------------------------------------------------------------------

    def image_layer_dirs(self) -> set[str]:
        db = self.storage / "layerdb" / "sha256"
        return {(p / "cache-id").read_text() for p in db.iterdir()} if db.exists() else set()

    def layer_dirs(self) -> set[str]:
        d = self.storage / "overlay"
        return {p.name for p in d.iterdir() if p.name != "l"} if d.exists() else set()

    def processes(self) -> list[str]:
        """Live processes started for this test's engine: monitors and their children name our roots.
        /proc is listed twice: a monitor that spawns its exit command and exits while /proc is
        listed can be missing from one listing, with its exit command not yet in it."""
        found: dict[int, str] = {}
        for _ in range(2):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    stat = Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    continue
                if stat[stat.rindex(")") + 2] == "Z" or int(pid) == os.getpid():
                    continue
                if str(self.run_root) in cmdline or str(self.storage) in cmdline:
                    found[int(pid)] = f"{pid}: {cmdline}(parent {stat.rsplit(')', 1)[1].split()[1]})"
        return [entry for pid, entry in sorted(found.items()) if pid_alive(pid)]

    def cgroups(self) -> list[str]:
        return [str(p / cid) for p in engine_cgroup_parents() for cid in self.seen if (p / cid).exists()]

    def settled_processes(self, running: Collection[int] = ()) -> list[str]:
        """Engine processes still there once the short-lived ones (a monitor's exit command that
        found nothing left to do) have finished; ``running``: pids known to stay (the monitors of
        running containers), not waited for."""
        from lading.linux.process import wait_gone

        waited: set[int] = set(running)
        while True:  # until no new one: a monitor that ends hands over to its exit command
            found = self.processes()
            new = [pid for pid in (int(entry.split(":")[0]) for entry in found) if pid not in waited]
            if not new:
                return found
            for pid in new:
                wait_gone(pid, None, 30)
            waited.update(new)

    def leftovers(self) -> list[str]:
        """What a test leaves once every container is removed: must be nothing."""
        found = [f"process {p}" for p in self.settled_processes()]
        found += [f"mount {m}" for m in mounts_under(self.tmp)]
        found += [f"cgroup {c}" for c in self.cgroups()]
        found += [f"container {cid}" for cid in self.ids()]
        found += [f"layer dir {d}" for d in self.layer_dirs() - self.image_layer_dirs()]
        mounts = self.storage / "layerdb" / "mounts"
        found += [f"mount record {p.name}" for p in mounts.iterdir()] if mounts.exists() else []
        run = self.run_root / "containers"
        found += [f"run dir {p.name}" for p in run.iterdir()] if run.exists() else []
        return found

    def cleanup(self) -> None:
        ids = self.ids()
        if ids:
            self("rm", "-f", *ids, check=False)
