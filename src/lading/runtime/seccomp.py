"""The container's seccomp filter: config.json ``linux.seccomp`` -> a BPF program -> the kernel.

Two steps, so that a bad profile fails ``create`` before anything is set up and the filter is
the last thing installed before execve:

* :func:`prepare` (in the runtime, before forking) validates the profile, resolves names with
  libseccomp and compiles it. Every problem is one :class:`LadingError` naming the JSON path,
  e.g. ``config.json: $.linux.seccomp.syscalls[3].action: unknown seccomp action "SCMP_ACT_FOO"``.
* :func:`load` (in the container init) installs the compiled program with one seccomp(2) call
  and returns the notification fd when the profile uses SCMP_ACT_NOTIFY. The init then hands
  that fd to the seccomp agent with :func:`send_notify_fd` before execve, through the socket fd
  the runtime opened with :func:`open_listener` before fork.

Where in the process pipeline (runtime/launch.py), as runc: with ``process.noNewPrivileges``
after the capabilities, user switch and LSM labels, right before the startContainer hooks (which
run under it) and the execve; without it, loading needs CAP_SYS_ADMIN, so before the
capabilities are dropped. Everything else the runtime needs on its way out (signal dispositions,
close-on-exec marks, the trampoline) is done before the filter, so no profile can break it.

Semantics follow runc: syscall names no architecture knows are skipped with a debug message;
rules whose action equals the default action are dropped (libseccomp refuses them); a rule whose
``args`` compare one argument more than once becomes one rule per condition (so they OR rather
than AND, which Docker-style profiles rely on); SCMP_ACT_ERRNO and SCMP_ACT_TRACE default to
EPERM; SCMP_ACT_KILL means kill the thread; unless the default action allows, a system call
numbered above every one the profile names gets ENOSYS (a stub in front of the program), so
that libc falls back from a call newer than the profile (clone3) as on an older kernel, while
the profile's own rules still decide every call it names. Unlike runc, long profiles are not compiled as a
binary tree (SCMP_FLTATR_CTL_OPTIMIZE): that triples libseccomp's compile time for a
Docker-size profile, while the kernel (5.11+) already skips the filter for syscalls it always
allows, whatever its layout.
"""

from __future__ import annotations

import _socket
import errno
import posix  # not os: runtime/store.py says why
import struct

from lading import OCI_VERSION, jsonlite, log
from lading.errors import LadingError
from lading.linux import seccomp as sc
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lading.spec.runtime_config import LinuxSeccomp, LinuxSyscall

_EPERM = 1
_MAX_ARGS = 6
_WHERE = "config.json: $.linux.seccomp"

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": sc.ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": sc.ACT_KILL_PROCESS,
    "SCMP_ACT_KILL_THREAD": sc.ACT_KILL_THREAD,
    "SCMP_ACT_TRAP": sc.ACT_TRAP,
    "SCMP_ACT_ERRNO": sc.ACT_ERRNO,
    "SCMP_ACT_TRACE": sc.ACT_TRACE,
    "SCMP_ACT_ALLOW": sc.ACT_ALLOW,
    "SCMP_ACT_LOG": sc.ACT_LOG,
    "SCMP_ACT_NOTIFY": sc.ACT_NOTIFY,
}
_TAKES_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")

OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": sc.CMP_NE,
    "SCMP_CMP_LT": sc.CMP_LT,
    "SCMP_CMP_LE": sc.CMP_LE,
    "SCMP_CMP_EQ": sc.CMP_EQ,
    "SCMP_CMP_GE": sc.CMP_GE,
    "SCMP_CMP_GT": sc.CMP_GT,
    "SCMP_CMP_MASKED_EQ": sc.CMP_MASKED_EQ,
}

# The architecture names of the runtime spec; libseccomp's name is the lower-case suffix.
ARCHES: tuple[str, ...] = tuple(
    "SCMP_ARCH_" + a
    for a in (
        *("X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32", "MIPSEL"),
        *("MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X", "PARISC"),
        *("PARISC64", "RISCV64", "LOONGARCH64", "M68K", "SH", "SHEB"),
    )
)

FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": sc.FILTER_FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": sc.FILTER_FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": sc.FILTER_FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": sc.FILTER_FLAG_WAIT_KILLABLE_RECV,
}

# What the runtime does between loading the filter and the moment an agent has the notify fd
# (:func:`send_notify_fd`), or to report a failure after it: nobody could answer these.
_RUNTIME_SYSCALLS = ("write", "socket", "connect", "sendmsg", "sendto")


class Filter(Record):
    """A compiled filter, ready for :func:`load` (plain data: survives fork, pickling, exec)."""

    program: bytes
    flags: int
    listener_path: str
    listener_metadata: str

    @property
    def notifies(self) -> bool:
        return bool(self.flags & sc.FILTER_FLAG_NEW_LISTENER)


def _why(e: OSError) -> str:
    """The bare errno text (the linux layer puts the call's name in front of it)."""
    return posix.strerror(e.errno) if e.errno else str(e)


def _action(name: str, errno_ret: int | None, errno_where: str) -> int:
    if errno_ret is not None and name not in _TAKES_ERRNO:
        only = " and ".join(_TAKES_ERRNO)
        raise LadingError(f"{errno_where}: {name} does not take an errno (only {only} do)")
    if errno_ret is not None and not 0 <= errno_ret <= 0xFFFF:
        raise LadingError(f"{errno_where}: {errno_ret} is not an errno (0-65535)")
    if name == "SCMP_ACT_ERRNO":
        return sc.act_errno(_EPERM if errno_ret is None else errno_ret)
    if name == "SCMP_ACT_TRACE":
        return sc.act_trace(_EPERM if errno_ret is None else errno_ret)
    return ACTIONS[name]


def _conditions(call: LinuxSyscall, where: str) -> list[list[sc.ArgCmp]]:
    """The condition lists of the rules one syscalls[] entry makes (one rule per list)."""
    conds: list[sc.ArgCmp] = []
    for j, arg in enumerate(call.args or ()):
        at = f"{where}.args[{j}]"
        if not 0 <= arg.index < _MAX_ARGS:
            raise LadingError(f"{at}.index: {arg.index} is not a syscall argument index (0-5)")
        conds.append(sc.ArgCmp(arg.index, OPERATORS[arg.op], arg.value, arg.value_two))
    if len({c.arg for c in conds}) < len(conds):
        return [[c] for c in conds]
    return [conds]


def _flags(seccomp: LinuxSeccomp) -> int:
    flags = 0
    for i, name in enumerate(seccomp.flags or ()):
        if not sc.flag_supported(FLAGS[name]):
            raise LadingError(f"{_WHERE}.flags[{i}]: {name} is not supported by this kernel")
        flags |= FLAGS[name]
    return flags


def _add_arches(builder: sc.Builder, seccomp: LinuxSeccomp) -> list[int]:
    """Add the listed architectures; every architecture the filter covers (the native one first)."""
    tokens = [sc.native_arch()]
    for i, name in enumerate(seccomp.architectures or ()):
        token = sc.resolve_arch(name.removeprefix("SCMP_ARCH_").lower())
        if token is None:
            version = ".".join(map(str, sc.version()))
            raise LadingError(
                f"{_WHERE}.architectures[{i}]: {name} is not supported by the installed libseccomp {version}"
            )
        builder.add_arch(token)
        if token not in tokens:
            tokens.append(token)
    return tokens


def _last_known(seccomp: LinuxSeccomp, arches: list[int]) -> dict[int, int]:
    """Per architecture, the highest system call number the profile names (runc's stub too
    counts every name, whatever its rule's action)."""
    names = {name for call in seccomp.syscalls or () for name in call.names}
    last: dict[int, int] = {}
    for arch in arches:
        numbers = [nr for name in names if (nr := sc.resolve_syscall_on(arch, name)) is not None]
        if numbers:
            last[arch] = max(numbers)
    return last


