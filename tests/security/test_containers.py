"""The security settings inside real containers, through `lading run` and `lading create`."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lading.linux import capabilities as caps
from lading.linux import seccomp as sc
from tests.conftest import Bundle
from tests.security.default_profile import profile
from tests.security.support import status_caps
from tests.security.test_seccomp import SECCOMP_USER_NOTIF_FLAG_CONTINUE, Agent
from tests.support import Lading, lading_argv, lading_env


def mask(*names: str) -> int:
    return caps.mask(caps.NUMBERS[n] for n in names)


def run(lading: Lading, bundle: Bundle, cid: str, *args: str, **process: Any) -> subprocess.CompletedProcess[str]:
    bundle.write(args=list(args), **process)
    return lading("run", "--bundle", str(bundle), cid, check=False)


def test_the_default_capabilities_of_a_root_container(lading: Lading, bundle: Bundle) -> None:
    p = run(lading, bundle, "caps-root", "grep", "Cap", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    want = mask("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert status_caps(p.stdout) == {"CapInh": 0, "CapPrm": want, "CapEff": want, "CapBnd": want, "CapAmb": 0}


def test_ambient_capabilities_reach_a_non_root_container_process(lading: Lading, bundle: Bundle) -> None:
    wanted = ["CAP_CHOWN", "CAP_NET_RAW", "CAP_FOO"]
    sets = {s: wanted for s in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    p = run(
        lading,
        bundle,
        "caps-amb",
        "sh",
        "-c",
        "id -u; grep Cap /proc/self/status",
        user={"uid": 1000, "gid": 1000},
        capabilities=sets,
    )
    assert p.returncode == 0, p.stderr
    uid, rest = p.stdout.split("\n", 1)
    assert uid == "1000"
    want = mask("CAP_CHOWN", "CAP_NET_RAW")
    assert status_caps(rest) == {
        "CapInh": want,
        "CapPrm": want,
        "CapEff": want,
        "CapBnd": want,
        "CapAmb": want,
    }
    assert "ignoring unknown or unavailable capabilities: CAP_FOO" in p.stderr


def test_no_capabilities_object_means_no_capabilities(lading: Lading, bundle: Bundle) -> None:
    del bundle.config["process"]["capabilities"]
    p = run(lading, bundle, "caps-none", "grep", "Cap", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    assert set(status_caps(p.stdout).values()) == {0}


def test_a_dropped_capability_fails_while_a_kept_one_works(lading: Lading, bundle: Bundle) -> None:
    (bundle.rootfs / "home" / "f").write_text("")
    import os

    os.chown(bundle.rootfs / "home" / "f", 1000, 1000)
    bundle.config["root"]["readonly"] = False
    sets = {s: ["CAP_FOWNER"] for s in ("bounding", "effective", "permitted")}
    p = run(
        lading,
        bundle,
        "caps-drop",
        "sh",
        "-c",
        "chown 0:0 /home/f; echo $?; chmod 600 /home/f; echo $?",
        capabilities=sets,
    )
    assert (p.returncode, p.stdout) == (0, "1\n0\n"), p.stderr
    assert "Operation not permitted" in p.stderr


def test_rlimits_inside_the_container(lading: Lading, bundle: Bundle) -> None:
    limits = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1},
    ]
    p = run(lading, bundle, "rlim", "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -Hc", rlimits=limits)
    assert (p.returncode, p.stdout) == (0, "512\n1024\nunlimited\n"), p.stderr


def test_an_rlimit_the_runtime_cannot_raise_fails_create(lading: Lading, bundle: Bundle) -> None:
    """As with runc, the limits are set before the init reports ready, so create fails."""
    if caps.capget().effective >> caps.NUMBERS["CAP_SYS_RESOURCE"] & 1:
        pytest.skip("lading may raise hard limits here")
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_MEMLOCK is unlimited here")
    bundle.write(args=["true"], rlimits=[{"type": "RLIMIT_MEMLOCK", "soft": hard, "hard": hard + 4096}])
    p = lading("create", "--bundle", str(bundle), "rlim-eperm", check=False)
    assert p.returncode == 1
    assert (
        f"cannot set RLIMIT_MEMLOCK to soft {hard}, hard {hard + 4096} (now soft {soft}, hard {hard}): "
        "raising the hard limit needs CAP_SYS_RESOURCE"
    ) in p.stderr
    assert lading("list", "--quiet").stdout == ""


def test_a_seccomp_rule_fails_mkdir_with_its_errno(lading: Lading, bundle: Bundle) -> None:
    bundle.config["root"]["readonly"] = False
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["mkdir", "mkdirat", "no_such_syscall"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EXFULL,
            }
        ],
    }
    p = run(lading, bundle, "sc-mkdir", "sh", "-c", "mkdir /tmp/x; echo $?; echo fine > /tmp/y; cat /tmp/y")
    assert (p.returncode, p.stdout) == (0, "1\nfine\n"), p.stderr
    assert "mkdir: can't create directory '/tmp/x': Exchange full" in p.stderr


def test_a_default_profile_in_a_container(lading: Lading, bundle: Bundle) -> None:
    bundle.config["linux"]["seccomp"] = profile()
    p = run(lading, bundle, "sc-default", "sh", "-c", "echo ok; ls /bin/busybox; mount -t tmpfs none /mnt")
    assert p.stdout == "ok\n/bin/busybox\n", p.stderr
    assert p.returncode != 0 and "permission denied" in p.stderr


def notify_on_mkdir(bundle: Bundle, tmp_path: Path, **seccomp: str) -> Agent:
    """An agent the container's mkdir calls go to (a writable root, so that they can succeed)."""
    agent = Agent(tmp_path / "agent.sock")
    bundle.config["root"]["readonly"] = False
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": agent.path,
        **seccomp,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    return agent


