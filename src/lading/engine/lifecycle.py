"""start, stop, kill, remove, and settling the true state of a container.

Every function here is called with the container's lock held (``ContainerStore.lock``), so two
commands on one container take turns. A container recorded as running is settled, i.e. its exit
is recorded and its mount and bundle taken down, as soon as any command sees that it is over:
the monitor wrote its exit file, the monitor is gone (killed: exit code 255), or the machine was
rebooted since it started (another boot ID: exit code 255, as docker shows after a crash). The
monitor's exit command (``container cleanup``) does the same and then applies ``--rm`` and the
restart policy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from lading.engine import bundle, crash, etcfiles, own_runtime
from lading.engine.containers import ConflictError, Container
from lading.engine.create import now
from lading.engine.layers import image_chains
from lading.engine.roots import Roots, boot_id
from lading.errors import LadingError
from lading.linux import process
from lading.linux.userns import in_user_namespace

_BACKOFF_START = 0.1  # docker's restart back-off (restart_delay)
_BACKOFF_MAX = 60.0
_BACKOFF_RESET = 10.0


def _runtime(roots: Roots, c: Container, *args: str, check: bool = True) -> None:
    """A verb of the container's OCI runtime: lading's own in this process, another as a command."""
    runtime = c.host["Runtime"]
    if runtime == own_runtime.NAME:
        try:
            own_runtime.call(roots.runtime_root(runtime), list(args))
        except LadingError:
            if check:
                raise
        return
    import subprocess

    argv = [*roots.runtime_argv(runtime), *args]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and p.returncode != 0:
        lines = (p.stderr.strip() or p.stdout.strip() or f"exit status {p.returncode}").splitlines()
        raise LadingError(f"{Path(argv[0]).name} {args[0]}: {lines[-1]}")


def _monitor_alive(c: Container) -> bool:
    st = c.state
    return bool(st.get("MonitorPid")) and process.is_alive(st["MonitorPid"], st.get("MonitorStart"))


def exit_file(roots: Roots, cid: str) -> Path:
    from lading.engine.monitor_process import EXIT_FILE

    return roots.run_dir(cid) / "exec" / EXIT_FILE


def settle(roots: Roots, c: Container) -> bool:
    """Record the exit of a container whose run is over; True if the record changed."""
    st = c.state
    if not st["Running"]:
        return False
    same_boot = st.get("BootID") == boot_id()
    record = None
    if same_boot:
        from lading.engine.monitor import read_exit, wait_create_gone, wait_exit

        if st.get("Starting"):  # a start was killed: its container never ran
            wait_create_gone(roots.run_dir(c.id) / "exec")  # its monitor may have been killed too
            _runtime(roots, c, "delete", "--force", c.id, check=False)
            # Its monitor, found by exec/monitor.pid: the start may have died before recording it.
            wait_exit(roots.run_dir(c.id) / "exec", 30)
        record = read_exit(exit_file(roots, c.id))
        if record is None and not st.get("Starting") and _monitor_alive(c):
            return False
    code, finished, oom = (record.exit_code, record.finished_at, record.oom_killed) if record else (255, now(), False)
    _teardown(roots, c, same_boot)
    st.update(Status="exited", Running=False, Pid=0, ExitCode=code, FinishedAt=finished, OOMKilled=oom)
    for key in ("MonitorPid", "MonitorStart", "Starting"):
        st.pop(key, None)
    if record is None:
        st["Error"] = "the container's monitor is gone" if same_boot else "the host was restarted"
    policy = c.host["RestartPolicy"]
    retries_left = not policy["MaximumRetryCount"] or c.config["RestartCount"] < policy["MaximumRetryCount"]
    if not c.config["HasBeenManuallyStopped"] and same_boot:
        name = policy["Name"]
        if name in ("always", "unless-stopped") or (name == "on-failure" and code != 0 and retries_left):
            st.update(Status="restarting", Restarting=True)
    roots.containers.save(c)
    return True


def _teardown(roots: Roots, c: Container, same_boot: bool) -> None:
    """What a run leaves: the runtime's container, the overlay mount, the bundle and exec dirs."""
    if same_boot:
        _runtime(roots, c, "delete", "--force", c.id, check=False)
        _remove_cgroup_parent()
    roots.layers.unmount(c.config["MountID"])
    shutil.rmtree(roots.run_dir(c.id), ignore_errors=True)


def _remove_cgroup_parent() -> None:
    """The engine's parent cgroup in every hierarchy, once no container's cgroup is left in it,
    so that an engine running nothing leaves nothing in the host's cgroups (docker leaves its
    /docker). The kernel refuses while a child exists (EBUSY), and a create that races this
    makes the parent again (cgroupfs.make)."""
    from lading.linux.cgroups.layout import detect

    for hierarchy in detect().hierarchies():
        with contextlib.suppress(OSError):
            os.rmdir(hierarchy.directory(bundle.CGROUP_PARENT))


