"""podman on private storage, configured to use a given OCI runtime.

Everything podman keeps lives under one temp dir: image and container storage (--root/--runroot),
libpod's database, tmp dir and network configs, and the events log. The containers.conf it reads
(through CONTAINERS_CONF) names the runtime, declares it speaks runc's JSON error format, uses
cgroupfs (there is no systemd here), no network, and ulimits within this machine's hard limits (the
runtime cannot raise them: CAP_SYS_RESOURCE is not in the bounding set).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.clients.cgroups import cgroup_parent, remove_cgroup_tree
from tests.clients.image import IMAGE_NAME
from tests.clients.mounts import unmount_under
from tests.clients.runtimes import Runtime, make_runtime

PODMAN = shutil.which("podman") or "/usr/bin/podman"
# podman creates this for netavark whatever its configuration says; removed if we created it.
_NETWORK_RUN_DIR = Path("/run/containers/networks")


def _ulimit(name: str, which: int, wanted: int) -> str:
    """A ulimit of at most wanted, below the hard limit (which podman's own may not match)."""
    hard = resource.getrlimit(which)[1]
    value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    return f'"{name}={value}:{value}"'


def _containers_conf(d: Path, run: Path, runtime: Runtime) -> str:
    ulimits = ", ".join(
        [_ulimit("nofile", resource.RLIMIT_NOFILE, 1024), _ulimit("nproc", resource.RLIMIT_NPROC, 4096)]
    )
    return f"""\
[containers]
default_ulimits = [{ulimits}]
netns = "none"
log_driver = "k8s-file"

[network]
network_config_dir = "{d}/networks"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{run}/tmp"
static_dir = "{d}/storage/libpod"
volume_path = "{d}/volumes"
runtime = "{runtime.name}"
runtime_supports_json = ["{runtime.name}", "crun", "runc"]

[engine.runtimes]
{runtime.name} = ["{runtime.path}"]
"""


class Podman:
    """`podman` with storage and configuration under directory, running containers with runtime."""

    def __init__(self, directory: Path, runtime: Runtime) -> None:
        self.dir = directory
        self.runtime = runtime
        self.cgroup_parent = cgroup_parent("podman")
        self._created_network_run_dir = not _NETWORK_RUN_DIR.exists()
        directory.mkdir(parents=True, exist_ok=True)
        # podman refuses a runroot longer than 50 characters (conmon's socket paths live there).
        self.run_dir = Path(tempfile.mkdtemp(prefix="lading-podman-"))
        (directory / "containers.conf").write_text(_containers_conf(directory, self.run_dir, runtime))
        (directory / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{self.run_dir}/run"\ngraphroot = "{directory}/storage"\n'
        )
        self.env = dict(os.environ)
        self.env.update(
            CONTAINERS_CONF=str(directory / "containers.conf"),
            CONTAINERS_STORAGE_CONF=str(directory / "storage.conf"),
        )

    def argv(self, *args: str) -> list[str]:
        return [PODMAN, "--root", f"{self.dir}/storage", "--runroot", f"{self.run_dir}/run", *args]

    def __call__(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(self.argv(*args), capture_output=True, text=True, input=input, timeout=timeout, env=self.env)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`podman run` with the containers' cgroups under our private parent."""
        return self("run", "--cgroup-parent", self.cgroup_parent, *args, check=check, timeout=timeout)

    def load(self, archive: Path) -> str:
        out = self("load", "-i", str(archive)).stdout
        return out.strip().rsplit(" ", 1)[-1]

    def remove_containers(self) -> None:
        self("rm", "--all", "--force", "--time", "0", check=False)

    def close(self) -> list[str]:
        """Remove every container, image and file podman made; returns anything that would not go."""
        self.remove_containers()
        self("rmi", "--all", "--force", check=False)
        left = unmount_under(self.dir) + unmount_under(self.run_dir)
        left += remove_cgroup_tree(self.cgroup_parent)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._created_network_run_dir:
            try:
                _NETWORK_RUN_DIR.rmdir()
                _NETWORK_RUN_DIR.parent.rmdir()
            except OSError:
                pass
        return left


@contextmanager
def loaded_podman(directory: Path, runtime_name: str, archive: Path) -> Iterator[Podman]:
    """podman under directory running runtime_name, with the image archive loaded; on leaving,
    everything it made is removed, and anything that would not go fails the caller."""
    podman = Podman(directory / "podman", make_runtime(runtime_name, directory / "runtime"))
    try:
        assert podman.load(archive) == IMAGE_NAME
        yield podman
    finally:
        left = podman.close()
        assert not left, f"podman left behind: {left}"
