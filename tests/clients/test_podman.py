"""podman 4 driving the runtime (through conmon): lifecycle, exec, logs, signals and limits."""

from __future__ import annotations

import time

import pytest

from tests.clients.image import IMAGE_NAME
from tests.clients.podman import Podman

LOOP = "while :; do sleep 0.1; done"


def wait_for_logs(podman: Podman, name: str, want: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        p = podman("logs", name, check=False)
        if want in p.stdout + p.stderr:
            return p.stdout + p.stderr
        if time.monotonic() > deadline:
            raise AssertionError(f"no {want!r} in the logs of {name}: {p.stdout!r} {p.stderr!r}")
        time.sleep(0.1)


def inspect(podman: Podman, name: str, fmt: str) -> str:
    return podman("inspect", "--format", fmt, name).stdout.strip()


def test_run_rm_output_and_exit_code(podman: Podman) -> None:
    p = podman.run("--rm", IMAGE_NAME, "sh", "-c", "echo hello; echo oops >&2; exit 3", check=False)
    assert p.returncode == 3, p.stderr
    assert p.stdout == "hello\n"
    assert "oops" in p.stderr
    args = {arg for call in podman.runtime.logged_calls() for arg in call}
    assert {"create", "start", "delete"} <= args


def test_run_with_a_terminal(podman: Podman) -> None:
    p = podman.run("--rm", "-t", IMAGE_NAME, "sh", "-c", "tty; stty size")
    assert p.stdout.splitlines()[0] == "/dev/pts/0"


@pytest.mark.verbs("exec")
def test_run_detached_then_exec(podman: Podman) -> None:
    podman.run("-d", "--name", "c1", IMAGE_NAME, "sh", "-c", LOOP)
    p = podman(
        "exec",
        "c1",
        "sh",
        "-c",
        "echo in-exec; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 4",
        check=False,
    )
    assert p.returncode == 4, p.stderr
    assert p.stdout == f"in-exec\nsh -c {LOOP} \n"
    p = podman("exec", "-t", "c1", "tty")
    assert p.stdout.strip() == "/dev/pts/0"


def test_logs(podman: Podman) -> None:
    podman.run("-d", "--name", "c1", IMAGE_NAME, "sh", "-c", f"echo to-stdout; echo to-stderr >&2; {LOOP}")
    out = wait_for_logs(podman, "c1", "to-stderr")
    assert "to-stdout" in out


def test_stop_uses_sigterm_then_sigkill(podman: Podman) -> None:
    podman.run("-d", "--name", "polite", IMAGE_NAME, "sh", "-c", f"trap 'exit 7' TERM; {LOOP}")
    podman.run("-d", "--name", "stubborn", IMAGE_NAME, "sh", "-c", f"trap '' TERM; {LOOP}")
    podman("stop", "--time", "10", "polite")
    assert inspect(podman, "polite", "{{.State.Status}} {{.State.ExitCode}}") == "exited 7"
    started = time.monotonic()
    podman("stop", "--time", "1", "stubborn")
    assert time.monotonic() - started < 10
    assert inspect(podman, "stubborn", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


def test_kill_sends_the_signal(podman: Podman) -> None:
    podman.run("-d", "--name", "c1", IMAGE_NAME, "sh", "-c", f"trap 'echo got-usr1' USR1; echo ready; {LOOP}")
    wait_for_logs(podman, "c1", "ready")
    podman("kill", "--signal", "USR1", "c1")
    wait_for_logs(podman, "c1", "got-usr1")
    podman("kill", "c1")
    podman("wait", "c1")
    assert inspect(podman, "c1", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


def test_rm_force_removes_a_running_container(podman: Podman) -> None:
    podman.run("-d", "--name", "c1", IMAGE_NAME, "sh", "-c", LOOP)
    assert inspect(podman, "c1", "{{.State.Status}}") == "running"
    podman("rm", "--force", "--time", "0", "c1")
    assert podman("ps", "--all", "--quiet").stdout == ""
    assert podman.runtime.containers() == []


@pytest.mark.verbs("pause", "resume")
def test_pause_and_unpause(podman: Podman) -> None:
    podman.run("-d", "--name", "c1", IMAGE_NAME, "sh", "-c", LOOP)
    podman("pause", "c1")
    assert inspect(podman, "c1", "{{.State.Status}}") == "paused"
    podman("unpause", "c1")
    assert inspect(podman, "c1", "{{.State.Status}}") == "running"


def test_memory_and_pids_limits(podman: Podman) -> None:
    script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    p = podman.run("--rm", "--memory", "64m", "--pids-limit", "50", IMAGE_NAME, "sh", "-c", script)
    assert p.stdout.split() == [str(64 * 1024 * 1024), "50"]


def test_cap_drop_and_add(podman: Podman) -> None:
    p = podman.run("--rm", "--cap-drop", "all", "--cap-add", "CAP_KILL", IMAGE_NAME, "grep", "Cap", "/proc/self/status")
    caps = dict(line.split(":\t") for line in p.stdout.splitlines())
    assert caps["CapEff"] == caps["CapBnd"] == caps["CapPrm"] == "0000000000000020"


def test_read_only_root(podman: Podman) -> None:
    script = "touch /written 2>/dev/null && echo writable || echo read-only; touch /tmp/ok && echo tmp-writable"
    p = podman.run("--rm", "--read-only", IMAGE_NAME, "sh", "-c", script)
    assert p.stdout.split() == ["read-only", "tmp-writable"]


def test_user(podman: Podman) -> None:
    p = podman.run("--rm", "--user", "1:1", IMAGE_NAME, "sh", "-c", "id; grep CapEff /proc/self/status")
    assert p.stdout.splitlines() == [
        "uid=1(daemon) gid=1(daemon) groups=1(daemon)",
        "CapEff:\t0000000000000000",
    ]


def test_missing_executable_reports_the_runtime_error(podman: Podman) -> None:
    """The runtime's own message (from the --log file podman passes) is in podman's error."""
    p = podman.run("--rm", IMAGE_NAME, "/no/such/program", check=False)
    assert p.returncode == 127, p.stderr
    want = 'exec: "/no/such/program": stat /no/such/program: no such file or directory'
    assert p.stderr.startswith(f"Error: {podman.runtime.name}: "), p.stderr
    assert f"{want}: OCI runtime attempted to invoke a command that was not found" in p.stderr


def test_an_ulimit_the_runtime_cannot_set_fails_create(podman: Podman) -> None:
    """Above fs.nr_open: the runtime's create fails and podman reports the runtime's reason."""
    with open("/proc/sys/fs/nr_open") as f:
        too_many = int(f.read()) + 1
    p = podman.run("--rm", "--ulimit", f"nofile={too_many}:{too_many}", IMAGE_NAME, "true", check=False)
    assert p.returncode == 126, p.stderr
    assert p.stderr.startswith("Error: ") and f" {podman.runtime.name}: " in p.stderr, p.stderr
    want = {
        "lading": f"cannot set RLIMIT_NOFILE to soft {too_many}, hard {too_many}",
        "runc": "error setting rlimit type 7: operation not permitted",
    }
    assert want[podman.runtime.name] in p.stderr
    create_calls = [c for c in podman.runtime.logged_calls() if "create" in c]
    assert create_calls and not [c for c in podman.runtime.logged_calls() if "start" in c]


def test_run_with_a_uid_map(podman: Podman) -> None:
    """podman (root) with --uidmap/--gidmap: the container's root is host uid 300000; podman
    shifts the image for it and the runtime makes the user namespace."""
    script = "id -u; cat /proc/self/uid_map; touch /tmp/made; stat -c '%u %g' /tmp/made /bin/busybox"
    ids = "0:300000:65536"
    p = podman.run("--rm", "--uidmap", ids, "--gidmap", ids, IMAGE_NAME, "sh", "-c", script)
    lines = p.stdout.splitlines()
    assert lines[0] == "0"
    assert lines[1].split() == ["0", "300000", "65536"]
    assert lines[2:] == ["0 0", "0 0"]
