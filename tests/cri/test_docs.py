"""docs/clients.md shows the CRI config the tests run containerd with, with a node's paths."""

from __future__ import annotations

from pathlib import Path

from tests.cri.api import REPO
from tests.cri.daemon import cri_config


def test_clients_md_has_the_tested_config() -> None:
    handlers = {
        "runc": (Path("/usr/sbin/runc"), Path("/run/containerd/runc")),
        "lading": (Path("/usr/local/bin/lading"), Path("/run/lading")),
    }
    config = cri_config("registry.k8s.io/pause:3.6", Path("/opt/cni/bin"), Path("/etc/cni/net.d"), handlers)
    assert f"```toml\nversion = 2{config}```" in (REPO / "docs" / "clients.md").read_text()
