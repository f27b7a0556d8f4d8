"""`create`: the runtime side of making a container, and undoing every step if one fails.

The runtime validates the bundle, reserves the container's state directory, forks the init
(see init.py for what the child does), answers its requests (id maps, cgroup, createRuntime
hooks), records the state and returns with the init blocked on exec.fifo. Any failure kills the
init and removes what was made, so a failed create leaves nothing behind.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why
import time

from lading import OCI_VERSION, log
from lading.errors import LadingError
from lading.linux import namespaces as ns
from lading.linux import process as proc
from lading.linux import signals
from lading.linux.paths import abspath, join
from lading.runtime import cgroup_entry, cgroups, hooks, launch
from lading.runtime.container_state import ContainerState
from lading.runtime.plan import Plan
from lading.runtime.store import EXEC_FIFO, Store
from lading.runtime.sync import Channel


class CreateOptions:
    def __init__(
        self,
        bundle: str = ".",
        pid_file: str | None = None,
        console_socket: str | None = None,
        no_pivot: bool = False,
        preserve_fds: int = 0,
        no_new_keyring: bool = False,
        rootless: bool = False,
    ) -> None:
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.no_new_keyring = no_new_keyring
        self.rootless = rootless  # cgroups this user may not make are skipped (runc's --rootless)


def create(store: Store, cid: str, opts: CreateOptions, console_fd: int | None = None) -> ContainerState:
    """Create container ``cid``; returns its saved state. ``console_fd`` overrides --console-socket."""
    from lading.spec.decode import load_config

    bundle = abspath(opts.bundle)
    spec = load_config(join(bundle, "config.json"))
    store.dir(cid)  # validates the id before anything is made
    plan = Plan(
        spec,
        cid,
        bundle,
        join(store.dir(cid), EXEC_FIFO),
        no_pivot=opts.no_pivot,
        new_keyring=not opts.no_new_keyring,
        preserve_fds=opts.preserve_fds,
        seccomp_cache=store.seccomp_cache(),
    )
    terminal = plan.process.terminal
    if terminal and console_fd is None and not opts.console_socket:
        raise LadingError("process.terminal is set: a --console-socket is required")
    if opts.console_socket and not terminal:
        raise LadingError("cannot use console socket if lading will not detach or allocate tty")
    log.debug("create %s: %s/config.json is valid", cid, bundle)

    lock = store.reserve(cid)
    init_pid: int | None = None
    own_init = False  # the init is this process's child (cloned into its namespaces, no stage 1)
    started: str | None = None
    cgroup: cgroups.ContainerCgroup | None = None
    hooks_began = False
    idmapped_trees: dict[int, int] = {}
    parent, child = Channel.pair()
    try:
        _make_exec_fifo(plan)
        idmapped_trees = _idmapped_trees(plan)
        if not terminal and console_fd is not None:
            posix.close(console_fd)
            console_fd = None
        elif console_fd is None and opts.console_socket and terminal:
            from lading.runtime import console  # the terminal's module, which the init needs too

            console_fd = console.connect(opts.console_socket)
        if console_fd is not None:
            launch.load_console()
        cgroup = cgroups.create(cid, spec.linux, state_root=store.root, optional=opts.rootless)
        # What stage 1 and the init run is imported here, not in stage 1: the same work costs
        # less before the fork than in a copy-on-write child, on the path create waits on.
        from lading.runtime.init import Handles, child_main

        # the init's view of the cgroup hierarchies, unless it joins a mount or cgroup namespace
        # by path (stage 1 or the init itself, before it reads them), where the mounts or its own
        # cgroups may differ from the runtime's
        joins_view = any(flag & (ns.CLONE_NEWNS | ns.CLONE_NEWCGROUP) for _, flag in plan.join)
        layout = cgroup.layout if cgroup is not None and not joins_view else None
        # the child enters the cgroup before it does anything of the container's (runc's order);
        # it is the init itself where it could be born in the container's namespaces too
        pid, entry = cgroup_entry.fork(cgroup, plan.launch.attrs, namespaces=plan.clone_flags())
        if pid == 0:
            child_main(plan, child, Handles(console_fd, idmapped_trees, [lock.fd, parent.fileno()], entry, layout))
        child.close()
        own_init = entry.born_in_namespaces
        if own_init:
            init_pid = pid
            log.debug("the container's init is %d, cloned with no stage 1, born in its cgroup2 directory: True", pid)
        else:
            log.debug("forked stage-1 (%d), born in its cgroup2 directory: %s", pid, entry.born_in_v2)
            init_pid = _through_stage1(plan, parent, pid)
        started = proc.start_time(init_pid)
        # our own child, whose pid cannot be reused, even if it has already died: its error, if
        # it reported one, is then read first through the channel
        pidfd = posix.pidfd_open(init_pid) if own_init else proc.open_pidfd(init_pid, started)
        if pidfd is None:
            raise _gone(parent)
        try:
            state = _record(plan, init_pid, started, cgroup)
            state.creating = True  # `state` shows "creating" until ready
            store.save(state)
            state.creating = False
            parent.expect("hooks", pidfd=pidfd)
            hooks_began = True
            if plan.runtime_hooks:
                hook_state = plan.state_json("creating", init_pid)
                hooks.run("prestart", plan.hooks.get("prestart"), hook_state)
                hooks.run("createRuntime", plan.hooks.get("createRuntime"), hook_state)
                parent.send("hooks-done")
            parent.expect("ready", pidfd=pidfd)
            store.save(state)
            log.debug("container %s created", cid)
        finally:
            posix.close(pidfd)
        if opts.pid_file:
            from lading.runtime import pid_file

            pid_file.write(opts.pid_file, init_pid)
        return state
    except BaseException:
        if init_pid is not None:
            _kill(init_pid, started, own_init)
        if cgroup is not None:
            cgroup.destroy()
        store.remove(cid)
        if hooks_began:  # runtime.md: a failed create hook continues the lifecycle at steps 12-13
            hooks.run_poststop(plan.hooks.get("poststop"), plan.state_json("stopped", None))
        raise
    finally:
        parent.close()
        child.close()
        if console_fd is not None:
            posix.close(console_fd)
        for fd in idmapped_trees.values():
            posix.close(fd)
        lock.release()


def _through_stage1(plan: Plan, parent: Channel, stage1: int) -> int:
    """The runtime's side of stage 1 (init.py): the user namespace's maps once it has made it,
    then the init's pid as stage 1 reports it before it exits."""
    try:
        msg = parent.expect("stage1")
        if plan.new_userns:
            from lading.linux import userns

            try:
                userns.write_maps(msg["pid"], plan.uid_map, plan.gid_map)
            except LadingError as e:
                raise LadingError(f"config.json: $.linux.uidMappings, gidMappings: {e}") from None
        log.debug("stage-1 (%d) is in the container's cgroup", msg["pid"])
        parent.send("go")
        init_pid: int = parent.expect("init")["pid"]
    except BaseException:
        posix.kill(stage1, signals.SIGKILL)  # still our unreaped child: the pid cannot be reused
        raise
    finally:
        posix.waitpid(stage1, 0)
    log.debug("the container's init is %d", init_pid)
    return init_pid


