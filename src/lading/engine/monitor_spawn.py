"""New monitors forked from a live one, so that every monitor shares one interpreter's memory.

A monitor exec'd afresh costs the interpreter's whole floor in private memory (bench/monitor.py:
about 2.9 MiB of its 3.2 MiB of PSS is its own); a monitor forked from a running one shares those
pages copy-on-write, and an idle monitor dirties few of them. So when the engine names a spawn
socket (``MonitorConfig.spawn_socket``, one per run root), the newest monitor listens there, and
``launch`` asks it for a child instead of starting an interpreter. The request carries what an
exec'd monitor gets on its command line and from its environment, and the launcher's report pipe
and hold fd as SCM_RIGHTS; the child then behaves exactly as an exec'd monitor (it reports its
pid, creates the container, ...). Without a live monitor (none yet, or the last was killed) the
launcher execs one, as without a spawn socket.

Only a peer with the monitor's own uid is served, and the socket lives in the engine's run root
(a directory only root enters, never mounted into containers), since whoever may ask can run any
command as the monitor; and only a launcher of the same code (see code_identity).

The child is the asking monitor's child (re-parented to init when that monitor exits), in a new
session, a child subreaper, with the requester's environment and nothing else open.

Every page that the child or the serving monitor writes after the fork (a reference count, a freed
block, an allocator's free list) is copied, and is then what the child costs (bench/monitor.py).
So the server does the least between accept and fork (the peer's uid, the raw request, whether it
comes from the same code), only the child's short-lived setup child (monitor_setup) decodes the
request (the monitor itself only at its end, for the exit command), the environment is handed to
the spawned commands rather than written into ``posix.environ``, fds are dropped with
``close_range`` rather than by listing /proc, and ``prctl`` is called through ``_ctypes`` alone
(``ctypes`` would add ``os``, ``struct`` and more to every monitor that serves), made once a
monitor serves (``_ctypes`` is loaded as a monitor with a spawn socket starts, for monitor_warmup;
a monitor without a spawn socket never loads it). The forked path's code is quickened before the
first fork (monitor_warmup), and it uses few objects and no one-letter constants.
"""

from __future__ import annotations

import _socket
import posix
import sys

# Not `from typing import ...`: typing would add to every monitor's size.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

REQUEST_MAX = 256 * 1024
_UCRED_UID = slice(4, 8)  # struct ucred {pid, uid, gid}
_PR_SET_CHILD_SUBREAPER = 36


# libc's prctl (see _load_prctl): loaded by the first monitor that serves, before it forks any.
_prctl: Callable[[int, int, int, int, int], int] | None = None
# Which monitor code this is (this file, and when it was written), taken when it is loaded: a
# monitor started before an upgrade has the old time, while the file has the new one.
_CODE = f"{__file__}:{posix.stat(__file__).st_mtime_ns}".encode()


def code_identity() -> bytes:
    """A monitor serves only launchers of the same code, so one started before an upgrade never
    runs a newer launcher's monitor (that launcher execs one instead, which then serves)."""
    return _CODE


def encode(args: list[str], env: dict[str, str]) -> bytes:
    """The request: the code's identity, the monitor's arguments, then its environment
    (``KEY=value``); NUL-separated, two NULs between the parts."""
    arguments = "\0".join(args).encode()
    return code_identity() + b"\0\0" + arguments + b"\0\0" + "\0".join(f"{k}={v}" for k, v in env.items()).encode()


def decode(data: bytes) -> tuple[list[str], dict[bytes, bytes]] | None:
    """The arguments and environment of a request from the same code; None for any other."""
    identity, _, rest = data.partition(b"\0\0")
    if identity != code_identity():
        return None
    args, _, env = rest.partition(b"\0\0")
    environ = {}
    for entry in env.split(b"\0") if env else ():
        key, _, value = entry.partition(b"=")
        environ[key] = value
    return [a.decode() for a in args.split(b"\0")], environ


def is_known(data: bytes) -> bool:
    """Whether a request comes from the same code (checked before anything else is done)."""
    return data.startswith(code_identity() + b"\0\0")


