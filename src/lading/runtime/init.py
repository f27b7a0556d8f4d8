"""The container's init process, from fork to execve of the user program.

Process model (see docs/architecture.md): the runtime forks *stage 1*, which joins or creates the
user namespace, is placed in the container's cgroup by the runtime, joins the namespaces given by
path and unshares the new ones. Because a new PID (and time) namespace only applies to children,
stage 1 forks the *init*, PID 1 of the container, reports its PID and exits. The init builds the
rootfs, lets the runtime run the createRuntime hooks, runs createContainer hooks, pivots, runs the
first half of the process pipeline (launch.py: terminal, environment, cwd, executable, rlimits)
and reports ready; then it blocks on exec.fifo until ``start`` opens the other end, and runs the
second half (credentials, startContainer hooks, seccomp, execve).

All code here runs after fork in a copy of the runtime, with everything it needs already imported:
after pivot_root Python's standard library is no longer reachable on disk.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import TYPE_CHECKING, NoReturn

from lading.errors import LadingError
from lading.linux import keyring, netdev
from lading.linux import namespaces as ns
from lading.linux.libc import check, libc
from lading.runtime import hooks, launch, process, rootfs, shield
from lading.runtime.sync import Channel, report

if TYPE_CHECKING:
    from lading.runtime.plan import Plan

_FATAL_WHILE_WAITING = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def child_main(plan: Plan, chan: Channel, console_fd: int | None, close: list[int]) -> NoReturn:
    """Entry point of the forked child; never returns. ``close``: the runtime's fds it must not keep."""
    try:
        for fd in close:
            os.close(fd)
        _stage1(plan, chan, console_fd)
    except BaseException as e:  # report the failure to the runtime, then die
        report(chan, e)
    os._exit(1)


def _stage1(plan: Plan, chan: Channel, console_fd: int | None) -> None:
    keep = {chan.fileno(), *plan.launch.keep_fds}
    if console_fd is not None:
        keep.add(console_fd)
    shield.enter(keep)
    if plan.userns_path:
        ns.setns(plan.userns_path, ns.CLONE_NEWUSER)
    elif plan.new_userns:
        ns.unshare(ns.CLONE_NEWUSER)
    chan.send("stage1", pid=os.getpid())
    chan.expect("go")
    if plan.new_userns or plan.userns_path:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    for path, flag in plan.join:
        ns.setns(path, flag)
    ns.unshare(plan.unshare_flags)
    if plan.time_offsets:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(plan.time_offsets)
    # The init speaks on the same channel: it waits for stage 1 to exit (closing ``reported``)
    # so that the runtime always hears "init" before anything the init says.
    waiting, reported = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reported)
            os.read(waiting, 1)
            os.close(waiting)
            _init(plan, chan, console_fd)
        except BaseException as e:
            report(chan, e)
        os._exit(1)
    chan.send("init", pid=pid)
    os._exit(0)


def _init(plan: Plan, chan: Channel, console_fd: int | None) -> NoReturn:
    spec = plan.spec
    host_pid = int(os.readlink("/proc/self"))  # our pid as the runtime sees it (/proc is still the host's)
    os.setsid()
    if plan.new_keyring:
        keyring.join_new_session_keyring(f"_ses.{plan.cid}")
    for sig in _FATAL_WHILE_WAITING:  # a created container must die on TERM like runc's init
        signal.signal(sig, lambda signum, _frame: os._exit(128 + signum))
    if plan.new_uts:
        if spec.hostname is not None:
            socket.sethostname(spec.hostname)
        if spec.domainname is not None:
            name = spec.domainname.encode()
            check(libc.setdomainname(name, len(name)), "setdomainname")
    if plan.new_net:
        netdev.set_up("lo")
    fifo_fd = os.open(plan.fifo_path, os.O_PATH | os.O_CLOEXEC)
    rootfs.prepare(
        spec,
        plan.rootfs,
        plan.bundle,
        plan.new_userns or bool(plan.userns_path),
        own_cgroupns=bool(plan.unshare_flags & ns.CLONE_NEWCGROUP),
    )
    chan.send("hooks")
    chan.expect("hooks-done")
    # Hooks in the container get the pid as the container sees it (runtime.md "State"), and when
    # they give no env, the process's (as in runc; HOME only after pivot_root, from the
    # container's /etc/passwd).
    create_hooks = plan.hooks.get("createContainer")
    hooks.run(
        "createContainer", create_hooks, plan.state_json("creating", os.getpid()), process.parse_env(plan.process)
    )
    rootfs.pivot(plan.rootfs, plan.no_pivot)
    for key, value in plan.sysctl.items():  # before readonlyPaths seal /proc/sys
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    rootfs.finish(spec)
    if plan.process.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(plan.process.oom_score_adj))
    ready = launch.prepare(plan.launch, console_fd)  # as runc: a limit that cannot be set fails create
    chan.send("ready")
    chan.close()
    # Block until `start` opens the fifo for reading: this is the "created" state. From then on a
    # failure is written to the fifo for `start` to report; a successful execve closes it (CLOEXEC).
    fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.close(fifo_fd)

    def start_hooks(env: dict[str, str]) -> None:
        hooks.run("startContainer", plan.hooks.get("startContainer"), plan.state_json("created", os.getpid()), env)

    try:
        launch.start(plan.launch, ready, fd, plan.state_json("running", host_pid), host_pid, start_hooks)
    except BaseException as e:
        msg = str(e) if isinstance(e, LadingError) else (getattr(e, "strerror", None) or str(e))
        os.write(fd, msg.encode(errors="replace"))
    os._exit(127)
