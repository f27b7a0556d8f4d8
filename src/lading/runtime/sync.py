"""The channel between the runtime (parent) and the container's init process (child).

A SOCK_SEQPACKET socketpair carries one small JSON object per message, so neither side ever has
to frame or buffer: the init reports its PID, asks the runtime to run hooks at the points the spec
gives, and finally says it is ready (or reports the error that stopped it). Its debug lines come
the same way (``log`` messages), since the child has closed the runtime's log file.
"""

from __future__ import annotations

import _socket
import posix  # not os: runtime/store.py says why

from lading import jsonlite, log
from lading.errors import LadingError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_MESSAGE = 65536


class Channel:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @staticmethod
    def pair() -> tuple[Channel, Channel]:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        return Channel(a), Channel(b)

    def send(self, kind: str, **fields: Any) -> None:
        self.sock.send(jsonlite.dumps({"type": kind, **fields}).encode())

    def recv(self, pidfd: int | None = None) -> dict[str, Any]:
        """The next message; an ``eof`` message when the other side closed or, given its pidfd,
        its process died first. The other side's log lines are written to the log on the way."""
        while True:
            if pidfd is not None:
                import select  # create's waits on the init (exec has none)

                p = select.poll()
                p.register(self.sock.fileno(), select.POLLIN)
                p.register(pidfd, select.POLLIN)
                if not any(fd == self.sock.fileno() for fd, _ in p.poll()):
                    return {"type": "eof"}
            data = self.sock.recv(MAX_MESSAGE)
            if not data:
                return {"type": "eof"}
            msg: dict[str, Any] = jsonlite.loads(data)
            if msg["type"] != "log":
                return msg
            log.write(msg["level"], msg["msg"])

    def forward_log(self, name: str) -> None:
        """In the forked child ``name``: its log lines go to the runtime over this channel,
        prefixed ``name[PID]:`` as runc prefixes its setup stages'."""
        prefix = f"{name}[{posix.getpid()}]: "
        log.forward(lambda level, msg: self.send("log", level=level, msg=prefix + msg))

    def expect(self, kind: str, pidfd: int | None = None) -> dict[str, Any]:
        msg = self.recv(pidfd=pidfd)
        if msg["type"] == "error":
            raise LadingError(msg["msg"])
        if msg["type"] != kind:
            raise LadingError(f"container init exited before it was {kind}")
        return msg

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def report(chan: Channel, e: BaseException) -> None:
    """A forked child's failure, sent to the runtime as one line (to stderr if it is gone)."""
    msg = describe(e)
    try:
        chan.send("error", msg=msg)
    except OSError:
        posix.write(2, f"lading init: {msg}\n".encode())
