"""The runtime bundle's config.json (OCI runtime-spec 1.3, config.md and config-linux.md) as typed Structs.

Class names follow the Go bindings (specs-go), attribute names are the snake_case of the JSON keys.
Absent optional fields are None, so "absent" stays distinguishable from "empty"; fields the spec
gives a default (``terminal``, ``readonly``, ``noNewPrivileges``, the scheduler numbers, ...) take that
default instead, as the Go bindings do. Constraints cheap to state are in the annotations (integer
widths, enums, patterns); the rest (absolute paths, duplicates, pairs of fields) are checked in
``__post_init__``, which msgspec runs while decoding. Fields of the other platforms (windows,
solaris, ...) are kept as plain JSON objects: lading runs on Linux and does not interpret them.
"""

import re
from typing import Annotated, Any, Literal

import msgspec

from lading.spec.base import (
    Int32,
    Int64,
    Invalid,
    OCIStruct,
    Uint16,
    Uint32,
    Uint64,
    quote,
    require_absolute,
    require_uint64,
)

# SemVer 2.0.0 with major version 1 (config.md: ociVersion; lading implements 1.x).
_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)

NamespaceType = Annotated[
    Literal["mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time"],
    msgspec.Meta(title="namespace type"),
]
# The schema lists the first four; runc also accepts the recursive spellings, and so do we.
RootfsPropagation = Annotated[
    Literal["private", "shared", "slave", "unbindable", "rprivate", "rshared", "rslave", "runbindable"],
    msgspec.Meta(title="rootfs propagation"),
]
SeccompAction = Annotated[
    Literal[
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    ],
    msgspec.Meta(title="seccomp action"),
]
SeccompArch = Annotated[
    Literal[
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_SH",
        "SCMP_ARCH_SHEB",
    ],
    msgspec.Meta(title="seccomp architecture"),
]
SeccompFlag = Annotated[
    Literal[
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ],
    msgspec.Meta(title="seccomp flag"),
]
SeccompOperator = Annotated[
    Literal[
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ],
    msgspec.Meta(title="seccomp operator"),
]
SchedulerPolicy = Annotated[
    Literal["SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE"],
    msgspec.Meta(title="scheduler policy"),
]
SchedulerFlag = Annotated[
    Literal[
        "SCHED_FLAG_RESET_ON_FORK",
        "SCHED_FLAG_RECLAIM",
        "SCHED_FLAG_DL_OVERRUN",
        "SCHED_FLAG_KEEP_POLICY",
        "SCHED_FLAG_KEEP_PARAMS",
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        "SCHED_FLAG_UTIL_CLAMP_MAX",
    ],
    msgspec.Meta(title="scheduler flag"),
]
IOPriorityClass = Annotated[
    Literal["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"],
    msgspec.Meta(title="I/O priority class"),
]
MemoryPolicyMode = Annotated[
    Literal[
        "MPOL_DEFAULT",
        "MPOL_BIND",
        "MPOL_INTERLEAVE",
        "MPOL_WEIGHTED_INTERLEAVE",
        "MPOL_PREFERRED",
        "MPOL_PREFERRED_MANY",
        "MPOL_LOCAL",
    ],
    msgspec.Meta(title="memory policy mode"),
]
MemoryPolicyFlag = Annotated[
    Literal["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"],
    msgspec.Meta(title="memory policy flag"),
]
PersonalityDomain = Annotated[Literal["LINUX", "LINUX32"], msgspec.Meta(title="personality domain")]
DeviceType = Annotated[Literal["c", "b", "u", "p"], msgspec.Meta(title="device type")]
DeviceCgroupType = Annotated[Literal["a", "c", "b"], msgspec.Meta(title="device cgroup type")]
CPUList = Annotated[str, msgspec.Meta(pattern=r"^[0-9, -]*$")]
OOMScoreAdj = Annotated[int, msgspec.Meta(ge=-1000, le=1000)]
HookTimeout = Annotated[int, msgspec.Meta(gt=0, le=2**63 - 1)]
Swappiness = Annotated[int, msgspec.Meta(ge=0, le=100)]
IOPriorityLevel = Annotated[int, msgspec.Meta(ge=0, le=7)]
RlimitType = Annotated[str, msgspec.Meta(pattern=r"^RLIMIT_[A-Z]+$")]
HugepageSize = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]*[KMG]B$")]
DeviceAccess = Annotated[str, msgspec.Meta(pattern=r"^[rwm]*$")]
SyscallNames = Annotated[list[str], msgspec.Meta(min_length=1)]
SchemataLine = Annotated[str, msgspec.Meta(pattern=r"^[^\n]*$")]
MemBwSchema = Annotated[str, msgspec.Meta(pattern=r"^MB:[^\n]*$")]

