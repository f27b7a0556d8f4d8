"""`lading container ...` run by the unprivileged test user: the store in its data directory, the
run root in its XDG_RUNTIME_DIR, each command root of a user and mount namespace of its own
(its uid as 0, its subordinate ids after), the kernel's overlay mounted there with userxattr.
Checked beside rootless podman on the same image, and for leaks: no process, no mount."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.image import IMAGE_NAME
from tests.clients.runtimes import RUNC
from tests.image.conftest import BuiltImages
from tests.userns.support import UnprivilegedUser, user_python
from tests.userns.test_rootless_podman import RootlessPodman, podman  # noqa: F401 (the fixture)

# who the container is, its maps, a file written as root and as a subordinate id, a device
SCRIPT = (
    "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; echo written > /tmp/f; cat /tmp/f;"
    " touch /tmp/g; chown 1000:1000 /tmp/g; ls -ln /tmp/g | cut -c1-30; ls -ln /dev/null | cut -c1-40"
)


class UserEngine:
    def __init__(self, user: UnprivilegedUser) -> None:
        self.user = user

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = (user_python(), "-m", "lading", "container", *args)
        return self.user.run(*argv, check=check, timeout=180, cwd=self.user.home)


def _mounts(user: UnprivilegedUser) -> list[str]:
    """Host mounts under the user's directories (other tests on the machine mount elsewhere)."""
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(user.home) in line]


@pytest.fixture
def engine(unprivileged: UnprivilegedUser, user_dir: Path, test_images: BuiltImages) -> Iterator[UserEngine]:
    layout = shutil.copytree(test_images.layout, user_dir / "layout")
    unprivileged.own(layout)
    for tag in ("busybox", "layers"):
        unprivileged.run(user_python(), "-m", "lading", "image", "import", f"{layout}:{tag}", f"localhost/{tag}:1")
    mounts = _mounts(unprivileged)
    e = UserEngine(unprivileged)
    yield e
    left = e("ps", "-aq").stdout.split()
    if left:
        e("rm", "-f", *left, check=False)
    store = unprivileged.home / ".local" / "share" / "lading"
    unprivileged.run(user_python(), "-m", "lading", "image", "rm", "localhost/busybox:1", check=False)
    unprivileged.run(user_python(), "-m", "lading", "image", "rm", "localhost/layers:1", check=False)
    assert not left, f"the test left containers: {left}"
    assert _mounts(unprivileged) == mounts == []
    assert not unprivileged.processes()
    assert [p.name for p in (store / "overlay").iterdir()] == ["l"]  # every layer went with its image
    assert not list((store / "overlay" / "l").iterdir())
    assert not list((unprivileged.runtime_dir / "lading-engine" / "containers").iterdir())


def test_rootless_run_rm_beside_podman(
    engine: UserEngine,
    podman: RootlessPodman,  # noqa: F811 (the fixture imported above)
    unprivileged: UnprivilegedUser,
) -> None:
    ours = engine("run", "--rm", "localhost/busybox:1", "sh", "-c", SCRIPT).stdout
    reference = podman("run", "--rm", "--runtime", RUNC, IMAGE_NAME, "sh", "-c", SCRIPT).stdout
    assert ours == reference
    lines = ours.splitlines()
    assert lines[:2] == ["0", "0"]
    assert lines[2].split() == ["0", str(unprivileged.uid), "1"]
    assert lines[3].split() == ["1", str(unprivileged.subuid[0]), str(unprivileged.subuid[1])]
    assert engine("run", "--rm", "localhost/busybox:1", "echo", "hi").stdout == "hi\n"
    assert engine("ps", "-aq").stdout == ""


