"""Which processes `create` and `exec` make (runtime/init.py, runtime/exec_init.py).

create: the init cloned straight into its cgroup and namespaces when the config needs nothing of
a stage 1 (it then joins the namespaces given by path and makes a cgroup namespace itself), and a
stage 1 that forks the init when it does. The --debug log says which; the init is PID 1 in its
namespaces either way. A create that fails on the first path kills and reaps the init itself (its
caller gets no zombie).

exec: the process forked straight into the container's PID namespace (the runtime enters it for
its children, and comes back), where the runtime may; a rootless runtime's goes through a stage 1
(tests/userns/test_rootless.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bundle
from tests.support import Lading, lading_env, runtime_entries

# ``python SUBREAPER COMMAND...``: the command under a child subreaper, which reports what it left
SUBREAPER = str(Path(__file__).with_name("subreaper.py"))
DIRECT = "cloned with no stage 1"
EXEC_DIRECT = "in its PID namespace (no stage 1)"
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


@contextlib.contextmanager
def holding(kind: str, *unshare: str) -> Iterator[tuple[int, str]]:
    """A process in namespaces of its own (``unshare ARGS``): its pid and the path of its ``kind``
    namespace, alive while in use."""
    p = subprocess.Popen(["unshare", *unshare, "sleep", "1000"])
    try:
        path = f"/proc/{p.pid}/ns/{kind}"
        deadline = time.monotonic() + 5
        while os.readlink(path) == os.readlink(f"/proc/self/ns/{kind}"):  # until unshare has run
            assert time.monotonic() < deadline
            time.sleep(0.01)
        yield p.pid, path
    finally:
        p.kill()
        p.wait()


@pytest.fixture
def other_ipc_namespace() -> Iterator[str]:
    """A path to an IPC namespace that is not this process's, alive for the test."""
    with holding("ipc", "--ipc") as (_, path):
        yield path


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


NEEDS_STAGE1 = [_user_namespace, _time_namespace, _initial_cpu_affinity]


@pytest.mark.parametrize("edit", NEEDS_STAGE1, ids=[e.__name__.strip("_") for e in NEEDS_STAGE1])
def test_stage1_where_the_config_needs_it(lading: Lading, bundle: Bundle, cid: str, tmp_path: Path, edit: Edit) -> None:
    edit(bundle.config, tmp_path)
    said, pid = debug_run(lading, bundle, cid)
    try:
        assert STAGE1 in said and "stage-1[" in said and DIRECT not in said, said
        assert nspid(pid)[-1] == "1"
    finally:
        lading("delete", "-f", cid)


def cgroups_inside(lading: Lading, cid: str) -> list[str]:
    """The init's /proc/1/cgroup as the container sees it: one "ID:CONTROLLERS:PATH" per hierarchy."""
    return lading("exec", cid, "cat", "/proc/1/cgroup").stdout.split()


@pytest.mark.parametrize("edit", [lambda c, t: None, _initial_cpu_affinity], ids=["direct", "stage1"])
def test_a_cgroup_namespace_is_rooted_at_the_container_cgroup(
    lading: Lading, bundle: Bundle, cid: str, tmp_path: Path, edit: Edit
) -> None:
    """Without a stage 1 the init makes it itself once in every hierarchy, v1 ones included:
    inside, every path is its root, as on stage 1 (and runc)."""
    _cgroup_namespace(bundle.config, tmp_path)
    edit(bundle.config, tmp_path)
    said, pid = debug_run(lading, bundle, cid)
    try:
        assert (DIRECT in said) == (edit is not _initial_cpu_affinity), said
        assert os.readlink(f"/proc/{pid}/ns/cgroup") != os.readlink("/proc/self/ns/cgroup")
        lines = cgroups_inside(lading, cid)
        assert len(lines) == len(Path("/proc/self/cgroup").read_text().split())
        assert {line.split(":", 2)[2] for line in lines} == {"/"}, lines
    finally:
        lading("delete", "-f", cid)


@pytest.fixture
def pause(lading: Lading, bundle: Bundle, tmp_path: Path) -> Iterator[tuple[int, Bundle]]:
    """A sleeping container of the test's own, in new namespaces of every kind (a pod's pause
    container): its init's pid, and a second bundle on the same rootfs for the container that
    joins them."""
    _user_namespace(bundle.config, tmp_path)
    _cgroup_namespace(bundle.config, tmp_path)
    bundle.write(args=["sleep", "1000"])
    lading("run", "-d", "-b", str(bundle), "pause")
    second = Bundle(tmp_path / "second")
    second.path.mkdir()
    second.config["root"] = {"path": str(bundle.rootfs), "readonly": True}
    try:
        yield lading.state("pause")["pid"], second
    finally:
        lading("delete", "-f", "pause")


