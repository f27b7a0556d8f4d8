"""A real unprivileged user for the rootless tests, and running commands as that user.

The user is made with useradd (a unique name, a home, and the subordinate uid and gid ranges that
Debian's useradd writes to /etc/subuid and /etc/subgid), and removed with userdel, which deletes
those entries and the home, after every process it still has is killed by PID.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lading.linux.userns import subordinate_ranges
from tests.support import SRC, pid_alive


@dataclass(frozen=True)
class UnprivilegedUser:
    name: str
    uid: int
    gid: int
    home: Path
    runtime_dir: Path  # its XDG_RUNTIME_DIR (no login session makes one here)
    subuid: tuple[int, int]  # (first, count) from /etc/subuid
    subgid: tuple[int, int]

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "HOME": str(self.home),
            "USER": self.name,
            "LOGNAME": self.name,
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "PYTHONPATH": os.pathsep.join([str(SRC), *site_packages()]),
        }
        env.update(extra)
        return env

    def prefix(self, **extra: str) -> list[str]:
        """argv prefix that runs the rest as this user, with only its own environment."""
        env = [f"{k}={v}" for k, v in self.env(**extra).items()]
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "env", "-i", *env]

    def run(self, *argv: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([*self.prefix(), *argv], capture_output=True, text=True, check=False, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"{argv} as {self.name} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def own(self, path: Path) -> Path:
        """chown -R path to the user (a tree the tests copied as root)."""
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)
        return path

    def processes(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == self.uid and pid_alive(int(entry)):
                        found.append(int(entry))
                except FileNotFoundError:
                    pass
        return found


def without_id_helpers() -> list[str]:
    """argv prefix (run as root) that runs the rest in a private mount namespace where
    newuidmap and newgidmap are /dev/null (not executable), as on a host without uidmap; the
    host's files are untouched and the mounts go with the namespace."""
    hide = " && ".join(f"mount --bind /dev/null {shutil.which(h)}" for h in ("newuidmap", "newgidmap"))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{hide} && exec "$@"', "hide"]


def user_python() -> str:
    """This interpreter, or the system's python3 (with this one's packages, see env) when this
    one lives where an unprivileged user cannot reach it (e.g. under /root)."""
    path = Path(os.path.realpath(sys.executable))
    if all(p.stat().st_mode & 0o001 for p in path.parents):
        return sys.executable
    return shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"


def site_packages() -> list[str]:
    import sysconfig

    return sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})


def create_user(subordinate_ids: bool = True) -> UnprivilegedUser:
    """A new user; without ``subordinate_ids`` a system user, to which useradd gives no range
    (its subuid and subgid are then (0, 0))."""
    name = f"ladingtest-{secrets.token_hex(4)}"
    kind = [] if subordinate_ids else ["--system"]
    subprocess.run(["useradd", *kind, "--create-home", "--user-group", "--shell", "/bin/sh", name], check=True)
    try:
        import pwd

        pw = pwd.getpwnam(name)
        subuid = subordinate_ranges("uid", name, pw.pw_uid)
        subgid = subordinate_ranges("gid", name, pw.pw_uid)
        if bool(subuid and subgid) != subordinate_ids:
            raise RuntimeError(f"useradd gave {name} subordinate ranges {subuid} {subgid}")
        runtime_dir = Path(pw.pw_dir) / "run"
        runtime_dir.mkdir(mode=0o700)
        os.chown(runtime_dir, pw.pw_uid, pw.pw_gid)
        ranges = (subuid[0], subgid[0]) if subordinate_ids else ((0, 0), (0, 0))
        return UnprivilegedUser(name, pw.pw_uid, pw.pw_gid, Path(pw.pw_dir), runtime_dir, *ranges)
    except BaseException:
        subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)
        raise


def remove_user(user: UnprivilegedUser) -> list[str]:
    """Kill what the user still runs (by PID), then delete it, its home and its subordinate ids.
    Returns the processes that were still there: a test left them behind."""
    left = user.processes()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in left:
        while pid_alive(pid):
            os.sched_yield()
    # files the containers made under subordinate ids are removed with the home
    subprocess.run(["userdel", "--remove", user.name], capture_output=True, check=False)
    shutil.rmtree(user.home, ignore_errors=True)
    return [f"process {pid} of {user.name}" for pid in left]
