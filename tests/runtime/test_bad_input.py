"""Every class of bad input: one clear line, exit status 1, and no half-made container."""

from __future__ import annotations

import json

import pytest


def assert_refused(lading, bundle, *expected: str, verb: str = "create") -> str:
    p = lading(verb, "-b", str(bundle), "c1", check=False)
    assert p.returncode == 1, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for part in expected:
        assert part in lines[0], lines[0]
    assert not lading.root.exists() or list(lading.root.iterdir()) == []
    return lines[0]


def test_missing_config(lading, bundle):
    assert_refused(lading, bundle, "config.json", "no such file")


def test_malformed_json(lading, bundle):
    (bundle.path / "config.json").write_text('{"ociVersion": "1.2.0",\n "process": {,}}')
    assert_refused(lading, bundle, "config.json", "malformed JSON", "line 2")


def test_wrong_type_names_the_json_path(lading, bundle):
    bundle.config["process"]["user"]["uid"] = "root"
    bundle.write()
    line = assert_refused(lading, bundle)
    assert line.endswith('config.json: $.process.user.uid: expected an integer, got "root"')


@pytest.mark.parametrize(
    "path,value,where",
    [
        (("process", "oomScoreAdj"), 5000, "$.process.oomScoreAdj"),
        (("process", "user", "uid"), -1, "$.process.user.uid"),
        (("linux", "namespaces"), [{"type": "bogus"}], "$.linux.namespaces[0].type"),
        (("process", "cwd"), "relative", "$.process.cwd"),
        (("process", "args"), [], "$.process.args"),
        (("ociVersion",), "two", "$.ociVersion"),
    ],
)
def test_out_of_range_and_invalid_values(lading, bundle, path, value, where):
    node = bundle.config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    bundle.write()
    assert_refused(lading, bundle, "config.json", where)


def test_missing_rootfs(lading, bundle):
    bundle.config["root"]["path"] = "nonexistent"
    bundle.write()
    assert_refused(lading, bundle, "$.root.path", "nonexistent")


def test_missing_executable(lading, bundle):
    bundle.write(args=["no-such-program"])
    assert_refused(lading, bundle, '"no-such-program"', "executable file not found in $PATH")


def test_missing_executable_by_path(lading, bundle):
    bundle.write(args=["/bin/nothing"])
    assert_refused(lading, bundle, "/bin/nothing", "no such file")


def test_missing_bind_mount_source(lading, bundle):
    bundle.config["mounts"].append({"destination": "/x", "type": "bind", "source": "/no/such/dir", "options": ["bind"]})
    bundle.write(args=["true"])
    assert_refused(lading, bundle, "$.mounts[7]", "/no/such/dir")


def test_run_refuses_like_create(lading, bundle):
    bundle.write(args=["no-such-program"])
    assert_refused(lading, bundle, "executable file not found", verb="run")


def test_unknown_command_and_missing_id(lading):
    assert lading("frobnicate", check=False).returncode == 1
    p = lading("state", check=False)
    assert p.returncode != 0 and "ID" in p.stderr


def test_operations_on_a_missing_container(lading):
    for verb in (["state"], ["start"], ["kill"], ["delete"]):
        p = lading(*verb, "ghost", check=False)
        assert p.returncode == 1 and "does not exist" in p.stderr, (verb, p.stderr)
    assert lading("delete", "--force", "ghost").returncode == 0


def test_errors_go_to_the_json_log_for_podman_and_containerd(lading, bundle, tmp_path):
    log = tmp_path / "log.json"
    bundle.write(args=["no-such-program"])
    p = lading("--log", str(log), "--log-format", "json", "create", "-b", str(bundle), "c1", check=False)
    assert p.returncode == 1
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    errors = [e for e in entries if e["level"] == "error"]
    assert errors and "executable file not found" in errors[-1]["msg"]
    assert {"level", "msg", "time"} <= errors[-1].keys()
