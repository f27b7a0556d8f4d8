"""The OCI runtimes the clients drive: lading (through a wrapper executable) and Debian's runc.

podman and containerd exec a runtime binary by path, so lading gets a small shell wrapper that
runs ``python -m lading`` from this source tree. Every wrapper pins a private ``--root`` (a later
``--root`` from the client still wins) and can log each call's arguments, which is how the verbs
and flags the clients use were found (see docs/clients.md).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support import SRC, runtime_entries

RUNC = shutil.which("runc") or "/usr/sbin/runc"


def lading_has_runtime() -> bool:
    """True once the runtime verbs exist (before that, the lading client tests are skipped)."""
    from lading.cli.main import COMMANDS

    try:
        __import__(f"lading.cli.{COMMANDS['create'][0]}")
    except ImportError:
        return False
    return True


def lading_has_verb(verb: str) -> bool:
    from lading.cli.main import COMMANDS

    return verb in COMMANDS


@dataclass
class Runtime:
    """A runtime as a client sees it: an executable (named after the runtime) and its state root."""

    name: str
    path: Path
    root: Path
    calls: Path

    def logged_calls(self) -> list[list[str]]:
        """The argument lists of every call since the wrapper was written (or last reset)."""
        if not self.calls.exists():
            return []
        return [shlex.split(line) for line in self.calls.read_text().splitlines() if line]

    def reset_calls(self) -> None:
        self.calls.unlink(missing_ok=True)

    def containers(self) -> list[str]:
        """Container state dirs left in the root (each runtime keeps one dir per container)."""
        return sorted(p.name for p in runtime_entries(self.root) if p.is_dir())


def write_wrapper(path: Path, argv: list[str], root: Path, calls: Path, env: dict[str, str]) -> Path:
    """An executable at path that logs its arguments to calls, then execs argv --root root "$@"."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    path.write_text(
        "#!/bin/bash\n"
        f"{exports}"
        f"printf '%q ' \"$@\" >> {shlex.quote(str(calls))}; echo >> {shlex.quote(str(calls))}\n"
        f'exec {shlex.join(argv)} --root {shlex.quote(str(root))} "$@"\n'
    )
    path.chmod(0o755)
    return path


def make_runtime(name: str, directory: Path) -> Runtime:
    """A wrapper named name ("lading" or "runc") in directory/bin, with state in directory/state."""
    (directory / "bin").mkdir(parents=True, exist_ok=True)
    root = directory / "state"
    calls = directory / "calls.log"
    if name == "lading":
        pythonpath = str(SRC) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
        argv, env = [sys.executable, "-m", "lading"], {"PYTHONPATH": pythonpath}
    elif name == "runc":
        argv, env = [RUNC], {}
    else:
        raise ValueError(f"unknown runtime {name!r}")
    path = write_wrapper(directory / "bin" / name, argv, root, calls, env)
    return Runtime(name, path, root, calls)
