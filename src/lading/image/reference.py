"""Image references as docker writes them: ``busybox``, ``library/busybox:1.36``,
``host:5000/ns/name@sha256:...``, normalized to one full form.

A name with no registry is on docker.io, and a one-component docker.io name is under
``library/``; a reference with neither tag nor digest means ``:latest``. The full form
(``docker.io/library/busybox:latest``) is what the store records, so ``busybox`` and
``docker.io/library/busybox`` name the same image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lading.errors import LadingError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        """The host:port the registry API is served from."""
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse(text: str) -> Reference:
    """Parse and normalize an image reference, or fail naming what is wrong with it."""
    rest, digest = text, ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise LadingError(f"invalid image reference {text!r}: bad digest {digest!r}")
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise LadingError(f"invalid image reference {text!r}: bad tag {tag!r}")
    domain, _, path = rest.partition("/")
    if not path or not ("." in domain or ":" in domain or domain == "localhost" or domain.startswith("[")):
        domain, path = DOCKER_HUB, rest
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if not _DOMAIN.fullmatch(domain):
        raise LadingError(f"invalid image reference {text!r}: bad registry host {domain!r}")
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise LadingError(
                f"invalid image reference {text!r}: repository name must be lowercase letters, digits"
                " and separators (. _ __ -)"
            )
    if len(path) > 255:
        raise LadingError(f"invalid image reference {text!r}: repository name longer than 255 characters")
    if not tag and not digest:
        tag = "latest"
    return Reference(domain, path, tag, digest)
