"""The engine under crashes, reboots and concurrency: the next command shows the true state, and
`rm -f` (or the leak check after it) finds nothing left."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.engine.conftest import BUSYBOX
from tests.engine.support import Engine
from tests.support import mounts_under, pid_alive, runtime_entries

CRASH = "LADING_ENGINE_CRASH_AT"


@pytest.mark.parametrize("step", ["create-name", "create-layers"])
def test_a_create_killed_half_way_leaves_nothing_the_next_command_keeps(engine: Engine, step: str) -> None:
    p = engine("create", "--name", "half", BUSYBOX, "true", check=False, env={CRASH: step})
    assert p.returncode == -signal.SIGKILL
    assert engine.ids() or (engine.storage / "containers" / "names" / "half").exists()
    assert engine("ps", "-a", "-q").stdout == ""  # it never existed for the user...
    assert engine.ids() == []  # ...and the next command removed what the killed one made
    engine("create", "--name", "half", BUSYBOX, "true")  # the name is free
    engine("rm", "half")


@pytest.mark.parametrize("step", ["start-recorded", "start-launched", "start-created"])
def test_a_start_killed_half_way_shows_exited_and_rm_f_cleans(engine: Engine, step: str) -> None:
    engine("create", "--name", "half", BUSYBOX, "sleep", "600")
    p = engine("start", "half", check=False, env={CRASH: step})
    assert p.returncode == -signal.SIGKILL
    (cid,) = engine.ids()
    monitor = _monitor_of(engine, cid)
    doc = engine.inspect("half")
    assert doc["State"]["Status"] == "exited" and doc["State"]["Running"] is False
    assert step == "start-recorded" or monitor is not None
    assert monitor is None or not pid_alive(*monitor)  # the command that settled it waited for it
    assert not mounts_under(engine.storage)
    engine("start", "half")  # and it can be started again
    assert engine.inspect("half")["State"]["Running"] is True
    engine("rm", "-f", "half")


def test_a_monitor_killed_while_its_create_runs_leaves_nothing_behind(engine: Engine) -> None:
    """The monitor dies (kill -9) as its create child starts, before the runtime has registered
    the container: the start's clean-up waits for that create to end, then deletes what it made."""
    engine("create", "--name", "orphan", BUSYBOX, "sleep", "600")
    p = engine("start", "orphan", check=False, env={CRASH: "monitor-create"})
    assert p.returncode == 1
    assert p.stderr == "Error: the monitor died before the container was created\n"
    doc = engine.inspect("orphan")
    assert doc["State"]["Status"] == "exited" and doc["State"]["Running"] is False
    assert engine.settled_processes() == []  # no init, no create child, no monitor
    assert engine.cgroups() == []
    assert _runtime_states(engine) == []
    assert not mounts_under(engine.storage)
    engine("start", "orphan")  # and it starts again
    assert engine.inspect("orphan")["State"]["Running"] is True
    engine("rm", "-f", "orphan")


