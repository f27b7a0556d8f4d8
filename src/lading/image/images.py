"""Looking images up in the store and reading their documents: the shared step of every verb
that takes an image name (inspect, rm, tag, unpack, bundle, export)."""

from __future__ import annotations

from dataclasses import dataclass

from lading.errors import NotFoundError
from lading.image import reference
from lading.image.store import Store
from lading.spec import image as spec


@dataclass
class Image:
    name: str
    descriptor: spec.Descriptor
    manifest: spec.Manifest
    config: spec.ImageConfig


def resolve_name(store: Store, text: str) -> tuple[str, spec.Descriptor]:
    """A name as given (``busybox``, a full reference, or a manifest digest or its unique prefix)."""
    images = store.images()
    for name, d in images:
        if name == text:
            return name, d
    hexpart = text.removeprefix("sha256:")
    if len(hexpart) >= 6 and all(c in "0123456789abcdef" for c in hexpart):
        hits = {d.digest: (name, d) for name, d in images if d.digest.partition(":")[2].startswith(hexpart)}
        if len(hits) == 1:
            return next(iter(hits.values()))
    try:
        full = str(reference.parse(text))
    except Exception:
        raise NotFoundError(f"no such image: {text}") from None
    for name, d in images:
        if name == full:
            return name, d
    raise NotFoundError(f"no such image: {text} (pull or import it first; see 'lading image ls')")


def load(store: Store, text: str) -> Image:
    name, d = resolve_name(store, text)
    if d.mediaType not in spec.MANIFEST_TYPES:
        raise NotFoundError(f"{name}: {d.mediaType} is not an image manifest")
    manifest = spec.decode(store.read_blob(d.digest), spec.Manifest, f"{name} (manifest {d.digest})")
    config = spec.decode(store.read_blob(manifest.config.digest), spec.ImageConfig, f"{name} (config)")
    return Image(name, d, manifest, config)
