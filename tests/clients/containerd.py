"""A private containerd daemon, and `ctr` pointed at it, running containers with a given runtime.

The daemon gets its own config.toml, --root and --state, and its own gRPC socket in a temp dir;
anything that writes outside that dir (the /opt plugin, snapshotters we do not use) is disabled,
and so is the CRI plugin unless a CRI configuration is given (tests/cri/). With the CRI plugin the
daemon runs in a network namespace of its own, made for it by ``unshare --net``: the pod network
(a bridge, veths, addresses) lives there and dies with the daemon and its shims.

The runc v2 shim still puts its socket under /run/containerd/s, so on close the shims are
stopped (they belong to our daemon: their command line names our socket) and only the
directories this fixture created there are removed.

ctr selects the runtime per container: ``--runc-binary PATH --runc-root DIR`` (the shim then
calls ``PATH --root DIR/<namespace> ...``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.clients.cgroups import cgroup_parent, kill_processes_under, remove_cgroup_tree
from tests.clients.mounts import unmount_under
from tests.clients.runtimes import Runtime

CONTAINERD = shutil.which("containerd") or "/usr/bin/containerd"
CTR = shutil.which("ctr") or "/usr/bin/ctr"
NAMESPACE = "default"
_SHIM_DIRS = (Path("/run/containerd/s"), Path("/run/containerd/fifo"), Path("/run/containerd"))
CRI_PLUGIN = "io.containerd.grpc.v1.cri"
_DISABLED = [
    "io.containerd.internal.v1.opt",
    "io.containerd.internal.v1.tracing",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
]


def _config(d: Path, cri_config: str) -> str:
    disabled = ", ".join(f'"{p}"' for p in _DISABLED + ([] if cri_config else [CRI_PLUGIN]))
    return f"""\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled}]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
{cri_config}"""


def _in_netns(inode: int) -> list[int]:
    """The processes whose network namespace is inode."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(entry / "ns" / "net").st_ino == inode:
                    pids.append(int(entry.name))
    return pids


class Containerd:
    """A containerd started on its own socket; close() stops it and removes everything it made."""

    def __init__(
        self, directory: Path, start_timeout: float = 30, cri_config: str = "", namespace: str = NAMESPACE
    ) -> None:
        self.dir = directory
        self.namespace = namespace
        self.address = str(directory / "containerd.sock")
        self.cgroup_parent = cgroup_parent("cri" if cri_config else "containerd")
        self._created_shim_dirs = [d for d in _SHIM_DIRS if not d.exists()]
        self.netns: int | None = None
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.toml").write_text(_config(directory, cri_config))
        argv = [CONTAINERD, "--config", str(directory / "config.toml")]
        if cri_config:  # a network namespace of its own, with loopback up for the streaming server
            argv = ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]
        with open(directory / "containerd.log", "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._wait_for_socket(start_timeout)
        if cri_config:
            self.netns = os.stat(f"/proc/{self.proc.pid}/ns/net").st_ino

    def _wait_for_socket(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket(socket.AF_UNIX) as s, contextlib.suppress(OSError):
                s.connect(self.address)
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "containerd.log").read_text()[-2000:]
                self.close()
                raise RuntimeError(f"containerd did not come up:\n{log}")
            time.sleep(0.05)

    def ctr(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        argv = [CTR, "--address", self.address, "--namespace", self.namespace, *args]
        p = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def run_argv(self, runtime: Runtime, image: str, cid: str, *cmd: str, flags: tuple[str, ...] = ()) -> list[str]:
        """The `ctr run` arguments (after ctr's globals) that run cmd in image with runtime."""
        return [
            "run",
            "--runc-binary",
            str(runtime.path),
            "--runc-root",
            str(runtime.root),
            "--fifo-dir",
            str(self.dir / "fifo"),
            "--cgroup",
            f"{self.cgroup_parent}/{cid}",
            *flags,
            image,
            cid,
            *cmd,
        ]

    def run(
        self,
        runtime: Runtime,
        image: str,
        cid: str,
        *cmd: str,
        flags: tuple[str, ...] = (),
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return self.ctr(*self.run_argv(runtime, image, cid, *cmd, flags=flags), check=check, timeout=timeout)

    def import_image(self, archive: Path) -> None:
        self.ctr("images", "import", str(archive))

    def remove_containers(self) -> None:
        """Kill and delete every task and container in our namespace."""
        for cid in self.ctr("containers", "list", "--quiet", check=False).stdout.split():
            self.ctr("tasks", "delete", "--force", cid, check=False)
            self.ctr("containers", "delete", cid, check=False)

    def shims(self) -> list[int]:
        """The runc v2 shims our daemon started (they name our socket on their command line)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    argv = (entry / "cmdline").read_bytes().split(b"\0")
                    if b"containerd-shim" in argv[0] and self.address.encode() in argv:
                        pids.append(int(entry.name))
        return pids

    def close(self) -> list[str]:
        """Stop the daemon and its shims, and remove what they made; returns what would not go."""
        if self.proc.poll() is None:
            self.remove_containers()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        left = []
        for pid in self.shims():
            left.append(f"shim process {pid}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.netns is not None:
            left += [f"process {pid} in the daemon's network namespace" for pid in _in_netns(self.netns)]
        left += kill_processes_under(self.cgroup_parent)
        left += unmount_under(self.dir)
        left += remove_cgroup_tree(self.cgroup_parent)
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in self._created_shim_dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
        return left
