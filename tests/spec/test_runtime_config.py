"""Decoding config.json: runc's defaults, a config using every field, and one clear line per bad input."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lading.errors import LadingError, NotFoundError
from lading.spec.decode import decode, decode_config, load_config
from lading.spec.defaults import default_config
from lading.spec.model import REQUIRED, ListOf, MapOf, Model, Object, to_builtins
from lading.spec.runtime_config import LinuxResources, Process, Spec

DATA = Path(__file__).parent / "data"
MAXIMAL = (DATA / "maximal-config.json").read_bytes()


def runc_spec(tmp_path: Path, *flags: str) -> bytes:
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    subprocess.run(["runc", "spec", *flags], cwd=tmp_path, check=True)
    return (tmp_path / "config.json").read_bytes()


@pytest.mark.parametrize("flags", [(), ("--rootless",)])
def test_runc_default_config_decodes(tmp_path: Path, flags: tuple[str, ...]) -> None:
    raw = runc_spec(tmp_path, *flags)
    spec = load_config(tmp_path / "config.json")
    assert spec.process is not None and spec.process.args == ["sh"]
    assert spec.process.user.uid == 0 and spec.process.no_new_privileges
    assert spec.root.path == "rootfs" and spec.root.readonly
    assert spec.linux is not None and spec.linux.namespaces is not None
    assert to_builtins(spec) == json.loads(raw)


@pytest.mark.parametrize("rootless", [False, True])
def test_our_default_config_decodes(rootless: bool) -> None:
    config = default_config(rootless=rootless, args=["echo", "hi"])
    spec = decode_config(json.dumps(config).encode())
    assert spec.process is not None and spec.process.args == ["echo", "hi"]
    assert to_builtins(spec) == config


def test_maximal_config_round_trips() -> None:
    spec = decode_config(MAXIMAL)
    assert to_builtins(spec) == json.loads(MAXIMAL)


def test_maximal_config_sets_every_field_of_every_model() -> None:
    """The maximal config really is maximal: every field of every model reachable from Spec is set."""
    models: set[type[Model]] = set()

    def collect(rule: Any) -> None:
        if isinstance(rule, Object):
            if rule.model in models:
                return
            models.add(rule.model)
            for f in rule.model.FIELDS:
                collect(f.rule)
        elif isinstance(rule, ListOf):
            collect(rule.item)
        elif isinstance(rule, MapOf):
            collect(rule.value)

    collect(Object(Spec))
    seen: set[tuple[str, str]] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Model):
            for f in value.FIELDS:
                v = getattr(value, f.attr)
                default = f.factory() if f.factory else f.default
                if f.default is REQUIRED or v != default:
                    seen.add((type(value).__name__, f.attr))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    walk(decode_config(MAXIMAL))
    every = {(m.__name__, f.attr) for m in models for f in m.FIELDS}
    assert sorted(every - seen) == []
    assert len(models) >= 35  # the traversal really reached the models


def test_snake_case_attributes_and_json_spellings() -> None:
    spec = decode_config(MAXIMAL)
    assert spec.oci_version == "1.3.0"
    p = spec.process
    assert p is not None
    assert (p.no_new_privileges, p.oom_score_adj, p.apparmor_profile) == (True, -1000, "acme_secure_profile")
    assert p.user.additional_gids == [5, 6] and p.console_size is not None and p.console_size.width == 80
    assert p.io_priority is not None and p.io_priority.class_ == "IOPRIO_CLASS_IDLE"
    assert p.exec_cpu_affinity is not None and p.exec_cpu_affinity.final == "0-3,7"
    assert spec.hooks is not None and spec.hooks.create_runtime is not None
    linux = spec.linux
    assert linux is not None and linux.cgroups_path == "/myRuntime/myContainer"
    assert linux.rootfs_propagation == "slave" and linux.mount_label is not None
    assert linux.uid_mappings is not None and linux.uid_mappings[0].host_id == 1000
    assert linux.time_offsets is not None and linux.time_offsets["boottime"].secs == -604800
    r = linux.resources
    assert r is not None and r.block_io is not None and r.block_io.throttle_write_iops_device is not None
    assert r.memory is not None and (r.memory.kernel_tcp, r.memory.disable_oom_killer) == (-1, False)
    assert r.cpu is not None and r.cpu.realtime_runtime == 950000
    assert r.network is not None and r.network.class_id == 1048577
    assert r.hugepage_limits is not None and r.hugepage_limits[0].page_size == "2MB"
    s = linux.seccomp
    assert s is not None and (s.default_action, s.default_errno_ret) == ("SCMP_ACT_ERRNO", 38)
    assert s.syscalls is not None and s.syscalls[1].errno_ret == 1
    assert s.syscalls[1].args is not None and s.syscalls[1].args[0].value_two == 8
    assert linux.intel_rdt is not None and linux.intel_rdt.clos_id == "guaranteed_group"


def test_absent_optional_fields_are_none_and_defaults_apply() -> None:
    spec = decode_config(b'{"ociVersion": "1.0.2-dev", "root": {"path": "rootfs"}}')
    assert spec.process is None and spec.linux is None and spec.mounts is None and spec.hooks is None
    assert spec.root.readonly is False
    process = decode(b'{"cwd": "/", "args": ["sh"]}', Process, "process.json")
    assert process.user.uid == 0 and process.user.gid == 0 and process.terminal is False
    assert process.env is None and process.oom_score_adj is None and process.capabilities is None


def test_unknown_fields_and_annotations_are_ignored() -> None:
    config = default_config()
    config["someFutureField"] = {"x": [1, 2]}
    config["process"]["someFutureProcessField"] = True
    config["process"]["user"]["uidName"] = "root"
    config["linux"]["namespaces"][0]["someFutureNsField"] = 1
    config["linux"]["resources"]["someFutureController"] = {"limit": 1}
    config["linux"]["intelRdt"] = {"enableCMT": True, "enableMBM": True}  # dropped in 1.3.0
    config["annotations"] = {"org.opencontainers.unknown": "x", "com.example.anything": ""}
    spec = decode_config(json.dumps(config).encode())
    assert spec.annotations == {"org.opencontainers.unknown": "x", "com.example.anything": ""}
    assert spec.linux is not None and spec.linux.intel_rdt is not None


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with value=DELETE remove) the value at a dotted path; numeric parts index lists."""
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    elif isinstance(node, list) and key == len(node):
        node.append(value)
    else:
        node[key] = value


