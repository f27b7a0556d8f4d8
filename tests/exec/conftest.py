"""Every exec test runs against containers it starts in a cgroup of its own (the default
/lading/<id> would be shared with any other test run on the machine using the same id); they are
force-deleted before the leak check."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Bundle
from tests.support import Lading, runtime_entries


@pytest.fixture(autouse=True)
def _own_cgroup_and_cleanup(lading: Lading, bundle: Bundle) -> Iterator[None]:
    bundle.config["linux"]["cgroupsPath"] = f"/lading-exec-test-{uuid.uuid4().hex[:12]}"
    yield
    for p in runtime_entries(lading.root):
        lading("delete", "--force", p.name, check=False)
