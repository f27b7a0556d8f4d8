"""Exit records: OOM kills, and what survives a monitor killed with SIGKILL."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lading.engine import attach_protocol as proto
from lading.engine.monitor import launch, monitor_pid, read_exit, wait_exit
from tests.engine_monitor.support import (
    MonitoredContainer,
    children_of,
    describe_process,
    processes_naming,
    wait_for,
)
from tests.support import lading_env, pid_alive


def test_oom_kill_is_recorded(ctr: MonitoredContainer) -> None:
    limit = 32 << 20
    ctr.bundle.config["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
    record = ctr.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"])
    assert record.exit_code == 128 + signal.SIGKILL
    assert record.oom_killed


def test_no_oom_without_one(ctr: MonitoredContainer) -> None:
    limit = 32 << 20
    ctr.bundle.config["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
    ctr.launch(["sleep", "1000"])
    ctr.start()
    ctr.runtime("kill", ctr.id, "KILL")
    record = ctr.wait()
    assert record.exit_code == 137 and not record.oom_killed


def test_monitor_killed_keeps_every_line_written(ctr: MonitoredContainer) -> None:
    launched = ctr.launch(["sh", "-c", "i=0; while :; do echo line-$i; i=$((i+1)); sleep 0.01; done"])
    ctr.start()
    wait_for(lambda: ctr.log_path.exists() and ctr.log_path.read_text().count("\n") >= 20, what="20 lines")
    os.kill(launched.monitor_pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(launched.monitor_pid), what="the monitor's death")
    seen = ctr.log_path.read_text()
    lines = [json.loads(line)["log"] for line in seen.splitlines()]
    assert lines == [f"line-{i}\n" for i in range(len(lines))]  # whole lines, none torn, in order
    # The container outlives its monitor (as pid 1 of its namespace it ignores SIGPIPE); once it
    # is gone, nothing has recorded its exit: the engine settles such a container itself.
    ctr.runtime("kill", ctr.id, "KILL")
    wait_for(lambda: not pid_alive(launched.init_pid), what="the container's end")
    assert wait_exit(ctr.exec_dir) is None
    assert ctr.log_path.read_text() == seen
    assert not ctr.marker.exists()


def test_monitor_killed_after_recording_keeps_the_record(ctr: MonitoredContainer) -> None:
    """An attached client that reads nothing holds the monitor after it recorded the exit."""
    launched = ctr.launch(["sh", "-c", "head -c 400000 /dev/zero; exit 6"])
    stuck = ctr.attach_socket(proto.HELLO_STDOUT)
    ctr.start()
    exit_file = ctr.exec_dir / "exit"
    wait_for(exit_file.exists, what="the exit record")
    os.kill(launched.monitor_pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(launched.monitor_pid), what="the monitor's death")
    stuck.close()
    record = read_exit(exit_file)
    assert record is not None and record.exit_code == 6
    assert [p.name for p in ctr.exec_dir.iterdir() if p.name.startswith(".")] == []
    logged = sum(len(json.loads(line)["log"]) for line in ctr.log_path.read_text().splitlines())
    assert logged == 400000  # drained and logged before the record was written


LAUNCHER = """
import fcntl, json, os, sys
from pathlib import Path
from lading.engine.monitor import MonitorConfig, launch
lock = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
fcntl.flock(lock, fcntl.LOCK_EX)
spawn = Path(sys.argv[6]) if sys.argv[6] != "-" else None
paths = [Path(p) for p in sys.argv[3:6]]
runtime, exit_command = json.loads(sys.argv[7])
cfg = MonitorConfig(sys.argv[2], runtime, *paths, exit_command=exit_command, hold_fd=lock, spawn_socket=spawn)
print("locked", flush=True)
launch(cfg)
print("launched", flush=True)
"""


@pytest.mark.parametrize("fork", [False, True], ids=["exec", "fork"])
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3, 0.6])
def test_launcher_killed_at_any_moment(ctr: MonitoredContainer, delay: float, fork: bool) -> None:
    """The launcher holds the container's lock and hands it to the monitor: once the next
    command has the lock, the container either does not exist at all or is created and watched.
    With ``fork``, the monitor is forked from a live one (that of a first container)."""
    cfg = ctr.config(["sleep", "1000"])
    serving = None
    if fork:
        cfg = cfg.replace(spawn_socket=ctr.tmp / "monitors.sock")
        serving = ctr.launched = launch(cfg)
        cfg = ctr.another(cfg, ["sleep", "1000"])
    lock = ctr.tmp / "lock"
    spawn = str(cfg.spawn_socket) if cfg.spawn_socket else "-"
    paths = [str(cfg.bundle), str(cfg.exec_dir), str(cfg.log_path)]
    commands = json.dumps([cfg.runtime_argv, list(cfg.exit_command)])
    args = [str(lock), cfg.container_id, *paths, spawn, commands]
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, *args], stdout=subprocess.PIPE, env=lading_env())
    assert launcher.stdout is not None
    assert launcher.stdout.readline() == b"locked\n"
    time.sleep(delay)
    launcher.kill()
    launcher.wait()
    launcher.stdout.close()
    fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the next command
        monitor = monitor_pid(cfg.exec_dir)
        if monitor is None:
            assert os.listdir(cfg.exec_dir) == []
            assert ctr.runtime("state", cfg.container_id, check=False).returncode != 0
            assert [describe_process(p) for p in processes_naming(str(cfg.exec_dir))] == []
            if serving is not None:  # no forked monitor left either (once reaped)
                wait_for(lambda: children_of(serving.monitor_pid) == [serving.init_pid], what="no forked monitor")
        else:
            assert json.loads(ctr.runtime("state", cfg.container_id).stdout)["status"] == "created"
            ctr.runtime("delete", "--force", cfg.container_id)
            record = wait_exit(cfg.exec_dir)
            assert record is not None and record.exit_code == 137
    finally:
        os.close(fd)


def test_a_full_disk_costs_log_lines_not_the_monitor(ctr: MonitoredContainer) -> None:
    small = ctr.tmp / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        ctr.log_path = small / "ctr-json.log"
        line = "x" * 1000
        record = ctr.run(["sh", "-c", f"for i in $(seq 200); do echo $i-{line}; done; echo done >&2; exit 4"])
        assert record.exit_code == 4  # the monitor lived on to record the exit
        kept = [json.loads(raw)["log"] for raw in ctr.log_path.read_text().splitlines()[:-1]]
        assert kept and kept == [f"{i}-{line}\n" for i in range(1, len(kept) + 1)]
        assert len(kept) < 200
    finally:
        subprocess.run(["umount", str(small)], check=True)
