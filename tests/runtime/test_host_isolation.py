"""A config must never change or reach the host: sysctls and names of namespaces the container
shares with the host, devices the device cgroup denies, and a fresh /proc under --no-pivot.

Each test runs on runc first (the reference it was calibrated on), then on lading. No test ever
changes a host value: a sysctl that must be refused is given the value the host already has, and
the host's value is read before and after.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import Runc


def unique_id() -> str:
    return f"iso-{uuid.uuid4().hex[:10]}"


def without(bundle, *kinds: str) -> None:
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] not in kinds]


@contextmanager
def namespace_holder(*flags: str) -> Iterator[int]:
    """A process in new namespaces of the given kinds (unshare(1) flags), killed afterwards."""
    holder = subprocess.Popen(["unshare", *flags, "sleep", "1000"])
    try:
        kind = {"--net": "net", "--ipc": "ipc", "--uts": "uts"}[flags[0]]
        for _ in range(500):  # until unshare has exec'd sleep in the new namespace
            if os.readlink(f"/proc/{holder.pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}"):
                break
            time.sleep(0.01)
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def host_sysctl(key: str) -> str:
    return Path("/proc/sys/" + key.replace(".", "/")).read_text()


HOST_NS = f"/proc/{os.getpid()}/ns"  # namespaces of this test, which are the host's


def runc_1_1_lets_it_through(runtime) -> None:
    """runc 1.1 compares a namespace joined by path with its own only for the network namespace."""
    if isinstance(runtime, Runc):
        pytest.skip("runc 1.1 takes any namespace joined by path as the container's own")


@pytest.mark.parametrize(
    "key,kinds,joined",
    [
        ("fs.mqueue.queues_max", ["ipc"], None),
        ("kernel.shmmax", ["ipc"], None),
        ("kernel.msgmnb", ["ipc"], ("ipc", f"{HOST_NS}/ipc")),
        ("net.ipv4.ip_forward", ["network"], None),
        ("net.ipv4.ip_forward", ["network"], ("network", f"{HOST_NS}/net")),
        ("kernel.domainname", ["uts"], None),
    ],
)
def test_a_sysctl_of_a_namespace_shared_with_the_host_is_refused(runtime, bundle, key, kinds, joined):
    if joined and joined[0] != "network":
        runc_1_1_lets_it_through(runtime)
    before = host_sysctl(key)
    without(bundle, *kinds)
    if "uts" in kinds:
        del bundle.config["hostname"]
    if joined:
        bundle.config["linux"]["namespaces"].append({"type": joined[0], "path": joined[1]})
    bundle.config["linux"]["sysctl"] = {key: before.strip()}  # the host's own value: a bug changes nothing
    bundle.write(args=["true"])
    p = runtime("run", "-b", str(bundle), unique_id(), check=False)
    assert p.returncode != 0
    assert key in p.stderr and ("host" in p.stderr or "separate kernel namespace" in p.stderr), p.stderr
    assert host_sysctl(key) == before


def test_a_sysctl_of_a_joined_namespace_is_set_there(runtime, bundle):
    before = host_sysctl("kernel.msgmnb")
    wanted = str(int(before) + 1)
    with namespace_holder("--ipc") as holder:
        without(bundle, "ipc")
        bundle.config["linux"]["namespaces"].append({"type": "ipc", "path": f"/proc/{holder}/ns/ipc"})
        bundle.config["linux"]["sysctl"] = {"kernel.msgmnb": wanted}
        bundle.write(args=["cat", "/proc/sys/kernel/msgmnb"])
        assert runtime("run", "-b", str(bundle), unique_id()).stdout.strip() == wanted
        seen = subprocess.run(
            ["nsenter", "-t", str(holder), "-i", "cat", "/proc/sys/kernel/msgmnb"], capture_output=True, text=True
        )
        assert seen.stdout.strip() == wanted
    assert host_sysctl("kernel.msgmnb") == before


@pytest.mark.parametrize("field", ["hostname", "domainname"])
def test_a_name_without_a_uts_namespace_of_its_own_is_refused(runtime, bundle, field):
    runc_1_1_lets_it_through(runtime)
    before = Path(f"/proc/sys/kernel/{field}").read_text()
    without(bundle, "uts")
    bundle.config.pop("hostname")
    bundle.config["linux"]["namespaces"].append({"type": "uts", "path": f"{HOST_NS}/uts"})
    bundle.config[field] = before.strip()
    bundle.write(args=["true"])
    p = runtime("run", "-b", str(bundle), unique_id(), check=False)
    assert p.returncode != 0 and field in p.stderr and "UTS" in p.stderr.upper(), p.stderr
    assert Path(f"/proc/sys/kernel/{field}").read_text() == before


def test_the_hostname_is_set_in_a_uts_namespace_joined_by_path(runtime, bundle):
    host = socket.gethostname()
    with namespace_holder("--uts") as holder:
        without(bundle, "uts")
        bundle.config["linux"]["namespaces"].append({"type": "uts", "path": f"/proc/{holder}/ns/uts"})
        bundle.config["hostname"] = "joined-uts"
        bundle.write(args=["hostname"])
        assert runtime("run", "-b", str(bundle), unique_id()).stdout.strip() == "joined-uts"
        seen = subprocess.run(["nsenter", "-t", str(holder), "-u", "hostname"], capture_output=True, text=True)
        assert seen.stdout.strip() == "joined-uts"
    assert socket.gethostname() == host


FUSE = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}
OPEN_FUSE = "(exec 3<>/dev/fuse) 2>/dev/null && echo opened || echo denied"


def test_a_listed_device_gets_only_what_the_device_rules_grant(runtime, bundle):
    assert bundle.config["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    bundle.config["linux"]["devices"] = [FUSE]
    bundle.write(args=["sh", "-c", OPEN_FUSE])
    assert runtime("run", "-b", str(bundle), unique_id()).stdout.split() == ["denied"]
    bundle.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}
    )
    bundle.write(args=["sh", "-c", OPEN_FUSE])
    assert runtime("run", "-b", str(bundle), unique_id()).stdout.split() == ["opened"]


def test_no_pivot_leaves_no_unmasked_proc_for_a_new_user_namespace(runtime, bundle):
    """Under --no-pivot the host's mounts are still in the container's mount namespace; a process
    that unshares a user, mount and PID namespace must not be able to mount a fresh proc."""
    (bundle.rootfs / "tmp" / "p").mkdir()
    script = (
        "unshare -U -m -p -f -r mount -t proc proc /tmp/p && echo mounted-proc;"
        "unshare -U -m -r mount -t sysfs sysfs /tmp/p && echo mounted-sysfs;"
        "ls / | wc -l"
    )
    bundle.write(args=["sh", "-c", script], user={"uid": 1000, "gid": 1000})
    p = runtime("run", "--no-pivot", "-b", str(bundle), unique_id(), check=False)
    assert p.returncode == 0, p.stderr
    assert "mounted" not in p.stdout and int(p.stdout.split()[-1]) > 5
