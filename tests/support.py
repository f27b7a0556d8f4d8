"""Shared test helpers: a busybox rootfs, bundles, and a `lading` runner that checks for leaks.

Tests drive the real command line as a user would (``python -m lading --root PRIVATE ...``), each
with its own state root and temp dirs, and every container they make is tracked so the test fails
if a process, mount, fd or state dir outlives it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def lading_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def lading_argv() -> list[str]:
    return [sys.executable, "-m", "lading"]


def make_busybox_rootfs(dest: Path) -> Path:
    """A minimal rootfs: static busybox with its applets, /etc/passwd and /etc/group."""
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "var", "usr/bin", "run"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    for applet in out.split():
        link = dest / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (dest / "etc" / "group").write_text("root:x:0:\ndaemon:x:1:\nusers:x:100:\nnogroup:x:65534:\n")
    (dest / "tmp").chmod(0o1777)
    return dest


def static_program(source: str, directory: Path, name: str = "probe") -> Path:
    """A C program compiled statically (it runs in any container image); skips without gcc."""
    import pytest

    if shutil.which("gcc") is None:
        pytest.skip("needs gcc (Debian: gcc, libc6-dev)")
    (directory / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(directory / name), str(directory / f"{name}.c")], check=True)
    return directory / name


def bare_elf_header() -> bytes:
    """A 64-bit ELF header of this machine and no program headers: it passes linux/binfmt's look,
    and the kernel refuses it (Exec format error)."""
    from lading.linux import binfmt

    machine = binfmt.E_MACHINE[binfmt.NATIVE].to_bytes(2, "little")
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    fields = (2).to_bytes(2, "little") + machine + (1).to_bytes(4, "little") + bytes(28)  # type, machine, version
    return ident + fields + (64).to_bytes(2, "little") + (56).to_bytes(2, "little") + bytes(6)  # no phdrs


def default_config(args: list[str] | None = None, terminal: bool = False) -> dict[str, Any]:
    """The config `lading spec` (like `runc spec`) writes, with the given args."""
    from lading.spec.defaults import default_config as spec_default

    config = spec_default(args=args or ["sh"])
    config["process"]["terminal"] = terminal
    return config


def pid_alive(pid: int, start_time: str | None = None) -> bool:
    """True while pid is a live (non-zombie) process, with the same start time if given."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return start_time is None or fields[19] == start_time


def runtime_entries(root: Path) -> list[Path]:
    """What a runtime's state root holds but its cache of compiled seccomp filters (kept on
    purpose, and bounded: runtime/seccomp_cache.py): the containers' state dirs."""
    from lading.runtime.store import SECCOMP_CACHE

    return [p for p in root.iterdir() if p.name != SECCOMP_CACHE] if root.exists() else []


def mounts_under(prefix: Path) -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4]
        if mp == str(prefix) or mp.startswith(str(prefix) + "/"):
            out.append(mp)
    return out


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def one_line(p: subprocess.CompletedProcess[str]) -> str:
    """The single line of stderr (runc's is a log record, lading's the message itself)."""
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


class Lading:
    """Runs `lading` with a private --root and remembers every container it saw."""

    def __init__(self, tmp: Path, root: Path | None = None, prefix: list[str] | None = None) -> None:
        self.tmp = tmp
        self.root = root or tmp / "state"
        self.prefix = prefix or []  # e.g. setpriv ... to run lading as another user
        self.pids: dict[str, tuple[int, str]] = {}

    def __call__(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self.prefix, *self.argv(), "--root", str(self.root), *args]
        # Files, not pipes: a created or detached container keeps the runtime's stdio open, so a
        # pipe would not reach EOF until the container exits (containerd and podman use files too).
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run(
                argv, stdout=out, stderr=err, text=True, input=input, timeout=timeout, env=lading_env(), **kw
            )
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
        if check and p.returncode != 0:
            raise AssertionError(f"{argv} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def argv(self) -> list[str]:
        return lading_argv()

    def state(self, cid: str) -> dict[str, Any]:
        st: dict[str, Any] = json.loads(self("state", cid).stdout)
        if st.get("pid"):
            self.track(cid, int(st["pid"]))
        return st

    def track(self, cid: str, pid: int) -> None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            self.pids[cid] = (pid, stat[stat.rindex(")") + 2 :].split()[19])
        except OSError:
            pass

    def leftovers(self) -> list[str]:
        """Everything the tests' containers left behind: live processes, state dirs, mounts."""
        found = [f"process {pid} of {cid}" for cid, (pid, st) in self.pids.items() if pid_alive(pid, st)]
        found += [f"state dir {p}" for p in runtime_entries(self.root)]
        found += [f"mount {m}" for m in mounts_under(self.tmp)]
        found += [f"cgroup {d}" for cid in self.pids for d in self.cgroup_dirs(cid)]
        return found

    def cgroup_dirs(self, cid: str) -> list[str]:
        """The container's default cgroup in every hierarchy, where it exists."""
        from lading.runtime.cgroups import default_path

        name = default_path(cid, str(self.root)).lstrip("/")
        return [str(d) for d in Path("/sys/fs/cgroup").glob(f"*/{name}")] + [
            str(d) for d in Path("/sys/fs/cgroup").glob(name)
        ]

    def cleanup(self) -> None:
        """Force-delete whatever a failing test left, so one failure does not leak into others."""
        for p in runtime_entries(self.root):
            if p.is_dir():
                self("delete", "--force", p.name, check=False)


class Runc(Lading):
    """Debian's runc with a private --root, to calibrate a test on the reference runtime. runc's
    default cgroup is /ID in every hierarchy, so tests give its containers unique IDs."""

    def argv(self) -> list[str]:
        return [shutil.which("runc") or "/usr/sbin/runc"]

    def cgroup_dirs(self, cid: str) -> list[str]:
        return [str(d) for d in Path("/sys/fs/cgroup").glob(f"*/{cid}")] + [
            str(d) for d in Path("/sys/fs/cgroup").glob(cid)
        ]
