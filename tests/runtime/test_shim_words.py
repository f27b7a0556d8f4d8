"""The words containerd's runc shim looks for in a runtime's error, calibrated on runc.

The shim (and so Kubernetes' CRI plugin) has no other way to tell "already gone" from a failure:
a kill whose error says "container not running" or "does not exist" counts as done, as does a
delete that says "does not exist"; any other error fails the stop or removal of the pod. The kill
of a stopped container is in test_exit_codes.py.
"""

from __future__ import annotations

import pytest

from tests.support import one_line


@pytest.mark.parametrize(
    "args",
    [["kill", "ID", "9"], ["kill", "--all", "ID", "9"], ["delete", "ID"], ["state", "ID"], ["update", "-r", "-", "ID"]],
    ids=["kill", "kill --all", "delete", "state", "update"],
)
def test_a_missing_container_does_not_exist(runtime, cid, args):
    p = runtime(*[f"{cid}-gone" if a == "ID" else a for a in args], check=False, input="{}")
    assert p.returncode == 1
    assert "container does not exist" in one_line(p)


def test_delete_force_of_a_missing_container_succeeds(runtime, cid):
    p = runtime("delete", "--force", f"{cid}-gone", check=False)
    assert (p.returncode, p.stderr) == (0, "")
