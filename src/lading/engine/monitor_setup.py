"""A monitor's start, done in a short-lived child of the monitor: the container's creation.

Every page a monitor writes stays its own for as long as it lives (it was shared with the monitor
it was forked from, see monitor_spawn), and CPython 3.11 writes a page for every object it uses
(reference counts, warm-up counters in the code it runs, the allocator's free lists). The work
done once per container, decoding the request, running the runtime's create, reading its pid file
and the container's cgroup, opening the log, binding the sockets, is therefore done here, in a
child the monitor forks for it (monitor_process._run), whose pages die with it. It hands the
monitor the container's fds and a few numbers over a socketpair (SCM_RIGHTS, see
:func:`_hand_over`) and exits; the monitor reports ``ok`` to the launcher once it holds them.

The monitor is a child subreaper and this child is not, so the container's init is re-parented
to the monitor (the nearest subreaper above the runtime) when the runtime's create exits, never
to this child. This child writes ``monitor.pid`` with the monitor's pid before the handover; if
the monitor is gone by then (killed), it deletes the container and fails as a failed create does.
Imported only in this child, so the monitor never holds its code.
"""

from __future__ import annotations

import _socket
import posix
import select

from lading.engine import attach_protocol as proto
from lading.engine import monitor_spawn
from lading.engine.jsonlog import LOG_FILE_MODE, OPEN_FOR_APPEND, remove
from lading.engine.monitor_process import (
    CONSOLE_SOCKET,
    CREATE_PID,
    INIT_PID,
    MONITOR_PID,
    OWN_PROGRAM,
    RUNTIME_LOG,
    OomCounter,
    Settings,
    fork_lading,
    reap,
    report,
    spawn,
    write_file,
)
from lading.linux import process, signals
from lading.linux.files import read_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import NoReturn

    from lading.linux.cgroups.layout import Hierarchy

_SUN_PATH_MAX = 107
_CHUNK = 65536
_READ = posix.O_RDONLY | posix.O_CLOEXEC


def run(request: Settings | bytes, monitor_pid: int, to_monitor: int, status_fd: int) -> NoReturn:
    """Create the container for the monitor monitor_pid and hand it over on the socket
    to_monitor (the child's end of their socketpair); never returns."""
    if isinstance(request, Settings):
        settings = request
    else:
        decoded = monitor_spawn.decode(request)
        if decoded is None:  # the monitor checked the code's identity: not reached
            posix._exit(1)
        settings = Settings(*decoded)
    wake_r, wake_w = posix.pipe2(posix.O_NONBLOCK | posix.O_CLOEXEC)
    signals.wake_on((signals.SIGCHLD,), wake_w)  # this child's own children, not the monitor's
    Setup(settings, wake_r, status_fd).create(monitor_pid, to_monitor)
    posix._exit(0)


