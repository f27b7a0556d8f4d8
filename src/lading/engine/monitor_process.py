"""The monitor itself: one small process per container, from `runtime create` until the exit.

``monitor.launch`` starts it as ``python -I -S -c ...`` in its own session, already a child
subreaper (``PR_SET_CHILD_SUBREAPER`` survives exec, so this process needs no ctypes). It:

1. reports ``pid N`` on fd 3 to the launcher and forks a setup child (monitor_setup), which makes
   the container's stdio (pipes for stdout and stderr, and stdin with ``-i``; else /dev/null;
   or for a terminal a console socket on which the runtime sends the pty master), runs
   ``<runtime> --log runtime.log --log-format json create --bundle B --pid-file init.pid
   [--console-socket S] ID`` with them as its stdio, so the container's init inherits them,
   opens the log, binds the attach socket, writes ``monitor.pid`` and hands this process the
   fds (or reports ``fail`` and the runtime's stderr, removes what it made and exits); the init
   is re-parented here, not to the setup child, when the runtime exits (we are the subreaper);
2. reports ``ok INIT_PID`` once it holds the fds, and closes fd 3;
3. serves until the init exits: output goes to the json-file log first (see jsonlog), then to
   every attached client; stdin comes from one client; resizes go to the pty; every child,
   including orphans re-parented here, is reaped;
4. drains the output still in the pipes (or pty), writes the exit record, tells attached
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
at start-up anyway plus ``select``, ``gc``, ``_socket`` and a few small lading modules (and, in
a monitor with a spawn socket, monitor_warmup and ``_ctypes``: see monitor_spawn), and uses the
C modules:
``posix`` (``os`` would add ``stat``, ``posixpath`` and ``_collections_abc``: 150 KiB),
``_signal`` (through linux/signals) and ``_socket`` (``signal`` and ``socket`` would import
``enum`` and friends: about a megabyte); it reads files with ``posix.read``, not ``open()``.
No threads; one poll loop; ``posix._exit`` at the end. A monitor forked from another keeps
private the pages either writes after the fork (CPython 3.11 writes a page for every object it
uses), so the forked path (``_forked``) imports nothing, the setup child does the work done once
per container (and its pages die with it), and the objects made from the handed-over fds (the
log writer, the attach listener, the spawn server, the oom counter) are made when first needed.
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
# monitor (or its setup child) forks (own_runtime, exit_command) instead of a fresh interpreter.
OWN_PROGRAM = "lading"

_CHUNK = 65536
_CLIENT_BACKLOG = 1 << 20  # bytes queued for one client before the container's output is paused
_STDIN_BACKLOG = 1 << 20  # bytes queued for the container's stdin before the client is paused
_GOODBYE_MS = 5000  # how long attached clients get to take the last output after the exit
# Flags computed once: their module's constants would cost each forked monitor their pages.
_WAKE_PIPE = posix.O_NONBLOCK | posix.O_CLOEXEC
_SOCKETPAIR = _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
_HANDOVER_ANCILLARY = _socket.CMSG_LEN(16 * 4)
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
    """The long-lived half: serves the container that its setup child created and handed over."""

    def __init__(self, request: Settings | bytes, wake: int) -> None:
        self.request = request  # decoded only at the end (see settings)
        self.wake = wake
        self.dir_fd = -1
        self.outputs: dict[int, str] = {}  # fd -> "stdout" / "stderr"
        self.stdin_fd: int | None = None
        self.master: int | None = None
        self.to_stdin = bytearray()
        self.close_stdin = False
        self.stdin_owner: Client | None = None
        self.clients: dict[int, Client] = {}
        self.watched: dict[int, int | None] = {}  # pid -> wait status once reaped
        self.init_pid = 0
        # What the setup child handed over (see take_over), made into objects when first needed:
        # an idle monitor then never makes them (each object it makes or uses costs it a page).
        self.handover: list[bytes] = []
        self.listen_fd = self.log_fd = self.oom_fd = self.spawn_fd = -1
        self.listener: _socket.socket | None = None
        self.spawner: monitor_spawn.Server | None = None
        self.log: JsonLog | None = None

    def take_over(self, setup: _socket.socket) -> None:
        """Wait for the setup child's handover (see monitor_setup._hand_over); exit if the child
        ends without one (it failed, and told the launcher, or it was killed). Children that
        exit meanwhile (the init may be re-parented here, and even exit, before it comes) are
        reaped by the serve loop, which the wake pipe wakes at once.

        The handover is read by position, without building a dict of roles: each object used
        here costs every forked monitor the page that holds it (see monitor_spawn)."""
        try:
            body, ancillary, _, _ = setup.recvmsg(65536, _HANDOVER_ANCILLARY, _socket.MSG_CMSG_CLOEXEC)
        except OSError:
            body, ancillary = b"", []
        setup.close()
        if not body:
            posix._exit(1)
        self.handover = body.split(b"\0")
        roles, fds = self.handover[0], monitor_spawn.received_fds(ancillary)
        if len(fds) != len(roles):
            posix._exit(1)
        self.init_pid = int(self.handover[1])
        self.watched = {self.init_pid: None}
        # monitor_setup's order: the container's stdio ("oe", "oei", "t" or "T"), "dla", then "c"
        # and "s" if there are an oom counter and a spawn socket (and its path). No one-letter
        # constants: those are CPython's shared single-byte objects, each page of them one more.
        stdio = roles.find(b"dla")
        self.dir_fd, self.log_fd, self.listen_fd = fds[stdio : stdio + 3]
        self.oom_fd = fds[stdio + 3] if b"ac" in roles else -1
        self.spawn_fd = fds[-1] if self.handover[6] else -1
        if roles.startswith(b"oe"):
            self.outputs = {fds[0]: "stdout", fds[1]: "stderr"}
            self.stdin_fd = fds[2] if stdio == 3 else None
        else:
            self.master = fds[0]
            self.outputs = {self.master: "stdout"}
            self.stdin_fd = self.master if roles.startswith(b"Td") else None

    def json_log(self) -> JsonLog:
        if self.log is None:
            path, max_size, max_files = self.handover[3:6]
            size = int(max_size)
            self.log = JsonLog(path.decode(), size if size >= 0 else None, int(max_files), self.log_fd)
        return self.log

    def spawn_server(self) -> monitor_spawn.Server:
        if self.spawner is None:
            path, inode = self.handover[6:8]
            self.spawner = monitor_spawn.Server(_socket.socket(fileno=self.spawn_fd), path.decode(), int(inode))
        return self.spawner

    def settings(self) -> Settings:
        """The request's settings: a forked monitor decodes them only when it needs them (at the
        end), so that their objects do not cost it pages while it runs."""
        if isinstance(self.request, Settings):
            return self.request
        decoded = monitor_spawn.decode(self.request)
        assert decoded is not None  # checked before the fork (monitor_spawn.is_known)
        return Settings(*decoded)

    # -- serve --------------------------------------------------------------------------------

    def serve(self) -> None:
        """Copy output, input and resizes until the container's init has exited."""
        while self.watched.get(self.init_pid) is None:
            wanted: dict[int, int] = {self.wake: select.POLLIN, self.listen_fd: select.POLLIN}
            if self.spawn_fd >= 0:
                wanted[self.spawn_fd] = select.POLLIN
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
                    reap(self.wake, self.watched)
                elif fd == self.listen_fd:
                    self._accept_client()
                elif fd == self.spawn_fd:
                    self._fork_monitor(self.spawn_server())
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
        if not monitor_spawn.is_known(data):  # a launcher of other code: dropped unanswered
            for fd in fds:
                posix.close(fd)
            return
        gc.freeze()  # the collector would otherwise touch, and so copy, every shared object
        if posix.fork() == 0:
            try:
                _forked(data, fds)
            finally:
                posix._exit(1)
        gc.unfreeze()
        for fd in fds:
            posix.close(fd)

    def _read_output(self, fd: int) -> bool:
        """Log and pass on one read of output fd; False once it has ended (or has nothing now)."""
        log = self.json_log()
        stream = self.outputs[fd]
        try:
            data = posix.read(fd, _CHUNK)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the pty's last peer closed
            data = b""
        if not data:
            del self.outputs[fd]
            log.end(stream)
            if fd != self.master:
                posix.close(fd)
            return False
        log.feed(stream, data)
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
        if self.listener is None:
            self.listener = _socket.socket(fileno=self.listen_fd)
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
        log = self.json_log()
        for fd in list(self.outputs):
            while self._read_output(fd):
                pass
            if fd in self.outputs:  # still open elsewhere (a process outside the container's pid ns)
                log.end(self.outputs.pop(fd))
        log.close()
        status = self.watched[self.init_pid]
        assert status is not None
        code = posix.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code
        oom = self.oom_fd >= 0 and OomCounter(self.oom_fd, int(self.handover[2])).grew()
        body = b'{"ExitCode":%d,"FinishedAt":"%s","OOMKilled":%s}\n' % (
            code,
            timestamp(time.time_ns()).encode(),
            b"true" if oom else b"false",
        )
        write_file(self.dir_fd, EXIT_FILE, body)
        self._goodbye(b"%d" % code)
        settings = self.settings()
        remove(f"{settings.exec_dir}/{proto.SOCKET_NAME}")
        if self.spawn_fd >= 0:
            self.spawn_server().close()
        if settings.exit_command:
            null = posix.open("/dev/null", posix.O_RDWR | posix.O_CLOEXEC)
            command = settings.exit_command
            try:
                if command[0] == OWN_PROGRAM:
                    fork_lading([null, null, null], settings.env, _exit_command(command[1:]), new_session=True)
                else:
                    spawn(command, [null, null, null], settings.env, new_session=True)
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


