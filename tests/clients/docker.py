"""A private dockerd (Debian's docker.io), and the docker CLI pointed at it.

Nothing of the host's docker is used or changed: the daemon gets its own containerd (Containerd:
own socket, root and state), its own --data-root, --exec-root, pid file, trust key (daemon.json's
``deprecated-key-path``, not /etc/docker) and API socket under temp dirs, and runs in a network
namespace of its own (``unshare --net``) with no bridge, no firewall rules, no IP masquerading or
forwarding, so it cannot touch the host's network even by mistake; containers run with
``--network none``. The CLI's own files go to a private DOCKER_CONFIG. close() stops the daemon
and its containerd and removes whatever they left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.clients.cgroups import cgroup_parent, kill_processes_under, remove_cgroup_tree
from tests.clients.containerd import Containerd
from tests.clients.mounts import unmount_under

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
DOCKER = shutil.which("docker") or "/usr/bin/docker"
# dockerd makes its plugin directory here whatever its flags say; removed if we created it.
_PLUGIN_DIRS = (Path("/run/docker/plugins"), Path("/run/docker"))


def available() -> bool:
    return os.access(DOCKERD, os.X_OK) and os.access(DOCKER, os.X_OK)


class Docker:
    """dockerd and its containerd under directory; ``argv(...)`` is a docker CLI command for it."""

    def __init__(self, directory: Path, start_timeout: float = 60) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.containerd = Containerd(directory / "containerd")
        self.cgroup_parent = cgroup_parent("docker")
        self._created_plugin_dirs = [d for d in _PLUGIN_DIRS if not d.exists()]
        # the API socket path must fit a socket address: a short temp dir of its own
        self.run_dir = Path(tempfile.mkdtemp(prefix="lading-docker-"))
        self.address = f"unix://{self.run_dir}/docker.sock"
        self.env = dict(os.environ, DOCKER_CONFIG=str(directory / "cli"))
        argv = [
            "unshare",
            "--net",
            "--",
            DOCKERD,
            "--host",
            self.address,
            "--containerd",
            self.containerd.address,
            "--data-root",
            str(directory / "data"),
            "--exec-root",
            str(self.run_dir / "exec"),
            "--pidfile",
            str(self.run_dir / "docker.pid"),
            "--config-file",
            str(directory / "daemon.json"),
            "--cgroup-parent",
            self.cgroup_parent,
            "--exec-opt",
            "native.cgroupdriver=cgroupfs",
            "--bridge",
            "none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--userland-proxy=false",
            "--storage-driver",
            "overlay2",
        ]
        (directory / "daemon.json").write_text(f'{{"deprecated-key-path": "{directory}/key.json"}}\n')
        with open(directory / "dockerd.log", "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=self.env
            )
        self._wait_for_socket(start_timeout)

    def _wait_for_socket(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        path = self.address.removeprefix("unix://")
        while True:
            with socket.socket(socket.AF_UNIX) as s, contextlib.suppress(OSError):
                s.connect(path)
                if subprocess.run(self.argv("version"), capture_output=True, env=self.env).returncode == 0:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "dockerd.log").read_text()[-2000:]
                self.close()
                raise RuntimeError(f"dockerd did not come up:\n{log}")
            time.sleep(0.1)

    def argv(self, *args: str) -> list[str]:
        return [DOCKER, "--host", self.address, *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def load(self, oci_archive: Path, name: str) -> None:
        """Load an OCI archive (docker 20.10 loads only its own format: skopeo converts it)."""
        converted = self.dir / "image.docker.tar"
        subprocess.run(
            ["skopeo", "copy", "--quiet", f"oci-archive:{oci_archive}", f"docker-archive:{converted}:{name}"],
            check=True,
            capture_output=True,
        )
        self("load", "--input", str(converted))
        converted.unlink()

    def close(self) -> list[str]:
        """Stop the daemon and its containerd, and remove what they made; returns what would not go."""
        if self.proc.poll() is None:
            ids = self("ps", "--all", "--quiet", check=False).stdout.split()
            if ids:
                self("rm", "--force", *ids, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        left = self.containerd.close()
        left += kill_processes_under(self.cgroup_parent)
        left += unmount_under(self.dir)
        left += unmount_under(self.run_dir)
        left += remove_cgroup_tree(self.cgroup_parent)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in self._created_plugin_dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
        return left
