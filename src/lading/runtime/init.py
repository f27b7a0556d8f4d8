"""The container's init process, from fork to execve of the user program.

Process model (see docs/architecture.md): the runtime forks *stage 1*, which enters the
container's cgroup (runtime/cgroup_entry.py), joins or creates the user namespace, joins the
namespaces given by path and unshares the new ones. Because a new PID (and time) namespace only
applies to children, stage 1 forks the *init*, PID 1 of the container, reports its PID and
exits. When the container needs none of that (:meth:`Plan.clone_flags`: no user namespace, no
time namespace, no PID namespace joined by path) the runtime skips stage 1 and clones the init
itself into its cgroup2 directory and its new namespaces but the cgroup one (cgroup_entry.fork):
the same code (:func:`_setup`) runs in it, but that it joins the namespaces given by path and
unshares the cgroup namespace once in all its hierarchies (a new cgroup namespace applies to the
caller at once), and does not fork. That spares a fork, an exit and the page faults of a second
copy of the runtime (3-4 ms of a `run`). It is stage 1 again where the kernel refuses that
clone, where the init needs an initial CPU affinity (set before it enters the cgroup) and where
it has no cgroup2 directory of its own.

The init builds the rootfs, lets the runtime run the createRuntime hooks, runs createContainer
hooks, pivots, runs the process pipeline up to the container's user (launch.py: terminal,
environment, cwd, executable, rlimits, the trampoline, LSM labels, seccomp without
noNewPrivileges, user, groups, capabilities) and reports ready; then it blocks on exec.fifo until
``start`` opens the other end, and runs what must come last (noNewPrivileges and its seccomp
filter, startContainer hooks, execve), as runc's init does. Before the execve it writes
EXECVE_NEXT to the fifo, on which ``start`` returns: the kernel's teardown of this copy of the
runtime and the program's own exec are not on ``start``'s path (runtime/lifecycle.py). It does
not for a program the kernel may refuse to run (linux/binfmt.py), whose exec ``start`` waits for.

All code here runs after fork in a copy of the runtime, with everything it needs already imported:
after pivot_root Python's standard library is no longer reachable on disk.
"""

from __future__ import annotations

import _socket
import errno
import gc
import posix  # not os: runtime/store.py says why

from lading import log
from lading.errors import LadingError
from lading.linux import binfmt, keyring, netdev, prctl, signals
from lading.linux import namespaces as ns
from lading.linux.libc import check, libc
from lading.record import Record
from lading.runtime import hooks, launch, process, rootfs, shield
from lading.runtime.store import EXECVE_NEXT
from lading.runtime.sync import Channel, report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from lading.linux.cgroups.layout import Layout
    from lading.runtime.cgroup_entry import Entry
    from lading.runtime.plan import Plan

_FATAL_WHILE_WAITING = (
    signals.SIGTERM,
    signals.SIGINT,
    signals.SIGHUP,
    signals.SIGQUIT,
    signals.SIGUSR1,
    signals.SIGUSR2,
)


class Handles(Record):
    """The fds create opened for the init, beside its plan."""

    console_fd: int | None  # the console socket (process.terminal)
    idmapped_trees: dict[int, int]  # id-mapped mounts, made by create: {index in mounts: tree fd}
    close: list[int]  # the runtime's own (its lock, its end of the channel): closed at once
    cgroup: Entry  # how the child enters the container's cgroup, first of all
    cgroup_layout: Layout | None  # the hierarchies as the init sees them (None: it reads them)


def child_main(plan: Plan, chan: Channel, handles: Handles) -> NoReturn:
    """Entry point of the forked child (stage 1, or the init born in its namespaces); never returns."""
    # Nothing is collected from here to the execve (the init's too): a collection would touch,
    # and so copy, the pages of every object the runtime made (0.2-0.5 ms on start's path).
    gc.disable()
    try:
        _setup(plan, chan, handles)
    except BaseException as e:  # report the failure to the runtime, then die
        report(chan, e)
    posix._exit(1)


