"""A child forked into a cgroup (Cgroup.fork, then Cgroup.join in the child) is in it in every
hierarchy, whether it was born in the cgroup2 directory (clone3 with CLONE_INTO_CGROUP) or the
kernel was not asked (another thread in the parent) or refused (clone3 filtered out, a directory
that is not on cgroup2): then it moves itself there, and says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lading.linux.cgroups.cgroup import Cgroup
from tests.cgroups.helpers import WITHOUT_CLONE3
from tests.support import lading_env

# Forks into the cgroup given as JSON (Cgroup.to_dict) and prints whether the child was born in
# its cgroup2 directory, then the child's /proc/self/cgroup once it joined the rest itself.
PROBE = """
import json, os, sys, threading, time
from lading.linux import clone
from lading.linux.cgroups.cgroup import Cgroup

cg = Cgroup.from_dict(json.loads(sys.argv[1]))
if sys.argv[2] == "thread":
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
if sys.argv[2] == "v1-directory":  # a directory clone3 cannot put a process in
    fd = os.open(next(iter(cg.v1.values())), os.O_RDONLY | os.O_DIRECTORY)
    pid, born = clone.fork_into_cgroup(fd)
else:
    pid, born = cg.fork()
if pid == 0:
    cg.join(v2=not born)
    with open("/proc/self/cgroup", "rb") as f:
        os.write(1, f.read())  # one write, unbuffered: os._exit flushes nothing
    os._exit(0)
os.waitpid(pid, 0)
print("born in cgroup2:", born, flush=True)  # after the child's lines, never inside them
"""


def fork_into(cg: Cgroup, mode: str, prefix: list[str] | None = None) -> tuple[str, dict[str, str]]:
    argv = [*(prefix or []), sys.executable, "-c", PROBE, json.dumps(cg.to_dict()), mode]
    out = subprocess.run(argv, capture_output=True, text=True, env=lading_env(), check=True, timeout=30).stdout
    # the child's /proc/self/cgroup, then the parent's line
    *rest, first = out.splitlines()
    paths = {}
    for line in rest:
        _, names, path = line.split(":", 2)
        if not names.startswith("name="):  # named hierarchies are not the container's (see locate)
            paths[names] = path
    return first, paths


def name_of(cg: Cgroup) -> str:
    return "/" + Path(next(iter(cg.v1.values())) if cg.v1 else cg.v2 or "").name


@pytest.mark.parametrize(
    "mode,prefix,born",
    [
        ("alone", [], True),
        ("thread", [], False),
        ("v1-directory", [], False),
        ("alone", [sys.executable, WITHOUT_CLONE3], False),
    ],
    ids=["clone3", "another-thread", "not-cgroup2", "clone3-filtered"],
)
def test_the_child_is_in_every_hierarchy(cgroup: Cgroup, mode: str, prefix: list[str], born: bool) -> None:
    if mode == "v1-directory" and not cgroup.v1:
        pytest.skip("no cgroup v1 hierarchy here")
    said, paths = fork_into(cgroup, mode, prefix)
    assert said == f"born in cgroup2: {born and cgroup.v2 is not None}"
    assert paths and set(paths.values()) == {name_of(cgroup)}, paths
