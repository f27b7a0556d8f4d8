"""Where a container's processes are: the init (run, run -d, create + start) and an exec'd process
are in the container's cgroup in every hierarchy, at the path runc puts them for the same config
(no cgroupsPath: runc's is the container's ID, relative; an absolute one; a relative one, below
the caller's own cgroup, its parent's on cgroup2). Calibrated on runc 1.1.5 on this (hybrid) host.

lading's stage 1 is born in the cgroup2 directory (clone3) and moves itself into the v1
hierarchies; where clone3 is refused (here by a seccomp filter, as on a kernel before 5.3) or the
initial CPU affinity must be set before the cgroup's cpuset applies, it moves itself into cgroup2
too. The cgroups are the same either way; the debug log tells the ways apart. lading leaves the
named hierarchy name=systemd to systemd (runc moves there too), so it is not compared.
"""

from __future__ import annotations

import os
import posixpath
import re
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lading.runtime.cgroups import default_path
from tests.cgroups.helpers import WITHOUT_CLONE3, parse
from tests.support import Lading, Runc


def cgroups_of(pid: int | str) -> dict[str, str]:
    """/proc/PID/cgroup as {hierarchy ("" for cgroup2): path}, named hierarchies left out."""
    return parse(Path(f"/proc/{pid}/cgroup").read_text())


def placed(cgroups_path: str) -> dict[str, str]:
    """Where cgroupsPath puts a container, by hierarchy: an absolute path from each root, a
    relative one below this process's own cgroup (its parent on cgroup2)."""
    if cgroups_path.startswith("/"):
        return {h: cgroups_path for h in cgroups_of("self")}
    own = cgroups_of("self")
    return {h: posixpath.join(path if h else posixpath.dirname(path), cgroups_path) for h, path in own.items()}


def expected(runtime: Lading, cid: str, cgroups_path: str | None) -> dict[str, str]:
    if cgroups_path:
        return placed(cgroups_path)
    return placed(cid if isinstance(runtime, Runc) else default_path(cid, str(runtime.root)))


def mountpoints() -> dict[str, Path]:
    """Each cgroup hierarchy's mountpoint, by its name in /proc/PID/cgroup."""
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype, _, options = line.split(" - ", 1)[1].split()[:3]
        if fstype == "cgroup2":
            found.setdefault("", Path(fields[4]))
        elif fstype == "cgroup":
            names = ",".join(o for o in options.split(",") if o not in ("rw", "ro") and "=" not in o)
            found.setdefault(names, Path(fields[4]))
    return found


@pytest.fixture(params=["default", "absolute", "relative"])
def cgroups_path(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """linux.cgroupsPath; afterwards no hierarchy may still have it (the runtime removes it)."""
    if request.param == "default":
        yield None
        return
    name = f"lading-test-{uuid.uuid4().hex[:10]}"
    path = "/" + name if request.param == "absolute" else name
    yield path
    mounts = mountpoints()
    left = [str(mounts[h] / p.lstrip("/")) for h, p in placed(path).items() if (mounts[h] / p.lstrip("/")).exists()]
    assert not left, f"cgroups left behind: {left}"


def configure(bundle, cgroups_path: str | None, args: list[str]) -> None:
    if cgroups_path:
        bundle.config["linux"]["cgroupsPath"] = cgroups_path
    bundle.write(args=args)


def exec_cgroups(runtime: Lading, cid: str, *flags: str) -> dict[str, str]:
    """The cgroups of a process exec'd (detached) into the container."""
    pid_file = runtime.tmp / "exec.pid"
    runtime(*flags, "exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "1000")
    pid = int(pid_file.read_text())
    try:
        return cgroups_of(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_run_in_the_foreground(runtime, bundle, cid, cgroups_path):
    configure(bundle, cgroups_path, ["cat", "/proc/self/cgroup"])
    p = runtime("run", "-b", str(bundle), cid)
    assert parse(p.stdout) == expected(runtime, cid, cgroups_path)


def test_run_detached_then_exec(runtime, bundle, cid, cgroups_path):
    configure(bundle, cgroups_path, ["sleep", "1000"])
    runtime("run", "-d", "-b", str(bundle), cid)
    try:
        want = expected(runtime, cid, cgroups_path)
        assert cgroups_of(runtime.state(cid)["pid"]) == want
        assert exec_cgroups(runtime, cid) == want
    finally:
        runtime("delete", "-f", cid)


def test_create_then_start(runtime, bundle, cid, cgroups_path):
    configure(bundle, cgroups_path, ["sleep", "1000"])
    runtime("create", "-b", str(bundle), cid)
    try:
        pid = runtime.state(cid)["pid"]
        want = expected(runtime, cid, cgroups_path)
        assert cgroups_of(pid) == want  # created: the init waits on exec.fifo, in its cgroup already
        runtime("start", cid)
        assert cgroups_of(pid) == want
    finally:
        runtime("delete", "-f", cid)


@pytest.fixture
def unified() -> None:
    if "" not in cgroups_of("self"):
        pytest.skip("no cgroup2 hierarchy here: nothing is born in one")


def run_and_exec(lading: Lading, bundle, cid: str) -> list[str]:
    """run -d and exec -d with --debug, each process checked to be in the container's cgroup;
    what the debug log said of each stage 1 (or of the init cloned without one): born in its
    cgroup2 directory, "True" or "False"."""
    bundle.write(args=["sleep", "1000"])
    said = lading("--debug", "run", "-d", "-b", str(bundle), cid).stderr
    try:
        want = expected(lading, cid, None)
        assert cgroups_of(lading.state(cid)["pid"]) == want
        pid_file = lading.tmp / "exec.pid"
        said += lading("--debug", "exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "1000").stderr
        pid = int(pid_file.read_text())
        try:
            assert cgroups_of(pid) == want
        finally:
            os.kill(pid, signal.SIGKILL)
    finally:
        lading("delete", "-f", cid)
    return re.findall(r"born in its cgroup2 directory: (True|False)", said)


def test_stage1_is_born_in_cgroup2(lading, bundle, cid, unified):
    assert run_and_exec(lading, bundle, cid) == ["True", "True"]


def test_where_clone3_is_refused_stage1_moves_itself(lading, bundle, cid, unified):
    lading.prefix = [sys.executable, WITHOUT_CLONE3]  # clone3 fails with ENOSYS
    assert run_and_exec(lading, bundle, cid) == ["False", "False"]


def test_an_initial_cpu_affinity_comes_before_the_cgroup(lading, bundle, cid, unified):
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    bundle.config["process"]["execCPUAffinity"] = {"initial": cpus}
    assert run_and_exec(lading, bundle, cid) == ["False", "False"]
