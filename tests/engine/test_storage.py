"""The overlay layer store and the container records, checked on disk and from inside containers."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from tests.engine.conftest import BUSYBOX, LAYERS
from tests.engine.support import Engine
from tests.support import mounts_under


def _chain_ids(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def _diff_ids(engine: Engine, image: str) -> list[str]:
    ids: list[str] = json.loads(engine.image("inspect", image).stdout)["config"]["rootfs"]["diff_ids"]
    return ids


def test_create_makes_init_and_mount_layers_on_the_image_layers(engine: Engine) -> None:
    cid = engine("create", "--name", "c1", LAYERS).stdout.strip()
    assert len(cid) == 64
    overlay = engine.storage / "overlay"
    chains = _chain_ids(_diff_ids(engine, LAYERS))
    # image layers: one directory per chain ID, with the short link and the lower chain
    caches = []
    for chain in chains:
        db = engine.storage / "layerdb" / "sha256" / chain.removeprefix("sha256:")
        caches.append((db / "cache-id").read_text())
        assert (db / "diff").read_text() in _diff_ids(engine, LAYERS)
        assert int((db / "size").read_text()) > 0
    top = overlay / caches[1]
    assert (top / "lower").read_text() == f"l/{(overlay / caches[0] / 'link').read_text()}"
    assert os.readlink(overlay / "l" / (top / "link").read_text()) == f"../{caches[1]}/diff"
    # the whiteouts of the top layer are overlayfs whiteouts
    wh = os.lstat(top / "diff" / "bin" / "vi")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(top / "diff" / "etc", "trusted.overlay.opaque") == b"y"
    # the container's two layers and their record
    record = engine.storage / "layerdb" / "mounts" / cid
    mount_id = (record / "mount-id").read_text()
    assert (record / "init-id").read_text() == f"{mount_id}-init"
    assert (record / "parent").read_text() == chains[-1]
    init = overlay / f"{mount_id}-init"
    assert (init / "committed").exists()
    assert sorted(os.listdir(init / "diff" / "etc")) == ["hostname", "hosts", "mtab", "resolv.conf"]
    assert os.readlink(init / "diff" / "etc" / "mtab") == "/proc/mounts"
    assert sorted(os.listdir(init / "diff" / "dev")) == ["console", "pts", "shm"]
    assert sorted(os.listdir(overlay / mount_id)) == ["diff", "link", "lower", "work"]  # no merged/ until start
    assert (overlay / mount_id / "lower").read_text().split(":")[0] == f"l/{(init / 'link').read_text()}"
    cfg = engine.record(cid)
    assert cfg["Name"] == "/c1" and cfg["State"]["Status"] == "created"
    assert json.loads((engine.storage / "containers" / cid / "hostconfig.json").read_text())["RestartPolicy"] == {
        "Name": "no",
        "MaximumRetryCount": 0,
    }
    engine("rm", "c1")


def test_the_container_sees_the_layers_merged_and_writes_survive_a_stop(engine: Engine) -> None:
    engine("run", "-d", "--name", "web", LAYERS, "sh", "-c", "echo data > /srv/written; rm /opt/keep; exec sleep 600")
    mount_id = engine.record(engine.inspect("web")["Id"])["MountID"]
    merged = engine.storage / "overlay" / mount_id / "merged"
    assert [str(merged)] == [m for m in mounts_under(engine.storage) if m.endswith("/merged")]
    out = engine("exec", "web", "sh", "-c", "ls /etc; ls /bin/vi 2>&1; cat /srv/written; ls /opt").stdout
    assert out.split() == [
        "group",
        "hostname",
        "hosts",
        "mtab",
        "passwd",
        "resolv.conf",
        "ls:",
        "/bin/vi:",
        "No",
        "such",
        "file",
        "or",
        "directory",
        "data",
    ]
    engine("stop", "-t", "0", "web")
    assert not merged.exists() and not mounts_under(engine.storage)
    diff = engine.storage / "overlay" / mount_id / "diff"
    assert (diff / "srv" / "written").read_text() == "data\n"
    engine("start", "web")
    assert engine("exec", "web", "cat", "/srv/written").stdout == "data\n"
    engine("rm", "-f", "web")


def test_layers_are_shared_between_images_and_removed_when_unused(engine: Engine) -> None:
    base = _chain_ids(_diff_ids(engine, BUSYBOX))[0]
    assert base == _chain_ids(_diff_ids(engine, LAYERS))[0]
    engine("create", "--name", "ca", BUSYBOX)
    engine("create", "--name", "cb", LAYERS)
    assert len(engine.image_layer_dirs()) == 2  # busybox's one layer is LAYERS' first
    engine.image("rm", LAYERS)
    assert len(engine.image_layer_dirs()) == 2, "container b still uses the top layer"
    engine("rm", "cb")
    assert len(engine.image_layer_dirs()) == 1
    engine("rm", "ca")
    engine.image("rm", BUSYBOX, "localhost/test/nocmd:1")
    assert engine.image_layer_dirs() == set() and engine.layer_dirs() == set()


def test_hostname_hosts_and_resolv_conf_are_made_at_each_start(engine: Engine) -> None:
    cid = engine(
        "create", "--name", "nn", "-h", "box", BUSYBOX, "sh", "-c", "hostname; cat /etc/hostname; grep -c . /etc/hosts"
    ).stdout.strip()
    engine("start", "-a", "nn")
    cdir = engine.storage / "containers" / cid
    assert (cdir / "hostname").read_text() == "box\n"
    assert (cdir / "hosts").read_text().startswith("127.0.0.1\tlocalhost\n")
    assert (
        hashlib.sha256((cdir / "resolv.conf").read_bytes()).hexdigest()
        == (cdir / "resolv.conf.hash").read_text().strip()
    )
    # a user's edit of resolv.conf is kept across starts; hostname is made again
    (cdir / "resolv.conf").write_text("nameserver 192.0.2.1\n")
    (cdir / "hostname").write_text("changed\n")
    engine("start", "nn")
    engine("wait", "nn")
    assert (cdir / "resolv.conf").read_text() == "nameserver 192.0.2.1\n"
    assert (cdir / "hostname").read_text() == "box\n"
    engine("rm", "nn")


def test_rm_removes_both_layers_and_the_metadata(engine: Engine) -> None:
    engine("run", "--name", "rr", BUSYBOX, "true")
    cid = engine.inspect("rr")["Id"]
    mount_id = engine.record(cid)["MountID"]
    assert engine.layer_dirs() - engine.image_layer_dirs() == {mount_id, f"{mount_id}-init"}
    engine("rm", "rr")
    assert engine.layer_dirs() == engine.image_layer_dirs()
    assert not (engine.storage / "containers" / cid).exists()
    assert not (engine.storage / "containers" / "names" / "rr").exists()


def test_two_layer_image_mount_options_use_short_links(engine: Engine) -> None:
    engine("run", "-d", "--name", "mm", LAYERS, "sleep", "600")
    opts = next(
        line.split(" - ")[1]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if str(engine.storage) in line
    )
    assert "lowerdir=l/" in opts or "/overlay/l/" in opts
    engine("rm", "-f", "mm")
