"""The lifecycle of runtime.md, driven through the real command line on real containers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import bare_elf_header, lading_argv, lading_env, pid_alive

STATE_KEYS = {"ociVersion", "id", "status", "pid", "bundle"}


def test_run_prints_output_and_exits_with_the_container_status(lading, bundle):
    bundle.write(args=["sh", "-c", "echo hello; echo oops >&2; exit 7"])
    p = lading("run", "--bundle", str(bundle), "c1", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (7, "hello\n", "oops\n")


def test_run_killed_by_signal_exits_128_plus_signal(lading, bundle):
    bundle.write(args=["sleep", "100"])
    runner = subprocess.Popen(
        [*lading_argv(), "--root", str(lading.root), "run", "-b", str(bundle), "c1"], env=lading_env()
    )
    try:
        for _ in range(200):
            if (lading.root / "c1" / "state.json").exists() and lading.state("c1")["status"] == "running":
                break
            time.sleep(0.02)
        lading("kill", "c1", "KILL")
        assert runner.wait(timeout=30) == 128 + 9
    finally:
        runner.kill()
        runner.wait()


def test_run_forwards_signals_to_the_container(lading, bundle):
    bundle.write(args=["sh", "-c", "trap 'echo got TERM; exit 4' TERM; while :; do sleep 0.05; done"])
    runner = subprocess.Popen(
        [*lading_argv(), "--root", str(lading.root), "run", "-b", str(bundle), "c1"],
        env=lading_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(200):
            if (lading.root / "c1" / "state.json").exists() and lading.state("c1")["status"] == "running":
                break
            time.sleep(0.02)
        time.sleep(0.2)
        runner.send_signal(signal.SIGTERM)
        out, _ = runner.communicate(timeout=30)
        assert (runner.returncode, out) == (4, "got TERM\n")
    finally:
        runner.kill()
        runner.wait()


def test_create_start_state_delete(lading, bundle, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    bundle.config["mounts"].append({"destination": "/out", "type": "bind", "source": str(out), "options": ["bind"]})
    bundle.write(args=["sh", "-c", "echo started > /out/marker; exec sleep 100"])
    lading("create", "--bundle", str(bundle), "c1")
    st = lading.state("c1")
    assert st.keys() >= STATE_KEYS
    assert (st["id"], st["status"], st["bundle"]) == ("c1", "created", str(bundle))
    assert pid_alive(st["pid"])
    time.sleep(0.2)
    assert not (out / "marker").exists(), "the user process must not run before start"

    lading("start", "c1")
    assert lading.state("c1")["status"] == "running"
    for _ in range(100):
        if (out / "marker").exists():
            break
        time.sleep(0.05)
    assert (out / "marker").read_text() == "started\n"

    lading("kill", "c1", "KILL")
    for _ in range(100):
        if lading.state("c1")["status"] == "stopped":
            break
        time.sleep(0.05)
    assert lading.state("c1")["status"] == "stopped"
    lading("delete", "c1")
    p = lading("state", "c1", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_edits_to_config_after_create_have_no_effect(lading, bundle, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    bundle.config["mounts"].append({"destination": "/out", "type": "bind", "source": str(out), "options": ["bind"]})
    bundle.write(args=["sh", "-c", "echo original > /out/ran"])
    lading("create", "-b", str(bundle), "c1")
    bundle.config["mounts"].pop()
    bundle.write(args=["sh", "-c", "echo edited > /out/ran"])
    lading("start", "c1")
    lading.state("c1")
    for _ in range(100):
        if (out / "ran").exists() and (out / "ran").read_text():
            break
        time.sleep(0.02)
    assert (out / "ran").read_text() == "original\n"
    lading("delete", "--force", "c1")


def test_state_status_stopped_when_the_process_has_exited(lading, bundle):
    bundle.write(args=["true"])
    lading("create", "-b", str(bundle), "c1")
    pid = lading.state("c1")["pid"]
    lading("start", "c1")
    for _ in range(100):
        if not pid_alive(pid):
            break
        time.sleep(0.02)
    st = lading.state("c1")
    assert st["status"] == "stopped"
    lading("delete", "c1")


def test_start_twice_and_start_stopped_are_errors(lading, bundle):
    bundle.write(args=["sleep", "100"])
    lading("create", "-b", str(bundle), "c1")
    lading.state("c1")
    lading("start", "c1")
    p = lading("start", "c1", check=False)
    assert p.returncode == 1 and "running" in p.stderr
    lading("kill", "c1", "9")
    time.sleep(0.1)
    p = lading("start", "c1", check=False)
    assert p.returncode == 1
    lading("delete", "c1")


def test_delete_running_needs_force(lading, bundle):
    bundle.write(args=["sleep", "100"])
    lading("run", "-d", "-b", str(bundle), "c1")
    pid = lading.state("c1")["pid"]
    p = lading("delete", "c1", check=False)
    assert p.returncode == 1 and "not stopped" in p.stderr
    assert pid_alive(pid)
    lading("delete", "--force", "c1")
    assert not pid_alive(pid)


def test_delete_created_container_kills_its_init(lading, bundle):
    bundle.write(args=["true"])
    lading("create", "-b", str(bundle), "c1")
    pid = lading.state("c1")["pid"]
    lading("delete", "c1")
    assert not pid_alive(pid)


def test_kill_created_container_with_term(lading, bundle):
    bundle.write(args=["true"])
    lading("create", "-b", str(bundle), "c1")
    pid = lading.state("c1")["pid"]
    lading("kill", "c1", "TERM")
    for _ in range(100):
        if not pid_alive(pid):
            break
        time.sleep(0.02)
    assert lading.state("c1")["status"] == "stopped"
    lading("delete", "c1")


@pytest.mark.parametrize("sig", ["TERM", "SIGTERM", "sigterm", "15"])
def test_kill_accepts_signal_names_and_numbers(lading, bundle, sig):
    # PID 1 only receives signals it handles, so the container traps TERM
    bundle.write(args=["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"])
    lading("run", "-d", "-b", str(bundle), "c1")
    lading.state("c1")
    for _ in range(100):  # until the shell has installed its trap, PID 1 ignores TERM
        lading("kill", "c1", sig, check=False)
        if lading.state("c1")["status"] == "stopped":
            break
        time.sleep(0.05)
    assert lading.state("c1")["status"] == "stopped"
    lading("delete", "c1")


def test_unknown_signal_is_an_error(lading, bundle):
    bundle.write(args=["sleep", "100"])
    lading("run", "-d", "-b", str(bundle), "c1")
    lading.state("c1")
    p = lading("kill", "c1", "SIGFOO", check=False)
    assert p.returncode == 1 and "unknown signal" in p.stderr
    assert lading.state("c1")["status"] == "running"
    lading("delete", "-f", "c1")


def test_kill_stopped_container_is_an_error(lading, bundle):
    """In runc's words: the containerd shim takes "container not running" for "already gone"."""
    bundle.write(args=["true"])
    lading("run", "--keep", "-b", str(bundle), "c1")
    p = lading("kill", "c1", "KILL", check=False)
    assert p.returncode == 1 and p.stderr == "cannot kill container c1: container not running\n"
    lading("delete", "c1")


