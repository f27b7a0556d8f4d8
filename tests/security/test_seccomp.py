"""seccomp profiles on the real kernel: every action, operator and flag, the notify hand-off to
an agent, and the error for each kind of bad profile. Filters are loaded in forked children."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import select
import signal
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lading import log
from lading.errors import LadingError
from lading.linux import capabilities as caps
from lading.linux import seccomp as sc
from lading.runtime import seccomp
from tests.security.default_profile import profile
from tests.security.support import Child, child_status, exec_in_child, in_child
from tests.security.support import seccomp as spec_seccomp
from tests.support import BUSYBOX

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def raw(name: str, *args: int) -> int:
    """Make a system call directly: its result, or -errno."""
    nr = sc.resolve_syscall(name)
    assert nr is not None and nr >= 0
    ctypes.set_errno(0)
    ret = int(_libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a) for a in args)))
    return -ctypes.get_errno() if ret == -1 else ret


def load(**profile_fields: Any) -> int | None:
    """prepare + load, the way the init does (no_new_privs first)."""
    caps.set_no_new_privs()
    return seccomp.load(seccomp.prepare(spec_seccomp(**profile_fields)))


def rule(names: list[str], action: str, **more: Any) -> dict[str, Any]:
    return {"names": names, "action": action, **more}


def test_features_lists_what_is_recognised_and_supported() -> None:
    f = seccomp.features()
    assert f["enabled"] is True
    assert f["actions"] == sorted(seccomp.ACTIONS)
    assert len(f["actions"]) == 9
    assert f["operators"] == [
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_LE",
        "SCMP_CMP_LT",
        "SCMP_CMP_MASKED_EQ",
        "SCMP_CMP_NE",
    ]
    assert "SCMP_ARCH_X86_64" in f["archs"] and "SCMP_ARCH_AARCH64" in f["archs"]
    assert all(sc.resolve_arch(a.removeprefix("SCMP_ARCH_").lower()) for a in f["archs"])
    assert f["knownFlags"] == sorted(seccomp.FLAGS)
    assert set(f["supportedFlags"]) <= set(f["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_LOG" in f["supportedFlags"]


def test_a_rule_makes_mkdir_fail_with_its_errno_while_everything_else_works(tmp_path: Path) -> None:
    def child() -> dict[str, object]:
        load(
            defaultAction="SCMP_ACT_ALLOW",
            syscalls=[rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", errnoRet=54)],
        )
        out: dict[str, object] = {}
        try:
            os.mkdir(tmp_path / "blocked")
        except OSError as e:
            out["mkdir"] = errno.errorcode[e.errno or 0]
        (tmp_path / "file").write_text("written")
        out["read"] = (tmp_path / "file").read_text()
        out["listdir"] = sorted(os.listdir(tmp_path))
        out["getppid"] = raw("getppid") == os.getppid()
        return out

    assert in_child(child) == {"mkdir": "EXFULL", "read": "written", "listdir": ["file"], "getppid": True}


@pytest.mark.parametrize(
    ("action", "errno_ret", "expected"),
    [
        ("SCMP_ACT_ERRNO", None, -errno.EPERM),
        ("SCMP_ACT_ERRNO", 54, -errno.EXFULL),
        ("SCMP_ACT_TRACE", None, -errno.ENOSYS),  # no tracer attached: the call fails with ENOSYS
        ("SCMP_ACT_TRACE", 7, -errno.ENOSYS),
        ("SCMP_ACT_LOG", None, "ppid"),
    ],
)
def test_actions_that_return(action: str, errno_ret: int | None, expected: object) -> None:
    extra = {} if errno_ret is None else {"errnoRet": errno_ret}

    def child() -> int:
        load(defaultAction="SCMP_ACT_ALLOW", syscalls=[rule(["getppid"], action, **extra)])
        return raw("getppid")

    assert in_child(child) == (os.getpid() if expected == "ppid" else expected)


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"])
def test_actions_that_kill(action: str) -> None:
    def child() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        load(defaultAction="SCMP_ACT_ALLOW", syscalls=[rule(["getppid"], action)])
        raw("getppid")

    status = child_status(child)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_default_action_and_default_errno() -> None:
    allow_list = profile(errno_ret=54)
    allow_list["syscalls"][0]["names"].remove("getppid")

    def child() -> tuple[int, int]:
        load(**allow_list)
        return raw("getppid"), raw("getpid")

    got_ppid, got_pid = in_child(child)
    assert got_ppid == -errno.EXFULL
    assert got_pid > 0


VALUES = (0, 4, 5, 6, 0x15, 0x25, 1 << 40 | 5)
OPS: dict[str, tuple[int, int, Callable[[int], bool]]] = {
    "SCMP_CMP_NE": (5, 0, lambda x: x != 5),
    "SCMP_CMP_LT": (5, 0, lambda x: x < 5),
    "SCMP_CMP_LE": (5, 0, lambda x: x <= 5),
    "SCMP_CMP_EQ": (5, 0, lambda x: x == 5),
    "SCMP_CMP_GE": (5, 0, lambda x: x >= 5),
    "SCMP_CMP_GT": (5, 0, lambda x: x > 5),
    "SCMP_CMP_MASKED_EQ": (0x0F, 5, lambda x: x & 0x0F == 5),  # value is the mask, valueTwo the datum
}


def blocked_umask_values(*args: dict[str, Any]) -> dict[int, bool]:
    """Which values of umask's first argument a rule with these args blocks (errno EXFULL)."""

    def child() -> dict[int, bool]:
        load(
            defaultAction="SCMP_ACT_ALLOW",
            syscalls=[rule(["umask"], "SCMP_ACT_ERRNO", errnoRet=54, args=list(args))],
        )
        return {v: raw("umask", v) == -errno.EXFULL for v in VALUES}

    return in_child(child)


