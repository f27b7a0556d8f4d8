"""`lading update`: runc's flags and --resources, applied live and kept in the container's state."""

from __future__ import annotations

import json

import pytest

from lading.cli.cgroups import parse_duration, ram_in_bytes
from lading.errors import LadingError
from tests.cgroups_cli.helpers import cgroup_file, run_detached, saved_state, wait_for, with_out_dir

# Each time /out/try appears, try to fork six sleeps at once and report how that went.
FORK_PROBE = """
while :; do
  if [ -e /out/try ]; then
    rm /out/try
    (for i in 1 2 3 4 5 6; do sleep 1 & done; wait) > /out/result.tmp 2>&1
    mv /out/result.tmp /out/result
  fi
  sleep 0.05
done
"""


def _probe(out) -> str:
    (out / "try").write_text("")
    text = wait_for(lambda: (out / "result").exists() and (out / "result").read_text() + "\n", what="probe")
    (out / "result").unlink()
    return str(text)


def test_pids_limit_change_makes_forks_fail_then_succeed(lading, bundle, tmp_path) -> None:
    out = with_out_dir(bundle, tmp_path)
    bundle.config["linux"]["resources"]["pids"] = {"limit": 20}
    run_detached(lading, bundle, "up-pids", FORK_PROBE)
    assert "can't fork" not in _probe(out)

    lading("update", "--pids-limit", "4", "up-pids")
    assert cgroup_file(lading, "up-pids", "pids", "pids.max") == "4"
    assert "can't fork" in _probe(out)

    lading("update", "--pids-limit", "-1", "up-pids")
    assert cgroup_file(lading, "up-pids", "pids", "pids.max") == "max"
    assert "can't fork" not in _probe(out)
    lading("delete", "--force", "up-pids")


def test_new_limits_are_kept_in_the_state_and_merged(lading, bundle) -> None:
    bundle.config["linux"]["resources"].update(memory={"limit": 64 << 20}, pids={"limit": 50})
    run_detached(lading, bundle, "up-state", "exec sleep 100")

    lading("update", "--memory", "128m", "--cpu-share", "512", "--cpuset-cpus", "0", "up-state")
    res = saved_state(lading, "up-state")["config"]["linux"]["resources"]
    assert res["memory"] == {"limit": 128 << 20}
    assert res["pids"] == {"limit": 50}, "settings not given stay as they were"
    assert res["cpu"] == {"shares": 512, "cpus": "0"}
    assert res["devices"] == [{"allow": False, "access": "rwm"}]
    assert cgroup_file(lading, "up-state", "memory", "memory.limit_in_bytes") == str(128 << 20)
    assert cgroup_file(lading, "up-state", "cpu", "cpu.shares") == "512"
    assert cgroup_file(lading, "up-state", "cpuset", "cpuset.cpus") == "0"

    # a later update sees the earlier one: only the quota is given, the period stays
    lading("update", "--cpu-period", "50000", "up-state")
    lading("update", "--cpu-quota", "25000", "--pids-limit", "0", "up-state")
    res = saved_state(lading, "up-state")["config"]["linux"]["resources"]
    assert res["cpu"] == {"shares": 512, "cpus": "0", "period": 50000, "quota": 25000}
    assert res["pids"] == {"limit": 50}, "--pids-limit 0 leaves the limit alone, as in runc"
    assert cgroup_file(lading, "up-state", "cpu", "cpu.cfs_period_us") == "50000"
    assert cgroup_file(lading, "up-state", "cpu", "cpu.cfs_quota_us") == "25000"

    stats = json.loads(lading("events", "--stats", "up-state").stdout)
    assert stats["data"]["memory"]["usage"]["limit"] == 128 << 20
    assert stats["data"]["pids"]["limit"] == 50
    lading("delete", "--force", "up-state")


def test_resources_file_and_stdin(lading, bundle, tmp_path) -> None:
    run_detached(lading, bundle, "up-file", "exec sleep 100")
    f = tmp_path / "res.json"
    f.write_text(json.dumps({"memory": {"limit": 100 << 20, "reservation": 50 << 20}, "pids": {"limit": 33}}))
    lading("update", "-r", str(f), "up-file")
    assert cgroup_file(lading, "up-file", "memory", "memory.limit_in_bytes") == str(100 << 20)
    assert cgroup_file(lading, "up-file", "memory", "memory.soft_limit_in_bytes") == str(50 << 20)
    assert cgroup_file(lading, "up-file", "pids", "pids.max") == "33"

    lading("update", "--resources", "-", "up-file", input='{"pids": {"limit": 44}}')
    assert cgroup_file(lading, "up-file", "pids", "pids.max") == "44"
    res = saved_state(lading, "up-file")["config"]["linux"]["resources"]
    assert res["memory"] == {"limit": 100 << 20, "reservation": 50 << 20} and res["pids"] == {"limit": 44}
    lading("delete", "--force", "up-file")


