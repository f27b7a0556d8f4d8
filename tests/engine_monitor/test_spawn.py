"""Monitors forked from a live monitor (MonitorConfig.spawn_socket): same behaviour, shared memory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from lading.engine import attach_protocol as proto
from lading.engine import monitor_spawn, own_runtime
from lading.engine.monitor import MonitorConfig, launch, wait_exit
from tests.engine_monitor.support import MonitoredContainer, wait_for
from tests.support import lading_env, pid_alive
from tests.userns.support import user_python


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_second_monitor_is_forked_from_the_first(ctr: MonitoredContainer, monkeypatch: pytest.MonkeyPatch) -> None:
    spawn = ctr.tmp / "monitors.sock"
    first = ctr.config(["sh", "-c", "read x; echo first-$x"], stdin=True).replace(spawn_socket=spawn)
    a = ctr.launched = launch(first)
    assert spawn.is_socket()
    monkeypatch.setenv("SPAWN_TEST_MARK", "the launcher's environment")
    second = ctr.another(first, ["sh", "-c", "echo second; exit 4"])
    try:
        b = launch(second)
        assert _ppid(b.monitor_pid) == a.monitor_pid  # forked, not exec'd
        ctr.runtime("start", second.container_id)
        record = wait_exit(second.exec_dir, timeout=60)
        assert record is not None and record.exit_code == 4
        assert [line for line in second.log_path.read_text().splitlines() if '"second\\n"' in line]
        marker = ctr.tmp / "second-exit-command-ran"
        wait_for(marker.exists, what="the second exit command")
        assert marker.read_text() == "the launcher's environment\n"
        # The first container is untouched by all this.
        ctr.start()
        sock = ctr.attach_socket(b"io")
        sock.send(b"\x00go\n")
        assert ctr.wait().exit_code == 0
        sock.close()
        assert ctr.output() == "first-go\n"
    finally:
        ctr.runtime("delete", "--force", second.container_id, check=False)
    wait_for(lambda: not spawn.exists(), what="the last monitor to remove the spawn socket")


def test_own_runtime_in_a_forked_monitor_has_its_launcher_s_environment(
    ctr: MonitoredContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lading's own runtime runs in a child the monitor forks (own_runtime): in a forked monitor it
    has the environment of the launcher that asked for that monitor, not that of the monitor it
    was forked from (a hook without an env of its own gets the runtime's)."""
    if ctr.runtime_name != "lading":
        pytest.skip("lading's own runtime, called in-process")
    seen = ctr.tmp / "hook-saw"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f'echo "$SPAWN_TEST_MARK" >> "{seen}"']}
    ctr.bundle.config["hooks"] = {"createRuntime": [hook]}
    monkeypatch.setenv("SPAWN_TEST_MARK", "first")
    config = ctr.config(["sleep", "1000"])
    first = config.replace(runtime_argv=own_runtime.argv(str(ctr.root)), spawn_socket=ctr.tmp / "monitors.sock")
    a = ctr.launched = launch(first)
    monkeypatch.setenv("SPAWN_TEST_MARK", "second")
    second = ctr.another(first, ["sleep", "1000"])
    try:
        b = launch(second)
        assert _ppid(b.monitor_pid) == a.monitor_pid  # forked, not exec'd
        assert seen.read_text() == "first\nsecond\n"
    finally:
        ctr.runtime("delete", "--force", second.container_id, check=False)
        wait_exit(second.exec_dir, timeout=60)


def test_a_forked_monitor_outlives_the_one_it_came_from(ctr: MonitoredContainer) -> None:
    spawn = ctr.tmp / "monitors.sock"
    first = ctr.config(["sleep", "1000"]).replace(spawn_socket=spawn)
    a = ctr.launched = launch(first)
    second = ctr.another(first, ["sh", "-c", "read x; echo got-$x"])
    second = second.replace(stdin=True)
    try:
        b = launch(second)
        ctr.runtime("start", second.container_id)
        ctr.start()
        ctr.runtime("kill", ctr.id, "KILL")
        assert ctr.wait().exit_code == 137
        wait_for(lambda: not pid_alive(a.monitor_pid), what="the first monitor's end")
        assert pid_alive(b.monitor_pid) and spawn.exists()  # the second serves now
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.connect(str(second.exec_dir / "attach"))
            sock.send(proto.HELLO + b"i")
            assert sock.recv(100) == proto.HELLO
            sock.send(proto.STDIN + b"late\n")
            record = wait_exit(second.exec_dir, timeout=60)
        assert record is not None and record.exit_code == 0
        assert "got-late" in second.log_path.read_text()
    finally:
        ctr.runtime("delete", "--force", second.container_id, check=False)


