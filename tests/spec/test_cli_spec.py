"""`lading spec` writes runc's starter config.json, refuses to overwrite one, and decodes cleanly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lading import OCI_VERSION
from lading.spec.decode import load_config
from lading.spec.defaults import default_config
from tests.support import Lading


def runc_spec(directory: Path, *flags: str) -> dict[str, Any]:
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    directory.mkdir()
    subprocess.run(["runc", "spec", *flags], cwd=directory, check=True)
    config: dict[str, Any] = json.loads((directory / "config.json").read_text())
    return config


def as_current_runc(config: dict[str, Any]) -> dict[str, Any]:
    """What runc 1.1's `runc spec` output becomes with lading's documented changes (see defaults.py)."""
    config["ociVersion"] = OCI_VERSION
    config["hostname"] = "lading"
    del config["process"]["capabilities"]["ambient"]
    config["linux"]["maskedPaths"].append("/sys/devices/virtual/tpm")
    return config


def test_spec_writes_runc_default(lading: Lading, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    lading("spec", "--bundle", str(bundle))
    text = (bundle / "config.json").read_text()
    expected = as_current_runc(runc_spec(tmp_path / "runc"))
    assert json.loads(text) == expected
    # Same layout as runc: tab indentation, keys in runc's order, no trailing newline.
    assert text == json.dumps(expected, indent="\t")
    assert (bundle / "config.json").stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_spec_rootless_writes_runc_rootless_default(lading: Lading, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    lading("spec", "-b", str(bundle), "--rootless")
    text = (bundle / "config.json").read_text()
    expected = as_current_runc(runc_spec(tmp_path / "runc", "--rootless"))
    assert text == json.dumps(expected, indent="\t")
    config = json.loads(text)
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert "resources" not in config["linux"]
    cgroup = ["cgroup"] if Path("/sys/fs/cgroup/cgroup.controllers").exists() else []  # cgroup v2 alone
    assert [ns["type"] for ns in config["linux"]["namespaces"]] == ["pid", "ipc", "uts", "mount", *cgroup, "user"]


@pytest.mark.parametrize("flags", [(), ("--rootless",)])
def test_spec_round_trips_through_the_models(lading: Lading, tmp_path: Path, flags: tuple[str, ...]) -> None:
    lading("spec", *flags, cwd=tmp_path)
    spec = load_config(tmp_path / "config.json")
    assert spec.oci_version == OCI_VERSION
    assert spec.process is not None and spec.process.args == ["sh"] and spec.process.terminal
    written = json.loads((tmp_path / "config.json").read_text())
    assert written == default_config(rootless=bool(flags))


def test_spec_refuses_to_overwrite(lading: Lading, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    p = lading("spec", "-b", str(tmp_path), check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == "File config.json exists. Remove it first"
    assert (tmp_path / "config.json").read_text() == "{}"


def test_spec_needs_an_existing_bundle(lading: Lading, tmp_path: Path) -> None:
    p = lading("spec", "-b", str(tmp_path / "missing"), check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == f"bundle {tmp_path / 'missing'}: no such directory"


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