def test_rootless_detached_logs_stop_rm(engine: UserEngine, unprivileged: UnprivilegedUser) -> None:
    script = "echo hi; echo root > /root-file; touch /sub-file; chown 1000:1000 /sub-file; exec sleep 1000"
    cid = engine("run", "-d", "localhost/busybox:1", "sh", "-c", script).stdout.strip()
    while "hi" not in engine("logs", cid).stdout:
        pass
    assert engine("logs", cid).stdout == "hi\n"
    store = unprivileged.home / ".local" / "share" / "lading"
    uppers = list((store / "overlay").glob("*/diff/root-file"))
    assert len(uppers) == 1
    upper = uppers[0].parent
    assert (upper / "root-file").stat().st_uid == unprivileged.uid
    sub = upper / "sub-file"
    assert (sub.stat().st_uid, sub.stat().st_gid) == (unprivileged.subuid[0] + 999, unprivileged.subgid[0] + 999)
    assert (unprivileged.runtime_dir / "lading-engine" / "containers" / cid).is_dir()
    # exec joins the namespaces of the container's monitor: the container's own are beneath them
    assert engine("exec", cid, "sh", "-c", "id -u; cat /root-file; stat -c '%u %g' /sub-file").stdout == (
        "0\nroot\n1000 1000\n"
    )
    engine("stop", "-t", "1", cid)
    assert engine("ps", "-q").stdout == ""
    engine("rm", cid)
    assert not upper.exists()
    assert engine("ps", "-aq").stdout == ""


def test_rootless_layers_whiteouts_and_owners(engine: UserEngine) -> None:
    """Whiteouts and an opaque directory, unpacked for a userxattr overlay, hide what they should;
    an image's non-root owner is the container's."""
    script = "ls /opt /data; ls /bin/vi 2>&1; ls -ln /etc/motd | cut -c1-30; ls -lnd /home/app | cut -c1-30"
    out = engine("run", "--rm", "localhost/layers:1", "sh", "-c", script).stdout
    assert out.splitlines() == [
        "/data:",
        "new",
        "",
        "/opt:",
        "keep",
        "ls: /bin/vi: No such file or directory",
        "-rw-------    1 1        1    ",
        "drwxr-xr-x    2 1        1    ",
    ]


def test_rootless_host_network_and_limits(engine: UserEngine) -> None:
    """The host's network namespace (its /sys bound, not mounted); a limit without a delegated
    cgroup is one line, status 125, and no container."""
    assert engine("run", "--rm", "--network", "host", "localhost/busybox:1", "ls", "/sys/class/net/lo").returncode == 0
    p = engine("run", "--rm", "--memory", "10m", "localhost/busybox:1", "true", check=False)
    assert p.returncode == 125
    assert p.stderr.startswith("Error: cgroup: cannot create ") and len(p.stderr.splitlines()) == 1
    assert p.stderr.endswith(": resource limits need a cgroup delegated to this user\n")
    assert engine("ps", "-aq").stdout == ""


def test_rootless_with_only_the_users_own_ids(engine: UserEngine, unprivileged: UnprivilegedUser) -> None:
    """The engine as root of a namespace mapping only the user's own ids, with setgroups denied
    (what a user without /etc/subuid entries gets; made here with unshare -rm): no additional
    groups, and devpts without a gid that is not mapped."""
    roots = ["--storage-root", str(unprivileged.home / ".local/share/lading")]
    roots += ["--run-root", str(unprivileged.runtime_dir / "lading-engine")]
    script = "id -u; cat /proc/self/setgroups; echo ok > /tmp/f; cat /tmp/f"
    argv = [user_python(), "-m", "lading", "container", *roots, "run", "--rm", "localhost/busybox:1", "sh", "-c"]
    p = unprivileged.run("unshare", "-rm", *argv, script, cwd=unprivileged.home)
    assert p.stdout == "0\ndeny\nok\n"


def test_rootless_refuses_a_process_it_could_not_stop(engine: UserEngine) -> None:
    """A container whose init is not root could not be signalled by a later command: refused in
    one line, status 125, nothing left."""
    p = engine("run", "-d", "--user", "1000", "localhost/busybox:1", "sleep", "100", check=False)
    assert (p.returncode, p.stdout) == (125, "")
    assert p.stderr == "Error: rootless: the container's process runs as uid 1000; only root (0) can be stopped later\n"
    assert engine("ps", "-aq").stdout == ""
