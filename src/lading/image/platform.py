"""Platforms (os/architecture/variant): the host's, parsing ``--platform``, and choosing from an index.

Architecture names follow Go's GOARCH as the image spec does (x86_64 is ``amd64``, aarch64 is
``arm64``), and a missing variant matches any variant, so ``linux/arm64`` picks ``arm64/v8``.
"""

from __future__ import annotations

import platform as _host

from lading.errors import LadingError
from lading.spec.image import Descriptor, Platform

# uname -m -> (GOARCH, variant)
_MACHINES = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}
_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386"}
_DEFAULT_VARIANT = {"arm64": "v8"}


def host() -> Platform:
    machine = _host.machine()
    arch, variant = _MACHINES.get(machine, (machine, ""))
    return Platform(architecture=arch, os="linux", variant=variant)


def parse(text: str) -> Platform:
    """``os/arch[/variant]`` (as in ``--platform linux/arm64/v8``); ``arch`` alone means linux."""
    parts = text.strip().lower().split("/")
    if len(parts) == 1 and parts[0]:
        parts = ["linux", parts[0]]
    if len(parts) not in (2, 3) or not all(parts):
        raise LadingError(f"invalid platform {text!r}: expected os/architecture[/variant], e.g. linux/amd64")
    arch = _ALIASES.get(parts[1], parts[1])
    return Platform(architecture=arch, os=parts[0], variant=parts[2] if len(parts) == 3 else "")


def matches(want: Platform, have: Platform) -> bool:
    if want.os != have.os or want.architecture != _ALIASES.get(have.architecture, have.architecture):
        return False
    if not want.variant:
        return True
    return want.variant == (have.variant or _DEFAULT_VARIANT.get(have.architecture, ""))


def choose(manifests: list[Descriptor], want: Platform, source: str) -> Descriptor:
    """The first manifest in an index for the wanted platform, or a clear error listing what there is."""
    for d in manifests:
        if d.platform is not None and matches(want, d.platform):
            return d
    have = sorted({str(d.platform) for d in manifests if d.platform is not None and d.platform.os != "unknown"})
    raise LadingError(
        f"{source}: no image for platform {want}; available: {', '.join(have) or 'none'} (choose with --platform)"
    )
