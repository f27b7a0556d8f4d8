"""Applying the process's security settings in the init, in the one order that works.

:func:`prepare` runs in the runtime before fork and validates everything (a bad capability is a
warning; a bad rlimit, seccomp profile or unavailable LSM label fails ``create`` cleanly).
:meth:`Security.apply` (steps 2-6, from uid 0 with the runtime's capabilities) and
:meth:`Security.finish` (step 7) run in the init in this order. A container's init runs
:meth:`Security.apply` before it reports ready and waits on exec.fifo, as runc does: a
capability, user or group that cannot be set, or a filter that cannot be loaded without
noNewPrivileges, fails ``create``, and ``start`` only releases a process that is the container's
user already. After the wait come only :meth:`Security.finish`, the startContainer hooks and the
execve. An exec'd process runs both right before its execve.

1. rlimits (:meth:`Security.set_rlimits`): raising a hard limit needs CAP_SYS_RESOURCE, so before
   anything is dropped. A container's init sets them before it reports ready, as runc does, so a
   limit that cannot be set fails ``create`` (whose error podman and containerd show the user)
   rather than ``start``; an exec'd process sets them here;
2. AppArmor profile and SELinux label for the exec (before the user switch: the attr files
   belong to the task's original credentials);
3. without noNewPrivileges: the seccomp filter (loading it then needs CAP_SYS_ADMIN), so the
   init's wait on exec.fifo and all that follows run under it, as with runc;
4. bounding set drop and PR_SET_KEEPCAPS (needs CAP_SETPCAP);
5. setgroups, setresgid, setresuid, umask;
6. effective/permitted/inheritable (capset), then ambient;
7. with noNewPrivileges: PR_SET_NO_NEW_PRIVS, then the seccomp filter, as late as possible
   (runc's order: the startContainer hooks and the execve of the program follow, under it);
8. with SCMP_ACT_NOTIFY rules: the notify fd and the container process state go to the
   agent at listenerPath (reached through an O_PATH fd opened by :func:`prepare`, since the
   host path is out of reach after pivot_root; the fd is close-on-exec).
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading import log
from lading.linux import capabilities as linux_caps
from lading.runtime import capabilities, process, rlimits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.runtime.lsm import LsmPlan
    from lading.runtime.seccomp import Filter
    from lading.spec.runtime_config import Linux, Process


class Security:
    """What was validated and prepared in the runtime before fork, applied in the init."""

    def __init__(self, proc: Process, linux: Linux | None, seccomp_cache: str | None = None) -> None:
        self.rlimits = rlimits.prepare(proc)
        self.caps = capabilities.prepare(proc)
        self.lsm: LsmPlan | None = None
        if proc.apparmor_profile or proc.selinux_label or (linux is not None and linux.mount_label):
            # only with a label; loaded here, before any fork, so that apply finds it after pivot_root
            from lading.runtime import lsm

            self.lsm = lsm.prepare(proc, linux)
        self.seccomp: Filter | None = None
        self.listener_fd: int | None = None
        if linux is not None and linux.seccomp:
            # only with a profile (libseccomp and its tables); loaded here, before any fork, so
            # that _load_seccomp finds it after pivot_root
            from lading.runtime import seccomp

            self.seccomp = seccomp.prepare(linux.seccomp, seccomp_cache)
            self.listener_fd = seccomp.open_listener(self.seccomp)
        self.no_new_privs = proc.no_new_privileges

    def set_rlimits(self) -> None:
        """Step 1 above."""
        rlimits.apply(self.rlimits)

    def apply(self, proc: Process, allow_setgroups: bool, state_json: str = "{}", pid: int = 0) -> None:
        """Steps 2-6 above. ``state_json`` and ``pid`` (the container state and the process's
        pid as the runtime sees it) only go to a seccomp agent."""
        if self.lsm is not None:
            from lading.runtime import lsm  # loaded by __init__, before the fork

            lsm.apply(self.lsm)
        if self.seccomp is not None and not self.no_new_privs:
            self._load_seccomp(state_json, pid)
        capabilities.before_user_switch(self.caps)
        process.switch_user(proc, allow_setgroups)
        capabilities.after_user_switch(self.caps)

    def finish(self, state_json: str = "{}", pid: int = 0) -> None:
        """Step 7 above, right before the execve; ``state_json`` and ``pid`` as for :meth:`apply`."""
        if self.no_new_privs:
            linux_caps.set_no_new_privs()
            if self.seccomp is not None:
                self._load_seccomp(state_json, pid)

    def _load_seccomp(self, state_json: str, pid: int) -> None:
        """Load the filter; step 8 at once, since a notifying filter blocks until an agent answers."""
        assert self.seccomp is not None
        from lading.runtime import seccomp  # loaded by __init__, in the runtime, before the fork

        # before the filter: a profile need not allow what writing a log line takes
        log.debug("loading the seccomp filter (%d BPF instructions)", len(self.seccomp.program) // 8)
        notify_fd = seccomp.load(self.seccomp)
        if notify_fd is not None:
            message = seccomp.container_process_state(state_json.encode(), pid, self.seccomp.listener_metadata or "")
            seccomp.send_notify_fd(self.seccomp.listener_path, notify_fd, message, self.listener_fd)
            posix.close(notify_fd)


def prepare(proc: Process, linux: Linux | None = None, seccomp_cache: str | None = None) -> Security:
    """``seccomp_cache``: the directory of compiled filters (Store.seccomp_cache), if any."""
    return Security(proc, linux, seccomp_cache)
