"""User namespace id maps: writing a process's uid_map and gid_map, the subordinate ids a user
may map, and namespaces made only to carry a mapping (for id-mapped mounts).

A map is written once, by a process outside the namespace. root may write any map itself. An
unprivileged user may write only a single line mapping its own id, and for gids only after
``setgroups`` is denied (or it could drop a group that a file's permissions deny it); any other
map goes through the setuid helpers newuidmap and newgidmap (Debian's uidmap), which allow the
ranges /etc/subuid and /etc/subgid give the user.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.errors import LadingError
from lading.linux import namespaces as ns
from lading.record import Record

SUBID_FILES = {"uid": "/etc/subuid", "gid": "/etc/subgid"}


class IdRange(Record):
    """``size`` ids from ``container`` in the namespace are ``host`` on in the parent namespace."""

    container: int
    host: int
    size: int


def map_text(ranges: list[IdRange]) -> str:
    return "".join(f"{r.container} {r.host} {r.size}\n" for r in ranges)


def own_id(kind: str) -> int:
    return posix.geteuid() if kind == "uid" else posix.getegid()


def in_user_namespace() -> bool:
    """True in any user namespace but the host's (whose uid_map maps every id onto itself)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except FileNotFoundError:
        return False


def runs_rootless() -> bool:
    """runc's ``--rootless auto``: not root, or root of a user namespace (cgroups this user may
    not make are then skipped)."""
    return posix.geteuid() != 0 or in_user_namespace()


def writes_itself(kind: str, ranges: list[IdRange]) -> bool:
    """True when this process may write the map without newuidmap/newgidmap."""
    if posix.geteuid() == 0:
        return True
    return len(ranges) == 1 and ranges[0].size == 1 and ranges[0].host == own_id(kind)


def setgroups_denied(gids: list[IdRange]) -> bool:
    """True when the gid map can only be written after denying setgroups (an unprivileged user
    mapping its own gid), so the namespace's processes can never call setgroups."""
    return posix.geteuid() != 0 and writes_itself("gid", gids)


def setgroups_allowed(pid: str) -> bool:
    """Whether the processes of the user namespace of ``pid`` (a number or "self") may call setgroups."""
    try:
        with open(f"/proc/{pid}/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


def write_maps(pid: int, uids: list[IdRange], gids: list[IdRange]) -> None:
    """Give the user namespace of process ``pid`` its maps, by the means this process has."""
    if setgroups_denied(gids):
        _write(f"/proc/{pid}/setgroups", "deny")
    for kind, ranges in (("uid", uids), ("gid", gids)):
        if not writes_itself(kind, ranges):
            _helper(kind, pid, ranges)
            continue
        try:
            _write(f"/proc/{pid}/{kind}_map", map_text(ranges))
        except OSError as e:
            raise LadingError(f"the kernel refused the {kind} map: {e.strerror}") from None


def _write(path: str, text: str) -> None:
    fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC)
    try:
        posix.write(fd, text.encode())
    finally:
        posix.close(fd)


def user_name() -> str:
    """This user's name (what /etc/subuid may list it by), or its uid without a passwd entry."""
    import pwd

    try:
        return pwd.getpwuid(posix.getuid()).pw_name
    except KeyError:
        return str(posix.getuid())


def helper(kind: str) -> str | None:
    """The path of newuidmap or newgidmap on PATH, if this user may run it."""
    import os  # an unprivileged user's mappings only

    name = f"new{kind}map"
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(d or ".", name)
        if os.path.isfile(path) and posix.access(path, posix.X_OK):
            return path
    return None


def single_fallback(kind: str, user: str) -> bool:
    """True when an unprivileged user can map only its own id: the helper is missing, or
    /etc/subuid (or /etc/subgid) gives it no range."""
    return posix.geteuid() != 0 and (helper(kind) is None or not subordinate_ranges(kind, user, posix.getuid()))


def _helper(kind: str, pid: int, ranges: list[IdRange]) -> None:
    import subprocess  # only for a rootless container with ranges

    name, path = f"new{kind}map", helper(kind)
    if path is None:
        raise LadingError(f"{name} is needed to map these ids as a non-root user (Debian package uidmap)")
    argv = [path, str(pid), *(str(n) for r in ranges for n in (r.container, r.host, r.size))]
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines()
        raise LadingError(f"{name}: {lines[-1] if lines else f'exited {p.returncode}'}")


def subordinate_ranges(kind: str, user: str, uid: int, path: str | None = None) -> list[tuple[int, int]]:
    """(first, count) of each range /etc/subuid or /etc/subgid gives the user (by name or uid)."""
    found: list[tuple[int, int]] = []
    try:
        with open(path or SUBID_FILES[kind]) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return found
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in (user, str(uid)):
            continue
        try:
            found.append((int(fields[1]), int(fields[2])))
        except ValueError:
            continue
    return found


def mapping_fd(uids: list[IdRange], gids: list[IdRange]) -> int:
    """An fd of a new user namespace with these maps, for mount_setattr(MOUNT_ATTR_IDMAP).

    A short-lived child makes the namespace and waits while this process writes its maps and
    opens it; the fd keeps the namespace alive after the child has gone."""
    made_r, made_w = posix.pipe()
    done_r, done_w = posix.pipe()
    pid = posix.fork()
    if pid == 0:
        try:
            posix.close(made_r)
            posix.close(done_w)
            ns.unshare(ns.CLONE_NEWUSER)
            posix.write(made_w, b"1")
            posix.read(done_r, 1)
        finally:
            posix._exit(0)
    posix.close(made_w)
    posix.close(done_r)
    try:
        if posix.read(made_r, 1) != b"1":
            raise LadingError("cannot make a user namespace for an id-mapped mount")
        write_maps(pid, uids, gids)
        return posix.open(f"/proc/{pid}/ns/user", posix.O_RDONLY | posix.O_CLOEXEC)
    finally:
        posix.close(made_r)
        posix.close(done_w)  # the child's read returns: it exits
        posix.waitpid(pid, 0)
