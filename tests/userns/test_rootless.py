"""lading run by an unprivileged user, beside runc run by the same user on the same bundle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.clients.runtimes import RUNC
from tests.conftest import Bundle
from tests.spec.test_cli_spec import as_current_runc
from tests.support import Lading, runtime_entries
from tests.userns.support import UnprivilegedUser, user_python, without_id_helpers


def test_rootless_run_maps_the_user_to_root(
    rootless: Lading, user_bundle: Bundle, unprivileged: UnprivilegedUser
) -> None:
    user_bundle.config["root"]["readonly"] = False
    user_bundle.write(args=["sh", "-c", "id; touch /tmp/made-inside"])
    p = rootless("run", "--bundle", str(user_bundle), "c1")
    assert "uid=0(root) gid=0(root)" in p.stdout
    made = user_bundle.rootfs / "tmp" / "made-inside"
    assert (made.stat().st_uid, made.stat().st_gid) == (unprivileged.uid, unprivileged.gid)


def test_rootless_state_root_follows_xdg_runtime_dir(unprivileged: UnprivilegedUser, user_dir: Path) -> None:
    p = unprivileged.run(user_python(), "-m", "lading", "list", "--quiet")
    assert p.stdout == ""
    made = unprivileged.runtime_dir / "lading"
    assert made.is_dir() and made.stat().st_uid == unprivileged.uid


def test_rootless_run_matches_runc(rootless: Lading, user_bundle: Bundle, unprivileged: UnprivilegedUser) -> None:
    """The same bundle, run by the same user with runc: the container sees the same."""
    script = (
        "id; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; ls -ln /dev/null; grep -c . /proc/mounts"
    )
    user_bundle.write(args=["sh", "-c", script])
    runc = unprivileged.run(RUNC, "--root", str(rootless.tmp / "runc"), "run", "--bundle", str(user_bundle), "r1")
    lading = rootless("run", "--bundle", str(user_bundle), "l1")
    assert lading.stdout.split("\n")[:-2] == runc.stdout.split("\n")[:-2]
    assert "deny" in lading.stdout


def test_rootless_ranges_go_through_newuidmap(
    rootless: Lading, user_bundle: Bundle, unprivileged: UnprivilegedUser
) -> None:
    """Root is the user; container ids 1.. are its subordinate ids from /etc/subuid and /etc/subgid."""
    linux = user_bundle.config["linux"]
    for key, own, (first, count) in (
        ("uidMappings", unprivileged.uid, unprivileged.subuid),
        ("gidMappings", unprivileged.gid, unprivileged.subgid),
    ):
        linux[key] = [{"containerID": 0, "hostID": own, "size": 1}, {"containerID": 1, "hostID": first, "size": count}]
    for kind in ("bounding", "effective", "permitted"):
        user_bundle.config["process"]["capabilities"][kind].append("CAP_CHOWN")
    user_bundle.config["root"]["readonly"] = False
    user_bundle.write(args=["sh", "-c", "touch /tmp/f && chown 1000:1000 /tmp/f && cat /proc/self/setgroups"])
    assert rootless("run", "--bundle", str(user_bundle), "ranges").stdout == "allow\n"
    made = (user_bundle.rootfs / "tmp" / "f").stat()
    assert (made.st_uid, made.st_gid) == (unprivileged.subuid[0] + 999, unprivileged.subgid[0] + 999)


def test_rootless_ranges_without_newuidmap_fall_back_to_the_users_own_ids(
    rootless: Lading, user_bundle: Bundle, unprivileged: UnprivilegedUser
) -> None:
    """Without newuidmap and newgidmap, a config that maps subordinate ranges runs with only the
    user's own ids (as 0), with one line for each map saying what was left out."""
    linux = user_bundle.config["linux"]
    for key, own, (first, count) in (
        ("uidMappings", unprivileged.uid, unprivileged.subuid),
        ("gidMappings", unprivileged.gid, unprivileged.subgid),
    ):
        linux[key] = [{"containerID": 0, "hostID": own, "size": 1}, {"containerID": 1, "hostID": first, "size": count}]
    user_bundle.write(args=["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups"])
    rootless.prefix = [*without_id_helpers(), *rootless.prefix]
    p = rootless("run", "--bundle", str(user_bundle), "single")
    assert p.stdout.split() == ["0", str(unprivileged.uid), "1", "0", str(unprivileged.gid), "1", "deny"]
    assert [line.split(" msg=")[1] for line in p.stderr.splitlines() if "Mappings" in line] == [
        f'"config.json: $.linux.{key}: new{kind}map is not installed: only {kind} {own} is mapped, as 0; '
        f'other container {kind}s are not"'
        for key, kind, own in (("uidMappings", "uid", unprivileged.uid), ("gidMappings", "gid", unprivileged.gid))
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda u, c: c["linux"]["uidMappings"].append({"containerID": 1, "hostID": u.subuid[0] - 10, "size": 5}),
            "config.json: $.linux.uidMappings[1]: host uids {lo}-{hi} are neither this user's own uid ({uid}) "
            "nor in its range in /etc/subuid",
        ),
        (
            lambda u, c: c["linux"].update(resources={"pids": {"limit": 10}}),
            "resource limits need a cgroup delegated to this user",
        ),
        (
            lambda u, c: c["process"]["user"].update(additionalGids=[0]),
            "config.json: $.process.user.additionalGids: cannot be set when setgroups is denied",
        ),
        (
            lambda u, c: c["linux"]["namespaces"].remove({"type": "user"}),
            "config.json: $.linux.namespaces: a rootless container needs a user namespace",
        ),
    ],
)
def test_rootless_bad_input_is_one_line_and_leaves_nothing(
    rootless: Lading,
    user_bundle: Bundle,
    unprivileged: UnprivilegedUser,
    edit: Callable[[UnprivilegedUser, dict[str, Any]], None],
    message: str,
) -> None:
    edit(unprivileged, user_bundle.config)
    user_bundle.write(args=["true"])
    p = rootless("create", "--bundle", str(user_bundle), "bad", check=False)
    assert p.returncode == 1
    lo = unprivileged.subuid[0] - 10
    expected = message.format(lo=lo, hi=lo + 4, uid=unprivileged.uid)
    assert expected in p.stderr.strip().splitlines()[-1], p.stderr
    assert "Traceback" not in p.stderr
    assert not runtime_entries(rootless.root)


