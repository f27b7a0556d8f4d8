"""A container's monitor: one process per running container that outlives the command that started it.

(Minimal version: pipes only, raw log lines; replaced by the full monitor.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lading.errors import LadingError

EXIT_FILE = "exit"


@dataclass(frozen=True)
class MonitorConfig:
    container_id: str
    runtime_argv: list[str]
    bundle: Path
    exec_dir: Path
    log_path: Path
    log_max_size: int | None
    log_max_files: int
    terminal: bool
    stdin: bool
    exit_command: list[str]


@dataclass(frozen=True)
class Launched:
    monitor_pid: int
    init_pid: int


@dataclass(frozen=True)
class ExitRecord:
    exit_code: int
    finished_at: str
    oom_killed: bool


def read_exit(path: Path) -> ExitRecord | None:
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return ExitRecord(d["ExitCode"], d["FinishedAt"], d["OOMKilled"])


def launch(cfg: MonitorConfig) -> Launched:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            code = _monitor(cfg, w)
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        msg = f.read()
    if not msg.startswith("ok "):
        os.waitpid(pid, 0)
        raise LadingError(msg.strip() or "the monitor failed")
    monitor_pid, init_pid = (int(x) for x in msg.split()[1:3])
    os.waitpid(pid, 0)
    return Launched(monitor_pid, init_pid)


def _monitor(cfg: MonitorConfig, report: int) -> int:
    import ctypes

    os.setsid()
    if os.fork():
        return 0
    os.closerange(3, report)
    os.closerange(report + 1, 1 << 16)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    from lading.engine.create import now

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    pidfile = cfg.exec_dir / "init.pid"
    log = os.open(cfg.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    err = cfg.exec_dir / "runtime.log"
    argv = [*cfg.runtime_argv, "--log", str(err), "--log-format", "json", "create"]
    argv += ["--bundle", str(cfg.bundle), "--pid-file", str(pidfile), cfg.container_id]
    p = subprocess.run(argv, stdin=null, stdout=log, stderr=log)
    # the container's stdio is the create process's: the log
    if p.returncode != 0:
        msgs = [json.loads(line).get("msg", "") for line in err.read_text().splitlines() if line.startswith("{")]
        os.write(report, (msgs[-1] if msgs else f"runtime create: exit status {p.returncode}").encode())
        return 1
    init_pid = int(pidfile.read_text())
    os.write(report, f"ok {os.getpid()} {init_pid}".encode())
    os.close(report)
    status = 0
    while True:
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == init_pid:
            status = os.waitstatus_to_exitcode(st)
    code = status if status >= 0 else 128 - status
    tmp = cfg.exec_dir / ".exit.tmp"
    tmp.write_text(json.dumps({"ExitCode": code, "FinishedAt": now(), "OOMKilled": False}))
    os.rename(tmp, cfg.exec_dir / EXIT_FILE)
    subprocess.Popen(cfg.exit_command, stdin=null, stdout=null, stderr=null, start_new_session=True)
    sys.stdout.flush()
    return 0
