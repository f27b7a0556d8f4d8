"""seccomp filters: built with libseccomp, loaded with the seccomp(2) system call.

libseccomp (``libseccomp.so.2``, Debian's libseccomp2) resolves syscall and architecture names
and compiles rules into a BPF program; :meth:`Builder.export_bpf` hands that program back as
bytes. Loading is done here with seccomp(2) itself rather than seccomp_load(): the program can
then be built in one process and installed in another (after fork or exec), the installing
process makes exactly one system call, and every filter flag the kernel knows can be passed,
whatever the libseccomp version (2.5 has no attribute for WAIT_KILLABLE_RECV, for example).

Numbers follow <seccomp.h> (libseccomp) and <linux/seccomp.h>; nothing here knows about OCI.
"""

from __future__ import annotations

import errno
import posix  # not os: runtime/store.py says why
import struct

from lading.linux import cdata
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

# Filter return actions (<linux/seccomp.h> SECCOMP_RET_*, as libseccomp spells them).
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_NOTIFY = 0x7FC00000
ACT_ALLOW = 0x7FFF0000


def act_errno(err: int) -> int:
    """Fail the system call with this errno."""
    return ACT_ERRNO | (err & 0xFFFF)


def act_trace(msg: int) -> int:
    """Notify a ptrace tracer, passing ``msg`` (PTRACE_EVENT_SECCOMP)."""
    return ACT_TRACE | (msg & 0xFFFF)


# Argument comparisons (enum scmp_compare).
CMP_NE = 1
CMP_LT = 2
CMP_LE = 3
CMP_EQ = 4
CMP_GE = 5
CMP_GT = 6
CMP_MASKED_EQ = 7

# seccomp(2) SECCOMP_SET_MODE_FILTER flags.
FILTER_FLAG_TSYNC = 1 << 0
FILTER_FLAG_LOG = 1 << 1
FILTER_FLAG_SPEC_ALLOW = 1 << 2
FILTER_FLAG_NEW_LISTENER = 1 << 3
FILTER_FLAG_TSYNC_ESRCH = 1 << 4
FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5

_SECCOMP_SET_MODE_FILTER = 1

# classic BPF, as seccomp runs it on struct seccomp_data {int nr; u32 arch; ...}
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGT_K = 0x25
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_BPF_JA = 0x05
_OFFSET_NR = 0
_OFFSET_ARCH = 4
AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_SECCOMP_GET_ACTION_AVAIL = 2
_NR_SCMP_ERROR = -1


class ArgCmp(Record):
    """One condition on a system call argument (struct scmp_arg_cmp)."""

    arg: int
    op: int
    value: int
    value_two: int = 0


class _ScmpArgCmp(cdata.Structure):
    _fields_ = (
        ("arg", cdata.c_uint),
        ("op", cdata.c_int),
        ("datum_a", cdata.c_uint64),
        ("datum_b", cdata.c_uint64),
    )


class _ScmpVersion(cdata.Structure):
    _fields_ = (("major", cdata.c_uint), ("minor", cdata.c_uint), ("micro", cdata.c_uint))


class _SockFprog(cdata.Structure):
    _fields_ = (("len", cdata.c_ushort), ("filter", cdata.c_void_p))


_loaded: dict[str, Any] = {}  # libseccomp and the seccomp(2) caller, once each (not functools: start-up cost)


def _lib() -> cdata.CDLL:
    if "lib" in _loaded:
        lib: cdata.CDLL = _loaded["lib"]
        return lib
    try:
        lib = cdata.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as e:
        raise OSError(errno.ENOENT, f"libseccomp.so.2 is not installed (Debian: libseccomp2): {e}") from e
    ctx = cdata.c_void_p
    sigs: dict[str, tuple[object, tuple[object, ...]]] = {
        "seccomp_version": (cdata.POINTER(_ScmpVersion), ()),
        "seccomp_api_get": (cdata.c_uint, ()),
        "seccomp_init": (ctx, (cdata.c_uint32,)),
        "seccomp_release": (None, (ctx,)),
        "seccomp_arch_add": (cdata.c_int, (ctx, cdata.c_uint32)),
        "seccomp_arch_resolve_name": (cdata.c_uint32, (cdata.c_char_p,)),
        "seccomp_syscall_resolve_name": (cdata.c_int, (cdata.c_char_p,)),
        "seccomp_syscall_resolve_name_arch": (cdata.c_int, (cdata.c_uint32, cdata.c_char_p)),
        "seccomp_arch_native": (cdata.c_uint32, ()),
        "seccomp_rule_add_array": (
            cdata.c_int,
            (ctx, cdata.c_uint32, cdata.c_int, cdata.c_uint, cdata.POINTER(_ScmpArgCmp)),
        ),
        "seccomp_export_bpf": (cdata.c_int, (ctx, cdata.c_int)),
    }
    for fname, (restype, argtypes) in sigs.items():
        fn = getattr(lib, fname)
        fn.restype = restype
        fn.argtypes = argtypes
    _loaded["lib"] = lib
    return lib