# time_namespaces(7): the clocks a time namespace can offset.
TIME_NAMESPACE_CLOCKS = ("monotonic", "boottime")


# ---------------------------------------------------------------------------------------------
# process


class Box(OCIStruct, kw_only=True):
    """process.consoleSize, in characters."""

    height: Uint32
    width: Uint32


class User(OCIStruct, kw_only=True):
    uid: Uint32
    gid: Uint32
    umask: Uint32 | None = None
    additional_gids: list[Uint32] | None = None
    username: str | None = None  # Windows only


class LinuxCapabilities(OCIStruct, kw_only=True):
    bounding: list[str] | None = None
    effective: list[str] | None = None
    inheritable: list[str] | None = None
    permitted: list[str] | None = None
    ambient: list[str] | None = None


class POSIXRlimit(OCIStruct, kw_only=True):
    type: RlimitType
    hard: Uint64
    soft: Uint64

    def __post_init__(self) -> None:
        require_uint64(self, ("hard", "hard"), ("soft", "soft"))


class Scheduler(OCIStruct, kw_only=True):
    """process.scheduler: sched_setattr(2) parameters."""

    policy: SchedulerPolicy
    nice: Int32 = 0
    priority: Int32 = 0
    flags: list[SchedulerFlag] | None = None
    runtime: Uint64 = 0
    deadline: Uint64 = 0
    period: Uint64 = 0

    def __post_init__(self) -> None:
        require_uint64(self, ("runtime", "runtime"), ("deadline", "deadline"), ("period", "period"))


class IOPriority(OCIStruct, kw_only=True):
    """process.ioPriority (specs-go: LinuxIOPriority)."""

    class_: IOPriorityClass = msgspec.field(name="class")
    priority: IOPriorityLevel


class ExecCPUAffinity(OCIStruct, kw_only=True):
    """process.execCPUAffinity (specs-go: CPUAffinity); CPU lists like "0-3,7"."""

    initial: CPUList | None = None
    final: CPUList | None = None


def _root_user() -> User:
    return User(uid=0, gid=0)


class Process(OCIStruct, kw_only=True):
    """The container process; also the whole of `exec --process process.json`."""

    terminal: bool = False
    console_size: Box | None = None
    # Absent "user" means uid 0, gid 0 (the Go bindings' zero value, which runc relies on).
    user: User = msgspec.field(default_factory=_root_user)
    args: list[str] | None = None
    command_line: str | None = None  # Windows only
    env: list[str] | None = None
    cwd: str
    capabilities: LinuxCapabilities | None = None
    rlimits: list[POSIXRlimit] | None = None
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    oom_score_adj: OOMScoreAdj | None = None
    scheduler: Scheduler | None = None
    selinux_label: str | None = None
    io_priority: IOPriority | None = None
    exec_cpu_affinity: ExecCPUAffinity | None = msgspec.field(default=None, name="execCPUAffinity")

    def __post_init__(self) -> None:
        require_absolute(".cwd", self.cwd)
        if not self.args:
            raise Invalid(".args", "at least one argument is required")
        if self.rlimits:
            seen: set[str] = set()
            for i, rlimit in enumerate(self.rlimits):
                if rlimit.type in seen:
                    raise Invalid(f".rlimits[{i}].type", f"duplicate rlimit {quote(rlimit.type)}")
                seen.add(rlimit.type)