def start(
    roots: Roots, c: Container, on_created: Callable[[], object] | None = None, exit_command: bool = True
) -> None:
    """Mount, write the bundle, launch the monitor (runtime create), then runtime start;
    ``on_created`` runs in between (attaching there misses no output). Without ``exit_command``
    the caller settles the exit itself (a foreground `run --rm`; a later command does it if the
    caller is killed)."""
    from lading.engine.monitor import MonitorConfig, launch

    settle(roots, c)
    if c.state["Running"]:
        return
    if c.state.get("Dead"):
        raise ConflictError(f"container {c.id} is marked for removal and cannot be started")
    cc = c.config["Config"]
    etcfiles.write(c.dir, cc["Hostname"], c.host.get("NetworkMode") == "host")
    run_dir = roots.run_dir(c.id)
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "bundle").mkdir(parents=True)
    (run_dir / "exec").mkdir(mode=0o700)
    roots.run.joinpath("boot-id").write_text(boot_id() + "\n")
    st = c.state
    st.update(
        Status="running",
        Running=True,
        Restarting=False,
        Pid=0,
        MonitorPid=0,
        ExitCode=0,
        Error="",
        OOMKilled=False,
        StartedAt=now(),
        BootID=boot_id(),
        Starting=True,
    )
    c.config["HasBeenStartedBefore"] = True
    c.config["HasBeenManuallyStopped"] = False
    roots.containers.save(c, durable=False)  # from here on, a killed start is settled like a dead monitor
    crash.point("start-recorded")
    try:
        merged = roots.layers.mount(c.config["MountID"])
        import json

        from lading.engine.containers import atomic_write

        spec = bundle.config(c, merged)
        if in_user_namespace():
            from lading.engine import rootless

            rootless.fit(spec)
        atomic_write(run_dir / "bundle" / "config.json", json.dumps(spec), durable=False)
        opts = c.host["LogConfig"]["Config"]
        cfg = MonitorConfig(
            container_id=c.id,
            runtime_argv=roots.runtime_argv(c.host["Runtime"], in_process=True),
            bundle=run_dir / "bundle",
            exec_dir=run_dir / "exec",
            log_path=Path(c.config["LogPath"]),
            log_max_size=parse_size(opts["max-size"], "--log-opt max-size") if opts.get("max-size") else None,
            log_max_files=int(opts.get("max-file", "1")),
            terminal=bool(cc.get("Tty")),
            stdin=bool(cc.get("OpenStdin")),
            exit_command=roots.exit_command(c.id) if exit_command else [],
            hold_fd=roots.containers.held.get(c.id),
            # a monitor is forked only where every monitor shares this command's mount namespace,
            # which holds the container's overlay (engine/rootless.py)
            spawn_socket=roots.run / "monitors.sock" if _monitors_share_namespace(roots) else None,
        )
        launched = launch(cfg)
    except BaseException as e:
        _failed(roots, c, str(e))
        raise
    crash.point("start-launched")  # the monitor runs, its pid not yet recorded
    st.update(
        Pid=launched.init_pid, MonitorPid=launched.monitor_pid, MonitorStart=process.start_time(launched.monitor_pid)
    )
    roots.containers.save(c, durable=False)
    crash.point("start-created")
    try:
        if on_created is not None:
            on_created()
        _runtime(roots, c, "start", c.id)
    except LadingError as e:
        _runtime(roots, c, "delete", "--force", c.id, check=False)
        process.wait_gone(launched.monitor_pid, st["MonitorStart"], 30)
        _failed(roots, c, str(e))
        raise
    del st["Starting"]
    roots.containers.save(c, durable=False)


def _monitors_share_namespace(roots: Roots) -> bool:
    """True for root on the host, and for the rootless engine in its holder's namespaces; not in
    a user namespace of one command's own (the engine run as root in `unshare -rm`)."""
    if not in_user_namespace():
        return True
    from lading.engine import rootless

    return rootless.in_holder_namespaces(roots.run)


def _failed(roots: Roots, c: Container, error: str) -> None:
    _teardown(roots, c, True)
    c.state.update(Status="exited", Running=False, Pid=0, ExitCode=128, Error=error, FinishedAt=now())
    for key in ("MonitorPid", "MonitorStart", "Starting"):
        c.state.pop(key, None)
    c.config["HasBeenManuallyStopped"] = True  # no restart policy for a start that failed
    roots.containers.save(c)


def signal_number(text: str) -> int:
    import signal

    t = text.upper().removeprefix("SIG")
    if t.isdigit():
        return int(t)
    try:
        return int(signal.Signals[f"SIG{t}"])
    except KeyError:
        raise LadingError(f"invalid signal: {text}") from None


def kill(roots: Roots, c: Container, sig: str = "KILL") -> None:
    settle(roots, c)
    if not c.state["Running"]:
        raise ConflictError(f"Cannot kill container: {c.id}: container {c.id} is not running")
    _runtime(roots, c, "kill", c.id, str(signal_number(sig)))


