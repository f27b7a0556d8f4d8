"""The verbs on an existing container: state, start, kill, delete, list (runtime.md "Operations").

Status is never stored; it is derived each time from the live init process (PID plus start time,
so a reused PID reads as ``stopped``), the presence of exec.fifo (``created`` until ``start``)
and the cgroup freezer (``paused``). These verbs read state.json with the json module only, so
they stay cheap to start.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading import log
from lading.errors import LadingError, NotFoundError
from lading.linux import process as proc
from lading.linux import signals
from lading.linux.files import exists
from lading.runtime.store import EXEC_FIFO, EXECVE_NEXT, Store

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lading.linux.cgroups.cgroup import Cgroup
    from lading.runtime.container_state import ContainerState


def status(store: Store, cid: str, state: ContainerState) -> str:
    st = _status_unfrozen(store, cid, state)
    return "paused" if st == "running" and _frozen(state) else st


def _status_unfrozen(store: Store, cid: str, state: ContainerState) -> str:
    """The status as far as it shows without the cgroup: "running" may still be paused."""
    if not state.pid or not proc.is_alive(state.pid, state.pid_start_time):
        return "stopped"
    if state.creating:
        return "creating"
    if exists(store.file(cid, EXEC_FIFO)):
        return "created"
    return "running"


def _frozen(state: ContainerState) -> bool:
    """Whether the freezer holds the container, read from state.json's record of its cgroup
    (Cgroup.to_dict) with the freezer module alone: `state` and `list` of a running container
    read one file, and need none of what the rest of the cgroup modules load."""
    record = state.cgroup
    if not isinstance(record, dict):
        return False
    from lading.linux.cgroups import freezer

    return freezer.state((record.get("v1") or {}).get("freezer"), record.get("v2")) != "thawed"


def _cgroup(state: ContainerState) -> Cgroup | None:
    """The container's cgroup from state.json's record (runtime/cgroups.py writes it), if it has
    one. The cgroup modules load only for a verb that needs it (not for `state` of a created
    container, `start`, or `kill` with a signal other than KILL), and only the kernel layer's:
    these verbs read, signal and remove a cgroup, and need nothing of the container's limits."""
    from lading.linux.cgroups.cgroup import Cgroup

    return Cgroup.from_dict(state.cgroup) if isinstance(state.cgroup, dict) else None


def load_for(
    store: Store, cid: str, action: str, allowed: tuple[str, ...], known: ContainerState | None = None
) -> tuple[ContainerState, str]:
    """The state and status of a container that must be in one of the ``allowed`` statuses for
    ``action`` (runtime.md: an operation in the wrong status has no effect and is an error).
    ``known``: the state this process saved itself (`run`), not read back from state.json."""
    state = known if known is not None else store.load(cid)
    st = status(store, cid, state)
    _check_status(cid, action, st, allowed)
    return state, st


def _check_status(cid: str, action: str, st: str, allowed: tuple[str, ...]) -> None:
    if st not in allowed:
        raise LadingError(f"cannot {action} container {cid}: it is {st}, not {' or '.join(allowed)}")


def public_state(store: Store, cid: str, state: ContainerState) -> dict[str, Any]:
    """The state as `lading state` prints it: state-schema.json plus runc's extra fields, in
    runc's order (annotations only when there are some)."""
    st = status(store, cid, state)
    out: dict[str, Any] = {
        "ociVersion": state.oci_version,
        "id": cid,
        "pid": state.pid if st != "stopped" else 0,
        "status": st,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
    }
    if state.annotations:
        out["annotations"] = state.annotations
    out["owner"] = state.owner
    return out


def get_state(store: Store, cid: str) -> dict[str, Any]:
    return public_state(store, cid, store.load(cid))


