"""Mounts and the rootfs as configs from real images and tools write them, runc beside lading."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest


def unique_id() -> str:
    return f"mnt-{uuid.uuid4().hex[:10]}"


def run(runtime, bundle, script: str, *flags: str) -> str:
    bundle.write(args=["sh", "-c", script])
    p = runtime("run", *flags, "-b", str(bundle), unique_id(), check=False)
    assert p.returncode == 0, p.stderr
    return p.stdout


def mountinfo_of(out: str, mountpoint: str) -> list[str]:
    """The mount options and fs type of each line of a container's mountinfo at ``mountpoint``."""
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[4] == mountpoint:
            found.append(fields[5])
    return found


@pytest.mark.parametrize("propagation", ["shared", "rshared", "slave", "private"])
def test_rootfs_propagation(runtime, bundle, propagation):
    bundle.config["linux"]["rootfsPropagation"] = propagation
    out = run(runtime, bundle, "cat /proc/self/mountinfo; ls / | wc -l")
    assert len(mountinfo_of(out, "/")) == 1 and int(out.split()[-1]) > 5


def test_a_bind_onto_a_symlink_lands_on_its_target_inside_the_rootfs(runtime, bundle, tmp_path):
    zone = tmp_path / "zone"
    zone.write_text("from the host\n")
    (bundle.rootfs / "usr/share/zoneinfo/Europe").mkdir(parents=True)
    (bundle.rootfs / "usr/share/zoneinfo/Europe/Paris").write_text("from the image\n")
    (bundle.rootfs / "etc/localtime").symlink_to("../usr/share/zoneinfo/Europe/Paris")
    (bundle.rootfs / "etc/timezone").symlink_to("../usr/share/zoneinfo/Europe/Berlin")  # dangling
    (bundle.rootfs / "data").symlink_to("/srv/data")  # dangling, absolute: the container's /srv
    (bundle.rootfs / "escape").symlink_to("../../../../../../../../../tmp/escaped")
    (bundle.rootfs / "deep").symlink_to("../../../../../../../../../srv/deep")  # dangling, with more below
    bundle.config["mounts"] += [
        {"destination": "/etc/localtime", "type": "bind", "source": str(zone), "options": ["rbind", "ro"]},
        {"destination": "/etc/timezone", "type": "bind", "source": str(zone), "options": ["bind"]},
        {"destination": "/data", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/escape", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/deep/a/b", "type": "tmpfs", "source": "tmpfs"},
    ]
    out = run(
        runtime, bundle, "cat /etc/localtime /etc/timezone; readlink /etc/localtime; cat /proc/self/mountinfo"
    ).splitlines()
    assert out[:3] == ["from the host", "from the host", "../usr/share/zoneinfo/Europe/Paris"]
    for target in (
        "/usr/share/zoneinfo/Europe/Paris",
        "/usr/share/zoneinfo/Europe/Berlin",
        "/srv/data",
        "/tmp/escaped",
        "/srv/deep/a/b",
    ):
        assert len(mountinfo_of("\n".join(out), target)) == 1, target
    assert (bundle.rootfs / "usr/share/zoneinfo/Europe/Paris").read_text() == "from the image\n"
    assert not any(Path(p).exists() for p in ("/srv/data", "/tmp/escaped", "/srv/deep"))


def test_a_mount_onto_the_root_and_a_source_made_by_an_earlier_mount(runtime, bundle, tmp_path):
    other = tmp_path / "other-root"
    shutil.copytree(bundle.rootfs, other, symlinks=True)
    (other / "marker").write_text("the other root\n")
    share = tmp_path / "share"
    share.mkdir()
    (share / "note").write_text("shared note\n")
    bundle.config["mounts"].insert(0, {"destination": "/", "type": "bind", "source": str(other), "options": ["rbind"]})
    bundle.config["mounts"] += [
        {"destination": "/mnt", "type": "bind", "source": str(share), "options": ["rbind"]},
        # the source is the rootfs's /mnt as the earlier mounts left it: the share, over the other root
        {"destination": "/srv/note", "type": "bind", "source": "rootfs/mnt/note", "options": ["bind"]},
    ]
    out = run(runtime, bundle, "cat /marker /srv/note; grep -c ' /proc ' /proc/self/mountinfo")
    assert out.split("\n")[:3] == ["the other root", "shared note", "1"]


def test_a_read_only_dev_is_made_read_only_after_the_mounts_below_it(runtime, bundle):
    dev = next(m for m in bundle.config["mounts"] if m["destination"] == "/dev")
    dev["options"].append("ro")
    bundle.config["mounts"].append(
        {"destination": "/seeded", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "tmpcopyup"]}
    )
    (bundle.rootfs / "seeded").mkdir()
    (bundle.rootfs / "seeded" / "seed").write_text("seed\n")
    out = run(
        runtime,
        bundle,
        "cat /proc/self/mountinfo; ls -d /dev/pts/ptmx /dev/null /dev/shm;"
        "touch /dev/x 2>/dev/null || echo dev-ro; touch /dev/shm/x && echo shm-rw; cat /seeded/seed",
    )
    assert mountinfo_of(out, "/dev")[0].startswith("ro,")
    assert mountinfo_of(out, "/seeded")[0].startswith("ro,")
    assert out.endswith("/dev/null\n/dev/pts/ptmx\n/dev/shm\ndev-ro\nshm-rw\nseed\n")


def test_a_config_without_a_mount_namespace_is_refused_with_the_reason(lading, bundle):
    bundle.config["linux"]["namespaces"].remove({"type": "mount"})
    bundle.write(args=["true"])
    p = lading("run", "-b", str(bundle), unique_id(), check=False)
    assert p.returncode == 1
    line = p.stderr.strip()
    assert "\n" not in line and "$.linux.namespaces" in line and "host's mount namespace" in line
