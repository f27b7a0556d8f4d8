"""Containers with process.terminal: the master over --console-socket, and foreground `run` on a pty.

The console-socket tests do what conmon and containerd's shim do (tests/support_console.py is a
small recvtty); the foreground tests give `lading run` a real pty as its terminal, the way a
user's shell would, and type into it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import termios
from pathlib import Path

from lading.linux import pty
from tests.conftest import Bundle
from tests.support import Lading, lading_argv, lading_env, runtime_entries
from tests.support_console import (
    ConsoleSocket,
    UserTerminal,
    make_stdin_controlling_tty,
    read_until,
    wait_for,
)

SH = ["sh"]


def test_create_with_console_socket(lading: Lading, bundle: Bundle) -> None:
    bundle.config["process"]["consoleSize"] = {"height": 30, "width": 90}
    bundle.write(terminal=True, args=SH)
    with ConsoleSocket(lading.tmp / "console.sock") as console:
        lading("create", "--bundle", str(bundle), "--console-socket", str(console.path), "c1")
        master = console.accept()
        assert pty.get_window_size(master) == (30, 90)
        lading.state("c1")
        lading("start", "c1")
        console.write(b"tty; stty size; echo do''ne\r")
        out = console.read_until(b"done")
        assert b"/dev/pts/0" in out
        assert b"30 90" in out
        pty.set_window_size(master, 40, 100)
        console.write(b"stty size; exit 3\r")
        out = console.read_to_hangup()
        assert b"40 100" in out
    wait_for(lambda: lading.state("c1")["status"] == "stopped")
    lading("delete", "c1")


def test_run_detached_with_console_socket(lading: Lading, bundle: Bundle) -> None:
    bundle.write(terminal=True, args=["sh", "-c", "read line; echo got-$line"])
    with ConsoleSocket(lading.tmp / "console.sock") as console:
        lading("run", "--detach", "--bundle", str(bundle), "--console-socket", str(console.path), "c1")
        console.accept()
        lading.state("c1")
        console.write(b"hi\r")
        assert b"got-hi" in console.read_to_hangup()
    wait_for(lambda: lading.state("c1")["status"] == "stopped")
    lading("delete", "c1")


def _run_on(terminal: UserTerminal, lading: Lading, bundle: Bundle, cid: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*lading_argv(), "--root", str(lading.root), "run", "--bundle", str(bundle), cid],
        stdin=terminal.peer,
        stdout=terminal.peer,
        stderr=terminal.peer,
        start_new_session=True,
        preexec_fn=make_stdin_controlling_tty,
        env=lading_env(),
    )


def test_foreground_run_on_a_terminal(lading: Lading, bundle: Bundle) -> None:
    bundle.write(terminal=True, args=SH)
    terminal = UserTerminal(rows=21, cols=77)
    try:
        before = termios.tcgetattr(terminal.peer)
        proc = _run_on(terminal, lading, bundle, "c1")
        try:
            wait_for(terminal.is_raw)
            terminal_out = read_until(terminal.master, b"# ")
            os.write(terminal.master, b"tty; stty size; echo do''ne\r")
            terminal_out = read_until(terminal.master, b"done\r\n")
            assert b"/dev/pts/0" in terminal_out and b"21 77" in terminal_out
            lading.state("c1")
            # The user resizes their window: the kernel tells lading (SIGWINCH), lading the container.
            pty.set_window_size(terminal.master, 50, 120)
            os.write(terminal.master, b"sleep 0.3; stty size\r")
            read_until(terminal.master, b"50 120")
            os.write(terminal.master, b"exit 5\r")
            assert proc.wait(timeout=30) == 5
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        assert termios.tcgetattr(terminal.peer) == before
    finally:
        terminal.close()


def test_foreground_run_with_piped_input(lading: Lading, bundle: Bundle) -> None:
    bundle.write(terminal=True, args=SH)
    p = lading("run", "--bundle", str(bundle), "c1", input="echo pi''ped; tty\n", check=False)
    assert p.returncode == 0, p.stderr
    assert "\npiped\n/dev/pts/0\n" in p.stdout  # text mode turned the pty's \r\n into \n


def test_piped_input_ends_once_the_shell_reads_again(lading: Lading, bundle: Bundle) -> None:
    """The shell runs the line with the terminal in canonical mode and reads the next one in raw
    mode: an end of input sent during the quiet command came back as a NUL (^@) and was lost,
    and the container never ended."""
    bundle.write(terminal=True, args=SH)
    p = lading("run", "--bundle", str(bundle), "c1", input="echo one; sleep 0.3; echo two\n", check=False)
    assert p.returncode == 0, p.stderr
    assert "\none\ntwo\n" in p.stdout and "\0" not in p.stdout and "^@" not in p.stdout


def test_console_socket_that_nobody_listens_on(lading: Lading, bundle: Bundle) -> None:
    """create and exec say so in one line naming the socket; create leaves no container."""
    bundle.write(terminal=True, args=SH)
    missing = lading.tmp / "nobody.sock"
    said = f"--console-socket {missing}: cannot connect: No such file or directory\n"
    p = lading("create", "--bundle", str(bundle), "--console-socket", str(missing), "c1", check=False)
    assert (p.returncode, p.stderr) == (1, said)
    assert not runtime_entries(lading.root) and not lading.cgroup_dirs("c1")
    bundle.write(terminal=False, args=["sleep", "100"])
    lading("run", "--detach", "--bundle", str(bundle), "c2")
    try:
        p = lading("exec", "-t", "-d", "--console-socket", str(missing), "c2", "true", check=False)
        assert (p.returncode, p.stderr) == (255, said)
    finally:
        lading("delete", "--force", "c2")


def test_the_pty_belongs_to_a_non_root_process(runtime: Lading, bundle: Bundle, cid: str, tmp_path: Path) -> None:
    """As runc (1.1.5 checked): the terminal's owner becomes the process's uid; its group stays
    the one devpts gave it (gid=5, tty, in the default config's devpts mount options)."""
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.write(terminal=True, args=["sh", "-c", "stat -c '%u:%g' $(tty); echo do''ne"])
    with ConsoleSocket(tmp_path / "console.sock") as console:
        runtime("run", "--detach", "--bundle", str(bundle), "--console-socket", str(console.path), cid)
        console.accept()
        out = console.read_to_hangup()
    assert b"1000:5\r\n" in out and b"done" in out
    wait_for(lambda: runtime.state(cid)["status"] == "stopped")
    runtime("delete", cid)
