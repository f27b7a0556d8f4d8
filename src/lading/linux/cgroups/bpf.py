"""The few bpf(2) commands a cgroup device filter needs: load, attach, query, detach.

Python has no bpf() wrapper, so the syscall is made through libc's syscall() with the union
bpf_attr laid out by hand (the fields below are the kernel's, in order; the rest stays zero).
"""

from __future__ import annotations

import posix  # not os (runtime/store.py says why), nor platform, which brings re

from lading.errors import LadingError
from lading.linux import cdata

_NR_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

_ATTR_SIZE = 144  # large enough for every command used here; the kernel zero-checks the tail


class _Load(cdata.Structure):
    _fields_ = (
        ("prog_type", cdata.c_uint32),
        ("insn_cnt", cdata.c_uint32),
        ("insns", cdata.c_uint64),
        ("license", cdata.c_uint64),
        ("log_level", cdata.c_uint32),
        ("log_size", cdata.c_uint32),
        ("log_buf", cdata.c_uint64),
        ("kern_version", cdata.c_uint32),
        ("prog_flags", cdata.c_uint32),
        ("prog_name", cdata.c_char * 16),
        ("prog_ifindex", cdata.c_uint32),
        ("expected_attach_type", cdata.c_uint32),
    )


class _Attach(cdata.Structure):
    _fields_ = (
        ("target_fd", cdata.c_uint32),
        ("attach_bpf_fd", cdata.c_uint32),
        ("attach_type", cdata.c_uint32),
        ("attach_flags", cdata.c_uint32),
        ("replace_bpf_fd", cdata.c_uint32),
    )


class _Query(cdata.Structure):
    _fields_ = (
        ("target_fd", cdata.c_uint32),
        ("attach_type", cdata.c_uint32),
        ("query_flags", cdata.c_uint32),
        ("attach_flags", cdata.c_uint32),
        ("prog_ids", cdata.c_uint64),
        ("prog_cnt", cdata.c_uint32),
    )


class _GetFd(cdata.Structure):
    _fields_ = (("prog_id", cdata.c_uint32), ("next_id", cdata.c_uint32), ("open_flags", cdata.c_uint32))


_libc = cdata.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: cdata.Structure, what: str) -> int:
    nr = _NR_BPF.get(posix.uname().machine)
    if nr is None:
        raise LadingError(f"bpf: unsupported architecture {posix.uname().machine}")
    buf = cdata.create_string_buffer(_ATTR_SIZE)
    cdata.memmove(buf, cdata.addressof(attr), cdata.sizeof(attr))
    ret = int(_libc.syscall(cdata.c_long(nr), cdata.c_int(cmd), buf, cdata.c_uint(_ATTR_SIZE)))
    if ret < 0:
        err = cdata.get_errno()
        raise OSError(err, f"{what}: {posix.strerror(err)}")
    cdata.memmove(cdata.addressof(attr), buf, cdata.sizeof(attr))
    return ret


def load_device_program(code: bytes, license: str = "Apache-2.0") -> int:
    """Load a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its fd. The verifier log goes in the error."""
    insns = cdata.create_string_buffer(code, len(code))
    lic = cdata.create_string_buffer(license.encode())
    log = cdata.create_string_buffer(65536)
    attr = _Load(
        prog_type=BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt=len(code) // 8,
        insns=cdata.addressof(insns),
        license=cdata.addressof(lic),
        log_level=1,
        log_size=len(log),
        log_buf=cdata.addressof(log),
        prog_name=b"lading_devices",
    )
    try:
        return _bpf(BPF_PROG_LOAD, attr, "BPF_PROG_LOAD")
    except OSError as e:
        verifier = log.value.decode(errors="replace").strip().replace("\n", "; ")
        raise LadingError(
            f"bpf: cannot load the device filter: {e.strerror}" + (f" ({verifier})" if verifier else "")
        ) from None


def attach(cgroup_fd: int, prog_fd: int, flags: int = BPF_F_ALLOW_MULTI) -> None:
    _bpf(BPF_PROG_ATTACH, _Attach(cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, flags, 0), "BPF_PROG_ATTACH")


def detach(cgroup_fd: int, prog_fd: int) -> None:
    _bpf(BPF_PROG_DETACH, _Attach(cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, 0, 0), "BPF_PROG_DETACH")


def attached_ids(cgroup_fd: int) -> list[int]:
    """Ids of the device programs attached directly to the cgroup."""
    ids = (cdata.c_uint32 * 64)()
    q = _Query(cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, cdata.addressof(ids), len(ids))
    _bpf(BPF_PROG_QUERY, q, "BPF_PROG_QUERY")
    return list(ids[: q.prog_cnt])


def program_fd(prog_id: int) -> int:
    return _bpf(BPF_PROG_GET_FD_BY_ID, _GetFd(prog_id, 0, 0), "BPF_PROG_GET_FD_BY_ID")
