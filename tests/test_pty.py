"""linux.pty against the real kernel: pairs, sizes, controlling terminals, fd passing."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from lading.linux import pty
from tests.support import lading_env


def _read(fd: int, n: int = 1024) -> bytes:
    return os.read(fd, n)


def test_open_pty_pair_carries_bytes_both_ways() -> None:
    master, peer = pty.open_pty()
    try:
        for fd in (master, peer):
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert os.isatty(peer)
        assert pty.peer_path(master) == os.ttyname(peer)
        os.write(peer, b"out\n")
        assert _read(master) == b"out\r\n"  # ONLCR: the peer is a real terminal
        os.write(master, b"in\n")
        assert _read(peer) == b"in\n"
    finally:
        os.close(master)
        os.close(peer)


def test_window_size_round_trip() -> None:
    master, peer = pty.open_pty()
    try:
        pty.set_window_size(master, 42, 132)
        assert pty.get_window_size(peer) == (42, 132)
        pty.set_window_size(peer, 7, 9)
        assert pty.get_window_size(master) == (7, 9)
    finally:
        os.close(master)
        os.close(peer)


def test_set_controlling_terminal_in_new_session() -> None:
    script = textwrap.dedent(
        """
        import os
        from lading.linux import pty
        os.setsid()
        master, peer = pty.open_pty()
        try:
            os.open("/dev/tty", os.O_RDWR)
        except OSError:
            pass
        else:
            raise SystemExit("had a controlling terminal before")
        pty.set_controlling_terminal(peer)
        assert os.tcgetpgrp(peer) == os.getpgrp()
        fd = os.open("/dev/tty", os.O_RDWR)
        os.write(fd, b"via /dev/tty")
        assert os.read(master, 100) == b"via /dev/tty"
        print("ok")
        """
    )
    p = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=lading_env(),
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok\n"


def test_send_and_receive_a_master() -> None:
    master, peer = pty.open_pty()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        pty.send_fd(a.fileno(), master, "/dev/pts/console")
        got, name = pty.recv_fd(b)
        try:
            assert name == "/dev/pts/console"
            assert got != master
            assert fcntl.fcntl(got, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
            os.write(peer, b"via socket\n")
            assert _read(got) == b"via socket\r\n"
        finally:
            os.close(got)
        assert a.fileno() >= 0  # send_fd leaves the caller's socket open
    finally:
        a.close()
        b.close()
        os.close(master)
        os.close(peer)


def test_recv_fd_without_a_descriptor_fails() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        a.send(b"just bytes")
        with pytest.raises(OSError) as exc:
            pty.recv_fd(b)
        assert exc.value.errno == errno.EBADMSG
    finally:
        a.close()
        b.close()
