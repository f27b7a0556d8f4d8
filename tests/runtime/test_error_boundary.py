"""One error boundary: a failure of the runtime itself (a state root or pid file that cannot be
made, a read-only or full filesystem) is one line naming the operation and the path, runc's exit
status, no traceback (unless --debug asks for it), and nothing left behind. The image verbs go
through the same boundary (tests/image/test_store_errors.py). Every case runs against runc too,
which calibrates the status."""

from __future__ import annotations

import os
import stat

import pytest

from tests.support import Lading, Runc, one_line

BAD_ROOT = "/dev/null/x"  # a path that can never be a directory

# (arguments after --root BAD_ROOT, runc's exit status); B is the bundle, ID a container id.
BAD_ROOT_CASES = [
    (["list"], 1),
    (["state", "ID"], 1),
    (["create", "-b", "B", "ID"], 1),
    (["run", "-d", "-b", "B", "ID"], 1),
    (["exec", "ID", "true"], 255),
    (["kill", "ID"], 1),
    (["delete", "ID"], 1),
    (["delete", "-f", "ID"], 1),
    (["start", "ID"], 1),
    (["pause", "ID"], 1),
    (["resume", "ID"], 1),
    (["ps", "ID"], 1),
    (["events", "--stats", "ID"], 1),
    (["update", "--pids-limit", "5", "ID"], 1),
]


@pytest.mark.parametrize("args,status", BAD_ROOT_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_a_state_root_that_cannot_exist(runtime, bundle, cid, args, status):
    bundle.write(args=["sleep", "100"])
    argv = [str(bundle) if a == "B" else cid if a == "ID" else a for a in args]
    p = runtime("--root", BAD_ROOT, *argv, check=False)
    assert p.returncode == status, p
    line = one_line(p)
    if isinstance(runtime, Runc):
        assert "/dev/null" in line
    else:
        assert line.endswith(": Not a directory") and BAD_ROOT in line, line
        assert line.startswith(f"{args[0]}: "), line  # names the operation


@pytest.mark.parametrize("verb", ["create", "run"])
def test_a_pid_file_in_a_missing_directory(runtime, bundle, cid, tmp_path, verb):
    bundle.write(args=["sleep", "100"])
    pid_file = tmp_path / "missing" / "pid"
    extra = ["-d"] if verb == "run" else []
    p = runtime(verb, *extra, "--pid-file", str(pid_file), "-b", str(bundle), cid, check=False)
    assert p.returncode == 1, p
    line = one_line(p)
    assert str(pid_file.parent) in line
    if isinstance(runtime, Lading) and not isinstance(runtime, Runc):
        assert line == f"--pid-file {pid_file}: No such file or directory"
    assert runtime.containers() == [] if hasattr(runtime, "containers") else True
    assert not runtime.root.exists() or list(runtime.root.iterdir()) == []
    assert runtime.cgroup_dirs(cid) == []


def test_exec_pid_file_in_a_missing_directory_kills_the_process(runtime, bundle, cid, tmp_path):
    bundle.write(args=["sleep", "100"])
    runtime("run", "-d", "-b", str(bundle), cid)
    runtime.state(cid)
    pid_file = tmp_path / "missing" / "pid"
    p = runtime("exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "99", check=False)
    assert p.returncode == 255, p
    assert str(pid_file.parent) in one_line(p)
    assert "sleep 99" not in runtime("ps", cid).stdout  # started, then killed: nothing left running
    runtime("delete", "-f", cid)


def test_debug_shows_the_traceback(lading):
    p = lading("--debug", "--root", BAD_ROOT, "list", check=False)
    assert p.returncode == 1
    assert "Traceback" in p.stderr
    assert p.stderr.strip().splitlines()[-1] == f"list: {BAD_ROOT}: Not a directory"


def test_a_log_file_that_cannot_be_opened(runtime):
    p = runtime("--log", f"{BAD_ROOT}/log", "list", check=False)
    assert p.returncode == 1
    assert f"{BAD_ROOT}/log" in one_line(p)


def test_a_read_only_or_full_state_root(runtime, bundle, cid, tmpfs):
    ro, full = tmpfs("ro", "ro"), tmpfs("full", "size=4k")
    bundle.write(args=["sleep", "100"])
    p = runtime("--root", str(ro / "state"), "run", "-d", "-b", str(bundle), cid, check=False)
    assert p.returncode == 1
    assert "read-only file system" in one_line(p).lower()
    # One page holds the first state.json, not the container's whole create: it fails midway
    # and must undo everything it made.
    p = runtime("--root", str(full / "state"), "run", "-d", "-b", str(bundle), cid, check=False)
    assert p.returncode == 1
    line = one_line(p)
    if not isinstance(runtime, Runc):  # runc 1.1.5 words it "unable to store init state: %!w(<nil>)"
        assert "no space left on device" in line.lower(), line
    assert list((full / "state").iterdir()) == []
    assert runtime.cgroup_dirs(cid) == []


@pytest.mark.parametrize("verb", ["create", "run"])
def test_a_pid_file_that_is_not_a_file_is_left_alone(lading, bundle, tmp_path, verb):
    """A pid file is written by rename, which would replace a device or FIFO standing at the path
    (as `runc --pid-file /dev/null` replaces the host's /dev/null): lading refuses instead."""
    bundle.write(args=["sleep", "100"])
    fifo = tmp_path / "pid"
    os.mkfifo(fifo)
    extra = ["-d"] if verb == "run" else []
    p = lading(verb, *extra, "--pid-file", str(fifo), "-b", str(bundle), "c1", check=False)
    assert p.returncode == 1, p
    assert one_line(p) == f"--pid-file {fifo}: exists and is not a regular file; refusing to replace it"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert list(tmp_path.glob(".pid.tmp")) == []
    assert not lading.root.exists() or list(lading.root.iterdir()) == []
