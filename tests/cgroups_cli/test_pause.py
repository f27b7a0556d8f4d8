"""`pause` and `resume` (the freezer), and killing or force-deleting a paused container."""

from __future__ import annotations

import os
import time

from tests.cgroups_cli.helpers import (
    cgroup_dirs,
    container_pids,
    gone,
    run_detached,
    wait_for,
    with_out_dir,
)

COUNTER = "while :; do echo x >> /out/count; usleep 20000; done"
SEVERAL = "sleep 100 & sleep 100 & (sleep 100; :) & exec sleep 100"


def _size(out) -> int:
    p = out / "count"
    return p.stat().st_size if p.exists() else 0


def test_paused_processes_do_not_run_and_continue_after_resume(lading, bundle, tmp_path) -> None:
    out = with_out_dir(bundle, tmp_path)
    run_detached(lading, bundle, "pz-count", COUNTER)
    wait_for(lambda: _size(out) > 10, what="the counter to start")

    lading("pause", "pz-count")
    assert lading.state("pz-count")["status"] == "paused"
    frozen_at = _size(out)
    time.sleep(0.5)
    assert _size(out) == frozen_at, "a paused container's processes must not run"
    assert lading("list", "--format", "json").stdout.count('"paused"') == 1
    assert container_pids(lading, "pz-count"), "ps works on a paused container"

    lading("resume", "pz-count")
    assert lading.state("pz-count")["status"] == "running"
    wait_for(lambda: _size(out) > frozen_at + 10, what="the counter to go on")
    lading("delete", "--force", "pz-count")


def test_pause_and_resume_need_the_right_status(lading, bundle) -> None:
    bundle.write(args=["sleep", "100"])
    lading("create", "--bundle", str(bundle), "pz-status")
    lading.state("pz-status")
    p = lading("pause", "pz-status", check=False)
    assert p.returncode == 1 and "created, not running" in p.stderr
    lading("start", "pz-status")
    p = lading("resume", "pz-status", check=False)
    assert p.returncode == 1 and "running, not paused" in p.stderr
    lading("pause", "pz-status")
    p = lading("pause", "pz-status", check=False)
    assert p.returncode == 1 and "paused, not running" in p.stderr
    lading("resume", "pz-status")
    lading("kill", "pz-status", "KILL")
    wait_for(lambda: lading.state("pz-status")["status"] == "stopped", what="stop")
    for verb in ("pause", "resume"):
        p = lading(verb, "pz-status", check=False)
        assert p.returncode == 1 and "stopped" in p.stderr
    lading("delete", "pz-status")
    p = lading("pause", "pz-status", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_kill_reaches_a_paused_container(lading, bundle) -> None:
    run_detached(lading, bundle, "pz-kill", SEVERAL)
    pids = wait_for(lambda: len(container_pids(lading, "pz-kill")) >= 5 and container_pids(lading, "pz-kill"))
    lading("pause", "pz-kill")
    lading("kill", "pz-kill", "KILL")
    wait_for(lambda: all(gone(p) for p in pids), what="every process to die")
    assert lading.state("pz-kill")["status"] == "stopped"
    lading("delete", "pz-kill")


def test_kill_all_reaches_a_paused_container(lading, bundle) -> None:
    run_detached(lading, bundle, "pz-killall", SEVERAL)
    pids = wait_for(lambda: len(container_pids(lading, "pz-killall")) >= 5 and container_pids(lading, "pz-killall"))
    lading("pause", "pz-killall")
    lading("kill", "--all", "pz-killall", "KILL")
    wait_for(lambda: all(gone(p) for p in pids), what="every process to die")
    lading("delete", "pz-killall")


def test_force_delete_of_a_paused_container_leaves_nothing(lading, bundle) -> None:
    run_detached(lading, bundle, "pz-del", SEVERAL)
    pids = wait_for(lambda: len(container_pids(lading, "pz-del")) >= 5 and container_pids(lading, "pz-del"))
    dirs = cgroup_dirs(lading, "pz-del")
    lading("pause", "pz-del")
    p = lading("delete", "pz-del", check=False)
    assert p.returncode == 1 and "not stopped: paused" in p.stderr
    lading("delete", "--force", "pz-del")
    assert all(gone(p) for p in pids)
    assert not [d for d in dirs if os.path.exists(d)], "cgroups left behind"
    assert not (lading.root / "pz-del").exists()


def test_kill_all_signals_every_process(lading, bundle) -> None:
    # the init (PID 1 of its namespace, no handler) ignores TERM from outside; the others do not
    state = run_detached(lading, bundle, "ka-term", "sleep 100 & sleep 100 & sleep 100 & exec sleep 100")
    pids = wait_for(lambda: len(container_pids(lading, "ka-term")) == 4 and container_pids(lading, "ka-term"))
    lading("kill", "ka-term", "TERM")
    time.sleep(0.2)
    assert not any(gone(p) for p in pids), "plain kill reaches only the init, which ignores TERM"
    lading("kill", "--all", "ka-term", "TERM")
    wait_for(lambda: container_pids(lading, "ka-term") == [state["pid"]], what="all but the init to die")
    assert lading.state("ka-term")["status"] == "running"
    lading("kill", "--all", "ka-term", "KILL")
    wait_for(lambda: all(gone(p) for p in pids), what="every process to die")
    assert lading.state("ka-term")["status"] == "stopped"
    lading("delete", "ka-term")
