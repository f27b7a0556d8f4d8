"""The engine run by an unprivileged user: its roots in the user's own directories, and every
command inside a user and mount namespace of its own, where the user is root.

The kernel mounts overlayfs for a user namespace's root (with ``userxattr``: whiteouts and opaque
directories in ``user.overlay.*`` xattrs) when that namespace owns the mount namespace, so each
command enters a new pair before it does anything: the user's uid is 0 there, and its
subordinate ids (/etc/subuid, /etc/subgid, through newuidmap and newgidmap) are 1 and up, as
rootless podman maps them. Inside, the engine is the root engine: layers are unpacked with their
real owners (mapped ids, so that the container sees them), the monitor and the runtime run as
that root (the runtime skips the cgroups it cannot make), and a container's overlay mount lives
in the mount namespace of the command that started it, held by its monitor, and goes with it:
nothing is mounted on the host. Every command makes a namespace with the same maps, so any of
them may remove what another's containers wrote.
"""

from __future__ import annotations

import os
import pwd
from typing import Any

from lading.errors import LadingError
from lading.linux import namespaces as ns
from lading.linux.mount import MS_PRIVATE, MS_REC, mount
from lading.linux.userns import IdRange, subordinate_ranges, write_maps


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
    """The user as 0, then each of its subordinate ranges after the other."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    out = []
    for kind, own in (("uid", uid), ("gid", gid)):
        ranges, next_id = [IdRange(0, own, 1)], 1
        for first, count in subordinate_ranges(kind, user, uid):
            ranges.append(IdRange(next_id, first, count))
            next_id += count
        out.append(ranges)
    return out[0], out[1]


def enter() -> None:
    """Make this (single-threaded) process root of a new user and mount namespace.

    A child left in the host's namespace writes the maps (only a process outside may); without
    subordinate ids, only the user's own ids are mapped (no newuidmap needed)."""
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
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def join(pid: int) -> None:
    """Enter the user and mount namespace of ``pid``, a container's monitor (made by the command
    that started it), for `exec`: the container's namespaces are owned by that user namespace, so
    a fresh one could not enter them, and its overlay is mounted only there."""
    try:
        ns.setns(f"/proc/{pid}/ns/user", ns.CLONE_NEWUSER)
        ns.setns(f"/proc/{pid}/ns/mnt", ns.CLONE_NEWNS)
    except OSError as e:
        raise LadingError(f"cannot enter the namespaces of the container's monitor (pid {pid}): {e.strerror}") from None


def _mapped_gids() -> list[tuple[int, int]]:
    with open("/proc/self/gid_map") as f:
        return [(int(first), int(count)) for first, _, count in (line.split() for line in f if line.strip())]


def fit(spec: dict[str, Any]) -> None:
    """Make a container's config fit the user namespace the engine runs in when it maps only the
    user's own ids (a user without /etc/subgid entries): setgroups is denied there, so no
    additional groups, and devpts gets no gid that is not mapped (what `runc spec --rootless`
    drops too). Refuses a process that is not root: its container's init could not be signalled
    by the next command (a user namespace of its own; its root is the user, any other id a
    subordinate one that only this command's namespace may signal)."""
    uid = spec["process"]["user"]["uid"]
    if uid != 0:
        raise LadingError(f"rootless: the container's process runs as uid {uid}; only root (0) can be stopped later")
    with open("/proc/self/setgroups") as f:
        if f.read().strip() == "deny":
            spec["process"]["user"].pop("additionalGids", None)
    gids = _mapped_gids()
    for m in spec["mounts"]:
        if m.get("type") == "devpts":
            m["options"] = [
                o for o in m["options"] if not o.startswith("gid=") or any(f <= int(o[4:]) < f + n for f, n in gids)
            ]
