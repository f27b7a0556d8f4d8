"""`lading exec` on real containers: namespaces, cgroup, process settings, terminal, detach, errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.exec.support import ns_ids, popen, start
from tests.support import pid_alive


def test_exec_prints_output_and_exits_with_the_process_status(lading, bundle):
    start(lading, bundle)
    p = lading("exec", "c1", "sh", "-c", "echo out; echo err >&2; exit 5", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (5, "out\n", "err\n")


def test_options_after_the_id_belong_to_the_command(lading, bundle):
    start(lading, bundle)
    assert lading("exec", "c1", "echo", "-n", "-t", "x").stdout == "-t x"
    assert lading("exec", "c1", "--", "echo", "--", "y").stdout == "-- y\n"


def test_exec_joins_every_namespace_and_the_cgroup_of_the_init(lading, bundle, tmp_path):
    init = start(lading, bundle)
    pid_file = tmp_path / "exec.pid"
    lading("exec", "--detach", "--pid-file", str(pid_file), "c1", "sleep", "1000")
    pid = int(pid_file.read_text())
    assert pid_alive(pid)
    assert ns_ids(pid) == ns_ids(init)
    assert Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{init}/cgroup").read_text()
    assert os.readlink(f"/proc/{pid}/root") == os.readlink(f"/proc/{init}/root")
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    nspid = next(line for line in status if line.startswith("NSpid:")).split()[1:]
    assert nspid[0] == str(pid) and len(nspid) == 2 and int(nspid[1]) > 1  # in the container's pid ns
    inside = lading("exec", "c1", "sh", "-c", "hostname; ps -o pid,args").stdout
    assert inside.startswith("lading\n")
    assert "1 sleep 1000" in inside


def test_exec_in_a_user_namespace_container(lading, bundle):
    init = start(lading, bundle, userns=True)
    out = lading("exec", "c1", "sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user").stdout
    assert out.split("\n")[1] == os.readlink(f"/proc/{init}/ns/user")


def test_process_defaults_come_from_the_config(lading, bundle):
    bundle.config["process"]["env"].append("FROM_CONFIG=1")
    (bundle.rootfs / "work").mkdir()
    start(lading, bundle, cwd="/work", user={"uid": 1, "gid": 1, "additionalGids": [100]})
    out = lading("exec", "c1", "sh", "-c", 'pwd; id; echo "$FROM_CONFIG $HOME"').stdout
    assert out == "/work\nuid=1(daemon) gid=1(daemon) groups=100(users)\n1 /usr/sbin\n"


def test_flags_override_the_config(lading, bundle):
    bundle.config["process"]["env"].append("A=config")
    start(lading, bundle)
    out = lading(
        "exec",
        "--cwd",
        "/tmp",
        "-e",
        "A=flag",
        "--env",
        "B=2",
        "-u",
        "65534:100",
        "--additional-gids",
        "1",
        "-g",
        "0",
        "c1",
        "sh",
        "-c",
        'pwd; id; echo "$A $B $HOME"',
    ).stdout
    assert out == "/tmp\nuid=65534(nobody) gid=100(users) groups=0(root),1(daemon)\nflag 2 /nonexistent\n"


def test_cap_adds_to_every_set_and_no_new_privs(lading, bundle):
    start(lading, bundle, noNewPrivileges=False)
    status = lading("exec", "c1", "cat", "/proc/self/status").stdout
    assert "NoNewPrivs:\t0" in status
    status = lading("exec", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", "c1", "cat", "/proc/self/status").stdout
    caps = {k: int(v, 16) for k, v in (line.split(":\t") for line in status.splitlines() if line.startswith("Cap"))}
    for name in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        assert caps[name] & (1 << 21), name
    assert "NoNewPrivs:\t1" in status


def test_process_json(lading, bundle, tmp_path):
    start(lading, bundle)
    process = {
        "args": ["sh", "-c", 'echo "$X $(pwd) $(id -u)"'],
        "env": ["X=from-file", "PATH=/bin"],
        "cwd": "/tmp",
        "user": {"uid": 1, "gid": 1},
    }
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    assert lading("exec", "--process", str(path), "c1").stdout == "from-file /tmp 1\n"


@pytest.mark.parametrize(
    ("process", "message"),
    [
        ({"args": ["true"]}, '$: missing required field "cwd"'),
        ({"args": ["true"], "cwd": "tmp"}, "$.cwd:"),
        ({"args": [], "cwd": "/"}, "$.args: at least one argument is required"),
        ({"args": ["true"], "cwd": "/", "user": {"uid": "root", "gid": 0}}, "$.user.uid:"),
    ],
)
def test_bad_process_json_is_one_line_naming_file_and_path(lading, bundle, tmp_path, process, message):
    start(lading, bundle)
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    p = lading("exec", "-p", str(path), "c1", check=False)
    assert p.returncode == 255  # runc's status for a failing exec
    assert p.stderr.count("\n") == 1 and p.stderr.startswith(f"{path}: ")
    assert message in p.stderr


def test_malformed_and_missing_process_json(lading, bundle, tmp_path):
    start(lading, bundle)
    path = tmp_path / "process.json"
    path.write_text("{")
    p = lading("exec", "-p", str(path), "c1", check=False)
    assert p.returncode == 255 and p.stderr.startswith(f"{path}: ") and p.stderr.count("\n") == 1
    p = lading("exec", "-p", str(tmp_path / "nope.json"), "c1", check=False)
    assert (p.returncode, p.stderr) == (255, f"{tmp_path / 'nope.json'}: no such file\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["c1"], "exec: a command is required (or --process FILE)\n"),
        (["-u", "root", "c1", "true"], "--user: expected <uid>[:<gid>] with numeric ids, got 'root'\n"),
        (["--cwd", "tmp", "c1", "true"], "--cwd: 'tmp' is not an absolute path\n"),
        (["c1", "nosuch"], 'exec: "nosuch": executable file not found in $PATH\n'),
        (
            ["--cwd", "/nope", "c1", "true"],
            "chdir to cwd '/nope' set in the process failed: No such file or directory\n",
        ),
        (
            ["-d", "-t", "c1", "true"],
            "cannot allocate tty if lading will detach without setting console socket\n",
        ),
        (
            ["--console-socket", "/x", "c1", "true"],
            "cannot use console socket if lading will not detach or allocate tty\n",
        ),
        (["nosuchcontainer", "true"], "container does not exist: nosuchcontainer\n"),
    ],
)
def test_errors_are_one_line(lading, bundle, args, message):
    start(lading, bundle)
    p = lading("exec", *args, check=False)
    assert (p.returncode, p.stderr) == (255, message)  # runc's status for each of these too


def test_exec_into_stopped_container_is_an_error(lading, bundle):
    bundle.write(args=["true"])
    lading("run", "--detach", "--bundle", str(bundle), "c1")
    for _ in range(200):
        if lading.state("c1")["status"] == "stopped":
            break
        time.sleep(0.02)
    p = lading("exec", "c1", "true", check=False)
    assert (p.returncode, p.stderr) == (255, "cannot exec in a stopped container: c1\n")
    lading("delete", "c1")


def test_exec_into_a_created_container(lading, bundle):
    bundle.write(args=["sleep", "1000"])
    lading("create", "--bundle", str(bundle), "c1")
    assert " create " in lading("exec", "c1", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '").stdout
    assert lading.state("c1")["status"] == "created"
    lading("delete", "--force", "c1")


def test_paused_container_needs_ignore_paused(lading, bundle):
    from lading.runtime.cgroups import ContainerCgroup

    start(lading, bundle)
    cg = ContainerCgroup.from_record(json.loads((lading.root / "c1" / "state.json").read_text())["cgroup"])
    assert cg is not None
    cg.freeze()
    try:
        p = lading("exec", "c1", "true", check=False)
        assert (p.returncode, p.stderr) == (
            255,
            "cannot exec in a paused container (use --ignore-paused to override): c1\n",
        )
        runner = popen(lading, "--ignore-paused", "c1", "echo", "ran", stdout=-1)
        time.sleep(0.5)
        assert runner.poll() is None, "the process runs only when the container is resumed"
    finally:
        cg.thaw()
    out, _ = runner.communicate(timeout=30)
    assert (runner.returncode, out) == (0, "ran\n")


def test_killed_by_signal_exits_128_plus_signal(lading, bundle):
    start(lading, bundle)
    assert lading("exec", "c1", "sh", "-c", "kill -9 $$", check=False).returncode == 128 + 9


def test_signals_are_forwarded_to_the_process(lading, bundle):
    start(lading, bundle)
    runner = popen(
        lading,
        "c1",
        "sh",
        "-c",
        "trap 'echo got TERM; exit 4' TERM; echo ready; while :; do sleep 0.05; done",
        stdout=-1,
    )
    try:
        assert runner.stdout is not None
        assert runner.stdout.readline() == "ready\n"
        runner.send_signal(signal.SIGTERM)
        out, _ = runner.communicate(timeout=30)
        assert (runner.returncode, out) == (4, "got TERM\n")
    finally:
        runner.kill()
        runner.wait()


def test_detach_returns_at_once_with_the_host_pid(lading, bundle, tmp_path):
    start(lading, bundle)
    pid_file = tmp_path / "pid"
    began = time.monotonic()
    lading("exec", "-d", "--pid-file", str(pid_file), "c1", "sleep", "1000")
    assert time.monotonic() - began < 10
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}/cmdline").read_text() == "sleep\x001000\x00"
    lading("delete", "--force", "c1")
    assert not pid_alive(pid)


def test_foreground_pid_file(lading, bundle, tmp_path):
    start(lading, bundle)
    pid_file = tmp_path / "pid"
    out = lading("exec", "--pid-file", str(pid_file), "c1", "sh", "-c", "echo $$").stdout
    assert pid_file.read_text().isdigit() and out.strip().isdigit()


def test_tty_in_the_foreground(lading, bundle):
    start(lading, bundle)
    p = lading("exec", "-t", "c1", "sh", "-c", "tty; stty size; read x; echo got $x", input="hello\n")
    lines = p.stdout.replace("\r", "").split("\n")
    assert any(line.startswith("/dev/pts/") for line in lines), lines  # the pty echoes input too
    assert "got hello" in lines


def test_tty_detached_through_a_console_socket(lading, bundle, tmp_path):
    from lading.linux import pty

    start(lading, bundle)
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    try:
        lading("exec", "-d", "-t", "--console-socket", path, "c1", "sh", "-c", "tty; sleep 0.5")
        conn, _ = listener.accept()
        master, _ = pty.recv_fd(conn)
        conn.close()
        data = b""
        try:
            while chunk := os.read(master, 4096):
                data += chunk
        except OSError:
            pass
        finally:
            os.close(master)
        assert data.startswith(b"/dev/pts/")
    finally:
        listener.close()


def test_preserve_fds(lading, bundle):
    start(lading, bundle)
    r, w = os.pipe()
    try:
        p = lading(
            "exec",
            "--preserve-fds",
            "1",
            "c1",
            "sh",
            "-c",
            "echo through-fd3 >&3",
            pass_fds=(3,),
            preexec_fn=lambda: os.dup2(w, 3),
            check=False,
        )
        os.close(w)
        w = -1
        assert p.returncode == 0, p.stderr
        assert os.read(r, 100) == b"through-fd3\n"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_many_execs_leave_nothing_behind(lading, bundle):
    init = start(lading, bundle)
    for i in range(20):
        assert lading("exec", "c1", "echo", str(i)).stdout == f"{i}\n"
    state = json.loads((lading.root / "c1" / "state.json").read_text())
    from lading.runtime.cgroups import ContainerCgroup

    cg = ContainerCgroup.from_record(state["cgroup"])
    assert cg is not None and cg.pids() == [init]


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_exec_gets_the_containers_seccomp_filter(lading, bundle, no_new_privileges):
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    start(lading, bundle, noNewPrivileges=no_new_privileges)
    p = lading("exec", "c1", "sh", "-c", "mkdir /tmp/x 2>&1; grep Seccomp: /proc/self/status", check=False)
    assert "Operation not permitted" in p.stdout and "Seccomp:\t2" in p.stdout, p.stdout