def _check_available(action: int, name: str, where: str) -> None:
    if not sc.action_available(action):
        raise LadingError(f"{where}: {name} is not supported by this kernel")


def prepare(seccomp: LinuxSeccomp, cache: str | None = None) -> Filter:
    """Validate and compile ``linux.seccomp``; raises LadingError naming the JSON path. With a
    cache directory, a filter compiled there before from the same input is taken instead
    (runtime/seccomp_cache.py): the same program, without the compile."""
    try:
        sc.version()
    except OSError as e:  # libseccomp is not installed
        raise LadingError(f"{_WHERE}: {e.strerror}") from e
    digest = None
    found = None
    if cache is not None:
        from lading.runtime import seccomp_cache

        digest = seccomp_cache.key(seccomp)
        found = seccomp_cache.load(cache, digest)
    if found is not None:
        flags, program = found
        log.debug("seccomp: the filter compiled before, from %s/%s", cache, digest)
    else:
        flags, program = _compile(seccomp)
        if cache is not None and digest is not None:
            seccomp_cache.store(cache, digest, flags, program)
    listener = (seccomp.listener_path or "") if flags & sc.FILTER_FLAG_NEW_LISTENER else ""
    return Filter(program, flags, listener, seccomp.listener_metadata or "")


def _compile(seccomp: LinuxSeccomp) -> tuple[int, bytes]:
    """The filter flags and the BPF program of a profile, checked against libseccomp and the kernel."""
    where = f"{_WHERE}.defaultAction"
    default = _action(seccomp.default_action, seccomp.default_errno_ret, f"{_WHERE}.defaultErrnoRet")
    if seccomp.default_action == "SCMP_ACT_NOTIFY":
        raise LadingError(f"{where}: SCMP_ACT_NOTIFY cannot be the default action")
    _check_available(default, seccomp.default_action, where)
    flags = _flags(seccomp)
    notifies = False
    with sc.Builder(default) as builder:
        arches = _add_arches(builder, seccomp)
        available = {default}
        for i, call in enumerate(seccomp.syscalls or ()):
            where = f"{_WHERE}.syscalls[{i}]"
            action = _action(call.action, call.errno_ret, f"{where}.errnoRet")
            if action not in available:
                _check_available(action, call.action, f"{where}.action")
                available.add(action)
            conditions = _conditions(call, where)
            if call.action == "SCMP_ACT_NOTIFY":
                if not seccomp.listener_path:
                    raise LadingError(f"{where}.action: SCMP_ACT_NOTIFY needs $.linux.seccomp.listenerPath")
                for name in _RUNTIME_SYSCALLS:
                    if name in call.names:  # runc's words for write
                        raise LadingError(
                            f"{where}.action: SCMP_ACT_NOTIFY cannot be used for the {name} syscall: "
                            "the runtime makes it after loading the filter, before any agent can answer"
                        )
            if action == default:
                continue
            for name in call.names:
                nr = sc.resolve_syscall(name)
                if nr is None:
                    log.debug("seccomp: ignoring unknown syscall %s (%s.names)", jsonlite.dumps(name), where)
                    continue
                for conds in conditions:
                    try:
                        builder.add_rule(action, nr, conds)
                    except OSError as e:
                        why = _why(e)
                        raise LadingError(
                            f"{where}: libseccomp rejected the rule for {jsonlite.dumps(name)}: {why}"
                        ) from e
                notifies = notifies or call.action == "SCMP_ACT_NOTIFY"
        try:
            program = builder.export_bpf()
        except OSError as e:
            raise LadingError(f"{_WHERE}: libseccomp could not compile the filter: {_why(e)}") from e
    if seccomp.default_action not in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"):
        program = sc.enosys_stub(_last_known(seccomp, arches), program)
    if notifies:
        flags |= sc.FILTER_FLAG_NEW_LISTENER
        if flags & sc.FILTER_FLAG_TSYNC:
            flags |= sc.FILTER_FLAG_TSYNC_ESRCH  # the kernel refuses TSYNC + listener without it
    elif flags & sc.FILTER_FLAG_WAIT_KILLABLE_RECV:
        log.debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ignored: no rule uses SCMP_ACT_NOTIFY")
        flags &= ~sc.FILTER_FLAG_WAIT_KILLABLE_RECV
    return flags, program