@pytest.mark.parametrize("op", sorted(OPS))
def test_argument_operators(op: str) -> None:
    value, value_two, blocks = OPS[op]
    got = blocked_umask_values({"index": 0, "value": value, "valueTwo": value_two, "op": op})
    assert got == {v: blocks(v) for v in VALUES}


def test_conditions_on_one_argument_or_and_on_different_arguments_and() -> None:
    same = blocked_umask_values(
        {"index": 0, "value": 4, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 6, "op": "SCMP_CMP_EQ"}
    )
    assert [v for v, b in same.items() if b] == [4, 6]

    def child() -> list[bool]:
        args = [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]
        load(defaultAction="SCMP_ACT_ALLOW", syscalls=[rule(["umask"], "SCMP_ACT_ERRNO", args=args)])
        return [
            raw("umask", 5, 1) == -errno.EPERM,
            raw("umask", 5, 0) == -errno.EPERM,
            raw("umask", 4, 1) == -errno.EPERM,
        ]

    assert in_child(child) == [True, False, False]


def test_unknown_syscalls_are_skipped_with_a_debug_message(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure(None, debug=True)
    try:
        f = seccomp.prepare(
            spec_seccomp(defaultAction="SCMP_ACT_ALLOW", syscalls=[rule(["no_such_call", "mkdir"], "SCMP_ACT_ERRNO")])
        )
    finally:
        log.configure(None)
    assert f.program
    err = capsys.readouterr().err
    where = "config.json: $.linux.seccomp.syscalls[0].names"
    assert f'level=debug msg="seccomp: ignoring unknown syscall \\"no_such_call\\" ({where})"' in err


def test_rules_with_the_default_action_and_other_arch_syscalls_are_accepted() -> None:
    f = seccomp.prepare(
        spec_seccomp(
            defaultAction="SCMP_ACT_ERRNO",
            syscalls=[
                rule(["getppid"], "SCMP_ACT_ERRNO"),
                rule(["socketcall", "arm_fadvise64_64"], "SCMP_ACT_ALLOW"),
            ],
        )
    )
    assert f.program and not f.notifies


@pytest.mark.parametrize("flag", sorted(seccomp.FLAGS))
def test_flags(flag: str) -> None:
    if flag not in seccomp.features()["supportedFlags"]:
        pytest.skip(f"{flag} is not supported by this kernel")
    syscalls = [rule(["getppid"], "SCMP_ACT_ERRNO")]
    f = seccomp.prepare(spec_seccomp(defaultAction="SCMP_ACT_ALLOW", flags=[flag], syscalls=syscalls))
    if flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
        assert f.flags == 0  # only meaningful with a notify listener; dropped otherwise
    else:
        assert f.flags == seccomp.FLAGS[flag]

    def child() -> int:
        caps.set_no_new_privs()
        seccomp.load(f)
        return raw("getppid")

    assert in_child(child) == -errno.EPERM


def test_architectures_are_added_to_the_filter() -> None:
    native = seccomp.prepare(spec_seccomp(defaultAction="SCMP_ACT_ALLOW", syscalls=[rule(["mkdir"], "SCMP_ACT_ERRNO")]))
    multi = seccomp.prepare(
        spec_seccomp(
            defaultAction="SCMP_ACT_ALLOW",
            architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
            syscalls=[rule(["mkdir"], "SCMP_ACT_ERRNO")],
        )
    )
    assert len(multi.program) > len(native.program)

    def child() -> int:
        seccomp.load(multi)
        return raw("mkdir", 0)

    assert in_child(child) == -errno.EPERM


def prepare_error(**fields: Any) -> str:
    with pytest.raises(LadingError) as e:
        seccomp.prepare(spec_seccomp(**fields))
    return str(e.value)


def test_bad_profiles_fail_with_the_json_path() -> None:
    allow = "SCMP_ACT_ALLOW"
    assert prepare_error(defaultAction=allow, syscalls=[rule(["mkdir"], allow, errnoRet=1)]) == (
        "config.json: $.linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_ALLOW does not take an errno "
        "(only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"
    )
    assert prepare_error(defaultAction="SCMP_ACT_KILL", defaultErrnoRet=1) == (
        "config.json: $.linux.seccomp.defaultErrnoRet: SCMP_ACT_KILL does not take an errno "
        "(only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"
    )
    assert prepare_error(defaultAction=allow, syscalls=[rule(["a"], "SCMP_ACT_ERRNO", errnoRet=70000)]) == (
        "config.json: $.linux.seccomp.syscalls[0].errnoRet: 70000 is not an errno (0-65535)"
    )
    args = [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]
    assert prepare_error(
        defaultAction=allow, syscalls=[rule(["x"], "SCMP_ACT_LOG"), rule(["a"], "SCMP_ACT_KILL", args=args)]
    ) == ("config.json: $.linux.seccomp.syscalls[1].args[1].index: 6 is not a syscall argument index (0-5)")
    assert prepare_error(defaultAction="SCMP_ACT_NOTIFY", listenerPath="/x") == (
        "config.json: $.linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
    )
    assert prepare_error(defaultAction=allow, syscalls=[rule(["mkdir"], "SCMP_ACT_NOTIFY")]) == (
        "config.json: $.linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY needs $.linux.seccomp.listenerPath"
    )
    assert prepare_error(
        defaultAction=allow,
        listenerPath="/x",
        syscalls=[rule(["sendmsg", "write", "mkdir"], "SCMP_ACT_NOTIFY")],
    ) == (
        "config.json: $.linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY cannot be used for the write syscall: "
        "the runtime makes it after loading the filter, before any agent can answer"
    )


def test_an_architecture_libseccomp_lacks_is_named() -> None:
    missing = [a for a in seccomp.ARCHES if sc.resolve_arch(a.removeprefix("SCMP_ARCH_").lower()) is None]
    if not missing:
        pytest.skip("the installed libseccomp knows every architecture")
    version = ".".join(map(str, sc.version()))
    assert prepare_error(defaultAction="SCMP_ACT_ALLOW", architectures=["SCMP_ARCH_X86", missing[0]]) == (
        f"config.json: $.linux.seccomp.architectures[1]: "
        f"{missing[0]} is not supported by the installed libseccomp {version}"
    )


def test_loading_without_no_new_privs_or_cap_sys_admin_fails_clearly() -> None:
    f = seccomp.prepare(spec_seccomp(defaultAction="SCMP_ACT_ALLOW", syscalls=[rule(["mkdir"], "SCMP_ACT_ERRNO")]))

    def child() -> None:
        os.setresuid(1000, 1000, 1000)
        seccomp.load(f)

    with pytest.raises(LadingError) as e:
        in_child(child)
    assert str(e.value) == (
        "cannot load the seccomp filter: Permission denied (without noNewPrivileges it needs CAP_SYS_ADMIN)"
    )


# --- SCMP_ACT_NOTIFY: a seccomp agent in the test ------------------------------------------------

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif) (80 bytes)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp) (24 bytes)
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
_NOTIF = struct.Struct("=QIIiIQ6Q")  # id, pid, flags, data.nr, data.arch, data.ip, data.args[6]
_RESP = struct.Struct("=QqiI")  # id, val, error, flags


