"""Engine fixtures: test images built locally (one OCI layout per session), imported into each
test's private storage root, and an `engine` runner that fails the test if anything is left."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.support import Engine
from tests.image.oci import E, Image, Layout, tar_bytes, tar_dir

BUSYBOX = "localhost/test/busybox:1"
LAYERS = "localhost/test/layers:1"
NOCMD = "localhost/test/nocmd:1"


@dataclass
class EngineImages:
    layout: Path


@pytest.fixture(scope="session")
def engine_images(tmp_path_factory: pytest.TempPathFactory, busybox_template: Path) -> EngineImages:
    """``busybox`` (Cmd sh), ``layers`` (busybox + a layer with a whiteout, an opaque directory
    and a new file; Env, WorkingDir, StopSignal), ``nocmd`` (no Entrypoint, no Cmd)."""
    tmp = tmp_path_factory.mktemp("engine-images")
    base = tar_dir(busybox_template)
    top = tar_bytes(
        [
            E("opt", "dir"),
            E("opt/keep", data=b"keep\n"),
            E("bin/.wh.vi"),
            E("etc/.wh..wh..opq"),
            E("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"),
            E("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n"),
            E("srv", "dir"),
        ]
    )
    lay = Layout(tmp / "layout")
    lay.add("busybox", Image([base], config={"Cmd": ["sh"]}))
    lay.add(
        "layers",
        Image(
            [base, top],
            config={
                "Cmd": ["sh"],
                "Env": ["PATH=/bin", "FROM_IMAGE=yes"],
                "WorkingDir": "/srv",
                "StopSignal": "SIGINT",
            },
            labels={"org.example.layer": "top"},
        ),
    )
    lay.add("nocmd", Image([base], config={}))
    return EngineImages(tmp / "layout")


@pytest.fixture
def engine(tmp_path: Path, engine_images: EngineImages) -> Iterator[Engine]:
    """An engine on private roots with the test images imported; fails the test on any leftover."""
    eng = Engine(tmp_path)
    for tag, name in (("busybox", BUSYBOX), ("layers", LAYERS), ("nocmd", NOCMD)):
        eng.image("import", f"{engine_images.layout}:{tag}", name)
    yield eng
    eng.cleanup()
    leaks = eng.leftovers()
    assert not leaks, f"the test left behind: {leaks}"
