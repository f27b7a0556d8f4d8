"""Every verb is a fresh process: each loads only the modules on its written list.

Each verb runs as the installed launcher runs it (``python -IS``, lading's directories put on
sys.path by hand) and writes the names in sys.modules when its work is done; a module that is
not on the verb's list, nor loaded by the bare interpreter, fails the test. Nothing is timed: a
new import on a verb's path is the regression this catches, and the list says what is allowed and
why (docs/architecture.md, "Start-up cost", gives the same lists in prose). To guard a new verb,
add a row to VERBS: its command line, what it needs to exist first, and its list.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lading import boot
from lading.cli.launcher import import_roots
from tests.support import Lading

# After the launcher's start-up code (lading/boot.py): the verb, then sys.modules into argv[1].
PROBE_VERB = """
import sys
from lading.cli.main import main
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as f:
        f.write(" ".join(sys.modules))
raise SystemExit(code)
"""

# Frozen into the interpreter: os and os.path. The runtime's verbs (all but pause, resume and spec)
# make their system calls through posix (which the bare interpreter has) and use the functions of
# os.path in lading.linux.paths: os builds some thirty ABCs when it loads (_collections_abc).
OS = {"os", "os.path", "posixpath", "genericpath", "stat", "_stat", "_collections_abc"}
# The launcher's start-up (gc, for its threshold; the precompiled modules), then the command
# line: the global flags, the small parser, the log, and the verb's module.
CLI = {
    "gc",
    "__future__",  # only for a module edited since the launcher compiled them (lading/precompiled.py)
    "lading",
    "lading.precompiled",
    "lading.cli",
    "lading.cli.main",
    "lading.cli.args",
    "lading.log",
    "lading.errors",
}
# An existing container: state.json (through _json, read by lading.linux.files) and its init process.
CONTAINER = CLI | {
    "_json",
    "lading.jsonlite",
    "lading.runtime",
    "lading.runtime.store",
    "lading.runtime.container_state",
    "lading.runtime.lifecycle",
    "lading.linux",
    "lading.linux.files",
    "lading.linux.signals",
    "lading.linux.process",
}
LIFECYCLE = CONTAINER | {"lading.cli.lifecycle"}
# The freezer of a running container (paused or not): its module alone, with the file reader.
FREEZER = {"errno", "lading.linux.cgroups", "lading.linux.cgroups.cgroupfs", "lading.linux.cgroups.freezer"}
# Its cgroup: delete's removal, a kill of everything in it.
CGROUP = FREEZER | {"lading.linux.cgroups.cgroup"}
# start and delete lock the container (fcntl); start waits on exec.fifo with select; delete
# kills what is left in the cgroup, and runs poststop hooks when there are some.
LOCK = {"fcntl"}
DELETE = CGROUP | LOCK | {"select", "lading.linux.cgroups.kill"}
CGROUP_VERBS = (
    CONTAINER
    | OS
    | CGROUP
    | LOCK
    | {"select", "lading.cli.cgroups", "lading.runtime.control", "lading.runtime.cgroups"}
)
# create, run and exec: config.json through lading.spec.model (not msgspec), the runtime and
# kernel layers (any of their modules: "lading.runtime.*"), and from the standard library only
# stat (file types: only its C half, _stat, with it) and the C halves of socket (the init's
# channel), struct and ctypes (libc, through lading.linux.cdata: not the ctypes package, which
# brings os, types and ctypes._endian); SHA-256 (the key of the seccomp cache) only for a config
# with linux.seccomp; termios and pty only for a process with a terminal. Not os, msgspec, json,
# dataclasses, inspect, typing, re, enum, functools, collections, contextlib, signal, socket or
# zlib (the cgroup's name under a --root of its own hashes the root without it).
STARTS = (
    CONTAINER
    | CGROUP
    | DELETE
    | {
        "lading.record",
        "lading.spec",
        "lading.spec.decode",
        "lading.spec.model",
        "lading.spec.runtime_config",
        "lading.runtime.*",
        "lading.linux.*",
        "stat",
        "_stat",
        "_socket",
        "_ctypes",
        "struct",
        "_struct",
    }
)

# Of the runtime layer, create, run and exec load these only for a config (or flag) that uses
# them: seccomp, an LSM label, scheduling attributes, id mappings, --pid-file.
FOR_SOME_CONFIGS = {
    "lading.runtime.seccomp",
    "lading.runtime.seccomp_cache",
    "lading.linux.seccomp",
    "lading.runtime.lsm",
    "lading.linux.sched",
    "lading.runtime.idmaps",
    "lading.runtime.pid_file",
}

# (name, what must exist first, command line, the modules it may load beyond the bare interpreter)
VERBS: list[tuple[str, str, list[str], set[str]]] = [
    ("state", "created", ["state", "c"], LIFECYCLE),
    ("state (running)", "running", ["state", "c"], LIFECYCLE | FREEZER),  # paused or not
    ("list", "created", ["list"], LIFECYCLE | {"pwd"}),  # the owner column: a user name, as runc
    ("list (running)", "running", ["list"], LIFECYCLE | FREEZER | {"pwd"}),
    ("kill", "running", ["kill", "c", "CONT"], LIFECYCLE),
    ("start", "created", ["start", "c"], LIFECYCLE | LOCK | {"select"}),
    ("delete", "stopped", ["delete", "c"], LIFECYCLE | DELETE),
    ("delete --force", "running", ["delete", "--force", "c"], LIFECYCLE | DELETE),
    ("pause", "running", ["pause", "c"], CGROUP_VERBS),
    ("resume", "paused", ["resume", "c"], CGROUP_VERBS),
    (
        "spec",
        "",
        ["spec", "--bundle", "{tmp}"],
        CLI | OS | {"lading.cli.spec", "lading.spec", "lading.spec.defaults", "lading.jsonlite", "_json"},
    ),
    ("create", "", ["create", "--bundle", ".", "c"], STARTS | {"lading.cli.lifecycle"}),
    ("run --detach", "", ["run", "--detach", "--bundle", ".", "c"], STARTS | {"lading.cli.lifecycle"}),
    # exec: no select, which comes with runtime/hooks (its state for a seccomp agent only)
    ("exec", "running", ["exec", "c", "true"], (STARTS - {"select"}) | {"lading.cli.exec"}),
]


def probe() -> str:
    """Python code that runs a command line as the launcher does and writes the names in
    sys.modules when it is done: ``python -IS -c CODE FILE ARGS...``."""
    return boot.setup(import_roots()) + PROBE_VERB


def bare_interpreter() -> set[str]:
    out = subprocess.run(
        [sys.executable, "-IS", "-c", "import sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def modules_of(lading: Lading, cwd: Path, argv: list[str]) -> set[str]:
    out = lading.tmp / "modules"
    code = probe()
    subprocess.run(
        [sys.executable, "-IS", "-c", code, str(out), "--root", str(lading.root), *argv],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=60,
    )
    return set(out.read_text().split())


def make(lading: Lading, bundle: Path, status: str) -> None:
    """Container "c" in the given status ("" for none)."""
    if not status:
        return
    lading("create", "--bundle", str(bundle), "c")
    lading.state("c")
    if status in ("running", "paused", "stopped"):
        lading("start", "c")
    if status == "paused":
        lading("pause", "c")
    if status == "stopped":
        lading("kill", "c", "KILL")
        while lading.state("c")["status"] != "stopped":
            pass


@pytest.mark.parametrize(("name", "needs", "argv", "allowed"), VERBS, ids=[v[0] for v in VERBS])
def test_verb_loads_only_its_modules(
    lading: Lading, bundle, tmp_path: Path, name: str, needs: str, argv: list[str], allowed: set[str]
) -> None:
    bundle.write(args=["sleep", "1000"])
    make(lading, bundle.path, needs)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    loaded = modules_of(lading, bundle.path, argv)
    prefixes = tuple(name[:-1] for name in allowed if name.endswith(".*"))
    unexpected = {m for m in loaded - bare_interpreter() - allowed if not m.startswith(prefixes)}
    assert not unexpected, f"`lading {name}` loads modules outside its list: {sorted(unexpected)}"
    unused = loaded & FOR_SOME_CONFIGS
    assert not unused, f"`lading {name}` loads modules its config does not use: {sorted(unused)}"
    if argv[0] != "delete" and argv[0] != "spec":
        lading.state("c")
        lading("delete", "--force", "c")
