"""launch(): the monitor creates the container with the real runtime, logs it, records its exit."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from lading.engine import crash, own_runtime
from lading.engine.monitor import launch, read_exit
from lading.errors import LadingError
from tests.engine_monitor.support import MonitoredContainer, children_of, processes_naming, wait_for
from tests.support import pid_alive


def test_output_logged_and_exit_recorded(ctr: MonitoredContainer) -> None:
    launched = ctr.launch(["sh", "-c", "echo hello; echo oops >&2; printf 'no newline'; exit 3"])
    assert pid_alive(launched.monitor_pid) and pid_alive(launched.init_pid)
    # The monitor is not our child, and has a session of its own.
    stat = Path(f"/proc/{launched.monitor_pid}/stat").read_text().rsplit(")", 1)[1].split()
    ppid, session = int(stat[1]), int(stat[3])
    assert ppid != os.getpid() and session != os.getsid(0)
    assert json.loads(ctr.runtime("state", ctr.id).stdout)["status"] == "created"
    ctr.start()
    record = ctr.wait()
    assert record.exit_code == 3 and not record.oom_killed
    assert record.finished_at.endswith("Z")
    entries = ctr.entries()
    assert [(e["stream"], e["log"]) for e in entries] == [
        ("stdout", "hello\n"),
        ("stderr", "oops\n"),
        ("stdout", "no newline"),
    ]
    assert all(set(e) == {"log", "stream", "time"} for e in entries)
    # The exit command ran after the record was in place (it copied it).
    assert read_exit(ctr.marker) == record
    assert sorted(os.listdir(ctr.exec_dir)) == ["exit", "init.pid", "monitor.pid"]
    assert not pid_alive(launched.monitor_pid)


def test_the_setup_child_is_gone_and_the_init_is_the_monitor_s(ctr: MonitoredContainer) -> None:
    """The container is made by a short-lived child of the monitor (monitor_setup): once launch
    returns, that child is gone (reaped, not a zombie) and the container's init, re-parented to the
    monitor (the subreaper), is its only child."""
    launched = ctr.launch(["sleep", "1000"])
    wait_for(lambda: children_of(launched.monitor_pid) == [launched.init_pid], what="the setup child's end")


def test_killed_by_a_signal_exits_128_plus_n(ctr: MonitoredContainer) -> None:
    ctr.launch(["sleep", "1000"])
    ctr.start()
    ctr.runtime("kill", ctr.id, "KILL")
    assert ctr.wait().exit_code == 128 + signal.SIGKILL


def test_killed_before_start(ctr: MonitoredContainer) -> None:
    """A created container that is deleted (the engine's rm of a created container) is an exit too."""
    ctr.launch(["true"])
    ctr.runtime("delete", "--force", ctr.id)
    assert ctr.wait().exit_code == 128 + signal.SIGKILL


def test_create_failure_is_the_runtimes_error_and_leaves_nothing(ctr: MonitoredContainer) -> None:
    with pytest.raises(LadingError) as failure:
        ctr.launch(["no-such-program"])
    assert "no-such-program" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert os.listdir(ctr.exec_dir) == []
    assert not ctr.log_path.exists()
    assert processes_naming(str(ctr.exec_dir)) == []  # no monitor
    assert not ctr.root.exists() or os.listdir(ctr.root) == []


@pytest.mark.parametrize("ctr", ["lading"], indirect=True)
def test_a_monitor_killed_while_its_create_runs_leaves_nothing(
    ctr: MonitoredContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of the monitor as its create child (lading's own runtime) starts, before the
    runtime has registered the container: launch waits for that create to be over before it
    deletes, so neither the create nor what it made outlives the failure."""
    monkeypatch.setenv(crash.VARIABLE, crash.MONITOR_CREATE)
    crash.take()
    try:
        cfg = ctr.config(["sleep", "600"]).replace(runtime_argv=own_runtime.argv(str(ctr.root)))
        with pytest.raises(LadingError, match=r"^the monitor died before the container was created$"):
            launch(cfg)
    finally:
        crash.take()  # the variable is gone: no step for the tests after this one
    assert processes_naming(str(ctr.tmp)) == []  # no create child, no container init
    assert not ctr.root.exists() or os.listdir(ctr.root) == []
    assert os.listdir(ctr.exec_dir) == []
    assert ctr.leftovers() == []


@pytest.mark.parametrize("ctr", ["lading"], indirect=True)
def test_a_config_the_runtime_rejects_is_its_error_with_the_json_path(ctr: MonitoredContainer) -> None:
    """lading's own runtime, run in the monitor's create child, words a malformed config.json as
    it does on its own (the JSON path), which takes msgspec: the monitor finds it as the command
    does."""
    cfg = ctr.config(["true"]).replace(runtime_argv=own_runtime.argv(str(ctr.root)))
    document = json.loads((ctr.bundle.path / "config.json").read_text())
    document["process"]["args"] = "true"
    (ctr.bundle.path / "config.json").write_text(json.dumps(document))
    with pytest.raises(LadingError) as failure:
        launch(cfg)
    assert "$.process.args" in str(failure.value)
    assert "msgspec" not in str(failure.value)
    assert os.listdir(ctr.exec_dir) == []
    assert ctr.leftovers() == []


def test_a_bad_runtime_is_a_clear_error(ctr: MonitoredContainer) -> None:
    cfg = ctr.config(["true"]).replace(runtime_argv=[str(ctr.tmp / "no-such-runtime")])
    with pytest.raises(LadingError, match=r"no-such-runtime: No such file or directory$"):
        launch(cfg)
    assert os.listdir(ctr.exec_dir) == []


def test_a_long_exec_dir_path(ctr: MonitoredContainer) -> None:
    """Unix socket paths stop at 108 bytes; the monitor's sockets work from any directory."""
    deep = ctr.tmp / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    ctr.exec_dir = deep
    ctr.launch(["sh", "-c", "tty; echo done"], terminal=True)
    ctr.start()
    assert ctr.wait().exit_code == 0
    assert ctr.output().endswith("done\r\n")


def test_orphans_are_reaped(ctr: MonitoredContainer) -> None:
    """In the host's pid namespace, a container's orphans are re-parented to the monitor."""
    ctr.bundle.config["linux"]["namespaces"] = [
        ns for ns in ctr.bundle.config["linux"]["namespaces"] if ns["type"] != "pid"
    ]
    script = "(sh -c 'sleep 0.5; echo orphan of $(cut -d\" \" -f4 /proc/$$/stat)' &); sleep 1000"
    launched = ctr.launch(["sh", "-c", script])
    ctr.start()
    from tests.engine_monitor.support import wait_for

    wait_for(lambda: "orphan of" in ctr.output(), what="the orphan's line")
    assert ctr.output() == f"orphan of {launched.monitor_pid}\n"
    wait_for(lambda: not children_of(launched.monitor_pid, zombies_only=True), what="the orphan to be reaped")
    ctr.runtime("kill", ctr.id, "KILL")
    ctr.wait()
