"""Attaching a terminal (or pipes) to a container through its monitor's attach socket.

:class:`Attachment` connects first and streams later, so the engine can connect before the
runtime's ``start`` and miss no output (``run`` without ``-d``, ``start -a``). The monitor keeps
the connection until the container has exited and its output is drained, then sends the exit
code and closes: :meth:`Attachment.stream` returns then, or when the user detaches.

- With a terminal (``-t``) and a tty on our side: the tty is raw for the duration (Ctrl-C, Ctrl-Z
  and line editing reach the container's line discipline), its size is sent at start and on every
  SIGWINCH, and docker's detach keys (Ctrl-P Ctrl-Q by default, ``--detach-keys``) detach: what
  the user typed of a possible key sequence is held back until it is known not to be one.
- Without a terminal: stdout and stderr come separately and go to our stdout and stderr; the
  signals a foreground ``docker run`` proxies (``--sig-proxy``) go to the container's init.
- Our stdin ending is told to the monitor, which closes the container's stdin if the client
  asked for that (``run -i``: docker's StdinOnce); a detach leaves it open.
- Writes to the monitor are non-blocking and queued, and stdin is not read while the queue is
  not empty, so a container that stops reading its stdin never stalls its output to us.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
from pathlib import Path

from lading.engine import attach_protocol as proto
from lading.errors import LadingError
from lading.linux import pty
from lading.linux.signals import FORWARDED_SIGNALS
from lading.record import Record
from lading.runtime.terminal import STOPPING_SIGNALS, raw_mode, signals_to_pipe, write_all

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


class Attached(Record):
    exit_code: int | None  # None if detached, or if the monitor went away without one
    detached: bool


def parse_detach_keys(text: str) -> bytes:
    """docker's --detach-keys: comma-separated ``ctrl-<letter>``, ``ctrl-@``, ``ctrl-[`` ... or
    single characters, e.g. ``ctrl-p,ctrl-q`` or ``ctrl-x,x``."""
    keys = bytearray()
    for part in text.split(","):
        if part.startswith("ctrl-") and len(part) == 6 and "@" <= part[5].upper() <= "_":
            keys.append(ord(part[5].upper()) - 64)
        elif len(part) == 1:
            keys += part.encode()
        else:
            raise LadingError(f"--detach-keys: invalid key sequence {part!r}")
    return bytes(keys)


class Attachment:
    """A connection to a container's monitor; stream() runs it."""

    def __init__(
        self, exec_dir: Path, *, stdin: bool, stdout: bool = True, stderr: bool = True, close_stdin: bool = False
    ) -> None:
        self.stdin = stdin
        hello = (
            (proto.HELLO_STDIN if stdin else b"")
            + (proto.HELLO_CLOSE_STDIN if close_stdin else b"")
            + (proto.HELLO_STDOUT if stdout else b"")
            + (proto.HELLO_STDERR if stderr else b"")
        )
        self.sock = connect(exec_dir)
        try:
            self.sock.settimeout(30)
            self.sock.send(proto.HELLO + hello)
            answer = self.sock.recv(proto.MAX_PACKET)  # registered: no output is missed from here
        except OSError as e:
            self.sock.close()
            raise LadingError(f"attaching to the container: {e}") from None
        if answer != proto.HELLO:
            self.sock.close()
            raise LadingError("the container is not running")
        self.sock.setblocking(False)
        self._queue: list[bytes] = []
        self._held = bytearray()
        self._exit_code: int | None = None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stream(
        self,
        *,
        tty: bool,
        detach_keys: bytes = DEFAULT_DETACH_KEYS,
        sig_proxy: bool = True,
        in_fd: int = 0,
        out_fd: int = 1,
        err_fd: int = 2,
    ) -> Attached:
        """Copy until the container's output ends (its exit code) or the user detaches."""
        raw = tty and self.stdin and os.isatty(in_fd)
        size_src = in_fd if tty and os.isatty(in_fd) else out_fd if tty and os.isatty(out_fd) else None
        forward = sig_proxy and not tty
        with contextlib.ExitStack() as stack:
            if raw:
                stack.enter_context(raw_mode(in_fd))
            watched = FORWARDED_SIGNALS if forward else STOPPING_SIGNALS
            sigpipe = stack.enter_context(signals_to_pipe((signal.SIGWINCH, *watched)))
            self._send_size(size_src)
            outcome = self._pump(in_fd, out_fd, err_fd, sigpipe, size_src, detach_keys if raw else b"", forward)
        if isinstance(outcome, int):  # a stopping signal: it takes effect now that the tty is back
            signal.raise_signal(outcome)
            return Attached(None, True)
        return outcome

    def _pump(
        self,
        in_fd: int,
        out_fd: int,
        err_fd: int,
        sigpipe: int,
        size_src: int | None,
        detach_keys: bytes,
        forward: bool,
    ) -> Attached | int:
        """The copy loop: an Attached, or the stopping signal that ended it."""
        reading_stdin = self.stdin
        writable = {out_fd: True, err_fd: True}
        while True:
            poller = select.poll()
            poller.register(sigpipe, select.POLLIN)
            poller.register(self.sock, select.POLLIN | (select.POLLOUT if self._queue else 0))
            if reading_stdin and not self._queue:
                poller.register(in_fd, select.POLLIN)
            for fd, events in poller.poll():
                if fd == sigpipe:
                    for signum in os.read(sigpipe, 256):
                        if signum == signal.SIGWINCH:
                            self._send_size(size_src)
                        elif forward:
                            self._send(proto.SIGNAL + str(signum).encode())
                        else:
                            return signum
                elif fd == in_fd:
                    data = _read_input(in_fd, events)
                    if not data:
                        reading_stdin = False
                        self._send(proto.STDIN_EOF)
                        continue
                    data, detach = self._scan(data, detach_keys)
                    if data:
                        self._send(proto.STDIN + data)
                    if detach:
                        self._flush_blocking()
                        return Attached(None, True)
                else:
                    if events & select.POLLOUT:
                        self._flush()
                    if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        ended = self._receive(out_fd, err_fd, writable)
                        if ended:
                            return Attached(self._exit_code, False)

    def _receive(self, out_fd: int, err_fd: int, writable: dict[int, bool]) -> bool:
        """Take one message from the monitor; True once the connection has ended."""
        try:
            msg = self.sock.recv(proto.MAX_PACKET)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if not msg:
            return True
        kind, payload = msg[:1], msg[1:]
        if kind in (proto.STDOUT, proto.STDERR):
            fd = out_fd if kind == proto.STDOUT else err_fd
            if writable[fd]:
                try:
                    write_all(fd, payload)
                except BrokenPipeError:
                    writable[fd] = False  # keep draining, so that the container is never held up
        elif kind == proto.EXIT:
            self._exit_code = int(payload)
        return False

    def _scan(self, data: bytes, keys: bytes) -> tuple[bytes, bool]:
        """Pass data on, holding back a possible start of the detach keys; True to detach."""
        if not keys or (not self._held and keys[0] not in data):
            return data, False
        out = bytearray()
        for byte in data:
            self._held.append(byte)
            if keys.startswith(self._held):
                if len(self._held) == len(keys):
                    self._held.clear()
                    return bytes(out), True
            else:
                out += self._held
                self._held.clear()
        return bytes(out), False

    def _send_size(self, size_src: int | None) -> None:
        if size_src is not None:
            with contextlib.suppress(OSError):
                rows, cols = pty.get_window_size(size_src)
                self._send(proto.RESIZE + f"{rows} {cols}".encode())

    def _send(self, packet: bytes) -> None:
        """Queue one message (stdin is read in pieces that fit one) and send what the socket takes."""
        self._queue.append(packet)
        self._flush()

    def _flush(self) -> None:
        while self._queue:
            try:
                self.sock.send(self._queue[0])
            except BlockingIOError:
                return
            except OSError:
                self._queue.clear()  # the monitor is gone: the receiving side will see it
                return
            self._queue.pop(0)

    def _flush_blocking(self) -> None:
        while self._queue:
            select.select([], [self.sock], [], 5)
            self._flush()


