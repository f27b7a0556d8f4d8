"""`exec`: start another process in an existing container, the runtime's side.

The runtime checks the container's status (running or created; paused only with
``--ignore-paused``), builds the process (exec_process.py), validates its security settings, and
opens handles on the init's namespaces and root before forking, re-checking afterwards that the
init is still the same process so a reused PID cannot redirect the join. The fork (see
exec_init.py) enters every hierarchy of the container's cgroup before it joins anything
(runtime/cgroup_entry.py).

In the foreground, lading is a child subreaper, as runc is (the new process is a grandchild where
a stage 1 forks it), forwards signals to the process, proxies its terminal when it has one and
no console socket was given, and exits with its status (128+N when it was killed by signal N).
With ``--detach`` it returns as soon as the program has been exec'd, after writing its host PID
to ``--pid-file``: this is how podman and containerd always call it.
"""

from __future__ import annotations

import _socket
import posix  # not os: runtime/store.py says why

from lading import jsonlite, log
from lading.errors import LadingError
from lading.linux import namespaces as ns
from lading.linux import prctl, signals, trampoline
from lading.linux import process as proc_
from lading.linux.files import read_to_end
from lading.linux.userns import setgroups_allowed
from lading.record import Record
from lading.runtime import cgroup_entry, lifecycle, process_attrs, security
from lading.runtime import process as process_
from lading.runtime.cgroups import ContainerCgroup
from lading.runtime.exec_init import Job
from lading.runtime.exec_process import ProcessFlags, from_file, from_flags
from lading.runtime.launch import Launch, load_console
from lading.runtime.sync import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.runtime.cgroup_entry import Entry
    from lading.runtime.container_state import ContainerState
    from lading.runtime.store import Store
    from lading.spec.runtime_config import Process, Spec


class ExecOptions(Record):
    flags: ProcessFlags = ProcessFlags()
    process_file: str | None = None
    console_socket: str | None = None
    detach: bool = False
    pid_file: str | None = None
    preserve_fds: int = 0
    ignore_paused: bool = False
    # sub-cgroups to run in instead of the container's own: v1 controller (or "" for all) -> path
    sub_cgroups: dict[str, str] = {}  # noqa: RUF012  # a Record default, never mutated


