"""OCI image documents (descriptor, manifest, index, image config, layout) as msgspec Structs.

Docker's schema 2 manifest and manifest list have the same shape as the OCI manifest and index,
so one set of Structs reads both; the media type says which it is. Documents are only ever read
through these types: the store keeps the original bytes, because their digest is their identity.

Digests are checked by pattern at decode time (``sha256:`` + 64 lowercase hex, or sha512), since
they become file names in the store and a crafted one must never name a path.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

# documents here are decoded with the same one-line errors as config.json
from lading.spec.decode import decode as decode

# media types
OCI_DESCRIPTOR: Final = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER: Final = "application/vnd.oci.layout.header.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_ND: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_ND_ZSTD: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN_GZIP: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_MANIFEST_V1: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})
# layer media type -> compression ("" for none)
LAYER_COMPRESSION: Final[dict[str, str]] = {
    OCI_LAYER: "",
    OCI_LAYER_ND: "",
    DOCKER_LAYER: "",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ND_GZIP: "gzip",
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_FOREIGN_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_ND_ZSTD: "zstd",
}

# annotation keys
REF_NAME: Final = "org.opencontainers.image.ref.name"

DIGEST_PATTERN: Final = r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$"
Digest = Annotated[str, msgspec.Meta(pattern=DIGEST_PATTERN)]
Size = Annotated[int, msgspec.Meta(ge=0)]


class Platform(msgspec.Struct, omit_defaults=True):
    architecture: str
    os: str
    os_version: str = msgspec.field(default="", name="os.version")
    os_features: list[str] = msgspec.field(default_factory=list, name="os.features")
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


class Descriptor(msgspec.Struct, omit_defaults=True):
    mediaType: str
    digest: Digest
    size: Size
    urls: list[str] = msgspec.field(default_factory=list)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    data: str = ""
    artifactType: str = ""
    platform: Platform | None = None


class Manifest(msgspec.Struct, omit_defaults=True):
    schemaVersion: int
    config: Descriptor
    layers: list[Descriptor] = msgspec.field(default_factory=list)
    mediaType: str = ""
    artifactType: str = ""
    subject: Descriptor | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class Index(msgspec.Struct, omit_defaults=True):
    schemaVersion: int
    manifests: list[Descriptor]
    mediaType: str = ""
    artifactType: str = ""
    subject: Descriptor | None = None
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class ContainerConfig(msgspec.Struct, omit_defaults=True, rename="pascal"):
    user: str = ""
    exposed_ports: dict[str, Any] | None = None
    env: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    volumes: dict[str, Any] | None = None
    working_dir: str = ""
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    args_escaped: bool = False


class RootFS(msgspec.Struct):
    type: str
    diff_ids: list[Digest]


class History(msgspec.Struct, omit_defaults=True):
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False


class ImageConfig(msgspec.Struct, omit_defaults=True):
    architecture: str
    os: str
    rootfs: RootFS
    created: str = ""
    author: str = ""
    variant: str = ""
    os_version: str = msgspec.field(default="", name="os.version")
    os_features: list[str] = msgspec.field(default_factory=list, name="os.features")
    config: ContainerConfig = msgspec.field(default_factory=ContainerConfig)
    history: list[History] = msgspec.field(default_factory=list)


class LayoutHeader(msgspec.Struct):
    imageLayoutVersion: str


class DockerArchiveEntry(msgspec.Struct, rename="pascal"):
    """One image in a `docker save` tarball's manifest.json."""

    config: str
    layers: list[str]
    repo_tags: list[str] | None = None
