"""AppArmor and SELinux: the host without either (this one) and the attr writes themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from lading.errors import LadingError
from lading.runtime import lsm
from lading.runtime.lsm import LsmPlan
from tests.security.support import linux, process

no_lsm = pytest.mark.skipif(lsm.apparmor_enabled() or lsm.selinux_enabled(), reason="the host has AppArmor or SELinux")


@no_lsm
def test_labels_on_a_host_without_apparmor_or_selinux_fail_create() -> None:
    with pytest.raises(LadingError) as e:
        lsm.prepare(process(apparmorProfile="docker-default"), None)
    assert str(e.value) == (
        'config.json: $.process.apparmorProfile: "docker-default" cannot be applied: '
        "AppArmor is not enabled on this host"
    )
    with pytest.raises(LadingError) as e:
        lsm.prepare(process(selinuxLabel="system_u:system_r:container_t:s0"), None)
    assert str(e.value) == (
        'config.json: $.process.selinuxLabel: "system_u:system_r:container_t:s0" cannot be applied: '
        "SELinux is not enabled on this host"
    )
    with pytest.raises(LadingError) as e:
        lsm.prepare(process(), linux(mountLabel="system_u:object_r:container_file_t:s0:c1,c2"))
    assert str(e.value) == (
        'config.json: $.linux.mountLabel: "system_u:object_r:container_file_t:s0:c1,c2" cannot be applied: '
        "SELinux is not enabled on this host"
    )
    assert lsm.prepare(process(), linux()) == LsmPlan()


@no_lsm
def test_the_kernel_refuses_an_exec_label_without_an_lsm() -> None:
    with pytest.raises(LadingError) as e:
        lsm.apply(LsmPlan(apparmor_profile="p"))
    assert str(e.value) == (
        'cannot set the AppArmor profile "p" for the container process: /proc/thread-self/attr/exec: Invalid argument'
    )


def test_apparmor_writes_exec_profile_to_its_own_attr_dir_when_there_is_one(tmp_path: Path) -> None:
    (tmp_path / "apparmor").mkdir()
    (tmp_path / "apparmor" / "exec").write_text("")
    (tmp_path / "exec").write_text("")
    lsm.apply(LsmPlan(apparmor_profile="acme_secure_profile"), str(tmp_path))
    assert (tmp_path / "apparmor" / "exec").read_text() == "exec acme_secure_profile"
    assert (tmp_path / "exec").read_text() == ""


def test_apparmor_falls_back_to_attr_exec_and_selinux_writes_there(tmp_path: Path) -> None:
    (tmp_path / "exec").write_text("")
    lsm.apply(LsmPlan(apparmor_profile="acme"), str(tmp_path))
    assert (tmp_path / "exec").read_text() == "exec acme"
    lsm.apply(LsmPlan(selinux_label="system_u:system_r:svirt_lxc_net_t:s0:c124,c675"), str(tmp_path))
    assert (tmp_path / "exec").read_text() == "system_u:system_r:svirt_lxc_net_t:s0:c124,c675"


def test_a_missing_attr_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(LadingError) as e:
        lsm.apply(LsmPlan(selinux_label="l"), str(tmp_path))
    assert str(e.value) == (
        f'cannot set the SELinux label "l" for the container process: {tmp_path}/exec: No such file or directory'
    )
    lsm.apply(LsmPlan(), str(tmp_path))  # nothing to set: nothing written


def test_mount_label_option_quotes_the_context() -> None:
    assert lsm.mount_label_option("system_u:object_r:container_file_t:s0:c1,c2") == (
        'context="system_u:object_r:container_file_t:s0:c1,c2"'
    )
    assert lsm.mount_label_option("") == ""
