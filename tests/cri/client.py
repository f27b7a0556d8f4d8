"""A CRI client that drives containerd the way the kubelet does, over its gRPC socket.

The requests are the CRI's own messages (tests/cri/api.py compiles them); this wrapper only fills
in what every kubelet request carries (metadata, the pod's cgroup parent and log directory), waits
where the kubelet would poll, and remembers each pod it made so a test can never leak one.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc

from tests.clients.image import IMAGE_NAME

RPC_TIMEOUT = 120  # seconds; a stop waits for the container's own timeout first
# What the kubelet asks to mask and make read-only in every container (its procMount "Default");
# containerd applies them as given, and drops them for a privileged container.
KUBELET_MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
]
KUBELET_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
_names = itertools.count(1)


@dataclass
class Pod:
    id: str
    config: Any  # a PodSandboxConfig


@dataclass
class Exec:
    exit_code: int
    stdout: str
    stderr: str


class Cri:
    """The CRI RuntimeService and ImageService of one containerd."""

    def __init__(self, address: str, api: tuple[ModuleType, ModuleType], cgroup_parent: str, logs: Path) -> None:
        self.pb, services = api
        self.channel = grpc.insecure_channel(f"unix://{address}")
        self.runtime = services.RuntimeServiceStub(self.channel)
        self.images = services.ImageServiceStub(self.channel)
        self.cgroup_parent = cgroup_parent
        self.logs = logs
        self.pods: list[Pod] = []

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, **request: Any) -> Any:
        """RuntimeService.method with a request made of the keyword arguments."""
        request_type = getattr(self.pb, f"{method}Request")
        return getattr(self.runtime, method)(request_type(**request), timeout=RPC_TIMEOUT)

    # --- pods --------------------------------------------------------------------------------

    def pod_config(self, name: str = "", **fields: Any) -> Any:
        """A PodSandboxConfig as the kubelet writes one; fields override or add (``linux`` is
        merged into the pod's LinuxPodSandboxConfig, which always names the test's cgroup parent,
        and gives each container its own PID namespace unless it says otherwise)."""
        pb = self.pb
        name = name or f"pod{next(_names)}"
        uid = f"uid-{name}-{time.monotonic_ns()}"
        linux = fields.pop("linux", None) or pb.LinuxPodSandboxConfig()
        linux.cgroup_parent = f"{self.cgroup_parent}/{uid}"
        if not linux.security_context.HasField("namespace_options"):
            linux.security_context.namespace_options.pid = pb.CONTAINER  # no shareProcessNamespace
        log_dir = self.logs / uid
        log_dir.mkdir(parents=True)
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace="lading-test", attempt=0),
            log_directory=str(log_dir),
            linux=linux,
            **fields,
        )

    def run_pod(self, handler: str, config: Any = None) -> Pod:
        config = config or self.pod_config()
        pod_id = self.call("RunPodSandbox", config=config, runtime_handler=handler).pod_sandbox_id
        pod = Pod(pod_id, config)
        self.pods.append(pod)
        return pod

    def pod_status(self, pod: Pod) -> tuple[Any, dict[str, Any]]:
        """The PodSandboxStatus and its verbose info (containerd's own view, decoded)."""
        r = self.call("PodSandboxStatus", pod_sandbox_id=pod.id, verbose=True)
        return r.status, json.loads(r.info["info"])

    def remove_pod(self, pod: Pod) -> None:
        """What the kubelet does when a pod goes: stop it (at least once), then remove it."""
        self.call("StopPodSandbox", pod_sandbox_id=pod.id)
        self.call("RemovePodSandbox", pod_sandbox_id=pod.id)
        self.pods.remove(pod)

    # --- containers --------------------------------------------------------------------------

    def container_config(self, command: list[str], name: str = "", **fields: Any) -> Any:
        """A ContainerConfig as the kubelet writes one; fields override or add (the kubelet's
        masked and read-only paths go into ``linux.security_context``)."""
        pb = self.pb
        name = name or f"c{next(_names)}"
        linux = fields.pop("linux", None) or pb.LinuxContainerConfig()
        linux.security_context.masked_paths.extend(KUBELET_MASKED_PATHS)
        linux.security_context.readonly_paths.extend(KUBELET_READONLY_PATHS)
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=0),
            image=pb.ImageSpec(image=IMAGE_NAME),
            command=command,
            log_path=f"{name}.log",
            linux=linux,
            **fields,
        )

    def create(self, pod: Pod, config: Any) -> str:
        """CreateContainer in pod; the container gets the pod's namespace options, as from the kubelet."""
        options = config.linux.security_context.namespace_options
        options.CopyFrom(pod.config.linux.security_context.namespace_options)
        cid: str = self.call(
            "CreateContainer", pod_sandbox_id=pod.id, config=config, sandbox_config=pod.config
        ).container_id
        return cid

    def start(self, cid: str) -> None:
        self.call("StartContainer", container_id=cid)

    def run(self, pod: Pod, command: list[str], **fields: Any) -> str:
        """Create and start a container in pod; returns its id once it is running (or exited)."""
        cid = self.create(pod, self.container_config(command, **fields))
        self.start(cid)
        return cid

    def run_idle(self, pod: Pod, **fields: Any) -> str:
        """A container that waits to be exec'd into (and dies at once on SIGTERM)."""
        return self.run(pod, ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"], **fields)

    def status(self, cid: str) -> Any:
        return self.call("ContainerStatus", container_id=cid).status

    def pid(self, cid: str) -> int:
        """The container's init as containerd sees it (from the verbose status)."""
        info = self.call("ContainerStatus", container_id=cid, verbose=True).info["info"]
        pid: int = json.loads(info)["pid"]
        return pid

    def wait_exited(self, cid: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while (st := self.status(cid)).state != self.pb.CONTAINER_EXITED:
            if time.monotonic() > deadline:
                raise AssertionError(f"container {cid} did not exit: {st}")
            time.sleep(0.05)
        return st

    def exec(self, cid: str, cmd: list[str], timeout: int = 0) -> Exec:
        r = self.call("ExecSync", container_id=cid, cmd=cmd, timeout=timeout)
        return Exec(r.exit_code, r.stdout.decode(), r.stderr.decode())

    def sh(self, cid: str, script: str) -> str:
        """stdout of ``sh -c script`` in the container, which must succeed."""
        r = self.exec(cid, ["sh", "-c", script])
        assert r.exit_code == 0, f"{script!r} exited {r.exit_code}: {r.stderr}"
        return r.stdout

    def log_path(self, cid: str) -> Path:
        return Path(self.status(cid).log_path)
