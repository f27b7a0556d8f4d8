"""What the containers of one pod share: the network namespace (one reaches the other on
localhost) and IPC (the same namespace and the pod's /dev/shm), while each has its own PIDs
unless the pod shares its process namespace."""

from __future__ import annotations

import os

from tests.cri.client import Cri
from tests.cri.daemon import BRIDGE, CriDaemon

SERVER = "mkdir -p /www && echo hello from the server > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"


def test_containers_of_a_pod_share_network_and_ipc(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    server = cri.run(pod, ["sh", "-c", SERVER])
    client = cri.run_idle(pod)
    fetch = "for i in $(seq 200); do wget -q -O - http://127.0.0.1:8080/index.html && exit; sleep 0.05; done; exit 1"
    assert cri.sh(client, fetch) == "hello from the server\n"

    def namespace(cid: str, kind: str) -> str:
        return cri.sh(cid, f"readlink /proc/self/ns/{kind}")

    assert namespace(server, "net") == namespace(client, "net")
    assert namespace(server, "ipc") == namespace(client, "ipc")
    assert namespace(server, "uts") == namespace(client, "uts")
    assert namespace(server, "pid") != namespace(client, "pid")
    cri.sh(server, "echo shared > /dev/shm/note")
    assert cri.sh(client, "cat /dev/shm/note") == "shared\n"


def test_a_pod_that_shares_its_process_namespace(cri: Cri, handler: str) -> None:
    """shareProcessNamespace: one PID namespace for the pod, whose first process is the pause."""
    pb = cri.pb
    shared = pb.NamespaceOption(pid=pb.POD)
    config = cri.pod_config(
        linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(namespace_options=shared))
    )
    pod = cri.run_pod(handler, config)
    first = cri.run(pod, ["sh", "-c", "exec sleep 1000"])
    second = cri.run_idle(pod)
    processes = cri.sh(second, "ps -o pid,args")
    assert "1 /catatonit -P" in processes and "sleep 1000" in processes
    cri.call("StopContainer", container_id=first, timeout=0)
    assert cri.wait_exited(first).exit_code == 137
    assert "sleep 1000" not in cri.sh(second, "ps -o pid,args")


def test_a_pod_in_the_nodes_namespaces(cri: Cri, cri_daemon: CriDaemon, handler: str) -> None:
    """hostNetwork, hostIPC and hostPID: no namespaces of the pod's own for those. The node's
    network namespace is the one the test gave containerd, so the pod sees the CNI bridge."""
    pb = cri.pb
    node = pb.NamespaceOption(network=pb.NODE, pid=pb.NODE, ipc=pb.NODE)
    config = cri.pod_config(
        linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(namespace_options=node))
    )
    pod = cri.run_pod(handler, config)
    cid = cri.run_idle(pod)

    def namespace(kind: str) -> str:
        return cri.sh(cid, f"readlink /proc/self/ns/{kind}").strip()

    assert namespace("net") == os.readlink(f"/proc/{cri_daemon.containerd.proc.pid}/ns/net")
    assert namespace("ipc") == os.readlink("/proc/self/ns/ipc")
    assert namespace("pid") == os.readlink("/proc/self/ns/pid")
    assert BRIDGE in cri.sh(cid, "ip -o link")
    pids = [line.split()[0] for line in cri.sh(cid, "ps -o pid").splitlines()]
    assert str(os.getpid()) in pids, "the node's processes"
    cri.call("StopContainer", container_id=cid, timeout=10)
    assert cri.status(cid).exit_code == 0