class Agent:
    """A seccomp agent: listens on a unix socket, takes the notify fd, answers syscalls."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        self.server.settimeout(20)
        self.notify_fd = -1

    def accept(self) -> dict[str, Any]:
        """Take one connection: the container process state (JSON) and the fd sent with it."""
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(20)
            data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
            while chunk := conn.recv(65536):
                data += chunk
        assert len(fds) == 1, fds
        self.notify_fd = fds[0]
        state: dict[str, Any] = json.loads(data)
        return state

    def answer(self, respond: Any) -> dict[str, int]:
        """Receive one notification and respond with respond(notification) -> (val, error, flags)."""
        poll = select.poll()
        poll.register(self.notify_fd, select.POLLIN)
        assert poll.poll(20_000), "no notification arrived"
        buf = bytearray(_NOTIF.size)
        import fcntl

        fcntl.ioctl(self.notify_fd, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
        nid, pid, _flags, nr, _arch, _ip, *_args = _NOTIF.unpack(buf)
        note = {"id": nid, "pid": pid, "nr": nr}
        val, error, flags = respond(note)
        fcntl.ioctl(self.notify_fd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(_RESP.pack(nid, val, error, flags)), True)
        return note

    def close(self) -> None:
        if self.notify_fd >= 0:
            os.close(self.notify_fd)
        self.server.close()


def test_a_notify_agent_gets_the_fd_and_the_state_and_answers_syscalls(tmp_path: Path) -> None:
    agent = Agent(tmp_path / "agent.sock")
    flags = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"] if sc.flag_supported(sc.FILTER_FLAG_WAIT_KILLABLE_RECV) else []
    f = seccomp.prepare(
        spec_seccomp(
            defaultAction="SCMP_ACT_ALLOW",
            listenerPath=agent.path,
            listenerMetadata="MKDIR=fake",
            flags=flags,
            syscalls=[rule(["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY")],
        )
    )
    assert f.notifies and f.listener_path == agent.path
    state = json.dumps({"ociVersion": "1.3.0", "id": "c1", "status": "running", "pid": 42, "bundle": "/b"})

    def child() -> list[str]:
        caps.set_no_new_privs()
        fd = seccomp.load(f)
        assert fd is not None
        seccomp.send_notify_fd(f.listener_path, fd, seccomp.container_process_state(state.encode(), 42, "MKDIR=fake"))
        os.close(fd)
        out = []
        for name in ("refused", "faked", "real"):
            try:
                os.mkdir(tmp_path / name)
                out.append(f"{name}: ok")
            except OSError as e:
                out.append(f"{name}: {errno.errorcode[e.errno or 0]}")
        return out

    try:
        c = Child(child)
        got = agent.accept()
        assert got == {
            "ociVersion": "1.3.0",
            "fds": ["seccompFd"],
            "pid": 42,
            "metadata": "MKDIR=fake",
            "state": json.loads(state),
        }
        mkdir = sc.resolve_syscall("mkdir")
        mkdirat = sc.resolve_syscall("mkdirat")
        answers = [(0, -errno.EXFULL, 0), (0, 0, 0), (0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)]
        for answer in answers:
            note = agent.answer(lambda _n, a=answer: a)
            assert note["pid"] == c.pid and note["nr"] in (mkdir, mkdirat)
        assert c.result() == ["refused: EXFULL", "faked: ok", "real: ok"]
    finally:
        agent.close()
    assert sorted(os.listdir(tmp_path)) == ["agent.sock", "real"]


def test_sending_to_a_missing_listener_fails_clearly(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(LadingError) as e:
            seccomp.send_notify_fd(str(tmp_path / "nobody"), r, b"{}")
    finally:
        os.close(r)
        os.close(w)
    assert (
        str(e.value) == "config.json: $.linux.seccomp.listenerPath: failed to connect with seccomp agent at "
        f"{tmp_path}/nobody: No such file or directory"
    )


# --- a podman-style default profile ----------------------------------------------------------------


def test_a_default_profile_loads_and_a_shell_runs_under_it(tmp_path: Path) -> None:
    start = time.perf_counter()
    f = seccomp.prepare(spec_seccomp(**profile()))
    prepared = time.perf_counter()

    def setup() -> None:
        caps.set_no_new_privs()
        t = time.perf_counter()
        seccomp.load(f)
        os.write(2, f"load: {(time.perf_counter() - t) * 1000:.2f} ms\n".encode())

    d = tmp_path
    script = f"echo hello > {d}/f && cat {d}/f && mkdir {d}/d && ls {d}; mount -t tmpfs none {d}/d"
    code, out, err = exec_in_child(setup, [BUSYBOX, "sh", "-c", script])
    took = f"prepare {(prepared - start) * 1000:.2f} ms; {err.splitlines()[0]}"
    print(f"default profile: {len(f.program) // 8} BPF instructions, {took}")
    assert out == "hello\nd\nf\n"
    assert code != 0 and "mount: permission denied" in err  # EPERM: mount is not in the allow list
