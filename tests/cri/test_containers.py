"""Containers in a pod through the CRI: process, mounts, lifecycle, status, exec, logs, listing."""

from __future__ import annotations

import re
import time
from pathlib import Path

import grpc
import pytest

from tests.clients.image import IMAGE_NAME
from tests.cri.client import Cri

# A CRI log line: RFC 3339 time with nanoseconds, stream, P(artial) or F(ull) tag, the text.
CRI_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) (P|F) (.*)$")


def log_lines(path: Path) -> list[tuple[str, str]]:
    """(stream, text) of each line of a CRI-format log; fails on a line not in that format."""
    out = []
    for line in path.read_text().splitlines():
        m = CRI_LOG_LINE.match(line)
        assert m, f"not a CRI log line: {line!r}"
        assert m.group(3) == "F", line
        out.append((m.group(2), m.group(4)))
    return out


def test_command_args_env_working_dir_and_log_format(cri: Cri, handler: str) -> None:
    pb = cri.pb
    pod = cri.run_pod(handler)
    cid = cri.run(
        pod,
        ["sh", "-c"],
        args=['echo "$0 $1 $GREETING"; pwd; echo oops >&2; exit 3', "arg0", "arg1"],
        envs=[pb.KeyValue(key="GREETING", value=b"hello world")],
        working_dir="/tmp/work",
    )
    status = cri.wait_exited(cid)
    assert status.exit_code == 3
    assert status.reason == "Error"
    lines = log_lines(Path(status.log_path))  # stdout and stderr are copied apart: order each
    assert [text for stream, text in lines if stream == "stdout"] == ["arg0 arg1 hello world", "/tmp/work"]
    assert [text for stream, text in lines if stream == "stderr"] == ["oops"]


def test_container_status_states_and_times(cri: Cri, handler: str) -> None:
    pb = cri.pb
    pod = cri.run_pod(handler)
    before = time.time_ns()
    cid = cri.create(pod, cri.container_config(["sh", "-c", "read line; exit 7"], stdin=True, stdin_once=True))
    created = cri.status(cid)
    assert created.state == pb.CONTAINER_CREATED
    assert before <= created.created_at and created.started_at == 0
    cri.start(cid)
    running = cri.status(cid)
    assert running.state == pb.CONTAINER_RUNNING
    assert created.created_at <= running.started_at and running.finished_at == 0
    cri.call("StopContainer", container_id=cid, timeout=0)  # SIGKILL at once
    stopped = cri.wait_exited(cid)
    assert stopped.exit_code == 137
    assert running.started_at <= stopped.finished_at <= time.time_ns()
    assert stopped.image.image == IMAGE_NAME
    cri.call("RemoveContainer", container_id=cid)
    assert not cri.call("ListContainers").containers


@pytest.mark.parametrize(
    ("trap", "timeout", "exit_code"),
    [("'exit 9'", 30, 9), ("''", 1, 137)],
    ids=["exits on SIGTERM", "ignores SIGTERM"],
)
def test_stop_container(cri: Cri, handler: str, trap: str, timeout: int, exit_code: int) -> None:
    """SIGTERM, then SIGKILL after the timeout. A container that exited on SIGTERM is gone when
    the shim sends its next kill, and that is no error; nor is a second stop (the kubelet retries)."""
    pod = cri.run_pod(handler)
    cid = cri.run(pod, ["sh", "-c", f"trap {trap} TERM; echo ready; while :; do sleep 0.1; done"])
    wait_for_log(cri, cid, "ready")
    cri.call("StopContainer", container_id=cid, timeout=timeout)
    assert cri.status(cid).exit_code == exit_code
    cri.call("StopContainer", container_id=cid, timeout=timeout)
    cri.call("RemoveContainer", container_id=cid)


def wait_for_log(cri: Cri, cid: str, text: str, timeout: float = 30) -> None:
    path = cri.log_path(cid)
    deadline = time.monotonic() + timeout
    while not (path.exists() and any(t == text for _, t in log_lines(path))):
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log of {cid}"
        time.sleep(0.05)


