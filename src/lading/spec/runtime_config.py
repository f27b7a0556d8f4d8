"""The runtime bundle's config.json (OCI runtime-spec 1.3, config.md and config-linux.md) as typed models.

Class names follow the Go bindings (specs-go), attribute names are the snake_case of the JSON keys.
Absent optional fields are None, so "absent" stays distinguishable from "empty"; fields the spec
gives a default (``terminal``, ``readonly``, ``noNewPrivileges``, the scheduler numbers, ...) take that
default instead, as the Go bindings do. Each class's FIELDS table says how its JSON is checked
(integer widths, enums, patterns; see lading.spec.model), the annotations say the same to mypy,
and ``check`` holds the rest (absolute paths, duplicates, pairs of fields). Fields of the other
platforms (windows, solaris, ...) are kept as plain JSON objects: lading runs on Linux and does not
interpret them.
"""

from __future__ import annotations

from lading.spec.model import (
    REQUIRED,
    AnyValue,
    Bool,
    Enum,
    Int,
    Invalid,
    ListOf,
    MapOf,
    Model,
    Object,
    Pattern,
    Str,
    fields,
    quote,
    require_absolute,
    require_uint64,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

INT32 = Int(-(2**31), 2**31 - 1)
INT64 = Int(-(2**63), 2**63 - 1)
UINT16 = Int(0, 2**16 - 1)
UINT32 = Int(0, 2**32 - 1)
UINT64 = Int(0, None)  # the upper bound is each model's check (require_uint64)
STR = Str()
BOOL = Bool()
STRINGS = ListOf(STR)
OTHER_PLATFORM = MapOf(AnyValue())

NAMESPACE_TYPE = Enum("namespace type", "mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time")
# The schema lists the first four; runc also accepts the recursive spellings, and so do we.
ROOTFS_PROPAGATION = Enum(
    "rootfs propagation", "private", "shared", "slave", "unbindable", "rprivate", "rshared", "rslave", "runbindable"
)
SECCOMP_ACTION = Enum(
    "seccomp action",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
)
SECCOMP_ARCH = Enum(
    "seccomp architecture",
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
)
SECCOMP_FLAG = Enum(
    "seccomp flag",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)
SECCOMP_OPERATOR = Enum(
    "seccomp operator",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
SCHEDULER_POLICY = Enum(
    "scheduler policy",
    "SCHED_OTHER",
    "SCHED_FIFO",
    "SCHED_RR",
    "SCHED_BATCH",
    "SCHED_ISO",
    "SCHED_IDLE",
    "SCHED_DEADLINE",
)
SCHEDULER_FLAG = Enum(
    "scheduler flag",
    "SCHED_FLAG_RESET_ON_FORK",
    "SCHED_FLAG_RECLAIM",
    "SCHED_FLAG_DL_OVERRUN",
    "SCHED_FLAG_KEEP_POLICY",
    "SCHED_FLAG_KEEP_PARAMS",
    "SCHED_FLAG_UTIL_CLAMP_MIN",
    "SCHED_FLAG_UTIL_CLAMP_MAX",
)
IO_PRIORITY_CLASS = Enum("I/O priority class", "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE")
MEMORY_POLICY_MODE = Enum(
    "memory policy mode",
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
)
MEMORY_POLICY_FLAG = Enum("memory policy flag", "MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES")
PERSONALITY_DOMAIN = Enum("personality domain", "LINUX", "LINUX32")
DEVICE_TYPE = Enum("device type", "c", "b", "u", "p")
DEVICE_CGROUP_TYPE = Enum("device cgroup type", "a", "c", "b")
OOM_SCORE_ADJ = Int(-1000, 1000)
HOOK_TIMEOUT = Int(1, 2**63 - 1)
SWAPPINESS = Int(0, 100)
IO_PRIORITY_LEVEL = Int(0, 7)
SYSCALL_NAMES = ListOf(STR, min_length=1)

_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")


def _line(text: str) -> str:
    """What a ``^...$`` pattern sees: ``$`` also matches before one final newline."""
    return text[:-1] if text.endswith("\n") else text


def _only(klass: str, allowed: str) -> Pattern:
    """``^[klass]*$``, where klass is the regular expression's spelling of the characters allowed."""
    chars = frozenset(allowed)
    return Pattern(f"^[{klass}]*$", lambda s: chars.issuperset(_line(s)))


def _rlimit_type(s: str) -> bool:
    s = _line(s)
    return s.startswith("RLIMIT_") and len(s) > 7 and _UPPER.issuperset(s[7:])


def _hugepage_size(s: str) -> bool:
    s = _line(s)
    return len(s) >= 3 and s[0] in "123456789" and _DIGITS.issuperset(s[1:-2]) and s[-2] in "KMG" and s[-1] == "B"


CPU_LIST = _only("0-9, -", "0123456789, -")  # "0-3,7"
RLIMIT_TYPE = Pattern("^RLIMIT_[A-Z]+$", _rlimit_type)
HUGEPAGE_SIZE = Pattern("^[1-9][0-9]*[KMG]B$", _hugepage_size)
DEVICE_ACCESS = _only("rwm", "rwm")
# Shown as msgspec showed them: the repr of the regular expression r"^[^\n]*$".
SCHEMATA_LINE = Pattern("^[^\\\\n]*$", lambda s: "\n" not in _line(s))
MEM_BW_SCHEMA = Pattern("^MB:[^\\\\n]*$", lambda s: s.startswith("MB:") and "\n" not in _line(s))

# time_namespaces(7): the clocks a time namespace can offset.
TIME_NAMESPACE_CLOCKS = ("monotonic", "boottime")


# ---------------------------------------------------------------------------------------------
# process


class Box(Model):
    """process.consoleSize, in characters."""

    height: int
    width: int
    FIELDS = fields(("height", UINT32, REQUIRED), ("width", UINT32, REQUIRED))


class User(Model):
    uid: int
    gid: int
    umask: int | None
    additional_gids: list[int] | None
    username: str | None  # Windows only
    FIELDS = fields(
        ("uid", UINT32, REQUIRED),
        ("gid", UINT32, REQUIRED),
        ("umask", UINT32, None),
        ("additional_gids", ListOf(UINT32), None),
        ("username", STR, None),
    )


class LinuxCapabilities(Model):
    bounding: list[str] | None
    effective: list[str] | None
    inheritable: list[str] | None
    permitted: list[str] | None
    ambient: list[str] | None
    FIELDS = fields(
        ("bounding", STRINGS, None),
        ("effective", STRINGS, None),
        ("inheritable", STRINGS, None),
        ("permitted", STRINGS, None),
        ("ambient", STRINGS, None),
    )


class POSIXRlimit(Model):
    type: str
    hard: int
    soft: int
    FIELDS = fields(("type", RLIMIT_TYPE, REQUIRED), ("hard", UINT64, REQUIRED), ("soft", UINT64, REQUIRED))

    def check(self) -> None:
        require_uint64(self, ("hard", "hard"), ("soft", "soft"))


class Scheduler(Model):
    """process.scheduler: sched_setattr(2) parameters."""

    policy: str
    nice: int
    priority: int
    flags: list[str] | None
    runtime: int
    deadline: int
    period: int
    FIELDS = fields(
        ("policy", SCHEDULER_POLICY, REQUIRED),
        ("nice", INT32, 0),
        ("priority", INT32, 0),
        ("flags", ListOf(SCHEDULER_FLAG), None),
        ("runtime", UINT64, 0),
        ("deadline", UINT64, 0),
        ("period", UINT64, 0),
    )

    def check(self) -> None:
        require_uint64(self, ("runtime", "runtime"), ("deadline", "deadline"), ("period", "period"))


class IOPriority(Model):
    """process.ioPriority (specs-go: LinuxIOPriority)."""

    class_: str
    priority: int
    FIELDS = fields(("class_", IO_PRIORITY_CLASS, REQUIRED, "class"), ("priority", IO_PRIORITY_LEVEL, REQUIRED))


class ExecCPUAffinity(Model):
    """process.execCPUAffinity (specs-go: CPUAffinity); CPU lists like "0-3,7"."""

    initial: str | None
    final: str | None
    FIELDS = fields(("initial", CPU_LIST, None), ("final", CPU_LIST, None))


def _root_user() -> User:
    return User(uid=0, gid=0)


class Process(Model):
    """The container process; also the whole of `exec --process process.json`."""

    terminal: bool
    console_size: Box | None
    # Absent "user" means uid 0, gid 0 (the Go bindings' zero value, which runc relies on).
    user: User
    args: list[str] | None
    command_line: str | None  # Windows only
    env: list[str] | None
    cwd: str
    capabilities: LinuxCapabilities | None
    rlimits: list[POSIXRlimit] | None
    no_new_privileges: bool
    apparmor_profile: str | None
    oom_score_adj: int | None
    scheduler: Scheduler | None
    selinux_label: str | None
    io_priority: IOPriority | None
    exec_cpu_affinity: ExecCPUAffinity | None
    FIELDS = fields(
        ("terminal", BOOL, False),
        ("console_size", Object(Box), None),
        ("user", Object(User), _root_user),
        ("args", STRINGS, None),
        ("command_line", STR, None),
        ("env", STRINGS, None),
        ("cwd", STR, REQUIRED),
        ("capabilities", Object(LinuxCapabilities), None),
        ("rlimits", ListOf(Object(POSIXRlimit)), None),
        ("no_new_privileges", BOOL, False),
        ("apparmor_profile", STR, None),
        ("oom_score_adj", OOM_SCORE_ADJ, None),
        ("scheduler", Object(Scheduler), None),
        ("selinux_label", STR, None),
        ("io_priority", Object(IOPriority), None),
        ("exec_cpu_affinity", Object(ExecCPUAffinity), None, "execCPUAffinity"),
    )

    def check(self) -> None:
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


class Root(Model):
    path: str  # absolute, or relative to the bundle
    readonly: bool
    FIELDS = fields(("path", STR, REQUIRED), ("readonly", BOOL, False))


class LinuxIDMapping(Model):
    container_id: int
    host_id: int
    size: int
    FIELDS = fields(
        ("container_id", UINT32, REQUIRED, "containerID"),
        ("host_id", UINT32, REQUIRED, "hostID"),
        ("size", UINT32, REQUIRED),
    )


ID_MAPPINGS = ListOf(Object(LinuxIDMapping))


class Mount(Model):
    destination: str  # absolute; relative paths are deprecated and mean relative to "/"
    type: str | None
    source: str | None
    options: list[str] | None
    uid_mappings: list[LinuxIDMapping] | None
    gid_mappings: list[LinuxIDMapping] | None
    FIELDS = fields(
        ("destination", STR, REQUIRED),
        ("type", STR, None),
        ("source", STR, None),
        ("options", STRINGS, None),
        ("uid_mappings", ID_MAPPINGS, None),
        ("gid_mappings", ID_MAPPINGS, None),
    )

    def check(self) -> None:
        if (self.uid_mappings is None) != (self.gid_mappings is None):
            missing = "gidMappings" if self.gid_mappings is None else "uidMappings"
            raise Invalid("", f"uidMappings and gidMappings must be given together, {missing} is missing")


class Hook(Model):
    path: str
    args: list[str] | None
    env: list[str] | None
    timeout: int | None  # seconds
    FIELDS = fields(
        ("path", STR, REQUIRED), ("args", STRINGS, None), ("env", STRINGS, None), ("timeout", HOOK_TIMEOUT, None)
    )

    def check(self) -> None:
        require_absolute(".path", self.path)


HOOK_LIST = ListOf(Object(Hook))


class Hooks(Model):
    prestart: list[Hook] | None  # deprecated in favour of the next three
    create_runtime: list[Hook] | None
    create_container: list[Hook] | None
    start_container: list[Hook] | None
    poststart: list[Hook] | None
    poststop: list[Hook] | None
    FIELDS = fields(
        ("prestart", HOOK_LIST, None),
        ("create_runtime", HOOK_LIST, None),
        ("create_container", HOOK_LIST, None),
        ("start_container", HOOK_LIST, None),
        ("poststart", HOOK_LIST, None),
        ("poststop", HOOK_LIST, None),
    )


# ---------------------------------------------------------------------------------------------
# linux: namespaces, devices


class LinuxNamespace(Model):
    type: str
    path: str | None  # join this namespace instead of creating one
    FIELDS = fields(("type", NAMESPACE_TYPE, REQUIRED), ("path", STR, None))

    def check(self) -> None:
        if self.path is not None:
            require_absolute(".path", self.path)


class LinuxTimeOffset(Model):
    secs: int
    nanosecs: int
    FIELDS = fields(("secs", INT64, 0), ("nanosecs", UINT32, 0))


class LinuxDevice(Model):
    """A device node to create in the container (linux.devices)."""

    path: str
    type: str
    major: int | None
    minor: int | None
    file_mode: int | None  # permission bits, written in decimal
    uid: int | None
    gid: int | None
    FIELDS = fields(
        ("path", STR, REQUIRED),
        ("type", DEVICE_TYPE, REQUIRED),
        ("major", INT64, None),
        ("minor", INT64, None),
        ("file_mode", UINT32, None),
        ("uid", UINT32, None),
        ("gid", UINT32, None),
    )

    def check(self) -> None:
        require_absolute(".path", self.path)
        if self.type != "p":
            for name, value in (("major", self.major), ("minor", self.minor)):
                if value is None:
                    raise Invalid("", f'missing required field "{name}" (required unless type is "p")')


class LinuxNetDevice(Model):
    name: str | None  # the name inside the container; default: the host name
    FIELDS = fields(("name", STR, None))


# ---------------------------------------------------------------------------------------------
# linux.resources: cgroups


class LinuxDeviceCgroup(Model):
    """One rule of the device allow/deny list; absent type/major/minor mean "all"."""

    allow: bool
    type: str | None
    major: int | None
    minor: int | None
    access: str | None
    FIELDS = fields(
        ("allow", BOOL, REQUIRED),
        ("type", DEVICE_CGROUP_TYPE, None),
        ("major", INT64, None),
        ("minor", INT64, None),
        ("access", DEVICE_ACCESS, None),
    )


class LinuxMemory(Model):
    """Bytes, or -1 for unlimited."""

    limit: int | None
    reservation: int | None
    swap: int | None
    kernel: int | None
    kernel_tcp: int | None
    swappiness: int | None
    disable_oom_killer: bool | None
    use_hierarchy: bool | None
    check_before_update: bool | None
    FIELDS = fields(
        ("limit", INT64, None),
        ("reservation", INT64, None),
        ("swap", INT64, None),
        ("kernel", INT64, None),
        ("kernel_tcp", INT64, None, "kernelTCP"),
        ("swappiness", SWAPPINESS, None),
        ("disable_oom_killer", BOOL, None, "disableOOMKiller"),
        ("use_hierarchy", BOOL, None),
        ("check_before_update", BOOL, None),
    )


class LinuxCPU(Model):
    """Times in microseconds; cpus/mems are lists like "0-3,7"."""

    shares: int | None
    quota: int | None
    burst: int | None
    period: int | None
    realtime_runtime: int | None
    realtime_period: int | None
    cpus: str | None
    mems: str | None
    idle: int | None
    FIELDS = fields(
        ("shares", UINT64, None),
        ("quota", INT64, None),
        ("burst", UINT64, None),
        ("period", UINT64, None),
        ("realtime_runtime", INT64, None),
        ("realtime_period", UINT64, None),
        ("cpus", STR, None),
        ("mems", STR, None),
        ("idle", INT64, None),
    )

    def check(self) -> None:
        require_uint64(
            self,
            ("shares", "shares"),
            ("burst", "burst"),
            ("period", "period"),
            ("realtime_period", "realtimePeriod"),
        )


class LinuxPids(Model):
    limit: int | None  # -1: no limit; 0 is a real limit
    FIELDS = fields(("limit", INT64, None))


class LinuxWeightDevice(Model):
    major: int
    minor: int
    weight: int | None
    leaf_weight: int | None
    FIELDS = fields(
        ("major", INT64, REQUIRED), ("minor", INT64, REQUIRED), ("weight", UINT16, None), ("leaf_weight", UINT16, None)
    )

    def check(self) -> None:
        if self.weight is None and self.leaf_weight is None:
            raise Invalid("", "at least one of weight and leafWeight is required")


class LinuxThrottleDevice(Model):
    major: int
    minor: int
    rate: int
    FIELDS = fields(("major", INT64, REQUIRED), ("minor", INT64, REQUIRED), ("rate", UINT64, REQUIRED))

    def check(self) -> None:
        require_uint64(self, ("rate", "rate"))


THROTTLE_DEVICES = ListOf(Object(LinuxThrottleDevice))


class LinuxBlockIO(Model):
    weight: int | None
    leaf_weight: int | None
    weight_device: list[LinuxWeightDevice] | None
    throttle_read_bps_device: list[LinuxThrottleDevice] | None
    throttle_write_bps_device: list[LinuxThrottleDevice] | None
    throttle_read_iops_device: list[LinuxThrottleDevice] | None
    throttle_write_iops_device: list[LinuxThrottleDevice] | None
    FIELDS = fields(
        ("weight", UINT16, None),
        ("leaf_weight", UINT16, None),
        ("weight_device", ListOf(Object(LinuxWeightDevice)), None),
        ("throttle_read_bps_device", THROTTLE_DEVICES, None),
        ("throttle_write_bps_device", THROTTLE_DEVICES, None),
        ("throttle_read_iops_device", THROTTLE_DEVICES, None, "throttleReadIOPSDevice"),
        ("throttle_write_iops_device", THROTTLE_DEVICES, None, "throttleWriteIOPSDevice"),
    )


class LinuxHugepageLimit(Model):
    page_size: str  # "2MB", "1GB", ...
    limit: int
    FIELDS = fields(("page_size", HUGEPAGE_SIZE, REQUIRED), ("limit", UINT64, REQUIRED))

    def check(self) -> None:
        require_uint64(self, ("limit", "limit"))


class LinuxInterfacePriority(Model):
    name: str
    priority: int
    FIELDS = fields(("name", STR, REQUIRED), ("priority", UINT32, REQUIRED))


class LinuxNetwork(Model):
    class_id: int | None
    priorities: list[LinuxInterfacePriority] | None
    FIELDS = fields(("class_id", UINT32, None, "classID"), ("priorities", ListOf(Object(LinuxInterfacePriority)), None))


class LinuxRdma(Model):
    hca_handles: int | None
    hca_objects: int | None
    FIELDS = fields(("hca_handles", UINT32, None), ("hca_objects", UINT32, None))

    def check(self) -> None:
        if self.hca_handles is None and self.hca_objects is None:
            raise Invalid("", "at least one of hcaHandles and hcaObjects is required")


class LinuxResources(Model):
    """linux.resources; also the whole of `update --resources resources.json`."""

    devices: list[LinuxDeviceCgroup] | None
    memory: LinuxMemory | None
    cpu: LinuxCPU | None
    pids: LinuxPids | None
    block_io: LinuxBlockIO | None
    hugepage_limits: list[LinuxHugepageLimit] | None
    network: LinuxNetwork | None
    rdma: dict[str, LinuxRdma] | None  # by device name
    unified: dict[str, str] | None  # cgroup v2 file name -> content
    FIELDS = fields(
        ("devices", ListOf(Object(LinuxDeviceCgroup)), None),
        ("memory", Object(LinuxMemory), None),
        ("cpu", Object(LinuxCPU), None),
        ("pids", Object(LinuxPids), None),
        ("block_io", Object(LinuxBlockIO), None, "blockIO"),
        ("hugepage_limits", ListOf(Object(LinuxHugepageLimit)), None),
        ("network", Object(LinuxNetwork), None),
        ("rdma", MapOf(Object(LinuxRdma)), None),
        ("unified", MapOf(STR), None),
    )


# ---------------------------------------------------------------------------------------------
# linux: seccomp, other security and scheduling features


class LinuxSeccompArg(Model):
    index: int
    value: int
    value_two: int
    op: str
    FIELDS = fields(
        ("index", UINT32, REQUIRED),
        ("value", UINT64, REQUIRED),
        ("value_two", UINT64, 0),
        ("op", SECCOMP_OPERATOR, REQUIRED),
    )

    def check(self) -> None:
        require_uint64(self, ("value", "value"), ("value_two", "valueTwo"))


class LinuxSyscall(Model):
    names: list[str]
    action: str
    errno_ret: int | None  # default EPERM
    args: list[LinuxSeccompArg] | None
    FIELDS = fields(
        ("names", SYSCALL_NAMES, REQUIRED),
        ("action", SECCOMP_ACTION, REQUIRED),
        ("errno_ret", UINT32, None),
        ("args", ListOf(Object(LinuxSeccompArg)), None),
    )


class LinuxSeccomp(Model):
    default_action: str
    default_errno_ret: int | None  # default EPERM
    architectures: list[str] | None
    flags: list[str] | None
    listener_path: str | None
    listener_metadata: str | None
    syscalls: list[LinuxSyscall] | None
    FIELDS = fields(
        ("default_action", SECCOMP_ACTION, REQUIRED),
        ("default_errno_ret", UINT32, None),
        ("architectures", ListOf(SECCOMP_ARCH), None),
        ("flags", ListOf(SECCOMP_FLAG), None),
        ("listener_path", STR, None),
        ("listener_metadata", STR, None),
        ("syscalls", ListOf(Object(LinuxSyscall)), None),
    )

    def check(self) -> None:
        if self.listener_metadata is not None and self.listener_path is None:
            raise Invalid(".listenerMetadata", "must not be set without listenerPath")


class LinuxIntelRdt(Model):
    clos_id: str | None
    schemata: list[str] | None
    l3_cache_schema: str | None
    mem_bw_schema: str | None
    enable_monitoring: bool
    FIELDS = fields(
        ("clos_id", STR, None, "closID"),
        ("schemata", ListOf(SCHEMATA_LINE), None),
        ("l3_cache_schema", STR, None),
        ("mem_bw_schema", MEM_BW_SCHEMA, None),
        ("enable_monitoring", BOOL, False),
    )


class LinuxMemoryPolicy(Model):
    """set_mempolicy(2) for the container; nodes is a list like "0-3,7"."""

    mode: str
    nodes: str | None
    flags: list[str] | None
    FIELDS = fields(
        ("mode", MEMORY_POLICY_MODE, REQUIRED), ("nodes", STR, None), ("flags", ListOf(MEMORY_POLICY_FLAG), None)
    )


class LinuxPersonality(Model):
    domain: str
    flags: list[str] | None  # no flags are defined yet
    FIELDS = fields(("domain", PERSONALITY_DOMAIN, REQUIRED), ("flags", STRINGS, None))


class Linux(Model):
    uid_mappings: list[LinuxIDMapping] | None
    gid_mappings: list[LinuxIDMapping] | None
    sysctl: dict[str, str] | None
    resources: LinuxResources | None
    cgroups_path: str | None
    namespaces: list[LinuxNamespace] | None
    devices: list[LinuxDevice] | None
    net_devices: dict[str, LinuxNetDevice] | None  # by host interface name
    seccomp: LinuxSeccomp | None
    rootfs_propagation: str | None
    masked_paths: list[str] | None
    readonly_paths: list[str] | None
    mount_label: str | None
    intel_rdt: LinuxIntelRdt | None
    memory_policy: LinuxMemoryPolicy | None
    personality: LinuxPersonality | None
    time_offsets: dict[str, LinuxTimeOffset] | None  # by clock: "monotonic", "boottime"
    FIELDS = fields(
        ("uid_mappings", ID_MAPPINGS, None),
        ("gid_mappings", ID_MAPPINGS, None),
        ("sysctl", MapOf(STR), None),
        ("resources", Object(LinuxResources), None),
        ("cgroups_path", STR, None),
        ("namespaces", ListOf(Object(LinuxNamespace)), None),
        ("devices", ListOf(Object(LinuxDevice)), None),
        ("net_devices", MapOf(Object(LinuxNetDevice)), None),
        ("seccomp", Object(LinuxSeccomp), None),
        ("rootfs_propagation", ROOTFS_PROPAGATION, None),
        ("masked_paths", STRINGS, None),
        ("readonly_paths", STRINGS, None),
        ("mount_label", STR, None),
        ("intel_rdt", Object(LinuxIntelRdt), None),
        ("memory_policy", Object(LinuxMemoryPolicy), None),
        ("personality", Object(LinuxPersonality), None),
        ("time_offsets", MapOf(Object(LinuxTimeOffset)), None),
    )

    def check(self) -> None:
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


def _semver_major(version: str) -> str | None:
    """The major version of a SemVer 2.0.0 version ("1.2.3-rc.1+build"), or None if it is not one."""
    core, plus, build = version.partition("+")
    if plus and not all(_ascii_word(part) for part in build.split(".")):
        return None
    core, dash, pre = core.partition("-")
    if dash and not all(_prerelease_part(part) for part in pre.split(".")):
        return None
    numbers = core.split(".")
    if len(numbers) != 3 or not all(_number(n) for n in numbers):
        return None
    return numbers[0]


def _number(text: str) -> bool:
    """0, or a digit 1-9 followed by decimal digits (as \\d reads them)."""
    return text == "0" or (text[:1] in _DIGITS - {"0"} and text.isdecimal())


_WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")


def _ascii_word(text: str) -> bool:
    return bool(text) and _WORD.issuperset(text)


def _prerelease_part(text: str) -> bool:
    """A number without leading zeros, or decimal digits then a letter or - then [0-9A-Za-z-]*."""
    if _number(text):
        return True
    rest = text.lstrip("".join(c for c in text if c.isdecimal()))
    return bool(rest) and rest[0] in _WORD - _DIGITS and _WORD.issuperset(rest)


class Spec(Model):
    """config.json. ``process`` may be absent at `create` but is required by `start`; ``root`` is
    required on every platform but Windows."""

    oci_version: str
    process: Process | None
    root: Root
    hostname: str | None
    domainname: str | None
    mounts: list[Mount] | None
    hooks: Hooks | None
    annotations: dict[str, str] | None
    linux: Linux | None
    solaris: dict[str, Any] | None
    windows: dict[str, Any] | None
    vm: dict[str, Any] | None
    zos: dict[str, Any] | None
    freebsd: dict[str, Any] | None
    FIELDS = fields(
        ("oci_version", STR, REQUIRED),
        ("process", Object(Process), None),
        ("root", Object(Root), REQUIRED),
        ("hostname", STR, None),
        ("domainname", STR, None),
        ("mounts", ListOf(Object(Mount)), None),
        ("hooks", Object(Hooks), None),
        ("annotations", MapOf(STR), None),
        ("linux", Object(Linux), None),
        ("solaris", OTHER_PLATFORM, None),
        ("windows", OTHER_PLATFORM, None),
        ("vm", OTHER_PLATFORM, None),
        ("zos", OTHER_PLATFORM, None),
        ("freebsd", OTHER_PLATFORM, None),
    )

    def check(self) -> None:
        major = _semver_major(self.oci_version)
        if major is None:
            raise Invalid(".ociVersion", f"{quote(self.oci_version)} is not a SemVer version")
        if major != "1":
            raise Invalid(".ociVersion", f"unsupported version {quote(self.oci_version)}: lading implements 1.x")
        if self.annotations and "" in self.annotations:
            raise Invalid('.annotations[""]', "annotation keys must not be empty")