@pytest.mark.parametrize("forked", [False, True], ids=["exec", "fork"])
def test_the_command_and_its_monitor_killed_in_one_create_leave_nothing_behind(engine: Engine, forked: bool) -> None:
    """kill -9 of `run -d` while it waits for its monitor's report, and of that monitor while its
    create child runs (exec'd, or forked from the live monitor of another container): the next
    command shows the container exited and nothing of its run is left (no init, create or setup
    child, monitor, mount, cgroup, runtime state or run dir); `rm -f` removes its layers and
    records; the other container runs on untouched."""
    if forked:
        engine("run", "-d", "--name", "other", BUSYBOX, "sleep", "600")
    running, stored = _what_runs(engine), _what_is_stored(engine)
    crash_both = {CRASH: "start-launching,monitor-create"}
    p = engine("run", "-d", "--name", "both", BUSYBOX, "sleep", "600", check=False, env=crash_both)
    assert p.returncode == -signal.SIGKILL
    rows = engine("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split("\n")
    assert sorted(r for r in rows if r) == ["both exited", *(["other running"] if forked else [])]
    doc = engine.inspect("both")
    assert doc["State"]["Running"] is False and doc["State"]["ExitCode"] == 255
    assert _what_runs(engine) == running
    engine("start", "both")  # it starts again
    assert engine.inspect("both")["State"]["Running"] is True
    engine("rm", "-f", "both")
    assert (_what_runs(engine), _what_is_stored(engine)) == (running, stored)
    if forked:
        assert engine.inspect("other")["State"]["Running"] is True
        engine("rm", "-f", "other")


def _what_runs(engine: Engine) -> dict[str, list[str]]:
    """What the engine's running containers hold, as the leak checks count it."""
    run = engine.run_root / "containers"
    monitors = [engine.record(cid)["State"].get("MonitorPid", 0) for cid in engine.ids()]
    return {
        "processes": sorted(entry.split(":", 1)[1] for entry in engine.settled_processes(monitors)),
        "mounts": sorted(mounts_under(engine.tmp)),
        "cgroups": sorted(engine.cgroups()),
        "runtime states": sorted(_runtime_states(engine)),
        "run dirs": sorted(p.name for p in run.iterdir()) if run.exists() else [],
    }


def _what_is_stored(engine: Engine) -> dict[str, list[str]]:
    """What the engine keeps of its containers, running or not: records, layer dirs (not the
    image's, unpacked by the first create and kept)."""
    mounts = engine.storage / "layerdb" / "mounts"
    return {
        "containers": sorted(engine.ids()),
        "layer dirs": sorted(engine.layer_dirs() - engine.image_layer_dirs()),
        "mount records": sorted(p.name for p in mounts.iterdir()) if mounts.exists() else [],
    }


def test_a_crash_point_is_not_inherited_by_the_exit_command(engine: Engine) -> None:
    """A crash point kills the command the test runs, and no process that command started: its
    monitor's exit command restarts the container (--restart always) through the same start
    steps, and goes through them."""
    engine("create", "--name", "again", "--restart", "always", BUSYBOX, "sleep", "600")
    p = engine("start", "again", check=False, env={CRASH: "start-created"})
    assert p.returncode == -signal.SIGKILL
    (cid,) = engine.ids()
    engine("ps", "-a")  # settles the killed start: the monitor's container is deleted, it exits
    # ...and its exit command restarts the container; wait until it has ended
    while engine.record(cid)["RestartCount"] < 1 or not _unlocked(engine, cid):
        pass
    state = engine.record(cid)["State"]
    assert state["Running"] is True and "Starting" not in state  # the restart was not killed
    assert pid_alive(state["MonitorPid"]) and pid_alive(state["Pid"])
    engine("rm", "-f", "again")


def _unlocked(engine: Engine, cid: str) -> bool:
    """Whether no command (the exit command, its restart) holds the container's lock now."""
    fd = os.open(engine.storage / "containers" / cid / "lock", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _runtime_states(engine: Engine) -> list[str]:
    """The containers the runtimes' state roots hold."""
    return [str(p) for root in (engine.run_root / "runtimes").glob("*") for p in runtime_entries(root)]


def _monitor_of(engine: Engine, cid: str) -> tuple[int, str] | None:
    """The pid and start time of the container's monitor, from its exec dir (the record may not
    have it: a start killed before it recorded the pid)."""
    try:
        pid, started = (engine.run_root / "containers" / cid / "exec" / "monitor.pid").read_text().split()
    except FileNotFoundError:
        return None
    return int(pid), started


def test_a_killed_monitor_loses_no_recorded_exit_and_no_log_line(engine: Engine) -> None:
    engine("run", "--name", "done", BUSYBOX, "sh", "-c", "echo line one; exit 7", check=False)
    engine("run", "-d", "--name", "victim", BUSYBOX, "sh", "-c", "echo written; exec sleep 600")
    while "written" not in engine("logs", "victim").stdout:
        pass
    monitor = engine.record(engine.inspect("victim")["Id"])["State"]["MonitorPid"]
    os.kill(monitor, signal.SIGKILL)
    doc = engine.inspect("victim")
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 255
    assert "written" in engine("logs", "victim").stdout
    assert engine.inspect("done")["State"]["ExitCode"] == 7
    assert "line one" in engine("logs", "done").stdout
    engine("rm", "-f", "victim", "done")


def _simulate_reboot(engine: Engine) -> None:
    """What a reboot does to the engine: every container process gone, the run root emptied,
    overlays unmounted; the records then carry a boot ID that is no longer the kernel's."""
    for cid in engine.ids():
        st = engine.record(cid)["State"]
        for pid in (st.get("MonitorPid"), st.get("Pid")):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    for entry in engine.settled_processes():
        os.kill(int(entry.split(":")[0]), signal.SIGKILL)
    from lading.linux.process import wait_gone

    for cid in engine.ids():
        pid = engine.record(cid)["State"].get("Pid")
        if pid:
            wait_gone(pid, None, 30)
    for cgroup in engine.cgroups():
        os.rmdir(cgroup)
    for m in sorted(mounts_under(engine.storage), reverse=True):
        subprocess.run(["umount", "-l", m], check=True)
    subprocess.run(["rm", "-rf", str(engine.run_root)], check=True)
    for cid in engine.ids():
        path = engine.storage / "containers" / cid / "config.v2.json"
        cfg = json.loads(path.read_text())
        if cfg["State"].get("BootID"):
            cfg["State"]["BootID"] = "00000000-0000-0000-0000-000000000000"
        path.write_text(json.dumps(cfg))


def test_a_reboot_is_noticed_and_start_all_brings_back_restart_always(engine: Engine) -> None:
    engine("run", "-d", "--name", "always", "--restart", "always", BUSYBOX, "sleep", "600")
    engine("run", "-d", "--name", "plain", BUSYBOX, "sleep", "600")
    engine("run", "-d", "--name", "stopped", "--restart", "unless-stopped", BUSYBOX, "sleep", "600")
    engine("stop", "-t", "0", "stopped")
    _simulate_reboot(engine)
    rows = engine("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split("\n")
    assert sorted(r for r in rows if r) == ["always exited", "plain exited", "stopped exited"]
    assert engine.inspect("plain")["State"]["ExitCode"] == 255
    assert engine("start", "--all").stdout.split() == [engine.inspect("always")["Id"]]
    assert engine("ps", "--format", "{{.Names}}").stdout == "always\n"
    engine("rm", "-f", "always", "plain", "stopped")


def test_twenty_concurrent_runs_all_succeed(engine: Engine) -> None:
    with ThreadPoolExecutor(20) as pool:
        results = list(
            pool.map(lambda i: engine("run", "-d", "--name", f"c{i:02d}", BUSYBOX, "sleep", "600"), range(20))
        )
    assert all(len(r.stdout.strip()) == 64 for r in results)
    names = engine("ps", "--format", "{{.Names}}").stdout.split()
    assert sorted(names) == [f"c{i:02d}" for i in range(20)]
    engine("rm", "-f", *names)


def test_two_runs_with_one_name_exactly_one_wins(engine: Engine) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(lambda _: engine("run", "-d", "--name", "only", BUSYBOX, "sleep", "600", check=False), range(2))
        )
    assert sorted(r.returncode for r in results) == [0, 125]
    loser = next(r for r in results if r.returncode)
    assert 'The container name "/only" is already in use' in loser.stderr and len(loser.stderr.splitlines()) == 1
    assert len(engine.ids()) == 1
    engine("rm", "-f", "only")


def test_after_rm_of_everything_nothing_is_left(engine: Engine) -> None:
    engine("run", "-d", "--name", "x1", "--memory", "32m", BUSYBOX, "sleep", "600")
    engine("run", "-d", "--name", "x2", "--runtime", "runc", BUSYBOX, "sleep", "600")
    engine("create", "--name", "x3", BUSYBOX)
    engine("run", "--name", "x4", BUSYBOX, "true")
    assert engine.cgroups()
    engine("rm", "-f", "x1", "x2", "x3", "x4")
    assert engine.leftovers() == []
    assert engine.layer_dirs() == engine.image_layer_dirs()
    assert _runtime_states(engine) == []