def test_host_path_mounts_read_only_and_read_write(cri: Cri, handler: str, tmp_path: Path) -> None:
    pb = cri.pb
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    (ro / "data").write_text("from the host\n")
    pod = cri.run_pod(handler)
    cid = cri.run_idle(
        pod,
        mounts=[
            pb.Mount(container_path="/data/ro", host_path=str(ro), readonly=True),
            pb.Mount(container_path="/data/rw", host_path=str(rw)),
        ],
    )
    assert cri.sh(cid, "cat /data/ro/data") == "from the host\n"
    denied = cri.exec(cid, ["sh", "-c", "echo x > /data/ro/new"])
    assert denied.exit_code != 0 and "Read-only file system" in denied.stderr
    cri.sh(cid, "echo from the container > /data/rw/new")
    assert (rw / "new").read_text() == "from the container\n"
    assert not (ro / "new").exists()


def test_run_as_user_group_and_supplemental_groups(cri: Cri, handler: str) -> None:
    pb = cri.pb
    pod = cri.run_pod(handler)
    cid = cri.run_idle(
        pod,
        linux=pb.LinuxContainerConfig(
            security_context=pb.LinuxContainerSecurityContext(
                run_as_user=pb.Int64Value(value=1000),
                run_as_group=pb.Int64Value(value=1001),
                supplemental_groups=[2000, 3000],
            )
        ),
    )
    ids = cri.sh(cid, "id -u; id -g; id -G").split("\n")
    assert ids[0] == "1000" and ids[1] == "1001"
    assert set(ids[2].split()) == {"1001", "2000", "3000"}


def test_exec_sync_output_exit_code_and_timeout(cri: Cri, handler: str) -> None:
    pod = cri.run_pod(handler)
    cid = cri.run_idle(pod, envs=[cri.pb.KeyValue(key="WHO", value=b"pod")])
    r = cri.exec(cid, ["sh", "-c", 'echo "out $WHO"; echo err >&2; exit 42'])
    assert (r.exit_code, r.stdout, r.stderr) == (42, "out pod\n", "err\n")
    with pytest.raises(grpc.RpcError) as e:
        cri.exec(cid, ["sleep", "30"], timeout=1)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "timeout 1s exceeded" in str(e.value.details())
    assert "sleep 30" not in cri.sh(cid, "ps -o args"), "the exec was killed at its timeout"


def test_list_containers_with_filters(cri: Cri, handler: str) -> None:
    pb = cri.pb
    first, second = cri.run_pod(handler), cri.run_pod(handler)
    a = cri.run_idle(first, labels={"role": "a"})
    b = cri.run(first, ["true"], labels={"role": "b"})
    c = cri.run_idle(second, labels={"role": "a"})
    cri.wait_exited(b)

    def listed(**fields: object) -> set[str]:
        return {x.id for x in cri.call("ListContainers", filter=pb.ContainerFilter(**fields)).containers}

    assert listed() == {a, b, c}
    assert listed(pod_sandbox_id=first.id) == {a, b}
    assert listed(id=c) == {c}
    assert listed(label_selector={"role": "a"}) == {a, c}
    assert listed(state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING)) == {a, c}
    assert listed(state=pb.ContainerStateValue(state=pb.CONTAINER_EXITED), pod_sandbox_id=first.id) == {b}


def test_log_rotation_with_reopen_container_log(cri: Cri, handler: str, tmp_path: Path) -> None:
    """The kubelet renames the log, asks for a reopen, and the container's output goes on in a
    new file at log_path."""
    pod = cri.run_pod(handler)
    trigger = tmp_path / "go"
    trigger.mkdir()
    cid = cri.run(
        pod,
        ["sh", "-c", "echo one; while [ ! -e /trigger/next ]; do sleep 0.05; done; echo two; sleep 1000"],
        mounts=[cri.pb.Mount(container_path="/trigger", host_path=str(trigger))],
    )
    wait_for_log(cri, cid, "one")
    path = cri.log_path(cid)
    rotated = path.with_name(path.name + ".1")
    path.rename(rotated)
    cri.call("ReopenContainerLog", container_id=cid)
    (trigger / "next").touch()
    wait_for_log(cri, cid, "two")
    assert log_lines(rotated) == [("stdout", "one")]
    assert log_lines(path) == [("stdout", "two")]


def test_a_container_with_a_terminal(cri: Cri, handler: str) -> None:
    """tty: the process runs on a pseudo-terminal (the runtime hands its master to the shim), and
    what it writes is logged as stdout."""
    pod = cri.run_pod(handler)
    cid = cri.run(pod, ["sh", "-c", "tty; test -t 1 && echo stdout is a terminal"], tty=True)
    status = cri.wait_exited(cid)
    assert status.exit_code == 0
    assert log_lines(Path(status.log_path)) == [("stdout", "/dev/pts/0"), ("stdout", "stdout is a terminal")]