def stop(roots: Roots, c: Container, timeout: float | None = None) -> None:
    """The stop signal, then SIGKILL after ``timeout`` seconds (default 10); waits for the exit."""
    settle(roots, c)
    c.config["HasBeenManuallyStopped"] = True
    if c.state["Restarting"]:
        c.state.update(Status="exited", Restarting=False)
    roots.containers.save(c)
    if not c.state["Running"]:
        return
    st = c.state
    stopsig = signal_number(c.config["Config"].get("StopSignal") or "SIGTERM")
    with contextlib.suppress(LadingError):
        _runtime(roots, c, "kill", c.id, str(stopsig))
    if not process.wait_gone(st["MonitorPid"], st.get("MonitorStart"), 10 if timeout is None else timeout):
        with contextlib.suppress(LadingError):
            _runtime(roots, c, "kill", "--all", c.id, "9")
        process.wait_gone(st["MonitorPid"], st.get("MonitorStart"), 30)
    settle(roots, c)


def remove(roots: Roots, c: Container, force: bool = False) -> None:
    settle(roots, c)
    if c.state["Running"] and not force:
        raise ConflictError(
            f"You cannot remove a running container {c.id}. "
            "Stop the container before attempting removal or force remove"
        )
    if c.state["Running"]:
        stop(roots, c, 0)
    c.state["Dead"] = True
    roots.containers.save(c)
    discard(roots, c.id, c.config["MountID"], c.name)


def discard(roots: Roots, cid: str, mount_id: str | None, name: str | None) -> None:
    """Remove whatever exists of a container: layers, run dir, name, metadata; then unused layers."""
    layers = roots.layers
    with layers.locked():
        if mount_id is None:
            record = layers.layerdb / "mounts" / cid / "mount-id"
            mount_id = record.read_text() if record.exists() else None
        if mount_id:
            layers.remove_container(cid, mount_id)
        layers.gc(image_chains(roots.storage))
    shutil.rmtree(roots.run_dir(cid), ignore_errors=True)
    store = roots.containers
    if name:
        store.release_name(name, cid)
    store.remove_dir(cid)
    store.release_stale_names()


def restart_delay(c: Container) -> float:
    """docker's back-off before a restart: 100 ms, doubled at each restart (at most a minute),
    and 100 ms again once a run lasted 10 s. Kept in the record; the caller saves it."""
    from lading.engine.logs import parse_time

    st = c.state
    ran = (parse_time(st["FinishedAt"]) - parse_time(st["StartedAt"])) / 1e9
    previous = float(c.config.get("RestartDelay", 0.0))
    delay = _BACKOFF_START if ran >= _BACKOFF_RESET or not previous else min(previous * 2, _BACKOFF_MAX)
    c.config["RestartDelay"] = delay
    return delay


def cleanup(roots: Roots, cid: str) -> None:
    """A container's end (the monitor's exit command): record the exit, take the run down, then
    --rm or the restart policy (after docker's back-off, without holding the lock)."""
    import time

    from lading.errors import NotFoundError

    store = roots.containers
    try:
        with store.lock(cid):
            c = store.load(cid)
            settle(roots, c)
            if c.host["AutoRemove"] and not c.state["Running"] and not store.has_waiter(cid):
                remove(roots, c)
            if not c.state["Restarting"]:
                return
            delay = restart_delay(c)
            store.save(c)
        time.sleep(delay)
        with store.lock(cid):
            c = store.load(cid)
            if c.state["Restarting"] and not c.state["Running"]:
                c.config["RestartCount"] += 1
                start(roots, c)
    except NotFoundError:
        pass  # removed meanwhile (rm -f, or a foreground run --rm)


def reconcile(roots: Roots) -> None:
    """Make what every listing sees true: remove killed creates, settle finished runs."""
    store = roots.containers
    for cid in store.leftovers():
        discard(roots, cid, None, None)
    for c in store.all():
        st = c.state
        over = st["Running"] and (st.get("Starting") or st.get("BootID") != boot_id() or not _monitor_alive(c))
        orphaned_rm = c.host["AutoRemove"] and not c.state["Running"] and c.config["HasBeenStartedBefore"]
        if over or (orphaned_rm and not store.has_waiter(c.id)):
            with contextlib.suppress(LadingError), store.lock(c.id):
                c = store.load(c.id)
                settle(roots, c)
                if c.host["AutoRemove"] and not c.state["Running"] and not store.has_waiter(c.id):
                    remove(roots, c)


def parse_size(text: str, flag: str) -> int:
    """``512m``, ``1g``, ``100k``, ``1024`` (bytes) as docker reads them."""
    units = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower()
    num = t.rstrip("bkmgt")
    unit = t[len(num) :].removesuffix("b") if len(t) - len(num) > 1 else t[len(num) :]
    try:
        value = float(num)
    except ValueError:
        raise LadingError(f"invalid argument {text!r} for {flag}: expected a size like 512m or 1g") from None
    if unit not in units or value < 0:
        raise LadingError(f"invalid argument {text!r} for {flag}: expected a size like 512m or 1g")
    return int(value * units[unit])


def wait_exit(c: Container) -> None:
    st = c.state
    if st["Running"] and st.get("MonitorPid"):
        while not process.wait_gone(st["MonitorPid"], st.get("MonitorStart"), 3600):
            pass
