"""Starting a container's monitor, and reading what it leaves: the engine's side of the monitor.

:func:`launch` starts one monitor process (monitor_process has what it does) that outlives the
command: the command forks, the child starts a new session and forks again, and the grandchild
makes itself a child subreaper and execs a fresh ``python -I -S`` running the monitor. The
monitor is thus nobody's child (init, or the nearest subreaper, reaps it), is in its own
session, and adopts the container's init when the runtime's create exits. The launcher reads
the monitor's report on a pipe: its pid, then ``ok INIT_PID`` once the container is created, or
``fail`` and the runtime's stderr, in which case the runtime's own error line (the last
``error`` of its JSON log, else of its stderr) becomes the LadingError, once the monitor is gone
and its files removed.

Killed at any instant, the launcher leaves one of: nothing; a monitor that then finishes create
alone (the container is ``created`` and watched, as after a normal launch); or a monitor that
failed and cleaned up. The files in exec_dir say which: ``monitor.pid`` exists from the moment
the container is created, ``exit`` once it has exited.
"""

from __future__ import annotations

import json
import os
import select
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lading import boot
from lading.engine import crash
from lading.engine.attach_protocol import SOCKET_NAME
from lading.engine.monitor_process import (
    CONSOLE_SOCKET,
    CREATE_PID,
    EXIT_FILE,
    HELD_FD,
    INIT_PID,
    MONITOR_PID,
    RUNTIME_LOG,
    STATUS_FD,
    command_line,
)
from lading.errors import LadingError
from lading.record import Record

# The monitor's start: lading's and msgspec's directories on sys.path (boot.paths), not the
# precompiled importer, whose index would stay in every monitor's memory.
_BOOT = "import sys; sys.path[:0] = {paths!r}; import lading.engine.monitor_process as m; m.main(sys.argv[1:])"


class MonitorConfig(Record):
    container_id: str
    runtime_argv: list[str]  # the OCI runtime and its global flags
    bundle: Path  # config.json written, process.terminal set for -t
    exec_dir: Path  # the monitor's own directory: pid files, sockets, exit record
    log_path: Path
    log_max_size: int | None = None
    log_max_files: int = 1
    terminal: bool = False
    stdin: bool = False  # keep the container's stdin open (-i)
    exit_command: Sequence[str] = ()  # run detached once the exit is recorded
    # An fd the monitor keeps open until create is over (ok or not): pass the fd of an flock on
    # the container, and a command killed during launch holds the next one off until then.
    hold_fd: int | None = None
    # One socket for all the engine's monitors (in its run root): a new monitor is forked from
    # the newest live one there, sharing its memory (see monitor_spawn); None: always exec one.
    spawn_socket: Path | None = None


class Launched(Record):
    monitor_pid: int
    init_pid: int


class ExitRecord(Record):
    exit_code: int
    finished_at: str
    oom_killed: bool


def launch(cfg: MonitorConfig) -> Launched:
    """Start the monitor, which creates the container; returns once it is ``created``."""
    args = command_line(
        cfg.container_id,
        list(cfg.runtime_argv),
        str(cfg.bundle.absolute()),
        str(cfg.exec_dir.absolute()),
        str(cfg.log_path.absolute()),
        cfg.log_max_size,
        cfg.log_max_files,
        cfg.terminal,
        cfg.stdin,
        list(cfg.exit_command),
        holds_fd=cfg.hold_fd is not None,
        spawn_socket=str(cfg.spawn_socket.absolute()) if cfg.spawn_socket is not None else None,
        kill_in_create=crash.armed(crash.MONITOR_CREATE),
    )
    if cfg.spawn_socket is not None:
        report = _fork_from_live(cfg, args)
        if report.startswith(b"pid "):
            return _outcome(cfg, report)
    return _outcome(cfg, _exec_monitor(cfg, args))


def _fork_from_live(cfg: MonitorConfig, args: list[str]) -> bytes:
    """Ask the monitor at the spawn socket for a child running args; its report, or b"" if no
    monitor took the request."""
    from lading.engine import monitor_spawn

    assert cfg.spawn_socket is not None
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        fds = [w] if cfg.hold_fd is None else [w, cfg.hold_fd]
        sent = monitor_spawn.ask(str(cfg.spawn_socket.absolute()), args, dict(os.environ), fds)
        os.close(w)
        w = -1
        return _read_report(r) if sent else b""
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _exec_monitor(cfg: MonitorConfig, args: list[str]) -> bytes:
    """Start a monitor in a fresh interpreter; its report."""
    from lading.linux import prctl  # ctypes: loaded before the fork, the child only calls it

    argv = [sys.executable, "-I", "-S", "-c", _BOOT.format(paths=boot.paths()), *args]
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        child = os.fork()
        if child == 0:
            _become_monitor(argv, w, cfg.hold_fd, prctl.set_child_subreaper)
        os.close(w)
        w = -1
        os.waitpid(child, 0)
        return _read_report(r)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _become_monitor(argv: list[str], report: int, hold: int | None, set_subreaper: Callable[[], None]) -> None:
    """In the forked child: new session, fork again, and exec the monitor with /dev/null on 0-2,
    the report pipe on fd 3, hold_fd on fd 4 and nothing else open. Never returns."""
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        set_subreaper()
        os.chdir("/")
        import fcntl

        high = fcntl.fcntl(report, fcntl.F_DUPFD_CLOEXEC, 10)
        held = fcntl.fcntl(hold, fcntl.F_DUPFD_CLOEXEC, 10) if hold is not None else None
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.dup2(high, STATUS_FD)
        if held is not None:
            os.dup2(held, HELD_FD)
        os.closerange(HELD_FD + (held is not None), os.sysconf("SC_OPEN_MAX"))
        os.execve(argv[0], argv, os.environ)
    except BaseException as e:
        for fd in (report, STATUS_FD):
            try:
                os.write(fd, f"fail\ncannot start the monitor: {e}\n".encode())
                break
            except OSError:
                pass
    finally:
        os._exit(127)


