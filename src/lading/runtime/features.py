"""What lading implements, as the runtime spec's Features structure (features.md, features-linux.md).

Each list is read from the table the code itself acts on, so it cannot claim what the code does
not do: mount options from lading.linux.mount's option tables, namespaces from the plan's
NS_NAMES, hook names from the config model the hooks are read through, cgroup support from the
cgroup layer, capabilities and seccomp from the tables the init applies them with. What lading
does not implement is stated as such (``enabled: false``); what it does not act on at all is
left out.
"""

from __future__ import annotations

from lading import OCI_VERSION
from lading.spec.features import (
    AppArmorFeatures,
    CgroupFeatures,
    Features,
    IDMapFeatures,
    IntelRdtFeatures,
    LinuxFeatures,
    MemoryPolicyFeatures,
    MountExtensionsFeatures,
    NetDevicesFeatures,
    SeccompFeatures,
    SELinuxFeatures,
)

# config.json versions lading decodes (lading.spec.runtime_config accepts any 1.x).
OCI_VERSION_MIN = "1.0.0"


def features() -> Features:
    from lading.linux import capabilities

    seccomp = seccomp_features()
    return Features(
        oci_version_min=OCI_VERSION_MIN,
        oci_version_max=OCI_VERSION,
        hooks=hook_names(),
        mount_options=mount_options(),
        annotations=runtime_annotations(seccomp),
        potentially_unsafe_config_annotations=[],  # no annotation changes what lading does
        linux=LinuxFeatures(
            namespaces=namespaces(),
            capabilities=list(capabilities.NAMES),
            cgroup=cgroup(),
            seccomp=seccomp,
            # lading.runtime.lsm applies process.apparmorProfile and process.selinuxLabel
            apparmor=AppArmorFeatures(enabled=True),
            selinux=SELinuxFeatures(enabled=True),
            intel_rdt=IntelRdtFeatures(enabled=False),
            # mounts[].uidMappings/gidMappings, idmap and ridmap: bind mounts, made by root
            mount_extensions=MountExtensionsFeatures(idmap=IDMapFeatures(enabled=True)),
            net_devices=NetDevicesFeatures(enabled=False),
            memory_policy=memory_policy(),
        ),
    )


def hook_names() -> list[str]:
    """The keys of config.json's ``hooks``: create, start and delete run each of them."""
    from lading.spec.runtime_config import Hooks

    return [f.json for f in Hooks.FIELDS]


def mount_options() -> list[str]:
    """Every option lading.linux.mount turns into a flag, a propagation, a recursive attribute or
    an id-mapping, and tmpcopyup (anything else is passed to the filesystem as data, which features.md leaves
    out)."""
    from lading.linux import mount

    tables = (mount.FLAG_OPTIONS, mount.PROPAGATION_OPTIONS, mount.RECURSIVE_OPTIONS, mount.IDMAP_OPTIONS)
    return sorted({mount.TMPCOPYUP}.union(*tables))


def memory_policy() -> MemoryPolicyFeatures:
    """The modes and flags lading.runtime.process_attrs applies with set_mempolicy."""
    from lading.linux import sched

    return MemoryPolicyFeatures(modes=sorted(sched.MEMPOLICY_MODES), flags=sorted(sched.MEMPOLICY_FLAGS))


def namespaces() -> list[str]:
    from lading.runtime.plan import NS_NAMES

    return sorted(NS_NAMES)


def cgroup() -> CgroupFeatures:
    from lading.linux.cgroups import layout
    from lading.runtime.cgroup_resources import V2_NAME

    modes = layout.MODES
    return CgroupFeatures(
        v1="v1" in modes,
        v2="v2" in modes,
        systemd=False,  # --systemd-cgroup is refused (lading.cli.main): cgroupfs only
        systemd_user=False,
        rdma="rdma" in V2_NAME,
    )


def seccomp_features() -> SeccompFeatures:
    """From the action, operator, architecture and flag tables lading.runtime.seccomp compiles
    profiles with (architectures and flags as far as the installed libseccomp and kernel go)."""
    import msgspec

    from lading.runtime import seccomp

    return msgspec.convert(seccomp.features(), SeccompFeatures)


def runtime_annotations(seccomp: SeccompFeatures) -> dict[str, str]:
    """The libseccomp lading compiles filters with, under the key runc uses for it."""
    if not seccomp.enabled:
        return {}
    from lading.linux import seccomp as libseccomp

    return {"io.github.seccomp.libseccomp.version": ".".join(map(str, libseccomp.version()))}
