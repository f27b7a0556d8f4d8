"""Attaching to a monitor: before start, stdin (-i), several clients, signals, and a real tty."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lading.engine import attach_protocol as proto
from lading.engine.attach import Attached, Attachment, attach, parse_detach_keys
from lading.errors import LadingError
from tests.engine_monitor.support import MonitoredContainer, read_packets, wait_for
from tests.support import lading_env
from tests.support_console import UserTerminal


def _stream_to_files(a: Attachment, tmp: Path, **kw: object) -> tuple[Attached, str, str]:
    with open(tmp / "out", "w+") as out, open(tmp / "err", "w+") as err:
        result = a.stream(tty=False, in_fd=kw.pop("in_fd", 0), out_fd=out.fileno(), err_fd=err.fileno())  # type: ignore[arg-type]
        out.seek(0)
        err.seek(0)
        return result, out.read(), err.read()


def test_attached_before_start_gets_everything_apart(ctr: MonitoredContainer) -> None:
    ctr.launch(["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 5"])
    with Attachment(ctr.exec_dir, stdin=False) as a:
        ctr.start()
        result, out, err = _stream_to_files(a, ctr.tmp)
    assert result == Attached(5, False)
    assert (out, err) == ("out1\nout2\n", "err1\n")
    assert ctr.wait().exit_code == 5


def test_stdin_reaches_the_container_and_its_end_closes_it(ctr: MonitoredContainer) -> None:
    ctr.launch(["sh", "-c", "cat; echo cat-ended"], stdin=True)
    r, w = os.pipe()
    os.write(w, b"line one\nline two\n")
    os.close(w)
    try:
        with Attachment(ctr.exec_dir, stdin=True, close_stdin=True) as a:
            ctr.start()
            result, out, _ = _stream_to_files(a, ctr.tmp, in_fd=r)
    finally:
        os.close(r)
    assert result == Attached(0, False)
    assert out == "line one\nline two\ncat-ended\n"
    assert ctr.output() == out


def test_without_dash_i_stdin_is_empty(ctr: MonitoredContainer) -> None:
    ctr.run(["sh", "-c", "cat; echo end"])
    assert ctr.output() == "end\n"


def test_stdin_stays_open_for_the_next_client(ctr: MonitoredContainer) -> None:
    """A client whose stdin ends without asking for the close (docker attach) leaves it open."""
    ctr.launch(["sh", "-c", "read a; read b; echo $a-$b"], stdin=True)
    ctr.start()
    first = ctr.attach_socket(proto.HELLO_STDIN)
    first.send(proto.STDIN + b"one\n")
    first.send(proto.STDIN_EOF)
    first.close()
    second = ctr.attach_socket(proto.HELLO_STDIN + proto.HELLO_STDOUT)
    second.send(proto.STDIN + b"two\n")
    packets = read_packets(second)
    second.close()
    assert packets == [proto.STDOUT + b"one-two\n", proto.EXIT + b"0"]


def test_several_clients_see_the_output_and_one_owns_stdin(ctr: MonitoredContainer) -> None:
    ctr.launch(["sh", "-c", "read x; echo got $x"], stdin=True)
    owner = ctr.attach_socket(proto.HELLO_STDIN + proto.HELLO_STDOUT)
    other = ctr.attach_socket(proto.HELLO_STDIN + proto.HELLO_STDOUT)
    ctr.start()
    other.send(proto.STDIN + b"ignored\n")  # stdin belongs to the first client that asked
    owner.send(proto.STDIN + b"mine\n")
    for sock in (owner, other):
        assert read_packets(sock) == [proto.STDOUT + b"got mine\n", proto.EXIT + b"0"]
        sock.close()


def test_a_slow_client_loses_nothing(ctr: MonitoredContainer) -> None:
    """Output beyond what the client takes is held back, not dropped (docker's attach)."""
    ctr.launch(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x"])
    sock = ctr.attach_socket(proto.HELLO_STDOUT)
    ctr.start()
    wait_for(lambda: ctr.log_path.exists() and ctr.log_path.stat().st_size > 100_000, what="output")
    packets = read_packets(sock, timeout=60)
    sock.close()
    assert b"".join(p[1:] for p in packets[:-1]) == b"x" * 3_000_000
    assert packets[-1] == proto.EXIT + b"0"


def test_signals_are_proxied_without_a_tty(ctr: MonitoredContainer) -> None:
    ctr.launch(["sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done"])
    connect_then_stream = (
        "[a := Attachment(Path(sys.argv[1]), stdin=False), print('connected', flush=True), a.stream(tty=False)][-1]"
    )
    client = _client_process(ctr, connect_then_stream, stdout=subprocess.PIPE)
    assert client.stdout is not None
    assert client.stdout.readline() == b"connected\n"
    ctr.start()
    assert client.stdout.readline() == b"ready\n"
    client.send_signal(signal.SIGTERM)
    out, _ = client.communicate(timeout=30)
    assert out == b"got-term\nAttached(exit_code=7, detached=False)\n" and client.returncode == 0
    assert ctr.wait().exit_code == 7


def test_attach_to_a_stopped_container_is_a_clear_error(ctr: MonitoredContainer) -> None:
    ctr.run(["true"])
    with pytest.raises(LadingError, match=r"^the container is not running$"):
        attach(ctr.exec_dir, stdin=False, tty=False)


def test_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-x,x,ctrl-@") == b"\x18x\x00"
    with pytest.raises(LadingError, match="--detach-keys: invalid key sequence 'ctrl-pp'"):
        parse_detach_keys("ctrl-pp")


def _client_process(ctr: MonitoredContainer, call: str, **kw: object) -> subprocess.Popen[bytes]:
    imports = "import sys\nfrom pathlib import Path\nfrom lading.engine.attach import Attachment, attach\n"
    code = f"{imports}print(repr({call}))"
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", code, str(ctr.exec_dir)], env=lading_env(), **kw
    )


def _client_on_terminal(ctr: MonitoredContainer, user: UserTerminal) -> subprocess.Popen[bytes]:
    """`attach -it` with the user's pty as its stdio and controlling terminal."""
    imports = "import sys\nfrom pathlib import Path\nfrom lading.engine.attach import attach\n"
    code = f"{imports}print(repr(attach(Path(sys.argv[1]), stdin=True, tty=True)))"
    return user.spawn([sys.executable, "-c", code, str(ctr.exec_dir)], lading_env(), stderr=subprocess.PIPE)


def test_a_terminal_raw_resized_detached_and_attached_again(ctr: MonitoredContainer) -> None:
    """The user's side is a real pty (the client's controlling terminal), the container's too."""
    ctr.launch(["sh"], terminal=True, stdin=True)
    ctr.start()
    user = UserTerminal(rows=24, cols=80)
    try:
        client = _client_on_terminal(ctr, user)
        wait_for(user.is_raw, what="raw mode")
        user.drive_shell()
        # Ctrl-P Ctrl-Q: the client ends, the container goes on
        os.write(user.master, b"\x10\x11")
        assert client.wait(timeout=30) == 0
        assert not user.is_raw()
        assert client.stderr is not None and client.stderr.read() == b""
        client.stderr.close()
        # A second attach: the shell is still there; exit ends it and the client with it.
        client = _client_on_terminal(ctr, user)
        wait_for(user.is_raw, what="raw mode")
        os.write(user.master, b"exit 4\r")
        assert client.wait(timeout=30) == 0
        assert client.stderr is not None
        client.stderr.close()
    finally:
        user.close()
    record = ctr.wait()
    assert record.exit_code == 4
    log = ctr.output()
    assert "34 100\r\n" in log and "after-interrupt\r\n" in log
    assert all(e["stream"] == "stdout" for e in ctr.entries())
