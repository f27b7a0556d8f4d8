"""Which processes `create` makes (runtime/init.py): the init cloned straight into its cgroup and
namespaces when the config needs nothing of a stage 1, and a stage 1 that forks the init when
it does. The --debug log says which; the init is PID 1 in its namespaces either way. A create
that fails on the first path kills and reaps the init itself (its caller gets no zombie)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bundle
from tests.support import Lading, runtime_entries

# ``python SUBREAPER COMMAND...``: the command under a child subreaper, which reports what it left
SUBREAPER = str(Path(__file__).with_name("subreaper.py"))
DIRECT = "cloned with no stage 1"
STAGE1 = "forked stage-1 ("

Edit = Callable[[dict[str, Any], Path], None]


def debug_run(lading: Lading, bundle: Bundle, cid: str) -> tuple[str, int]:
    """run -d of sleep with --debug: what it logged, and the init's pid."""
    bundle.write(args=["sleep", "1000"])
    said = lading("--debug", "run", "-d", "-b", str(bundle), cid).stderr
    return said, lading.state(cid)["pid"]


def nspid(pid: int) -> list[str]:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("NSpid:"))
    return line.split()[1:]


def test_the_init_is_cloned_into_its_namespaces_without_stage1(lading: Lading, bundle: Bundle, cid: str) -> None:
    said, pid = debug_run(lading, bundle, cid)
    try:
        assert DIRECT in said and "stage-1" not in said, said
        assert nspid(pid) == [str(pid), "1"]
        for name in ("pid", "mnt", "uts", "ipc", "net"):
            assert os.readlink(f"/proc/{pid}/ns/{name}") != os.readlink(f"/proc/self/ns/{name}"), name
    finally:
        lading("delete", "-f", cid)


@pytest.fixture
def other_ipc_namespace() -> Iterator[str]:
    """A path to an IPC namespace that is not this process's, alive for the test."""
    p = subprocess.Popen(["unshare", "--ipc", "sleep", "1000"])
    try:
        path = f"/proc/{p.pid}/ns/ipc"
        deadline = time.monotonic() + 5
        while os.readlink(path) == os.readlink("/proc/self/ns/ipc"):  # until unshare has run
            assert time.monotonic() < deadline
            time.sleep(0.01)
        yield path
    finally:
        p.kill()
        p.wait()


def _user_namespace(c: dict[str, Any], tmp: Path) -> None:
    ids = [{"containerID": 0, "hostID": 0, "size": 65536}]  # host root as root: the rootfs is root's
    c["linux"].update(uidMappings=ids, gidMappings=ids)
    c["linux"]["namespaces"].append({"type": "user"})


def _cgroup_namespace(c: dict[str, Any], tmp: Path) -> None:
    c["linux"]["namespaces"].append({"type": "cgroup"})


def _time_namespace(c: dict[str, Any], tmp: Path) -> None:
    c["linux"]["namespaces"].append({"type": "time"})


def _initial_cpu_affinity(c: dict[str, Any], tmp: Path) -> None:
    c["process"]["execCPUAffinity"] = {"initial": ",".join(map(str, sorted(os.sched_getaffinity(0))))}


NEEDS_STAGE1 = [_user_namespace, _cgroup_namespace, _time_namespace, _initial_cpu_affinity]


@pytest.mark.parametrize("edit", NEEDS_STAGE1, ids=[e.__name__.strip("_") for e in NEEDS_STAGE1])
def test_stage1_where_the_config_needs_it(lading: Lading, bundle: Bundle, cid: str, tmp_path: Path, edit: Edit) -> None:
    edit(bundle.config, tmp_path)
    said, pid = debug_run(lading, bundle, cid)
    try:
        assert STAGE1 in said and "stage-1[" in said and DIRECT not in said, said
        assert nspid(pid)[-1] == "1"
    finally:
        lading("delete", "-f", cid)


def test_stage1_joins_a_namespace_given_by_path(
    lading: Lading, bundle: Bundle, cid: str, other_ipc_namespace: str
) -> None:
    namespaces = bundle.config["linux"]["namespaces"]
    namespaces[:] = [n for n in namespaces if n["type"] != "ipc"] + [{"type": "ipc", "path": other_ipc_namespace}]
    said, pid = debug_run(lading, bundle, cid)
    try:
        assert STAGE1 in said and DIRECT not in said, said
        assert os.readlink(f"/proc/{pid}/ns/ipc") == os.readlink(other_ipc_namespace)
    finally:
        lading("delete", "-f", cid)


def _bind_source_missing(c: dict[str, Any], tmp: Path) -> None:
    c["mounts"].append({"destination": "/gone", "type": "bind", "source": str(tmp / "gone"), "options": ["bind"]})


def _unknown_filesystem(c: dict[str, Any], tmp: Path) -> None:
    c["mounts"].append({"destination": "/odd", "type": "no-such-fs", "source": "x"})


def _no_executable(c: dict[str, Any], tmp: Path) -> None:
    c["process"]["args"] = ["/no/such/program"]


def _createruntime_hook_fails(c: dict[str, Any], tmp: Path) -> None:
    c["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}


FAILING = [_bind_source_missing, _unknown_filesystem, _no_executable, _createruntime_hook_fails]


@pytest.mark.parametrize("step", FAILING, ids=[s.__name__.strip("_") for s in FAILING])
def test_a_failing_create_reaps_the_init_it_cloned(
    lading: Lading, bundle: Bundle, cid: str, tmp_path: Path, step: Edit
) -> None:
    step(bundle.config, tmp_path)
    bundle.write(args=bundle.config["process"]["args"] if step is _no_executable else ["true"])
    log = tmp_path / "debug.log"
    lading.prefix = [sys.executable, SUBREAPER]
    p = lading("--debug", "--log", str(log), "create", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "left:" not in p.stderr, p.stderr  # no process, not even a zombie, for the caller
    assert DIRECT in log.read_text()
    assert not runtime_entries(lading.root)
    assert not lading.cgroup_dirs(cid)
