"""containerd 1.6 (runc v2 shim) driving the runtime through `ctr`: run, exec, ps, kill, delete."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.clients.containerd import CTR, Containerd
from tests.clients.image import IMAGE_NAME
from tests.clients.runtimes import Runtime
from tests.support_console import read_all

LOOP = "while :; do sleep 0.1; done"


def task_status(containerd: Containerd, cid: str) -> str:
    for line in containerd.ctr("tasks", "list").stdout.splitlines()[1:]:
        task, _, status = line.split()
        if task == cid:
            return status
    return "MISSING"


def wait_status(containerd: Containerd, cid: str, want: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (status := task_status(containerd, cid)) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"task {cid} is {status}, not {want}")
        time.sleep(0.05)


def test_run_rm_output_and_exit_code(containerd: Containerd, runtime: Runtime) -> None:
    p = containerd.run(runtime, IMAGE_NAME, "t1", "sh", "-c", "echo hello; exit 5", flags=("--rm",), check=False)
    assert p.returncode == 5, p.stderr
    assert p.stdout == "hello\n"
    assert containerd.ctr("containers", "list", "--quiet").stdout == ""


def test_run_with_a_terminal(containerd: Containerd, runtime: Runtime) -> None:
    # ctr -t insists on a terminal of its own, so run it on a fresh pty.
    master, peer = os.openpty()
    try:
        argv = [
            CTR,
            "--address",
            containerd.address,
            *containerd.run_argv(runtime, IMAGE_NAME, "t1", "tty", flags=("--rm", "--tty")),
        ]
        proc = subprocess.Popen(argv, stdin=peer, stdout=peer, stderr=peer, start_new_session=True)
        os.close(peer)
        peer = -1
        out = read_all(master, timeout=60)
        assert proc.wait(timeout=30) == 0, out
    finally:
        os.close(master)
        if peer >= 0:
            os.close(peer)
    assert b"/dev/pts/0" in out


def test_run_detached_kill_all_and_delete(containerd: Containerd, runtime: Runtime) -> None:
    containerd.run(runtime, IMAGE_NAME, "t1", "sh", "-c", f"sleep 1000 & {LOOP}", flags=("--detach",))
    wait_status(containerd, "t1", "RUNNING")
    containerd.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", "t1")
    wait_status(containerd, "t1", "STOPPED")
    out = containerd.ctr("tasks", "delete", "t1").stdout
    assert "137" in out or out == ""
    containerd.ctr("containers", "delete", "t1")
    assert containerd.ctr("containers", "list", "--quiet").stdout == ""
    assert runtime.logged_calls(), "the shim never called the runtime"


def test_kill_sends_sigterm(containerd: Containerd, runtime: Runtime) -> None:
    containerd.run(runtime, IMAGE_NAME, "t1", "sh", "-c", f"trap 'exit 9' TERM; {LOOP}", flags=("--detach",))
    wait_status(containerd, "t1", "RUNNING")
    time.sleep(0.2)  # let sh install its trap
    containerd.ctr("tasks", "kill", "t1")
    wait_status(containerd, "t1", "STOPPED")
    deleted = containerd.ctr("tasks", "delete", "t1")
    containerd.ctr("containers", "delete", "t1")
    assert "exit code 9" in deleted.stderr, "TERM reached the container's trap"


@pytest.mark.verbs("exec")
def test_task_exec(containerd: Containerd, runtime: Runtime) -> None:
    containerd.run(runtime, IMAGE_NAME, "t1", "sh", "-c", LOOP, flags=("--detach",))
    p = containerd.ctr("tasks", "exec", "--exec-id", "e1", "t1", "sh", "-c", "echo in-exec; exit 4", check=False)
    assert p.returncode == 4, p.stderr
    assert p.stdout == "in-exec\n"


@pytest.mark.verbs("ps")
def test_task_ps(containerd: Containerd, runtime: Runtime) -> None:
    containerd.run(runtime, IMAGE_NAME, "t1", "sh", "-c", f"sleep 1000 & {LOOP}", flags=("--detach",))
    wait_status(containerd, "t1", "RUNNING")
    lines = containerd.ctr("tasks", "ps", "t1").stdout.splitlines()[1:]
    assert len(lines) >= 2  # sh and sleep (and sometimes the loop's sleep)
    ps_calls = [c for c in runtime.logged_calls() if "ps" in c]
    assert ps_calls and "json" in ps_calls[-1]


@pytest.mark.verbs("pause", "resume")
def test_task_pause_and_resume(containerd: Containerd, runtime: Runtime) -> None:
    containerd.run(runtime, IMAGE_NAME, "t1", "sh", "-c", LOOP, flags=("--detach",))
    wait_status(containerd, "t1", "RUNNING")
    containerd.ctr("tasks", "pause", "t1")
    wait_status(containerd, "t1", "PAUSED")
    containerd.ctr("tasks", "resume", "t1")
    wait_status(containerd, "t1", "RUNNING")


def test_runtime_state_is_json(containerd: Containerd, runtime: Runtime) -> None:
    """While a task runs, the runtime's own `state` (what the shim reads on recovery) is OCI JSON."""
    containerd.run(runtime, IMAGE_NAME, "t1", "sh", "-c", LOOP, flags=("--detach",))
    wait_status(containerd, "t1", "RUNNING")
    p = subprocess.run(
        [str(runtime.path), "--root", str(runtime.root / "default"), "state", "t1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert st["id"] == "t1" and st["status"] == "running" and st["pid"] > 0


def test_missing_executable_reports_the_runtime_error(containerd: Containerd, runtime: Runtime) -> None:
    """The runtime's own message (from the --log file the shim passes) is in ctr's error."""
    for cid, program, why in [
        ("t1", "/no/such/program", "stat /no/such/program: no such file or directory"),
        ("t2", "no-such-program", "executable file not found in $PATH"),
    ]:
        p = containerd.run(runtime, IMAGE_NAME, cid, program, flags=("--rm",), check=False)
        assert p.returncode == 1, p.stderr
        assert p.stderr.startswith("ctr: failed to create shim task: OCI runtime create failed: "), p.stderr
        assert f'exec: "{program}": {why}: unknown' in p.stderr


def test_kill_of_an_exited_task_is_already_finished(containerd: Containerd, runtime: Runtime) -> None:
    """The shim asks the runtime to kill a task that has exited (as CRI's StopContainer may) and
    must recognise the runtime's answer as "already gone", not as an unknown error."""
    containerd.run(runtime, IMAGE_NAME, "t1", "true", flags=("--detach",))
    wait_status(containerd, "t1", "STOPPED")
    p = containerd.ctr("tasks", "kill", "--signal", "SIGKILL", "t1", check=False)
    assert p.returncode == 1
    assert "process already finished: not found" in p.stderr, p.stderr
    containerd.ctr("tasks", "delete", "t1")
    containerd.ctr("containers", "delete", "t1")
