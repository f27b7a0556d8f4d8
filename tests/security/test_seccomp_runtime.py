"""What the runtime itself needs once a container's seccomp filter is in: as little as runc.

Each test runs once with lading and once with Debian's runc 1.1.5 (the ``runtime`` fixture), which
calibrates what it expects: a profile that refuses the syscalls a runtime might make on its own
way out (close_range, or everything unlisted with ENXIO) still starts the container; the
startContainer hooks run under the filter; a notify rule on write and a missing agent fail create.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bundle
from tests.security.default_profile import profile
from tests.support import Lading, Runc, static_program


def without(seccomp: dict[str, Any], *names: str) -> dict[str, Any]:
    for rule in seccomp["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in names]
    seccomp["syscalls"] = [r for r in seccomp["syscalls"] if r["names"]]
    return seccomp


@pytest.mark.parametrize("no_new_privileges", [True, False])
@pytest.mark.parametrize("errno_ret", [errno.EPERM, errno.ENXIO])
def test_a_profile_without_close_range_still_starts(
    runtime: Lading, bundle: Bundle, cid: str, no_new_privileges: bool, errno_ret: int
) -> None:
    bundle.config["linux"]["seccomp"] = without(profile(errno_ret), "close_range")
    bundle.write(args=["sh", "-c", "echo started"], noNewPrivileges=no_new_privileges)
    p = runtime("run", "--bundle", str(bundle), cid, check=False)
    assert (p.returncode, p.stdout) == (0, "started\n"), p.stderr


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_start_container_hooks_run_under_the_filter(
    runtime: Lading, bundle: Bundle, cid: str, no_new_privileges: bool
) -> None:
    """runc loads the filter before the startContainer hooks (they run in the container)."""
    seccomp = without(profile(), "mkdir", "mkdirat")
    seccomp["syscalls"].append({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXFULL})
    bundle.config["linux"]["seccomp"] = seccomp
    bundle.config["root"]["readonly"] = False
    bundle.config["hooks"] = {
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/by-hook 2>/tmp/hook-said; true"]}]
    }
    bundle.write(args=["cat", "/tmp/hook-said"], noNewPrivileges=no_new_privileges)
    p = runtime("run", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 0, p.stderr
    assert "Exchange full" in p.stdout


def notifying(bundle: Bundle, listener: Path, *names: str) -> None:
    seccomp = profile()
    seccomp["listenerPath"] = str(listener)
    seccomp["syscalls"].append({"names": list(names), "action": "SCMP_ACT_NOTIFY"})
    bundle.config["linux"]["seccomp"] = seccomp
    bundle.write(args=["true"])


def test_notify_on_write_is_refused(runtime: Lading, bundle: Bundle, cid: str, tmp_path: Path) -> None:
    notifying(bundle, tmp_path / "agent.sock", "write")
    p = runtime("create", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 1
    assert "SCMP_ACT_NOTIFY cannot be used for the write syscall" in p.stderr


def test_a_missing_agent_fails_create(runtime: Lading, bundle: Bundle, cid: str, tmp_path: Path) -> None:
    notifying(bundle, tmp_path / "nobody.sock", "mkdir")
    p = runtime("create", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 1
    assert "failed to connect with seccomp agent" in p.stderr
    assert str(tmp_path / "nobody.sock") in p.stderr
    if not isinstance(runtime, Runc):
        assert len(p.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="session")
def clone3_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static program that calls clone3 with no arguments and exits with the errno it got."""
    return static_program(
        "#include <errno.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n"
        "int main(void) { return syscall(435, 0, 0) < 0 ? errno : 0; }\n",
        tmp_path_factory.mktemp("probe"),
    )


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], errno.ENOSYS),  # newer than anything the profile names: ENOSYS, libc falls back
        ([{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXFULL}], errno.EXFULL),  # its own rule
    ],
)
def test_syscalls_newer_than_the_profile_get_enosys(
    runtime: Lading, bundle: Bundle, cid: str, clone3_probe: Path, rules: list[dict[str, Any]], expected: int
) -> None:
    """A profile written before clone3 (it names nothing numbered above it) gets ENOSYS for it,
    as runc's stub gives; EPERM would make glibc give up instead of falling back to clone."""
    seccomp = without(profile(errno.EPERM), "clone3", *NEWER_THAN_CLONE3)
    seccomp["syscalls"] += rules
    bundle.config["linux"]["seccomp"] = seccomp
    shutil.copy(clone3_probe, bundle.rootfs / "probe")
    bundle.write(args=["/probe"])
    p = runtime("run", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == expected, p.stderr


# x86_64 syscalls numbered above clone3 (435) that the default profile allows
NEWER_THAN_CLONE3 = {
    "close_range",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "process_madvise",
    "epoll_pwait2",
    "mount_setattr",
    "quotactl_fd",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
    "futex_waitv",
    "set_mempolicy_home_node",
    "cachestat",
    "fchmodat2",
    "map_shadow_stack",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "statmount",
    "listmount",
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
    "mseal",
    "setxattrat",
    "getxattrat",
    "listxattrat",
    "removexattrat",
    "open_tree_attr",
}


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_a_profile_that_refuses_write_still_starts(
    lading: Lading, bundle: Bundle, cid: str, no_new_privileges: bool
) -> None:
    """The init's last system call before the execve is a write to exec.fifo that lets `start`
    return early; a profile that refuses write makes start wait for the execve instead. (runc
    1.1.5's start fails on such a profile: "cannot start an already running container".)"""
    seccomp = without(profile(), "write")
    seccomp["syscalls"].append({"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXFULL})
    bundle.config["linux"]["seccomp"] = seccomp
    bundle.write(args=["true"], noNewPrivileges=no_new_privileges)
    lading("create", "--bundle", str(bundle), cid)
    p = lading("start", cid, check=False)
    assert (p.returncode, p.stderr) == (0, "")
    lading("delete", "--force", cid)
