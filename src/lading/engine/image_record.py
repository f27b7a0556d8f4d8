"""The image a container is made from, as the engine needs it: its name, ID, run config and layers.

`run` and `create` name an image on every call, and the image store's typed documents
(lading.image, on msgspec) cost more to import than the rest of a `run`'s work. So a name that
is exactly one in the store's index (what `lading image ls` shows, e.g. ``localhost/busybox:latest``)
is read here straight from the OCI layout with the json module, as layers.image_chains reads it;
any other (a short name, a digest or its prefix, an image still to pull), or a document this
reading does not understand, goes the image store's way (lading.image.images.load, which words
every error) and comes back as the same record.
"""

from __future__ import annotations

import json
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lading.image.images import Image

REF_NAME = "org.opencontainers.image.ref.name"
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")
_HEX = frozenset("0123456789abcdef")


class ImageRecord:
    def __init__(
        self, name: str, image_id: str, config: dict[str, Any], layers: list[tuple[str, str]], diff_ids: list[str]
    ) -> None:
        self.name = name
        self.id = image_id  # the config's digest, as docker's image ID
        self.config = config  # the image config's "config" object (Env, Cmd, Entrypoint, User...), as JSON
        self.layers = layers  # (digest, media type) of each layer, bottom first
        self.diff_ids = diff_ids


def blob(root: Path, digest: str) -> Any:
    """A JSON document of the store at root, by digest (checked to be one: it names a path)."""
    alg, _, hexpart = digest.partition(":")
    if alg not in ("sha256", "sha512") or not hexpart or not _HEX.issuperset(hexpart):
        raise ValueError(f"not a digest: {digest!r}")
    return json.loads((root / "blobs" / alg / hexpart).read_bytes())


def find(root: Path, name: str) -> ImageRecord | None:
    """The image called exactly ``name`` in the store at root; None to ask the image store."""
    try:
        index = json.loads((root / "index.json").read_bytes())
        for d in index["manifests"]:
            if (d.get("annotations") or {}).get(REF_NAME) == name and d.get("mediaType") in MANIFEST_TYPES:
                manifest = blob(root, d["digest"])
                config = blob(root, manifest["config"]["digest"])
                return ImageRecord(
                    name,
                    manifest["config"]["digest"],
                    dict(config.get("config") or {}),
                    [(str(layer["digest"]), str(layer["mediaType"])) for layer in manifest.get("layers") or []],
                    [str(d) for d in config["rootfs"]["diff_ids"]],
                )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def from_image(image: Image) -> ImageRecord:
    """The record of an image the image store has read."""
    import msgspec

    return ImageRecord(
        image.name,
        image.manifest.config.digest,
        msgspec.to_builtins(image.config.config),
        [(layer.digest, layer.mediaType) for layer in image.manifest.layers],
        list(image.config.rootfs.diff_ids),
    )