# ---------------------------------------------------------------------------------------------
# root, mounts, hooks


class Root(OCIStruct, kw_only=True):
    path: str  # absolute, or relative to the bundle
    readonly: bool = False


class LinuxIDMapping(OCIStruct, kw_only=True):
    container_id: Uint32 = msgspec.field(name="containerID")
    host_id: Uint32 = msgspec.field(name="hostID")
    size: Uint32


class Mount(OCIStruct, kw_only=True):
    destination: str  # absolute; relative paths are deprecated and mean relative to "/"
    type: str | None = None
    source: str | None = None
    options: list[str] | None = None
    uid_mappings: list[LinuxIDMapping] | None = None
    gid_mappings: list[LinuxIDMapping] | None = None

    def __post_init__(self) -> None:
        if (self.uid_mappings is None) != (self.gid_mappings is None):
            missing = "gidMappings" if self.gid_mappings is None else "uidMappings"
            raise Invalid("", f"uidMappings and gidMappings must be given together, {missing} is missing")


class Hook(OCIStruct, kw_only=True):
    path: str
    args: list[str] | None = None
    env: list[str] | None = None
    timeout: HookTimeout | None = None  # seconds

    def __post_init__(self) -> None:
        require_absolute(".path", self.path)


class Hooks(OCIStruct, kw_only=True):
    prestart: list[Hook] | None = None  # deprecated in favour of the next three
    create_runtime: list[Hook] | None = None
    create_container: list[Hook] | None = None
    start_container: list[Hook] | None = None
    poststart: list[Hook] | None = None
    poststop: list[Hook] | None = None


# ---------------------------------------------------------------------------------------------
# linux: namespaces, devices


class LinuxNamespace(OCIStruct, kw_only=True):
    type: NamespaceType
    path: str | None = None  # join this namespace instead of creating one

    def __post_init__(self) -> None:
        if self.path is not None:
            require_absolute(".path", self.path)


class LinuxTimeOffset(OCIStruct, kw_only=True):
    secs: Int64 = 0
    nanosecs: Uint32 = 0


class LinuxDevice(OCIStruct, kw_only=True):
    """A device node to create in the container (linux.devices)."""

    path: str
    type: DeviceType
    major: Int64 | None = None
    minor: Int64 | None = None
    file_mode: Uint32 | None = None  # permission bits, written in decimal
    uid: Uint32 | None = None
    gid: Uint32 | None = None

    def __post_init__(self) -> None:
        require_absolute(".path", self.path)
        if self.type != "p":
            for name, value in (("major", self.major), ("minor", self.minor)):
                if value is None:
                    raise Invalid("", f'missing required field "{name}" (required unless type is "p")')


class LinuxNetDevice(OCIStruct, kw_only=True):
    name: str | None = None  # the name inside the container; default: the host name


# ---------------------------------------------------------------------------------------------
# linux.resources: cgroups


class LinuxDeviceCgroup(OCIStruct, kw_only=True):
    """One rule of the device allow/deny list; absent type/major/minor mean "all"."""

    allow: bool
    type: DeviceCgroupType | None = None
    major: Int64 | None = None
    minor: Int64 | None = None
    access: DeviceAccess | None = None


class LinuxMemory(OCIStruct, kw_only=True):
    """Bytes, or -1 for unlimited."""

    limit: Int64 | None = None
    reservation: Int64 | None = None
    swap: Int64 | None = None
    kernel: Int64 | None = None
    kernel_tcp: Int64 | None = msgspec.field(default=None, name="kernelTCP")
    swappiness: Swappiness | None = None
    disable_oom_killer: bool | None = msgspec.field(default=None, name="disableOOMKiller")
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