def _gone(parent: Channel) -> LadingError:
    """Why the init died before create could watch it: the error it reported, if it did."""
    while (msg := parent.recv())["type"] not in ("error", "eof"):
        pass
    return LadingError(msg["msg"] if msg["type"] == "error" else "container init exited during create")


def _kill(pid: int, started: str | None, own: bool) -> None:
    """Kill the init and wait until it is gone: reaped when it is this process's child (cloned
    without a stage 1; until then its pid cannot be reused), else through a pidfd, checked
    against its start time."""
    if own:
        posix.kill(pid, signals.SIGKILL)
        posix.waitpid(pid, 0)
    else:
        proc.send_signal(pid, started, signals.SIGKILL)
        proc.wait_gone(pid, started)


def _record(plan: Plan, pid: int, started: str | None, cgroup: cgroups.ContainerCgroup | None) -> ContainerState:
    from lading.spec.model import to_builtins

    return ContainerState(
        OCI_VERSION,
        plan.cid,
        pid,
        started,
        plan.bundle,
        plan.rootfs,
        _rfc3339_now(),
        plan.annotations,
        to_builtins(plan.spec),
        cgroup.to_record() if cgroup is not None else None,
    )


def _rfc3339_now() -> str:
    """UTC now as Go's RFC 3339 with nanoseconds writes it (runc's "created"): the fraction
    without trailing zeros."""
    seconds, nanos = divmod(time.time_ns(), 10**9)
    fraction = f".{nanos:09d}".rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + fraction + "Z"


def _make_exec_fifo(plan: Plan) -> None:
    """exec.fifo, writable by the container's root, who opens it last (as runc makes it)."""
    old = posix.umask(0)
    try:
        posix.mkfifo(plan.fifo_path, 0o622)
    finally:
        posix.umask(old)
    if plan.uid_map and posix.geteuid() == 0:
        from lading.runtime.idmaps import host_id

        posix.chown(plan.fifo_path, host_id(plan.uid_map, 0) or 0, host_id(plan.gid_map, 0) or 0)


def _idmapped_trees(plan: Plan) -> dict[int, int]:
    """Each id-mapped mount, made here as root (the kernel requires it) as a detached tree the
    init attaches in the container: {index in mounts: tree fd}."""
    if not plan.idmapped:
        return {}
    from lading.linux import mount as m
    from lading.linux import userns

    trees: dict[int, int] = {}
    try:
        for i, idm in plan.idmapped.items():
            entry = (plan.spec.mounts or [])[i]
            source = join(plan.bundle, entry.source or "")
            try:
                src = posix.open(source, posix.O_PATH | posix.O_CLOEXEC)
                try:
                    tree = m.open_tree(src, idm.rbind)
                finally:
                    posix.close(src)
                trees[i] = tree
                ns_fd = userns.mapping_fd(idm.uids, idm.gids)
                try:
                    m.set_idmap(tree, ns_fd, idm.ridmap)
                finally:
                    posix.close(ns_fd)
            except OSError as e:
                why = e.strerror or str(e)
                raise LadingError(f"config.json: $.mounts[{i}]: cannot id-map {source}: {why}") from None
    except BaseException:
        for fd in trees.values():
            posix.close(fd)
        raise
    return trees
