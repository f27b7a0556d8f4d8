"""The six hooks of config.md "POSIX-platform Hooks": when each runs, in which namespaces, what it
gets on stdin, and what its failure does (runtime.md "Lifecycle"), on real containers."""

from __future__ import annotations

import os
import time

import pytest

from lading import OCI_VERSION
from tests.hooks.support import (
    HOOK_ENV,
    KINDS,
    Recorder,
    cgroup_dirs,
    failing_hook,
    namespaces,
    processes_with_args,
    unique_id,
)
from tests.support import pid_alive

ANNOTATIONS = {"org.example.hooks": "yes", "org.example.empty": ""}
RUNTIME_KINDS = ("prestart", "createRuntime", "poststart", "poststop")


def wait_stopped(lading, cid: str) -> None:
    for _ in range(500):
        if lading.state(cid)["status"] == "stopped":
            return
        time.sleep(0.01)
    raise AssertionError(f"{cid} did not stop")


def names(*kinds: str) -> list[str]:
    return [f"{kind}.{i}" for kind in kinds for i in (0, 1)]


def test_each_hook_runs_in_order_in_its_namespace_with_the_state(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    cid = unique_id()
    rootfs = os.path.realpath(bundle.rootfs)
    host_only = tmp_path / "host-only"
    host_only.write_text("")
    in_root = "test -e /proc/$pid/root/record-hook.sh && echo pivoted || echo not-pivoted"
    before_pivot = f"{in_root}; awk '{{print $5}}' /proc/$pid/mountinfo | grep -x {rootfs}/proc"
    probes = {
        # after the namespaces and mounts are made, before pivot_root, before the user program
        "prestart": f"{before_pivot}; tr '\\0' ' ' < /proc/$pid/cmdline",
        "createRuntime": f"{before_pivot}; tr '\\0' ' ' < /proc/$pid/cmdline",
        # the container's mounts are there, the host's root still is
        "createContainer": f"test -d {rootfs}/proc/1 && echo proc; test -e {host_only} && echo host",
        # after pivot_root: the host is gone, the rootfs is /
        "startContainer": f"test -e {host_only} || echo no-host; test -e /record-hook.sh && echo rootfs",
        # the user program has been exec'd, in the pivoted root
        "poststart": f"tr '\\0' ' ' < /proc/$pid/cmdline; echo; {in_root}",
        "poststop": f"test -e {lading.root / cid} || echo state-removed",
    }
    bundle.config["hooks"] = {
        kind: [rec.hook(kind, name, probes[kind], env=HOOK_ENV) for name in names(kind)] for kind in KINDS
    }
    bundle.config["annotations"] = ANNOTATIONS
    bundle.write(args=["sleep", "100"])

    lading("create", "--bundle", str(bundle), cid)
    assert rec.order() == names("prestart", "createRuntime", "createContainer")
    pid = lading.state(cid)["pid"]
    host_ns, container_ns = namespaces("self"), namespaces(pid)
    assert host_ns[0] != container_ns[0] and host_ns[1] != container_ns[1]

    lading("start", cid)
    assert rec.order() == names("prestart", "createRuntime", "createContainer", "startContainer", "poststart")
    lading("kill", cid, "KILL")
    wait_stopped(lading, cid)
    lading("delete", cid)
    assert rec.order() == names(*KINDS)

    status = {
        "prestart": "creating",
        "createRuntime": "creating",
        "createContainer": "creating",
        "startContainer": "created",
        "poststart": "running",
        "poststop": "stopped",
    }
    for kind in KINDS:
        for name in names(kind):
            expected = {"ociVersion": OCI_VERSION, "id": cid, "status": status[kind], "bundle": str(bundle)}
            if kind in ("createContainer", "startContainer"):
                expected["pid"] = 1  # as the container sees it: the init is PID 1 of its namespace
            elif kind != "poststop":
                expected["pid"] = pid
            expected["annotations"] = ANNOTATIONS
            assert rec.stdin(name) == expected, name
            ns = (rec.read(name, "mnt").strip(), rec.read(name, "pidns").strip())
            assert ns == (host_ns if kind in RUNTIME_KINDS else container_ns), name
            env = rec.env(name)
            assert env["HOOK_VAR"] == "a value with spaces" and env["OTHER"] == "2", name
            assert "PYTHONPATH" not in env, name
            cmdline = rec.read(name, "cmdline").split("\n")[:-1]
            if kind == "startContainer":
                assert cmdline == ["/bin/sh", "/record-hook.sh", name, "/hooklog", probes[kind]]
            elif kind == "createContainer":
                proc = f"{rootfs}/proc"
                assert cmdline == ["/bin/sh", str(rec.script), name, str(rec.log), probes[kind], proc]
            else:
                assert cmdline == [f"argv0-{name}", str(rec.script), name, str(rec.log), probes[kind]]

    for name in names("prestart", "createRuntime"):
        root, mountpoint, cmd = rec.read(name, "probe").splitlines()
        assert (root, mountpoint) == ("not-pivoted", f"{rootfs}/proc")
        assert "sleep" not in cmd, "the user program must not run before start"
    for name in names("createContainer"):
        assert rec.read(name, "probe").split() == ["proc", "host"]
    for name in names("startContainer"):
        assert rec.read(name, "probe").split() == ["no-host", "rootfs"]
    for name in names("poststart"):
        assert rec.read(name, "probe").splitlines() == ["sleep 100 ", "pivoted"]
    for name in names("poststop"):
        assert rec.read(name, "probe").split() == ["state-removed"]


def test_run_runs_every_hook_once_in_order(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    bundle.config["hooks"] = {kind: [rec.hook(kind, name) for name in names(kind)] for kind in KINDS}
    bundle.write(args=["true"])
    lading("run", "--bundle", str(bundle), unique_id())
    assert rec.order() == names(*KINDS)


def test_hooks_without_env_get_the_runtime_or_the_container_process_environment(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    bundle.config["hooks"] = {kind: [rec.hook(kind, kind)] for kind in KINDS}
    bundle.write(args=["true"], env=["PATH=/bin:/usr/bin", "FROM_CONFIG=1"])
    lading("run", "--bundle", str(bundle), unique_id())
    for kind in KINDS:
        env = rec.env(kind)
        if kind in RUNTIME_KINDS:
            assert "PYTHONPATH" in env and "FROM_CONFIG" not in env, kind
        else:
            assert env["FROM_CONFIG"] == "1" and "PYTHONPATH" not in env, kind
    assert rec.env("startContainer")["HOME"] == "/root"  # from the container's /etc/passwd


def test_start_container_hooks_run_as_the_container_user(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    bundle.config["hooks"] = {"startContainer": [rec.hook("startContainer", "as-user", "id -u; id -g")]}
    bundle.write(args=["true"], user={"uid": 1000, "gid": 1000})
    lading("run", "--bundle", str(bundle), unique_id())
    assert rec.read("as-user", "probe").split() == ["1000", "1000"]


def test_start_container_hooks_have_the_container_capabilities_and_its_seccomp_filter(lading, bundle, tmp_path):
    """As in runc (1.1.5 checked, with and without noNewPrivileges): the hooks run with the
    process's capabilities and no_new_privs, and under its seccomp filter."""
    rec = Recorder(tmp_path, bundle)
    probe = "grep -E 'CapEff|NoNewPrivs' /proc/self/status; ln -s x /hooklog/by-hook 2>/dev/null || echo denied"
    bundle.config["hooks"] = {"startContainer": [rec.hook("startContainer", "caps", probe)]}
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["symlink", "symlinkat"], "action": "SCMP_ACT_ERRNO"}],
    }
    script = "grep -E 'CapEff|NoNewPrivs' /proc/self/status; ln -s x /hooklog/by-program 2>/dev/null || echo denied"
    bundle.write(args=["sh", "-c", script])
    p = lading("run", "--bundle", str(bundle), unique_id())
    program = p.stdout.splitlines()
    assert program[-1] == "denied"
    hook = rec.read("caps", "probe").splitlines()
    assert hook == program
    assert program[1].split() == ["NoNewPrivs:", "1"]


def assert_nothing_left(lading, cid: str, init_pid: int) -> None:
    assert not (lading.root / cid).exists()
    assert not pid_alive(init_pid)
    assert cgroup_dirs(cid) == []


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_create_hook_fails_create_and_undoes_it(lading, bundle, tmp_path, kind):
    rec = Recorder(tmp_path, bundle)
    cid = unique_id()
    bundle.config["hooks"] = {k: [rec.hook(k, f"{k}.0")] for k in KINDS}
    bundle.config["hooks"][kind] = [
        rec.hook(kind, f"{kind}.0"),
        failing_hook(kind),
        rec.hook(kind, f"{kind}.2"),
    ]
    bundle.write(args=["sleep", "100"])
    p = lading("create", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 1
    assert f"{kind}[1] hook /bin/sh failed with exit status 3: {kind} went wrong" in p.stderr
    ran = KINDS[: KINDS.index(kind)]
    # the hooks after the failing one do not run; the poststop hooks do (lifecycle steps 12-13)
    assert rec.order() == [f"{k}.0" for k in ran] + [f"{kind}.0", "poststop.0"]
    assert rec.stdin("poststop.0")["status"] == "stopped"
    assert_nothing_left(lading, cid, rec.stdin("prestart.0")["pid"])


def test_a_failing_start_container_hook_fails_start_and_stops_the_container(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    cid = unique_id()
    bundle.config["hooks"] = {k: [rec.hook(k, f"{k}.0")] for k in KINDS}
    bundle.config["hooks"]["startContainer"].append(failing_hook("startContainer"))
    bundle.write(args=["sh", "-c", "touch /hooklog/user-program-ran; exec sleep 100"])
    lading("create", "--bundle", str(bundle), cid)
    p = lading("start", cid, check=False)
    assert p.returncode == 1
    assert "startContainer[1] hook /bin/sh failed with exit status 3: startContainer went wrong" in p.stderr
    assert lading.state(cid)["status"] == "stopped"
    assert not (rec.log / "user-program-ran").exists()
    lading("delete", cid)
    assert rec.order() == [f"{k}.0" for k in KINDS if k != "poststart"]
    assert_nothing_left(lading, cid, rec.stdin("prestart.0")["pid"])


def test_a_failing_poststart_hook_fails_start_and_destroys_the_container(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    cid = unique_id()
    bundle.config["hooks"] = {k: [rec.hook(k, f"{k}.0")] for k in KINDS}
    bundle.config["hooks"]["poststart"] = [
        rec.hook("poststart", "poststart.0", "tr '\\0' ' ' < /proc/$pid/cmdline"),
        failing_hook("poststart"),
        rec.hook("poststart", "poststart.2"),
    ]
    bundle.write(args=["sleep", "100"])
    lading("create", "--bundle", str(bundle), cid)
    p = lading("start", cid, check=False)
    assert p.returncode == 1
    assert "poststart[1] hook /bin/sh failed with exit status 3: poststart went wrong" in p.stderr
    assert rec.read("poststart.0", "probe") == "sleep 100 "  # the user program had been started
    # runtime.md lifecycle 9, then 12-13: the container is destroyed and the poststop hooks run
    assert rec.order() == [f"{k}.0" for k in KINDS]
    assert rec.stdin("poststop.0")["status"] == "stopped"
    assert "does not exist" in lading("state", cid, check=False).stderr
    assert_nothing_left(lading, cid, rec.stdin("prestart.0")["pid"])


def test_run_with_a_failing_poststart_hook_fails_and_cleans_up(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    cid = unique_id()
    bundle.config["hooks"] = {k: [rec.hook(k, f"{k}.0")] for k in KINDS}
    bundle.config["hooks"]["poststart"].append(failing_hook("poststart"))
    bundle.write(args=["sleep", "100"])
    p = lading("run", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 1 and "poststart went wrong" in p.stderr
    assert rec.order() == [f"{k}.0" for k in KINDS]
    assert_nothing_left(lading, cid, rec.stdin("prestart.0")["pid"])


def test_a_failing_poststop_hook_is_a_warning_and_the_rest_still_run(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    cid = unique_id()
    bundle.config["hooks"] = {
        "poststop": [failing_hook("poststop"), rec.hook("poststop", "poststop.1")],
    }
    bundle.write(args=["true"])
    lading("create", "--bundle", str(bundle), cid)
    lading("start", cid)
    wait_stopped(lading, cid)
    p = lading("delete", cid)
    assert "level=warning" in p.stderr and "poststop[0] hook /bin/sh failed with exit status 3" in p.stderr
    assert rec.order() == ["poststop.1"]
    assert not (lading.root / cid).exists()


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_a_hook_past_its_timeout_is_killed_with_its_children_and_fails(lading, bundle, tmp_path, kind):
    rec = Recorder(tmp_path, bundle)
    cid = unique_id()
    seconds = str(7000 + int.from_bytes(os.urandom(2), "big") % 2000)  # one sleep to look for
    slow = {"path": "/bin/sh", "args": ["sh", "-c", f"sleep {seconds} & wait"], "timeout": 1}
    bundle.config["hooks"] = {"prestart": [rec.hook("prestart", "prestart.0")]}
    bundle.config["hooks"].setdefault(kind, []).append(slow)
    bundle.write(args=["sleep", "100"])
    began = time.monotonic()
    p = lading("create", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 1 and "hook /bin/sh timed out after 1s" in p.stderr
    assert time.monotonic() - began < 10
    assert processes_with_args("sleep", seconds) == []
    assert_nothing_left(lading, cid, rec.stdin("prestart.0")["pid"])


def test_the_timeout_holds_for_a_hook_that_never_reads_a_large_state(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    cid = unique_id()
    bundle.config["annotations"] = {"org.example.big": "x" * 300_000}  # more than a pipe holds
    bundle.config["hooks"] = {
        "prestart": [rec.hook("prestart", "prestart.0")],
        "createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}],
    }
    bundle.write(args=["true"])
    began = time.monotonic()
    p = lading("create", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 1 and "createRuntime[0] hook /bin/sleep timed out after 1s" in p.stderr
    assert time.monotonic() - began < 10
    assert rec.stdin("prestart.0")["annotations"]["org.example.big"] == "x" * 300_000
    assert_nothing_left(lading, cid, rec.stdin("prestart.0")["pid"])


@pytest.mark.parametrize("kind", ["createRuntime", "createContainer", "startContainer"])
def test_a_hook_that_cannot_be_executed_fails_with_a_clear_message(lading, bundle, tmp_path, kind):
    cid = unique_id()
    bundle.config["hooks"] = {kind: [{"path": "/no/such/hook"}]}
    bundle.write(args=["true"])
    verb = ["create", "--bundle", str(bundle), cid] if kind != "startContainer" else ["start", cid]
    if kind == "startContainer":
        lading("create", "--bundle", str(bundle), cid)
    p = lading(*verb, check=False)
    assert p.returncode == 1
    assert f"{kind}[0] hook /no/such/hook failed with exit status 127: exec /no/such/hook:" in p.stderr
    if kind == "startContainer":
        lading("delete", cid)
    assert not (lading.root / cid).exists()


def test_hooks_do_not_inherit_the_runtime_fds(lading, bundle, tmp_path):
    rec = Recorder(tmp_path, bundle)
    probe = "ls /proc/self/fd | sort -n | tr '\\n' ' '"
    bundle.config["hooks"] = {kind: [rec.hook(kind, kind, probe)] for kind in KINDS}
    bundle.write(args=["true"])
    extra = os.open(tmp_path, os.O_RDONLY)  # inherited by the runtime, so open there without CLOEXEC
    try:
        lading("run", "--bundle", str(bundle), unique_id(), pass_fds=(extra,))
    finally:
        os.close(extra)
    for kind in KINDS:
        # 0-2, and 3: the directory ls itself reads
        assert rec.read(kind, "probe").split() == ["0", "1", "2", "3"], kind
