"""`run`: create and start, then (unless detached) stay with the container until it exits.

In the foreground lading makes itself a child subreaper, so the container's init (its child when
create cloned it, or double-forked through a stage 1 and re-parented to it) can be waited for; it
forwards every signal it gets to the init, proxies the terminal when the container has one and no
console socket was given, and exits with the container's status (128+N when the container was
killed by signal N).
"""

from __future__ import annotations

import _socket
import posix  # not os: runtime/store.py says why

from lading.errors import LadingError
from lading.linux import prctl, signals
from lading.linux import process as proc
from lading.runtime import lifecycle
from lading.runtime.create import CreateOptions, create
from lading.runtime.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.runtime.container_state import ContainerState

_NOT_FORWARDED = {signals.SIGCHLD, signals.SIGKILL, signals.SIGSTOP, signals.SIGWINCH}


def run(store: Store, cid: str, opts: CreateOptions, detach: bool = False, keep: bool = False) -> int:
    ours: _socket.socket | None = None
    console_fd: int | None = None
    if not opts.console_socket:
        if detach:
            console_fd = None
        else:
            ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
            console_fd = theirs.detach()
    if not detach:
        prctl.set_child_subreaper()
    try:
        state = create(store, cid, opts, console_fd=console_fd)
    except BaseException:
        if ours is not None:
            ours.close()
        raise
    master: int | None = None
    try:
        if ours is not None and state.terminal:
            from lading.linux import pty

            master, _ = pty.recv_fd(ours)
        lifecycle.start(store, cid, state, until_exec=True)
    except BaseException:
        if master is not None:
            posix.close(master)
        lifecycle.delete(store, cid, force=True, known=state)
        raise
    finally:
        if ours is not None:
            ours.close()
    if detach:
        return 0
    try:
        return _wait(state, master)
    finally:
        if not keep:
            lifecycle.delete(store, cid, force=True, known=state)


def _wait(state: ContainerState, master: int | None) -> int:
    pid, started = state.pid, state.pid_start_time

    def send(signum: int) -> None:
        proc.send_signal(pid, started, signum)

    def forward(signum: int, _frame: object) -> None:
        send(signum)

    for sig in signals.valid():
        if sig not in _NOT_FORWARDED and sig < signals.SIGRTMIN:
            try:
                signals.handle(sig, forward)
            except (OSError, ValueError):
                pass
    if master is not None:
        from lading.runtime import terminal

        try:
            terminal.proxy(master, forward=send)
        finally:
            posix.close(master)
    while True:
        try:
            waited, status = posix.waitpid(pid, 0)
        except ChildProcessError:
            raise LadingError(f"container init {pid} is not a child of this process") from None
        if waited == pid:
            code = posix.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code