DELETE = object()

BAD_VALUES = [
    # wrong types
    ("process.user.uid", "root", '$.process.user.uid: expected an integer, got "root"'),
    ("process.user.gid", 1.5, "$.process.user.gid: expected an integer, got 1.5"),
    ("process.terminal", "yes", '$.process.terminal: expected a boolean, got "yes"'),
    ("process.args", "sh", '$.process.args: expected an array, got "sh"'),
    ("process.env.1", 7, "$.process.env[1]: expected a string, got 7"),
    ("process.user", None, "$.process.user: expected an object, got null"),
    ("root", ["rootfs"], '$.root: expected an object, got ["rootfs"]'),
    ("annotations", {"a": "b", "c": 1}, '$.annotations["c"]: expected a string, got 1'),
    (
        "linux.sysctl",
        {"net.ipv4.ip_forward": True},
        '$.linux.sysctl["net.ipv4.ip_forward"]: expected a string, got true',
    ),
    (
        "linux.resources.rdma",
        {"mlx5_1": {"hcaHandles": 1}, "mlx4_0": {"hcaObjects": "many"}},
        '$.linux.resources.rdma["mlx4_0"].hcaObjects: expected an integer, got "many"',
    ),
    # out of range
    ("process.user.uid", -1, "$.process.user.uid: expected an integer >= 0, got -1"),
    ("process.user.gid", 2**32, "$.process.user.gid: expected an integer <= 4294967295, got 4294967296"),
    ("process.user.umask", -2, "$.process.user.umask: expected an integer >= 0, got -2"),
    (
        "process.user.additionalGids",
        [1, -5],
        "$.process.user.additionalGids[1]: expected an integer >= 0, got -5",
    ),
    (
        "process.rlimits.0.hard",
        2**64,
        "$.process.rlimits[0].hard: expected an integer <= 18446744073709551615, got 18446744073709551616",
    ),
    (
        "linux.resources.cpu",
        {"realtimePeriod": 2**64},
        "$.linux.resources.cpu.realtimePeriod: expected an integer <= 18446744073709551615, got 18446744073709551616",
    ),
    ("process.oomScoreAdj", 1001, "$.process.oomScoreAdj: expected an integer <= 1000, got 1001"),
    ("process.oomScoreAdj", -1001, "$.process.oomScoreAdj: expected an integer >= -1000, got -1001"),
    ("process.rlimits.0.soft", -1, "$.process.rlimits[0].soft: expected an integer >= 0, got -1"),
    (
        "process.ioPriority",
        {"class": "IOPRIO_CLASS_BE", "priority": 8},
        "$.process.ioPriority.priority: expected an integer <= 7, got 8",
    ),
    (
        "hooks.poststart",
        [{"path": "/bin/true", "timeout": 0}],
        "$.hooks.poststart[0].timeout: expected an integer >= 1, got 0",
    ),
    (
        "linux.uidMappings",
        [{"containerID": 0, "hostID": -1, "size": 1}],
        "$.linux.uidMappings[0].hostID: expected an integer >= 0, got -1",
    ),
    (
        "linux.resources.memory",
        {"swappiness": 101},
        "$.linux.resources.memory.swappiness: expected an integer <= 100, got 101",
    ),
    (
        "linux.resources.memory",
        {"limit": 2**63},
        "$.linux.resources.memory.limit: expected an integer <= 9223372036854775807, got 9223372036854775808",
    ),
    (
        "linux.resources.blockIO",
        {"weight": 65536},
        "$.linux.resources.blockIO.weight: expected an integer <= 65535, got 65536",
    ),
    # bad enum values and patterns
    ("linux.namespaces.2", {"type": "foo"}, '$.linux.namespaces[2].type: unknown namespace type "foo"'),
    ("linux.rootfsPropagation", "bogus", '$.linux.rootfsPropagation: unknown rootfs propagation "bogus"'),
    (
        "linux.seccomp",
        {"defaultAction": "SCMP_ACT_NOPE"},
        '$.linux.seccomp.defaultAction: unknown seccomp action "SCMP_ACT_NOPE"',
    ),
    (
        "linux.seccomp",
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "EQ"}]}],
        },
        '$.linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator "EQ"',
    ),
    (
        "linux.seccomp",
        {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]},
        '$.linux.seccomp.architectures[0]: unknown seccomp architecture "SCMP_ARCH_Z80"',
    ),
    (
        "linux.devices",
        [{"path": "/dev/x", "type": "z", "major": 1, "minor": 1}],
        '$.linux.devices[0].type: unknown device type "z"',
    ),
    (
        "process.scheduler",
        {"policy": "SCHED_FAST"},
        '$.process.scheduler.policy: unknown scheduler policy "SCHED_FAST"',
    ),
    (
        "linux.personality",
        {"domain": "LINUX64"},
        '$.linux.personality.domain: unknown personality domain "LINUX64"',
    ),
    (
        "linux.memoryPolicy",
        {"mode": "MPOL_ANY"},
        '$.linux.memoryPolicy.mode: unknown memory policy mode "MPOL_ANY"',
    ),
    (
        "process.rlimits.0.type",
        "nofile",
        '$.process.rlimits[0].type: expected a string matching ^RLIMIT_[A-Z]+$, got "nofile"',
    ),
    (
        "linux.resources.hugepageLimits",
        [{"pageSize": "2M", "limit": 1}],
        '$.linux.resources.hugepageLimits[0].pageSize: expected a string matching ^[1-9][0-9]*[KMG]B$, got "2M"',
    ),
    (
        "linux.resources.devices.0.access",
        "rwx",
        '$.linux.resources.devices[0].access: expected a string matching ^[rwm]*$, got "rwx"',
    ),
    (
        "linux.seccomp",
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]},
        "$.linux.seccomp.syscalls[0].names: expected a non-empty array, got []",
    ),
    # missing required fields
    ("process.cwd", DELETE, '$.process: missing required field "cwd"'),
    ("ociVersion", DELETE, '$: missing required field "ociVersion"'),
    ("root", DELETE, '$: missing required field "root"'),
    ("root.path", DELETE, '$.root: missing required field "path"'),
    ("process.user.gid", DELETE, '$.process.user: missing required field "gid"'),
    ("mounts.0.destination", DELETE, '$.mounts[0]: missing required field "destination"'),
    ("linux.namespaces.0.type", DELETE, '$.linux.namespaces[0]: missing required field "type"'),
    ("hooks.prestart", [{"args": ["x"]}], '$.hooks.prestart[0]: missing required field "path"'),
    ("process.rlimits.0.hard", DELETE, '$.process.rlimits[0]: missing required field "hard"'),
    (
        "linux.devices",
        [{"path": "/dev/x", "type": "c", "minor": 1}],
        '$.linux.devices[0]: missing required field "major" (required unless type is "p")',
    ),
    # values the spec forbids
    ("ociVersion", "2.0.0", '$.ociVersion: unsupported version "2.0.0": lading implements 1.x'),
    ("ociVersion", "1.0", '$.ociVersion: "1.0" is not a SemVer version'),
    ("process.cwd", "root", '$.process.cwd: expected an absolute path, got "root"'),
    ("process.args", [], "$.process.args: at least one argument is required"),
    ("process.args", DELETE, "$.process.args: at least one argument is required"),
    (
        "process.rlimits.1",
        {"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1},
        '$.process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE"',
    ),
    (
        "hooks.createRuntime",
        [{"path": "hook.sh"}],
        '$.hooks.createRuntime[0].path: expected an absolute path, got "hook.sh"',
    ),
    ("linux.namespaces.5", {"type": "pid"}, '$.linux.namespaces[5].type: duplicate namespace type "pid"'),
    (
        "linux.namespaces.0.path",
        "proc/1/ns/pid",
        '$.linux.namespaces[0].path: expected an absolute path, got "proc/1/ns/pid"',
    ),
    (
        "linux.maskedPaths.1",
        "proc/asound",
        '$.linux.maskedPaths[1]: expected an absolute path, got "proc/asound"',
    ),
    ("linux.readonlyPaths.0", "sys", '$.linux.readonlyPaths[0]: expected an absolute path, got "sys"'),
    (
        "linux.devices",
        [{"path": "dev/x", "type": "p"}],
        '$.linux.devices[0].path: expected an absolute path, got "dev/x"',
    ),
    (
        "linux.timeOffsets",
        {"realtime": {"secs": 1}},
        '$.linux.timeOffsets["realtime"]: unknown clock "realtime"',
    ),
    (
        "mounts.7",
        {"destination": "/x", "uidMappings": []},
        "$.mounts[7]: uidMappings and gidMappings must be given together, gidMappings is missing",
    ),
    (
        "linux.resources.blockIO",
        {"weightDevice": [{"major": 8, "minor": 0}]},
        "$.linux.resources.blockIO.weightDevice[0]: at least one of weight and leafWeight is required",
    ),
    (
        "linux.resources.rdma",
        {"mlx": {}},
        '$.linux.resources.rdma["mlx"]: at least one of hcaHandles and hcaObjects is required',
    ),
    (
        "linux.seccomp",
        {"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"},
        "$.linux.seccomp.listenerMetadata: must not be set without listenerPath",
    ),
    ("annotations", {"": "x"}, '$.annotations[""]: annotation keys must not be empty'),
]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    BAD_VALUES,
    ids=[m.split(":")[0] + " " + m.split(": ", 1)[1][:30] for _, _, m in BAD_VALUES],
)
def test_bad_value_gives_one_line(path: str, value: Any, message: str) -> None:
    config = copy.deepcopy(default_config())
    _set(config, path, value)
    with pytest.raises(LadingError) as e:
        decode_config(json.dumps(config, indent=4).encode())
    assert str(e.value) == f"config.json: {message}"
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{\n  "ociVersion": "1.0.0",\n  "root": }', "malformed JSON at line 3 column 11: expecting value"),
        (
            b'{"ociVersion": "1.0.0",}',
            "malformed JSON at line 1 column 24: expecting property name enclosed in double quotes",
        ),
        (b'{"ociVersion": "1.0.0"', "malformed JSON at line 1 column 23: expecting ',' delimiter"),
        (b'{"ociVersion": "1.0.0"} {}', "malformed JSON at line 1 column 25: extra data"),
        (b'{"ociVersion": NaN}', "malformed JSON at line 1 column 16: invalid character"),
        (b"", "malformed JSON: the document is empty"),
        (b"  \n", "malformed JSON: the document is empty"),
        (b'{"ociVersion": "\xff"}', "malformed JSON: invalid UTF-8 at byte 16"),
        (b"[]", "$: expected an object, got []"),
        (b"null", "$: expected an object, got null"),
    ],
)
def test_malformed_document_gives_one_line(raw: bytes, message: str) -> None:
    with pytest.raises(LadingError) as e:
        decode_config(raw)
    assert str(e.value) == f"config.json: {message}"


