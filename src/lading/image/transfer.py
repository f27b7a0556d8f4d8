"""Moving images between the store and files: import from an OCI image layout directory (as
``skopeo copy ... oci:DIR`` writes it), an oci-archive, or a ``docker save`` tarball; export to an
OCI image layout. Every blob is copied through the store's verifying writer, so a corrupt or
mislabelled file in the source is refused rather than stored.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import IO

import msgspec

from lading.errors import LadingError, NotFoundError
from lading.image import platform as platforms
from lading.image import reference
from lading.image.images import Image
from lading.image.pull import check_manifest
from lading.image.store import MAX_DOCUMENT, Store
from lading.spec import image as spec


class _Source:
    """An image layout (directory or tar archive), reached by paths relative to its top."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        if os.path.isdir(path):
            return
        try:
            self._tar = tarfile.open(path)  # noqa: SIM115 - closed by close(); plain or compressed tar, read in place (never extracted)
        except OSError as e:
            raise LadingError(f"{path}: {e.strerror}") from None
        except tarfile.TarError:  # its message lists every decompressor tried, over several lines
            raise LadingError(f"{path}: not an image layout directory or a tar archive") from None
        try:
            for m in self._tar.getmembers():
                self._members[os.path.normpath(m.name.lstrip("/"))] = m
        except (tarfile.TarError, EOFError, OSError) as e:
            self._tar.close()
            raise LadingError(f"{path}: truncated or corrupt archive: {e}") from None

    def open(self, name: str) -> IO[bytes]:
        if self._tar is None:
            try:
                return open(os.path.join(self.path, name), "rb")
            except FileNotFoundError:
                raise NotFoundError(f"{self.path}: {name}: missing") from None
        member = self._members.get(os.path.normpath(name))
        f = self._tar.extractfile(member) if member is not None else None
        if f is None:
            raise NotFoundError(f"{self.path}: {name}: missing or not a regular file")
        return f

    def exists(self, name: str) -> bool:
        if self._tar is None:
            return os.path.isfile(os.path.join(self.path, name))
        return os.path.normpath(name) in self._members

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            data = f.read(MAX_DOCUMENT + 1)
        if len(data) > MAX_DOCUMENT:
            raise LadingError(f"{self.path}: {name}: too large for a JSON document")
        return data

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()


def _blob_name(digest: str) -> str:
    alg, _, hexpart = digest.partition(":")
    return f"blobs/{alg}/{hexpart}"


def _copy_blob(store: Store, src: _Source, d: spec.Descriptor) -> None:
    with store.ingest(d.digest, d.size) as ing:
        if ing is None:
            return
        ing.restart()
        with src.open(_blob_name(d.digest)) as f:
            while chunk := f.read(1 << 20):
                ing.write(chunk)
        ing.commit()


def import_source(store: Store, path: str, name: str | None, want: spec.Platform) -> list[str]:
    """Import the images in ``path`` (``DIR[:REF]`` picks the one whose ref.name is REF) as
    ``name`` or under their own names; returns the names stored."""
    pick = ""
    if not os.path.exists(path) and ":" in path:
        path, pick = path.rsplit(":", 1)
    src = _Source(path)
    try:
        with store.writing():
            if src.exists("manifest.json") and not src.exists("index.json"):
                return _import_docker(store, src, name)
            if not src.exists("oci-layout"):
                raise LadingError(f"{path}: neither an OCI image layout (no oci-layout) nor a docker save archive")
            return _import_layout(store, src, name, pick, want)
    finally:
        src.close()


def _import_layout(store: Store, src: _Source, name: str | None, pick: str, want: spec.Platform) -> list[str]:
    index = spec.decode(src.read("index.json"), spec.Index, f"{src.path}: index.json")
    entries = index.manifests
    names = ", ".join(d.annotations.get(spec.REF_NAME, d.digest) for d in entries)
    if pick:
        entries = [d for d in entries if d.annotations.get(spec.REF_NAME) == pick]
        if not entries:
            raise NotFoundError(f"{src.path}: no image named {pick!r} (it has: {names})")
    elif name and len(entries) > 1:
        raise LadingError(f"{src.path}: holds several images ({names}); choose one as {src.path}:REF")
    stored = []
    for d in entries:
        # docker save (since 25) writes a layout whose ref.name is only the tag; the full name is here
        ref_name = name or d.annotations.get("io.containerd.image.name") or d.annotations.get(spec.REF_NAME, "")
        if not name and "/" not in ref_name:
            raise LadingError(
                f"{src.path}: image {d.digest} is named only {ref_name!r}; give it a name: lading image import SRC NAME"
            )
        stored.append(_import_one(store, src, d, str(reference.parse(ref_name)), want))
    return stored