def _a_fresh_monitor_serves(ctr: MonitoredContainer, first: MonitorConfig, not_from: int) -> None:
    """A second container gets an exec'd monitor (not one forked from not_from) that works."""
    second = ctr.another(first, ["sh", "-c", "exit 2"])
    try:
        b = launch(second)
        assert _ppid(b.monitor_pid) != not_from
        ctr.runtime("start", second.container_id)
        record = wait_exit(second.exec_dir, timeout=60)
        assert record is not None and record.exit_code == 2
    finally:
        ctr.runtime("delete", "--force", second.container_id, check=False)


def test_with_the_serving_monitor_killed_a_fresh_one_is_started(ctr: MonitoredContainer) -> None:
    spawn = ctr.tmp / "monitors.sock"
    first = ctr.config(["sleep", "1000"]).replace(spawn_socket=spawn)
    a = ctr.launched = launch(first)
    os.kill(a.monitor_pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(a.monitor_pid), what="the first monitor's death")
    assert spawn.exists()  # stale: nobody listens
    _a_fresh_monitor_serves(ctr, first, a.monitor_pid)


def test_a_launcher_of_other_code_gets_a_monitor_of_its_own(
    ctr: MonitoredContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A launcher of other code (an upgrade) is not served: it execs a monitor of its own."""
    spawn = ctr.tmp / "monitors.sock"
    first = ctr.config(["sleep", "1000"]).replace(spawn_socket=spawn)
    a = ctr.launched = launch(first)
    monkeypatch.setattr(monitor_spawn, "code_identity", lambda: b"/elsewhere/monitor_process.py:1")
    _a_fresh_monitor_serves(ctr, first, a.monitor_pid)


ASK = """
import os, sys
from lading.engine import monitor_spawn
r, w = os.pipe()
sent = monitor_spawn.ask(sys.argv[1], sys.argv[2:], dict(os.environ), [w])
os.close(w)
print(sent, os.read(r, 100))
"""


def test_another_user_is_not_served(ctr: MonitoredContainer) -> None:
    """Whoever may ask runs commands as the monitor: only its own uid is served."""
    shared = Path(tempfile.mkdtemp(prefix="lading-spawn-"))
    try:
        shared.chmod(0o777)
        spawn = shared / "monitors.sock"
        ctr.launched = launch(ctr.config(["sleep", "1000"]).replace(spawn_socket=spawn))
        spawn.chmod(0o777)
        pwned = shared / "pwned"
        runtime = ["/bin/sh", "-c", f"touch {pwned}"]
        args = ["x", "b", str(shared), str(shared / "log"), "-", "1", "-", "-", str(len(runtime)), *runtime]
        asker = subprocess.run(
            [user_python(), "-c", ASK, str(spawn), *args],
            capture_output=True,
            text=True,
            env=lading_env(),
            user=65534,
            group=65534,
            timeout=60,
        )
        assert asker.stdout.strip() == "True b''", asker.stderr  # delivered, and dropped unanswered
        assert not pwned.exists()
        ctr.runtime("delete", "--force", ctr.id)
        ctr.wait()
    finally:
        shutil.rmtree(shared)


def test_a_spawn_socket_that_cannot_be_bound_leaves_the_monitor_whole(ctr: MonitoredContainer) -> None:
    """A spawn socket path too long for a socket: the monitor serves its container without one
    (attach, exit record) and the next launch execs a monitor of its own."""
    deep = ctr.tmp / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    spawn = deep / "monitors.sock"
    first = ctr.config(["sh", "-c", "read x; echo got-$x"], stdin=True).replace(spawn_socket=spawn)
    a = ctr.launched = launch(first)
    assert not spawn.exists()
    _a_fresh_monitor_serves(ctr, first, a.monitor_pid)
    ctr.start()
    sock = ctr.attach_socket(proto.HELLO_STDOUT + proto.HELLO_STDIN)
    sock.send(proto.STDIN + b"late\n")
    assert ctr.wait().exit_code == 0
    sock.close()
    assert ctr.output() == "got-late\n"