def list_states(store: Store) -> list[dict[str, Any]]:
    """Every container's state; as in runc's list, the owner is the user owning its state dir."""
    out = []
    for cid in store.ids():
        try:
            state = get_state(store, cid)
            state["owner"] = _user_name(posix.stat(store.dir(cid)).st_uid)
        except (NotFoundError, LadingError, FileNotFoundError):
            continue  # being created or deleted right now
        out.append(state)
    return out


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def start(store: Store, cid: str, known: ContainerState | None = None, until_exec: bool = False) -> None:
    """Let the created init exec the user program; errors if the container is not `created`.
    ``known``: the state `run`'s create just saved (see :func:`load_for`).

    Returns once the init has passed all that lading does before the execve (the seccomp filter
    of noNewPrivileges, the startContainer hooks), as runc's and crun's start return before the
    exec: the exec itself (the kernel tearing down the init's copy of the runtime, about 1 ms,
    then the program's own exec) is left to the init. ``until_exec`` (`run` and the engine, which
    report a failed execve) and poststart hooks (which run once the program is executed,
    runtime.md) make it wait for the execve too."""
    with store.lock(cid):
        state, _ = load_for(store, cid, "start", ("created",), known)
        fifo = store.file(cid, EXEC_FIFO)
        poststart = state.hooks("poststart")
        log.debug("start %s: releasing init %d through exec.fifo", cid, state.pid)
        error = _open_exec_fifo(fifo, state.pid, state.pid_start_time, until_exec or bool(poststart))
        posix.unlink(fifo)
        if error:
            raise LadingError(error)
        log.debug("init %d is exec'ing the container's process", state.pid)
        if not poststart:
            return
        from lading.runtime import hooks  # only when there are some

        try:
            hooks.run("poststart", poststart, state.hook_state("running"))
        except LadingError:
            # runtime.md lifecycle step 9: an error, the container stopped, and the lifecycle
            # goes on at step 12: the container is destroyed and the poststop hooks run.
            if _stop(state):
                _destroy(store, cid, state)
            raise


def _stop(state: ContainerState) -> bool:
    """SIGKILL the container's init and everything else in its cgroup (thawed, and taken back
    from any other freezer cgroup, so the kill lands); True once the init is gone."""
    pid, started = state.pid, state.pid_start_time
    log.debug("killing init %d", pid)
    proc.send_signal(pid, started, signals.SIGKILL)
    cgroup = _cgroup(state)
    if cgroup is not None:
        cgroup.kill_all(signals.SIGKILL)
    return proc.wait_gone(pid, started)


def _destroy(store: Store, cid: str, state: ContainerState) -> None:
    """Undo the create of a stopped container, then run the poststop hooks (lifecycle 12-13)."""
    cgroup = _cgroup(state)
    if cgroup is not None:
        cgroup.destroy()  # also kills what outlived the init (it had no PID namespace of its own)
        log.debug("removed the cgroup")
    store.remove(cid)
    log.debug("removed the state directory")
    poststop = state.hooks("poststop")
    if poststop:
        from lading.runtime import hooks

        hooks.run_poststop(poststop, state.hook_state("stopped"))


