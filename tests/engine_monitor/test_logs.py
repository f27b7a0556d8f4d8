"""Reading the json-file log back: streams apart, -t, --tail, --since/--until, rotated files, -f."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lading.engine.logs import Options, entries, fixed_time, parse_since, parse_time, show
from lading.errors import LadingError
from tests.engine_monitor.support import MonitoredContainer, wait_for
from tests.support import lading_env, pid_alive

COUNT_TO_100 = "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done"


def _show(ctr: MonitoredContainer, opts: Options) -> tuple[str, str]:
    with open(ctr.tmp / "out", "w+") as out, open(ctr.tmp / "err", "w+") as err:
        show(ctr.log_path, opts, ctr.exec_dir, out.fileno(), err.fileno())
        out.seek(0)
        err.seek(0)
        return out.read(), err.read()


def test_times() -> None:
    assert parse_time("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_time("1970-01-01T01:00:00.000000001+01:00") == 1
    assert fixed_time(1_500_000_000) == "1970-01-01T00:00:01.500000000Z"
    now = 10**18
    assert parse_since("1h30m", now_ns=now) == now - 5400 * 10**9
    assert parse_since("1.5s", now_ns=now) == now - 1_500_000_000
    assert parse_since("1700000000.25") == 1_700_000_000_250_000_000
    assert parse_since("2023-11-14T22:13:20Z") == 1_700_000_000 * 10**9
    with pytest.raises(LadingError, match=r"^invalid value for --until: 'yesterday'$"):
        parse_since("yesterday", "--until")


def test_streams_timestamps_and_tail(ctr: MonitoredContainer) -> None:
    ctr.run(["sh", "-c", "echo one; echo two >&2; echo three; printf four"])
    assert _show(ctr, Options()) == ("one\nthree\nfour", "two\n")
    out, err = _show(ctr, Options(tail=2, timestamps=True))
    last_two = ctr.entries()[-2:]  # (the two pipes are read apart: stderr's line may come late)
    shown = {"stdout": "", "stderr": ""}
    for e in last_two:
        shown[e["stream"]] += f"{fixed_time(parse_time(e['time']))} {e['log']}"
    assert (out, err) == (shown["stdout"], shown["stderr"])
    assert all(len(line.split(" ")[0]) == len("2024-01-01T00:00:00.000000000Z") for line in out.splitlines())
    assert _show(ctr, Options(tail=0)) == ("", "")


def test_since_and_until(ctr: MonitoredContainer) -> None:
    # (lines read at once share their time: these come one by one)
    ctr.run(["sh", "-c", "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); sleep 0.01; done"])
    times = [parse_time(e["time"]) for e in ctr.entries()]
    out, _ = _show(ctr, Options(since=times[40], until=times[59]))
    assert out == "".join(f"line-{i}\n" for i in range(40, 60))


def test_rotated_files_are_read_oldest_first(ctr: MonitoredContainer) -> None:
    ctr.run(["sh", "-c", COUNT_TO_100], log_max_size=600, log_max_files=4)
    kept = [e.text for e in entries(ctr.log_path)]
    first = int(kept[0].removeprefix("line-"))
    assert first > 0 and kept == [f"line-{i}\n" for i in range(first, 100)]
    assert [e.text for e in entries(ctr.log_path, tail=30)] == kept[-30:]  # tail across files


FOLLOW = (
    "import sys; from pathlib import Path; from lading.engine.logs import Options, show\n"
    "tail = None if sys.argv[3] == 'all' else int(sys.argv[3])\n"
    "show(Path(sys.argv[1]), Options(follow=True, tail=tail), Path(sys.argv[2]))"
)


def _follower(ctr: MonitoredContainer, tail: str = "all") -> subprocess.Popen[bytes]:
    """`logs -f` in a process of its own, writing to a pipe."""
    argv = [sys.executable, "-c", FOLLOW, str(ctr.log_path), str(ctr.exec_dir), tail]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, env=lading_env())


@pytest.mark.parametrize("rotation", [{}, {"log_max_size": 300, "log_max_files": 3}, {"log_max_size": 300}])
def test_follow_ends_when_the_container_stops(ctr: MonitoredContainer, rotation: dict[str, int]) -> None:
    script = "echo ready; read go; i=0; while [ $i -lt 60 ]; do echo line-$i; i=$((i+1)); sleep 0.02; done"
    ctr.launch(["sh", "-c", script], stdin=True, **rotation)
    feeder = ctr.attach_socket(b"i")
    ctr.start()
    wait_for(lambda: ctr.log_path.exists() and "ready" in ctr.log_path.read_text(), what="ready")
    follower = _follower(ctr)
    assert follower.stdout is not None
    assert follower.stdout.readline() == b"ready\n"
    from lading.engine import attach_protocol as proto

    feeder.send(proto.STDIN + b"go\n")
    out, _ = follower.communicate(timeout=60)
    feeder.close()
    assert follower.returncode == 0
    assert out.decode() == "".join(f"line-{i}\n" for i in range(60))
    ctr.wait()


def test_follow_of_a_stopped_container_returns_at_once(ctr: MonitoredContainer) -> None:
    ctr.run(["echo", "done"])
    follower = _follower(ctr, tail="1")
    out, _ = follower.communicate(timeout=30)
    assert out == b"done\n"


def test_follow_ends_when_the_monitor_is_killed(ctr: MonitoredContainer) -> None:
    launched = ctr.launch(["sh", "-c", "echo up; sleep 1000"])
    ctr.start()
    wait_for(lambda: ctr.log_path.exists() and ctr.log_path.stat().st_size > 0, what="output")
    follower = _follower(ctr)
    assert follower.stdout is not None
    assert follower.stdout.readline() == b"up\n"
    os.kill(launched.monitor_pid, signal.SIGKILL)
    out, _ = follower.communicate(timeout=30)
    assert out == b"" and follower.returncode == 0
    wait_for(lambda: not pid_alive(launched.monitor_pid), what="the monitor's end")
    ctr.runtime("delete", "--force", ctr.id)


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    log.write_text('{"log":"ok\\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}\n{"log":"to')
    assert [e.text for e in entries(log)] == ["ok\n"]
