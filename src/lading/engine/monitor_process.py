"""The monitor itself: one small process per container, from `runtime create` until the exit.

``monitor.launch`` starts it as ``python -I -S -c ...`` in its own session, already a child
subreaper (``PR_SET_CHILD_SUBREAPER`` survives exec, so this process needs no ctypes). It:

1. makes the container's stdio: pipes for stdout and stderr (and stdin with ``-i``; else
   /dev/null), or for a terminal a console socket on which the runtime sends the pty master;
2. runs ``<runtime> --log runtime.log --log-format json create --bundle B --pid-file init.pid
   [--console-socket S] ID`` with those pipes as its stdio, so the container's init inherits them,
   and is re-parented here when the runtime exits (we are its subreaper);
3. binds the attach socket, writes ``monitor.pid`` and reports ``ok INIT_PID`` (or ``fail`` and the
   runtime's stderr, then removes what it made) on fd 3 to the launcher, and closes it;
4. serves until the init exits: output goes to the json-file log first (see jsonlog), then to
   every attached client; stdin comes from one client; resizes go to the pty; every child,
   including orphans re-parented here, is reaped;
5. drains the output still in the pipes (or pty), writes the exit record, tells attached
   clients the exit code, runs the exit command in a new session, and exits.

With a spawn socket (see monitor_spawn) it also serves requests for new monitors there, forking
them from itself (``_forked`` then runs the same steps from 1).

The exit record (``exit``) is docker's State subset ``{"ExitCode", "FinishedAt", "OOMKilled"}``:
exit code 128+N for a kill by signal N, OOMKilled if the kernel's OOM killer struck in the
container's memory cgroup (its ``oom_kill`` counter grew). It is written to a temporary file,
fsync'ed, renamed into place and the directory fsync'ed, so a reader (or a monitor killed at any
instant) sees no record or a complete one, and a recorded exit survives a crash of the host
where the run root is on disk.

Size matters (one of these per running container; bench/monitor.py measures it against conmon):
the interpreter starts isolated without site, this module imports only what CPython has loaded
at start-up anyway plus ``select``, ``gc``, ``_socket`` and a few small lading modules (and
``_ctypes`` once it serves a spawn socket, see monitor_spawn), and uses the C modules:
``posix`` (``os`` would add ``stat``, ``posixpath`` and ``_collections_abc``: 150 KiB),
``_signal`` (through linux/signals) and ``_socket`` (``signal`` and ``socket`` would import
``enum`` and friends: about a megabyte); it reads files with ``posix.read``, not ``open()``.
No threads; one poll loop; ``posix._exit`` at the end. A monitor forked from another keeps
private the pages either writes after the fork, so the forked path (``_forked``) imports nothing
and touches as few objects as it can.
"""

from __future__ import annotations

import _socket
import gc
import posix
import select
import sys
import time

from lading.engine import attach_protocol as proto
from lading.engine import monitor_spawn
from lading.engine.jsonlog import JsonLog, remove, timestamp
from lading.linux import signals

# Not `from typing import ...`: typing would add to every monitor's size.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import NoReturn

# The monitor's files in exec_dir.
MONITOR_PID = "monitor.pid"  # "PID START_TIME": a forked monitor has its parent's command line
INIT_PID = "init.pid"
EXIT_FILE = "exit"
CONSOLE_SOCKET = "console.sock"
RUNTIME_LOG = "runtime.log"
# "PID START_TIME" of the runtime's create while it runs, written before the launcher's pipe and
# hold_fd can close: whoever cleans up after a killed monitor waits for that process first, or
# its create would finish after the clean-up's delete (monitor.wait_create_gone).
CREATE_PID = "create.pid"
STATUS_FD = 3  # the launcher's pipe: "pid N\n", then "ok INIT\n" or "fail\n<runtime stderr>"
HELD_FD = 4  # the launcher's hold_fd (say, its lock on the container), kept until create is over
# A runtime ``lading --root R`` or an exit command ``lading ...``: this lading, run in a child the
# monitor forks (own_runtime, exit_command) instead of a fresh interpreter.
OWN_PROGRAM = "lading"