class Setup:
    def __init__(self, settings: Settings, wake: int, status_fd: int) -> None:
        self.s = settings
        self.wake = wake
        self.status_fd = status_fd
        self.dir_fd = posix.open(settings.exec_dir, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        self.watched: dict[int, int | None] = {}  # pid -> wait status once reaped
        self.master: int | None = None

    def create(self, monitor_pid: int, to_monitor: int) -> None:
        """Run the runtime's create with the container's stdio, then hand the container over."""
        s = self.s
        null = posix.open("/dev/null", posix.O_RDWR | posix.O_CLOEXEC)
        console: _socket.socket | None = None
        outputs = ""  # the handover's roles of the container's stdio fds, in order
        if s.terminal:
            console = self._listen(CONSOLE_SOCKET, _socket.SOCK_STREAM)
            err_r, err_w = posix.pipe2(posix.O_CLOEXEC | posix.O_NONBLOCK)
            stdio = [null, err_w, err_w]
            kept: list[int] = []
        else:
            out_r, out_w = posix.pipe2(posix.O_CLOEXEC)
            err_r, err_w = posix.pipe2(posix.O_CLOEXEC)
            stdio = [null, out_w, err_w]
            kept, outputs = [out_r, err_r], "oe"
            if s.stdin:
                in_r, in_w = posix.pipe2(posix.O_CLOEXEC)
                stdio[0] = in_r
                kept.append(in_w)
                outputs += "i"
        argv = [*s.runtime_argv, "--log", self._path(RUNTIME_LOG), "--log-format", "json", "create"]
        argv += ["--bundle", s.bundle, "--pid-file", self._path(INIT_PID)]
        if console is not None:
            argv += ["--console-socket", self._runtime_socket_path(CONSOLE_SOCKET)]
        argv.append(s.container_id)
        kill = monitor_pid if s.kill_in_create else None
        try:
            runtime = _spawn_runtime(argv, stdio, s.env, self._record_create, kill)
        except OSError as e:
            self._fail(f"{argv[0]}: {e.strerror}".encode())
        for fd in {null, *stdio}:
            posix.close(fd)
        cgroup_mounts = _cgroup_mounts()  # while the runtime's create runs
        status = self._wait_for(runtime, console)
        remove(self._path(CREATE_PID))
        if status != 0:
            self._fail(_read_available(err_r))
        try:
            init_pid = int(read_file(self._path(INIT_PID)))
        except (OSError, ValueError) as e:
            self._delete_container()
            self._fail(f"reading the runtime's pid file: {e}".encode())
        if console is not None:
            if self.master is None:
                self._accept_console(console)
            console.close()
            remove(self._path(CONSOLE_SOCKET))
            if self.master is None:
                self._delete_container()
                self._fail(b"the runtime did not send the container's terminal")
            posix.close(err_r)
            kept, outputs = [self.master], "T" if s.stdin else "t"
        for fd in kept:
            posix.set_blocking(fd, False)
        try:
            log = posix.open(s.log_path, OPEN_FOR_APPEND, LOG_FILE_MODE)
        except OSError as e:
            self._delete_container()
            self._fail(f"{s.log_path}: {e.strerror}".encode())
        oom = _open_oom_counter(init_pid, cgroup_mounts)
        listener = self._listen(proto.SOCKET_NAME, _socket.SOCK_SEQPACKET)
        spawner = monitor_spawn.bind(s.spawn_socket) if s.spawn_socket is not None else None
        roles = outputs + "dla" + ("c" if oom is not None else "") + ("s" if spawner is not None else "")
        fds = [*kept, self.dir_fd, log, listener.fileno()]
        fds += [oom.fd] if oom is not None else []
        fds += [spawner[0].fileno()] if spawner is not None else []
        fields = [
            roles,
            str(init_pid),
            str(oom.start if oom is not None else 0),
            s.log_path,
            str(s.log_max_size if s.log_max_size is not None else -1),
            str(s.log_max_files),
            s.spawn_socket if spawner is not None and s.spawn_socket is not None else "",
            str(spawner[1] if spawner is not None else 0),
        ]
        try:
            write_file(self.dir_fd, MONITOR_PID, b"%d %s\n" % (monitor_pid, _start_time(monitor_pid)))
            remove(self._path(RUNTIME_LOG))
            _hand_over(to_monitor, "\0".join(fields).encode(), fds)
        except OSError:  # the monitor is gone (killed): the container would have nobody
            if spawner is not None and s.spawn_socket is not None:
                monitor_spawn.unbind(spawner[0], s.spawn_socket, spawner[1])
            self._delete_container()
            self._fail(b"the monitor died before the container was created")

    def _record_create(self, pid: int) -> None:
        write_file(self.dir_fd, CREATE_PID, b"%d %s\n" % (pid, _start_time(pid)), durable=False)

    def _wait_for(self, pid: int, console: _socket.socket | None) -> int:
        """Wait for child pid to exit (taking the pty master if it comes); its exit code."""
        self.watched[pid] = None
        while self.watched[pid] is None:
            poller = select.poll()
            poller.register(self.wake, select.POLLIN)
            if console is not None and self.master is None:
                poller.register(console.fileno(), select.POLLIN)
            for fd, _ in poller.poll():
                if fd == self.wake:
                    reap(self.wake, self.watched)
                elif console is not None:
                    self._accept_console(console)
        status = self.watched.pop(pid)
        assert status is not None
        return posix.waitstatus_to_exitcode(status)

    def _accept_console(self, console: _socket.socket) -> None:
        try:
            fd, _ = console._accept()  # type: ignore[attr-defined]  # _socket's accept
        except BlockingIOError:
            return
        conn = _socket.socket(fileno=fd)
        try:
            conn.setblocking(True)
            conn.settimeout(10)
            _, ancillary, _, _ = conn.recvmsg(4096, _socket.CMSG_LEN(4 * 4), _socket.MSG_CMSG_CLOEXEC)
        except OSError:
            return
        finally:
            conn.close()
        fds = monitor_spawn.received_fds(ancillary)
        for extra in fds[1:]:
            posix.close(extra)
        if fds and self.master is None:
            self.master = fds[0]

    def _delete_container(self) -> None:
        null = posix.open("/dev/null", posix.O_RDWR | posix.O_CLOEXEC)
        try:
            argv = [*self.s.runtime_argv, "delete", "--force", self.s.container_id]
            pid = _spawn_runtime(argv, [null, null, null], self.s.env)
        finally:
            posix.close(null)
        self._wait_for(pid, None)

    def _fail(self, detail: bytes) -> NoReturn:
        report(self.status_fd, b"fail\n" + detail)
        for name in (CONSOLE_SOCKET, proto.SOCKET_NAME, INIT_PID, MONITOR_PID, CREATE_PID):
            remove(self._path(name))
        posix._exit(1)

    def _path(self, name: str) -> str:
        return f"{self.s.exec_dir}/{name}"

    def _runtime_socket_path(self, name: str) -> str:
        """The path the runtime connects to: ours through /proc when exec_dir's is too long."""
        path = self._path(name)
        return path if len(path) <= _SUN_PATH_MAX else f"/proc/{posix.getpid()}/fd/{self.dir_fd}/{name}"

    def _listen(self, name: str, kind: int) -> _socket.socket:
        remove(self._path(name))
        sock = _socket.socket(_socket.AF_UNIX, kind | _socket.SOCK_CLOEXEC | _socket.SOCK_NONBLOCK)
        sock.bind(f"/proc/self/fd/{self.dir_fd}/{name}")  # any length of exec_dir
        sock.listen(16)
        return sock


def _hand_over(to_monitor: int, fields: bytes, fds: list[int]) -> None:
    """Send the monitor the container: ``ROLES\\0INIT_PID\\0OOM_START\\0LOG_PATH\\0LOG_MAX_SIZE
    (-1: none)\\0LOG_MAX_FILES\\0SPAWN_PATH (empty: no spawn socket)\\0SPAWN_INODE``, and fds,
    one per letter of ROLES: ``o``/``e`` the stdout/stderr pipes, ``i`` the stdin pipe, ``t`` the
    pty master (``T``: it is stdin too), ``d`` exec_dir, ``l`` the log, ``a`` the attach socket,
    ``c`` the oom counter, ``s`` the spawn socket. Monitor.take_over (monitor_process) reads them
    by position: the stdio's letters first, then ``dla``, then ``c`` and ``s`` when there are."""
    sock = _socket.socket(fileno=to_monitor)
    try:
        sock.sendmsg([fields], monitor_spawn.rights(fds))
    finally:
        sock.close()


def _spawn_runtime(
    argv: list[str],
    stdio: list[int],
    env: Mapping[bytes, bytes],
    record: Callable[[int], None] | None = None,
    kill: int | None = None,
) -> int:
    """The runtime's command as a child; lading's own (``lading --root R ...``) is a forked child
    that imports the runtime and does what that command would, without a fresh interpreter (the
    monitor itself never loads the runtime). ``record`` is given the child's pid (CREATE_PID):
    by the forked child itself, before it closes what it inherited; ``kill`` is the monitor's pid
    for the crash point :data:`lading.engine.crash.MONITOR_CREATE`."""
    if argv[0] != OWN_PROGRAM:
        pid = spawn(argv, stdio, env)
        if record is not None:
            try:
                record(pid)
            except OSError:  # only a help for a clean-up after this monitor is killed
                pass
        return pid

    def first() -> None:
        if record is not None:
            record(posix.getpid())
        if kill is not None:
            posix.kill(kill, signals.SIGKILL)

    def create() -> int:
        from lading.engine import own_runtime

        return own_runtime.main(argv[2], argv[3:])

    return fork_lading(stdio, env, create, first=first)


def _cgroup_mounts() -> list[Hierarchy]:
    """The cgroup hierarchies this process sees (the container's are the same ones)."""
    from lading.linux.cgroups import layout

    try:
        return layout.parse_mountinfo(read_file("/proc/self/mountinfo").decode())
    except OSError:
        return []


def _open_oom_counter(pid: int, mounts: list[Hierarchy]) -> OomCounter | None:
    """The oom_kill counter of pid's memory cgroup (v1 memory.oom_control, else v2
    memory.events), held open so it can still be read when the cgroup's last process is gone."""
    from lading.linux.cgroups import layout

    try:
        own_v1, own_v2 = layout.parse_proc_cgroup(read_file(f"/proc/{pid}/cgroup").decode())
    except OSError:
        return None
    for h in mounts:
        if "memory" in own_v1 and h.version == 1 and "memory" in h.controllers:
            path = h.directory(own_v1["memory"]) + "/memory.oom_control"
        elif "memory" not in own_v1 and own_v2 is not None and h.version == 2:
            path = h.directory(own_v2) + "/memory.events"
        else:
            continue
        try:
            return OomCounter(posix.open(path, _READ))
        except OSError:
            return None
    return None


def _start_time(pid: int) -> bytes:
    """With the pid, it names the process (linux/process.py); ProcessLookupError if it is gone."""
    started = process.start_time(pid)
    if started is None:
        raise ProcessLookupError(pid)
    return started.encode()


def _read_available(fd: int) -> bytes:
    posix.set_blocking(fd, False)
    try:
        return posix.read(fd, _CHUNK)
    except OSError:
        return b""