def _setup(plan: Plan, chan: Channel, handles: Handles) -> None:
    """From the fork to the init's own work: as stage 1, which makes the namespaces and forks the
    init; or as the init itself, when it was born in them (``born_in_namespaces``)."""
    direct = handles.cgroup.born_in_namespaces
    for fd in handles.close:
        posix.close(fd)
    chan.forward_log("init" if direct else "stage-1")
    handles.cgroup.enter()  # before it joins or makes any namespace, the cgroup one included
    keep = {chan.fileno(), *plan.launch.keep_fds}
    if handles.console_fd is not None:
        keep.add(handles.console_fd)
    keep.update(handles.idmapped_trees.values())
    shield.enter(keep)
    if direct:
        _finish_namespaces(plan)
    else:
        _make_namespaces(plan, chan)
    # still with the host's ids, which may enter the state and bundle dirs (the container's root
    # may not): the exec fifo, and what rootfs.open_sources opens
    fifo_fd = posix.open(plan.fifo_path, posix.O_PATH | posix.O_CLOEXEC)
    sources = rootfs.open_sources(plan.spec, plan.rootfs, plan.bundle, handles.idmapped_trees)
    if plan.time_offsets:  # a /proc file of this non-dumpable process: host root's
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(plan.time_offsets)
    if plan.new_userns or plan.userns_path:
        posix.setresgid(0, 0, 0)
        posix.setresuid(0, 0, 0)
    if direct:
        _init(plan, chan, fifo_fd, sources, handles)
    _fork_init(plan, chan, fifo_fd, sources, handles)


def _make_namespaces(plan: Plan, chan: Channel) -> None:
    """Stage 1's: join the namespaces given by path, make the user namespace and every other."""
    # runc's order: join the namespaces given by path (the user namespace first, so that those it
    # owns can be joined), while still privileged over the host's; then make the user namespace
    # and let the runtime write its maps; then every other new namespace, owned by it.
    if plan.userns_path:
        ns.setns(plan.userns_path, ns.CLONE_NEWUSER)
    _join_by_path(plan)
    if plan.new_userns:
        ns.unshare(ns.CLONE_NEWUSER)
        # dumpable while the runtime writes the maps: a non-dumpable process's /proc files are
        # root's, and a runtime that is not root could not write them (runc does the same)
        prctl.set_dumpable(True)
    chan.send("stage1", pid=posix.getpid())
    chan.expect("go")
    prctl.set_dumpable(False)
    ns.unshare(plan.unshare_flags)
    log.debug("joined %d namespace(s) by path, unshared flags %#x", len(plan.join), plan.unshare_flags)


def _finish_namespaces(plan: Plan) -> None:
    """The init's, born in its other new namespaces (Plan.clone_flags) and now in every hierarchy
    of its cgroup: join the namespaces given by path, then make the cgroup namespace, rooted at
    the cgroup it is in. None of those joins depends on the namespaces made at birth (the mount
    namespace is never both made and joined; user and PID ones by path are stage 1's)."""
    _join_by_path(plan)
    if plan.unshare_flags & ns.CLONE_NEWCGROUP:
        ns.unshare(ns.CLONE_NEWCGROUP)
    log.debug(
        "joined %d namespace(s) by path, unshared flags %#x", len(plan.join), plan.unshare_flags & ns.CLONE_NEWCGROUP
    )


def _join_by_path(plan: Plan) -> None:
    """Join every namespace given by path but the user one, in the config's order."""
    for path, flag in plan.join:
        ns.setns(path, flag)


def _fork_init(plan: Plan, chan: Channel, fifo_fd: int, sources: rootfs.Sources, handles: Handles) -> NoReturn:
    """Stage 1's last step: fork the init (PID 1 of a new PID namespace), report its pid, exit."""
    # The init speaks on the same channel: it waits until stage 1 has said "init" and closed
    # ``reported`` so that the runtime always hears "init" before anything the init says. Closed
    # by hand, not by the exit, which closes the fds only after tearing down the address space.
    waiting, reported = posix.pipe()
    pid = posix.fork()
    if pid == 0:
        try:
            posix.close(reported)
            posix.read(waiting, 1)
            posix.close(waiting)
            chan.forward_log("init")
            _init(plan, chan, fifo_fd, sources, handles)
        except BaseException as e:
            report(chan, e)
        posix._exit(1)
    chan.send("init", pid=pid)
    posix.close(reported)
    posix._exit(0)


def _check_fifo(fifo_fd: int) -> None:
    """Fail create, not start, if exec.fifo cannot be opened for writing: without a reader the
    open fails with ENXIO only once the permission check has passed."""
    try:
        posix.close(posix.open(f"/proc/self/fd/{fifo_fd}", posix.O_WRONLY | posix.O_NONBLOCK | posix.O_CLOEXEC))
    except OSError as e:
        if e.errno != errno.ENXIO:
            raise LadingError(f"cannot open exec.fifo as the container's root: {e.strerror}") from None


