"""The monitor's import list: one monitor runs per container, so every module it loads counts.

Nothing is measured here (bench/monitor.py compares its memory with conmon's): a new import in
the monitor is the regression this catches. The list is what CPython loads at start-up with
``-I -S``, plus the C modules the monitor uses directly and its own few modules (a monitor that serves a
spawn socket loads ``_ctypes`` and monitor_warmup too, for its code's warm-up and its forked
children's prctl).
"""

from __future__ import annotations

import subprocess
import sys

from tests.support import SRC

ALLOWED = {
    "__future__",
    "gc",
    "select",
    "_socket",
    "lading",
    "lading.engine",
    "lading.engine.monitor_process",
    "lading.engine.monitor_spawn",
    "lading.engine.jsonlog",
    "lading.engine.attach_protocol",
    "lading.linux",
    "lading.linux.signals",
}

PROBE = "import sys; sys.path.insert(0, sys.argv[1]); {}; print(' '.join(sys.modules))"


def _modules(code: str) -> set[str]:
    argv = [sys.executable, "-I", "-S", "-c", PROBE.format(code), str(SRC)]
    return set(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split())


def test_the_monitor_loads_only_its_list() -> None:
    bare = _modules("pass")
    loaded = _modules("import lading.engine.monitor_process")
    assert loaded - bare - ALLOWED == set()
