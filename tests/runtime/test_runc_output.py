"""What scripts and clients parse, byte for byte as runc prints it: `state` (indented, runc's field
order, annotations only when there are some), `list --format json` (compact, the owner's name,
null for none), `--version` (runc's lines), and a container from the default config that runs
without a warning with exactly runc's capabilities. Each is compared with runc on the same
bundle and container id (lading's cgroups are named after its root, so both can run at once)."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from tests.support import SRC, Lading, Runc

# What may differ between two runtimes' containers: their pids, creation times and spec versions.
_VARYING = re.compile(r'("pid": ?)\d+|("created": ?)"[^"]*"|("ociVersion": ?)"[^"]*"')


def normalized(text: str) -> str:
    return _VARYING.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "X", text)


@pytest.fixture
def both(lading: Lading, runc: Runc, bundle, cid):
    bundle.config["annotations"] = {"org.example/note": "a<b>&c é", "org.example/z": ""}
    bundle.write(args=["sleep", "1000"])
    for runtime in (lading, runc):
        runtime("run", "-d", "-b", str(bundle), cid)
        runtime.state(cid)
    yield lading, runc, cid
    for runtime in (lading, runc):
        runtime("delete", "-f", cid)


def test_state_is_runcs_bytes(both):
    lading, runc, cid = both
    ours, theirs = lading("state", cid).stdout, runc("state", cid).stdout
    assert normalized(ours) == normalized(theirs)
    assert '"annotations": {' in ours and "\\u003cb\\u003e\\u0026c é" in ours
    lading("kill", cid, "KILL")
    runc("kill", cid, "KILL")
    while "stopped" not in lading("state", cid).stdout or "stopped" not in runc("state", cid).stdout:
        time.sleep(0.02)
    assert normalized(lading("state", cid).stdout) == normalized(runc("state", cid).stdout)


def test_list_json_is_runcs_bytes(both):
    lading, runc, _ = both
    ours, theirs = lading("list", "--format", "json").stdout, runc("list", "--format", "json").stdout
    assert normalized(ours) == normalized(theirs)
    assert ours.startswith('[{"ociVersion":') and '"owner":"root"}]\n' in ours


def test_list_json_of_no_containers(lading, runc):
    runc.root.mkdir(parents=True)
    lading.root.mkdir(parents=True)
    assert lading("list", "-f", "json").stdout == runc("list", "-f", "json").stdout == "null\n"


def test_version_has_runcs_lines(lading, runc):
    ours = lading("--version").stdout.splitlines()
    theirs = runc("--version").stdout.splitlines()
    keys = [line.split(":")[0] if ":" in line else line.rsplit(" ", 1)[0] for line in theirs]
    assert keys == ["runc version", "commit", "spec", "go", "libseccomp"]
    from lading import OCI_VERSION, __version__

    commit_file = SRC / "lading" / "COMMIT"
    commit = [f"commit: {commit_file.read_text().strip()}"] if commit_file.exists() else []
    assert ours[0] == f"lading version {__version__}"
    assert ours[1:-2] == [*commit, f"spec: {OCI_VERSION}"]
    assert ours[-2].startswith("python: 3.") and re.fullmatch(r"libseccomp: \d+\.\d+\.\d+", ours[-1])
    assert theirs[-1] == ours[-1]  # the same library


def test_runcs_default_config_runs_quietly_with_runcs_capabilities(lading, runc, bundle, cid):
    """`runc spec` asks for ambient capabilities it does not make inheritable: runc raises none
    and says nothing."""
    subprocess.run([*runc.argv(), "spec"], cwd=bundle.path, check=True)
    config = json.loads((bundle.path / "config.json").read_text())
    assert config["process"]["capabilities"]["ambient"] and "inheritable" not in config["process"]["capabilities"]
    bundle.config = config
    bundle.write(args=["grep", "^Cap", "/proc/self/status"], terminal=False)
    ours, theirs = lading("run", "-b", str(bundle), cid), runc("run", "-b", str(bundle), cid)
    assert ours.stdout == theirs.stdout and "CapAmb:\t0000000000000000" in ours.stdout
    assert ours.stderr == theirs.stderr == ""


def test_list_table_has_runcs_columns(both):
    """runc's columns: at least 12 wide, 3 spaces after the longest value, the last as it is."""
    lading, runc, cid = both
    ours, theirs = lading("list").stdout.splitlines(), runc("list").stdout.splitlines()
    assert len(ours) == len(theirs) == 2

    def upto_created(line: str, header: str) -> str:  # the creation times may differ in length
        return re.sub(r"\d", "N", line[: header.index("CREATED")])

    assert upto_created(ours[0], ours[0]) == upto_created(theirs[0], theirs[0])
    assert upto_created(ours[1], ours[0]) == upto_created(theirs[1], theirs[0])
    assert ours[0].startswith("ID" + " " * (len(cid) + 1) + "PID" + " " * 9 + "STATUS" + " " * 6 + "BUNDLE")
    assert ours[0].endswith("   OWNER") and ours[1].endswith("Z   root")
