"""The engine run by an unprivileged user: its roots in the user's own directories, and every
command inside one user and mount namespace that a holder process keeps for all of them.

The kernel mounts overlayfs for a user namespace's root (with ``userxattr``: whiteouts and opaque
directories in ``user.overlay.*`` xattrs) when that namespace owns the mount namespace. The
user's uid is 0 there, and its subordinate ids (/etc/subuid, /etc/subgid, through newuidmap and
newgidmap) are 1 and up, as rootless podman maps them; without the helpers or a range, only the
user's own ids. Inside, the engine is the root engine: layers are unpacked with their real owners,
the monitor and the runtime run as that root (the runtime skips the cgroups it cannot make), and
the overlay mounts live in that mount namespace, never on the host.

All commands must share one namespace: a container's process running as a subordinate id can be
signalled only from inside the namespace that owns it. The first command makes the pair and
starts the holder in it (podman's pause process: `sleep infinity`, no descriptors, a session of
its own), recorded with its PID and start time in the run root; every later command joins it with
setns. If the holder is gone (killed, or a reboot emptied the run root), the next command joins
a live monitor's namespaces instead and starts a new holder there, or makes a new pair when no
monitor lives; containers whose monitor is gone are then settled as after a crash. The holder
ends when nothing needs it: each command holds ``userns.lock`` shared while it works, and the
last to finish (the monitor's exit command included), if no container's monitor is alive, kills
the holder and removes its record.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from lading.errors import LadingError
from lading.linux import namespaces as ns
from lading.linux import process, signals
from lading.linux.mount import MS_REC, MS_SLAVE, mount
from lading.linux.userns import IdRange, single_fallback, subordinate_ranges, user_name, write_maps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lading.engine.roots import Roots

HOLDER_FILE = "userns-holder"  # "PID START-TIME" of the process that keeps the namespaces
LOCK_FILE = "userns.lock"


def roots(storage: str | None, run: str | None) -> tuple[str, str]:
    """(storage root, run root) of this user's engine where not given: its data directory (the
    store `lading image` uses) and its runtime directory."""
    if not storage:
        data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        storage = os.path.join(data, "lading")
    if not run:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        if not xdg:
            raise LadingError("XDG_RUNTIME_DIR is not set: give the engine a --run-root")
        run = os.path.join(xdg, "lading-engine")
    return storage, run


def maps() -> tuple[list[IdRange], list[IdRange]]:
    """The user as 0, then each of its subordinate ranges after the other; only the user's own
    ids when newuidmap/newgidmap or its ranges are missing (what that costs is said where it
    matters: a layer's owner or a --user that is not mapped)."""
    uid, gid = os.geteuid(), os.getegid()
    user = user_name()
    out = []
    for kind, own in (("uid", uid), ("gid", gid)):
        ranges, next_id = [IdRange(0, own, 1)], 1
        if not single_fallback(kind, user):
            for first, count in subordinate_ranges(kind, user, uid):
                ranges.append(IdRange(next_id, first, count))
                next_id += count
        out.append(ranges)
    return out[0], out[1]


def enter(r: Roots) -> int:
    """Make this (single-threaded) process root of the engine's user and mount namespace: the
    holder's, or new ones with a new holder. Returns the lock to give to :func:`leave`."""
    os.makedirs(r.run, mode=0o700, exist_ok=True)
    lock = _lock(r.run)
    if not _join(_holder(r.run)):
        fcntl.flock(lock, fcntl.LOCK_EX)  # one command makes the holder; the others wait, then join it
        if not _join(_holder(r.run)):
            if not any(_join(m) for m in _monitors(r)):
                _unshare()
            _start_holder(r.run)
        fcntl.flock(lock, fcntl.LOCK_SH)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    return lock


def inside(r: Roots) -> int | None:
    """For a command started inside the namespace (the monitor's exit command, which may restart
    the container): the lock every command holds while it works, if this is the holder's."""
    return _lock(r.run) if in_holder_namespaces(r.run) else None


def leave(r: Roots, lock: int) -> None:
    """At the end of a command: end the holder if no container's monitor is alive.

    The command drops its shared lock, then tries the exclusive one without waiting: if another
    command holds the lock, that one is still at work and checks when it ends, after this one's
    work; so the last command to end always checks, and only when no other is working."""
    fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    found = _holder(r.run)
    if found is None or not in_holder_namespaces(r.run) or _monitors(r):
        return
    process.send_signal(*found, signals.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(found[0], 0)  # this command started it
    with contextlib.suppress(FileNotFoundError):
        os.unlink(r.run / HOLDER_FILE)


def in_holder_namespaces(run: Path) -> bool:
    """Whether this process is in the user and mount namespaces of the run root's holder, as
    every monitor of this engine then is (so one may be forked from another)."""
    found = _holder(run)
    return found is not None and all(ns.same_namespace(f"/proc/{found[0]}/ns/{kind}", kind) for kind in ("user", "mnt"))


def _lock(run: Path) -> int:
    """``userns.lock``, held shared by every command while it works (exclusive: the holder is
    being made or ended)."""
    fd = os.open(run / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def _holder(run: Path) -> tuple[int, str | None] | None:
    try:
        pid, started = (run / HOLDER_FILE).read_text().split()
        return int(pid), started
    except (OSError, ValueError):
        return None


def _monitors(r: Roots) -> list[tuple[int, str | None]]:
    """Live monitors of this engine's containers, whose namespaces outlived the holder."""
    found = [(c.state.get("MonitorPid", 0), c.state.get("MonitorStart")) for c in r.containers.all()]
    return [(pid, started) for pid, started in found if pid and process.is_alive(pid, started)]


def _join(member: tuple[int, str | None] | None) -> bool:
    """Enter the user and mount namespaces of a live process (the holder or a monitor)."""
    if member is None:
        return False
    pid, started = member
    fds = []
    try:
        for kind in ("user", "mnt"):
            fds.append(os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
        if not process.is_alive(pid, started):  # the PID was reused after the files were opened
            return False
        cwd = os.getcwd()
        ns.setns_fd(fds[0], "user")
        ns.setns_fd(fds[1], "mnt")
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)
    with contextlib.suppress(OSError):
        os.chdir(cwd)  # setns leaves the cwd at the namespace's root
    return True


def _unshare() -> None:
    """A new user and mount namespace for this process: a child left in the host's namespace
    writes the maps (only a process outside may)."""
    uids, gids = maps()
    parent = os.getpid()
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    child = os.fork()
    if child == 0:
        status = 1
        try:
            os.close(go_w)
            os.close(done_r)
            if os.read(go_r, 1) == b"1":
                write_maps(parent, uids, gids)
                status = 0
        except LadingError as e:
            os.write(done_w, str(e).encode())
        finally:
            os._exit(status)
    os.close(go_r)
    os.close(done_w)
    try:
        try:
            ns.unshare(ns.CLONE_NEWUSER | ns.CLONE_NEWNS)
        except OSError as e:
            raise LadingError(f"cannot make the engine's user namespace: {e.strerror}") from None
        os.write(go_w, b"1")
        error = os.read(done_r, 4096).decode()
    finally:
        os.close(go_w)
        os.close(done_r)
        _, status = os.waitpid(child, 0)
    if error or status != 0:
        raise LadingError(error or "cannot map the engine's user namespace")
    # the host's later mounts still appear here (a slave); the engine's never reach the host
    mount(None, "/", None, MS_REC | MS_SLAVE)


def _start_holder(run: Path) -> None:
    null: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDWR, 0)]
    null += [(os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
    try:
        pid = os.posix_spawnp("sleep", ["sleep", "infinity"], {}, file_actions=null, setsid=True)
    except OSError as e:
        raise LadingError(f"cannot start the engine's namespace holder (sleep): {e.strerror}") from None
    tmp = run / f".{HOLDER_FILE}.{pid}"
    tmp.write_text(f"{pid} {process.start_time(pid)}\n")
    tmp.rename(run / HOLDER_FILE)


def _mapped(kind: str) -> list[tuple[int, int]]:
    with open(f"/proc/self/{kind}_map") as f:
        return [(int(first), int(count)) for first, _, count in (line.split() for line in f if line.strip())]


def fit(spec: dict[str, Any]) -> None:
    """Make a container's config fit the user namespace the engine runs in when it maps only the
    user's own ids (no newuidmap or no /etc/subgid entries): setgroups is denied there, so no
    additional groups, and devpts gets no gid that is not mapped (what `runc spec --rootless`
    drops too). A process user that is not mapped is one line here, not an EINVAL at exec."""
    user = spec["process"]["user"]
    for kind in ("uid", "gid"):
        if not any(f <= user[kind] < f + n for f, n in _mapped(kind)):
            raise LadingError(
                f"rootless: {kind} {user[kind]} is not mapped in this user's namespace "
                f"(subordinate ids need newuidmap and newgidmap and ranges in /etc/sub{kind})"
            )
    with open("/proc/self/setgroups") as f:
        if f.read().strip() == "deny":
            user.pop("additionalGids", None)
    gids = _mapped("gid")
    for m in spec["mounts"]:
        if m.get("type") == "devpts":
            m["options"] = [
                o for o in m["options"] if not o.startswith("gid=") or any(f <= int(o[4:]) < f + n for f, n in gids)
            ]