def _read_report(fd: int) -> bytes:
    """The monitor's report, to its end (its pipe closes once create is over)."""
    from lading.linux.files import read_to_end

    first = os.read(fd, 65536)
    if first:
        crash.point(crash.LAUNCHING)  # the monitor has said its pid, create may still run
    return first + read_to_end(fd) if first else first


def _outcome(cfg: MonitorConfig, report: bytes) -> Launched:
    head, _, rest = report.partition(b"\n")
    monitor = int(head[4:]) if head.startswith(b"pid ") else None
    status, _, detail = rest.partition(b"\n")
    if monitor is not None and status.startswith(b"ok "):
        return Launched(monitor, int(status[3:]))
    if monitor is None:  # it never ran: the report is the launcher's own "fail\n..."
        raise LadingError(_last_line(rest) or "cannot start the monitor")
    from lading.linux import process

    process.wait_gone(monitor, None)  # it exits right after reporting a failure
    runtime_log = cfg.exec_dir / RUNTIME_LOG
    if status == b"fail":
        message = _runtime_error(runtime_log) or _last_line(detail) or "the runtime's create failed"
    else:  # killed before it could say: the container may exist
        _delete(cfg)
        message = "the monitor died before the container was created"
    runtime_log.unlink(missing_ok=True)
    raise LadingError(message)


def _runtime_error(log: Path) -> str:
    """The message of the last error in the runtime's JSON log (runc's and lading's format)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") == "error" and entry.get("msg"):
            return str(entry["msg"])
    return ""


def _last_line(text: bytes) -> str:
    lines = [line.strip() for line in text.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _delete(cfg: MonitorConfig) -> None:
    import subprocess

    from lading.engine import own_runtime

    wait_create_gone(cfg.exec_dir)
    root = own_runtime.root_of(cfg.runtime_argv)
    try:
        if root is not None:
            own_runtime.call(root, ["delete", "--force", cfg.container_id])
        else:
            subprocess.run(
                [*cfg.runtime_argv, "delete", "--force", cfg.container_id],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
    except (OSError, LadingError):
        pass
    for name in (INIT_PID, CONSOLE_SOCKET, SOCKET_NAME, MONITOR_PID, CREATE_PID):
        (cfg.exec_dir / name).unlink(missing_ok=True)


def wait_create_gone(exec_dir: Path, timeout: float = 30) -> None:
    """Before a clean-up deletes the container of a monitor that was killed: wait until the
    runtime's create that monitor ran (exec_dir/create.pid) is over, so that what it makes is
    there to be deleted rather than made after the delete; SIGKILLed if it takes longer than
    timeout (a create stuck in a hook)."""
    from lading.linux import process

    try:
        pid, started = (exec_dir / CREATE_PID).read_text().split()
    except (OSError, ValueError):
        return
    if not process.wait_gone(int(pid), started, timeout):
        import signal

        process.send_signal(int(pid), started, signal.SIGKILL)
        process.wait_gone(int(pid), started, timeout)


def monitor_pid(exec_dir: Path) -> int | None:
    """The pid of the monitor that runs from exec_dir, if it is alive (checked against its start
    time, so a reused pid is not mistaken for it)."""
    from lading.linux import process

    try:
        pid, started = (exec_dir / MONITOR_PID).read_text().split()
    except (OSError, ValueError):
        return None
    return int(pid) if process.is_alive(int(pid), started) else None


def read_exit(path: Path) -> ExitRecord | None:
    """The exit record the monitor wrote at ``path`` (exec_dir/EXIT_FILE), or None if none yet."""
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise LadingError(f"{path}: {e}") from None
    return ExitRecord(int(d["ExitCode"]), str(d["FinishedAt"]), bool(d["OOMKilled"]))


def monitor_pidfd(exec_dir: Path) -> int | None:
    """A pidfd of the monitor of exec_dir (POLLIN once it has exited), or None if it is gone."""
    pid = monitor_pid(exec_dir)
    if pid is None:
        return None
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if monitor_pid(exec_dir) != pid:  # the pid was reused between the two looks
        os.close(fd)
        return None
    return fd


def wait_exit(exec_dir: Path, timeout: float | None = None) -> ExitRecord | None:
    """Wait (on a pidfd, no polling) until the monitor of exec_dir is gone, at most timeout
    seconds; then its exit record, or None if there is none (the monitor was killed, or the
    timeout came first)."""
    fd = monitor_pidfd(exec_dir)
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            poller.poll(None if timeout is None else int(timeout * 1000))
        finally:
            os.close(fd)
    return read_exit(exec_dir / EXIT_FILE)
