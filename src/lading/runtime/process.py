"""The user-specified program: finding it, its environment, its user, and the final execve.

These run in the container's init after pivot_root, so they read the container's own files
(/etc/passwd for HOME) and search the container's PATH, like runc's init does.
"""

from __future__ import annotations

import errno
import posix  # not os: runtime/store.py says why
import stat

from lading.errors import LadingError
from lading.linux.files import exists
from lading.linux.libc import SYS_CLOSE_RANGE, syscall
from lading.linux.paths import fsdecode, isdir, isfile, join
from lading.linux.process import reset_signals

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.spec.runtime_config import Process

CLOSE_RANGE_CLOEXEC = 1 << 2


def listen_fds_passed() -> int:
    """Socket-activation fds (LISTEN_FDS) are passed on to the container, as runc does."""
    try:
        return max(0, int(fsdecode(posix.environ.get(b"LISTEN_FDS", b"0"))))
    except ValueError:
        return 0


def kept_fds(listen: int, preserve: int) -> range:
    """The fds from 3 the process keeps: ``listen`` socket-activation fds, then ``preserve`` more
    (--preserve-fds), each of which must be open, as runc checks. Call it before this process
    opens any fd of its own."""
    for i in range(preserve):
        fd = 3 + listen + i
        try:
            posix.fstat(fd)
        except OSError as e:
            raise LadingError(f"unable to stat preserved-fd {i} (of {preserve}): fd {fd}: {e.strerror}") from None
    return range(3, 3 + listen + preserve)


def parse_env(process: Process) -> dict[str, str]:
    """process.env as a mapping (entries without "=" are dropped, a later one wins)."""
    env: dict[str, str] = {}
    for entry in process.env or []:
        key, sep, value = entry.partition("=")
        if sep:
            env[key] = value
    return env


def environment(process: Process) -> dict[str, str]:
    """The user program's environment: process.env, and HOME from the container's /etc/passwd."""
    env = parse_env(process)
    if "HOME" not in env:
        env["HOME"] = home_of(process.user.uid if process.user else 0)
    return env


def home_of(uid: int) -> str:
    """The home directory of uid in the container's /etc/passwd, or / (as runc does)."""
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def find_executable(name: str, env: dict[str, str]) -> str:
    """Resolve args[0] against the container's PATH; a clear error if it is not there."""
    if "/" in name:
        if not exists(name):
            raise LadingError(f'exec: "{name}": stat {name}: no such file or directory')
        if isdir(name) or not posix.access(name, posix.X_OK):
            raise LadingError(f'exec: "{name}": permission denied')
        return name
    for d in env.get("PATH", "").split(":"):
        candidate = join(d or ".", name)
        if isfile(candidate) and posix.access(candidate, posix.X_OK):
            return candidate
    raise LadingError(f'exec: "{name}": executable file not found in $PATH')


def switch_user(process: Process, allow_setgroups: bool) -> None:
    """setgroups, setresgid, setresuid: exactly the identity the config gives, nothing kept."""
    user = process.user
    uid, gid = (user.uid, user.gid) if user else (0, 0)
    if allow_setgroups:
        posix.setgroups(list(user.additional_gids or []) if user else [])
    posix.setresgid(gid, gid, gid)
    posix.setresuid(uid, uid, uid)
    if user and user.umask is not None:
        posix.umask(user.umask)


def own_stdio(uid: int) -> None:
    """Give stdin, stdout and stderr to the process's user, as runc does: a terminal made in the
    container (or any stdio) is otherwise root's, and a non-root program could not use it. Only
    the owner changes; the group stays the one the file has (devpts gives its tty group). A
    /dev/null is left alone, and so is a file whose ids are not mapped here (EINVAL, EPERM)."""
    null = posix.stat("/dev/null").st_rdev
    for fd in (0, 1, 2):
        try:
            st = posix.fstat(fd)
        except OSError:
            continue  # closed
        if st.st_uid == uid or (st.st_rdev == null and stat.S_ISCHR(st.st_mode)):
            continue
        try:
            posix.fchown(fd, uid, st.st_gid)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                raise


def ready_to_exec(keep_fds: range, error_fd: int, still_caught: tuple[int, ...] = ()) -> None:
    """Reset signal handling, mark every fd from 3 close-on-exec but those passed on and the
    trampoline's error fd: done before the seccomp filter, which may forbid any of it.
    ``still_caught``: signals whose handlers stay until the execve, which resets a caught signal
    to its default itself."""
    reset_signals(still_caught)
    syscall(SYS_CLOSE_RANGE, 3, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC, what="close_range")
    for fd in keep_fds:
        try:
            posix.set_inheritable(fd, True)
        except OSError:
            pass
    posix.set_inheritable(error_fd, True)  # the trampoline marks it close-on-exec itself
