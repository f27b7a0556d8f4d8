"""The caller's side of a container terminal: copy bytes between the user's tty and the pty master.

When ``process.terminal`` is true and nobody passed ``--console-socket``, a foreground ``run`` (or
``exec``) receives the pty master from the container's init and becomes the terminal emulator's
stand-in: the caller's tty goes into raw mode (so ^C, ^Z and line editing reach the container's
line discipline instead of ours), its size is copied to the pty at start and on every SIGWINCH,
and bytes flow both ways until the container side hangs up. The caller's terminal settings are
put back however the proxy ends. Piped (non-tty) stdin works too: when it ends and the container
has read everything sent so far, the pty's EOF character is written, so a shell reading the
terminal sees end of input: at once to a line editor reading in raw mode, after some quiet to a
canonical-mode reader, and again while it keeps reading (an EOF queued in canonical mode becomes
a NUL byte, and is lost, when a line-editing shell switches to raw mode for its next line: see
_eof_now).
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import posix  # not os: runtime/store.py says why
import select
import signal
import termios
import tty
from collections.abc import Callable, Iterator

from lading.errors import LadingError
from lading.linux import pty
from lading.linux.signals import FORWARDED_SIGNALS

# Without a forwarder, these end the proxy (the terminal is restored first, then they take effect).
STOPPING_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)
_CHUNK = 65536
# How often to look whether the container has read the last piped input (doubling after each EOF
# sent, up to the second).
_EOF_CHECK_MS = 50
_EOF_CHECK_MAX_MS = 1000
_CANONICAL_QUIET_POLLS = 10  # a canonical-mode reader gets the end of input after 10 quiet polls


def receive_master(sock: _socket.socket) -> int:
    """Receive the pty master the container's init sent over sock."""
    try:
        master, _ = pty.recv_fd(sock)
    except OSError as e:
        raise LadingError(f"receiving the container's terminal: {e.strerror}") from None
    return master


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put the tty fd in raw mode for the duration; restore its settings however the block ends."""
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def signals_to_pipe(signums: tuple[int, ...]) -> Iterator[int]:
    """Deliver signums as bytes on a pipe (the read end is yielded) instead of interrupting us."""
    r, w = posix.pipe2(posix.O_NONBLOCK | posix.O_CLOEXEC)
    old_handlers = {s: signal.signal(s, lambda *_: None) for s in signums}
    old_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    try:
        yield r
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for s, h in old_handlers.items():
            signal.signal(s, h)
        posix.close(r)
        posix.close(w)


def _copy_window_size(src: int | None, master: int) -> None:
    if src is None:
        return
    with contextlib.suppress(OSError):
        pty.set_window_size(master, *pty.get_window_size(src))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[posix.write(fd, view) :]


def proxy(
    master_fd: int, stdin_fd: int = 0, stdout_fd: int = 1, *, forward: Callable[[int], None] | None = None
) -> None:
    """Copy stdin to the pty master and the master to stdout until the container side hangs up.

    Signals in FORWARDED_SIGNALS go to ``forward`` when given; without it, SIGHUP, SIGINT, SIGQUIT
    and SIGTERM stop the proxy, and take their usual effect once the terminal is restored.
    """
    stdin_tty = posix.isatty(stdin_fd)
    size_src = stdin_fd if stdin_tty else stdout_fd if posix.isatty(stdout_fd) else None
    watched = FORWARDED_SIGNALS if forward else STOPPING_SIGNALS
    stopped_by: int | None = None
    with contextlib.ExitStack() as stack:
        if stdin_tty:
            stack.enter_context(raw_mode(stdin_fd))
        sigpipe = stack.enter_context(signals_to_pipe((signal.SIGWINCH, *watched)))
        _copy_window_size(size_src, master_fd)
        stopped_by = _pump(master_fd, stdin_fd, stdout_fd, stdin_tty, sigpipe, size_src, forward)
    if stopped_by is not None:
        signal.raise_signal(stopped_by)


def _pump(
    master: int,
    stdin: int,
    stdout: int,
    stdin_tty: bool,
    sigpipe: int,
    size_src: int | None,
    forward: Callable[[int], None] | None,
) -> int | None:
    """The copy loop; returns the signal that stopped it, or None when the master hung up."""
    posix.set_blocking(master, False)
    to_master = bytearray()
    stdout_open = True
    last_input = b"\n"
    eof_pending = False
    eof_check = _EOF_CHECK_MS
    poller = select.poll()
    poller.register(sigpipe, select.POLLIN)
    poller.register(stdin, select.POLLIN)
    quiet = 0  # polls in a row in which nothing happened
    while True:
        if eof_pending and not to_master and _eof_now(master, quiet):
            # Again each time the reader has read everything, as a pipe at its end answers every
            # read with EOF: should one still be lost (see _eof_now), the next one comes.
            to_master += _end_of_input(master, last_input)
            last_input = b"\n"
            eof_check = min(eof_check * 2, _EOF_CHECK_MAX_MS)
        poller.register(master, select.POLLIN | (select.POLLOUT if to_master else 0))
        ready = poller.poll(eof_check if eof_pending else None)
        quiet = 0 if ready else quiet + 1
        for fd, events in ready:
            if fd == sigpipe:
                for signum in posix.read(sigpipe, 256):
                    if signum == signal.SIGWINCH:
                        _copy_window_size(size_src, master)
                    elif forward is not None:
                        forward(signum)
                    else:
                        return signum
            elif fd == stdin:
                data = _read_input(stdin, events)
                if data:
                    to_master += data
                    last_input = data[-1:]
                else:
                    poller.unregister(stdin)
                    eof_pending = not stdin_tty
            elif fd == master:
                if events & select.POLLOUT and to_master:
                    with contextlib.suppress(BlockingIOError):
                        del to_master[: posix.write(master, to_master)]
                if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    try:
                        data = posix.read(master, _CHUNK)
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        if e.errno == errno.EIO:  # every peer fd is closed: the container is gone
                            return None
                        raise
                    if not data:
                        return None
                    if stdout_open:
                        try:
                            write_all(stdout, data)
                        except BrokenPipeError:
                            stdout_open = False  # keep draining so the container never blocks


def _read_input(stdin: int, events: int) -> bytes:
    """What stdin has to give; b"" once it ended, hung up or was never open."""
    if not events & (select.POLLIN | select.POLLHUP):
        return b""
    try:
        return posix.read(stdin, _CHUNK)
    except OSError as e:
        if e.errno == errno.EIO:  # the caller's terminal hung up
            return b""
        raise


def _eof_now(master: int, quiet: int) -> bool:
    """Whether the end of piped input can go in now: the container has read everything, and
    either reads in raw mode (a line editor waiting for the next line, which takes the EOF
    character as end of input) or has read in canonical mode, quietly, for a while. An
    interactive shell runs each command with the terminal in canonical mode and reads the next
    line in raw mode: an EOF queued in canonical mode is stored as a NUL byte, which the switch
    to raw mode hands to the shell (the ^@ on the screen) while the end of input is lost."""
    if pty.unread_input(master):
        return False
    try:
        canonical = bool(termios.tcgetattr(master)[3] & termios.ICANON)  # the peer's settings
    except termios.error:
        canonical = True
    return not canonical or quiet >= _CANONICAL_QUIET_POLLS


def _end_of_input(master: int, last_input: bytes) -> bytes:
    """The bytes that make the pty's reader see end of input: its EOF character (a line editor
    reading in raw mode takes it as end of input too)."""
    try:
        attrs = termios.tcgetattr(master)  # on a master: the terminal's own (the peer's) settings
        cc, canonical = attrs[6][termios.VEOF], bool(attrs[3] & termios.ICANON)
    except termios.error:
        cc, canonical = b"\x04", True
    eof = bytes([cc]) if isinstance(cc, int) else bytes(cc)
    # A pending partial line needs one EOF to be delivered and a second to read as end of input.
    return eof if last_input == b"\n" or not canonical else eof + eof
