"""The monitor's code quickened before it serves spawn requests (monitor_warmup), on CPython 3.11.

bench/monitor.py measures what it saves; this checks that it does what it says: a function of the
monitor that has run once is quickened (its adaptive bytecode differs from its plain bytecode) after
the warm-up, and is not without it, as CPython 3.11 quickens code only at its eighth call.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import SRC

PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
from lading.engine import monitor_process, monitor_warmup
if sys.argv[2] == "warm":
    print(monitor_warmup.quicken_on_next_call())
code = monitor_process.report.__code__
monitor_process.report(-1, b"")  # once: the write fails on fd -1, which report ignores
print(code._co_code_adaptive != code.co_code)
"""


def _run(mode: str) -> list[str]:
    argv = [sys.executable, "-I", "-S", "-c", PROBE, str(SRC), mode]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the warm-up counter is CPython 3.11's")
def test_after_the_warm_up_one_call_quickens_the_code() -> None:
    count, quickened = _run("warm")
    assert int(count) > 50  # the monitor's modules' functions, methods and nested code
    assert quickened == "True"
    assert _run("cold") == ["False"]
