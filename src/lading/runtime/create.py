"""`create`: the runtime side of making a container, and undoing every step if one fails.

The runtime validates the bundle, reserves the container's state directory, forks the init
(see init.py for what the child does), answers its requests (id maps, cgroup, createRuntime
hooks), records the state and returns with the init blocked on exec.fifo. Any failure kills the
init and removes what was made, so a failed create leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

from lading import OCI_VERSION, log
from lading.errors import LadingError
from lading.linux import process as proc
from lading.runtime import cgroups, hooks, security
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
    ) -> None:
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.no_new_keyring = no_new_keyring


def create(store: Store, cid: str, opts: CreateOptions, console_fd: int | None = None) -> dict[str, Any]:
    """Create container ``cid``; returns its saved state. ``console_fd`` overrides --console-socket."""
    from lading.spec.decode import load_config

    bundle = os.path.abspath(opts.bundle)
    spec = load_config(os.path.join(bundle, "config.json"))
    store.dir(cid)  # validates the id before anything is made
    plan = Plan(spec, cid, bundle, os.path.join(store.dir(cid), EXEC_FIFO))
    plan.no_pivot = opts.no_pivot
    plan.new_keyring = not opts.no_new_keyring
    plan.hooks = _hooks(spec)
    plan.listen_fds = _listen_fds()
    plan.keep_fds = range(3, 3 + plan.listen_fds + opts.preserve_fds)
    if spec.process is None:
        raise LadingError("config.json: $.process: required to create a container")
    plan.security = security.prepare(spec.process, spec.linux)
    if spec.process.terminal and console_fd is None and not opts.console_socket:
        raise LadingError("process.terminal is set: a --console-socket is required")

    lock = store.reserve(cid)
    init_pid: int | None = None
    started: str | None = None
    cgroup: cgroups.ContainerCgroup | None = None
    hooks_began = False
    parent, child = Channel.pair()
    try:
        os.mkfifo(plan.fifo_path, 0o622)
        if not spec.process.terminal and console_fd is not None:
            os.close(console_fd)
            console_fd = None
        elif console_fd is None and opts.console_socket and spec.process.terminal:
            console_fd = _connect(opts.console_socket)
        plan.console_fd = console_fd
        plan.close_in_child = [lock.fd, parent.fileno()]
        stage1 = os.fork()
        if stage1 == 0:
            from lading.runtime.init import child_main

            child_main(plan, child)
        child.close()
        try:
            # made while stage 1 starts up, then joined by it
            cgroup = cgroups.create(cid, spec.linux, state_root=store.root)
            msg = parent.expect("stage1")
            if plan.new_userns:
                _write_id_maps(msg["pid"], spec)
            cgroup.add(msg["pid"])  # before it unshares the cgroup namespace and forks the init
            parent.send("go")
            init_pid = parent.expect("init")["pid"]
        except BaseException:
            os.kill(stage1, signal.SIGKILL)  # still our unreaped child: the pid cannot be reused
            raise
        finally:
            os.waitpid(stage1, 0)
        started = proc.start_time(init_pid)
        pidfd = proc.open_pidfd(init_pid, started)
        if pidfd is None:
            raise LadingError("container init exited during create")
        try:
            state = _record(plan, init_pid, started, spec)
            state["cgroup"] = cgroup.to_state()
            store.save(cid, {**state, "creating": True})  # `state` shows "creating" until ready
            parent.expect("hooks", pidfd=pidfd)
            hooks_began = True
            hook_state = plan.state_json("creating", init_pid)
            hooks.run("prestart", plan.hooks.get("prestart"), hook_state)
            hooks.run("createRuntime", plan.hooks.get("createRuntime"), hook_state)
            parent.send("hooks-done")
            parent.expect("ready", pidfd=pidfd)
            store.save(cid, state)
        finally:
            os.close(pidfd)
        if opts.pid_file:
            write_pid_file(opts.pid_file, init_pid)
        return state
    except BaseException:
        if init_pid is not None:
            proc.send_signal(init_pid, started, signal.SIGKILL)
            proc.wait_gone(init_pid, started)
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
            os.close(console_fd)
        lock.release()


def _record(plan: Plan, pid: int, started: str | None, spec: Any) -> dict[str, Any]:
    from lading.spec.model import to_builtins

    return {
        "ociVersion": OCI_VERSION,
        "id": plan.cid,
        "pid": pid,
        "pidStartTime": started,
        "bundle": plan.bundle,
        "rootfs": plan.rootfs,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z",
        "owner": "",
        "annotations": plan.annotations,
        "config": to_builtins(spec),
    }


def _hooks(spec: Any) -> dict[str, list[dict[str, Any]]]:
    from lading.spec.model import to_builtins

    if spec.hooks is None:
        return {}
    raw: dict[str, list[dict[str, Any]]] = to_builtins(spec.hooks)
    return raw


def _listen_fds() -> int:
    """Socket-activation fds (LISTEN_FDS) are passed on to the container, as runc does."""
    try:
        return max(0, int(os.environ.get("LISTEN_FDS", "0")))
    except ValueError:
        return 0


def _connect(path: str) -> int:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise LadingError(f"--console-socket {path}: {e.strerror}") from None
    return s.detach()


def _write_id_maps(pid: int, spec: Any) -> None:
    linux = spec.linux
    for kind, maps in (("uid", linux.uid_mappings), ("gid", linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{kind}_map", "w") as f:
                f.write(text)
        except OSError as e:
            raise LadingError(f"config.json: $.linux.{kind}Mappings: cannot apply: {e.strerror}") from None


def write_pid_file(path: str, pid: int) -> None:
    """Write the pid file atomically, as podman and containerd read it right away."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
    log.debug(f"wrote pid file {path}")
