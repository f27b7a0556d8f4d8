"""Image to runtime bundle (conversion.md): what config.json gets from the image config and the
command line, user resolution inside the image, and that the bundle runs with `lading run`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lading.errors import LadingError
from lading.image.convert import resolve_user
from tests.image.conftest import BuiltImages, ImageCLI
from tests.support import Lading


@pytest.fixture
def store(image: ImageCLI, test_images: BuiltImages) -> ImageCLI:
    for tag in ("app", "busybox"):
        image("import", f"{test_images.layout}:{tag}", f"localhost/{tag}:1")
    return image


def bundle(image: ImageCLI, dest: Path, *args: str, name: str = "localhost/app:1") -> dict[str, Any]:
    image("bundle", name, str(dest), *args)
    config: dict[str, Any] = json.loads((dest / "config.json").read_text())
    return config


def test_config_from_the_image(store: ImageCLI, tmp_path: Path) -> None:
    config = bundle(store, tmp_path / "b")
    p = config["process"]
    assert p["args"] == ["sh", "-c", 'echo "user=$(id -u):$(id -g) cwd=$(pwd) greeting=$GREETING"']
    assert p["env"] == ["GREETING=hi", "PATH=/bin:/usr/bin"]  # the image's PATH, no default added
    assert p["cwd"] == "/home/app"
    assert p["user"] == {"uid": 1, "gid": 1}
    assert p["terminal"] is False
    assert config["root"] == {"path": "rootfs", "readonly": False}
    a = config["annotations"]
    assert a["org.example.role"] == "test"
    assert a["org.opencontainers.image.os"] == "from-label"  # Labels win over implicit annotations
    assert a["org.opencontainers.image.architecture"] == "amd64"
    assert a["org.opencontainers.image.stopSignal"] == "SIGINT"
    assert a["org.opencontainers.image.created"] == "2024-01-01T00:00:00Z"
    # the rest are lading spec's defaults
    assert config["process"]["capabilities"]["bounding"] == [
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
    ]
    assert {m["destination"] for m in config["mounts"]} >= {"/proc", "/dev", "/sys"}
    assert (tmp_path / "b" / "rootfs" / "bin" / "busybox").is_file()


def test_command_line_overrides(store: ImageCLI, tmp_path: Path) -> None:
    c = bundle(store, tmp_path / "1", "--", "echo", "hi")
    assert c["process"]["args"] == ["sh", "-c", "echo", "hi"]  # Cmd replaced, Entrypoint kept
    store("bundle", "--entrypoint", '["/bin/echo", "-n"]', "localhost/app:1", str(tmp_path / "2"))
    c = json.loads((tmp_path / "2" / "config.json").read_text())
    assert c["process"]["args"] == ["/bin/echo", "-n"]  # a new Entrypoint drops the image's Cmd
    store("bundle", "--entrypoint", "env", "-u", "nobody", "-e", "GREETING=bye", "-e", "NEW=1",
          "-w", "/tmp", "-t", "localhost/app:1", str(tmp_path / "3"), "-i")  # fmt: skip
    c = json.loads((tmp_path / "3" / "config.json").read_text())["process"]
    assert c["args"] == ["env", "-i"]
    assert c["user"] == {"uid": 65534, "gid": 65534}
    assert c["env"] == ["GREETING=bye", "PATH=/bin:/usr/bin", "TERM=xterm", "NEW=1"]
    assert c["cwd"] == "/tmp" and c["terminal"] is True
    p = store("bundle", "-u", "nosuchuser", "localhost/app:1", str(tmp_path / "4"), check=False)
    assert (
        p.returncode == 1 and "--user: unable to find user nosuchuser: no matching entries in passwd file" in p.stderr
    )
    assert not (tmp_path / "4" / "config.json").exists()
    p = store("bundle", "localhost/app:1", str(tmp_path / "1"), check=False)
    assert p.returncode == 1 and "already holds a bundle" in p.stderr


def test_user_resolution(tmp_path: Path, busybox_template: Path) -> None:
    root = tmp_path / "rootfs"
    shutil.copytree(busybox_template, root, symlinks=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1001:\nwheel:x:10:app,other\naudio:x:29:app\n")
    r = str(root)
    assert resolve_user("", r) == {"uid": 0, "gid": 0}
    assert resolve_user("app", r) == {"uid": 1000, "gid": 1001, "additionalGids": [10, 29]}
    assert resolve_user("1000", r) == {"uid": 1000, "gid": 1001}  # numeric: no additional groups
    assert resolve_user("4242", r) == {"uid": 4242, "gid": 0}
    assert resolve_user("app:wheel", r) == {"uid": 1000, "gid": 10}
    assert resolve_user("5:7", r) == {"uid": 5, "gid": 7}
    with pytest.raises(LadingError, match="unable to find group nogroup: no matching entries in group file"):
        resolve_user("app:nogroup", r)
    # /etc/passwd is read inside the rootfs: a symlink to the host's is resolved in the rootfs
    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").symlink_to("/../../../../etc/passwd-in-image")
    (root / "etc" / "passwd-in-image").write_text("svc:x:77:77::/:/bin/sh\n")
    assert resolve_user("svc", r) == {"uid": 77, "gid": 77}
    with pytest.raises(LadingError, match="unable to find user root: no matching entries in passwd file"):
        resolve_user("root", r)


def test_bundle_runs(store: ImageCLI, tmp_path: Path, lading: Lading) -> None:
    bundle(store, tmp_path / "app")
    p = lading("run", "--bundle", str(tmp_path / "app"), "lading-image-app")
    assert p.stdout.strip() == "user=1:1 cwd=/home/app greeting=hi"
    bundle(store, tmp_path / "bb", name="localhost/busybox:1")
    p = lading("run", "--bundle", str(tmp_path / "bb"), "lading-image-bb")
    assert p.stdout.strip() == "hello from busybox"
