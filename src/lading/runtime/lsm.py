"""AppArmor and SELinux labels: ``process.apparmorProfile``, ``process.selinuxLabel``,
``linux.mountLabel``.

Both process labels are "on exec" labels: the init writes them to /proc/thread-self/attr
(``exec <profile>`` to ``attr/apparmor/exec``, or ``attr/exec`` on kernels without the
per-LSM directory; the SELinux context to ``attr/exec``) and the kernel switches when the
container process is exec'd. The init calls :func:`apply` before it switches user (runc does the
same), since the attr files belong to the task's original credentials.

On a host without AppArmor or SELinux a config that asks for them fails at create, as it does
with runc (which fails with "selinux label is specified in config, but selinux is disabled",
with a write error from /proc/self/attr/exec for AppArmor, and with EINVAL from mount for
``context=``); here :func:`prepare` says which field cannot be honoured and why, before any
setup has been done.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.errors import LadingError
from lading.linux.files import exists
from lading.linux.paths import isdir, join
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.spec.runtime_config import Linux, Process

ATTR_DIR = "/proc/thread-self/attr"


def apparmor_enabled() -> bool:
    """AppArmor is active: securityfs shows it and the module says it is enabled."""
    if not isdir("/sys/kernel/security/apparmor"):
        return False
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read(1) == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    """SELinux is active: selinuxfs is mounted and processes have a real context."""
    if not exists("/sys/fs/selinux/enforce"):
        return False
    try:
        with open("/proc/self/attr/current") as f:
            return f.read().strip("\0\n") not in ("", "kernel")
    except OSError:
        return False


class LsmPlan(Record):
    apparmor_profile: str = ""
    selinux_label: str = ""


def prepare(process: Process, linux: Linux | None) -> LsmPlan:
    """Check that the host can honour the configured labels; raises LadingError if not."""
    if process.apparmor_profile and not apparmor_enabled():
        raise LadingError(
            f'config.json: $.process.apparmorProfile: "{process.apparmor_profile}" cannot be applied: '
            "AppArmor is not enabled on this host"
        )
    if process.selinux_label and not selinux_enabled():
        raise LadingError(
            f'config.json: $.process.selinuxLabel: "{process.selinux_label}" cannot be applied: '
            "SELinux is not enabled on this host"
        )
    if linux is not None and linux.mount_label and not selinux_enabled():
        raise LadingError(
            f'config.json: $.linux.mountLabel: "{linux.mount_label}" cannot be applied: '
            "SELinux is not enabled on this host"
        )
    return LsmPlan(process.apparmor_profile or "", process.selinux_label or "")


def _write_attr(path: str, value: str, what: str) -> None:
    try:
        fd = posix.open(path, posix.O_WRONLY | posix.O_CLOEXEC)
        try:
            posix.write(fd, value.encode())
        finally:
            posix.close(fd)
    except OSError as e:
        raise LadingError(f"cannot set the {what} for the container process: {path}: {e.strerror}") from e


def apply(plan: LsmPlan, attr_dir: str = ATTR_DIR) -> None:
    """Set the on-exec AppArmor profile and SELinux label of the calling thread."""
    if plan.apparmor_profile:
        path = join(attr_dir, "apparmor", "exec")
        if not exists(path):
            path = join(attr_dir, "exec")
        _write_attr(path, f"exec {plan.apparmor_profile}", f'AppArmor profile "{plan.apparmor_profile}"')
    if plan.selinux_label:
        label = plan.selinux_label
        _write_attr(join(attr_dir, "exec"), label, f'SELinux label "{label}"')


def mount_label_option(mount_label: str) -> str:
    """The mount(2) data option that labels a mount's files (empty if no label): SELinux
    contexts contain commas (``s0:c1,c2``), so the value is quoted."""
    return f'context="{mount_label}"' if mount_label else ""