def _import_one(store: Store, src: _Source, d: spec.Descriptor, name: str, want: spec.Platform) -> str:
    if d.mediaType in spec.INDEX_TYPES:
        nested = spec.decode(src.read(_blob_name(d.digest)), spec.Index, f"{src.path}: {d.digest}")
        d = platforms.choose(nested.manifests, want, f"{src.path}: {name}")
    if d.mediaType not in spec.MANIFEST_TYPES:
        raise LadingError(f"{src.path}: {d.digest}: unsupported media type {d.mediaType!r}")
    body = src.read(_blob_name(d.digest))
    m = spec.decode(body, spec.Manifest, f"{src.path}: {d.digest}")
    check_manifest(m, f"{src.path}: {d.digest}")
    for blob in (m.config, *m.layers):
        _copy_blob(store, src, blob)
    store.put(body, d.digest)
    cfg = spec.decode(store.read_blob(m.config.digest), spec.ImageConfig, f"{src.path}: {m.config.digest}")
    plat = d.platform or spec.Platform(architecture=cfg.architecture, os=cfg.os, variant=cfg.variant)
    store.set_ref(name, spec.Descriptor(mediaType=d.mediaType, digest=d.digest, size=len(body), platform=plat))
    return name


def _compression(f: IO[bytes]) -> str:
    magic = f.read(4)
    return {b"\x1f\x8b": "gzip"}.get(magic[:2]) or ("zstd" if magic == b"\x28\xb5\x2f\xfd" else "")


def _import_docker(store: Store, src: _Source, name: str | None) -> list[str]:
    entries = spec.decode(src.read("manifest.json"), list[spec.DockerArchiveEntry], f"{src.path}: manifest.json")
    stored = []
    for i, entry in enumerate(entries):
        names = [name] if name else (entry.repo_tags or [])
        if not names:
            raise LadingError(f"{src.path}: image {i} has no RepoTags; give a name: lading image import SRC NAME")
        config = src.read(entry.config)
        cfg = spec.decode(config, spec.ImageConfig, f"{src.path}: {entry.config}")
        config_digest = store.put(config)
        layers = []
        for path in entry.layers:
            with src.open(path) as f:
                kind = _compression(f)
            with src.open(path) as f:
                digest, size = store.put_stream(f)
            media = {"": spec.OCI_LAYER, "gzip": spec.OCI_LAYER_GZIP, "zstd": spec.OCI_LAYER_ZSTD}[kind]
            layers.append(spec.Descriptor(mediaType=media, digest=digest, size=size))
        manifest = spec.Manifest(
            schemaVersion=2,
            mediaType=spec.OCI_MANIFEST,
            config=spec.Descriptor(mediaType=spec.OCI_CONFIG, digest=config_digest, size=len(config)),
            layers=layers,
        )
        body = msgspec.json.encode(manifest)
        digest = store.put(body)
        plat = spec.Platform(architecture=cfg.architecture, os=cfg.os, variant=cfg.variant)
        desc = spec.Descriptor(mediaType=spec.OCI_MANIFEST, digest=digest, size=len(body), platform=plat)
        for n in names:
            full = str(reference.parse(n))
            store.set_ref(full, desc)
            stored.append(full)
    return stored


def export_layout(store: Store, image: Image, dest: str, ref_name: str) -> None:
    """Write the image into the OCI image layout at ``dest`` (created, or added to), named ``ref_name``."""
    top = Path(dest)
    (top / "blobs").mkdir(parents=True, exist_ok=True)
    if not (top / "oci-layout").exists():
        (top / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    m = image.manifest
    for d in (m.config, *m.layers, image.descriptor):
        target = top / _blob_name(d.digest)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        with store.open_blob(d.digest) as f, open(tmp, "wb") as out:
            while chunk := f.read(1 << 20):
                out.write(chunk)
        os.rename(tmp, target)
    index_path = top / "index.json"
    if index_path.exists():
        index = spec.decode(index_path.read_bytes(), spec.Index, str(index_path))
    else:
        index = spec.Index(schemaVersion=2, manifests=[], mediaType=spec.OCI_INDEX)
    d = image.descriptor
    entry = spec.Descriptor(
        mediaType=d.mediaType,
        digest=d.digest,
        size=d.size,
        platform=d.platform,
        annotations={spec.REF_NAME: ref_name},
    )
    index.manifests = [x for x in index.manifests if x.annotations.get(spec.REF_NAME) != ref_name] + [entry]
    tmp = index_path.with_name(".index.json.tmp")
    tmp.write_bytes(json.dumps(msgspec.to_builtins(index)).encode())
    os.rename(tmp, index_path)
