"""`create` of a container with a user namespace succeeds only for a container that is really
created: whichever step after the fork fails, create exits 1 with one line and leaves no process,
state, cgroup or mount behind (the leak check of the `lading` fixture, and a search for any
process in a user namespace with this test's own mapping)."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bundle
from tests.support import Lading, pid_alive, runtime_entries

Edit = Callable[[dict[str, Any], Path], None]


def _join_a_file_as_netns(c: dict[str, Any], tmp: Path) -> None:
    (tmp / "not-a-namespace").write_text("")
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
    c["linux"]["namespaces"].append({"type": "network", "path": str(tmp / "not-a-namespace")})


def _too_many_map_lines(c: dict[str, Any], tmp: Path) -> None:
    base = c["linux"]["uidMappings"][0]["hostID"]
    ranges = [{"containerID": i, "hostID": base + i, "size": 1} for i in range(400)]  # the kernel takes 340
    c["linux"]["uidMappings"] = ranges


def _bind_source_missing(c: dict[str, Any], tmp: Path) -> None:
    c["mounts"].append({"destination": "/gone", "type": "bind", "source": str(tmp / "gone"), "options": ["bind"]})


def _unknown_filesystem(c: dict[str, Any], tmp: Path) -> None:
    c["mounts"].append({"destination": "/odd", "type": "no-such-fs", "source": "x"})


def _device_over_a_directory(c: dict[str, Any], tmp: Path) -> None:
    c["linux"]["devices"] = [{"path": "/etc", "type": "c", "major": 1, "minor": 3}]


def _cwd_through_a_file(c: dict[str, Any], tmp: Path) -> None:
    c["process"]["cwd"] = "/bin/busybox/sub"


def _sysctl_rejected(c: dict[str, Any], tmp: Path) -> None:
    c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "not-a-number"}


def _createruntime_hook_fails(c: dict[str, Any], tmp: Path) -> None:
    c["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}


def _no_executable(c: dict[str, Any], tmp: Path) -> None:
    c["process"]["args"] = ["/no/such/program"]


def _rlimit_above_the_hard_limit(c: dict[str, Any], tmp: Path) -> None:
    c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 2**40, "soft": 2**40}]


STEPS = [
    _join_a_file_as_netns,
    _too_many_map_lines,
    _bind_source_missing,
    _unknown_filesystem,
    _device_over_a_directory,
    _cwd_through_a_file,
    _sysctl_rejected,
    _createruntime_hook_fails,
    _no_executable,
    _rlimit_above_the_hard_limit,
]


def processes_mapped_from(host_id: int) -> list[int]:
    """Live processes in a user namespace whose root is ``host_id`` (zombies are their reaper's)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                first = Path(f"/proc/{entry}/uid_map").read_text().split()
            except OSError:
                continue
            if first[:2] == ["0", str(host_id)] and pid_alive(int(entry)):
                found.append(int(entry))
    return found


@pytest.mark.parametrize("step", STEPS, ids=[s.__name__.strip("_") for s in STEPS])
def test_a_failing_step_fails_create_and_leaves_nothing(
    lading: Lading, bundle: Bundle, tmp_path: Path, step: Edit
) -> None:
    base = random.randrange(1000, 2000) * 65536  # this test's own host ids
    subprocess.run(["chown", "-R", f"{base}:{base}", str(bundle.rootfs)], check=True)
    ids = [{"containerID": 0, "hostID": base, "size": 65536}]
    bundle.config["linux"].update(uidMappings=ids, gidMappings=ids)
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    step(bundle.config, tmp_path)
    bundle.write(args=bundle.config["process"]["args"] if step is _no_executable else ["true"])
    p = lading("create", "--bundle", str(bundle), "failing", check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lading("list", "--quiet").stdout == ""
    assert not runtime_entries(lading.root)
    assert not lading.cgroup_dirs("failing")
    assert not processes_mapped_from(base)