def _check(rc: int, what: str) -> int:
    """libseccomp returns -errno on failure."""
    if rc < 0:
        raise OSError(-rc, f"{what}: {posix.strerror(-rc)}")
    return rc


def version() -> tuple[int, int, int]:
    v = _lib().seccomp_version().contents
    return (v.major, v.minor, v.micro)


def library_file() -> str:
    """The path libseccomp was loaded from (this process's maps), or "" if it cannot be told."""
    _lib()
    with open("/proc/self/maps", "rb") as f:
        for line in f:
            if b"/libseccomp.so" in line:
                return line[line.index(b"/") :].rstrip(b"\n").decode()
    return ""


def resolve_syscall(name: str) -> int | None:
    """The native number of a system call, a negative pseudo-number for one that exists only on
    other architectures (libseccomp maps it per architecture), or None if no architecture has it."""
    nr = int(_lib().seccomp_syscall_resolve_name(name.encode()))
    return None if nr == _NR_SCMP_ERROR else nr


def resolve_syscall_on(arch: int, name: str) -> int | None:
    """The number of a system call on one architecture (an AUDIT_ARCH_* token), or None if that
    architecture has no such call."""
    nr = int(_lib().seccomp_syscall_resolve_name_arch(arch, name.encode()))
    return None if nr < 0 else nr


def native_arch() -> int:
    """The AUDIT_ARCH_* token of the architecture this process runs as."""
    return int(_lib().seccomp_arch_native())


def resolve_arch(name: str) -> int | None:
    """The AUDIT_ARCH_* token of an architecture name libseccomp knows ("x86_64", "aarch64")."""
    token = int(_lib().seccomp_arch_resolve_name(name.encode()))
    return token or None


class Builder:
    """A libseccomp filter context: add architectures and rules, then export the BPF program."""

    def __init__(self, default_action: int) -> None:
        self._ctx: int | None = _lib().seccomp_init(default_action)
        if not self._ctx:
            raise OSError(errno.EINVAL, f"seccomp_init: invalid default action {default_action:#x}")

    def _context(self) -> int:
        if self._ctx is None:
            raise ValueError("seccomp filter builder used after close()")
        return self._ctx

    def add_arch(self, token: int) -> None:
        """Also match system calls made through this architecture's ABI (the native one is in)."""
        rc = _lib().seccomp_arch_add(self._context(), token)
        if rc != -errno.EEXIST:
            _check(rc, "seccomp_arch_add")

    def add_rule(self, action: int, syscall: int, args: Sequence[ArgCmp] = ()) -> None:
        """Take ``action`` when ``syscall`` is made and every condition in ``args`` holds."""
        arr = (_ScmpArgCmp * len(args))(*(_ScmpArgCmp(a.arg, a.op, a.value, a.value_two) for a in args))
        _check(
            _lib().seccomp_rule_add_array(self._context(), action, syscall, len(args), arr),
            "seccomp_rule_add",
        )

    def export_bpf(self) -> bytes:
        """The compiled program: an array of struct sock_filter, ready for :func:`load`."""
        fd = posix.memfd_create("seccomp-bpf", posix.MFD_CLOEXEC)
        try:
            _check(_lib().seccomp_export_bpf(self._context(), fd), "seccomp_export_bpf")
            posix.lseek(fd, 0, 0)  # SEEK_SET
            chunks = []
            while chunk := posix.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            posix.close(fd)

    def close(self) -> None:
        if self._ctx is not None:
            _lib().seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self) -> Builder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _syscall() -> tuple[Callable[..., int], int]:
    if "syscall" in _loaded:
        found: tuple[Callable[..., int], int] = _loaded["syscall"]
        return found
    libc = cdata.CDLL(None, use_errno=True)
    fn = libc.syscall
    fn.restype = cdata.c_long
    fn.argtypes = (cdata.c_long, cdata.c_ulong, cdata.c_ulong, cdata.c_void_p)
    nr = resolve_syscall("seccomp")
    if nr is None or nr < 0:
        raise OSError(errno.ENOSYS, "seccomp(2) is not available on this architecture")
    _loaded["syscall"] = fn, nr
    return fn, nr