def _open_exec_fifo(fifo: str, pid: int, started: str | None, until_exec: bool) -> str:
    """Open exec.fifo, which releases the init, and read until the init writes EXECVE_NEXT or,
    ``until_exec``, until it closes its end.

    Nothing read but EXECVE_NEXT means the init is exec'ing the user program (or, at the close,
    has exec'd it: the fifo is close-on-exec in the trampoline); anything else read is the init's
    error. A writer that never connected means the init died first.
    """
    pidfd = proc.open_pidfd(pid, started)  # before the fifo: the program may exit at once
    if pidfd is None:
        return "container init exited before start"
    import select  # start only

    fd = posix.open(fifo, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        data = b""
        while True:
            events = dict(poller.poll())
            if fd in events:
                chunk = _read_some(fd)
                if chunk:
                    data += chunk
                    if data.startswith(EXECVE_NEXT) and not until_exec:
                        return ""
                    continue
                if events[fd] & select.POLLHUP:
                    break
            if pidfd in events:
                last = select.poll()
                last.register(fd, select.POLLIN)
                hung_up = any(ev & select.POLLHUP for _, ev in last.poll(0))
                data += _read_some(fd)
                if not hung_up and not data:
                    return "container init exited before start"
                break
        data = data.removeprefix(EXECVE_NEXT)
        if not data:
            return ""
        from lading.linux import trampoline  # only when there is an error to describe

        return trampoline.describe(data)
    finally:
        posix.close(fd)
        posix.close(pidfd)


def _read_some(fd: int) -> bytes:
    try:
        return posix.read(fd, 65536)
    except BlockingIOError:
        return b""


def kill(store: Store, cid: str, sig: int, all_processes: bool = False) -> None:
    """Signal the init (signal 0 only checks it is there) or, with ``all_processes``, whatever is
    in the container's cgroup: as runc, a stopped container may still have processes there (it
    had no PID namespace of its own), so --all works on it too.

    A single kill of a stopped container fails in runc's words, "container not running": the
    containerd shim takes those (and "does not exist") for "already gone", and any other failure
    of a kill for an error that fails the stop of the pod for ever."""
    # The cgroup is read only where it matters (--all, SIGKILL to a paused container): "running"
    # here may be paused.
    state = store.load(cid)
    st = _status_unfrozen(store, cid, state)
    _check_status(cid, "kill", st, ("created", "running", "paused", "stopped"))
    if all_processes:
        cgroup = _cgroup(state)
        if cgroup is not None:
            log.debug("kill %s: signal %d to every process in its cgroup", cid, sig)
            cgroup.kill_all(sig)
            return
    not_running = f"cannot kill container {cid}: container not running"
    if st == "stopped":
        raise LadingError(not_running)
    # a frozen process dies only once thawed (v1); other signals wait for resume
    frozen = _cgroup(state) if sig == signals.SIGKILL and st == "running" else None
    if frozen is not None and frozen.freezer_state() == "thawed":
        frozen = None
    log.debug("kill %s: signal %d to init %d", cid, sig, state.pid)
    try:
        sent = proc.send_signal(state.pid, state.pid_start_time, sig)
    except OSError as e:  # a number the kernel has no signal for
        raise LadingError(f"unable to signal init: {e.strerror}") from None
    if not sent:
        raise LadingError(not_running)
    if frozen is not None:
        frozen.thaw()


def delete(store: Store, cid: str, force: bool = False, known: ContainerState | None = None) -> None:
    """Remove a stopped (or created) container; --force kills a running one first. ``known``:
    the state `run`'s create saved (see :func:`load_for`)."""
    try:
        lock = store.lock(cid)
    except NotFoundError:
        if force:
            store.remove(cid)  # a create that died before writing state.json left only the dir
            return
        raise
    with lock:
        state = known if known is not None else store.load(cid)
        st = status(store, cid, state)
        if st in ("running", "paused") and not force:
            raise LadingError(f"cannot delete container {cid} that is not stopped: {st}")
        log.debug("delete %s: it is %s", cid, st)
        if st != "stopped" and not _stop(state):
            raise LadingError(f"container {cid}: init process {state.pid} did not exit after SIGKILL")
        _destroy(store, cid, state)


def signal_number(name: str) -> int:
    """TERM, SIGTERM, sigterm and 15 all name the same signal. As runc, any number is passed on
    as it is (0 checks the process exists; one the kernel has no signal for fails the kill)."""
    digits = name[1:] if name[:1] in ("+", "-") else name
    if digits.isascii() and digits.isdigit():
        if abs(int(name)) >= 1 << 31:
            raise LadingError(f"invalid signal: {name}")
        return int(name)
    upper = name.upper()
    if not upper.startswith("SIG"):
        upper = "SIG" + upper
    rt = _realtime(upper)
    if rt is not None:
        return rt
    number = signals.by_name(upper)
    if number is None:
        raise LadingError(f"unknown signal {name!r}")
    return number


def _realtime(name: str) -> int | None:
    if name.startswith("SIGRTMIN"):
        base, rest = signals.SIGRTMIN, name[8:]
    elif name.startswith("SIGRTMAX"):
        base, rest = signals.SIGRTMAX, name[8:]
        rest = rest.replace("-", "+-", 1) if rest.startswith("-") else rest
    else:
        return None
    try:
        n = base + (int(rest.replace("+", "")) if rest else 0)
    except ValueError:
        raise LadingError(f"unknown signal {name!r}") from None
    if not signals.SIGRTMIN <= n <= signals.SIGRTMAX:
        raise LadingError(f"unknown signal {name!r}")
    return n