def test_rootless_spec_is_runcs(unprivileged: UnprivilegedUser, user_dir: Path) -> None:
    """`lading spec --rootless` run by the user: runc's, with the user's own ids."""
    for tool in ("runc", "lading"):
        (user_dir / tool).mkdir()
        unprivileged.own(user_dir / tool)
    unprivileged.run(RUNC, "spec", "--rootless", cwd=user_dir / "runc")
    unprivileged.run(user_python(), "-m", "lading", "spec", "--rootless", cwd=user_dir / "lading")
    ours = json.loads((user_dir / "lading" / "config.json").read_text())
    assert ours == as_current_runc(json.loads((user_dir / "runc" / "config.json").read_text()))
    assert ours["linux"]["uidMappings"] == [{"containerID": 0, "hostID": unprivileged.uid, "size": 1}]


def test_rootless_sysfs_without_a_network_namespace_is_bound_from_the_host(
    rootless: Lading, user_bundle: Bundle
) -> None:
    """Without its own network namespace a user namespace may not mount a new sysfs. runc 1.1
    then fails; lading binds the host's, as crun does (`spec --rootless` binds /sys itself)."""
    for m in user_bundle.config["mounts"]:
        if m["destination"] == "/sys":
            m.update(type="sysfs", source="sysfs", options=["nosuid", "noexec", "nodev", "ro"])
    user_bundle.write(args=["sh", "-c", "grep ' /sys ' /proc/self/mountinfo"])
    fields = rootless("run", "--bundle", str(user_bundle), "binds").stdout.split()
    assert fields[fields.index("-") + 1] == "sysfs"
    assert "ro" in fields[5].split(",")


def test_rootless_create_start_exec_delete(rootless: Lading, user_bundle: Bundle) -> None:
    user_bundle.write(args=["sleep", "60"])
    rootless("create", "--bundle", str(user_bundle), "life")
    assert rootless.state("life")["status"] == "created"
    rootless("start", "life")
    assert rootless("exec", "life", "sh", "-c", "id -u; cat /proc/1/cmdline").stdout == "0\nsleep\x0060\x00"
    # the runtime may not enter the container's PID namespace for its children: a stage 1 does
    assert "exec-stage-1[" in rootless("--debug", "exec", "life", "true").stderr
    rootless("kill", "life", "KILL")
    rootless("delete", "--force", "life")
    assert rootless("list", "--quiet").stdout == ""
