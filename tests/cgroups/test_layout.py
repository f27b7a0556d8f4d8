"""Layout detection from mountinfo and /proc/self/cgroup, for v1, v2 and hybrid hosts."""

from __future__ import annotations

from lading.linux.cgroups import hugepages, layout

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
HYBRID_PROC = "5:name=systemd:/\n4:freezer:/\n3:memory:/outer/me\n2:cpu,cpuacct:/\n0::/user.slice/me\n"

V2 = """\
25 1 8:1 / / rw - ext4 /dev/sda1 rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""


def test_hybrid() -> None:
    mounts = layout.parse_mountinfo(HYBRID)
    own_v1, own_v2 = layout.parse_proc_cgroup(HYBRID_PROC)
    lay = layout.build(mounts, own_v1, own_v2, "cpu memory hugetlb pids\n")
    assert lay.mode == "hybrid"
    assert lay.v1["cpu"] is lay.v1["cpuacct"]
    assert lay.v1["cpu"].mountpoint == "/sys/fs/cgroup/cpu,cpuacct"
    assert lay.v1["memory"].own == "/outer/me"
    assert lay.v1["name=systemd"].controllers == {"name=systemd"}
    assert lay.unified is not None and lay.unified.own == "/user.slice/me"
    # controllers v1 already holds cannot be used on cgroup2
    assert lay.v2_controllers == {"hugetlb", "pids"}
    assert lay.version_of("memory") == 1 and lay.version_of("hugetlb") == 2 and lay.version_of("rdma") is None
    assert len(lay.hierarchies()) == 5


def test_v1_only() -> None:
    text = "\n".join(HYBRID.splitlines()[:-1])
    lay = layout.build(layout.parse_mountinfo(text), *layout.parse_proc_cgroup(HYBRID_PROC), "")
    assert lay.mode == "v1" and lay.unified is None and not lay.v2_controllers


def test_v2_only() -> None:
    lay = layout.build(layout.parse_mountinfo(V2), {}, "/system.slice/x.scope", "cpuset cpu io memory pids\n")
    assert lay.mode == "v2" and not lay.v1
    assert lay.unified is not None and lay.unified.mountpoint == "/sys/fs/cgroup"
    assert lay.v2_controllers == {"cpuset", "cpu", "io", "memory", "pids"}


def test_mount_root_inside_a_cgroup_namespace() -> None:
    text = "30 25 0:26 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    (h,) = layout.parse_mountinfo(text)
    assert h.directory("/kubepods/pod1/child") == "/sys/fs/cgroup/child"
    assert h.directory("/kubepods/pod1") == "/sys/fs/cgroup"
    assert h.directory("/elsewhere") == "/sys/fs/cgroup/elsewhere"


def test_escaped_mountpoint() -> None:
    text = "41 31 0:38 / /mnt/with\\040space rw - cgroup2 cgroup2 rw\n"
    assert layout.parse_mountinfo(text)[0].mountpoint == "/mnt/with space"


def test_this_host(host: layout.Layout) -> None:
    assert host.mode in ("v1", "v2", "hybrid")
    for h in host.hierarchies():
        assert h.directory(h.own).startswith(h.mountpoint)


def test_hugepage_size_names() -> None:
    assert hugepages.size_name(2048) == "2MB"
    assert hugepages.size_name(1048576) == "1GB"
    assert hugepages.size_name(64) == "64KB"
    assert all(s[-2:] in ("KB", "MB", "GB") for s in hugepages.sizes())
