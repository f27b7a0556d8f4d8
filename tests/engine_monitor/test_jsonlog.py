"""The json-file log: docker's lines, partial messages, escaping and rotation, from real containers."""

from __future__ import annotations

import json
import re

from tests.engine_monitor.support import MonitoredContainer

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")


def test_times_are_rfc3339_nano(ctr: MonitoredContainer) -> None:
    ctr.run(["sh", "-c", "for i in 1 2 3 4 5; do echo $i; done"])
    times = [e["time"] for e in ctr.entries()]
    assert len(times) == 5
    assert all(RFC3339_NANO.match(t) for t in times), times
    assert times == sorted(times)


def test_text_is_escaped_as_docker_does(ctr: MonitoredContainer) -> None:
    # tab, <>&, a quote, a backslash, \r, an invalid byte, a valid non-ASCII letter, U+2028
    ctr.run(["printf", 'a\\tb<c>&"d\\\\e\\rf\\377g\\303\\251h\\342\\200\\250i\\n'])
    line = ctr.log_path.read_text().splitlines()[0]
    body = line.split('"log":"', 1)[1].split('","stream"', 1)[0]
    assert body == 'a\\u0009b\\u003cc\\u003e\\u0026\\"d\\\\e\\rf\\ufffdgéh\\u2028i\\n'
    assert json.loads(line)["log"] == 'a\tb<c>&"d\\e\rf\ufffdgéh\u2028i\n'


def test_long_lines_are_cut_into_16k_partial_pieces(ctr: MonitoredContainer) -> None:
    # 40000 bytes and a newline, then exactly 16384 bytes and a newline
    ctr.run(["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' x; echo; head -c 16384 /dev/zero | tr '\\0' y; echo"])
    entries = ctr.entries()
    assert [len(e["log"]) for e in entries] == [16384, 16384, 40000 - 2 * 16384 + 1, 16384, 1]
    assert entries[2]["log"].endswith("x\n") and entries[4]["log"] == "\n"
    # the pieces of one line carry the time of its first piece
    assert entries[0]["time"] == entries[1]["time"] == entries[2]["time"]
    assert entries[3]["time"] == entries[4]["time"]


def test_rotation_keeps_max_file_files_of_about_max_size(ctr: MonitoredContainer) -> None:
    ctr.run(
        ["sh", "-c", "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done"], log_max_size=1000, log_max_files=3
    )
    files = sorted(p.name for p in ctr.tmp.glob(ctr.log_path.name + "*"))
    assert files == [ctr.log_path.name, ctr.log_path.name + ".1", ctr.log_path.name + ".2"]
    oldest_first = [ctr.tmp / (ctr.log_path.name + ".2"), ctr.tmp / (ctr.log_path.name + ".1"), ctr.log_path]
    lines = [e["log"] for path in oldest_first for e in ctr.entries(path)]
    first = int(lines[0].removeprefix("line-"))
    assert lines == [f"line-{i}\n" for i in range(first, 100)]
    one_line = len(ctr.log_path.read_text().splitlines()[-1]) + 1
    for path in oldest_first[:2]:  # a rotated file reached max-size with its last line
        assert 1000 <= path.stat().st_size < 1000 + one_line


def test_one_file_rotation_starts_the_file_afresh(ctr: MonitoredContainer) -> None:
    ctr.run(["sh", "-c", "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done"], log_max_size=1000)
    assert [p.name for p in ctr.tmp.glob(ctr.log_path.name + "*")] == [ctr.log_path.name]
    lines = [e["log"] for e in ctr.entries()]
    assert lines[-1] == "line-99\n" and ctr.log_path.stat().st_size <= 1000 + 100


def test_a_restarted_container_appends(ctr: MonitoredContainer) -> None:
    ctr.run(["echo", "first"])
    ctr.runtime("delete", ctr.id)
    ctr.marker.unlink()
    (ctr.exec_dir / "exit").unlink()
    ctr.run(["echo", "second"])
    assert ctr.output() == "first\nsecond\n"
