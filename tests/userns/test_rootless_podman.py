"""Rootless podman, run by the unprivileged test user, with lading as its OCI runtime, calibrated
on runc: podman makes the user namespace (the user's own uid as root, its subordinate ids for
the rest, through newuidmap) and runs the runtime inside it, where lading is "root" without any
privilege on the host.

podman gets its own configuration, vfs storage under the user's home, its run dir under the
user's XDG_RUNTIME_DIR, no network and cgroupfs; its pause process (which keeps the namespace
alive between commands) is killed by PID afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.image import IMAGE_NAME, build_oci_archive
from tests.clients.runtimes import RUNC, write_wrapper
from tests.support import SRC, pid_alive, runtime_entries
from tests.userns.support import UnprivilegedUser, site_packages, user_python


class RootlessPodman:
    def __init__(self, user: UnprivilegedUser, directory: Path) -> None:
        self.user = user
        self.dir = directory
        directory.mkdir()
        conf, storage = directory / "containers.conf", directory / "storage.conf"
        conf.write_text(
            '[containers]\nnetns = "none"\nlog_driver = "k8s-file"\ndefault_ulimits = []\n'
            f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
            f'events_logfile_path = "{directory}/events.log"\n'
        )
        storage.write_text(f'[storage]\ndriver = "vfs"\nrunroot = "{user.runtime_dir}/containers"\n')
        self.env = {"CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}
        user.own(directory)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(
            [*self.user.prefix(**self.env), "podman", *args],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=self.user.home,
            check=False,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def close(self) -> None:
        self("rm", "--all", "--force", "--time", "0", check=False)
        self("rmi", "--all", "--force", check=False)
        pause = self.user.runtime_dir / "libpod" / "tmp" / "pause.pid"
        if pause.exists():
            pid = int(pause.read_text())
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                os.sched_yield()


@pytest.fixture
def podman(unprivileged: UnprivilegedUser, user_dir: Path, tmp_path: Path) -> Iterator[RootlessPodman]:
    pm = RootlessPodman(unprivileged, user_dir / "podman")
    archive = build_oci_archive(user_dir / "busybox.tar", tmp_path / "image")
    unprivileged.own(archive)
    pm("load", "-i", str(archive))
    yield pm
    pm.close()


def lading_wrapper(user: UnprivilegedUser, directory: Path) -> Path:
    directory.mkdir()
    pythonpath = os.pathsep.join([str(SRC), *site_packages()])
    path = write_wrapper(
        directory / "lading",
        [user_python(), "-m", "lading"],
        directory / "state",
        directory / "calls.log",
        {"PYTHONPATH": pythonpath},
    )
    user.own(directory)
    return path


def test_rootless_podman_runs_containers_with_lading(
    podman: RootlessPodman, unprivileged: UnprivilegedUser, user_dir: Path
) -> None:
    script = "id; cat /proc/self/uid_map; echo written > /tmp/f; cat /tmp/f; ls -ln /dev/null"
    outputs = {}
    for runtime in (RUNC, str(lading_wrapper(unprivileged, user_dir / "lading"))):
        p = podman("run", "--rm", "--runtime", runtime, IMAGE_NAME, "sh", "-c", script)
        outputs[runtime] = p.stdout.split("\n")
    reference, lading = outputs.values()
    assert lading == reference
    assert lading[0] == "uid=0(root) gid=0(root)"
    assert lading[1].split() == ["0", str(unprivileged.uid), "1"]
    assert lading[2].split() == ["1", str(unprivileged.subuid[0]), str(unprivileged.subuid[1])]
    assert not runtime_entries(user_dir / "lading" / "state")


def test_rootless_podman_keep_id_nests_a_user_namespace(
    podman: RootlessPodman, unprivileged: UnprivilegedUser, user_dir: Path
) -> None:
    """--userns=keep-id: the runtime, root in podman's namespace, makes the container's own user
    namespace inside it (the maps written by a root that is not host root)."""
    script = "id -u; id -g; cat /proc/self/uid_map | wc -l"
    outputs = {}
    for runtime in (RUNC, str(lading_wrapper(unprivileged, user_dir / "lading"))):
        p = podman("run", "--rm", "--userns=keep-id", "--runtime", runtime, IMAGE_NAME, "sh", "-c", script)
        outputs[runtime] = p.stdout
    reference, lading = outputs.values()
    assert lading == reference
    assert lading.split()[:2] == [str(unprivileged.uid), str(unprivileged.gid)]
