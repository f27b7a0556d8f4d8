"""The image verbs behind the command line's one error boundary: a store that cannot exist, is
read-only or is full gives one line naming the verb and the path, exit status 1, no traceback,
and nothing half-written."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.image.conftest import ImageCLI
from tests.support import one_line

BAD_ROOT = "/dev/null/x"  # a path that can never be a directory


@pytest.mark.parametrize(
    "args",
    [
        ["ls"],
        ["inspect", "busybox"],
        ["rm", "busybox"],
        ["tag", "busybox", "other"],
        ["import", "SRC", "x"],
        ["export", "busybox", "DEST"],
        ["unpack", "busybox", "DEST"],
        ["bundle", "busybox", "DEST"],
        ["pull", "127.0.0.1:1/x"],
    ],
    ids=lambda a: a[0],
)
def test_a_store_that_cannot_exist(args, test_images, tmp_path):
    src = f"{test_images.layout}:busybox"
    argv = [src if a == "SRC" else str(tmp_path / "dest") if a == "DEST" else a for a in args]
    p = ImageCLI(Path(BAD_ROOT))(*argv, check=False)
    assert p.returncode == 1, p
    line = one_line(p)
    assert line.startswith(f"image {args[0]}: {BAD_ROOT}") and line.endswith("Not a directory"), line
    assert not (tmp_path / "dest").exists()


def test_import_into_a_read_only_or_full_store(test_images, tmpfs):
    # 64k holds the store's index, not the busybox layer
    ro, full = tmpfs("ro", "ro"), tmpfs("full", "size=64k")
    for store, why in ((ro / "store", "read-only file system"), (full / "store", "no space left on device")):
        p = ImageCLI(store)("import", f"{test_images.layout}:busybox", "busybox", check=False)
        assert p.returncode == 1, p
        line = one_line(p)
        assert line.startswith("image import: ") and why in line.lower(), line
    # nothing half-made: no image, every blob whole, no temp file outside ingest/ (where a
    # partial blob waits to be resumed by design)
    store = full / "store"
    assert ImageCLI(store)("ls", "-q").stdout == ""
    for blob in (store / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert [p.name for p in store.iterdir() if p.name.startswith(".")] == []


def test_a_truncated_archive_and_a_bad_entrypoint(image, test_images, tmp_path):
    archive = tmp_path / "layout.tar"
    subprocess.run(["tar", "-C", str(test_images.layout), "-cf", str(archive), "."], check=True)
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    p = image("import", f"{truncated}:busybox", "localhost/t:1", check=False)
    assert (p.returncode, one_line(p)) == (1, f"{truncated}: truncated or corrupt archive: unexpected end of data")
    assert image("ls", "-q").stdout == ""
    image("import", f"{test_images.layout}:busybox", "localhost/t:1")
    p = image("bundle", "--entrypoint", "[not json", "localhost/t:1", str(tmp_path / "b"), check=False)
    assert (p.returncode, one_line(p)) == (1, "--entrypoint: expected a word or a JSON array of strings")
    assert not (tmp_path / "b").exists()