def test_duplicate_id_is_refused_and_the_first_is_untouched(lading, bundle):
    bundle.write(args=["sleep", "100"])
    lading("create", "-b", str(bundle), "c1")
    p = lading("create", "-b", str(bundle), "c1", check=False)
    assert p.returncode == 1 and "exists" in p.stderr
    assert lading.state("c1")["status"] == "created"
    lading("delete", "c1")


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".", "", "x" * 300, "a b"])
def test_invalid_ids_are_refused(lading, bundle, bad):
    bundle.write(args=["true"])
    p = lading("create", "-b", str(bundle), bad, check=False)
    assert p.returncode != 0 and "container id" in p.stderr
    assert not lading.root.exists() or not any(lading.root.iterdir())


def test_pid_file_holds_the_init_pid(lading, bundle, tmp_path):
    bundle.write(args=["sleep", "100"])
    lading("create", "-b", str(bundle), "--pid-file", str(tmp_path / "pid"), "c1")
    assert int((tmp_path / "pid").read_text()) == lading.state("c1")["pid"]
    lading("delete", "c1")


def test_list_formats(lading, bundle):
    bundle.write(args=["sleep", "100"])
    lading("create", "-b", str(bundle), "c1")
    lading("create", "-b", str(bundle), "c2")
    lading.state("c1"), lading.state("c2")
    assert lading("list", "-q").stdout.split() == ["c1", "c2"]
    rows = json.loads(lading("list", "--format", "json").stdout)
    assert [(r["id"], r["status"]) for r in rows] == [("c1", "created"), ("c2", "created")]
    table = lading("list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and len(table) == 3
    lading("delete", "c1")
    lading("delete", "c2")


def test_root_spelled_any_way_names_the_same_containers(lading, bundle):
    """--root is made absolute and normal (the verbs that read state do it without os.path)."""
    bundle.write(args=["sleep", "100"])
    lading("create", "-b", str(bundle), "c1")
    lading.state("c1")
    root, parent = str(lading.root), lading.root.parent
    spellings = [root + "/", "/" + root, root.replace("/", "/./"), f"{root}/../{lading.root.name}", "./state", "state/"]
    for spelling in spellings:
        argv = [*lading_argv(), "--root", spelling]
        listed = subprocess.run([*argv, "list", "-q"], cwd=parent, env=lading_env(), capture_output=True, text=True)
        state = subprocess.run([*argv, "state", "c1"], cwd=parent, env=lading_env(), capture_output=True, text=True)
        assert (listed.stdout, json.loads(state.stdout)["status"]) == ("c1\n", "created"), spelling
    lading("delete", "c1")


def test_create_and_start_from_a_subreaper_that_reaps(lading, bundle, tmp_path):
    """conmon and the containerd shim are subreapers that reap the init: lading must not care."""
    bundle.write(args=["sh", "-c", "exit 5"])
    script = tmp_path / "reaper.py"
    script.write_text(
        "import ctypes, os, subprocess, sys\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)\n"
        "cmd = sys.argv[1:]\n"
        f"subprocess.run(cmd + ['create', '-b', {str(bundle)!r}, 'c1'], check=True)\n"
        "subprocess.run(cmd + ['start', 'c1'], check=True)\n"
        "pid, status = os.wait()\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    argv = [sys.executable, str(script), *lading_argv(), "--root", str(lading.root)]
    out = subprocess.run(argv, capture_output=True, text=True, env=lading_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5"
    assert lading.state("c1")["status"] == "stopped"
    lading("delete", "c1")


def test_runtime_fds_do_not_leak_into_the_container(lading, bundle):
    bundle.write(args=["ls", "/proc/self/fd"])
    out = lading("run", "-b", str(bundle), "c1").stdout.split()
    # ls itself holds one fd for the directory it lists
    assert len(out) <= 4 and {"0", "1", "2"} <= set(out), out


def test_preserve_fds_passes_extra_fds(lading, bundle, tmp_path):
    bundle.write(args=["sh", "-c", "cat <&3"])
    src = tmp_path / "data"
    src.write_text("through fd 3\n")
    argv = ["sh", "-c", 'exec 3< "$0"; exec "$@"', str(src), *lading_argv(), "--root", str(lading.root)]
    out = subprocess.run(
        [*argv, "run", "--preserve-fds", "1", "-b", str(bundle), "c1"],
        capture_output=True,
        text=True,
        env=lading_env(),
        timeout=60,
    )
    assert (out.returncode, out.stdout) == (0, "through fd 3\n"), out.stderr


@pytest.mark.timeout(900)  # 800 runtime processes: minutes on a loaded 2-core machine
def test_two_hundred_cycles_leave_nothing_behind(lading, bundle):
    bundle.write(args=["true"])
    fds = len(os.listdir("/proc/self/fd"))
    for i in range(200):
        lading("create", "-b", str(bundle), f"c{i}")
        lading.state(f"c{i}")
        lading("start", f"c{i}")
        lading("delete", "--force", f"c{i}")
    assert len(os.listdir("/proc/self/fd")) == fds
    assert not any(Path(lading.root).iterdir())


def test_reused_pid_reads_as_stopped(lading, bundle):
    """A PID is only the container's while its start time matches the one recorded at create."""
    bundle.write(args=["sleep", "100"])
    lading("run", "-d", "-b", str(bundle), "c1")
    lading.state("c1")
    state_file = lading.root / "c1" / "state.json"
    saved = json.loads(state_file.read_text())
    saved["pidStartTime"] = str(int(saved["pidStartTime"]) + 1)
    state_file.write_text(json.dumps(saved))
    assert lading.state("c1")["status"] == "stopped"
    p = lading("kill", "c1", "KILL", check=False)
    assert p.returncode == 1, "a stranger with the same pid must never be signalled"
    saved["pidStartTime"] = str(int(saved["pidStartTime"]) - 1)
    state_file.write_text(json.dumps(saved))
    lading("delete", "--force", "c1")


def test_concurrent_starts_and_deletes_are_serialised(lading, bundle):
    bundle.write(args=["sleep", "100"])
    lading("create", "-b", str(bundle), "c1")
    lading.state("c1")
    argv = [*lading_argv(), "--root", str(lading.root)]
    starts = [
        subprocess.Popen([*argv, "start", "c1"], env=lading_env(), stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in starts]
    assert sorted(code for code, _ in results) == [0, 1, 1, 1], results
    assert lading.state("c1")["status"] == "running"
    deletes = [
        subprocess.Popen([*argv, "delete", "--force", "c1"], env=lading_env(), stderr=subprocess.DEVNULL)
        for _ in range(4)
    ]
    codes = [p.wait(timeout=60) for p in deletes]
    assert codes.count(0) >= 1 and set(codes) <= {0, 1}
    assert not (lading.root / "c1").exists()


def test_socket_activation_fds_are_passed_on(lading, bundle, tmp_path):
    """LISTEN_FDS from a socket-activating caller (systemd) reaches the container, as with runc."""
    bundle.write(args=["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3"])
    src = tmp_path / "data"
    src.write_text("activated\n")
    argv = ["sh", "-c", 'exec 3< "$0"; LISTEN_FDS=1 exec "$@"', str(src), *lading_argv(), "--root", str(lading.root)]
    out = subprocess.run(
        [*argv, "run", "-b", str(bundle), "c1"], capture_output=True, text=True, env=lading_env(), timeout=60
    )
    assert (out.returncode, out.stdout) == (0, "1 1\nactivated\n"), out.stderr


def test_state_is_creating_until_create_returns(lading, bundle, tmp_path):
    """A createRuntime hook asks for the state while create is still running, and cannot kill."""
    seen, killed = tmp_path / "seen", tmp_path / "killed"
    hook = tmp_path / "hook.sh"
    argv = " ".join([*lading_argv(), "--root", str(lading.root)])
    hook.write_text(f"#!/bin/sh\n{argv} state c1 > {seen}\n{argv} kill c1 KILL 2> {killed}\necho $? >> {killed}\n")
    hook.chmod(0o755)
    bundle.config["hooks"] = {"createRuntime": [{"path": str(hook)}]}
    bundle.write(args=["true"])
    lading("create", "-b", str(bundle), "c1")
    assert json.loads(seen.read_text())["status"] == "creating"
    assert (
        killed.read_text()
        == "cannot kill container c1: it is creating, not created or running or paused or stopped\n1\n"
    )
    assert lading.state("c1")["status"] == "created"
    lading("delete", "c1")


def _start_with_program(runtime, bundle, content):
    """Create a container whose program is ``content`` (as /bin/program), then start it."""
    program = bundle.rootfs / "bin" / "program"
    program.write_bytes(content)
    program.chmod(0o755)
    bundle.write(args=["/bin/program"])
    runtime("create", "--bundle", str(bundle), "c1")
    return runtime("start", "c1", check=False)


def test_start_returns_before_the_execve_as_runc_does(runtime, bundle):
    """`start` returns once the init has passed all that lading does before the execve (as runc's
    and crun's return before the exec): a program that passes linux/binfmt's look (an ELF header
    of this machine, here one the kernel still refuses) ends the container instead of failing
    start. `run`, which waits for the execve, reports it (tests/exec/test_host_escape.py)."""
    p = _start_with_program(runtime, bundle, bare_elf_header())
    assert (p.returncode, p.stderr) == (0, "")
    for _ in range(500):
        if runtime.state("c1")["status"] == "stopped":
            break
        time.sleep(0.01)
    assert runtime.state("c1")["status"] == "stopped"
    runtime("delete", "c1")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"\x01\x02 not a program", "Exec format error"),
        (b"#!/nonexistent/sh\ntrue\n", "No such file or directory"),
    ],
)
def test_start_reports_what_the_kernel_will_not_run(lading, bundle, content, error):
    """For a program the kernel may refuse (linux/binfmt.py), `start` waits for the execve and
    fails with its reason, unlike runc's, which returns and leaves the message on the container's
    stderr."""
    p = _start_with_program(lading, bundle, content)
    assert (p.returncode, p.stderr) == (1, f"exec failed: {error}\n")
    lading("delete", "--force", "c1")
