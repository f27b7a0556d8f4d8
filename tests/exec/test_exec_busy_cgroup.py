"""exec into a container whose cgroup2 cgroup takes no process: its init moved into a sub-cgroup
and enabled a controller for its children (as systemd or a nested runtime in a container does),
and the kernel refuses any other process there with EBUSY (cgroup v2's "no internal processes").
The exec'd process joins the init's cgroup2 cgroup instead, as runc 1.1 does.

Calibrated on runc 1.1.5 on this machine: in a mount namespace where /sys/fs/cgroup is the
cgroup2 hierarchy alone (a cgroup2 host's view of the same kernel cgroups) both runtimes put the
process in the init's cgroup. On the hybrid host itself runc does not look for the init's cgroup
(it does only on a cgroup2-only host) and fails with EBUSY; lading does the same there as on
cgroup2, and the v1 hierarchies stay the container's own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lading.linux.cgroups import layout
from tests.cgroups.helpers import parse
from tests.conftest import Bundle
from tests.support import Lading

# The command in a new mount namespace with cgroup2 alone at /sys/fs/cgroup.
CGROUP2_ONLY = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'umount -R /sys/fs/cgroup && mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup && exec "$@"',
    "sh",
]


@pytest.fixture
def unified() -> Path:
    """The host's cgroup2 mount, with a controller the test can enable below its root."""
    host = layout.detect()
    if os.geteuid() != 0 or host.unified is None:
        pytest.skip("needs root and a cgroup2 hierarchy")
    root = Path(host.unified.mountpoint)
    if not (root / "cgroup.subtree_control").read_text().split():
        pytest.skip("no controller is enabled below the cgroup2 root")
    return root


@pytest.fixture
def parent(unified: Path) -> Iterator[str]:
    """A private parent cgroup for the container; the test fails if anything is left below it in
    any hierarchy once the container is deleted, and the parent goes in every hierarchy."""
    name = f"lading-test-busy-{uuid.uuid4().hex[:12]}"
    yield name
    tops = {*Path("/sys/fs/cgroup").glob(f"*/{name}"), unified / name}
    left = sorted(str(d) for top in tops if top.is_dir() for d in top.rglob("*") if d.is_dir())
    for top in tops:
        for d in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda p: -len(p.parts)):
            d.rmdir()
        if top.is_dir():
            top.rmdir()
    assert not left, f"cgroups left behind: {left}"


def busy_container(runtime: Lading, bundle: Bundle, cid: str, parent: str, unified: Path) -> tuple[int, str]:
    """Runs `sleep` as container cid in parent/c, moves its init into c/init on cgroup2 and
    enables a controller for c's children: (the init's pid, its cgroup2 path)."""
    bundle.config["linux"]["cgroupsPath"] = f"/{parent}/c"
    bundle.write(args=["sleep", "1000"])
    runtime("run", "-d", "-b", str(bundle), cid)
    pid = runtime.state(cid)["pid"]
    own = parse(Path(f"/proc/{pid}/cgroup").read_text())[""]
    assert own == f"/{parent}/c"
    controller = (unified / "cgroup.subtree_control").read_text().split()[0]
    c = unified / own.lstrip("/")
    (c / "init").mkdir()
    (c / "init" / "cgroup.procs").write_text(str(pid))
    for d in (c.parent, c):  # runc enables nothing on the way down on a hybrid host
        if controller not in (d / "cgroup.subtree_control").read_text().split():
            (d / "cgroup.subtree_control").write_text(f"+{controller}")
    with pytest.raises(OSError, match="busy"):  # what any process now meets there
        (c / "cgroup.procs").write_text(str(pid))
    return pid, f"{own}/init"


def test_exec_joins_the_inits_cgroup_on_cgroup2(
    runtime: Lading, bundle: Bundle, cid: str, parent: str, unified: Path
) -> None:
    runtime.prefix = CGROUP2_ONLY
    try:
        _, init_cgroup = busy_container(runtime, bundle, cid, parent, unified)
        seen = parse(runtime("exec", cid, "cat", "/proc/self/cgroup").stdout)
        assert seen[""] == init_cgroup
    finally:
        runtime("delete", "--force", cid)


def test_exec_joins_the_inits_cgroup2_cgroup_on_a_hybrid_host(
    lading: Lading, bundle: Bundle, cid: str, parent: str, unified: Path
) -> None:
    if layout.detect().mode != "hybrid":
        pytest.skip("needs a hybrid host (v1 controllers beside cgroup2)")
    try:
        pid, init_cgroup = busy_container(lading, bundle, cid, parent, unified)
        seen = parse(lading("exec", cid, "cat", "/proc/self/cgroup").stdout)
        assert seen == {**parse(Path(f"/proc/{pid}/cgroup").read_text()), "": init_cgroup}
        assert all(path == f"/{parent}/c" for names, path in seen.items() if names)
    finally:
        lading("delete", "--force", cid)
