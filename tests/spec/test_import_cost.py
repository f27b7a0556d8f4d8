"""Every verb is a fresh process: decoding must not drag in more than msgspec, and verbs that do not
decode a document must not import msgspec at all."""

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


def test_decode_imports_only_msgspec_and_the_models() -> None:
    loaded = modules_after("import lading.spec.decode")
    ours = {m for m in loaded if m.startswith("lading")}
    assert ours == {
        "lading",
        "lading.errors",
        "lading.spec",
        "lading.spec.base",
        "lading.spec.runtime_config",
        "lading.spec.decode",
    }
    # The error path's helpers are imported only when a document is bad.
    assert not {"json", "copy"} & loaded


def test_cli_dispatch_and_spec_verb_do_not_import_msgspec(tmp_path: Path) -> None:
    loaded = modules_after(f"from lading.cli import main\nmain.main(['spec', '-b', {str(tmp_path)!r}])")
    assert "lading.spec.defaults" in loaded
    assert not {m for m in loaded if m.startswith("msgspec")}
    assert "typing" not in loaded
