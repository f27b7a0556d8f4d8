"""The forked side of `exec`: from the runtime's fork to execve of the new process in the container.

The runtime's child is born in the container's PID namespace (the runtime set the one its
children are born in, see execute.py) and is the *process* itself. It enters the container's
cgroup (see cgroup_entry.py), closes every inherited handle on the host's files (see shield.py;
the runtime made itself non-dumpable before the fork), joins the container's other namespaces
through fds the runtime opened on /proc/INIT/ns/*, chroots to the container's root (the init's,
through /proc/INIT/root) and runs the same process pipeline as the init (launch.py), which execs
the program through the trampoline (lading.linux.trampoline).

Where the runtime may not enter the PID namespace for its children (a rootless runtime, which
has no privilege over it until it is in the container's user namespace), its child is *stage
1*: it does the same up to the joins, the PID namespace included, then forks the process,
reports its PID and exits.

An error before the execve is sent over the channel; the trampoline reports a failed execve on
the error pipe; a successful execve closes both (they are close-on-exec), which is how the
runtime learns the program started.

Namespaces are joined user namespace last: as the runtime's root, joining the others first works
whether they belong to the container's user namespace or to the host's (a network namespace made
by the engine, for instance), while from inside the container's user namespace only the former
could be joined. Everything is imported before fork: the container cannot see Python's library.
"""

from __future__ import annotations

import gc
import posix  # not os: runtime/store.py says why

from lading import log
from lading.linux import namespaces as ns
from lading.record import Record
from lading.runtime import launch, shield
from lading.runtime.sync import report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from lading.runtime.cgroup_entry import Entry
    from lading.runtime.launch import Launch
    from lading.runtime.sync import Channel


class Job(Record):
    """Everything the forked side needs, prepared by the runtime (execute.py) before the fork."""

    launch: Launch
    ns_fds: dict[str, int]  # /proc/INIT/ns/* of the namespaces to join, by kind
    root_fd: int  # /proc/INIT/root
    state_json: str  # the container's state, for a seccomp agent ("{}" without one)
    console_fd: int | None  # where the pty master goes (process.terminal)
    error_fd: int  # the trampoline reports a failed execve here


def child_main(job: Job, chan: Channel, cgroup: Entry, direct: bool) -> NoReturn:
    """Entry point of the forked child (the process itself when ``direct``, stage 1 otherwise);
    never returns."""
    gc.disable()  # as in runtime/init.py: no collection touches the runtime's pages before the execve
    try:
        _setup(job, chan, cgroup, direct)
    except BaseException as e:
        report(chan, e)
    posix._exit(1)


def _setup(job: Job, chan: Channel, cgroup: Entry, direct: bool) -> None:
    chan.forward_log("exec" if direct else "exec-stage-1")
    # our pid as the runtime sees it (/proc is still the host's)
    host_pid = int(posix.readlink("/proc/self")) if direct else 0
    cgroup.enter()
    keep = {chan.fileno(), job.error_fd, job.root_fd, *job.ns_fds.values(), *job.launch.keep_fds}
    if job.console_fd is not None:
        keep.add(job.console_fd)
    shield.enter(keep)
    joins = {kind: fd for kind, fd in job.ns_fds.items() if not (direct and kind == "pid")}
    _join(joins)
    log.debug("joined the container's namespaces: %s", " ".join(joins))
    if "user" in job.ns_fds:
        posix.setresgid(0, 0, 0)
        posix.setresuid(0, 0, 0)
    for fd in job.ns_fds.values():
        posix.close(fd)
    if direct:
        _process(job, host_pid)
    pid_r, pid_w = posix.pipe2(posix.O_CLOEXEC)
    pid = posix.fork()
    if pid == 0:
        posix.close(pid_w)
        try:
            host_pid = int(posix.read(pid_r, 32))
            posix.close(pid_r)
            chan.forward_log("exec")
            _process(job, host_pid)
        except BaseException as e:
            report(chan, e)
        posix._exit(1)
    posix.write(pid_w, str(pid).encode())
    chan.send("process", pid=pid)
    posix._exit(0)


def _join(fds: dict[str, int]) -> None:
    """setns into every namespace given, the user namespace last (see the module docstring);
    one refused for lack of privilege is tried again from inside the user namespace."""
    retry = []
    for kind, fd in fds.items():
        if kind == "user":
            continue
        try:
            ns.setns_fd(fd, kind)
        except PermissionError:
            retry.append(kind)
    if "user" in fds:
        ns.setns_fd(fds["user"], "user")
    for kind in retry:
        ns.setns_fd(fds[kind], kind)


def _process(job: Job, host_pid: int) -> NoReturn:
    posix.setsid()
    posix.fchdir(job.root_fd)
    posix.chroot(".")
    posix.close(job.root_fd)
    launch.open_terminal(job.launch, job.console_fd)
    ready = launch.prepare(job.launch)
    via = launch.become(job.launch, job.error_fd, job.state_json, host_pid)
    launch.start(job.launch, ready, via, job.state_json, host_pid)