def load(f: Filter) -> int | None:
    """Install the filter on the calling process; the notify fd if it has SCMP_ACT_NOTIFY rules.

    Needs no_new_privs set or CAP_SYS_ADMIN. After this, only execve (and, with a notify fd,
    :func:`send_notify_fd`) should follow.
    """
    try:
        fd = sc.load(f.program, f.flags)
    except OSError as e:
        hint = " (without noNewPrivileges it needs CAP_SYS_ADMIN)" if e.errno == errno.EACCES else ""
        raise LadingError(f"cannot load the seccomp filter: {_why(e)}{hint}") from e
    return fd if f.notifies else None


def container_process_state(state_json: bytes, pid: int, metadata: str = "") -> bytes:
    """The "container process state" the seccomp agent receives (config-linux.md): the runtime's
    ``state`` JSON (as ``lading state`` prints it) wrapped with the fd names, pid and metadata."""
    head: dict[str, Any] = {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": pid}
    if metadata:
        head["metadata"] = metadata
    return jsonlite.dumps(head)[:-1].encode() + b',"state":' + state_json + b"}"


def open_listener(f: Filter) -> int | None:
    """An O_PATH fd on the agent's socket, opened in the runtime before fork (None if the filter
    does not notify). The socket lives on the host: once the init has pivoted into the rootfs the
    path no longer resolves, but the fd, inherited across fork, still does (through
    /proc/self/fd). It is close-on-exec, so the container process never sees it."""
    if not f.notifies:
        return None
    try:
        return posix.open(f.listener_path, posix.O_PATH | posix.O_CLOEXEC)
    except OSError as e:  # runc's words
        raise LadingError(
            f"{_WHERE}.listenerPath: failed to connect with seccomp agent at {f.listener_path}: {_why(e)}"
        ) from e


def send_notify_fd(listener_path: str, fd: int, state_json: bytes, listener_fd: int | None = None) -> None:
    """Send the notify fd (SCM_RIGHTS) and the container process state to the agent's socket:
    one connection, fds with the first sendmsg only, then close, as config-linux.md requires.
    With ``listener_fd`` (from :func:`open_listener`) the socket is reached through it."""
    target = listener_path if listener_fd is None else f"/proc/self/fd/{listener_fd}"
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(target)
        except OSError as e:  # runc's words
            raise LadingError(
                f"{_WHERE}.listenerPath: failed to connect with seccomp agent at {listener_path}: {e.strerror or e}"
            ) from e
        try:
            fds = struct.pack("i", fd)
            sent = sock.sendmsg([state_json], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
            if sent < len(state_json):
                sock.sendall(state_json[sent:])
        except OSError as e:
            raise LadingError(
                f"seccomp: cannot send the notify fd to listenerPath {listener_path}: {e.strerror or e}"
            ) from e
    finally:
        sock.close()


def features() -> dict[str, Any]:
    """The ``linux.seccomp`` object of ``lading features`` (features-linux.md)."""
    try:
        archs = [a for a in ARCHES if sc.resolve_arch(a.removeprefix("SCMP_ARCH_").lower()) is not None]
    except OSError:
        return {"enabled": False}
    supported = [name for name, flag in FLAGS.items() if sc.flag_supported(flag)]
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": sorted(archs),
        "knownFlags": sorted(FLAGS),
        "supportedFlags": sorted(supported),
    }