def test_kernel_memory_is_accepted_with_a_warning(lading, bundle) -> None:
    run_detached(lading, bundle, "up-kmem", "exec sleep 100")
    p = lading("update", "--kernel-memory", "10m", "up-kmem")
    assert "kernel memory settings are ignored" in p.stderr
    assert "memory" not in saved_state(lading, "up-kmem")["config"]["linux"]["resources"]
    lading("delete", "--force", "up-kmem")


def test_bad_input_is_one_line_naming_the_problem(lading, bundle, tmp_path) -> None:
    run_detached(lading, bundle, "up-bad", "exec sleep 100")
    bad = tmp_path / "bad.json"
    bad.write_text('{"memory": {"limit": "lots"}}')
    cases = [
        (["-r", str(bad)], f'{bad}: $.memory.limit: expected an integer, got "lots"'),
        (["-r", "-"], "stdin: "),
        (["-r", str(tmp_path / "missing.json")], f"{tmp_path / 'missing.json'}: no such file"),
        (["--memory", "12q"], "invalid value for --memory"),
        (["--cpu-period", "-5"], "invalid value for --cpu-period"),
        (["--pids-limit", "many"], "invalid value for --pids-limit"),
        (["--blkio-weight", "5"], "$.blockIO.weight: must be between 10 and 1000"),
        (["--cpuset-cpus", "zero"], '$.cpu.cpus: expected a list like "0-3,7"'),
        (["--l3-cache-schema", "L3:0=f"], "--l3-cache-schema: Intel RDT is not supported"),
        (["--mem-bw-schema", "MB:0=70"], "--mem-bw-schema: Intel RDT is not supported"),
    ]
    for argv, message in cases:
        p = lading("update", *argv, "up-bad", check=False, input="{not json")
        assert p.returncode == 1, argv
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (argv, p.stderr)
    lading("kill", "up-bad", "KILL")
    wait_for(lambda: lading.state("up-bad")["status"] == "stopped", what="stop")
    p = lading("update", "--memory", "1g", "up-bad", check=False)
    assert p.returncode == 1 and "stopped" in p.stderr
    lading("delete", "up-bad")
    p = lading("update", "--memory", "1g", "up-bad", check=False)
    assert p.returncode == 1 and "does not exist" in p.stderr


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4096", 4096),
        ("512m", 512 << 20),
        ("1g", 1 << 30),
        ("1G", 1 << 30),
        ("1.5GiB", 3 << 29),
        ("100kb", 100 << 10),
        ("2 MB", 2 << 20),
        ("1t", 1 << 40),
    ],
)
def test_sizes_read_like_runc(text: str, value: int) -> None:
    assert ram_in_bytes(text) == value


@pytest.mark.parametrize("text", ["", "m", "-5m", "1x", "1mm", "1.2.3g"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(LadingError):
        ram_in_bytes(text, "--memory")


def test_durations_read_like_go() -> None:
    assert parse_duration("5s") == 5
    assert parse_duration("100ms") == pytest.approx(0.1)
    assert parse_duration("1m30s") == 90
    assert parse_duration("1.5h") == 5400
    assert parse_duration("0") == 0
    assert parse_duration("-1s") == -1
    for bad in ("", "5", "s", "5x", "1m3"):
        with pytest.raises(LadingError):
            parse_duration(bad)


def test_cpu_burst_and_idle(lading, bundle) -> None:
    """runc's --cpu-burst and --cpu-idle (newer than Debian's runc 1.1.5, so after runc's source):
    0 is a value here (no burst; not SCHED_IDLE), not "unchanged"; bad values are refused."""
    bundle.config["linux"]["resources"]["cpu"] = {"quota": 50000, "period": 100000}
    run_detached(lading, bundle, "up-burst", "exec sleep 100")
    burst = "cpu.cfs_burst_us" if saved_state(lading, "up-burst")["cgroup"]["v1"].get("cpu") else "cpu.max.burst"
    lading("update", "--cpu-burst", "20000", "--cpu-idle", "1", "up-burst")
    assert (cgroup_file(lading, "up-burst", "cpu", burst), cgroup_file(lading, "up-burst", "cpu", "cpu.idle")) == (
        "20000",
        "1",
    )
    assert saved_state(lading, "up-burst")["config"]["linux"]["resources"]["cpu"]["burst"] == 20000
    lading("update", "--cpu-burst", "0", "--cpu-idle", "0", "up-burst")
    assert (cgroup_file(lading, "up-burst", "cpu", burst), cgroup_file(lading, "up-burst", "cpu", "cpu.idle")) == (
        "0",
        "0",
    )
    for flag, value, message in (
        ("--cpu-burst", "x", "invalid value for --cpu-burst: 'x' is not an integer"),
        ("--cpu-burst", "-1", "invalid value for --cpu-burst: '-1' must not be negative"),
        ("--cpu-idle", "2", "update flags: $.cpu.idle: must be 0 or 1, got 2"),
    ):
        p = lading("update", flag, value, "up-burst", check=False)
        assert (p.returncode, p.stderr) == (1, message + "\n")
    lading("delete", "--force", "up-burst")
