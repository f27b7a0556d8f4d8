"""What `lading container run` loads: every container costs this command's start-up.

As tests/test_start_up.py does for the runtime verbs, the command runs as the launcher runs it
and writes sys.modules when done. The engine's list is long (argparse, pathlib, the runtime), so
this guards what it must not load: the image store's typed documents (msgspec, lading.image's
store and documents; the image is read straight from the layout, engine/image_record.py),
dataclasses (with inspect, ast and dis), typing (value classes are lading.record Records),
secrets, and subprocess (lading's own runtime is called in-process, engine/own_runtime.py). The
first `run` of an image unpacks its layers, which is the image store's work: the second is the
one measured.
"""

from __future__ import annotations

import subprocess
import sys

from tests.engine.conftest import BUSYBOX
from tests.engine.support import Engine
from tests.support import lading_env
from tests.test_start_up import probe

FORBIDDEN = {
    "msgspec",
    "lading.spec.image",
    "lading.image.store",
    "lading.image.images",
    "dataclasses",
    "inspect",
    "typing",
    "secrets",
    "subprocess",
}


def test_run_loads_no_image_documents_dataclasses_or_subprocess(engine: Engine) -> None:
    engine("run", "--rm", BUSYBOX, "true")  # the first run unpacks the image's layers (the image store's work)
    out = engine.storage.parent / "modules"
    argv = engine.argv("run", "--rm", BUSYBOX, "true")
    verb = argv[argv.index("container") :]
    code = probe()
    p = subprocess.run(
        [sys.executable, "-IS", "-c", code, str(out), *verb],
        capture_output=True,
        text=True,
        env=lading_env(),
        timeout=120,
    )
    assert (p.returncode, p.stderr) == (0, "")
    assert FORBIDDEN & set(out.read_text().split()) == set()