def bind(path: str) -> tuple[_socket.socket, int] | None:
    """A listening socket at path, replacing whoever listened there before (the newest monitor
    serves), and its inode; None if it cannot be made."""
    temporary = f"{path}.{posix.getpid()}"
    if len(temporary) > 107:
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC | _socket.SOCK_NONBLOCK)
    try:
        try:
            posix.unlink(temporary)
        except FileNotFoundError:
            pass
        sock.bind(temporary)
        sock.listen(8)
        inode = posix.stat(temporary).st_ino
        posix.rename(temporary, path)
    except OSError:
        sock.close()
        return None
    return sock, inode


def unbind(sock: _socket.socket, path: str, inode: int) -> None:
    """Close sock and remove its file if it is still ours (a newer monitor may have taken it over)."""
    try:
        if posix.stat(path).st_ino == inode:
            posix.unlink(path)
    except OSError:
        pass
    sock.close()


class Server:
    """The newest monitor's end of the spawn socket (made by :func:`bind`)."""

    def __init__(self, sock: _socket.socket, path: str, inode: int) -> None:
        self.sock, self.path, self.inode = sock, path, inode
        _load_prctl()

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        unbind(self.sock, self.path, self.inode)

    def receive(self) -> tuple[bytes, list[int]] | None:
        """One request from our own uid, undecoded (see decode): (data, [report fd, hold fd?]);
        None if there is none to serve."""
        try:
            fd, _ = self.sock._accept()  # type: ignore[attr-defined]  # _socket's accept
        except BlockingIOError:
            return None
        conn = _socket.socket(fileno=fd)
        try:
            conn.settimeout(2)  # a launcher sends at once; no peer may hold the loop for long
            cred = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
            data, ancillary, _, _ = conn.recvmsg(REQUEST_MAX, _socket.CMSG_LEN(2 * 4), _socket.MSG_CMSG_CLOEXEC)
        except OSError:
            return None
        finally:
            conn.close()
        fds = received_fds(ancillary)
        if int.from_bytes(cred[_UCRED_UID], sys.byteorder) != posix.geteuid() or not fds:
            for extra in fds:
                posix.close(extra)
            return None
        return data, fds


def ask(path: str, args: list[str], env: dict[str, str], fds: list[int]) -> bool:
    """Send a request to the monitor listening at path; False if none does (``_socket``: the
    socket module's enums would cost every `container run` their import)."""
    if len(path) > 107:
        return False
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        sock.sendmsg([encode(args, env)], rights(fds))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def rights(fds: list[int]) -> list[tuple[int, int, bytes]]:
    """The ancillary data that passes fds (sendmsg's SCM_RIGHTS)."""
    return [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds))]


def received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The fds that recvmsg's ancillary data passed (SCM_RIGHTS), in order."""
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            at = 0  # a loop: a comprehension over a range costs a forked monitor about 12 KiB more
            while at + 4 <= len(data):
                fds.append(int.from_bytes(data[at : at + 4], sys.byteorder))
                at += 4
    return fds


def _load_prctl() -> None:
    """Make libc's prctl callable, with ``_ctypes`` alone (what ``ctypes.CDLL(None, use_errno=True)``
    and ``c_int`` would make), once per process tree."""
    global _prctl
    if _prctl is not None:
        return
    import _ctypes

    class Int(_ctypes._SimpleCData):  # type: ignore[type-arg]  # ctypes.c_int
        _type_ = "i"

    class Function(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = Int

    _prctl = Function(_ctypes.dlsym(_ctypes.dlopen("libc.so.6"), "prctl"))


def become_child() -> None:
    """In the forked child: a session and a subreaper of its own."""
    assert _prctl is not None  # made by the serving monitor this was forked from
    posix.setsid()
    if _prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1:
        import _ctypes

        raise OSError(_ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def drop_fds(keep: list[int]) -> None:
    """Close every fd of the serving monitor but stdio and keep (its Python objects stay alive,
    unused, so none of them closes a number that is reused by then)."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            posix.closerange(low, fd)
            low = fd + 1
    posix.closerange(low, 0x7FFFFFFF)
