"""The container's terminal: a pty made inside the container, its master sent to the caller.

As runc does, the init opens /dev/ptmx of the container's own devpts (so the slave is
/dev/pts/N *inside* the container), sends the master over the console socket with SCM_RIGHTS
(podman's conmon and containerd's shim wait for it there), then makes the slave its controlling
terminal, its stdio and /dev/console.
"""

from __future__ import annotations

import _socket
import posix  # not os: runtime/store.py says why

from lading.errors import LadingError
from lading.linux import mount as m
from lading.linux import pty
from lading.linux.files import exists

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.spec.runtime_config import Process


def connect(path: str) -> int:
    """Connect to a --console-socket listener, where the pty master is sent: the connected fd,
    close-on-exec (the process that sends the master gets it through a fork)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise LadingError(f"--console-socket {path}: cannot connect: {e.strerror}") from None
    return sock.detach()


def setup(console_fd: int, process: Process, bind_dev_console: bool = True) -> None:
    """Make a pty, send its master over console_fd, and make the slave our terminal and stdio.

    ``bind_dev_console`` is for the init only: a process exec'd later leaves /dev/console alone."""
    master, slave = pty.open_pty()
    try:
        if process.console_size:
            pty.set_window_size(slave, process.console_size.height, process.console_size.width)
        pty.send_fd(console_fd, master, "/dev/ptmx")
    finally:
        posix.close(master)
        posix.close(console_fd)
    pty.set_controlling_terminal(slave)
    for target in (0, 1, 2):
        posix.dup2(slave, target)
    if bind_dev_console:
        _bind_console(slave)
    if slave > 2:
        posix.close(slave)


def _bind_console(slave: int) -> None:
    if not exists("/dev/console"):
        posix.close(posix.open("/dev/console", posix.O_CREAT | posix.O_WRONLY | posix.O_CLOEXEC, 0o600))
    m.mount(f"/proc/self/fd/{slave}", "/dev/console", None, m.MS_BIND)
