"""One private containerd with the CRI plugin per test session, and a CRI client for each test.

Every scenario runs twice with the same requests and the same expected results: under the
``runc`` handler (Debian's runc, which calibrates the test) and under ``lading``. After each test
every pod it made is stopped and removed as the kubelet would, and the test fails if anything of
them is left: a pod or container in containerd, container state in the runtime's root, a process
in the pods' cgroups, a cgroup, or a mount (rootfs, shm, network namespace).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.clients.cgroups import hierarchies, processes_under
from tests.cri.api import PROTO, compile_api
from tests.cri.client import Cri
from tests.cri.daemon import HANDLERS, K8S_NAMESPACE, CriDaemon
from tests.support import mounts_under, runtime_entries


@pytest.fixture(scope="session")
def cri_api(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    if not PROTO.exists():
        pytest.skip(f"the CRI api.proto is not at {PROTO} (set LADING_CRI_API_PROTO)")
    return compile_api(tmp_path_factory.mktemp("cri-api"))


@pytest.fixture(scope="package")
def cri_daemon(cri_api: tuple[ModuleType, ModuleType], tmp_path_factory: pytest.TempPathFactory) -> Iterator[CriDaemon]:
    daemon = CriDaemon(tmp_path_factory.mktemp("cri"))
    try:
        yield daemon
    finally:
        left = daemon.close()
        assert not left, f"containerd (CRI) left behind: {left}"


@pytest.fixture(params=HANDLERS)
def handler(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def cri(cri_daemon: CriDaemon, cri_api: tuple[ModuleType, ModuleType], handler: str, tmp_path: Path) -> Iterator[Cri]:
    """A CRI client on its own channel (gRPC holds descriptors only while a channel is open, and
    other tests count theirs); the test's pods are removed afterwards and nothing of them may
    remain."""
    runtime = cri_daemon.runtimes[handler]
    runtime.reset_calls()
    client = Cri(cri_daemon.address, cri_api, cri_daemon.cgroup_parent, tmp_path / "logs")
    try:
        yield client
        pods = list(client.pods)
        for pod in pods:
            client.remove_pod(pod)
        assert not client.call("ListPodSandbox").items, "pods left in containerd"
        assert not client.call("ListContainers").containers, "containers left in containerd"
    finally:
        client.close()
    called = " ".join(" ".join(call) for call in runtime.logged_calls())
    assert all(pod.id in called for pod in pods), f"a pod did not run under the {handler} handler"
    kept = [p.name for p in runtime_entries(runtime.root / K8S_NAMESPACE)]
    assert not kept, f"{handler} kept state: {kept}"
    assert not processes_under(cri_daemon.cgroup_parent), "processes left in the pods' cgroups"
    assert not mounts_under(cri_daemon.containerd.dir), "mounts left (rootfs, shm or network namespace)"
    assert not remove_pod_cgroups(cri_daemon.cgroup_parent), "container cgroups left in a pod's cgroup"


def remove_pod_cgroups(parent: str) -> list[str]:
    """Remove the per-pod cgroups under parent, as the kubelet does; returns any cgroup that was
    still below one of them (the runtime removes each container's own)."""
    left = []
    for hierarchy in hierarchies():
        top = hierarchy / parent.lstrip("/")
        if not top.is_dir():
            continue
        for pod in (d for d in top.iterdir() if d.is_dir()):
            left += [str(d) for d in pod.iterdir() if d.is_dir()]
            with contextlib.suppress(OSError):
                pod.rmdir()
    return left