def test_long_values_are_shortened() -> None:
    config = default_config()
    config["process"]["user"]["uid"] = "x" * 200
    with pytest.raises(LadingError) as e:
        decode_config(json.dumps(config).encode())
    assert str(e.value) == f'config.json: $.process.user.uid: expected an integer, got "{"x" * 56}...'


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    with pytest.raises(NotFoundError) as e:
        load_config(path)
    assert str(e.value) == f"{path}: no such file"
    path.mkdir()
    with pytest.raises(LadingError) as e2:
        load_config(path)
    assert str(e2.value) == f"{path}: is a directory"
    path.rmdir()
    path.write_text('{"ociVersion": "1.0.0", "root": {"path": 1}}')
    with pytest.raises(LadingError) as e3:
        load_config(str(path))
    assert str(e3.value) == f"{path}: $.root.path: expected a string, got 1"


def test_generic_decode_for_other_documents() -> None:
    resources = decode(b'{"memory": {"limit": 1048576}, "pids": {"limit": -1}}', LinuxResources, "resources.json")
    assert resources.memory is not None and resources.memory.limit == 1048576
    assert resources.pids is not None and resources.pids.limit == -1
    with pytest.raises(LadingError) as e:
        decode(b'{"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": "x"}}', Process, "process.json")
    assert str(e.value) == 'process.json: $.user.gid: expected an integer, got "x"'