class OomCounter:
    """The ``oom_kill`` counter of a process's memory cgroup (v1 memory.oom_control, v2
    memory.events), held open so it can still be read when the process is gone."""

    def __init__(self, fd: int, start: int | None = None) -> None:
        self.fd = fd
        self.start = self.read() if start is None else start

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


def spawn(argv: list[str], stdio: list[int], env: Mapping[bytes, bytes], new_session: bool = False) -> int:
    actions = [(posix.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
    return posix.posix_spawnp(
        argv[0], argv, env, file_actions=actions, setsid=new_session, setsigdef=_RESET_SIGNALS, setsigmask=()
    )


def fork_lading(
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
            monitor_spawn.drop_fds([])  # as after exec: only stdio (everything else is CLOEXEC)
            _take_environment(env)
            code = work()
        finally:
            posix._exit(code)
    return pid


def _exit_command(args: list[str]) -> Callable[[], int]:
    def run() -> int:
        from lading.engine import exit_command

        return exit_command.main(args)

    return run


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


def reap(wake: int, watched: dict[int, int | None]) -> None:
    """Empty the wake pipe, reap every child that has exited and record the wait status of those
    in watched."""
    try:
        while len(posix.read(wake, 512)) == 512:
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
        if pid in watched:
            watched[pid] = status


def report(status_fd: int, data: bytes) -> None:
    """Tell the launcher (on its pipe); if it is gone (killed), carry on: the state files tell."""
    try:
        posix.write(status_fd, data)
    except OSError:
        pass


def write_file(dir_fd: int, name: str, data: bytes, durable: bool = True) -> None:
    """Atomically (and durably unless told): a reader sees the old file or the whole new one."""
    tmp = f".{name}.tmp"
    fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    try:
        posix.write(fd, data)
        if durable:
            posix.fsync(fd)
    finally:
        posix.close(fd)
    posix.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    if durable:
        posix.fsync(dir_fd)


def _set_window_size(master: int, payload: bytes) -> None:
    import fcntl
    import termios

    try:
        rows, cols = (int(x) for x in payload.split())
        size = b"".join(n.to_bytes(2, sys.byteorder) for n in (rows, cols, 0, 0))
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except (OSError, ValueError):
        pass


def _run(request: Settings | bytes, status_fd: int, held_fd: int | None, keep: list[int] | None = None) -> NoReturn:
    """Report our pid, have a setup child create the container (monitor_setup), take it over,
    report ``ok``, serve it, finish."""
    if keep is not None:  # forked from a monitor: drop what it had open (its wake pipe too)
        monitor_spawn.drop_fds(keep)
    wake_r, wake_w = posix.pipe2(_WAKE_PIPE)
    signals.wake_on((signals.SIGCHLD,), wake_w)
    me = posix.getpid()
    report(status_fd, b"pid %d\n" % me)
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _SOCKETPAIR)
    if posix.fork() == 0:
        try:
            for fd in (wake_r, wake_w, ours.detach()):
                posix.close(fd)
            from lading.engine import monitor_setup

            monitor_setup.run(request, me, theirs.detach(), status_fd)
        finally:
            posix._exit(1)
    theirs.close()
    monitor = Monitor(request, wake_r)
    monitor.take_over(ours)
    report(status_fd, b"ok %d\n" % monitor.init_pid)
    posix.close(status_fd)
    if held_fd is not None:
        posix.close(held_fd)
    monitor.serve()
    monitor.finish()


def _forked(data: bytes, fds: list[int]) -> NoReturn:
    """A monitor forked by a live one: as if exec'd with the request's arguments and environment
    (see monitor_spawn), which only its setup child decodes."""
    held = fds[1] if len(fds) > 1 else None
    monitor_spawn.become_child()
    _run(data, fds[0], held, keep=fds)


def main(argv: list[str]) -> NoReturn:
    settings = Settings(argv, posix.environ)
    if settings.spawn_socket is not None:  # it may serve spawn requests: see monitor_warmup
        from lading.engine import monitor_warmup

        monitor_warmup.quicken_on_next_call()
    _run(settings, STATUS_FD, HELD_FD if settings.holds_fd else None)
