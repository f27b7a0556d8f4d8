"""The runtime's Features structure (features.md, features-linux.md), printed by `lading features`.

It describes what lading recognizes, not what the host supports. Every field but the two version
bounds may be absent; absent (None) is not the same as empty, so None fields are left out.
"""

from lading.spec.base import OCIStruct


class CgroupFeatures(OCIStruct, kw_only=True):
    v1: bool | None = None
    v2: bool | None = None
    systemd: bool | None = None
    systemd_user: bool | None = None
    rdma: bool | None = None


class SeccompFeatures(OCIStruct, kw_only=True):
    enabled: bool | None = None
    actions: list[str] | None = None
    operators: list[str] | None = None
    archs: list[str] | None = None
    known_flags: list[str] | None = None
    supported_flags: list[str] | None = None


class AppArmorFeatures(OCIStruct, kw_only=True):
    enabled: bool | None = None


class SELinuxFeatures(OCIStruct, kw_only=True):
    enabled: bool | None = None


class IntelRdtFeatures(OCIStruct, kw_only=True):
    enabled: bool | None = None
    schemata: bool | None = None  # linux.intelRdt.schemata is supported
    monitoring: bool | None = None  # linux.intelRdt.enableMonitoring is supported


class MemoryPolicyFeatures(OCIStruct, kw_only=True):
    modes: list[str] | None = None
    flags: list[str] | None = None


class IDMapFeatures(OCIStruct, kw_only=True):
    enabled: bool | None = None  # mounts' uidMappings/gidMappings are recognized


class MountExtensionsFeatures(OCIStruct, kw_only=True):
    idmap: IDMapFeatures | None = None


class NetDevicesFeatures(OCIStruct, kw_only=True):
    enabled: bool | None = None


class LinuxFeatures(OCIStruct, kw_only=True):
    namespaces: list[str] | None = None
    capabilities: list[str] | None = None
    cgroup: CgroupFeatures | None = None
    seccomp: SeccompFeatures | None = None
    apparmor: AppArmorFeatures | None = None
    selinux: SELinuxFeatures | None = None
    intel_rdt: IntelRdtFeatures | None = None
    memory_policy: MemoryPolicyFeatures | None = None
    mount_extensions: MountExtensionsFeatures | None = None
    net_devices: NetDevicesFeatures | None = None


class Features(OCIStruct, kw_only=True):
    oci_version_min: str
    oci_version_max: str
    hooks: list[str] | None = None
    mount_options: list[str] | None = None
    annotations: dict[str, str] | None = None
    potentially_unsafe_config_annotations: list[str] | None = None
    linux: LinuxFeatures | None = None
