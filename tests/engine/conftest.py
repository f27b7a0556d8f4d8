"""Engine fixtures: test images built locally (one OCI layout per session), imported into each
test's private storage root, an `engine` runner that fails the test if anything is left, podman
on private storage beside it, and a check that the engine's parent cgroup went with the last
container."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clients.image import build_oci_archive
from tests.clients.podman import Podman, loaded_podman
from tests.engine.support import SEEN, Engine, engine_cgroup_parents
from tests.image.oci import E, Image, Layout, tar_bytes, tar_dir

BUSYBOX = "localhost/test/busybox:1"
LAYERS = "localhost/test/layers:1"
NOCMD = "localhost/test/nocmd:1"


@pytest.fixture(scope="session", autouse=True)
def engine_cgroup_parent() -> Iterator[None]:
    """The engine puts every container's cgroup under /lading-engine and removes that parent with
    the last container's. One this session made that is still there at its end is a leak (removed
    here), unless it holds another session's containers, which is left to its owner."""
    before = set(engine_cgroup_parents())
    yield
    leaked = []
    for parent in set(engine_cgroup_parents()) - before:
        children = [d.name for d in parent.iterdir() if d.is_dir()]
        if children and not set(children) & SEEN:
            continue
        leaked += [str(parent), *children]
        with contextlib.suppress(OSError):
            parent.rmdir()
    assert not leaked, f"the engine tests left cgroups behind: {leaked}"


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


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox image as an OCI archive, for podman and the engine alike."""
    work = tmp_path_factory.mktemp("podman-image")
    return build_oci_archive(work / "busybox.tar", work)


@pytest.fixture(scope="module")
def podman(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """podman on private storage, running Debian's runc, with the busybox image loaded."""
    with loaded_podman(tmp_path_factory.mktemp("podman"), "runc", archive) as pm:
        yield pm
