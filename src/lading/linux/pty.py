"""Pseudo-terminals: open a pair, size it, make it a controlling terminal, pass the master on.

A container with ``process.terminal`` gets a pty from its own devpts instance, so the pair is
opened in whatever mount namespace the caller is in (the container's init calls this after
pivot_root). The master end then travels to whoever drives the terminal (lading's foreground
``run``, or the ``--console-socket`` listener podman and containerd provide) over a unix socket
as SCM_RIGHTS ancillary data.
"""

from __future__ import annotations

import _socket
import errno
import fcntl
import posix  # not os: runtime/store.py says why
import struct
import termios

# <asm-generic/ioctls.h>; Python's termios module lacks these three.
TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int)
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int)
TIOCGPTPEER = 0x5441  # _IO('T', 0x41), Linux 4.13+

_WINSIZE = struct.Struct("HHHH")  # struct winsize: rows, cols, xpixel, ypixel
_FD = struct.Struct("i")  # one fd in SCM_RIGHTS data


def open_pty() -> tuple[int, int]:
    """Open /dev/ptmx here and return (master, peer), both close-on-exec and not controlling."""
    master = posix.open("/dev/ptmx", posix.O_RDWR | posix.O_NOCTTY | posix.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        return master, _open_peer(master)
    except BaseException:
        posix.close(master)
        raise


def _open_peer(master: int) -> int:
    flags = posix.O_RDWR | posix.O_NOCTTY | posix.O_CLOEXEC
    try:
        # Opens the peer through the master's own devpts instance, whatever /dev/pts points at.
        return fcntl.ioctl(master, TIOCGPTPEER, flags)
    except OSError:
        return posix.open(peer_path(master), flags)


def pts_number(master: int) -> int:
    """The N of /dev/pts/N for this master."""
    buf = fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0))
    number: int = struct.unpack("I", buf)[0]
    return number


def peer_path(master: int) -> str:
    return f"/dev/pts/{pts_number(master)}"


def set_window_size(fd: int, rows: int, cols: int) -> None:
    """Set the size of the terminal behind fd (either end); the foreground group gets SIGWINCH."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, _WINSIZE.pack(rows, cols, 0, 0))


def get_window_size(fd: int) -> tuple[int, int]:
    """(rows, cols) of the terminal behind fd."""
    rows, cols, _, _ = _WINSIZE.unpack(fcntl.ioctl(fd, termios.TIOCGWINSZ, _WINSIZE.pack(0, 0, 0, 0)))
    return rows, cols


def unread_input(master: int) -> int:
    """Bytes typed into the terminal that its reader has not read yet (for canonical mode: whole
    lines only). Asked through a short-lived peer fd, so the master still sees the hangup later.
    """
    peer = _open_peer(master)
    try:
        count: int = struct.unpack("i", fcntl.ioctl(peer, termios.FIONREAD, struct.pack("i", 0)))[0]
        return count
    finally:
        posix.close(peer)


def set_controlling_terminal(fd: int) -> None:
    """Make fd's terminal the controlling terminal of this (session leader) process."""
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def send_fd(sock_fd: int, fd: int, name: str) -> None:
    """Send fd over the connected unix socket sock_fd, with name as the message (like runc)."""
    sock = _socket.socket(fileno=sock_fd)
    try:
        sock.sendmsg([name.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _FD.pack(fd))])
    finally:
        sock.detach()


def recv_fd(sock: _socket.socket) -> tuple[int, str]:
    """Receive one fd (close-on-exec) and its name; OSError(EBADMSG) if none came."""
    msg, ancdata, _, _ = sock.recvmsg(4096, _socket.CMSG_LEN(4 * _FD.size), _socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += [fd for (fd,) in _FD.iter_unpack(data[: len(data) - len(data) % _FD.size])]
    for extra in fds[1:]:
        posix.close(extra)
    if not fds:
        raise OSError(errno.EBADMSG, "no file descriptor in the message")
    return fds[0], msg.decode(errors="replace")
