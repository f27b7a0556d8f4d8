"""Exit statuses and signal names that scripts and clients rely on, as runc has them: a failing
exec is 255 (the program's own status is everything else), kill takes any number (0 only checks
the init is there) or a name with or without SIG, and kill --all works on a stopped container.
Every case runs against runc too, which calibrates it."""

from __future__ import annotations

import time

import pytest

from tests.support import one_line


@pytest.fixture
def running(runtime, bundle, cid):
    bundle.write(args=["sleep", "1000"])
    runtime("run", "-d", "-b", str(bundle), cid)
    runtime.state(cid)
    yield cid
    runtime("delete", "-f", cid, check=False)


@pytest.mark.parametrize(
    "args",
    [["ID", "no-such-program"], ["no-such-container", "true"], ["-p", "/no/such/process.json", "ID"]],
    ids=["no such program", "no such container", "no process.json"],
)
def test_a_failing_exec_is_255(runtime, running, args):
    p = runtime("exec", *[running if a == "ID" else a for a in args], check=False)
    assert p.returncode == 255
    one_line(p)


def test_exec_into_a_paused_container_is_255(runtime, running):
    runtime("pause", running)
    p = runtime("exec", running, "true", check=False)
    assert p.returncode == 255 and "paused" in one_line(p)
    runtime("resume", running)


def test_the_program_status_is_passed_through(runtime, running):
    assert runtime("exec", running, "sh", "-c", "exit 7", check=False).returncode == 7


@pytest.mark.parametrize("sig", ["0", "18", "CONT", "cont", "SIGCONT", "sigcont"])
def test_kill_accepts_numbers_and_names(runtime, running, sig):
    runtime("kill", running, sig)
    assert runtime.state(running)["status"] == "running"


@pytest.mark.parametrize("sig", ["99", "NOSUCH"])
def test_kill_refuses_what_is_no_signal(runtime, running, sig):
    p = runtime("kill", running, sig, check=False)
    assert p.returncode == 1
    one_line(p)


def test_kill_of_a_stopped_container(runtime, bundle, cid):
    bundle.write(args=["true"])
    runtime("run", "-d", "-b", str(bundle), cid)
    runtime.state(cid)
    while runtime.state(cid)["status"] != "stopped":
        time.sleep(0.02)
    p = runtime("kill", cid, "0", check=False)  # there is no init to signal
    assert p.returncode == 1
    assert "container not running" in one_line(p), "the words the containerd shim takes for 'gone'"
    for sig in ("KILL", "0"):  # nothing in the cgroup: nothing to do, and no error
        p = runtime("kill", "--all", cid, sig, check=False)
        assert (p.returncode, p.stderr) == (0, ""), p
    runtime("delete", cid)


@pytest.mark.parametrize("verb", [["create"], ["run"], ["run", "-d"]])
def test_a_console_socket_without_a_terminal_is_refused(runtime, bundle, cid, tmp_path, verb):
    bundle.write(args=["true"], terminal=False)
    p = runtime(*verb, "--console-socket", str(tmp_path / "none.sock"), "-b", str(bundle), cid, check=False)
    assert p.returncode == 1
    assert "cannot use console socket if" in one_line(p)
    assert runtime.containers() == [] if hasattr(runtime, "containers") else not list(runtime.root.glob("*"))


@pytest.mark.parametrize("verb", ["create", "exec"])
def test_preserved_fds_must_be_open(runtime, running, bundle, verb):
    args = ["create", "-b", str(bundle), f"{running}-2"] if verb == "create" else ["exec", running, "true"]
    p = runtime(args[0], "--preserve-fds", "5", *args[1:], check=False)
    assert p.returncode == (255 if verb == "exec" else 1)
    assert "unable to stat preserved-fd" in one_line(p)
    assert runtime("list", "-q").stdout.split() == [running]