_CHUNK = 65536
_CLIENT_BACKLOG = 1 << 20  # bytes queued for one client before the container's output is paused
_STDIN_BACKLOG = 1 << 20  # bytes queued for the container's stdin before the client is paused
_GOODBYE_MS = 5000  # how long attached clients get to take the last output after the exit
_SUN_PATH_MAX = 107
_READ = posix.O_RDONLY | posix.O_CLOEXEC
_RESET_SIGNALS = {signals.SIGPIPE, signals.SIGXFSZ}  # ignored by Python; children get the default


def command_line(
    container_id: str,
    runtime_argv: list[str],
    bundle: str,
    exec_dir: str,
    log_path: str,
    log_max_size: int | None,
    log_max_files: int,
    terminal: bool,
    stdin: bool,
    exit_command: list[str],
    holds_fd: bool = False,
    spawn_socket: str | None = None,
    kill_in_create: bool = False,
) -> list[str]:
    """The monitor's arguments, in the order :class:`Settings` reads them. ``kill_in_create``:
    the create child SIGKILLs the monitor as it starts (a crash point, engine/crash.py)."""
    flags = "".join(f for f, on in (("t", terminal), ("i", stdin), ("h", holds_fd), ("k", kill_in_create)) if on)
    flags = flags or "-"
    size = str(log_max_size) if log_max_size is not None else "-"
    return [
        container_id,
        bundle,
        exec_dir,
        log_path,
        size,
        str(log_max_files),
        flags,
        spawn_socket or "-",
        str(len(runtime_argv)),
        *runtime_argv,
        *exit_command,
    ]


class Settings:
    def __init__(self, argv: list[str], env: Mapping[bytes, bytes]) -> None:
        self.env = env  # for the commands the monitor runs
        self.container_id, self.bundle, self.exec_dir, self.log_path = argv[:4]
        self.log_max_size = None if argv[4] == "-" else int(argv[4])
        self.log_max_files = int(argv[5])
        self.terminal = "t" in argv[6]
        self.stdin = "i" in argv[6]
        self.holds_fd = "h" in argv[6]
        self.kill_in_create = "k" in argv[6]
        self.spawn_socket = None if argv[7] == "-" else argv[7]
        n = int(argv[8])
        self.runtime_argv = argv[9 : 9 + n]
        self.exit_command = argv[9 + n :]