def connect(exec_dir: Path) -> socket.socket:
    """A connection to the monitor's attach socket; LadingError if no monitor listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        dir_fd = os.open(exec_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sock.connect(f"/proc/self/fd/{dir_fd}/{proto.SOCKET_NAME}")  # any length of exec_dir
        finally:
            os.close(dir_fd)
    except OSError as e:
        sock.close()
        if e.errno in (errno.ENOENT, errno.ECONNREFUSED):
            raise LadingError("the container is not running") from None
        raise LadingError(f"attaching to the container: {e.strerror}") from None
    return sock


def _read_input(fd: int, events: int) -> bytes:
    if not events & (select.POLLIN | select.POLLHUP):
        return b""
    try:
        return os.read(fd, proto.MAX_PACKET - 1)
    except OSError as e:
        if e.errno == errno.EIO:  # our terminal hung up
            return b""
        raise


def attach(
    exec_dir: Path,
    *,
    stdin: bool,
    tty: bool,
    close_stdin: bool = False,
    detach_keys: bytes = DEFAULT_DETACH_KEYS,
    sig_proxy: bool = True,
) -> Attached:
    """Connect and stream (``attach``; ``run`` and ``start -a`` connect before the start)."""
    with Attachment(exec_dir, stdin=stdin, close_stdin=close_stdin) as a:
        return a.stream(tty=tty, detach_keys=detach_keys, sig_proxy=sig_proxy)
