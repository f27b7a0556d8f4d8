"""Every field of the config model is applied or refused: none is decoded and then ignored.

FIELDS below is the written table: a JSON path of config.json and where lading applies it (or
refuses it, or why it does not concern a Linux runtime). An entry covers the fields below it.
The test walks the model (lading.spec.runtime_config) and fails on a field no entry covers, and
on an entry that names no field, so a field added to the model must be placed here.
"""

from __future__ import annotations

from lading.spec.model import ListOf, MapOf, Model, Object
from lading.spec.runtime_config import Spec

FIELDS: dict[str, str] = {
    "ociVersion": "spec/runtime_config.py: checked, 1.x only",
    "root": "runtime/plan.py (path), runtime/rootfs.py (readonly)",
    "mounts": "runtime/rootfs.py; id-mapped ones runtime/create.py",
    "hooks": "runtime/hooks.py, run by create, init, start and delete",
    "annotations": "recorded in state.json, given to hooks and `state`",
    "hostname": "runtime/init.py (sethostname), refused without a uts namespace",
    "domainname": "runtime/init.py (setdomainname), refused without a uts namespace",
    "process.terminal": "runtime/console.py, runtime/terminal.py",
    "process.consoleSize": "runtime/console.py",
    "process.user": "runtime/process.py (switch_user)",
    "process.args": "runtime/launch.py (find_executable, execve)",
    "process.env": "runtime/process.py (environment)",
    "process.cwd": "runtime/launch.py (chdir_inside)",
    "process.capabilities": "runtime/capabilities.py; outside the runtime's bounding set refused",
    "process.rlimits": "runtime/rlimits.py",
    "process.noNewPrivileges": "runtime/security.py",
    "process.apparmorProfile": "runtime/lsm.py; refused without AppArmor",
    "process.selinuxLabel": "runtime/lsm.py; refused without SELinux",
    "process.oomScoreAdj": "runtime/init.py",
    "process.scheduler": "runtime/process_attrs.py (sched_setattr)",
    "process.ioPriority": "runtime/process_attrs.py (ioprio_set)",
    "process.execCPUAffinity": "runtime/process_attrs.py (sched_setaffinity, initial and final)",
    "process.commandLine": "Windows only: not a Linux field",
    "linux.uidMappings": "runtime/idmaps.py, written by create",
    "linux.gidMappings": "runtime/idmaps.py, written by create",
    "linux.sysctl": "runtime/plan.py (checked), runtime/init.py (written)",
    "linux.resources": "runtime/cgroup_resources.py",
    "linux.cgroupsPath": "runtime/cgroups.py",
    "linux.namespaces": "runtime/plan.py, runtime/init.py",
    "linux.devices": "runtime/rootfs.py (nodes), runtime/cgroups.py (rules)",
    "linux.netDevices": "refused: runtime/plan.py (refuse_unapplied)",
    "linux.seccomp": "runtime/seccomp.py, runtime/security.py",
    "linux.rootfsPropagation": "runtime/rootfs.py",
    "linux.maskedPaths": "runtime/rootfs.py",
    "linux.readonlyPaths": "runtime/rootfs.py",
    "linux.mountLabel": "refused without SELinux: runtime/lsm.py",
    "linux.intelRdt": "refused: runtime/plan.py (refuse_unapplied)",
    "linux.memoryPolicy": "runtime/process_attrs.py (set_mempolicy)",
    "linux.personality": "runtime/process_attrs.py (personality)",
    "linux.timeOffsets": "runtime/plan.py, runtime/init.py (timens_offsets)",
    "solaris": "another platform: not a Linux runtime's",
    "windows": "another platform: not a Linux runtime's",
    "vm": "another platform: not a Linux runtime's",
    "zos": "another platform: not a Linux runtime's",
    "freebsd": "another platform: not a Linux runtime's",
}


def _paths(model: type[Model], prefix: str = "") -> list[str]:
    out = []
    for f in model.FIELDS:
        path = prefix + f.json
        out.append(path)
        rule = f.rule
        while isinstance(rule, ListOf | MapOf):
            rule = rule.item if isinstance(rule, ListOf) else rule.value
        if isinstance(rule, Object):
            out += _paths(rule.model, path + ".")
    return out


def _covered(path: str) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:n]) in FIELDS for n in range(1, len(parts) + 1))


def test_every_field_of_the_model_is_applied_or_refused() -> None:
    paths = _paths(Spec)
    # an object is handled through its fields, each of which is checked on its own
    containers = {p.rsplit(".", 1)[0] for p in paths if "." in p}
    assert [p for p in paths if not _covered(p) and p not in containers] == []
    assert [entry for entry in FIELDS if entry not in paths] == []


def test_the_table_is_not_vacuous() -> None:
    assert "linux.resources.memory.limit" in _paths(Spec)
    assert not _covered("linux.noSuchField")
