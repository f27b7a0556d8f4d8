"""`ps` (json and table) and `events` (stats once, the stream, and OOM notifications)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.cgroups_cli.helpers import container_pids, memsw_available, run_detached, wait_for, with_out_dir
from tests.support import lading_argv, lading_env

STATS_KEYS = {"cpu", "memory", "pids", "blkio", "hugetlb"}


def test_ps_json_lists_the_host_pids_of_the_container(lading, bundle) -> None:
    state = run_detached(lading, bundle, "ps-json", "sleep 100 & sleep 100 & exec sleep 100")
    pids = wait_for(lambda: len(container_pids(lading, "ps-json")) == 3 and container_pids(lading, "ps-json"))
    assert state["pid"] in pids
    for pid in pids:
        assert "ps-json" in Path(f"/proc/{pid}/cgroup").read_text()
    out = lading("ps", "-f", "json", "ps-json").stdout
    assert out == json.dumps(sorted(pids), separators=(",", ":")) + "\n"
    lading("delete", "--force", "ps-json")


def test_ps_table_filters_host_ps_to_the_container(lading, bundle) -> None:
    state = run_detached(lading, bundle, "ps-table", "sleep 101 & exec sleep 102")
    wait_for(lambda: len(container_pids(lading, "ps-table")) == 2)
    lines = lading("ps", "ps-table").stdout.splitlines()
    assert lines[0].split()[:3] == ["UID", "PID", "PPID"], "default ps -ef"
    assert sorted(line.split()[-1] for line in lines[1:]) == ["101", "102"]

    lines = lading("ps", "ps-table", "-o", "pid,args").stdout.splitlines()
    assert lines[0].split() == ["PID", "COMMAND"]
    assert {line.split()[0] for line in lines[1:]} == {str(p) for p in container_pids(lading, "ps-table")}
    assert f"{state['pid']} sleep 102" in [line.strip() for line in lines]

    p = lading("ps", "ps-table", "-o", "comm", check=False)
    assert p.returncode == 1 and "PID field" in p.stderr
    lading("delete", "--force", "ps-table")


def test_events_stats_prints_one_object_like_runc(lading, bundle) -> None:
    bundle.config["linux"]["resources"].update(memory={"limit": 96 << 20}, pids={"limit": 64})
    run_detached(lading, bundle, "ev-stats", "exec sleep 100")
    out = lading("events", "--stats", "ev-stats").stdout
    assert out.count("\n") == 1
    event = json.loads(out)
    assert (event["type"], event["id"]) == ("stats", "ev-stats")
    data = event["data"]
    assert data.keys() >= STATS_KEYS
    assert data["memory"]["usage"]["limit"] == 96 << 20 and data["memory"]["usage"]["usage"] > 0
    assert data["pids"] == {"current": 1, "limit": 64}
    assert data["cpu"]["usage"]["total"] > 0
    lading("delete", "--force", "ev-stats")


def test_events_refuses_a_stopped_container_and_a_bad_interval(lading, bundle) -> None:
    run_detached(lading, bundle, "ev-bad", "exec sleep 100")
    for interval in ("0s", "-1s"):
        p = lading("events", f"--interval={interval}", "ev-bad", check=False)
        assert p.returncode == 1 and "duration interval must be greater than 0" in p.stderr
    p = lading("events", "--interval", "soon", "ev-bad", check=False)
    assert p.returncode == 1 and "--interval" in p.stderr
    lading("kill", "ev-bad", "KILL")
    wait_for(lambda: lading.state("ev-bad")["status"] == "stopped", what="stop")
    for argv in (["--stats"], []):
        p = lading("events", *argv, "ev-bad", check=False)
        assert p.returncode == 1 and "container with id ev-bad is not running" in p.stderr
    lading("delete", "ev-bad")


def _events(lading, cid: str, interval: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*lading_argv(), "--root", str(lading.root), "events", "--interval", interval, cid],
        env=lading_env(),
        stdout=subprocess.PIPE,
        text=True,
    )


def test_events_streams_stats_until_the_container_stops(lading, bundle) -> None:
    run_detached(lading, bundle, "ev-stream", "exec sleep 100")
    events = _events(lading, "ev-stream", "100ms")
    try:
        assert events.stdout is not None
        started = time.monotonic()
        lines = [json.loads(events.stdout.readline()) for _ in range(3)]
        assert time.monotonic() - started >= 0.25
        assert all(e["type"] == "stats" and e["id"] == "ev-stream" for e in lines)
        lading("kill", "ev-stream", "KILL")
        events.stdout.read()
        assert events.wait(timeout=10) == 0
    finally:
        events.kill()
        events.wait()
    lading("delete", "ev-stream")


def test_oom_kill_is_reported_and_ends_the_container(lading, bundle, tmp_path) -> None:
    out = with_out_dir(bundle, tmp_path)
    memory = {"limit": 32 << 20, **({"swap": 32 << 20} if memsw_available() else {})}
    bundle.config["linux"]["resources"]["memory"] = memory
    # tail keeps the line it is reading, and /dev/zero has no newline: it grows until killed
    bundle.write(args=["sh", "-c", "while [ ! -e /out/go ]; do usleep 20000; done; cat /dev/zero | tail"])
    runner = subprocess.Popen(
        [*lading_argv(), "--root", str(lading.root), "run", "--keep", "--bundle", str(bundle), "ev-oom"],
        env=lading_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    events = None
    try:
        wait_for(
            lambda: (lading.root / "ev-oom" / "state.json").exists() and lading.state("ev-oom")["status"] == "running",
            what="the container to run",
        )
        events = _events(lading, "ev-oom", "100ms")
        assert events.stdout is not None
        assert json.loads(events.stdout.readline())["type"] == "stats"  # the watcher is in place
        (out / "go").write_text("")
        rest = [json.loads(line) for line in events.stdout]
        assert events.wait(timeout=30) == 0, "events ends when the container stops"
        assert {"type": "oom", "id": "ev-oom"} in rest
        assert runner.wait(timeout=30) == 128 + 9, "the shell reports its pipeline killed by SIGKILL"
    finally:
        for p in (runner, events):
            if p is not None:
                p.kill()
                p.wait()
    assert lading.state("ev-oom")["status"] == "stopped"
    lading("delete", "ev-oom")
