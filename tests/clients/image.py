"""Small OCI images built locally (busybox-static; the CRI tests' pause image), as OCI archives.

There is no registry to pull from, so the client tests make their own image: one gzip layer
holding a busybox rootfs, a config with ``Cmd ["sh"]``, a manifest and an index, laid out as an
OCI image layout and tarred into an archive that ``podman load`` and ``ctr images import`` accept.
Everything is deterministic (fixed mtimes, owners and gzip header), so the digests are stable.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import tarfile
from pathlib import Path
from typing import Any

from tests.support import make_busybox_rootfs

IMAGE_NAME = "localhost/lading-test/busybox:latest"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def _rootfs_tar(rootfs: Path) -> bytes:
    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False, filter=normalize)
    return buf.getvalue()


class _Blobs:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def add(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.files["blobs/sha256/" + digest.removeprefix("sha256:")] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def build_oci_archive(dest: Path, work: Path, name: str = IMAGE_NAME) -> Path:
    """Write an OCI archive of a busybox image named name to dest (work is scratch space)."""
    return write_image_archive(dest, make_busybox_rootfs(work / "rootfs"), name, {"Cmd": ["sh"]})


def write_image_archive(dest: Path, rootfs: Path, name: str, run_config: dict[str, Any]) -> Path:
    """Write an OCI archive of a one-layer image of rootfs named name; run_config adds to the
    image config's ``config`` (Cmd, Entrypoint...)."""
    layer_tar = _rootfs_tar(rootfs)
    blobs = _Blobs()
    layer = blobs.add(gzip.compress(layer_tar, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
    config = blobs.add(
        _json(
            {
                "architecture": _ARCH.get(platform.machine(), platform.machine()),
                "os": "linux",
                "config": {
                    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                    "WorkingDir": "/",
                    **run_config,
                },
                "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
                "history": [{"created_by": f"{name} for lading's client tests"}],
            }
        ),
        "application/vnd.oci.image.config.v1+json",
    )
    manifest = blobs.add(
        _json(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config,
                "layers": [layer],
            }
        ),
        "application/vnd.oci.image.manifest.v1+json",
    )
    # podman names the image after ref.name; containerd prefers its own annotation.
    manifest["annotations"] = {"org.opencontainers.image.ref.name": name, "io.containerd.image.name": name}
    files = {
        "oci-layout": _json({"imageLayoutVersion": "1.0.0"}),
        "index.json": _json(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [manifest],
            }
        ),
        **blobs.files,
    }
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return dest
