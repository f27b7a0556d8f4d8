"""The engine's commands behind the command line's one error boundary, in docker's words: a
failure the engine did not put into words (a root that cannot exist, a read-only run root) is one
"Error: ..." line naming the command and the path, exit status 125 for run and create and 1 for
the others, no traceback, and no container left."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import BUSYBOX
from tests.engine.support import Engine
from tests.support import one_line


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["run", BUSYBOX, "true"], 125),
        (["create", BUSYBOX, "true"], 125),
        (["logs", "abc"], 1),
        (["rm", "abc"], 1),
        (["inspect", "abc"], 1),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else "",
)
def test_a_storage_root_that_cannot_exist(tmp_path: Path, args: list[str], status: int) -> None:
    eng = Engine(tmp_path)
    eng.storage = Path("/dev/null/x")
    p = eng(*args, check=False)
    assert p.returncode == status, p
    line = one_line(p)
    assert line.startswith(f"Error: container {args[0]}: /dev/null/x/") and line.endswith(": Not a directory"), line


def test_a_read_only_run_root(engine: Engine, tmpfs) -> None:
    """The container is made (in the storage root), its start fails: as docker, it stays Created
    until removed, and nothing of it runs."""
    engine.run_root = tmpfs("run-ro", "ro")
    p = engine("run", BUSYBOX, "true", check=False)
    assert p.returncode == 125, p
    assert one_line(p).startswith("Error: container run: ") and p.stderr.strip().endswith(": Read-only file system")
    [cid] = engine.ids()
    assert engine("inspect", "--format", "{{.State.Status}}", cid).stdout.strip() == "created"
    engine("rm", cid)
