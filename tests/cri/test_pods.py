"""Pod sandboxes through the CRI: Version, Status, Run/Status/Stop/Remove, List with filters."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import grpc
import pytest

from tests.clients.cgroups import processes_under
from tests.clients.image import IMAGE_NAME
from tests.cri.client import Cri
from tests.cri.daemon import BRIDGE, PAUSE_IMAGE, SUBNET, CriDaemon
from tests.support import mounts_under, pid_alive


def test_version_and_status(cri: Cri, handler: str) -> None:
    v = cri.call("Version", version="v1")
    assert (v.runtime_name, v.runtime_api_version) == ("containerd", "v1")
    status = cri.call("Status", verbose=True)
    ready = {c.type: c.status for c in status.status.conditions}
    assert ready == {"RuntimeReady": True, "NetworkReady": True}
    assert f'"{handler}"' in status.info["config"], "the handler is configured"
    for image in (IMAGE_NAME, PAUSE_IMAGE):  # what the kubelet checks before it would pull
        found = cri.images.ImageStatus(cri.pb.ImageStatusRequest(image=cri.pb.ImageSpec(image=image))).image
        assert image in found.repo_tags


def test_pod_sandbox_lifecycle(cri: Cri, handler: str) -> None:
    pb = cri.pb
    config = cri.pod_config(
        hostname="web-1",
        dns_config=pb.DNSConfig(servers=["10.213.0.53"], searches=["lading.test"], options=["ndots:2"]),
        port_mappings=[pb.PortMapping(protocol=pb.TCP, container_port=80, host_port=30080)],
        labels={"app": "web", "tier": "front"},
        annotations={"lading.test/note": "a pod"},
    )
    pod = cri.run_pod(handler, config)
    status, info = cri.pod_status(pod)
    assert status.state == pb.SANDBOX_READY
    assert ipaddress.ip_address(status.network.ip) in ipaddress.ip_network(SUBNET)
    assert status.metadata.name == config.metadata.name
    assert dict(status.labels) == {"app": "web", "tier": "front"}
    assert dict(status.annotations) == {"lading.test/note": "a pod"}
    assert status.runtime_handler == handler
    assert info["runtimeHandler"] == handler
    mappings = info["config"]["port_mappings"]
    assert mappings == [{"container_port": 80, "host_port": 30080}]

    cid = cri.run_idle(pod)
    assert cri.sh(cid, "hostname") == "web-1\n"
    resolv = cri.sh(cid, "cat /etc/resolv.conf").splitlines()
    assert resolv == ["search lading.test", "nameserver 10.213.0.53", "options ndots:2"]
    assert cri.sh(cid, "ip -4 -o addr show eth0").split()[3].startswith(status.network.ip + "/")

    pause = info["pid"]
    cri.call("StopPodSandbox", pod_sandbox_id=pod.id)
    assert cri.pod_status(pod)[0].state == pb.SANDBOX_NOTREADY
    assert cri.status(cid).state == pb.CONTAINER_EXITED
    assert not pid_alive(pause)
    cri.call("StopPodSandbox", pod_sandbox_id=pod.id)  # the kubelet may stop a pod more than once
    cri.call("RemovePodSandbox", pod_sandbox_id=pod.id)
    cri.pods.remove(pod)
    with pytest.raises(grpc.RpcError) as e:
        cri.call("PodSandboxStatus", pod_sandbox_id=pod.id)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    cri.call("RemovePodSandbox", pod_sandbox_id=pod.id)  # and remove it again


def test_everything_is_gone_after_remove_pod_sandbox(cri: Cri, handler: str, tmp_path: Path) -> None:
    """RemovePodSandbox of a running pod: its containers are killed and removed, with their
    processes, rootfs and shm mounts, cgroups and the pod's network namespace."""
    pod = cri.run_pod(handler)
    _, info = cri.pod_status(pod)
    netns = next(ns["path"] for ns in info["runtimeSpec"]["linux"]["namespaces"] if ns["type"] == "network")
    first = cri.run_idle(pod)
    second = cri.run(pod, ["sh", "-c", "sleep 1000 & exec sleep 1000"])
    pids = [info["pid"], cri.pid(first), cri.pid(second)]
    assert all(pid_alive(p) for p in pids)
    assert os.path.exists(netns) and mounts_under(Path(netns))
    cri.call("RemovePodSandbox", pod_sandbox_id=pod.id)
    cri.pods.remove(pod)
    assert not any(pid_alive(p) for p in pids)
    assert not processes_under(pod.config.linux.cgroup_parent)
    assert not os.path.exists(netns) and not mounts_under(Path(netns))
    assert not cri.call("ListContainers").containers


def test_list_pod_sandbox_with_filters(cri: Cri, handler: str) -> None:
    pb = cri.pb
    web = cri.run_pod(handler, cri.pod_config(labels={"app": "web"}))
    db = cri.run_pod(handler, cri.pod_config(labels={"app": "db"}))
    cri.call("StopPodSandbox", pod_sandbox_id=db.id)

    def listed(**fields: object) -> set[str]:
        return {p.id for p in cri.call("ListPodSandbox", filter=pb.PodSandboxFilter(**fields)).items}

    assert listed() == {web.id, db.id}
    assert listed(id=web.id) == {web.id}
    assert listed(label_selector={"app": "db"}) == {db.id}
    assert listed(state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY)) == {web.id}
    assert listed(state=pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY)) == {db.id}
    assert listed(label_selector={"app": "none"}) == set()


def test_the_pod_network_is_in_the_daemons_namespace_only(cri: Cri, cri_daemon: CriDaemon, handler: str) -> None:
    """The CNI bridge and the pods' veths are made in the network namespace the test gave
    containerd, never in the host's, and no firewall rule anywhere (no masquerading, and port
    mappings only recorded)."""
    pod = cri.run_pod(handler)
    ip = cri.pod_status(pod)[0].network.ip
    in_daemon = ["nsenter", f"--net=/proc/{cri_daemon.containerd.proc.pid}/ns/net", "ip", "-o"]
    bridge = subprocess.run([*in_daemon, "link", "show", "master", BRIDGE], capture_output=True, text=True)
    assert bridge.returncode == 0 and "veth" in bridge.stdout, bridge.stderr
    route = subprocess.run([*in_daemon, "route", "get", ip], capture_output=True, text=True, check=True).stdout
    assert f"dev {BRIDGE}" in route
    assert subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0
    subnet = SUBNET.rsplit(".", 1)[0] + "."
    for netns in ([], in_daemon[:2]):  # no NAT or filter rule for the pods, here or there
        rules = subprocess.run([*netns, "iptables-save"], capture_output=True, text=True, check=True).stdout
        assert subnet not in rules and BRIDGE not in rules
