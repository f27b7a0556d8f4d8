"""Image test fixtures: test images built from the busybox rootfs, a registry they are pushed to
(one per session, started here and stopped by its PID), and an `image` command runner with a
private --storage-root."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.image.oci import E, Image, Layout, skopeo_push, tar_bytes, tar_dir
from tests.image.servers import Registry
from tests.support import lading_argv, lading_env


class ImageCLI:
    """Runs `lading image ...` against a private image store."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def __call__(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        argv = [*lading_argv(), "image", args[0], "--storage-root", str(self.store), *args[1:]]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={**lading_env(), **(env or {})})
        if check and p.returncode != 0:
            raise AssertionError(f"{argv} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def blobs(self) -> set[str]:
        d = self.store / "blobs" / "sha256"
        return {f"sha256:{p.name}" for p in d.iterdir()} if d.exists() else set()


@pytest.fixture
def image(tmp_path: Path) -> ImageCLI:
    return ImageCLI(tmp_path / "store")


@dataclass
class BuiltImages:
    layout: Path
    base_layer: bytes  # the busybox rootfs, shared by every image


@pytest.fixture(scope="session")
def test_images(tmp_path_factory: pytest.TempPathFactory, busybox_template: Path) -> BuiltImages:
    """An OCI layout with every test image, tagged:

    - ``busybox``: one layer, Cmd echo
    - ``layers``: busybox plus a layer with whiteouts (a file, a directory, an opaque directory)
    - ``multi``: an index for linux/amd64 and linux/arm64/v8 (the arm64 one says so in a file)
    - ``zstd`` and ``plain``: busybox with zstd / uncompressed layers
    - ``app``: Entrypoint, Cmd, Env, WorkingDir, User, Labels, for bundle conversion
    """
    tmp = tmp_path_factory.mktemp("images")
    base = tar_dir(busybox_template)
    extra = tar_bytes(
        [
            E("opt", "dir"),
            E("opt/keep", data=b"keep\n"),
            E("opt/gone", data=b"gone\n"),
            E("data", "dir"),
            E("data/old1", data=b"1"),
            E("data/sub", "dir"),
            E("data/sub/old2", data=b"2"),
            E("home/app", "dir", uid=1, gid=1),
        ]
    )
    whiteouts = tar_bytes(
        [
            E("opt/.wh.gone"),
            E("bin/.wh.vi"),
            E("data", "dir", mode=0o750),
            E("data/.wh..wh..opq"),
            E("data/new", data=b"new\n"),
            E("etc/motd", data=b"layered\n", mode=0o600, uid=1, gid=1),
        ]
    )
    lay = Layout(tmp / "layout")
    lay.add("busybox", Image([base], config={"Cmd": ["sh", "-c", "echo hello from busybox"]}))
    lay.add("layers", Image([base, extra, whiteouts], config={"Cmd": ["sh"]}))
    arm = tar_bytes([E("arch", data=b"arm64\n")])
    amd = tar_bytes([E("arch", data=b"amd64\n")])
    lay.add_index(
        "multi",
        [
            Image([base, amd], config={"Cmd": ["cat", "/arch"]}),
            Image([base, arm], arch="arm64", variant="v8", config={"Cmd": ["cat", "/arch"]}),
        ],
    )
    lay.add("zstd", Image([base, extra], compression="zstd", config={"Cmd": ["sh"]}))
    lay.add("plain", Image([base, extra], compression="", config={"Cmd": ["sh"]}))
    lay.add(
        "app",
        Image(
            [base, extra],
            config={
                "Entrypoint": ["sh", "-c"],
                "Cmd": ['echo "user=$(id -u):$(id -g) cwd=$(pwd) greeting=$GREETING"'],
                "Env": ["GREETING=hi", "PATH=/bin:/usr/bin"],
                "WorkingDir": "/home/app",
                "User": "daemon",
                "StopSignal": "SIGINT",
            },
            labels={"org.example.role": "test", "org.opencontainers.image.os": "from-label"},
        ),
    )
    return BuiltImages(tmp / "layout", base)


@dataclass
class RunningRegistry:
    host: str
    registry: Registry


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, test_images: BuiltImages) -> Iterator[RunningRegistry]:
    """An open registry holding every test image as test/<tag>:1 (the index pushed with --all)."""
    reg = Registry(tmp_path_factory.mktemp("registry"))
    try:
        for tag in ("busybox", "layers", "multi", "zstd", "app"):
            skopeo_push(test_images.layout, tag, f"{reg.host}/test/{tag}:1", all_platforms=tag == "multi")
        yield RunningRegistry(reg.host, reg)
    finally:
        reg.stop()