class LinuxCPU(OCIStruct, kw_only=True):
    """Times in microseconds; cpus/mems are lists like "0-3,7"."""

    shares: Uint64 | None = None
    quota: Int64 | None = None
    burst: Uint64 | None = None
    period: Uint64 | None = None
    realtime_runtime: Int64 | None = None
    realtime_period: Uint64 | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: Int64 | None = None

    def __post_init__(self) -> None:
        require_uint64(
            self,
            ("shares", "shares"),
            ("burst", "burst"),
            ("period", "period"),
            ("realtime_period", "realtimePeriod"),
        )


class LinuxPids(OCIStruct, kw_only=True):
    limit: Int64 | None = None  # -1: no limit; 0 is a real limit


class LinuxWeightDevice(OCIStruct, kw_only=True):
    major: Int64
    minor: Int64
    weight: Uint16 | None = None
    leaf_weight: Uint16 | None = None

    def __post_init__(self) -> None:
        if self.weight is None and self.leaf_weight is None:
            raise Invalid("", "at least one of weight and leafWeight is required")


class LinuxThrottleDevice(OCIStruct, kw_only=True):
    major: Int64
    minor: Int64
    rate: Uint64

    def __post_init__(self) -> None:
        require_uint64(self, ("rate", "rate"))


class LinuxBlockIO(OCIStruct, kw_only=True):
    weight: Uint16 | None = None
    leaf_weight: Uint16 | None = None
    weight_device: list[LinuxWeightDevice] | None = None
    throttle_read_bps_device: list[LinuxThrottleDevice] | None = None
    throttle_write_bps_device: list[LinuxThrottleDevice] | None = None
    throttle_read_iops_device: list[LinuxThrottleDevice] | None = msgspec.field(
        default=None, name="throttleReadIOPSDevice"
    )
    throttle_write_iops_device: list[LinuxThrottleDevice] | None = msgspec.field(
        default=None, name="throttleWriteIOPSDevice"
    )


class LinuxHugepageLimit(OCIStruct, kw_only=True):
    page_size: HugepageSize  # "2MB", "1GB", ...
    limit: Uint64

    def __post_init__(self) -> None:
        require_uint64(self, ("limit", "limit"))


class LinuxInterfacePriority(OCIStruct, kw_only=True):
    name: str
    priority: Uint32


class LinuxNetwork(OCIStruct, kw_only=True):
    class_id: Uint32 | None = msgspec.field(default=None, name="classID")
    priorities: list[LinuxInterfacePriority] | None = None


class LinuxRdma(OCIStruct, kw_only=True):
    hca_handles: Uint32 | None = None
    hca_objects: Uint32 | None = None

    def __post_init__(self) -> None:
        if self.hca_handles is None and self.hca_objects is None:
            raise Invalid("", "at least one of hcaHandles and hcaObjects is required")


class LinuxResources(OCIStruct, kw_only=True):
    """linux.resources; also the whole of `update --resources resources.json`."""

    devices: list[LinuxDeviceCgroup] | None = None
    memory: LinuxMemory | None = None
    cpu: LinuxCPU | None = None
    pids: LinuxPids | None = None
    block_io: LinuxBlockIO | None = msgspec.field(default=None, name="blockIO")
    hugepage_limits: list[LinuxHugepageLimit] | None = None
    network: LinuxNetwork | None = None
    rdma: dict[str, LinuxRdma] | None = None  # by device name
    unified: dict[str, str] | None = None  # cgroup v2 file name -> content


# ---------------------------------------------------------------------------------------------
# linux: seccomp, other security and scheduling features


class LinuxSeccompArg(OCIStruct, kw_only=True):
    index: Uint32
    value: Uint64
    value_two: Uint64 = 0
    op: SeccompOperator

    def __post_init__(self) -> None:
        require_uint64(self, ("value", "value"), ("value_two", "valueTwo"))


class LinuxSyscall(OCIStruct, kw_only=True):
    names: SyscallNames
    action: SeccompAction
    errno_ret: Uint32 | None = None  # default EPERM
    args: list[LinuxSeccompArg] | None = None