def execute(store: Store, cid: str, opts: ExecOptions) -> int:
    """Run the process; its exit status in the foreground, 0 once it started when detached."""
    keep_fds = process_.kept_fds(process_.listen_fds_passed(), opts.preserve_fds)  # before this process opens any fd
    state = store.load(cid)
    status = lifecycle.status(store, cid, state)
    if status == "stopped":
        raise LadingError(f"cannot exec in a stopped container: {cid}")
    if status == "paused" and not opts.ignore_paused:
        raise LadingError(f"cannot exec in a paused container (use --ignore-paused to override): {cid}")
    spec = _recorded_spec(cid, state)
    if opts.process_file:
        process = from_file(opts.process_file)
    elif spec.process is None:
        raise LadingError(f"container {cid} has no process to take defaults from: use --process")
    else:
        process = from_flags(spec.process, opts.flags)
    _check_terminal(process, opts)
    sec = security.prepare(process, spec.linux, store.seccomp_cache())

    init_pid, started = state.pid, state.pid_start_time
    ns_fds = ns.open_other(init_pid)
    fds = list(ns_fds.values())
    ours: _socket.socket | None = None
    forwarder: Forwarder | None = None
    try:
        root_fd = posix.open(f"/proc/{init_pid}/root", posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC)
        fds.append(root_fd)
        if not proc_.is_alive(init_pid, started):
            raise LadingError(f"cannot exec in a stopped container: {cid}")
        to_launch = Launch(
            process=process,
            security=sec,
            keep_fds=keep_fds,
            extra_env={},
            allow_setgroups=setgroups_allowed(str(init_pid)),
            attrs=process_attrs.prepare(process, spec.linux),
            bind_dev_console=False,
        )
        console_fd: int | None = None
        if process.terminal:
            if opts.console_socket:
                from lading.runtime import console  # the terminal's module, which the process needs too

                console_fd = console.connect(opts.console_socket)
            else:
                ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
                console_fd = theirs.detach()
            fds.append(console_fd)
            load_console()
        if not opts.detach:
            prctl.set_child_subreaper()
            forwarder = Forwarder()
        cgroup = _cgroup(cid, state, opts.sub_cgroups)
        errors, error_fd = posix.pipe2(posix.O_CLOEXEC)
        # the container's state goes only to a seccomp agent (making it loads the hooks module)
        agent = sec.seccomp is not None and bool(sec.seccomp.listener_path)
        job = Job(to_launch, ns_fds, root_fd, state.hook_state(status) if agent else "{}", console_fd, error_fd)
        pid = _start(job, errors, cgroup, init_pid, reap=not opts.detach)
        # detached, it is no child of ours: its start time names it if it must be killed below
        started_at = proc_.start_time(pid) if opts.detach else None
    except BaseException:
        if ours is not None:
            ours.close()
        raise
    finally:
        for fd in fds:
            posix.close(fd)
    master: int | None = None
    try:
        if ours is not None:
            from lading.runtime import terminal

            master = terminal.receive_master(ours)
            ours.close()
        if opts.pid_file:
            from lading.runtime import pid_file

            pid_file.write(opts.pid_file, pid)
    except BaseException:
        if master is not None:
            posix.close(master)
        if not opts.detach:
            posix.kill(pid, signals.SIGKILL)
            posix.waitpid(pid, 0)
        elif started_at is not None:  # as runc: a process whose pid file failed is not left running
            proc_.send_signal(pid, started_at, signals.SIGKILL)
            proc_.wait_gone(pid, started_at)
        raise
    if forwarder is None:
        return 0
    return _wait(pid, master, forwarder)


def _start(job: Job, errors: int, cgroup: ContainerCgroup | None, init_pid: int, reap: bool) -> int:
    """Fork the process (or a stage 1 that forks it, see exec_init.py) and return its host PID
    once the program was exec'd. ``errors`` is the read end of ``job.error_fd``; both are closed
    here. ``reap``: the process is reaped if it fails (a detached stage 1's is not our child)."""
    parent, child = Channel.pair()
    try:
        direct, pid, entry = _fork(job, cgroup, init_pid)
        if pid == 0:
            from lading.runtime.exec_init import child_main

            parent.close()
            child_main(job, child, entry, direct)
        child.close()
        posix.close(job.error_fd)
        try:
            if direct:
                log.debug(
                    "exec: the process is %d, in its PID namespace (no stage 1), born in its cgroup2 directory: %s",
                    pid,
                    entry.born_in_v2,
                )
            else:
                log.debug("exec: forked stage-1 (%d), born in its cgroup2 directory: %s", pid, entry.born_in_v2)
                pid = _from_stage1(parent, pid)
                log.debug("exec: the process is %d", pid)
            msg = parent.recv()  # end of file: the trampoline was exec'd (the channel is close-on-exec)
        except BaseException:
            if direct:  # our child: its pid cannot be reused until it is reaped
                posix.kill(pid, signals.SIGKILL)
                posix.waitpid(pid, 0)
            raise
        error = msg["msg"] if msg["type"] == "error" else read_to_end(errors)
        if error:
            if reap or direct:
                posix.waitpid(pid, 0)
            raise LadingError(trampoline.describe(error) if isinstance(error, bytes) else error)
        return pid
    finally:
        parent.close()
        child.close()
        posix.close(errors)


