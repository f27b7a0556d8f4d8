"""The monitor through `lading container` as a user drives it: `run -it` on a real terminal (size,
resize, Ctrl-C, Ctrl-P Ctrl-Q detach, attach again), `run -i` with piped input, stdout and stderr
apart, and `logs -f` that ends when the container stops."""

from __future__ import annotations

import os
import subprocess

from tests.engine.conftest import BUSYBOX
from tests.engine.support import Engine
from tests.support import lading_env
from tests.support_console import UserTerminal, read_until, wait_for


def _on_terminal(engine: Engine, user: UserTerminal, *args: str) -> subprocess.Popen[bytes]:
    """`lading container ARGS` with the user's pty as its stdio and controlling terminal."""
    return user.spawn(engine.argv(*args), lading_env())


def test_run_it_is_a_terminal_sized_resized_and_interrupted(engine: Engine) -> None:
    user = UserTerminal(rows=30, cols=100)
    try:
        cli = _on_terminal(engine, user, "run", "-it", "--rm", BUSYBOX, "sh")
        wait_for(user.is_raw)
        user.drive_shell()
        os.write(user.master, b"exit 3\r")
        assert cli.wait(timeout=60) == 3
        assert not user.is_raw()
    finally:
        user.close()
    assert engine.ids() == []  # --rm


def test_detach_with_ctrl_p_ctrl_q_and_attach_again(engine: Engine) -> None:
    user = UserTerminal()
    try:
        cli = _on_terminal(engine, user, "run", "-it", "--name", "dt", BUSYBOX, "sh")
        wait_for(user.is_raw)
        os.write(user.master, b"echo fir''st\r")
        read_until(user.master, b"first")
        os.write(user.master, b"\x10\x11")
        assert cli.wait(timeout=60) == 0
        assert engine.inspect("dt")["State"]["Running"]
        cli = _on_terminal(engine, user, "attach", "dt")
        wait_for(user.is_raw)
        os.write(user.master, b"echo sec''ond; exit 5\r")
        read_until(user.master, b"second")
        assert cli.wait(timeout=60) == 5
    finally:
        user.close()
    state = engine.inspect("dt")["State"]
    assert (state["Running"], state["ExitCode"]) == (False, 5)
    logged = engine("logs", "dt").stdout
    assert "first" in logged and "second" in logged
    engine("rm", "dt")


def test_run_i_with_piped_input_and_the_streams_apart(engine: Engine) -> None:
    p = engine("run", "-i", "--rm", BUSYBOX, "sh", "-c", "cat; echo to-err >&2", input="piped\nlines\n")
    assert (p.stdout, p.stderr) == ("piped\nlines\n", "to-err\n")


def test_logs_follow_ends_when_the_container_stops(engine: Engine) -> None:
    script = "echo ready; read go; for i in 1 2 3; do echo n$i; sleep 0.1; done; echo err >&2"
    engine("run", "-d", "-i", "--name", "fl", BUSYBOX, "sh", "-c", script)
    follower = subprocess.Popen(
        engine.argv("logs", "-f", "fl"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=lading_env()
    )
    assert follower.stdout is not None
    assert follower.stdout.readline() == b"ready\n"
    feeder = subprocess.Popen(
        engine.argv("attach", "fl"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=lading_env()
    )
    assert feeder.stdin is not None
    feeder.stdin.write(b"go\n")
    feeder.stdin.flush()
    out, err = follower.communicate(timeout=60)
    assert (out, err, follower.returncode) == (b"n1\nn2\nn3\n", b"err\n", 0)
    feeder.stdin.close()
    feeder.wait(timeout=60)
    tail = engine("logs", "--tail", "2", "fl")  # the last two entries: one on each stream
    assert (tail.stdout, tail.stderr) == ("n3\n", "err\n")
    engine("rm", "fl")
