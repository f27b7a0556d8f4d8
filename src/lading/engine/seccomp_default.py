"""The engine's default seccomp profile: what a docker user expects from a container.

An allow list: a system call not named here fails with EPERM (docker's answer; podman's
default profile answers ENOSYS instead). The list is the one docker documents for its default
profile, written out as tables: what every program needs, what each capability unlocks (a
container given the capability may also make the calls it guards, checked against the
container's bounding set when the bundle is made), and what one architecture alone has.

The result is a profile in docker's JSON form (``archMap``, ``includes``/``excludes``), the
same form ``--security-opt seccomp=FILE`` takes, so both go through one conversion
(engine/seccomp.py) into the bundle's ``linux.seccomp``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# Always allowed, by what they are for. (32-bit and old spellings sit beside the 64-bit ones:
# the filter covers the 32-bit ABIs of the machine too.)
_ALWAYS = {
    "files": """
        access chdir chmod chown chown32 close close_range copy_file_range creat dup dup2 dup3
        faccessat faccessat2 fadvise64 fadvise64_64 fallocate fchdir fchmod fchmodat fchmodat2 fchown
        fchown32 fchownat fcntl fcntl64 fdatasync flock fstat fstat64 fstatat64 fstatfs fstatfs64
        fsync ftruncate ftruncate64 futimesat getcwd getdents getdents64 lchown lchown32 link linkat
        _llseek lseek lstat lstat64 mkdir mkdirat mknod mknodat name_to_handle_at newfstatat open
        openat openat2 pipe pipe2 pread64 preadv preadv2 pwrite64 pwritev pwritev2 read readahead readlink
        readlinkat readv rename renameat renameat2 rmdir sendfile sendfile64 splice stat stat64 statfs
        statfs64 statx symlink symlinkat sync sync_file_range syncfs tee truncate truncate64 umask
        unlink unlinkat utime utimensat utimensat_time64 utimes vmsplice write writev
    """,
    "extended attributes": """
        fgetxattr flistxattr fremovexattr fsetxattr getxattr lgetxattr listxattr llistxattr
        lremovexattr lsetxattr removexattr setxattr
    """,
    "waiting and events": """
        epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
        epoll_wait_old eventfd eventfd2 fanotify_mark inotify_add_watch inotify_init inotify_init1
        inotify_rm_watch _newselect pause poll ppoll ppoll_time64 pselect6 pselect6_time64 select
        io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit
    """,
    "memory": """
        brk cachestat madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mlock
        mlock2 mlockall mmap mmap2 mprotect mremap msync munlock munlockall munmap pkey_alloc
        pkey_free pkey_mprotect remap_file_pages
    """,
    "processes and threads": """
        capget capset execve execveat exit exit_group fork futex futex_requeue futex_time64
        futex_wait futex_waitv futex_wake get_robust_list get_thread_area getcpu getpgid getpgrp
        getpid getppid getpriority getrandom getrlimit getrusage getsid gettid ioprio_get ioprio_set
        landlock_add_rule landlock_create_ruleset landlock_restrict_self pidfd_open prctl prlimit64
        process_mrelease restart_syscall rseq sched_get_priority_max sched_get_priority_min
        sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
        sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
        sched_setscheduler sched_yield seccomp set_robust_list set_thread_area set_tid_address
        setpgid setpriority setrlimit setsid sysinfo ugetrlimit uname vfork wait4 waitid waitpid
    """,
    "user and group ids": """
        getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getresgid
        getresgid32 getresuid getresuid32 getuid getuid32 setfsgid setfsgid32 setfsuid setfsuid32
        setgid setgid32 setgroups setgroups32 setregid setregid32 setresgid setresgid32 setresuid
        setresuid32 setreuid setreuid32 setuid setuid32
    """,
    "signals": """
        kill pidfd_send_signal rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
        rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
        sigaltstack signalfd signalfd4 sigprocmask sigreturn tgkill tkill
    """,
    "time": """
        adjtimex alarm clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
        clock_gettime64 clock_nanosleep clock_nanosleep_time64 getitimer gettimeofday nanosleep
        setitimer time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
        timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
        timerfd_settime timerfd_settime64 times
    """,
    "sockets": """
        accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom
        recvmmsg recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown socket
        socketcall socketpair
    """,
    "System V and POSIX IPC": """
        ipc mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
        mq_timedsend_time64 mq_unlink msgctl msgget msgrcv msgsnd semctl semget semop semtimedop
        semtimedop_time64 shmat shmctl shmdt shmget
    """,
    "ioctl": "ioctl",
}

# What each capability unlocks, besides the kernel's own check.
_WITH_CAPABILITY = {
    "CAP_SYS_ADMIN": """
        bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
        mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname
        sethostname setns syslog umount umount2 unshare
    """,
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_MODULE": "delete_module init_module finit_module",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
}

# What one architecture alone has (architecture names as Go spells them, as docker's profile does).
_PER_ARCHITECTURE = (
    (("amd64", "x32"), "arch_prctl"),
    (("amd64", "x32", "x86"), "modify_ldt"),
    (("arm", "arm64"), "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls"),
    (("ppc64le",), "sync_file_range2 swapcontext"),
    (("s390", "s390x"), "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"),
    (("riscv64",), "riscv_flush_icache"),
)

# A machine's own architecture and the older ABIs its processes may also use.
_ARCHITECTURES = {
    "SCMP_ARCH_X86_64": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "SCMP_ARCH_AARCH64": ["SCMP_ARCH_ARM"],
    "SCMP_ARCH_MIPS64": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
    "SCMP_ARCH_MIPS64N32": ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
    "SCMP_ARCH_MIPSEL64": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
    "SCMP_ARCH_MIPSEL64N32": ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
    "SCMP_ARCH_S390X": ["SCMP_ARCH_S390"],
    "SCMP_ARCH_RISCV64": [],
}

# personality(2): Linux itself, the 32-bit Linux of `linux32`, UNAME26 with either, and the query.
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# clone(2) flags that make namespaces: refused without CAP_SYS_ADMIN.
_CLONE_NAMESPACES = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_ENOSYS = 38


def _allow(names: str, **extra: Any) -> dict[str, Any]:
    return {"names": names.split(), "action": "SCMP_ACT_ALLOW", **extra}


def _clone(index: int, **extra: Any) -> dict[str, Any]:
    """clone without namespace flags (they are argument ``index``: 1 on s390, 0 elsewhere)."""
    masked = {"index": index, "value": _CLONE_NAMESPACES, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
    return _allow("clone", args=[masked], **extra)


def profile() -> dict[str, Any]:
    """The default profile, in docker's JSON form."""
    without_admin = {"caps": ["CAP_SYS_ADMIN"]}
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,  # EPERM
        "archMap": [{"architecture": a, "subArchitectures": subs} for a, subs in _ARCHITECTURES.items()],
        "syscalls": [
            _allow(" ".join(_ALWAYS.values())),
            # tracing one's own children is safe since Linux 4.8 (seccomp is checked after ptrace)
            _allow("process_vm_readv process_vm_writev ptrace", includes={"minKernel": "4.8"}),
            *(_allow("personality", args=[{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]) for v in _PERSONALITIES),
            *(_allow(names, includes={"arches": list(arches)}) for arches, names in _PER_ARCHITECTURE),
            *(_allow(names, includes={"caps": [cap]}) for cap, names in _WITH_CAPABILITY.items()),
            _clone(0, excludes={**without_admin, "arches": ["s390", "s390x"]}),
            _clone(1, includes={"arches": ["s390", "s390x"]}, excludes=without_admin),
            # ENOSYS, not EPERM: glibc then falls back to clone, whose flags the filter can see
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": _ENOSYS, "excludes": without_admin},
        ],
    }
