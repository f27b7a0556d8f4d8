"""A container's security context through the CRI: capabilities, privileged, read-only rootfs,
no_new_privs, seccomp, and the pod's sysctls, as the process inside sees them."""

from __future__ import annotations

import os
from typing import Any

from tests.cri.client import Cri

CAP_CHOWN, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN = 0, 12, 13, 21


def proc_status(cri: Cri, cid: str) -> dict[str, str]:
    """/proc/self/status of a process exec'd in the container."""
    lines = cri.sh(cid, "cat /proc/self/status").splitlines()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}


def effective_caps(cri: Cri, cid: str) -> int:
    return int(proc_status(cri, cid)["CapEff"], 16)


def security(cri: Cri, **fields: Any) -> Any:
    pb = cri.pb
    return pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(**fields))


def test_capabilities_added_and_dropped(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    default = cri.run_idle(pod)
    caps = effective_caps(cri, default)
    assert caps & (1 << CAP_CHOWN) and caps & (1 << CAP_NET_RAW)
    assert not caps & (1 << CAP_NET_ADMIN) and not caps & (1 << CAP_SYS_ADMIN)

    changed = cri.run_idle(
        pod,
        linux=security(
            cri, capabilities=cri.pb.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["CHOWN"])
        ),
    )
    caps = effective_caps(cri, changed)
    assert caps & (1 << CAP_NET_ADMIN) and not caps & (1 << CAP_CHOWN)
    chown = cri.exec(changed, ["sh", "-c", "touch /tmp/f && chown 1 /tmp/f"])
    assert chown.exit_code != 0 and "Operation not permitted" in chown.stderr
    cri.sh(changed, "ip link set lo mtu 1280")  # NET_ADMIN, in the pod's network namespace
    assert cri.sh(default, "cat /sys/class/net/lo/mtu") == "1280\n"


def test_privileged(cri: Cri, handler: str) -> None:
    pb = cri.pb
    pod = cri.run_pod(
        handler,
        cri.pod_config(
            linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(privileged=True))
        ),
    )
    cid = cri.run_idle(pod, linux=security(cri, privileged=True))
    status = proc_status(cri, cid)
    with open("/proc/self/status") as f:
        host_caps = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    assert status["CapEff"] == host_caps, "every capability containerd has"
    assert status["Seccomp"] == "0"
    host_only = "/dev/kmsg" if os.path.exists("/dev/kmsg") else "/dev/tty1"
    assert cri.exec(cid, ["test", "-c", host_only]).exit_code == 0, "the host's devices"
    assert "/proc/sys" not in mount_options(cri, cid), "no read-only or masked paths"
    assert cri.sh(cid, "wc -c < /proc/timer_list") != "0\n"
    unprivileged = cri.run_idle(pod)
    assert cri.exec(unprivileged, ["test", "-e", host_only]).exit_code == 1
    assert "ro" in mount_options(cri, unprivileged)["/proc/sys"]
    assert cri.sh(unprivileged, "wc -c < /proc/timer_list") == "0\n", "masked"


def mount_options(cri: Cri, cid: str) -> dict[str, list[str]]:
    """Mount point -> options, as the container's /proc/mounts has them (the last mount wins)."""
    return {m.split()[1]: m.split()[3].split(",") for m in cri.sh(cid, "cat /proc/mounts").splitlines()}


def test_read_only_root_filesystem(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    cid = cri.run_idle(pod, linux=security(cri, readonly_rootfs=True))
    denied = cri.exec(cid, ["touch", "/new-file"])
    assert denied.exit_code == 1 and "Read-only file system" in denied.stderr
    cri.sh(cid, "echo x > /dev/shm/ok")  # the pod's shm stays writable


def test_no_new_privs(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    assert proc_status(cri, cri.run_idle(pod, linux=security(cri, no_new_privs=True)))["NoNewPrivs"] == "1"
    assert proc_status(cri, cri.run_idle(pod))["NoNewPrivs"] == "0"


def test_seccomp_runtime_default_and_unconfined(cri: Cri, handler: str) -> None:
    pb = cri.pb
    pod = cri.run_pod(handler)
    confined = cri.run_idle(
        pod, linux=security(cri, seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault))
    )
    free = cri.run_idle(
        pod, linux=security(cri, seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.Unconfined))
    )
    assert proc_status(cri, confined)["Seccomp"] == "2"
    assert proc_status(cri, free)["Seccomp"] == "0"
    # A user namespace needs no capability, but the default profile allows unshare only to
    # holders of CAP_SYS_ADMIN.
    blocked = cri.exec(confined, ["unshare", "--user", "true"])
    assert blocked.exit_code != 0 and "Operation not permitted" in blocked.stderr
    assert cri.exec(free, ["unshare", "--user", "true"]).exit_code == 0
    cri.sh(confined, "echo still works > /tmp/x && cat /tmp/x")


def test_pod_sysctls(cri: Cri, handler: str) -> None:
    """Namespaced sysctls of the pod, set in the pod's network and IPC namespaces, which every
    container joins; the host's values are untouched."""
    pb = cri.pb
    sysctls = {"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"}
    host = {k: read_sysctl(k) for k in sysctls}
    pod = cri.run_pod(handler, cri.pod_config(linux=pb.LinuxPodSandboxConfig(sysctls=sysctls)))
    cid = cri.run_idle(pod)
    for key, value in sysctls.items():
        assert cri.sh(cid, f"cat /proc/sys/{key.replace('.', '/')}") == value + "\n"
    assert {k: read_sysctl(k) for k in sysctls} == host


def read_sysctl(key: str) -> str:
    with open(f"/proc/sys/{key.replace('.', '/')}") as f:
        return f.read().strip()
