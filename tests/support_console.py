"""A tiny recvtty for tests: the --console-socket listener that receives a container's pty master.

podman (conmon) and containerd (the shim) listen on a unix socket, pass its path as
``--console-socket``, and get the pty master over it. ConsoleSocket does the same so a test can
type into the container's terminal and read what it prints:

    with ConsoleSocket(tmp_path / "console.sock") as console:
        lading("create", "--console-socket", str(console.path), ...)
        console.accept()
        console.write(b"echo hi\\r")
        console.read_until(b"hi")
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from lading.linux import pty


def _read_chunk(master: int) -> bytes:
    try:
        return os.read(master, 4096)
    except OSError:  # EIO: every peer of the terminal is closed
        return b""


def read_all(master: int, timeout: float = 20, before: bytes = b"") -> bytes:
    """Read a pty master until its peers are all closed; fails if that takes longer than timeout."""
    got = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([master], [], [], left)[0]:
            raise AssertionError(f"terminal still open; got {before + got!r}")
        chunk = _read_chunk(master)
        if not chunk:
            return got
        got += chunk


class ConsoleSocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.master: int | None = None
        self.name = ""
        self.output = b""
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._listener.bind(str(path))
        self._listener.listen(1)

    def accept(self, timeout: float = 20) -> int:
        """Wait for the runtime to connect and send the master; returns it (owned by this object)."""
        self._listener.settimeout(timeout)
        conn, _ = self._listener.accept()
        with conn:
            conn.settimeout(timeout)
            self.master, self.name = pty.recv_fd(conn)
        return self.master

    def write(self, data: bytes) -> None:
        assert self.master is not None, "accept() first"
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def read_until(self, want: bytes, timeout: float = 20) -> bytes:
        """Read the terminal until want appears in everything read so far; returns all of it."""
        assert self.master is not None, "accept() first"
        deadline = time.monotonic() + timeout
        while want not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                raise AssertionError(f"no {want!r} on the console; got {self.output!r}")
            chunk = self._read_chunk()
            if not chunk:
                raise AssertionError(f"console hung up before {want!r}; got {self.output!r}")
            self.output += chunk
        return self.output

    def read_to_hangup(self, timeout: float = 20) -> bytes:
        """Read until every peer of the terminal is closed (the container exited)."""
        assert self.master is not None, "accept() first"
        self.output += read_all(self.master, timeout, self.output)
        return self.output

    def _read_chunk(self) -> bytes:
        assert self.master is not None
        return _read_chunk(self.master)

    def close(self) -> None:
        if self.master is not None:
            os.close(self.master)
            self.master = None
        self._listener.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ConsoleSocket:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_until(fd: int, want: bytes, timeout: float = 20) -> bytes:
    """Read fd until want shows up; everything read so far is returned (or in the failure)."""
    got = b""
    deadline = time.monotonic() + timeout
    while want not in got:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"timed out waiting for {want!r}; got {got!r}")
        chunk = _read_chunk(fd)
        if not chunk:
            raise AssertionError(f"end of output while waiting for {want!r}; got {got!r}")
        got += chunk
    return got


def wait_for(cond: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def make_stdin_controlling_tty() -> None:
    """A preexec_fn: fd 0 (a tty) becomes the controlling terminal of the new session."""
    import fcntl

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class UserTerminal:
    """The user's terminal: a pty whose peer a test hands to a program as stdio and controlling tty."""

    def __init__(self, rows: int = 24, cols: int = 80) -> None:
        self.master, self.peer = os.openpty()
        pty.set_window_size(self.master, rows, cols)

    def spawn(self, argv: list[str], env: dict[str, str], stderr: int | None = None) -> subprocess.Popen[bytes]:
        """Run argv with this terminal as its stdio (stderr too, unless given) and controlling tty."""
        return subprocess.Popen(
            argv,
            stdin=self.peer,
            stdout=self.peer,
            stderr=self.peer if stderr is None else stderr,
            start_new_session=True,
            preexec_fn=make_stdin_controlling_tty,
            env=env,
        )

    def drive_shell(self) -> None:
        """With a container's shell behind a proxy on this terminal: the shell sees the
        terminal's size and then a new one (the proxy gets SIGWINCH), and ^C stops its sleep."""
        rows, cols = pty.get_window_size(self.master)
        os.write(self.master, b"tty; stty size\r")
        out = read_until(self.master, f"{rows} {cols}".encode())
        assert b"/dev/pts/" in out
        pty.set_window_size(self.master, rows + 10, cols + 20)  # the kernel sends the proxy SIGWINCH
        # asked again until it shows, as a user would: the proxy passes the size on when it gets
        # the signal, which under load can be after the shell has read the next line
        wanted, seen = f"{rows + 10} {cols + 20}".encode(), b""
        for _ in range(10):
            os.write(self.master, b"stty size\r")
            try:
                read_until(self.master, wanted, timeout=2)
                break
            except AssertionError as e:
                seen += str(e).encode()
        else:
            raise AssertionError(f"the shell never saw the new size {wanted!r}: {seen[-400:]!r}")
        os.write(self.master, b"sleep 1000\r")
        read_until(self.master, b"sleep 1000")
        time.sleep(0.5)  # for the shell to hand the terminal to sleep
        os.write(self.master, b"\x03")  # a byte on the raw terminal: SIGINT in the container's
        os.write(self.master, b"echo after-in''terrupt\r")
        read_until(self.master, b"after-interrupt")

    def is_raw(self) -> bool:
        lflag: int = termios.tcgetattr(self.peer)[3]
        return not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.peer)
