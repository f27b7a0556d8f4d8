"""--debug: a line for each setup step, in runc's text or JSON format, to stderr or the --log file;
nothing (and no formatting work) without it. runc's own lines calibrate the format."""

from __future__ import annotations

import json
import re

import pytest

from lading import log
from tests.support import Lading

_VALUE = r'(?:"(?:[^"\\]|\\.)*"|[^" ]+)'
TEXT = re.compile(rf'time="\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=[a-z]+ msg=({_VALUE})(?: \w+={_VALUE})*')


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def check_format(entries: list[str], fmt: str) -> list[str]:
    """The messages of runc-shaped lines (each line must be one)."""
    messages = []
    for line in entries:
        if fmt == "text":
            m = TEXT.fullmatch(line)
            assert m, line
            messages.append(m.group(1).strip('"'))
        else:
            entry = json.loads(line)
            assert list(entry) == sorted(entry) and {"level", "msg", "time"} <= entry.keys(), line
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"]), line
            assert '": ' not in line and '", ' not in line, line  # compact, as runc
            messages.append(entry["msg"])
    return messages


def run_steps(runtime: Lading, bundle, cid: str, tmp_path, fmt: str) -> list[str]:
    """run -d, exec, kill, delete with --debug; the messages they logged."""
    logfile = tmp_path / f"{type(runtime).__name__}.log"
    flags = ["--debug"] if fmt == "text" else ["--debug", "--log", str(logfile), "--log-format", "json"]
    out = []
    for args in (["run", "-d", "-b", str(bundle), cid], ["exec", cid, "true"], ["kill", cid, "KILL"]):
        p = runtime(*flags, *args)
        out += lines_of(p.stderr)
    runtime.state(cid)
    p = runtime(*flags, "delete", "-f", cid)
    out += lines_of(p.stderr)
    if fmt == "json":
        assert out == []  # all of it went to the file
        out = lines_of(logfile.read_text())
    return check_format(out, fmt)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_runc_calibrates_the_format(runc, bundle, cid, tmp_path, fmt):
    bundle.write(args=["sleep", "100"])
    assert run_steps(runc, bundle, cid, tmp_path, fmt)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_setup_step_is_logged(lading, bundle, cid, tmp_path, fmt):
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}
    bundle.write(args=["sleep", "100"])
    messages = "\n".join(run_steps(lading, bundle, cid, tmp_path, fmt))
    expected = [
        f"create {cid}: ",  # the config
        "cgroup /",  # made
        "the container's init is ",  # cloned into its namespaces: no stage 1 (test_process_model.py)
        "init[1]: mount proc proc on /proc",
        "init[1]: pivot_root into the rootfs",
        "init[1]: ready: /bin/sleep",
        f"container {cid} created",
        f"start {cid}: releasing init",
        "exec: the process is ",  # born in the container's PID namespace: no stage 1
        "exec[",
        "about to exec /bin/true",
        "loading the seccomp filter",
        f"kill {cid}: signal 9 to init",
        f"delete {cid}: it is stopped",
        "removed the cgroup",
        "removed the state directory",
    ]
    for step in expected:
        assert step in messages, f"{step!r} not in:\n{messages}"
    assert messages.index("the container's init is") < messages.index("init[1]: ready") < messages.index(f"start {cid}")


def test_nothing_without_debug(lading, bundle, cid):
    bundle.write(args=["sleep", "100"])
    for args in (["run", "-d", "-b", str(bundle), cid], ["exec", cid, "true"], ["delete", "-f", cid]):
        assert lading(*args).stderr == ""


def test_a_debug_line_costs_no_formatting_when_off():
    class Loud:
        def __str__(self) -> str:
            raise AssertionError("formatted")

    log.configure(None)
    log.debug("value %s", Loud())  # no formatting, no error