def _fork(job: Job, cgroup: ContainerCgroup | None, init_pid: int) -> tuple[bool, int, Entry]:
    """(whether the child is the process itself, the pid as posix.fork returns it, how it enters
    the cgroup). A PID namespace only applies to children, so the runtime sets the one its
    children are born in to the container's for the fork and back (the child is then the
    process: nothing of the container's needs a fork any more), where it may; where it may not
    (a rootless runtime), the child is a stage 1. The runtime is made non-dumpable first: its
    child is in the container's PID namespace, where the container's processes can see it, from
    birth (shield.py says why that matters)."""
    pid_ns = job.ns_fds.get("pid")
    back = ns.children_into_pid_namespace(pid_ns) if pid_ns is not None else None
    if pid_ns is not None and back is None:
        pid, entry = cgroup_entry.fork(cgroup, job.launch.attrs, init_pid)
        return False, pid, entry
    prctl.set_dumpable(False)
    pid = -1
    try:
        pid, entry = cgroup_entry.fork(cgroup, job.launch.attrs, init_pid)
    finally:
        if back is not None and pid != 0:
            ns.setns_fd(back, "pid")
            posix.close(back)
    return True, pid, entry


def _from_stage1(parent: Channel, stage1: int) -> int:
    """The host PID of the process stage 1 forked, once it said so; stage 1 reaped."""
    try:
        pid: int = parent.expect("process")["pid"]
    except BaseException:
        posix.kill(stage1, signals.SIGKILL)  # still our unreaped child: the pid cannot be reused
        raise
    finally:
        posix.waitpid(stage1, 0)
    return pid


class Forwarder:
    """Signal handlers installed before the process exists, so a signal sent to `lading exec`
    right after the program started is not lost: until the PID is known they are kept, then
    delivered in order."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.pending: list[int] = []
        for sig in signals.FORWARDED_SIGNALS:
            signals.handle(sig, self.handle)

    def handle(self, signum: int, _frame: object = None) -> None:
        if self.pid is None:
            self.pending.append(signum)
            return
        try:
            posix.kill(self.pid, signum)  # our child until we reap it: the PID cannot be reused
        except ProcessLookupError:
            pass

    def target(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            self.handle(signum)
        self.pending.clear()


def _wait(pid: int, master: int | None, forwarder: Forwarder) -> int:
    """Forward signals to the process (and proxy its terminal) until it exits; its status."""
    forwarder.target(pid)
    if master is not None:
        from lading.runtime import terminal

        try:
            terminal.proxy(master, forward=forwarder.handle)
        finally:
            posix.close(master)
    while True:
        waited, status = posix.waitpid(pid, 0)
        if waited == pid:
            code = posix.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def _cgroup(cid: str, state: ContainerState, sub: dict[str, str]) -> ContainerCgroup | None:
    """The cgroup the process joins: the container's, or the sub-cgroups --cgroup names."""
    cgroup = ContainerCgroup.from_record(state.cgroup)
    if not sub:
        return cgroup
    if cgroup is None:
        raise LadingError(f"--cgroup: container {cid} has no cgroup of its own")
    try:
        return cgroup.sub(sub)
    except LadingError as e:
        raise LadingError(f"--cgroup: {e}") from None


def _recorded_spec(cid: str, state: ContainerState) -> Spec:
    """The config the container was created with, as state.json recorded it: converted from the
    recorded values (create decoded and checked them), not written out and parsed again; only a
    record that no longer converts is decoded as a document, for the error naming where."""
    from lading.spec.model import Rejected, convert
    from lading.spec.runtime_config import Spec

    try:
        return convert(state.config, Spec)
    except Rejected:
        from lading.spec.decode import decode

        return decode(jsonlite.dumps(state.config).encode(), Spec, f"{cid}: state.json: config")


def _check_terminal(process: Process, opts: ExecOptions) -> None:
    """runc's rules for a terminal and a console socket."""
    if opts.detach and process.terminal and not opts.console_socket:
        raise LadingError("cannot allocate tty if lading will detach without setting console socket")
    if (not opts.detach or not process.terminal) and opts.console_socket:
        raise LadingError("cannot use console socket if lading will not detach or allocate tty")
