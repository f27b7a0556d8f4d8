"""The verbs that act on a live container through its cgroup: update, pause, resume, ps, events.

`update` applies only the settings it is given and merges them into the ``linux.resources`` kept
in state.json, so a later `update` (or anything else reading the state) sees the limits in force,
not the ones the container was created with. `events` streams what runc's does: a ``stats``
object every interval and an ``oom`` object when the OOM killer strikes, until the init exits.
"""

from __future__ import annotations

import os
import select
import sys
import time

from lading.errors import LadingError
from lading.linux import process as proc
from lading.runtime.cgroups import ContainerCgroup
from lading.runtime.lifecycle import load_for, status
from lading.runtime.store import Store

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable  # collections.abc imports collections
    from typing import Any

    from lading.runtime.container_state import ContainerState
    from lading.spec.runtime_config import LinuxResources


def _cgroup(cid: str, state: ContainerState) -> ContainerCgroup:
    cgroup = ContainerCgroup.from_record(state.cgroup)
    if cgroup is None:
        raise LadingError(f"container {cid} has no cgroup")
    return cgroup


# --- update --------------------------------------------------------------------------------------


def merge(old: Any, new: Any) -> Any:
    """``new`` laid over ``old``: objects merge key by key, anything else (lists too) replaces."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for k, v in new.items():
            out[k] = merge(old.get(k), v)
        return out
    return new


def update(store: Store, cid: str, res: LinuxResources, where: str = "resources") -> None:
    """Apply ``res`` (only the settings it has) to the running container and record it."""
    from lading.spec.model import convert, replace, to_builtins
    from lading.spec.runtime_config import LinuxResources as Resources

    with store.lock(cid):
        state = store.load(cid)
        st = status(store, cid, state)
        if st == "stopped":
            raise LadingError(f"cannot update container {cid}: it is stopped")
        cgroup = _cgroup(cid, state)
        linux = state.config.setdefault("linux", {})
        merged = merge(linux.get("resources") or {}, to_builtins(res))
        in_force = convert(merged, Resources)
        if res.cpu is not None and in_force.cpu is not None and (res.cpu.quota or res.cpu.period):
            # cgroup v2 sets quota and period in one line: keep the half not given
            cpu = replace(res.cpu, quota=in_force.cpu.quota, period=in_force.cpu.period)
            res = replace(res, cpu=cpu)
        cgroup.update(res, where)
        linux["resources"] = merged
        store.save(state)


# --- pause, resume -------------------------------------------------------------------------------


def pause(store: Store, cid: str) -> None:
    with store.lock(cid):
        state, _ = load_for(store, cid, "pause", ("running",))
        _cgroup(cid, state).freeze()


def resume(store: Store, cid: str) -> None:
    with store.lock(cid):
        state, _ = load_for(store, cid, "resume", ("paused",))
        _cgroup(cid, state).thaw()


# --- ps ------------------------------------------------------------------------------------------


def pids(store: Store, cid: str) -> list[int]:
    """Host PIDs of every process in the container's cgroup."""
    return _cgroup(cid, store.load(cid)).pids()


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """`ps ps_args` run on the host, keeping the header and the lines of ``pids``."""
    import subprocess

    try:
        p = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False)
    except OSError as e:
        raise LadingError(f"cannot run ps: {e.strerror}") from None
    if p.returncode != 0:
        raise LadingError(f"ps {' '.join(ps_args)}: exit status {p.returncode}: {(p.stdout + p.stderr).strip()}")
    lines = p.stdout.splitlines()
    if not lines or "PID" not in lines[0].split():
        raise LadingError("couldn't find PID field in ps output")
    column = lines[0].split().index("PID")
    wanted = set(pids)
    out = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            pid = int(fields[column])
        except (IndexError, ValueError):
            raise LadingError(f"unable to parse pid in ps output: {line!r}") from None
        if pid in wanted:
            out.append(line)
    return "".join(line + "\n" for line in out)


# --- events --------------------------------------------------------------------------------------


def stats(store: Store, cid: str) -> dict[str, Any]:
    state = store.load(cid)
    if status(store, cid, state) == "stopped":
        raise LadingError(f"container with id {cid} is not running")
    return _cgroup(cid, state).stats()


def event(kind: str, cid: str, data: dict[str, Any] | None = None) -> str:
    """One line of `events` output, shaped like runc's."""
    obj: dict[str, Any] = {"type": kind, "id": cid}
    if data is not None:
        obj["data"] = data
    import json  # compact separators, which lading.jsonlite does not write; events is long-running

    return json.dumps(obj, separators=(",", ":")) + "\n"


def _print(line: str) -> None:
    sys.stdout.write(line)
    sys.stdout.flush()


def stream_events(store: Store, cid: str, interval: float, emit: Callable[[str], None] = _print) -> None:
    """Stats every ``interval`` seconds and an ``oom`` event per OOM, until the init exits."""
    state = store.load(cid)
    cgroup = _cgroup(cid, state)
    pidfd = proc.open_pidfd(state.pid, state.pid_start_time)
    if pidfd is None or status(store, cid, state) == "stopped":
        if pidfd is not None:
            os.close(pidfd)
        raise LadingError(f"container with id {cid} is not running")
    watcher = None
    try:
        watcher = cgroup.oom_watcher()
        kills_before = cgroup.oom_kills()
        reported = 0
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if watcher is not None:
            poller.register(watcher.fileno(), watcher.poll_events)
        next_tick = time.monotonic() + interval
        while True:
            timeout = max(0.0, next_tick - time.monotonic())
            ready = dict(poller.poll(timeout * 1000))
            if watcher is not None and watcher.fileno() in ready and watcher.read():
                reported += 1
                emit(event("oom", cid))
            if pidfd in ready:
                # an OOM that killed the init may not have woken the watcher yet: the counter knows
                if not reported and cgroup.oom_kills() > kills_before:
                    emit(event("oom", cid))
                return
            if time.monotonic() >= next_tick:
                next_tick += interval
                try:
                    emit(event("stats", cid, cgroup.stats()))
                except LadingError as e:
                    from lading import log

                    log.error(str(e))
    finally:
        if watcher is not None:
            watcher.close()
        os.close(pidfd)
