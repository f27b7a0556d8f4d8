"""Every verb is a fresh process: decoding config.json must not import msgspec, json, re or typing,
and verbs that do not decode a document must not import msgspec at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import lading_env


def modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env=lading_env(),
    ).stdout
    return set(out.split())


def test_decoding_a_config_imports_only_the_models() -> None:
    loaded = modules_after("import lading.spec.decode, lading.spec.runtime_config")
    ours = {m for m in loaded if m.startswith("lading")}
    assert ours == {
        "lading",
        "lading.errors",
        "lading.spec",
        "lading.spec.model",
        "lading.spec.runtime_config",
        "lading.spec.decode",
    }
    # msgspec and the error path's helpers are imported only when a document is bad.
    assert not {"json", "copy", "re", "typing"} & loaded
    assert not {m for m in loaded if m.startswith("msgspec")}


def test_cli_dispatch_and_spec_verb_do_not_import_msgspec(tmp_path: Path) -> None:
    loaded = modules_after(f"from lading.cli import main\nmain.main(['spec', '-b', {str(tmp_path)!r}])")
    assert "lading.spec.defaults" in loaded
    assert not {m for m in loaded if m.startswith("msgspec")}
    assert "typing" not in loaded