GO_NAMES = [
    "Spec",
    "Process",
    "User",
    "Box",
    "LinuxCapabilities",
    "POSIXRlimit",
    "Root",
    "Mount",
    "Hooks",
    "Hook",
    "Linux",
    "LinuxNamespace",
    "LinuxIDMapping",
    "LinuxDevice",
    "LinuxResources",
    "LinuxMemory",
    "LinuxCPU",
    "LinuxPids",
    "LinuxBlockIO",
    "LinuxWeightDevice",
    "LinuxThrottleDevice",
    "LinuxHugepageLimit",
    "LinuxNetwork",
    "LinuxInterfacePriority",
    "LinuxRdma",
    "LinuxDeviceCgroup",
    "LinuxSeccomp",
    "LinuxSyscall",
    "LinuxSeccompArg",
    "LinuxIntelRdt",
    "LinuxPersonality",
    "LinuxTimeOffset",
    "Scheduler",
    "IOPriority",
    "ExecCPUAffinity",
    "LinuxMemoryPolicy",
    "LinuxNetDevice",
]


def test_models_are_named_after_the_go_bindings() -> None:
    import lading.spec.runtime_config as rc

    for name in GO_NAMES:
        assert issubclass(getattr(rc, name), Model), name


def test_annotations_and_field_tables_agree() -> None:
    """mypy reads the annotations, the decoder the FIELDS: every attribute is in both, and a field
    is ``X | None`` exactly when absent means None."""
    import lading.spec.runtime_config as rc

    for name in GO_NAMES:
        model = getattr(rc, name)
        annotations = model.__annotations__
        assert set(annotations) == {f.attr for f in model.FIELDS}, name
        for f in model.FIELDS:
            assert annotations[f.attr].endswith("| None") == (f.default is None and f.factory is None), (name, f.attr)
