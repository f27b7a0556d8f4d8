"""The store as a user sees it: import (OCI layout, oci-archive, docker save), export, tag, ls,
inspect, rm with garbage collection; and its guarantees (verified blobs, atomic index)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lading.errors import LadingError
from lading.image.store import Store
from tests.image.conftest import BuiltImages, ImageCLI
from tests.image.oci import sha


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True, timeout=60)


def test_import_layout_tag_rm_gc(image: ImageCLI, test_images: BuiltImages) -> None:
    layout = str(test_images.layout)
    p = image("import", layout, "example.com/tools/busybox:1", check=False)
    assert p.returncode == 1 and "holds several images (busybox, layers, multi" in p.stderr
    assert image("import", f"{layout}:busybox", "busybox").stdout.split() == ["docker.io/library/busybox:latest"]
    image("import", f"{layout}:layers", "localhost/layers:2")
    shared = json.loads(image("inspect", "localhost/layers:2").stdout)["manifest"]["layers"][0]["digest"]
    before = image.blobs()
    image("tag", "busybox", "registry.example:5000/mirror/busybox:v1")
    names = image("ls", "-q").stdout.split()
    assert names == [
        "docker.io/library/busybox:latest",
        "localhost/layers:2",
        "registry.example:5000/mirror/busybox:v1",
    ]
    rows = json.loads(image("ls", "--format", "json").stdout)
    assert rows[0]["platform"] == "linux/amd64" and rows[0]["size"] > 500_000

    out = image("rm", "docker.io/library/busybox").stdout
    assert "Untagged: docker.io/library/busybox:latest" in out and "Deleted" not in out  # still tagged
    image("rm", "registry.example:5000/mirror/busybox:v1")
    after = image.blobs()
    assert before - after and all(d != shared for d in before - after)  # the shared layer stays
    assert shared in after
    image("rm", "localhost/layers:2")
    assert image.blobs() == set()
    p = image("rm", "localhost/layers:2", check=False)
    assert p.returncode == 1 and "no such image: localhost/layers:2" in p.stderr


def test_import_archives_written_by_skopeo(image: ImageCLI, test_images: BuiltImages, tmp_path: Path) -> None:
    src = f"oci:{test_images.layout}:layers"
    skopeo("copy", "-q", src, f"oci-archive:{tmp_path / 'img.tar'}:example.org/ns/layers:3")
    skopeo("copy", "-q", src, f"docker-archive:{tmp_path / 'docker.tar'}:example.org/ns/saved:4")
    assert image("import", str(tmp_path / "img.tar")).stdout.split() == ["example.org/ns/layers:3"]
    assert image("import", str(tmp_path / "docker.tar")).stdout.split() == ["example.org/ns/saved:4"]
    for name in ("example.org/ns/layers:3", "example.org/ns/saved:4"):
        root = tmp_path / name.replace("/", "_")
        image("unpack", name, str(root))
        assert (root / "data" / "new").read_text() == "new\n"
        assert not (root / "opt" / "gone").exists()
    info = json.loads(image("inspect", "example.org/ns/saved:4").stdout)
    # docker save layers are uncompressed: the blob digest is the diff_id
    assert [x["digest"] for x in info["manifest"]["layers"]] == info["config"]["rootfs"]["diff_ids"]


def test_export_is_readable_by_other_tools(image: ImageCLI, test_images: BuiltImages, tmp_path: Path) -> None:
    image("import", f"{test_images.layout}:app", "localhost/app:1.0")
    out = tmp_path / "exported"
    image("export", "localhost/app:1.0", str(out))
    skopeo("copy", "-q", f"oci:{out}:1.0", f"oci:{tmp_path / 'copy'}:again")
    subprocess.run(
        ["umoci", "unpack", "--image", f"{out}:1.0", str(tmp_path / "umoci")], check=True, capture_output=True
    )
    assert (tmp_path / "umoci" / "rootfs" / "opt" / "keep").read_text() == "keep\n"
    # and back again, from the store's own layout too
    other = ImageCLI(tmp_path / "store2")
    other("import", str(out), "localhost/app:roundtrip")
    skopeo("inspect", f"oci:{image.store}:localhost/app:1.0")


def test_import_refuses_blobs_that_do_not_match(image: ImageCLI, test_images: BuiltImages, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    subprocess.run(["cp", "-a", str(test_images.layout), str(bad)], check=True)
    index = json.loads((bad / "index.json").read_text())
    manifest = json.loads((bad / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    blob = bad / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    p = image("import", f"{bad}:busybox", "localhost/bad:1", check=False)
    assert p.returncode == 1
    assert "content does not match" in p.stderr and len(p.stderr.splitlines()) == 1, p.stderr
    assert manifest["layers"][0]["digest"] not in image.blobs()
    assert image("ls", "-q").stdout == ""


def test_bad_documents_are_one_line_errors(image: ImageCLI, tmp_path: Path) -> None:
    lay = tmp_path / "lay"
    lay.mkdir()
    (lay / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (lay / "index.json").write_text('{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:../../etc"}]}')
    p = image("import", str(lay), "localhost/x:1", check=False)
    assert p.returncode == 1
    assert "index.json: $.manifests[0].digest: expected a string matching" in p.stderr, p.stderr
    p = image("import", str(tmp_path / "nope"), check=False)
    assert (p.returncode, p.stderr) == (1, f"{tmp_path / 'nope'}: No such file or directory\n")
    (tmp_path / "text").write_text("not a tar\n")
    p = image("import", str(tmp_path / "text"), check=False)
    assert (p.returncode, p.stderr) == (1, f"{tmp_path / 'text'}: not an image layout directory or a tar archive\n")


def test_store_writes_are_verified_and_atomic(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    data = b"hello"
    with pytest.raises(LadingError, match="content does not match"):
        store.put(data, sha(b"other"))
    assert not store.has(sha(b"other")) and not store.has(sha(data))
    with pytest.raises(LadingError, match="more data than its size"), store.ingest(sha(data), 3) as ing:
        assert ing is not None
        ing.write(data)
    assert store.put(data) == sha(data) and store.blob_path(sha(data)).read_bytes() == data
    leftovers = [p for p in os.listdir(tmp_path / "s") if p.startswith(".")]
    assert leftovers == []
