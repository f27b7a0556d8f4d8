"""`lading container` commands as a user sees them: output, exit codes, and the state they leave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.conftest import BUSYBOX, LAYERS, NOCMD, EngineImages
from tests.engine.support import Engine, engine_cgroup_parents
from tests.image.oci import skopeo_push
from tests.image.servers import Registry


def test_run_exits_with_the_container_status_and_rm_leaves_nothing(engine: Engine) -> None:
    p = engine("run", "--rm", BUSYBOX, "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    assert engine.ids() == []


@pytest.mark.parametrize(("command", "status"), [("/nonexistent", 127), ("/etc/passwd", 126)])
def test_a_command_that_cannot_run_is_126_or_127(engine: Engine, command: str, status: int) -> None:
    p = engine("run", "--rm", BUSYBOX, command, check=False)
    assert p.returncode == status
    assert len(p.stderr.strip().splitlines()) == 1 and command in p.stderr
    assert engine.ids() == []


def test_image_config_and_flags_make_the_process(engine: Engine, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "f").write_text("from the host\n")
    script = 'echo "$FROM_IMAGE $FROM_FILE $GIVEN $(pwd) $(id -u):$(id -g) $(hostname)"; cat /data/f; touch /data/x'
    p = engine(
        "run",
        "--rm",
        "-e",
        "GIVEN=2",
        "--env-file",
        str(env_file),
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "-h",
        "boxname",
        "-v",
        f"{tmp_path / 'shared'}:/data:ro",
        LAYERS,
        "sh",
        "-c",
        script,
        check=False,
    )
    lines = p.stdout.splitlines()
    assert lines[0] == "yes 1 2 /tmp 65534:65534 boxname"
    assert lines[1] == "from the host"
    assert p.stderr == "touch: /data/x: Read-only file system\n" and p.returncode == 1
    # the image's WorkingDir and the entrypoint flag
    assert engine("run", "--rm", LAYERS, "pwd").stdout == "/srv\n"
    assert engine("run", "--rm", "--entrypoint", "echo", BUSYBOX, "a", "b").stdout == "a b\n"


def test_read_only_root_and_capabilities(engine: Engine) -> None:
    p = engine("run", "--rm", "--read-only", BUSYBOX, "touch", "/x", check=False)
    assert p.returncode == 1 and p.stderr == "touch: /x: Read-only file system\n"
    caps = engine("run", "--rm", BUSYBOX, "grep", "CapEff", "/proc/self/status").stdout.split()[1]
    assert int(caps, 16) == 0xA80425FB  # docker's 14 default capabilities
    dropped = engine(
        "run", "--rm", "--cap-drop", "ALL", "--cap-add", "chown", BUSYBOX, "grep", "CapEff", "/proc/self/status"
    )
    assert int(dropped.stdout.split()[1], 16) == 1
    privileged = engine("run", "--rm", "--privileged", BUSYBOX, "grep", "CapEff", "/proc/self/status").stdout.split()[1]
    assert int(privileged, 16) > 0xA80425FB


def test_limits_reach_the_cgroup(engine: Engine) -> None:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # cgroup v2 only
        files, expected = "memory.max pids.max cpu.max", [str(64 << 20), "50", "50000", "100000"]
    else:
        files = "memory/memory.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us"
        expected = [str(64 << 20), "50", "50000"]
    script = f"cd /sys/fs/cgroup && cat {files}"
    out = engine("run", "--rm", "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5", BUSYBOX, "sh", "-c", script)
    assert out.stdout.split() == expected


def test_the_parent_cgroup_goes_with_the_last_container(engine: Engine) -> None:
    engine("run", "-d", "--name", "first", BUSYBOX, "sleep", "600")
    engine("run", "-d", "--name", "second", BUSYBOX, "sleep", "600")
    parents = engine_cgroup_parents()
    assert parents, "the containers' cgroups are under /lading-engine"
    engine("rm", "-f", "first")
    assert engine_cgroup_parents() == parents  # it still holds the second's
    engine("rm", "-f", "second")
    others = [p for p in engine_cgroup_parents() if any(c.is_dir() for c in p.iterdir())]
    if others:  # another run on this machine has containers there
        pytest.skip(f"another engine's containers are under {others[0]}")
    assert engine_cgroup_parents() == []
    engine("run", "--rm", BUSYBOX, "true")  # and a new one makes it again
    assert engine_cgroup_parents() == []


def test_network_none_has_only_lo_and_host_shares_the_host_s(engine: Engine) -> None:
    own = engine("run", "--rm", BUSYBOX, "ls", "/sys/class/net").stdout.split()
    assert own == ["lo"]
    host = engine("run", "--rm", "--network", "host", BUSYBOX, "ls", "/sys/class/net").stdout.split()
    assert sorted(host) == sorted(p.name for p in Path("/sys/class/net").iterdir())


def test_ps_lists_filters_and_formats(engine: Engine) -> None:
    first = engine("run", "-d", "--name", "one", "--label", "role=web", BUSYBOX, "sleep", "600").stdout.strip()
    engine("create", "--name", "two", BUSYBOX, "true")
    lines = engine("ps").stdout.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert len(lines) == 2 and lines[1].startswith(first[:12]) and lines[1].endswith("one") and "Up " in lines[1]
    assert '"sleep 600"' in lines[1]
    assert engine("ps", "-a", "-q").stdout.split() == [engine.inspect("two")["Id"][:12], first[:12]]
    assert engine("ps", "-q", "--no-trunc").stdout.split() == [first]
    assert engine("ps", "-a", "--filter", "label=role=web", "--format", "{{.Names}}").stdout == "one\n"
    assert (
        engine("ps", "-a", "--filter", "status=created", "--format", "{{.Names}} {{.State}}").stdout == "two created\n"
    )
    table = engine("ps", "-a", "--format", 'table {{.Names}}\t{{.Label "role"}}').stdout.splitlines()
    assert [line.split() for line in table] == [["NAMES", "LABEL"], ["two"], ["one", "web"]]
    engine("rm", "-f", "one", "two")


def test_ids_prefixes_and_names_all_work(engine: Engine) -> None:
    cid = engine("create", "--name", "named", BUSYBOX, "true").stdout.strip()
    for ref in (cid, cid[:12], cid[:5], "named", "/named"):
        assert engine.inspect(ref)["Id"] == cid
    p = engine("inspect", "nosuch", check=False)
    assert p.returncode == 1 and p.stderr.strip() == "Error: No such container: nosuch"
    engine("rename", "named", "renamed")
    assert engine.inspect("renamed")["Name"] == "/renamed"
    assert engine("inspect", "named", check=False).returncode == 1
    engine("create", "--name", "named", BUSYBOX, "true")  # the old name is free again
    engine("rm", "renamed", "named")


def test_inspect_is_docker_shaped(engine: Engine) -> None:
    engine("run", "-d", "--name", "insp", "--restart", "on-failure:3", LAYERS, "sleep", "600")
    doc = engine.inspect("insp")
    assert doc["State"]["Status"] == "running" and doc["State"]["Running"] is True and doc["State"]["Pid"] > 0
    assert doc["Config"]["Env"] == ["PATH=/bin", "FROM_IMAGE=yes"]
    assert doc["Config"]["Labels"] == {"org.example.layer": "top"}
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    data = doc["GraphDriver"]["Data"]
    assert doc["GraphDriver"]["Name"] == "overlay2" and Path(data["MergedDir"]).is_dir()
    assert len(data["LowerDir"].split(":")) == 3 and data["LowerDir"].split(":")[0].endswith("-init/diff")
    assert engine("inspect", "-f", "{{.State.Status}} {{.Config.WorkingDir}}", "insp").stdout == "running /srv\n"
    engine("rm", "-f", "insp")


def test_stop_kill_restart_wait(engine: Engine) -> None:
    # LAYERS' StopSignal is SIGINT: the trap sees it and exits 42
    # --init: the shell is not PID 1, so a signal it does not handle kills it
    engine(
        "run", "-d", "--init", "--name", "trap", LAYERS, "sh", "-c", "trap 'exit 42' INT; while :; do sleep 0.1; done"
    )
    assert engine("stop", "trap").stdout == "trap\n"
    assert engine.inspect("trap")["State"]["ExitCode"] == 42
    engine("start", "trap")
    engine("kill", "-s", "USR1", "trap")  # not handled: the shell dies of it
    assert engine("wait", "trap").stdout == str(128 + 10) + "\n"
    engine("restart", "-t", "0", "trap")
    assert engine.inspect("trap")["State"]["Running"] is True
    p = engine("rm", "trap", check=False)
    assert p.returncode == 1 and "Stop the container before attempting removal or force remove" in p.stderr
    engine("kill", "trap")
    assert engine("wait", "trap").stdout == "137\n"
    p = engine("kill", "trap", check=False)
    assert p.returncode == 1 and "is not running" in p.stderr
    engine("rm", "trap")


def test_exec_and_top(engine: Engine) -> None:
    engine("run", "-d", "--name", "ex", BUSYBOX, "sleep", "600")
    out = engine(
        "exec", "-e", "X=1", "-w", "/tmp", "-u", "nobody", "ex", "sh", "-c", 'echo "$X $(pwd) $(id -u)"'
    ).stdout
    assert out == "1 /tmp 65534\n"
    assert engine("exec", "ex", "sh", "-c", "exit 5", check=False).returncode == 5
    assert "sleep 600" in engine("top", "ex").stdout
    engine("rm", "-f", "ex")
    p = engine("exec", "ex", "true", check=False)
    assert p.returncode == 1 and "No such container" in p.stderr


def test_restart_policy_on_failure_counts_and_stops(engine: Engine) -> None:
    engine("run", "-d", "--name", "flaky", "--restart", "on-failure:2", BUSYBOX, "sh", "-c", "exit 1")
    while True:  # the monitor's exit command restarts it twice, then leaves it exited
        doc = engine.inspect("flaky")
        if doc["RestartCount"] == 2 and doc["State"]["Status"] == "exited":
            break
        engine("wait", "flaky")
    assert doc["State"]["ExitCode"] == 1
    engine("rm", "flaky")


def test_prune_removes_stopped_containers_only(engine: Engine) -> None:
    engine("run", "-d", "--name", "alive", BUSYBOX, "sleep", "600")
    dead = engine("create", "--name", "dead", BUSYBOX).stdout.strip()
    out = engine("prune", "-f").stdout.split()
    assert out[-1] == dead
    assert [n.strip() for n in engine("ps", "-a", "--format", "{{.Names}}").stdout.split()] == ["alive"]
    engine("rm", "-f", "alive")


def test_other_runtimes_run_the_same_bundle(engine: Engine) -> None:
    out = engine("run", "--rm", "--runtime", "runc", LAYERS, "sh", "-c", "echo $FROM_IMAGE; ls /etc").stdout
    assert out.split() == ["yes", "group", "hostname", "hosts", "mtab", "passwd", "resolv.conf"]


# --- bad input: one line, exit 125, nothing left --------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["localhost/test/none:1"], "no such image"),
        ([NOCMD], "No command specified"),
        (["--memory", "lots", BUSYBOX, "true"], "--memory"),
        (["--cpus", "many", BUSYBOX, "true"], "--cpus"),
        (["--restart", "sometimes", BUSYBOX, "true"], "restart policy"),
        (["-v", "/nonexistent/dir:/x", BUSYBOX, "true"], "bind source path does not exist: /nonexistent/dir"),
        (["-v", "relative:/x", BUSYBOX, "true"], "invalid volume specification"),
        (["--name", "bad/name", BUSYBOX, "true"], "Invalid container name"),
        (["--runtime", "nosuchruntime", BUSYBOX, "true"], "unknown or invalid runtime name"),
        (["--network", "bridge", BUSYBOX, "true"], "--network bridge"),
        (["-u", "nosuchuser", BUSYBOX, "true"], "nosuchuser"),
        (["-u", "99999999999", BUSYBOX, "true"], "--user: uids and gids must be in range 0-2147483647"),
        (["-u", "1:99999999999", BUSYBOX, "true"], "--user: uids and gids must be in range 0-2147483647"),
        (["-e", "=x", BUSYBOX, "true"], "invalid environment variable: =x"),
        (["--memory", "100", BUSYBOX, "true"], "Minimum memory limit allowed is 6MB"),
        (["-w", "relative", BUSYBOX, "pwd"], "the working directory 'relative' is invalid, it needs to be an absolute"),
        (["--log-opt", "colour=red", BUSYBOX, "true"], "--log-opt"),
        (["--no-such-flag", BUSYBOX], "--no-such-flag"),
    ],
)
def test_bad_input_is_one_line_exit_125_and_nothing_left(engine: Engine, args: list[str], message: str) -> None:
    p = engine("run", "--pull", "never", *args, check=False)
    assert p.returncode == 125, p.stderr
    assert message in p.stderr
    assert "Traceback" not in p.stderr
    assert engine.ids() == [] and engine.layer_dirs() <= engine.image_layer_dirs()
    assert not (engine.storage / "containers" / "names").exists() or not any(
        (engine.storage / "containers" / "names").iterdir()
    )


def test_a_name_in_use_is_a_conflict(engine: Engine) -> None:
    cid = engine("create", "--name", "taken", BUSYBOX, "true").stdout.strip()
    p = engine("run", "--name", "taken", BUSYBOX, "true", check=False)
    assert p.returncode == 125
    assert p.stderr.strip() == (
        f'Error: Conflict. The container name "/taken" is already in use by container "{cid}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    assert engine.ids() == [cid]
    engine("rm", "taken")


def test_log_file_is_next_to_the_record(engine: Engine) -> None:
    engine("run", "--name", "logged", BUSYBOX, "echo", "hello")
    doc = engine.inspect("logged")
    assert doc["LogPath"] == str(engine.storage / "containers" / doc["Id"] / f"{doc['Id']}-json.log")
    assert "hello" in engine("logs", "logged").stdout
    assert json.loads(json.dumps(doc))["State"]["ExitCode"] == 0
    engine("rm", "logged")


def test_run_pulls_an_image_that_is_not_there(engine: Engine, engine_images: EngineImages, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    try:
        skopeo_push(engine_images.layout, "layers", f"{registry.host}/test/pulled:1")
        p = engine("run", "--rm", f"{registry.host}/test/pulled:1", "sh", "-c", "echo $FROM_IMAGE")
    finally:
        registry.stop()
    assert p.stdout == "yes\n"
    assert p.stderr.startswith(f"Unable to find image '{registry.host}/test/pulled:1' locally\n")
    assert f"{registry.host}/test/pulled:1" in engine.image("ls", "-q").stdout.split()
