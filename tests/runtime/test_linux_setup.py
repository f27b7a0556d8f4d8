"""runtime-linux.md and config-linux.md, observed from inside real containers."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest


def run_sh(lading, bundle, script: str, **process) -> str:
    bundle.write(args=["sh", "-c", script], **process)
    p = lading("run", "-b", str(bundle), "c1", check=False)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_pid_namespace_makes_the_process_pid_1(lading, bundle):
    assert run_sh(lading, bundle, "echo $$; ps -o pid= | wc -l").split()[0] == "1"


def test_hostname_and_domainname(lading, bundle):
    bundle.config["hostname"] = "box"
    bundle.config["domainname"] = "example.org"
    assert run_sh(lading, bundle, "hostname; cat /proc/sys/kernel/domainname") == "box\nexample.org\n"


def test_new_network_namespace_has_only_loopback_and_it_is_up(lading, bundle):
    caps = ["CAP_NET_RAW"]  # busybox ping opens a raw socket
    out = run_sh(
        lading,
        bundle,
        "ls /sys/class/net; cat /sys/class/net/lo/operstate; ping -c1 -W1 127.0.0.1 >/dev/null && echo ok",
        capabilities={"bounding": caps, "effective": caps, "permitted": caps},
    )
    assert out.split() == ["lo", "unknown", "ok"]


def test_namespaces_differ_from_the_host(lading, bundle):
    if {"type": "cgroup"} not in bundle.config["linux"]["namespaces"]:  # runc's default has one on cgroup v2 only
        bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    out = run_sh(lading, bundle, "for n in pid net ipc uts mnt cgroup; do readlink /proc/1/ns/$n; done")
    for line, kind in zip(out.split(), ["pid", "net", "ipc", "uts", "mnt", "cgroup"], strict=True):
        assert line != os.readlink(f"/proc/self/ns/{kind}")


def test_joining_a_namespace_by_path(lading, bundle):
    holder = subprocess.Popen(["unshare", "--net", "sleep", "100"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        for _ in range(100):
            if os.readlink(path) != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.01)
        bundle.config["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")] + [
            {"type": "network", "path": path}
        ]
        out = run_sh(lading, bundle, "readlink /proc/self/ns/net")
        assert out.strip() == os.readlink(path)
    finally:
        holder.kill()
        holder.wait()


def test_time_namespace_offsets(lading, bundle):
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    uptime = float(run_sh(lading, bundle, "cut -d' ' -f1 /proc/uptime"))
    assert uptime > 86400 * 365


def test_environment_cwd_and_home(lading, bundle):
    out = run_sh(lading, bundle, "echo $FOO; pwd; echo $HOME", env=["PATH=/bin", "FOO=bar"], cwd="/tmp/work")
    assert out.split() == ["bar", "/tmp/work", "/root"]


def test_user_groups_and_umask(lading, bundle):
    out = run_sh(
        lading,
        bundle,
        "id -u; id -g; id -G; umask",
        user={"uid": 1000, "gid": 100, "additionalGids": [5, 6], "umask": 0o027},
    )
    uid, gid, groups, umask = out.split("\n")[:4]
    assert (uid, gid, umask) == ("1000", "100", "0027")
    assert set(groups.split()) == {"100", "5", "6"}


def test_no_new_privileges_and_oom_score_adj(lading, bundle):
    out = run_sh(
        lading,
        bundle,
        "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj",
        noNewPrivileges=True,
        oomScoreAdj=123,
    )
    assert out.split() == ["NoNewPrivs:", "1", "123"]


def test_default_devices_and_dev_links(lading, bundle):
    out = run_sh(
        lading,
        bundle,
        "for d in null zero full random urandom tty; do stat -c '%n %t:%T %a' /dev/$d; done;"
        "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done",
    )
    lines = out.splitlines()
    assert lines[:6] == [
        "/dev/null 1:3 666",
        "/dev/zero 1:5 666",
        "/dev/full 1:7 666",
        "/dev/random 1:8 666",
        "/dev/urandom 1:9 666",
        "/dev/tty 5:0 666",
    ]
    assert lines[6:] == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "pts/ptmx"]


def test_linux_devices_are_created_with_mode_and_owner(lading, bundle):
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1, "gid": 2},
        {"path": "/dev/sub/pipe", "type": "p", "fileMode": 0o600},
    ]
    out = run_sh(lading, bundle, "stat -c '%F %t:%T %a %u:%g' /dev/fuse; stat -c '%F %a' /dev/sub/pipe")
    assert out.splitlines() == ["character special file a:e5 640 1:2", "fifo 600"]


def test_a_listed_default_device_takes_the_listed_mode(lading, bundle):
    """The config's entry for a default device is the one made (runc: the same)."""
    bundle.config["linux"]["devices"] = [{"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o600}]
    assert run_sh(lading, bundle, "stat -c '%t:%T %a' /dev/zero").splitlines() == ["1:5 600"]


def test_masked_and_readonly_paths(lading, bundle):
    assert Path("/proc/timer_list").read_text() and any(Path("/sys/firmware").iterdir())
    out = run_sh(
        lading,
        bundle,
        "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; "
        "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo ro",
    )
    assert out.split() == ["0", "0", "ro"]


def test_readonly_root(lading, bundle):
    out = run_sh(lading, bundle, "touch /x 2>/dev/null || echo ro; touch /dev/shm/x && echo shm-rw")
    assert out.split() == ["ro", "shm-rw"]


def test_writable_root_when_not_readonly(lading, bundle):
    bundle.config["root"]["readonly"] = False
    assert run_sh(lading, bundle, "touch /x && echo rw").strip() == "rw"
    assert (bundle.rootfs / "x").exists()


def test_mount_options_bind_ro_and_tmpfs(lading, bundle, tmp_path):
    src = tmp_path / "share"
    src.mkdir()
    (src / "f").write_text("host file\n")
    bundle.config["mounts"] += [
        {"destination": "/share", "type": "bind", "source": str(src), "options": ["rbind", "ro", "nosuid"]},
        {
            "destination": "/scratch",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["size=1m", "mode=700", "noexec"],
        },
        {"destination": "/etc/hostfile", "type": "bind", "source": str(src / "f"), "options": ["bind"]},
    ]
    out = run_sh(
        lading,
        bundle,
        "cat /share/f; touch /share/g 2>/dev/null || echo share-ro; stat -c %a /scratch;"
        "grep -E ' /(share|scratch) ' /proc/self/mountinfo | cut -d' ' -f5,6; cat /etc/hostfile",
    )
    lines = out.splitlines()
    assert lines[0] == "host file" and lines[1] == "share-ro" and lines[2] == "700"
    assert any(ln.startswith("/share ro,nosuid") for ln in lines)
    assert any(ln.startswith("/scratch rw,noexec") for ln in lines)
    assert lines[-1] == "host file"


def test_sysctl_is_applied_in_the_container_only(lading, bundle):
    host = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1" if host.strip() == "0" else "0"}
    assert run_sh(lading, bundle, "cat /proc/sys/net/ipv4/ip_forward").strip() != host.strip()
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host


def test_host_sysctl_is_refused(lading, bundle):
    bundle.config["linux"]["sysctl"] = {"vm.overcommit_memory": "1"}
    bundle.write(args=["true"])
    p = lading("run", "-b", str(bundle), "c1", check=False)
    assert p.returncode == 1 and "vm.overcommit_memory" in p.stderr and "host" in p.stderr


def test_no_pivot(lading, bundle):
    bundle.write(args=["sh", "-c", "ls / | wc -l"])
    assert int(lading("run", "--no-pivot", "-b", str(bundle), "c1").stdout) > 5


@pytest.mark.parametrize(
    "link,inside",
    [
        ("/", "/x"),  # an absolute symlink to "the root" means the container's root
        ("../../../../../../../../tmp", "/tmp/x"),  # climbing out stops at the container's root
    ],
)
def test_symlinks_in_the_rootfs_cannot_send_mounts_to_the_host(lading, bundle, link, inside):
    (bundle.rootfs / "mnt").mkdir(exist_ok=True)
    (bundle.rootfs / "mnt" / "evil").symlink_to(link)
    bundle.config["mounts"].append({"destination": "/mnt/evil/x", "type": "tmpfs", "source": "tmpfs"})
    bundle.write(args=["sh", "-c", f"grep -c ' {inside} ' /proc/self/mountinfo"])
    out = lading("run", "-b", str(bundle), "c1").stdout
    assert out.split() == ["1"], "the mount lands inside the rootfs, at the link's target"
    assert not Path("/x").exists() and not Path("/tmp/x").exists()
    host_mounts = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    assert not host_mounts & {"/x", "/tmp/x", "/mnt/evil/x"}


def test_symlinked_dev_cannot_put_devices_on_the_host(lading, bundle, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (bundle.rootfs / "dev").rmdir()
    (bundle.rootfs / "dev").symlink_to(str(victim))
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    bundle.write(args=["true"])
    lading("run", "-b", str(bundle), "c1", check=False)
    assert list(victim.iterdir()) == []


def test_container_gets_its_own_session_keyring(lading, bundle):
    cid = f"keyring-{uuid.uuid4().hex[:8]}"  # keyrings are global: a name no other test uses
    bundle.config["linux"]["maskedPaths"].remove("/proc/keys")
    bundle.write(args=["sh", "-c", f"grep -c _ses.{cid} /proc/keys || true"])
    assert lading("run", "-b", str(bundle), cid).stdout.strip() == "1"
    # Another name: the kernel drops the first run's keyring from /proc/keys lazily (its key
    # collector runs later, under load well after the run has ended).
    second = f"{cid}-none"
    bundle.write(args=["sh", "-c", f"grep -c _ses.{second} /proc/keys || true"])
    assert lading("run", "--no-new-keyring", "-b", str(bundle), second).stdout.strip() == "0"


def test_tmpcopyup_fills_a_tmpfs_with_what_it_covers(lading, bundle):
    (bundle.rootfs / "data").mkdir()
    (bundle.rootfs / "data" / "seed").write_text("from the image\n")
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "rprivate"]}
    )
    out = run_sh(lading, bundle, "cat /data/seed; echo new > /data/more && cat /data/more")
    assert out == "from the image\nnew\n"
    assert not (bundle.rootfs / "data" / "more").exists()


@pytest.mark.parametrize("cgroupns", [True, False])
def test_sys_fs_cgroup_shows_the_containers_own_cgroup(lading, bundle, cgroupns):
    if not cgroupns:
        bundle.config["linux"]["namespaces"] = [
            n for n in bundle.config["linux"]["namespaces"] if n["type"] != "cgroup"
        ]
    elif {"type": "cgroup"} not in bundle.config["linux"]["namespaces"]:
        bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle.config["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
    bundle.config["linux"]["resources"]["pids"] = {"limit": 77}
    out = run_sh(lading, bundle, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max")
    assert out.split() == [str(64 * 1024 * 1024), "77"]
