"""Building test images by hand: layer tarballs (including malicious ones), OCI layouts, and
pushing them to a registry with skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class E:
    """One tar entry: kind is file, dir, symlink, hardlink, char, block, fifo."""

    name: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""
    mtime: int = 1_600_000_000
    dev: tuple[int, int] = (0, 0)
    xattrs: dict[str, str] = field(default_factory=dict)


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def tar_bytes(entries: list[E]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = _TYPES[e.kind]
            info.mode = e.mode if e.kind != "dir" or e.mode != 0o644 else 0o755
            info.uid, info.gid, info.mtime = e.uid, e.gid, e.mtime
            info.linkname = e.link
            info.devmajor, info.devminor = e.dev
            if e.xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            info.size = len(e.data) if e.kind == "file" else 0
            t.addfile(info, io.BytesIO(e.data) if e.kind == "file" else None)
    return buf.getvalue()


def tar_dir(root: Path) -> bytes:
    """A layer of a whole directory, entries relative to it, sorted."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path in sorted(root.rglob("*")):
            t.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buf.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout
    return data


@dataclass
class Image:
    layers: list[bytes]  # uncompressed tars
    compression: str = "gzip"
    arch: str = "amd64"
    variant: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # the "config" object (Cmd, Env, ...)
    labels: dict[str, str] = field(default_factory=dict)


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        self.index: list[dict[str, Any]] = []

    def blob(self, data: bytes) -> str:
        digest = sha(data)
        (self.path / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return digest

    def manifest(self, img: Image) -> dict[str, Any]:
        """Write an image's blobs; returns the manifest's descriptor (with platform)."""
        cfg: dict[str, Any] = {
            "architecture": img.arch,
            "os": "linux",
            "config": {**img.config, **({"Labels": img.labels} if img.labels else {})},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in img.layers]},
            "created": "2024-01-01T00:00:00Z",
        }
        if img.variant:
            cfg["variant"] = img.variant
        config = json.dumps(cfg).encode()
        layers = []
        for layer in img.layers:
            blob = compress(layer, img.compression)
            layers.append({"mediaType": LAYER_TYPES[img.compression], "digest": self.blob(blob), "size": len(blob)})
        m = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": self.blob(config), "size": len(config)},
                "layers": layers,
            }
        ).encode()
        platform = {
            "architecture": img.arch,
            "os": "linux",
            **({"variant": img.variant} if img.variant else {}),
        }
        return {"mediaType": OCI_MANIFEST, "digest": self.blob(m), "size": len(m), "platform": platform}

    def add(self, tag: str, img: Image) -> dict[str, Any]:
        d = self.manifest(img)
        self.index.append({**d, "annotations": {"org.opencontainers.image.ref.name": tag}})
        self._write()
        return d

    def add_index(self, tag: str, images: list[Image]) -> dict[str, Any]:
        idx = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [self.manifest(i) for i in images]}
        ).encode()
        d = {"mediaType": OCI_INDEX, "digest": self.blob(idx), "size": len(idx)}
        self.index.append({**d, "annotations": {"org.opencontainers.image.ref.name": tag}})
        self._write()
        return d

    def _write(self) -> None:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.index}
        (self.path / "index.json").write_text(json.dumps(doc))


def skopeo_push(layout: Path, tag: str, dest: str, creds: str = "", all_platforms: bool = False) -> None:
    argv = ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]
    if creds:
        argv += ["--dest-creds", creds]
    if all_platforms:
        argv += ["--all"]
    argv += [f"oci:{layout}:{tag}", f"docker://{dest}"]
    env = {**os.environ, "HOME": str(layout.parent)}  # keep skopeo away from the real ~/.docker
    subprocess.run(argv, check=True, capture_output=True, timeout=120, env=env)
