"""runtime.terminal.proxy between two real ptys: the user's (outer) and the container's (inner).

The proxy runs in its own process with the outer pty as its stdin/stdout and controlling terminal,
so the kernel itself sends it SIGWINCH when the test resizes the outer terminal; the inner pty runs
busybox sh, standing in for the container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lading.linux import pty
from tests.support import BUSYBOX, lading_env
from tests.support_console import UserTerminal, make_stdin_controlling_tty, read_until, wait_for

PROXY = "import sys; from lading.runtime.terminal import proxy; proxy(int(sys.argv[1]))"
FORWARDING_PROXY = (
    "import os, sys; from lading.runtime.terminal import proxy\n"
    "log = sys.argv[2]\n"
    "def forward(sig):\n"
    "    with open(log, 'a') as f: f.write(f'{sig}\\n')\n"
    "proxy(int(sys.argv[1]), forward=forward)"
)


class Inner:
    """busybox sh on a fresh pty, as the container's process would be."""

    def __init__(self, *argv: str) -> None:
        self.master, peer = pty.open_pty()
        try:
            self.proc = subprocess.Popen(
                [BUSYBOX, *(argv or ["sh"])],
                stdin=peer,
                stdout=peer,
                stderr=peer,
                start_new_session=True,
                preexec_fn=make_stdin_controlling_tty,
                env={"PS1": "inner$ ", "PATH": "/bin:/usr/bin", "TERM": "dumb"},
            )
        finally:
            os.close(peer)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def start_proxy(inner: Inner, outer: UserTerminal, *extra: str, script: str = PROXY) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script, str(inner.master), *extra],
        pass_fds=[inner.master],
        stdin=outer.peer,
        stdout=outer.peer,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=make_stdin_controlling_tty,
        env=lading_env(),
    )


@pytest.fixture
def terminals() -> Iterator[tuple[Inner, UserTerminal]]:
    inner, outer = Inner(), UserTerminal()
    yield inner, outer
    inner.close()
    outer.close()


def _finish(proxy: subprocess.Popen[bytes], outer: UserTerminal) -> None:
    os.write(outer.master, b"exit\r")
    assert proxy.wait(timeout=10) == 0, proxy.stderr.read() if proxy.stderr else ""
    if proxy.stderr:
        proxy.stderr.close()


def test_raw_mode_while_proxying_and_restored_after(terminals: tuple[Inner, UserTerminal]) -> None:
    inner, outer = terminals
    before = termios.tcgetattr(outer.peer)
    assert not outer.is_raw()
    proxy = start_proxy(inner, outer)
    wait_for(outer.is_raw)
    _finish(proxy, outer)
    assert termios.tcgetattr(outer.peer) == before


def test_bytes_flow_both_ways(terminals: tuple[Inner, UserTerminal]) -> None:
    inner, outer = terminals
    proxy = start_proxy(inner, outer)
    read_until(outer.master, b"inner$ ")
    os.write(outer.master, b"echo hel''lo; tty\r")
    out = read_until(outer.master, b"/dev/pts/")
    assert b"\r\nhello\r\n" in out  # the inner pty's ONLCR reaches the user untouched
    # ^C travels as a byte (the outer tty is raw) and the inner line discipline turns it into SIGINT.
    os.write(outer.master, b"sleep 30\r")
    time.sleep(0.3)
    os.write(outer.master, b"\x03")
    read_until(outer.master, b"inner$ ")
    assert proxy.poll() is None
    _finish(proxy, outer)


def test_window_size_initial_and_on_sigwinch(terminals: tuple[Inner, UserTerminal]) -> None:
    inner, outer = terminals
    pty.set_window_size(outer.master, 20, 70)
    proxy = start_proxy(inner, outer)
    wait_for(lambda: pty.get_window_size(inner.master) == (20, 70))
    wait_for(outer.is_raw)
    # Resizing the user's terminal makes the kernel send the proxy SIGWINCH.
    pty.set_window_size(outer.master, 33, 101)
    wait_for(lambda: pty.get_window_size(inner.master) == (33, 101))
    os.write(outer.master, b"stty size\r")
    read_until(outer.master, b"33 101")
    _finish(proxy, outer)


def test_terminal_restored_when_killed_by_signal(terminals: tuple[Inner, UserTerminal]) -> None:
    inner, outer = terminals
    before = termios.tcgetattr(outer.peer)
    proxy = start_proxy(inner, outer)
    wait_for(outer.is_raw)
    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait(timeout=10) == -signal.SIGTERM
    assert proxy.stderr is not None
    assert proxy.stderr.read() == b""
    proxy.stderr.close()
    assert termios.tcgetattr(outer.peer) == before


def test_signals_go_to_the_forwarder(terminals: tuple[Inner, UserTerminal], tmp_path: Path) -> None:
    inner, outer = terminals
    log = tmp_path / "forwarded"
    proxy = start_proxy(inner, outer, str(log), script=FORWARDING_PROXY)
    wait_for(outer.is_raw)
    for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
        proxy.send_signal(sig)
        wait_for(lambda: log.exists() and f"{int(sig)}\n" in log.read_text())  # noqa: B023
    assert proxy.poll() is None
    _finish(proxy, outer)


@pytest.mark.parametrize(
    ("argv", "script", "expected"),
    [
        # ash edits lines itself (the inner pty is raw for it); ^D on an empty line ends it.
        (["sh"], b"echo pi''ped\n", b"\r\npiped\r\n"),
        # A canonical-mode reader gets an unterminated last line, then end of input.
        (["cat"], b"no newline", b"no newlineno newline"),
    ],
)
def test_piped_stdin_ends_with_eof(argv: list[str], script: bytes, expected: bytes) -> None:
    inner = Inner(*argv)
    try:
        proxy = subprocess.run(
            [sys.executable, "-c", PROXY, str(inner.master)],
            pass_fds=[inner.master],
            input=script,
            capture_output=True,
            env=lading_env(),
            timeout=20,
        )
        assert proxy.returncode == 0, proxy.stderr
        assert expected in proxy.stdout
        assert inner.proc.wait(timeout=10) == 0
    finally:
        inner.close()