def test_a_notify_agent_answers_for_the_container(lading: Lading, bundle: Bundle, tmp_path: Path) -> None:
    agent = notify_on_mkdir(bundle, tmp_path, listenerMetadata="tenant=7")
    bundle.write(args=["sh", "-c", "mkdir /tmp/a; echo $?; mkdir /tmp/b; echo $?; ls /tmp"])
    argv = [*lading_argv(), "--root", str(lading.root), "run", "--bundle", str(bundle), "sc-notify"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=lading_env())
    try:
        got = agent.accept()
        mkdirs = {sc.resolve_syscall("mkdir"), sc.resolve_syscall("mkdirat")}

        def refuse(note: dict[str, int]) -> tuple[int, int, int]:
            status = Path(f"/proc/{note['pid']}/status").read_text()  # blocked in mkdir: still there
            note["ppid"] = int(next(ln for ln in status.splitlines() if ln.startswith("PPid:")).split()[1])
            return 0, -errno.EXFULL, 0

        first = agent.answer(refuse)
        second = agent.answer(lambda _n: (0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        agent.close()
    assert {first["nr"], second["nr"]} <= mkdirs
    assert (proc.returncode, out) == (0, "1\n0\nb\n"), err
    state = got.pop("state")
    assert got == {"ociVersion": "1.3.0", "fds": ["seccompFd"], "pid": state["pid"], "metadata": "tenant=7"}
    assert state["id"] == "sc-notify" and state["bundle"] == str(bundle) and state["status"] == "running"
    assert state["pid"] in (first["pid"], first["ppid"])  # the shell, or the mkdir it forked


def test_an_exec_gives_the_agent_the_container_state(lading: Lading, bundle: Bundle, tmp_path: Path) -> None:
    agent = notify_on_mkdir(bundle, tmp_path)
    bundle.write(args=["sleep", "1000"])
    argv = [*lading_argv(), "--root", str(lading.root)]
    exec_ = None
    try:
        lading("run", "-d", "--bundle", str(bundle), "sc-exec")
        init = lading.state("sc-exec")["pid"]
        assert agent.accept()["pid"] == init  # the init's filter, loaded at start
        os.close(agent.notify_fd)
        exec_ = subprocess.Popen([*argv, "exec", "sc-exec", "mkdir", "/tmp/x"], env=lading_env(), text=True)
        got = agent.accept()
        agent.answer(lambda _n: (0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE))
        assert exec_.wait(timeout=30) == 0
    finally:
        if exec_ is not None and exec_.poll() is None:
            exec_.kill()
            exec_.wait()
        agent.close()
        lading("delete", "--force", "sc-exec")
    state = got["state"]
    assert (state["id"], state["status"], state["pid"], state["bundle"]) == ("sc-exec", "running", init, str(bundle))
    assert got["pid"] != init  # the exec'd process


@pytest.mark.parametrize(
    ("seccomp", "message"),
    [
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}] * 3
                + [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}],
            },
            '{bundle}/config.json: $.linux.seccomp.syscalls[3].action: unknown seccomp action "SCMP_ACT_FOO"',
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_FOO"]},
            '{bundle}/config.json: $.linux.seccomp.architectures[1]: unknown seccomp architecture "SCMP_ARCH_FOO"',
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["umask"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}],
                    }
                ],
            },
            '{bundle}/config.json: $.linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator "SCMP_CMP_FOO"',
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["umask"], "action": "SCMP_ACT_LOG", "errnoRet": 1}],
            },
            "config.json: $.linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_LOG does not take an errno "
            "(only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)",
        ),
    ],
)
def test_bad_profiles_fail_create_with_the_json_path(
    lading: Lading, bundle: Bundle, seccomp: dict[str, Any], message: str
) -> None:
    bundle.config["linux"]["seccomp"] = seccomp
    bundle.write()
    p = lading("create", "--bundle", str(bundle), "bad", check=False)
    assert p.returncode == 1
    assert p.stderr == message.replace("{bundle}", str(bundle)) + "\n"


def test_an_apparmor_profile_on_a_host_without_apparmor_fails_create(lading: Lading, bundle: Bundle) -> None:
    from lading.runtime import lsm

    if lsm.apparmor_enabled():
        pytest.skip("the host has AppArmor")
    bundle.write(apparmorProfile="docker-default")
    p = lading("create", "--bundle", str(bundle), "aa", check=False)
    assert (p.returncode, p.stderr) == (
        1,
        'config.json: $.process.apparmorProfile: "docker-default" cannot be applied: '
        "AppArmor is not enabled on this host\n",
    )


def test_a_created_init_is_already_the_containers_user(runtime: Lading, bundle: Bundle, cid: str) -> None:
    """Calibrated on runc 1.1.5: the init switches user, groups and capabilities before it waits
    on exec.fifo, so a created container's init shows them, and start only releases it."""
    kill = ["CAP_KILL"]
    bundle.config["process"]["capabilities"] = {"bounding": kill, "effective": kill, "permitted": kill}
    bundle.write(args=["sleep", "100"], user={"uid": 1000, "gid": 1000, "additionalGids": [10]})
    runtime("create", "--bundle", str(bundle), cid)
    status = Path(f"/proc/{runtime.state(cid)['pid']}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    assert fields["Uid"].split() == ["1000"] * 4 and fields["Gid"].split() == ["1000"] * 4
    assert fields["Groups"].split() == ["10"]
    sets = status_caps(status)
    assert (sets["CapEff"], sets["CapPrm"], sets["CapBnd"]) == (mask("CAP_KILL"),) * 3
    runtime("start", cid)
    assert runtime.state(cid)["status"] == "running"
    runtime("delete", "--force", cid)
