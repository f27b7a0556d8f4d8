"""The OCI state document and the Features structure: encode as the spec says, decode the spec's examples."""

from __future__ import annotations

import json

import msgspec

from lading.spec.decode import decode
from lading.spec.features import Features, IDMapFeatures, LinuxFeatures, MountExtensionsFeatures
from lading.spec.state import ContainerProcessState, State, encode_state


def test_state_encodes_with_spec_keys_and_omits_absent_fields() -> None:
    state = State(oci_version="1.3.0", id="c1", status="created", pid=4422, bundle="/containers/redis")
    assert json.loads(encode_state(state)) == {
        "ociVersion": "1.3.0",
        "id": "c1",
        "status": "created",
        "pid": 4422,
        "bundle": "/containers/redis",
    }
    stopped = State(oci_version="1.3.0", id="c1", status="stopped", bundle="/b", annotations={"k": "v"})
    assert json.loads(encode_state(stopped)) == {
        "ociVersion": "1.3.0",
        "id": "c1",
        "status": "stopped",
        "bundle": "/b",
        "annotations": {"k": "v"},
    }


def test_container_process_state_matches_the_spec_example() -> None:
    example = {
        "ociVersion": "1.0.2",
        "fds": ["seccompFd"],
        "pid": 4422,
        "metadata": "MKNOD=/dev/null,/dev/net/tun;BPF_MAP_TYPES=hash,array",
        "state": {
            "ociVersion": "1.0.2",
            "id": "oci-container1",
            "status": "creating",
            "pid": 4422,
            "bundle": "/containers/redis",
            "annotations": {"myKey": "myValue"},
        },
    }
    decoded = decode(json.dumps(example).encode(), ContainerProcessState, "state")
    assert decoded.state.status == "creating"
    assert json.loads(encode_state(decoded)) == example


FEATURES = {
    "ociVersionMin": "1.0.0",
    "ociVersionMax": "1.3.0",
    "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    "mountOptions": ["bind", "rbind", "ro", "nosuid"],
    "annotations": {"org.example.lading.version": "0.1.0"},
    "potentiallyUnsafeConfigAnnotations": ["org.example.lading.debug."],
    "linux": {
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
        "capabilities": ["CAP_CHOWN", "CAP_KILL"],
        "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
        "seccomp": {
            "enabled": True,
            "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"],
            "operators": ["SCMP_CMP_EQ"],
            "archs": ["SCMP_ARCH_X86_64"],
            "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"],
            "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG"],
        },
        "apparmor": {"enabled": False},
        "selinux": {"enabled": False},
        "intelRdt": {"enabled": False, "schemata": False, "monitoring": False},
        "memoryPolicy": {"modes": ["MPOL_DEFAULT", "MPOL_BIND"], "flags": ["MPOL_F_STATIC_NODES"]},
        "mountExtensions": {"idmap": {"enabled": True}},
        "netDevices": {"enabled": False},
    },
}


def test_features_round_trip_and_encode_only_what_is_set() -> None:
    features = decode(json.dumps(FEATURES).encode(), Features, "features.json")
    assert features.linux is not None and features.linux.seccomp is not None
    assert features.linux.seccomp.supported_flags == ["SECCOMP_FILTER_FLAG_LOG"]
    assert features.linux.cgroup is not None and features.linux.cgroup.systemd_user is False
    assert json.loads(msgspec.json.encode(features)) == FEATURES

    minimal = Features(
        oci_version_min="1.0.0",
        oci_version_max="1.3.0",
        linux=LinuxFeatures(mount_extensions=MountExtensionsFeatures(idmap=IDMapFeatures(enabled=False))),
    )
    assert json.loads(msgspec.json.encode(minimal)) == {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        "linux": {"mountExtensions": {"idmap": {"enabled": False}}},
    }
