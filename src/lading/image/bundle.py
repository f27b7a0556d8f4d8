"""An image as files: its layers applied to a directory (``image unpack``), or a runtime bundle,
DIR/rootfs plus DIR/config.json (``image bundle``), like ``umoci unpack`` and
``oci-image-tool create``. config.json is written last, so a bundle that failed half way is
never mistaken for a finished one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lading.errors import LadingError
from lading.image import convert
from lading.image.images import Image
from lading.image.store import Store
from lading.image.unpack import Unpacker
from lading.spec import image as spec


def unpack(store: Store, image: Image, dest: str) -> None:
    diff_ids = image.config.rootfs.diff_ids
    if len(diff_ids) != len(image.manifest.layers):
        raise LadingError(
            f"{image.name}: the config lists {len(diff_ids)} layers, the manifest {len(image.manifest.layers)}"
        )
    with Unpacker(dest) as u:
        for layer, diff_id in zip(image.manifest.layers, diff_ids, strict=True):
            with store.open_blob(layer.digest) as blob:
                u.apply(blob, spec.LAYER_COMPRESSION[layer.mediaType], f"layer {layer.digest}", diff_id)


def bundle(store: Store, image: Image, dest: str, overrides: convert.Overrides) -> None:
    d = Path(dest)
    if (d / "config.json").exists() or ((d / "rootfs").exists() and any((d / "rootfs").iterdir())):
        raise LadingError(f"{dest}: already holds a bundle; choose an empty directory")
    rootfs = d / "rootfs"
    unpack(store, image, str(rootfs))
    from lading.spec.defaults import default_config

    config = convert.apply(
        default_config(rootless=os.geteuid() != 0), convert.overlay(image.config, str(rootfs), overrides)
    )
    tmp = d / ".config.json.tmp"
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.rename(tmp, d / "config.json")
