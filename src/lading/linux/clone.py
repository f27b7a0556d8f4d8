"""fork() whose child is born in a cgroup2 directory (and, if asked, in new namespaces): clone3
with CLONE_INTO_CGROUP.

Why: moving a process into a cgroup by writing its pid to ``cgroup.procs`` makes the kernel take
its global cgroup_threadgroup_rwsem for writing, and taking it waits for an RCU grace period:
10-20 ms on a busy host, for every such write to cgroup2 and the first one to a v1 hierarchy. A
child cloned into the cgroup (Linux 5.7) never moves: the clone costs under a millisecond.

:func:`fork_into_cgroup` does what ``posix.fork()`` does around glibc's fork(), with clone3 in its
place: ``PyOS_BeforeFork`` (the interpreter's at-fork hooks, its import lock), the system call
with the GIL held, ``PyOS_AfterFork_Child`` or ``PyOS_AfterFork_Parent``. Where the kernel
refuses (no clone3 before Linux 5.3 or under a seccomp filter that answers ENOSYS, no
CLONE_INTO_CGROUP before 5.7, a directory that is not on cgroup2, a cgroup that may not take
processes, missing permission), it is ``posix.fork()``, and the caller moves the child. (A filter
that kills on clone3 instead would kill any thread creation too: glibc's pthread_create tries
clone3 first since 2.34, which is why container profiles answer it with ENOSYS.)

What glibc's fork() does besides the system call, and why it is not missed here:

- it takes and resets its internal locks (malloc's arenas, stdio's list, the loader's lock) so
  that no other thread holds one in the child: :func:`fork_into_cgroup` clones only a
  single-threaded process (it is ``posix.fork()`` otherwise), where no lock is held by anyone but
  the caller, which holds none during a system call;
- it runs the handlers registered with pthread_atfork: CPython's at-fork work is in the PyOS_*
  calls above, and none of the libraries lading loads (libpython, libffi, libseccomp, the C
  modules) registers one;
- it re-registers the robust-mutex list (the kernel drops it on clone), which only robust
  mutexes use, and nothing here does;
- it has the kernel store the child's thread id in glibc's ``struct pthread`` (CLONE_CHILD_SETTID
  at the address of a private field, which no interface exposes): here the child's copy keeps its
  parent's id. glibc reads it where a pthread call names a thread (pthread_kill of another thread,
  pthread_setaffinity_np, pthread_setschedparam, pthread_getattr_np) and as the owner of
  recursive, error-checking, robust and priority-inheritance mutexes; raise() and abort() ask the
  kernel (gettid), and a fork() in the child has the kernel store the grandchild's own id. So
  the child must do nothing of the first kind: lading's cloned children (a stage 1, or a
  container's init cloned straight into its namespaces by :func:`clone_into_cgroup`) have one
  thread and set their affinity, scheduling and credentials, join namespaces and cgroups through
  system calls on themselves (pid 0); what they fork (a stage 1's init, a hook), glibc forks,
  and it is whole again.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why
import struct

from lading.linux import cdata
from lading.linux.libc import SYS_CLONE3

CLONE_INTO_CGROUP = 0x200000000
_SIGCHLD = 17  # the child's exit signal, as fork() has it

# struct clone_args up to ``cgroup`` (CLONE_ARGS_SIZE_VER2): flags, pidfd, child_tid, parent_tid,
# exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup
_CLONE_ARGS = struct.Struct("=11Q")

# The process's own symbols (libc's syscall(), the interpreter's PyOS_* calls), called with the
# GIL held as posix.fork() holds it: no other Python thread can take it during the clone.
_self = cdata.PyDLL(None, use_errno=True)
_self.syscall.restype = cdata.c_long
for _name in ("PyOS_BeforeFork", "PyOS_AfterFork_Child", "PyOS_AfterFork_Parent"):
    getattr(_self, _name).restype = None


def fork_into_cgroup(cgroup_fd: int) -> tuple[int, bool]:
    """``posix.fork()``, with the child born in the cgroup2 directory open at ``cgroup_fd`` when
    the kernel allows it: (the pid as posix.fork returns it, whether the child was born there). When
    it was not, the child starts in this process's cgroups, as with posix.fork()."""
    pid = clone_into_cgroup(cgroup_fd)
    if pid is None:
        return posix.fork(), False
    return pid, True


def clone_into_cgroup(cgroup_fd: int, flags: int = 0) -> int | None:
    """The child born in the cgroup2 directory open at ``cgroup_fd``, and in new namespaces as
    ``flags`` (CLONE_NEW*) say: the pid as posix.fork returns it, or None where the kernel refused
    (see above; or any namespace it could not make) and no child was made."""
    if len(posix.listdir("/proc/self/task")) > 1:  # another thread may hold one of glibc's locks
        return None
    args = _CLONE_ARGS.pack(flags | CLONE_INTO_CGROUP, 0, 0, 0, _SIGCHLD, 0, 0, 0, 0, 0, cgroup_fd)
    buf = cdata.create_string_buffer(args, len(args))
    _self.PyOS_BeforeFork()
    pid = _self.syscall(cdata.c_long(SYS_CLONE3), buf, cdata.c_size_t(len(args)))
    if pid == 0:
        _self.PyOS_AfterFork_Child()
        return 0
    _self.PyOS_AfterFork_Parent()
    return pid if pid > 0 else None
