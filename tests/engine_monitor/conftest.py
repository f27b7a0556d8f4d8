"""Fixtures: a monitored container per test, for each OCI runtime, with leak checks afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Bundle
from tests.engine_monitor.support import RUNTIMES, MonitoredContainer
from tests.support import open_fds


@pytest.fixture(params=RUNTIMES)
def ctr(request: pytest.FixtureRequest, tmp_path: Path, bundle: Bundle) -> Iterator[MonitoredContainer]:
    """A container for the monitor, run by lading's runtime or runc; nothing may outlive the test."""
    c = MonitoredContainer(tmp_path, bundle, request.param)
    fds_before = open_fds()
    yield c
    c.cleanup()
    leaks = c.leftovers()
    leaked_fds = open_fds() - fds_before
    assert not leaks, f"the test left behind: {leaks}"
    assert not leaked_fds, f"the test process leaked fds: {sorted(leaked_fds)}"
