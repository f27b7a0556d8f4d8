"""`lading image` run by the unprivileged test user: the store in its data directory, pull from a
registry, and a bundle it can run rootless. Owners it cannot give are recorded in
user.rootlesscontainers xattrs, as umoci's rootless unpack does."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from lading.image.unpack import ROOTLESS_XATTR
from tests.image.conftest import BuiltImages, RunningRegistry
from tests.support import Lading
from tests.userns.support import UnprivilegedUser, user_python


def test_rootless_pull_bundle_and_run(
    unprivileged: UnprivilegedUser, user_dir: Path, registry: RunningRegistry, rootless: Lading
) -> None:
    def image(*args: str) -> str:
        return unprivileged.run(user_python(), "-m", "lading", "image", *args).stdout

    image("pull", "--insecure", f"{registry.host}/test/layers:1")
    store = Path(unprivileged.home / ".local" / "share" / "lading")
    assert (store / "index.json").is_file() and store.stat().st_uid == unprivileged.uid
    bundle = user_dir / "layers"
    image("bundle", f"{registry.host}/test/layers:1", str(bundle), "--", "cat", "/etc/motd")
    motd = bundle / "rootfs" / "etc" / "motd"
    assert (motd.stat().st_uid, motd.stat().st_gid) == (unprivileged.uid, unprivileged.gid)
    assert os.getxattr(motd, ROOTLESS_XATTR) == b"\x08\x01\x10\x01"  # uid 1, gid 1 in the image
    config = json.loads((bundle / "config.json").read_text())
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": unprivileged.uid, "size": 1}]
    assert rootless("run", "--bundle", str(bundle), "from-image").stdout == "layered\n"


def test_rootless_import(unprivileged: UnprivilegedUser, user_dir: Path, test_images: BuiltImages) -> None:
    layout = shutil.copytree(test_images.layout, user_dir / "layout")
    unprivileged.own(layout)
    unprivileged.run(user_python(), "-m", "lading", "image", "import", f"{layout}:busybox", "localhost/bb:1")
    listed = unprivileged.run(user_python(), "-m", "lading", "image", "ls").stdout
    assert "localhost/bb:1" in listed