def _init(plan: Plan, chan: Channel, fifo_fd: int, sources: rootfs.Sources, handles: Handles) -> NoReturn:
    spec = plan.spec
    host_pid = int(posix.readlink("/proc/self"))  # our pid as the runtime sees it (/proc is still the host's)
    posix.setsid()
    if plan.new_keyring:
        keyring.join_new_session_keyring(f"_ses.{plan.cid}")
    for sig in _FATAL_WHILE_WAITING:  # a created container must die on TERM like runc's init
        signals.handle(sig, lambda signum, _frame: posix._exit(128 + signum))
    if "uts" in plan.private:
        if spec.hostname is not None:
            _socket.sethostname(spec.hostname)
        if spec.domainname is not None:
            name = spec.domainname.encode()
            check(libc.setdomainname(name, len(name)), "setdomainname")
    if plan.new_net:
        netdev.set_up("lo")
    root_fd = rootfs.prepare(
        spec,
        sources,
        plan.bind_devices,
        own_cgroupns=bool(plan.unshare_flags & ns.CLONE_NEWCGROUP),
        cgroups=handles.cgroup_layout,
    )
    sources.close()
    log.debug("rootfs %s prepared: %d mount(s), devices, /dev links", plan.rootfs, len(spec.mounts or ()))
    proc = plan.process
    chan.send("hooks")
    if plan.runtime_hooks:
        chan.expect("hooks-done")
    # Hooks in the container get the pid as the container sees it (runtime.md "State"), and when
    # they give no env, the process's (as in runc; HOME only after pivot_root, from the
    # container's /etc/passwd).
    if create_hooks := plan.hooks.get("createContainer"):
        hooks.run("createContainer", create_hooks, plan.state_json("creating", posix.getpid()), process.parse_env(proc))
    rootfs.pivot(root_fd, plan.no_pivot)
    posix.close(root_fd)
    log.debug("%s into the rootfs", "chroot" if plan.no_pivot else "pivot_root")
    for key, value in plan.sysctl.items():  # before readonlyPaths seal /proc/sys
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    # the terminal before finish: /dev/console goes into a /dev that may turn read-only
    launch.open_terminal(plan.launch, handles.console_fd)
    rootfs.finish(spec)
    log.debug("wrote %d sysctl(s); masked and read-only paths applied", len(plan.sysctl))
    if proc.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(proc.oom_score_adj))
    # As runc: what fails here (a limit, the program, the user, a capability) fails create. The
    # trampoline reports to fifo_fd's number, which the fifo's write end takes over once opened.
    ready = launch.prepare(plan.launch)
    # `start` returns before the execve only for a program the kernel will run by itself: for
    # any other, it waits to report how the execve ends (linux/binfmt.py says why)
    announce = binfmt.execs_natively(ready.path)
    agent_state = plan.state_json("running", host_pid)
    via = launch.become(plan.launch, fifo_fd, agent_state, host_pid, _FATAL_WHILE_WAITING)
    _check_fifo(fifo_fd)  # as the container's user, who opens it
    log.debug("ready: %s waits on exec.fifo for start", ready.path)
    chan.send("ready")
    chan.close()
    # Block until `start` opens the fifo for reading: this is the "created" state. From then on a
    # failure is written to the fifo for `start` to report; a successful execve closes it (the
    # trampoline marks it close-on-exec). dup2 also closes the O_PATH fd before the exec.
    fifo = f"/proc/self/fd/{fifo_fd}"
    fd = posix.open(fifo, posix.O_WRONLY | posix.O_CLOEXEC)
    # Opened for reading as well where the container's user may (its root, who owns the fifo): a
    # failure written after `start` has returned then finds a reader instead of SIGPIPE.
    try:
        fd, write_only = posix.open(fifo, posix.O_RDWR | posix.O_CLOEXEC), fd
        posix.close(write_only)
    except OSError:
        pass
    posix.dup2(fd, fifo_fd)
    posix.close(fd)

    def before_exec(env: dict[str, str]) -> None:
        hooks.run("startContainer", plan.hooks.get("startContainer"), plan.state_json("created", posix.getpid()), env)
        # Nothing of lading's is left to fail: `start` may return now, before the execve, as
        # runc's and crun's do (`run` still waits for it and reports its failure). Where a
        # seccomp filter refuses the write, `start` waits for the execve instead.
        if announce:
            try:
                posix.write(fifo_fd, EXECVE_NEXT)
            except OSError:
                pass

    try:
        launch.start(plan.launch, ready, via, agent_state, host_pid, before_exec)
    except BaseException as e:
        msg = str(e) if isinstance(e, LadingError) else (getattr(e, "strerror", None) or str(e))
        posix.write(fifo_fd, msg.encode(errors="replace"))
    posix._exit(127)