def join(bundle: Bundle, pid: int, *kinds: str) -> None:
    """Have the config join those namespaces of ``pid`` by path instead of making them."""
    proc = {"network": "net", "mount": "mnt"}
    namespaces = [n for n in bundle.config["linux"]["namespaces"] if n["type"] not in kinds]
    bundle.config["linux"]["namespaces"] = [
        *namespaces,
        *({"type": k, "path": f"/proc/{pid}/ns/{proc.get(k, k)}"} for k in kinds),
    ]


def test_a_pod_container_joins_its_namespaces_without_stage1(
    lading: Lading, cid: str, pause: tuple[int, Bundle], tmp_path: Path
) -> None:
    """network, ipc and uts given by path (Kubernetes' pod sandbox), with a cgroup namespace of
    its own: the init joins the first and makes the last itself."""
    target, second = pause
    join(second, target, "network", "ipc", "uts")
    _cgroup_namespace(second.config, tmp_path)
    del second.config["hostname"]
    said, pid = debug_run(lading, second, cid)
    try:
        assert DIRECT in said and "stage-1" not in said, said
        assert nspid(pid) == [str(pid), "1"]
        for name in ("net", "ipc", "uts"):
            assert os.readlink(f"/proc/{pid}/ns/{name}") == os.readlink(f"/proc/{target}/ns/{name}"), name
        for name in ("pid", "mnt", "cgroup"):
            assert os.readlink(f"/proc/{pid}/ns/{name}") not in {
                os.readlink(f"/proc/{target}/ns/{name}"),
                os.readlink(f"/proc/self/ns/{name}"),
            }, name
        assert {line.split(":", 2)[2] for line in cgroups_inside(lading, cid)} == {"/"}
    finally:
        lading("delete", "-f", cid)


def test_a_cgroup_namespace_joined_by_path_without_stage1(lading: Lading, cid: str, pause: tuple[int, Bundle]) -> None:
    target, second = pause
    join(second, target, "cgroup")
    said, pid = debug_run(lading, second, cid)
    try:
        assert DIRECT in said and "stage-1" not in said, said
        assert os.readlink(f"/proc/{pid}/ns/cgroup") == os.readlink(f"/proc/{target}/ns/cgroup")
    finally:
        lading("delete", "-f", cid)


def test_a_mount_namespace_joined_by_path_without_stage1(lading: Lading, bundle: Bundle, cid: str) -> None:
    """The init is not born in a mount namespace of its own that it would leave at once: it joins
    the one given (here a copy of the host's) and builds the rootfs there, reading its own view
    of the cgroup hierarchies."""
    with holding("mnt", "--mount", "--propagation", "private") as (holder, path):
        join(bundle, holder, "mount")
        said, pid = debug_run(lading, bundle, cid)
        try:
            assert DIRECT in said and "stage-1" not in said, said
            assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(path)
            assert lading("exec", cid, "cat", "/proc/1/cgroup").stdout
        finally:
            lading("delete", "-f", cid)


@pytest.mark.parametrize("kind", ["pid", "user"])
def test_stage1_joins_a_pid_or_user_namespace_given_by_path(
    lading: Lading, cid: str, pause: tuple[int, Bundle], kind: str
) -> None:
    target, second = pause
    # with the user namespace, the network one it owns: a new one would be owned by it
    join(second, target, *([kind, "network"] if kind == "user" else [kind]))
    said, pid = debug_run(lading, second, cid)
    try:
        assert STAGE1 in said and DIRECT not in said, said
        assert os.readlink(f"/proc/{pid}/ns/{kind}") == os.readlink(f"/proc/{target}/ns/{kind}")
    finally:
        lading("delete", "-f", cid)


def test_stage1_still_joins_an_ipc_namespace_given_by_path_where_it_is_needed(
    lading: Lading, bundle: Bundle, cid: str, tmp_path: Path, other_ipc_namespace: str
) -> None:
    _initial_cpu_affinity(bundle.config, tmp_path)
    namespaces = bundle.config["linux"]["namespaces"]
    namespaces[:] = [n for n in namespaces if n["type"] != "ipc"] + [{"type": "ipc", "path": other_ipc_namespace}]
    said, pid = debug_run(lading, bundle, cid)
    try:
        assert STAGE1 in said and DIRECT not in said, said
        assert os.readlink(f"/proc/{pid}/ns/ipc") == os.readlink(other_ipc_namespace)
    finally:
        lading("delete", "-f", cid)


