"""Reference normalization, platform matching and WWW-Authenticate parsing (pure functions)."""

from __future__ import annotations

import pytest

from lading.errors import LadingError
from lading.image import platform, reference
from lading.image.auth import parse_challenge
from lading.spec.image import Descriptor, Platform


@pytest.mark.parametrize(
    ("text", "full", "api"),
    [
        ("busybox", "docker.io/library/busybox:latest", "registry-1.docker.io"),
        ("library/busybox:1.36", "docker.io/library/busybox:1.36", "registry-1.docker.io"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "registry-1.docker.io"),
        ("index.docker.io/user/app:v2", "docker.io/user/app:v2", "registry-1.docker.io"),
        ("quay.io/ns/name", "quay.io/ns/name:latest", "quay.io"),
        ("localhost/app", "localhost/app:latest", "localhost"),
        ("host:5000/ns/name@sha256:" + "a" * 64, "host:5000/ns/name@sha256:" + "a" * 64, "host:5000"),
        ("host:5000/name:tag@sha256:" + "b" * 64, "host:5000/name:tag@sha256:" + "b" * 64, "host:5000"),
        ("user/repo", "docker.io/user/repo:latest", "registry-1.docker.io"),
    ],
)
def test_normalization(text: str, full: str, api: str) -> None:
    ref = reference.parse(text)
    assert str(ref) == full and ref.api_host == api


@pytest.mark.parametrize("bad", ["UPPER/case", "name:bad tag", "name@sha256:short", "a//b", "-lead", ""])
def test_invalid_references(bad: str) -> None:
    with pytest.raises(LadingError, match="invalid image reference"):
        reference.parse(bad)


def test_platforms() -> None:
    assert str(platform.parse("linux/arm64/v8")) == "linux/arm64/v8"
    assert str(platform.parse("amd64")) == "linux/amd64"
    assert str(platform.parse("linux/x86_64")) == "linux/amd64"
    with pytest.raises(LadingError, match="expected os/architecture"):
        platform.parse("linux/")
    arm = Platform(architecture="arm64", os="linux")
    assert platform.matches(platform.parse("linux/arm64/v8"), arm)  # missing variant of arm64 is v8
    assert not platform.matches(platform.parse("linux/arm/v7"), Platform(architecture="arm", os="linux", variant="v6"))
    d = [
        Descriptor(mediaType="m", digest="sha256:" + "1" * 64, size=1, platform=Platform("amd64", "linux")),
        Descriptor(
            mediaType="m",
            digest="sha256:" + "2" * 64,
            size=1,
            platform=Platform("arm", "linux", variant="v7"),
        ),
        Descriptor(mediaType="m", digest="sha256:" + "3" * 64, size=1, platform=Platform("unknown", "unknown")),
    ]
    assert platform.choose(d, platform.parse("linux/arm"), "x").digest.endswith("2" * 64)
    with pytest.raises(LadingError, match="available: linux/amd64, linux/arm/v7 "):
        platform.choose(d, platform.parse("linux/riscv64"), "x")


def test_challenges() -> None:
    c = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="a:b:pull"')
    assert c.scheme == "bearer"
    assert c.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "a:b:pull",
    }
    assert parse_challenge('Basic realm="Registry Realm"').params == {"realm": "Registry Realm"}
    assert parse_challenge('Bearer realm="x\\"y", error="invalid_token"').params["realm"] == 'x"y'
