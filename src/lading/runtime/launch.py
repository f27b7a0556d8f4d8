"""The one pipeline from "inside the container" to execve of the user's program.

The container's init (init.py) and a process `exec` starts (exec_init.py) reach the container
differently, then both run the same steps, in this order:

:func:`open_terminal` and :func:`prepare` (the init runs them before it reports ready, so
whatever fails here fails ``create``, as with runc; the terminal before the rootfs is finished,
since /dev/console goes into a /dev that may then turn read-only):

1. the terminal: a pty from the container's devpts, its master sent over the console socket;
2. the environment (HOME from the container's /etc/passwd) and the cwd, checked to be inside;
3. the executable, found on the container's PATH;
4. rlimits, while the runtime's capabilities still allow raising a hard limit, then the
   scheduling policy, I/O priority, personality, memory policy and final CPU affinity
   (runtime/process_attrs.py).

:func:`become` (the init runs it too before it reports ready, as runc does, so that a user,
group or capability that cannot be set fails ``create`` and ``start`` has little left to wait for):

5. the trampoline (lading.linux.trampoline), default signal dispositions (but for the handlers
   the caller keeps until the execve), every fd but those passed on marked close-on-exec, stdio
   (the terminal) given to the process's uid: all before the seccomp filter, which may forbid
   any of it;
6. LSM labels, the seccomp filter without noNewPrivileges, user, groups and capabilities, in the
   order runtime/security.py gives.

:func:`start` (the init runs it once ``start`` has released it):

7. with noNewPrivileges, no_new_privs and then the seccomp filter; the startContainer hooks
   and the init's word to ``start`` that the execve is next (init only, as the caller's
   ``before_exec``), under the filter as with runc;
8. execve of the program through the trampoline: with noNewPrivileges, besides that word (a
   write, whose failure is ignored), the one system call the runtime itself makes under the
   filter (execveat, or execve of /proc/self/fd/N where the profile lacks execveat), then the
   trampoline's fcntl and execve. (Without it the init's wait on exec.fifo runs under the
   filter too, as runc's does.)

:class:`Launch` is what both need, validated by the runtime before it forks.
"""

from __future__ import annotations

from lading import log
from lading.linux import trampoline
from lading.record import Record
from lading.runtime import process, process_attrs, shield

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from lading.runtime.process_attrs import Attrs
    from lading.runtime.security import Security
    from lading.spec.runtime_config import Process


class Launch(Record):
    """The container process as the runtime validated it, for the forked side to start."""

    process: Process
    security: Security
    keep_fds: range  # 3.. (socket activation and --preserve-fds): passed on to the program
    extra_env: dict[str, str]  # on top of process.env (LISTEN_FDS and LISTEN_PID for the init)
    allow_setgroups: bool  # false in a user namespace whose setgroups is "deny"
    attrs: Attrs  # scheduling, I/O priority, CPU affinity, personality, memory policy
    bind_dev_console: bool  # the init's terminal is also /dev/console; an exec'd one is not


class Ready(Record):
    """What :func:`prepare` found, for :func:`start`."""

    path: str
    env: dict[str, str]


def load_console() -> None:
    """Import what :func:`open_terminal` uses, in the runtime before it forks a process that
    gets a console socket: that process opens the terminal in the container's root, where no
    module can be imported any more. Without a terminal, neither pty nor termios is loaded."""
    from lading.runtime import console  # noqa: F401  # for open_terminal, after the fork


def open_terminal(launch: Launch, console_fd: int | None) -> None:
    """Step 1 above (nothing without a console socket), in the container's root; the runtime
    called :func:`load_console` before the fork."""
    if console_fd is not None:
        from lading.runtime import console

        console.setup(console_fd, launch.process, bind_dev_console=launch.bind_dev_console)


def prepare(launch: Launch) -> Ready:
    """Steps 2-4 above, in the container's root (after pivot_root or chroot)."""
    proc = launch.process
    env = process.environment(proc)
    env.update(launch.extra_env)
    shield.chdir_inside(proc.cwd)
    assert proc.args  # the decoder requires at least one
    path = process.find_executable(proc.args[0], env)
    launch.security.set_rlimits()
    process_attrs.apply(launch.attrs)
    log.debug("in the container's root, about to exec %s", path)
    return Ready(path, env)


def become(launch: Launch, error_fd: int, agent_state: str, host_pid: int, still_caught: tuple[int, ...] = ()) -> int:
    """Steps 5-6 above; the trampoline's fd, which reports a failed execve on ``error_fd`` (the
    fd number that must be open and inheritable by the execve, not necessarily by now).

    ``agent_state`` (the container's state JSON) and ``host_pid`` (this process's pid as the
    runtime sees it) only go to a seccomp agent; ``still_caught``: the signals whose handlers
    stay until the execve."""
    proc = launch.process
    via = trampoline.load(error_fd)
    process.ready_to_exec(launch.keep_fds, error_fd, still_caught)
    process.own_stdio(proc.user.uid)
    launch.security.apply(proc, launch.allow_setgroups, agent_state, host_pid)
    return via


def start(
    launch: Launch,
    ready: Ready,
    via: int,
    agent_state: str,
    host_pid: int,
    before_exec: Callable[[dict[str, str]], None] | None = None,
) -> NoReturn:
    """Steps 7-8 above, after :func:`become` gave ``via``; arguments as there."""
    proc = launch.process
    launch.security.finish(agent_state, host_pid)
    if before_exec is not None:
        before_exec(ready.env)
    assert proc.args
    trampoline.execve(via, ready.path, list(proc.args), ready.env)