@pytest.mark.parametrize("edit", [lambda c, t: None, _initial_cpu_affinity], ids=["direct", "stage1"])
def test_a_path_that_is_no_namespace_fails_create_alike(
    lading: Lading, bundle: Bundle, cid: str, tmp_path: Path, edit: Edit
) -> None:
    """The init cloned without a stage 1 fails setns as stage 1 does: same message, nothing left."""
    edit(bundle.config, tmp_path)
    not_ns = tmp_path / "not-a-namespace"
    not_ns.write_text("")
    namespaces = bundle.config["linux"]["namespaces"]
    namespaces[:] = [n for n in namespaces if n["type"] != "network"] + [{"type": "network", "path": str(not_ns)}]
    bundle.write(args=["true"])
    log = tmp_path / "debug.log"
    lading.prefix = [sys.executable, SUBREAPER]
    for debug in (["--debug", "--log", str(log)], []):  # which path it takes; then what the user reads
        p = lading(*debug, "create", "--bundle", str(bundle), cid, check=False)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "left:" not in p.stderr, p.stderr
        assert not runtime_entries(lading.root)
        assert not lading.cgroup_dirs(cid)
    assert (DIRECT in log.read_text()) == (edit is not _initial_cpu_affinity)
    assert p.stderr.splitlines() == [f"setns {not_ns}: Invalid argument"], p.stderr


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


def namespaces_of(pid: int | str) -> dict[str, str]:
    return {kind: os.readlink(f"/proc/{pid}/ns/{kind}") for kind in ("pid", "mnt", "uts", "ipc", "net", "cgroup")}


@pytest.mark.parametrize(
    "edit", [lambda c, t: None, _user_namespace, _cgroup_namespace], ids=["plain", "user", "cgroup"]
)
def test_exec_forks_the_process_into_the_pid_namespace_without_stage1(
    lading: Lading, bundle: Bundle, cid: str, tmp_path: Path, edit: Edit
) -> None:
    """The process is in every namespace of the init, PID one included, with no stage 1."""
    edit(bundle.config, tmp_path)
    _, init = debug_run(lading, bundle, cid)
    pid_file = tmp_path / "exec.pid"
    try:
        said = lading("--debug", "exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "1000").stderr
        pid = int(pid_file.read_text())
        try:
            assert EXEC_DIRECT in said and "stage-1" not in said, said
            assert nspid(pid)[0] == str(pid) and len(nspid(pid)) == 2 and nspid(pid)[1] != "1"
            assert namespaces_of(pid) == namespaces_of(init)
            assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink(f"/proc/{init}/ns/user")
        finally:
            os.kill(pid, signal.SIGKILL)
    finally:
        lading("delete", "-f", cid)


def test_exec_in_the_foreground_comes_back_to_its_own_pid_namespace(lading: Lading, bundle: Bundle, cid: str) -> None:
    """While `exec` waits for its process, the runtime's children would be born in its own PID
    namespace again, and its process is its own child."""
    _, init = debug_run(lading, bundle, cid)
    runtime = subprocess.Popen(
        [*lading.argv(), "--root", str(lading.root), "exec", cid, "sleep", "1000"], env=lading_env()
    )
    try:
        children = Path(f"/proc/{runtime.pid}/task/{runtime.pid}/children")
        deadline = time.monotonic() + 10
        while not (child := children.read_text().split()) or namespaces_of(child[0]) != namespaces_of(init):
            assert runtime.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        assert os.readlink(f"/proc/{runtime.pid}/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
        assert os.readlink(f"/proc/{runtime.pid}/ns/pid") == os.readlink("/proc/self/ns/pid")
        os.kill(int(child[0]), signal.SIGKILL)
        assert runtime.wait(timeout=10) == 128 + signal.SIGKILL
    finally:
        if runtime.poll() is None:
            runtime.kill()
            runtime.wait()
        lading("delete", "-f", cid)


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detached"])
def test_a_failing_exec_leaves_no_process(lading: Lading, bundle: Bundle, cid: str, detach: bool) -> None:
    """The process fails before its execve: the runtime reaps it (its own child) and says why."""
    debug_run(lading, bundle, cid)
    try:
        lading.prefix = [sys.executable, SUBREAPER]
        p = lading("exec", *(["-d"] if detach else []), cid, "/no/such/program", check=False)
        assert p.returncode != 0
        assert "left:" not in p.stderr, p.stderr
        assert "/no/such/program" in p.stderr, p.stderr
    finally:
        lading.prefix = []
        lading("delete", "-f", cid)
