"""`lading features` (features.md, features-linux.md): well formed, and true: every namespace and
mount option it lists works in a real container, and what it says is unsupported is refused."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from lading import OCI_VERSION
from tests.support import lading_argv, lading_env

# Point this at runtime-spec's schema/ directory to validate against features-schema.json.
SCHEMA_DIR = os.environ.get("OCI_RUNTIME_SPEC_SCHEMA_DIR", "")

# The namespace types of config-linux.md and their /proc/PID/ns names.
NS_FILES = {
    "mount": "mnt",
    "pid": "pid",
    "network": "net",
    "uts": "uts",
    "ipc": "ipc",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}
# Options whose effect shows in a mount's per-mount flags or propagation (mountinfo fields 6, 7).
VISIBLE = {
    "ro": "ro",
    "idmap": "idmapped",
    "ridmap": "idmapped",
    "rro": "ro",
    "nosuid": "nosuid",
    "rnosuid": "nosuid",
    "nodev": "nodev",
    "rnodev": "nodev",
    "noexec": "noexec",
    "rnoexec": "noexec",
    "noatime": "noatime",
    "rnoatime": "noatime",
    "nodiratime": "nodiratime",
    "rnodiratime": "nodiratime",
    "nosymfollow": "nosymfollow",
    "rnosymfollow": "nosymfollow",
    "shared": "shared:",
    "rshared": "shared:",
    "unbindable": "unbindable",
    "runbindable": "unbindable",
}
# ... or in the superblock's options (field 11)
VISIBLE_SUPER = {"sync": "sync", "dirsync": "dirsync", "lazytime": "lazytime"}


@pytest.fixture(scope="module")
def features() -> dict[str, Any]:
    import subprocess

    out = subprocess.run(
        [*lading_argv(), "features"], capture_output=True, text=True, check=True, env=lading_env()
    ).stdout
    found: dict[str, Any] = json.loads(out)
    return found


def test_the_versions_and_the_hooks(features):
    assert features["ociVersionMin"] == "1.0.0" and features["ociVersionMax"] == OCI_VERSION
    expected = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    assert features["hooks"] == expected


def test_what_lading_does_not_implement_is_said_so(features):
    linux = features["linux"]
    assert linux["intelRdt"] == {"enabled": False}
    assert linux["netDevices"] == {"enabled": False}
    assert linux["cgroup"] == {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": True}
    assert features["potentiallyUnsafeConfigAnnotations"] == []


def test_id_mapped_mounts_are_listed(features):
    """tests/userns/test_idmapped_mounts.py runs them."""
    assert features["linux"]["mountExtensions"] == {"idmap": {"enabled": True}}
    assert {"idmap", "ridmap"} <= set(features["mountOptions"])


def test_security_features_are_those_the_init_applies(features):
    from lading.linux import capabilities
    from lading.runtime import seccomp

    linux = features["linux"]
    assert linux["capabilities"] == list(capabilities.NAMES)
    assert linux["seccomp"] == seccomp.features() and linux["seccomp"]["enabled"] is True
    assert linux["apparmor"] == {"enabled": True} and linux["selinux"] == {"enabled": True}
    version = features["annotations"]["io.github.seccomp.libseccomp.version"]
    assert re.fullmatch(r"2\.\d+\.\d+", version)


def test_each_listed_capability_reaches_a_container(features, lading, bundle):
    """All of them, as far as the host's own bounding set allows (asking for more fails create,
    as with runc)."""
    listed = features["linux"]["capabilities"]
    host_bounding = next(
        int(line.split()[1], 16)
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("CapBnd:")
    )
    held = [name for n, name in enumerate(listed) if host_bounding >> n & 1]
    bundle.config["process"]["capabilities"] = {"bounding": held, "effective": held, "permitted": held}
    bundle.write(args=["grep", "CapEff", "/proc/self/status"])
    inside = int(lading("run", "--bundle", str(bundle), f"caps-{os.getpid()}").stdout.split()[1], 16)
    assert inside == sum(1 << n for n in range(len(listed))) & host_bounding


@pytest.mark.skipif(not SCHEMA_DIR, reason="OCI_RUNTIME_SPEC_SCHEMA_DIR is not set")
def test_the_output_validates_against_the_features_schema(features):
    """linux.memoryPolicy is defined by features-linux.md but not yet by features-linux.json: its
    modes and flags are checked against the enums the config schema gives linux.memoryPolicy."""
    schemas = Schemas(Path(SCHEMA_DIR))
    linux = dict(features["linux"])
    policy = linux.pop("memoryPolicy")
    schemas.validate({**features, "linux": linux}, "features-schema.json")
    defs = schemas.doc("defs-linux.json")["definitions"]
    assert set(policy["modes"]) <= set(defs["MemoryPolicyMode"]["enum"]), policy
    assert set(policy["flags"]) <= set(defs["MemoryPolicyFlag"]["enum"]), policy


def test_a_small_validator_catches_what_the_schema_forbids(tmp_path):
    (tmp_path / "s.json").write_text(
        json.dumps(
            {
                "type": "object",
                "required": ["a"],
                "properties": {"a": {"$ref": "d.json#/definitions/name"}, "b": {"type": "array"}},
            }
        )
    )
    (tmp_path / "d.json").write_text(json.dumps({"definitions": {"name": {"type": "string", "enum": ["x"]}}}))
    schemas = Schemas(tmp_path)
    schemas.validate({"a": "x", "b": []}, "s.json")
    for bad in ({}, {"a": "y"}, {"a": 1}, {"a": "x", "b": {}}, {"a": "x", "c": 1}):
        with pytest.raises(AssertionError):
            schemas.validate(bad, "s.json")


@pytest.mark.parametrize("ns_type", sorted(NS_FILES))
def test_each_listed_namespace_can_be_created(features, lading, bundle, ns_type):
    assert ns_type in features["linux"]["namespaces"]
    name = NS_FILES[ns_type]
    linux = bundle.config["linux"]
    kinds = {"mount", ns_type} | ({"pid"} if ns_type == "user" else set())  # proc needs its own pidns
    linux["namespaces"] = [{"type": t} for t in sorted(kinds)]
    if ns_type == "user":
        # root to root: the bundle and state dirs live under pytest's 0700 tmp dirs
        linux["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    linux["maskedPaths"], linux["readonlyPaths"] = [], []
    if ns_type != "uts":
        del bundle.config["hostname"]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] in ("/proc", "/dev")]
    bundle.write(args=["readlink", f"/proc/self/ns/{name}"])
    inside = lading("run", "--bundle", str(bundle), f"ns-{ns_type}-{os.getpid()}").stdout.strip()
    assert inside.startswith(f"{name}:[") and inside != os.readlink(f"/proc/self/ns/{name}")


def test_each_listed_namespace_is_one_the_spec_defines(features):
    assert set(features["linux"]["namespaces"]) <= set(NS_FILES)


def test_each_listed_mount_option_works(features, lading, bundle, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    mounts = []
    for option in features["mountOptions"]:
        if option in ("bind", "rbind", "remount"):  # remount changes an existing mount: a bind here
            options = [option] if option != "remount" else ["bind", "remount", "ro"]
            mounts.append({"destination": f"/opts/{option}", "type": "bind", "source": str(source), "options": options})
        elif option in ("idmap", "ridmap"):  # a bind mount with its own mapping
            ids = [{"containerID": 0, "hostID": 1000, "size": 1}]
            mount = {"type": "bind", "source": str(source), "uidMappings": ids, "gidMappings": ids}
            mounts.append({"destination": f"/opts/{option}", **mount, "options": ["rbind", option]})
        else:
            mounts.append({"destination": f"/opts/{option}", "type": "tmpfs", "source": "tmpfs", "options": [option]})
    bundle.config["mounts"] += mounts
    bundle.config["root"]["readonly"] = False
    bundle.write(args=["cat", "/proc/self/mountinfo"])
    mountinfo = lading("run", "--bundle", str(bundle), f"opts-{os.getpid()}").stdout
    found: dict[str, tuple[list[str], list[str], list[str]]] = {}
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fields = pre.split()
        if fields[4].startswith("/opts/"):
            found[fields[4].removeprefix("/opts/")] = (
                fields[5].split(","),
                fields[6:],
                post.split()[2].split(","),
            )
    assert sorted(found) == sorted(features["mountOptions"])
    for option, (flags, optional, superblock) in found.items():
        if option in VISIBLE:
            want = VISIBLE[option]
            assert any(f.startswith(want) for f in flags + optional), (option, flags, optional)
        if option in VISIBLE_SUPER:
            assert VISIBLE_SUPER[option] in superblock, (option, superblock)
    assert "ro" in found["remount"][0]
    for option in ("strictatime", "rstrictatime"):
        assert not {"relatime", "noatime"} & set(found[option][0]), option


class Schemas:
    """Just enough JSON Schema (draft-04) for the runtime-spec schemas: $ref across files, type,
    enum, pattern, properties, patternProperties, required, items, allOf. Stricter than the
    schema in one way, as features.md asks: no property that the schema does not define."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.docs: dict[str, Any] = {}

    def doc(self, name: str) -> Any:
        if name not in self.docs:
            self.docs[name] = json.loads((self.directory / name).read_text())
        return self.docs[name]

    def validate(self, value: Any, name: str) -> None:
        self.check(value, self.doc(name), name, "$")

    def check(self, value: Any, schema: dict[str, Any], base: str, where: str) -> None:
        if "$ref" in schema:
            name, _, pointer = schema["$ref"].partition("#")
            node = self.doc(name or base)
            for part in pointer.strip("/").split("/") if pointer.strip("/") else []:
                node = node[part]
            self.check(value, node, name or base, where)
            return
        for sub in schema.get("allOf", []):
            self.check(value, sub, base, where)
        kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}
        if "type" in schema:
            kind = kinds[schema["type"]]
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            assert ok, f"{where}: expected {schema['type']}, got {value!r}"
        if "enum" in schema:
            assert value in schema["enum"], f"{where}: {value!r} is not one of {schema['enum']}"
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), f"{where}: {value!r} does not match {schema['pattern']}"
        if isinstance(value, dict):
            for key in schema.get("required", []):
                assert key in value, f"{where}: {key} is required"
            properties = schema.get("properties", {})
            patterns = schema.get("patternProperties", {})
            for key, item in value.items():
                matched = [s for p, s in patterns.items() if re.search(p, key)]
                assert key in properties or matched, f"{where}: {key} is not defined by the schema"
                for sub in ([properties[key]] if key in properties else []) + matched:
                    self.check(item, sub, base, f"{where}.{key}")
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                self.check(item, schema["items"], base, f"{where}[{i}]")
