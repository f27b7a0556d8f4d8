"""Containers in cgroups someone else made, froze or filled: runc beside lading where runc 1.1
does the right thing, lading alone where it does more (runc 1.1 cannot delete a container whose
processes were frozen in another freezer cgroup)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lading.linux.cgroups import layout
from tests.cgroups.helpers import wait_for
from tests.support import pid_alive

V1 = Path("/sys/fs/cgroup")


def v1_hierarchies() -> list[Path]:
    """Every v1 hierarchy's mountpoint, named ones too (runc makes its cgroup in name=systemd)."""
    return [Path(h.mountpoint) for h in layout.detect().hierarchies() if h.version == 1]


@pytest.fixture
def parent() -> Iterator[str]:
    """A cgroup path unique on the host, removed afterwards from every hierarchy (leaf first),
    after thawing and killing whatever a failing test left in it."""
    if "freezer" not in layout.detect().v1:
        pytest.skip("needs the cgroup v1 freezer")
    name = f"lading-test-{uuid.uuid4().hex[:10]}"
    yield name
    for mount in [*v1_hierarchies(), V1 / "unified"]:
        top = mount / name
        if not top.exists():
            continue
        dirs = [*sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)), top]
        for d in dirs:
            if (d / "freezer.state").exists():
                (d / "freezer.state").write_text("THAWED")
            for pid in (d / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
        for d in dirs:
            assert wait_for(lambda d=d: not (d / "cgroup.procs").read_text().split())
            d.rmdir()


def make(path: str, *controllers: str) -> None:
    for c in controllers:
        (V1 / c / path.lstrip("/")).mkdir(parents=True)


def freeze(path: str) -> None:
    state = V1 / "freezer" / path.lstrip("/") / "freezer.state"
    state.write_text("FROZEN")
    assert wait_for(lambda: state.read_text().strip() == "FROZEN")


def run_in_frozen(runner, bundle, parent: str, cid: str, cgroups_path: str) -> None:
    make(parent, "freezer")
    freeze(parent)
    bundle.config["linux"]["cgroupsPath"] = cgroups_path
    bundle.write(args=["true"])
    p = runner("run", "-d", "-b", str(bundle), cid, check=False, timeout=30)
    assert p.returncode != 0 and "unexpectedly frozen" in p.stderr, p.stderr


def test_a_frozen_cgroup_fails_create_at_once(runtime, bundle, parent, cid):
    run_in_frozen(runtime, bundle, parent, cid, f"/{parent}")


def test_a_cgroup_below_a_frozen_one_fails_create_too(lading, bundle, parent, cid):
    run_in_frozen(lading, bundle, parent, cid, f"/{parent}/{cid}")
    assert not (V1 / "freezer" / parent / cid).exists()  # made for this create, so removed again


def test_a_cgroup_that_holds_processes_gets_a_warning(runtime, bundle, parent, cid):
    host = layout.detect()
    # every hierarchy where a runtime may count processes (cpuset would first need cpus and mems)
    controllers = [c for c in host.v1 if not c.startswith("name=") and c != "cpuset"]
    controllers += ["unified"] if host.mode == "hybrid" else []
    make(parent, *controllers)
    other = subprocess.Popen(["sleep", "1000"])
    try:
        for c in controllers:
            (V1 / c / parent / "cgroup.procs").write_text(str(other.pid))
        bundle.config["linux"]["cgroupsPath"] = f"/{parent}"
        bundle.write(args=["true"])
        p = runtime("run", "-b", str(bundle), cid)
        assert "cgroup is not empty: 1 process(es) found" in p.stderr, p.stderr
    finally:
        other.kill()
        other.wait()


def test_an_empty_cpuset_parent_gets_the_cpus_and_mems_to_join(runtime, bundle, parent, cid):
    if "cpuset" not in layout.detect().v1:
        pytest.skip("needs the cgroup v1 cpuset controller")
    make(parent, "cpuset")
    assert (V1 / "cpuset" / parent / "cpuset.cpus").read_text().strip() == ""
    bundle.config["linux"]["cgroupsPath"] = f"/{parent}/{cid}"
    bundle.write(args=["true"])
    runtime("run", "-b", str(bundle), cid)
    root = V1 / "cpuset"
    for name in ("cpuset.cpus", "cpuset.mems"):
        assert (root / parent / name).read_text() == (root / name).read_text()


def test_delete_force_takes_back_processes_frozen_in_another_freezer_cgroup(lading, bundle, parent, cid):
    make(parent, "freezer")
    bundle.write(args=["sleep", "1000"])
    lading("run", "-d", "-b", str(bundle), cid)
    pid = lading.state(cid)["pid"]
    (V1 / "freezer" / parent / "cgroup.procs").write_text(str(pid))
    freeze(parent)
    p = lading("delete", "--force", cid, check=False, timeout=30)
    assert p.returncode == 0, p.stderr
    assert not pid_alive(pid)
    assert not lading.cgroup_dirs(cid)