class Client:
    """One attach connection and what is queued for it."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.greeted = False
        self.wants = b""
        self.queue: list[bytes] = []
        self.queued = 0

    def push(self, packet: bytes) -> None:
        self.queue.append(packet)
        self.queued += len(packet)

    def flush(self) -> bool:
        """Send what is queued, as far as the socket takes it; False if the client is gone."""
        while self.queue:
            try:
                self.sock.send(self.queue[0])
            except BlockingIOError:
                return True
            except OSError:
                return False
            self.queued -= len(self.queue.pop(0))
        return True


class Monitor:
    def __init__(self, settings: Settings, wake: int, status_fd: int, held_fd: int | None) -> None:
        self.s = settings
        self.wake = wake
        self.status_fd = status_fd
        self.held_fd = held_fd
        self.dir_fd = posix.open(settings.exec_dir, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        self.outputs: dict[int, str] = {}  # fd -> "stdout" / "stderr"
        self.stdin_fd: int | None = None
        self.master: int | None = None
        self.to_stdin = bytearray()
        self.close_stdin = False
        self.stdin_owner: Client | None = None
        self.clients: dict[int, Client] = {}
        self.watched: dict[int, int | None] = {}  # pid -> wait status once reaped
        self.init_pid = 0
        self.listener: _socket.socket | None = None
        self.spawner: monitor_spawn.Server | None = None
        self.log: JsonLog | None = None
        self.oom: OomCounter | None = None

    # -- create -------------------------------------------------------------------------------

    def create(self) -> None:
        """Run the runtime's create with the container's stdio; report to the launcher."""
        s = self.s
        self._report(b"pid %d\n" % posix.getpid())
        null = posix.open("/dev/null", posix.O_RDWR | posix.O_CLOEXEC)
        console: _socket.socket | None = None
        if s.terminal:
            console = self._listen(CONSOLE_SOCKET, _socket.SOCK_STREAM)
            err_r, err_w = posix.pipe2(posix.O_CLOEXEC | posix.O_NONBLOCK)
            stdio = [null, err_w, err_w]
        else:
            out_r, out_w = posix.pipe2(posix.O_CLOEXEC)
            err_r, err_w = posix.pipe2(posix.O_CLOEXEC)
            stdio = [null, out_w, err_w]
            if s.stdin:
                in_r, self.stdin_fd = posix.pipe2(posix.O_CLOEXEC)
                stdio[0] = in_r
            self.outputs = {out_r: "stdout", err_r: "stderr"}
        argv = [*s.runtime_argv, "--log", self._path(RUNTIME_LOG), "--log-format", "json", "create"]
        argv += ["--bundle", s.bundle, "--pid-file", self._path(INIT_PID)]
        if console is not None:
            argv += ["--console-socket", self._runtime_socket_path(CONSOLE_SOCKET)]
        argv.append(s.container_id)
        try:
            runtime = _spawn_runtime(argv, stdio, s.env, self._record_create, s.kill_in_create)
        except OSError as e:
            self._fail(f"{argv[0]}: {e.strerror}".encode())
        for fd in {null, *stdio}:
            posix.close(fd)
        status = self._wait_for(runtime, console)
        remove(self._path(CREATE_PID))
        if status != 0:
            self._fail(_read_available(err_r))
        try:
            self.init_pid = int(_read_file(self._path(INIT_PID)))
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
            self.outputs = {self.master: "stdout"}
            self.stdin_fd = self.master if s.stdin else None
        for fd in self.outputs:
            posix.set_blocking(fd, False)
        if self.stdin_fd is not None:
            posix.set_blocking(self.stdin_fd, False)
        self.oom = OomCounter.find(self.init_pid)
        self.log = JsonLog(s.log_path, s.log_max_size, s.log_max_files)
        self.listener = self._listen(proto.SOCKET_NAME, _socket.SOCK_SEQPACKET)
        if s.spawn_socket is not None:
            self.spawner = monitor_spawn.Server.listen(s.spawn_socket)
        self._write_file(MONITOR_PID, b"%d %s\n" % (posix.getpid(), _start_time(posix.getpid())))
        remove(self._path(RUNTIME_LOG))
        self._report(b"ok %d\n" % self.init_pid)
        posix.close(self.status_fd)
        if self.held_fd is not None:
            posix.close(self.held_fd)

    def _record_create(self, pid: int) -> None:
        self._write_file(CREATE_PID, b"%d %s\n" % (pid, _start_time(pid)), durable=False)

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
                    self._reap()
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
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds = [int.from_bytes(data[i : i + 4], sys.byteorder) for i in range(0, len(data) - 3, 4)]
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

    def _report(self, data: bytes) -> None:
        try:
            posix.write(self.status_fd, data)
        except OSError:  # the launcher is gone (killed): carry on, the state files tell the story
            pass

    def _fail(self, detail: bytes) -> NoReturn:
        self._report(b"fail\n" + detail)
        for name in (CONSOLE_SOCKET, proto.SOCKET_NAME, INIT_PID, MONITOR_PID, CREATE_PID):
            remove(self._path(name))
        posix._exit(1)

    # -- serve --------------------------------------------------------------------------------

    def serve(self) -> None:
        """Copy output, input and resizes until the container's init has exited."""
        assert self.listener is not None
        while self.watched.get(self.init_pid) is None:
            wanted: dict[int, int] = {self.wake: select.POLLIN, self.listener.fileno(): select.POLLIN}
            if self.spawner is not None:
                wanted[self.spawner.fileno()] = select.POLLIN
            if all(c.queued < _CLIENT_BACKLOG for c in self.clients.values()):
                for fd in self.outputs:
                    wanted[fd] = select.POLLIN
            if self.stdin_fd is not None and (self.to_stdin or self.close_stdin):
                wanted[self.stdin_fd] = wanted.get(self.stdin_fd, 0) | select.POLLOUT
            for fd, c in self.clients.items():
                paused = c is self.stdin_owner and len(self.to_stdin) >= _STDIN_BACKLOG
                wanted[fd] = (0 if paused else select.POLLIN) | (select.POLLOUT if c.queue else 0)
            poller = select.poll()
            for fd, mask in wanted.items():
                poller.register(fd, mask)
            for fd, events in poller.poll():
                if fd == self.wake:
                    self._reap()
                elif fd == self.listener.fileno():
                    self._accept_client()
                elif self.spawner is not None and fd == self.spawner.fileno():
                    self._fork_monitor(self.spawner)
                elif fd in self.clients:
                    self._client_event(self.clients[fd], events)
                else:
                    if events & select.POLLOUT or (fd == self.stdin_fd and fd not in self.outputs):
                        self._write_stdin(events)
                    if fd in self.outputs and events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        self._read_output(fd)

    def _fork_monitor(self, spawner: monitor_spawn.Server) -> None:
        """Serve a spawn request: a new monitor, forked from this one (see monitor_spawn)."""
        request = spawner.receive()
        if request is None:
            return
        data, fds = request
        gc.freeze()  # the collector would otherwise touch, and so copy, every shared object
        if posix.fork() == 0:
            try:
                _forked(data, fds)
            finally:
                posix._exit(1)
        gc.unfreeze()
        for fd in fds:
            posix.close(fd)

    def _reap(self) -> None:
        try:
            while posix.read(self.wake, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = posix.waitpid(-1, posix.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.watched or pid == self.init_pid or not self.init_pid:
                self.watched[pid] = status  # before create ends, any child may turn out to be the init

    def _read_output(self, fd: int) -> bool:
        """Log and pass on one read of output fd; False once it has ended (or has nothing now)."""
        assert self.log is not None
        stream = self.outputs[fd]
        try:
            data = posix.read(fd, _CHUNK)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the pty's last peer closed
            data = b""
        if not data:
            del self.outputs[fd]
            self.log.end(stream)
            if fd != self.master:
                posix.close(fd)
            return False
        self.log.feed(stream, data)
        kind, letter = (proto.STDOUT, proto.HELLO_STDOUT) if stream == "stdout" else (proto.STDERR, proto.HELLO_STDERR)
        for c in self.clients.values():
            if letter in c.wants:
                c.push(kind + data)
        return True

    def _write_stdin(self, events: int) -> None:
        assert self.stdin_fd is not None
        if events & (select.POLLERR | select.POLLHUP) and self.stdin_fd != self.master:
            self.to_stdin.clear()  # the container closed its stdin
            self.close_stdin = True
        if self.to_stdin:
            try:
                del self.to_stdin[: posix.write(self.stdin_fd, self.to_stdin)]
            except BlockingIOError:
                return
            except OSError:
                self.to_stdin.clear()
                self.close_stdin = self.stdin_fd != self.master
        if self.close_stdin and not self.to_stdin:
            posix.close(self.stdin_fd)
            self.stdin_fd = None
            self.close_stdin = False

    def _accept_client(self) -> None:
        assert self.listener is not None
        try:
            fd, _ = self.listener._accept()  # type: ignore[attr-defined]  # _socket's accept
        except BlockingIOError:
            return
        sock = _socket.socket(fileno=fd)
        sock.setblocking(False)
        self.clients[fd] = Client(sock)

    def _client_event(self, c: Client, events: int) -> None:
        if events & select.POLLOUT and not c.flush():
            self._drop(c)
            return
        if not events & (select.POLLIN | select.POLLHUP | select.POLLERR):
            return
        try:
            msg = c.sock.recv(proto.MAX_PACKET)
        except BlockingIOError:
            return
        except OSError:
            msg = b""
        if not msg:
            self._drop(c)
            return
        kind, payload = msg[:1], msg[1:]
        if not c.greeted:
            c.greeted, c.wants = True, payload
            c.push(proto.HELLO)
            if self.stdin_owner is None:
                self._pass_stdin_on()
        elif kind == proto.STDIN and c is self.stdin_owner:
            self.to_stdin += payload
        elif kind == proto.STDIN_EOF and c is self.stdin_owner:
            self._pass_stdin_on()
            if proto.HELLO_CLOSE_STDIN in c.wants and self.stdin_fd is not None and self.stdin_fd != self.master:
                self.close_stdin = True
        elif kind == proto.RESIZE and self.master is not None:
            _set_window_size(self.master, payload)
        elif kind == proto.SIGNAL and self.watched.get(self.init_pid) is None:
            try:
                posix.kill(self.init_pid, int(payload))  # our child, not yet reaped: the pid is still its
            except (OSError, ValueError):
                pass

    def _drop(self, c: Client) -> None:
        del self.clients[c.sock.fileno()]
        if c is self.stdin_owner:
            self._pass_stdin_on()
        c.sock.close()

    def _pass_stdin_on(self) -> None:
        """stdin goes to the longest-connected client that wants it and does not hold it yet."""
        previous, self.stdin_owner = self.stdin_owner, None
        if self.stdin_fd is None:
            return
        for c in self.clients.values():
            if c is not previous and proto.HELLO_STDIN in c.wants:
                self.stdin_owner = c
                return

    # -- the end ------------------------------------------------------------------------------

    def finish(self) -> NoReturn:
        """Drain, record the exit, tell the clients, run the exit command, exit."""
        assert self.log is not None
        for fd in list(self.outputs):
            while self._read_output(fd):
                pass
            if fd in self.outputs:  # still open elsewhere (a process outside the container's pid ns)
                self.log.end(self.outputs.pop(fd))
        self.log.close()
        status = self.watched[self.init_pid]
        assert status is not None
        code = posix.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code
        oom = self.oom is not None and self.oom.grew()
        body = b'{"ExitCode":%d,"FinishedAt":"%s","OOMKilled":%s}\n' % (
            code,
            timestamp(time.time_ns()).encode(),
            b"true" if oom else b"false",
        )
        self._write_file(EXIT_FILE, body)
        self._goodbye(b"%d" % code)
        remove(self._path(proto.SOCKET_NAME))
        if self.spawner is not None:
            self.spawner.close()
        if self.s.exit_command:
            null = posix.open("/dev/null", posix.O_RDWR | posix.O_CLOEXEC)
            command = self.s.exit_command
            try:
                if command[0] == OWN_PROGRAM:
                    _fork_lading([null, null, null], self.s.env, _exit_command(command[1:]), new_session=True)
                else:
                    _spawn(command, [null, null, null], self.s.env, new_session=True)
            except OSError:
                pass
        posix._exit(0)

    def _goodbye(self, code: bytes) -> None:
        """Send every client the exit code after its pending output; give them a little time."""
        for c in self.clients.values():
            c.push(proto.EXIT + code)
        waited = 0
        while waited < _GOODBYE_MS:
            pending = [c for c in self.clients.values() if c.flush() and c.queue]
            if not pending:
                break
            poller = select.poll()
            for c in pending:
                poller.register(c.sock.fileno(), select.POLLOUT)
            poller.poll(100)
            waited += 100
        for c in list(self.clients.values()):
            c.sock.close()
        self.clients.clear()

    # -- files --------------------------------------------------------------------------------

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

    def _write_file(self, name: str, data: bytes, durable: bool = True) -> None:
        """Atomically (and durably unless told): a reader sees the old file or the whole new one."""
        tmp = f".{name}.tmp"
        fd = posix.open(
            tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o644, dir_fd=self.dir_fd
        )
        try:
            posix.write(fd, data)
            if durable:
                posix.fsync(fd)
        finally:
            posix.close(fd)
        posix.rename(tmp, name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        if durable:
            posix.fsync(self.dir_fd)


class OomCounter:
    """The ``oom_kill`` counter of a process's memory cgroup (v1 memory.oom_control, v2
    memory.events), held open so it can still be read when the process is gone."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.start = self.read()

    @staticmethod
    def find(pid: int) -> OomCounter | None:
        try:
            memberships = [line.split(b":", 2) for line in _read_file(f"/proc/{pid}/cgroup").splitlines()]
            mounts = _read_file("/proc/self/mountinfo")
        except OSError:
            return None
        v1 = [path for _, controllers, path in memberships if b"memory" in controllers.split(b",")]
        v2 = [path for hid, controllers, path in memberships if hid == b"0" and not controllers]
        for fields in _cgroup_mounts(mounts):
            fstype, options = fields[-3], fields[-1]
            root, mountpoint = fields[3], fields[4]
            if v1 and fstype == b"cgroup" and b"memory" in options.split(b","):
                name, path = b"memory.oom_control", v1[0]
            elif not v1 and v2 and fstype == b"cgroup2":
                name, path = b"memory.events", v2[0]
            else:
                continue
            relative = path[len(root) :] if root != b"/" and path.startswith(root) else path
            try:
                return OomCounter(posix.open(b"%s%s/%s" % (mountpoint, relative.rstrip(b"/"), name), _READ))
            except OSError:
                return None
        return None

    def read(self) -> int:
        try:
            text = posix.pread(self.fd, 4096, 0).decode()
        except OSError:  # the cgroup is already gone
            return -1
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def grew(self) -> bool:
        return self.read() > self.start


def _spawn(argv: list[str], stdio: list[int], env: Mapping[bytes, bytes], new_session: bool = False) -> int:
    actions = [(posix.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
    return posix.posix_spawnp(
        argv[0], argv, env, file_actions=actions, setsid=new_session, setsigdef=_RESET_SIGNALS, setsigmask=()
    )


def _spawn_runtime(
    argv: list[str],
    stdio: list[int],
    env: Mapping[bytes, bytes],
    record: Callable[[int], None] | None = None,
    kill_parent: bool = False,
) -> int:
    """The runtime's command as a child; lading's own (``lading --root R ...``) is a forked child
    that imports the runtime and does what that command would, without a fresh interpreter (the
    monitor itself never loads the runtime). ``record`` is given the child's pid (CREATE_PID):
    by the forked child itself, before it closes what it inherited; ``kill_parent`` is the
    crash point :data:`lading.engine.crash.MONITOR_CREATE`."""
    if argv[0] != OWN_PROGRAM:
        pid = _spawn(argv, stdio, env)
        if record is not None:
            try:
                record(pid)
            except OSError:  # only a help for a clean-up after this monitor is killed
                pass
        return pid

    def first() -> None:
        if record is not None:
            record(posix.getpid())
        if kill_parent:
            posix.kill(posix.getppid(), signals.SIGKILL)

    def create() -> int:
        from lading.engine import own_runtime

        return own_runtime.main(argv[2], argv[3:])

    return _fork_lading(stdio, env, create, first=first)


def _exit_command(args: list[str]) -> Callable[[], int]:
    def run() -> int:
        from lading.engine import exit_command

        return exit_command.main(args)

    return run


def _fork_lading(
    stdio: list[int],
    env: Mapping[bytes, bytes],
    work: Callable[[], int],
    first: Callable[[], None] | None = None,
    new_session: bool = False,
) -> int:
    """A child that does ``work`` (this lading's code, imported there: never in the monitor,
    whose size stays as it is) as a command of its own would: with only stdio open, the given
    environment, and ``work``'s return as its exit status. ``first`` runs before the child
    closes what it inherited."""
    pid = posix.fork()
    if pid == 0:
        code = 1
        try:
            if first is not None:
                first()
            if new_session:
                posix.setsid()
            for target, fd in enumerate(stdio):
                posix.dup2(fd, target)
            signals.stop_waking((signals.SIGCHLD,))
            monitor_spawn.drop_fds(set())  # as after exec: only stdio (everything else is CLOEXEC)
            _take_environment(env)
            code = work()
        finally:
            posix._exit(code)
    return pid


def _take_environment(env: Mapping[bytes, bytes]) -> None:
    """Make env this process's environment, for Python (``os.environ``, made from
    ``posix.environ`` when ``os`` is imported) and for C (what a command it execs inherits)."""
    if env is posix.environ:
        return
    for key in [k for k in posix.environ if k not in env]:
        posix.unsetenv(key)
    for key, value in env.items():
        posix.putenv(key, value)
    posix.environ.clear()
    posix.environ.update(env)


def _start_time(pid: int) -> bytes:
    """Field 22 of /proc/PID/stat: with the pid, it names the process (linux/process.py)."""
    return _read_file(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()[19]


def _read_file(path: str) -> bytes:
    """A whole (small) file: posix, not open(), whose buffered objects every monitor would copy."""
    fd = posix.open(path, _READ)
    try:
        chunks = []
        while chunk := posix.read(fd, _CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        posix.close(fd)


def _cgroup_mounts(mountinfo: bytes) -> list[list[bytes]]:
    """The fields of mountinfo's cgroup and cgroup2 lines (the others are not split at all)."""
    found = []
    at = 0
    while (at := mountinfo.find(b" - cgroup", at)) >= 0:
        start = mountinfo.rfind(b"\n", 0, at) + 1
        end = mountinfo.find(b"\n", at)
        found.append(mountinfo[start : end if end >= 0 else len(mountinfo)].split())
        at = end if end >= 0 else len(mountinfo)
    return found


def _read_available(fd: int) -> bytes:
    posix.set_blocking(fd, False)
    try:
        return posix.read(fd, _CHUNK)
    except OSError:
        return b""


def _set_window_size(master: int, payload: bytes) -> None:
    import fcntl
    import termios

    try:
        rows, cols = (int(x) for x in payload.split())
        size = b"".join(n.to_bytes(2, sys.byteorder) for n in (rows, cols, 0, 0))
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except (OSError, ValueError):
        pass


def _run(settings: Settings, status_fd: int, held_fd: int | None, keep: set[int] | None = None) -> NoReturn:
    wake_r, wake_w = posix.pipe2(posix.O_NONBLOCK | posix.O_CLOEXEC)
    signals.wake_on((signals.SIGCHLD,), wake_w)
    if keep is not None:  # forked from a monitor: drop what it had open
        monitor_spawn.drop_fds(keep | {wake_r, wake_w})
    monitor = Monitor(settings, wake_r, status_fd, held_fd)
    monitor.create()
    monitor.serve()
    monitor.finish()


def _forked(data: bytes, fds: list[int]) -> NoReturn:
    """A monitor forked by a live one: as if exec'd with the request's arguments and environment
    (see monitor_spawn); a request from other code is dropped unanswered."""
    request = monitor_spawn.decode(data)
    if request is None:
        posix._exit(1)
    settings = Settings(*request)
    held = fds[1] if settings.holds_fd and len(fds) > 1 else None
    monitor_spawn.become_child()
    _run(settings, fds[0], held, keep={fd for fd in (fds[0], held) if fd is not None})


def main(argv: list[str]) -> NoReturn:
    settings = Settings(argv, posix.environ)
    _run(settings, STATUS_FD, HELD_FD if settings.holds_fd else None)