def _seccomp(op: int, flags: int, arg: int | None) -> int:
    fn, nr = _syscall()
    rc = int(fn(nr, op, flags, arg))
    if rc < 0:
        err = cdata.get_errno()
        raise OSError(err, f"seccomp: {posix.strerror(err)}")
    return rc


def load(program: bytes, flags: int = 0) -> int:
    """Install a BPF program on the calling thread (all threads with FILTER_FLAG_TSYNC).

    Needs no_new_privs or CAP_SYS_ADMIN. Returns the notification fd when ``flags`` has
    FILTER_FLAG_NEW_LISTENER, else 0.
    """
    if not program or len(program) % 8:
        raise ValueError("a BPF program is a non-empty array of 8-byte instructions")
    buf = cdata.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, cdata.addressof(buf))
    return _seccomp(_SECCOMP_SET_MODE_FILTER, flags, cdata.addressof(prog))


def flag_supported(flag: int) -> bool:
    """Whether the kernel accepts this filter flag (probed without installing anything)."""
    if flag & FILTER_FLAG_WAIT_KILLABLE_RECV:
        flag |= FILTER_FLAG_NEW_LISTENER  # only valid together
    try:
        _seccomp(_SECCOMP_SET_MODE_FILTER, flag, None)
    except OSError as e:
        return e.errno == errno.EFAULT
    raise AssertionError("seccomp(2) accepted a NULL filter")


def action_available(action: int) -> bool:
    """Whether the kernel implements a filter return action (SECCOMP_GET_ACTION_AVAIL)."""
    value = cdata.c_uint32(action & 0xFFFF0000)
    try:
        _seccomp(_SECCOMP_GET_ACTION_AVAIL, 0, cdata.addressof(value))
    except OSError:
        return False
    return True


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def enosys_stub(last: dict[int, int], program: bytes) -> bytes:
    """``program`` behind a prologue that answers ENOSYS to any system call numbered above
    ``last[arch]`` on that architecture: calls newer than a profile knows then fail the way an
    older kernel would, and libc falls back (clone3 to clone, for instance) instead of giving up
    on the profile's default errno. Calls the profile names are at or below ``last`` and go to
    the profile's own rules; on x86_64, x32 calls are left to them too.

    Layout: per architecture ``jeq arch; ld nr; [jge x32]; jgt last``, then ``ja program``,
    ``ret ENOSYS``, then the program. Jumps count the instructions they skip."""
    tests: list[tuple[int, int]] = list(last.items())
    sizes = [3 + (arch == AUDIT_ARCH_X86_64) for arch, _ in tests]
    total = sum(sizes)  # instructions before the `ja`
    out: list[bytes] = [_insn(_BPF_LD_W_ABS, _OFFSET_ARCH)]
    pos = 0
    for (arch, nr), size in zip(tests, sizes, strict=True):
        out.append(_insn(_BPF_JEQ_K, arch, 0, size - 1))  # another arch: on to the next test
        out.append(_insn(_BPF_LD_W_ABS, _OFFSET_NR))
        pos += 2
        if arch == AUDIT_ARCH_X86_64:
            out.append(_insn(_BPF_JGE_K, _X32_SYSCALL_BIT, total - pos + 1, 0))  # to the program
            pos += 1
        to_enosys = total - pos  # past the rest of the tests and the `ja`
        out.append(_insn(_BPF_JGT_K, nr, to_enosys, to_enosys + 1))
        pos += 1
    out.append(_insn(_BPF_JA, 1))
    out.append(_insn(_BPF_RET_K, ACT_ERRNO | errno.ENOSYS))
    return b"".join(out) + program