class LinuxSeccomp(OCIStruct, kw_only=True):
    default_action: SeccompAction
    default_errno_ret: Uint32 | None = None  # default EPERM
    architectures: list[SeccompArch] | None = None
    flags: list[SeccompFlag] | None = None
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: list[LinuxSyscall] | None = None

    def __post_init__(self) -> None:
        if self.listener_metadata is not None and self.listener_path is None:
            raise Invalid(".listenerMetadata", "must not be set without listenerPath")


class LinuxIntelRdt(OCIStruct, kw_only=True):
    clos_id: str | None = msgspec.field(default=None, name="closID")
    schemata: list[SchemataLine] | None = None
    l3_cache_schema: str | None = None
    mem_bw_schema: MemBwSchema | None = None
    enable_monitoring: bool = False


class LinuxMemoryPolicy(OCIStruct, kw_only=True):
    """set_mempolicy(2) for the container; nodes is a list like "0-3,7"."""

    mode: MemoryPolicyMode
    nodes: str | None = None
    flags: list[MemoryPolicyFlag] | None = None


class LinuxPersonality(OCIStruct, kw_only=True):
    domain: PersonalityDomain
    flags: list[str] | None = None  # no flags are defined yet


class Linux(OCIStruct, kw_only=True):
    uid_mappings: list[LinuxIDMapping] | None = None
    gid_mappings: list[LinuxIDMapping] | None = None
    sysctl: dict[str, str] | None = None
    resources: LinuxResources | None = None
    cgroups_path: str | None = None
    namespaces: list[LinuxNamespace] | None = None
    devices: list[LinuxDevice] | None = None
    net_devices: dict[str, LinuxNetDevice] | None = None  # by host interface name
    seccomp: LinuxSeccomp | None = None
    rootfs_propagation: RootfsPropagation | None = None
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    mount_label: str | None = None
    intel_rdt: LinuxIntelRdt | None = None
    memory_policy: LinuxMemoryPolicy | None = None
    personality: LinuxPersonality | None = None
    time_offsets: dict[str, LinuxTimeOffset] | None = None  # by clock: "monotonic", "boottime"

    def __post_init__(self) -> None:
        if self.namespaces:
            seen: set[str] = set()
            for i, ns in enumerate(self.namespaces):
                if ns.type in seen:
                    raise Invalid(f".namespaces[{i}].type", f"duplicate namespace type {quote(ns.type)}")
                seen.add(ns.type)
        for key, paths in (("maskedPaths", self.masked_paths), ("readonlyPaths", self.readonly_paths)):
            for i, path in enumerate(paths or ()):
                require_absolute(f".{key}[{i}]", path)
        for clock in self.time_offsets or ():
            if clock not in TIME_NAMESPACE_CLOCKS:
                raise Invalid(f".timeOffsets[{quote(clock)}]", f"unknown clock {quote(clock)}")


# ---------------------------------------------------------------------------------------------
# the document


class Spec(OCIStruct, kw_only=True):
    """config.json. ``process`` may be absent at `create` but is required by `start`; ``root`` is
    required on every platform but Windows."""

    oci_version: str
    process: Process | None = None
    root: Root
    hostname: str | None = None
    domainname: str | None = None
    mounts: list[Mount] | None = None
    hooks: Hooks | None = None
    annotations: dict[str, str] | None = None
    linux: Linux | None = None
    solaris: dict[str, Any] | None = None
    windows: dict[str, Any] | None = None
    vm: dict[str, Any] | None = None
    zos: dict[str, Any] | None = None
    freebsd: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        version = _SEMVER.fullmatch(self.oci_version)
        if version is None:
            raise Invalid(".ociVersion", f"{quote(self.oci_version)} is not a SemVer version")
        if version.group(1) != "1":
            raise Invalid(".ociVersion", f"unsupported version {quote(self.oci_version)}: lading implements 1.x")
        if self.annotations and "" in self.annotations:
            raise Invalid('.annotations[""]', "annotation keys must not be empty")
