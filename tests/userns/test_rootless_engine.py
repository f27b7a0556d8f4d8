"""`lading container ...` run by the unprivileged test user: the store in its data directory, the
run root in its XDG_RUNTIME_DIR, every command root of the one user and mount namespace its
holder keeps (its uid as 0, its subordinate ids after), the kernel's overlay mounted there with
userxattr. Checked beside rootless podman on the same image, and for leaks: no process (the
holder included: it must end with the last container), no mount."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lading.spec.defaults import default_config
from tests.clients.image import IMAGE_NAME
from tests.clients.runtimes import RUNC
from tests.image.conftest import BuiltImages
from tests.support import pid_alive
from tests.userns.support import UnprivilegedUser, user_python, without_id_helpers
from tests.userns.test_rootless_podman import RootlessPodman, podman  # noqa: F401 (the fixture)

# who the container is, its maps, a file written as root and as a subordinate id, a device
SCRIPT = (
    "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; echo written > /tmp/f; cat /tmp/f;"
    " touch /tmp/g; chown 1000:1000 /tmp/g; ls -ln /tmp/g | cut -c1-30; ls -ln /dev/null | cut -c1-40"
)


class UserEngine:
    def __init__(self, user: UnprivilegedUser) -> None:
        self.user = user
        self.outer: list[str] = []  # run as root before the user's own prefix (without_id_helpers)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [*self.outer, *self.user.prefix(), user_python(), "-m", "lading", "container", *args]
        p = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=180, cwd=self.user.home)
        if check and p.returncode != 0:
            raise AssertionError(f"{args} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def settled_holder(self) -> int | None:
        """The holder once the monitors' exit commands (which end it after the last container)
        have finished."""
        while any(b"\0cleanup\0" in _cmdline(pid) for pid in self.user.processes()):
            os.sched_yield()
        return self.holder()

    def holder(self) -> int | None:
        """The PID of the namespace holder, if one is recorded and alive."""
        record = self.user.runtime_dir / "lading-engine" / "userns-holder"
        if not record.exists():
            return None
        pid = int(record.read_text().split()[0])
        return pid if pid_alive(pid) else None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _userns(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/user").st_ino


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    while pid_alive(pid):
        os.sched_yield()


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
    holder = e.settled_holder()
    if holder is not None:
        _kill(holder)
    assert not left, f"the test left containers: {left}"
    assert holder is None, "the namespace holder outlived the last container"
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


def test_rootless_process_as_another_user_beside_podman(
    engine: UserEngine,
    podman: RootlessPodman,  # noqa: F811 (the fixture imported above)
) -> None:
    """A container whose process is a subordinate id (--user 1000) runs, and a later command
    (another process, joining the holder's namespace) stops it, as with rootless podman."""
    script = "id -u; id -g; id -G; touch /tmp/f; stat -c '%u %g' /tmp/f"  # podman adds 1000 to /etc/passwd
    ours = engine("run", "--rm", "--user", "1000", "localhost/busybox:1", "sh", "-c", script).stdout
    reference = podman("run", "--rm", "--user", "1000", "--runtime", RUNC, IMAGE_NAME, "sh", "-c", script).stdout
    assert ours == reference == "1000\n0\n0\n1000 0\n"
    states = []
    for run in (engine, podman):
        image = ["localhost/busybox:1"] if run is engine else ["--runtime", RUNC, IMAGE_NAME]
        cid = run("run", "-d", "--user", "1000", *image, "sleep", "1000").stdout.strip()
        run("stop", "-t", "1", cid)
        states.append(run("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", cid).stdout)
        run("rm", cid)
    assert states[0] == states[1] == "exited 137\n"  # sleep, PID 1, ignores SIGTERM: killed
    assert engine("ps", "-aq").stdout == ""


def test_rootless_holder_keeps_one_namespace_for_every_command(
    engine: UserEngine, unprivileged: UnprivilegedUser
) -> None:
    """The holder lives while a container does, in the monitor's namespace; exec, logs, top,
    kill and rm -f reach a process running as a subordinate id; killed, the holder is replaced
    in the live monitor's namespace; it ends with the last container."""
    assert engine.holder() is None
    cid = engine("run", "-d", "--user", "1000", "localhost/busybox:1", "sh", "-c", "echo up; exec sleep 1000").stdout
    cid = cid.strip()
    holder = engine.holder()
    assert holder is not None
    init = int(engine("inspect", "-f", "{{.State.Pid}}", cid).stdout)
    userns = _userns(init)
    assert _userns(holder) == userns
    assert engine("exec", cid, "id", "-u").stdout == "1000\n"
    while engine("logs", cid).stdout != "up\n":
        pass
    top = engine("top", cid).stdout.splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"]
    assert [line.split()[1] for line in top[1:]] == [str(init)]
    assert top[1].endswith("sleep 1000")
    second = engine("run", "-d", "localhost/busybox:1", "sleep", "1000").stdout.strip()
    first_monitor, second_monitor = (
        _ppid(int(engine("inspect", "-f", "{{.State.Pid}}", c).stdout)) for c in (cid, second)
    )
    assert _ppid(second_monitor) == first_monitor  # forked from a live monitor: all share the mount namespace
    engine("rm", "-f", second)
    _kill(holder)  # as if killed by hand: the next command joins the live monitor's namespace
    assert engine("ps", "-q").stdout == cid[:12] + "\n"
    replaced = engine.holder()
    assert replaced not in (None, holder)
    assert replaced is not None and _userns(replaced) == userns
    assert engine("exec", cid, "id", "-u").stdout == "1000\n"
    engine("kill", cid)
    assert engine("wait", cid).stdout == "137\n"
    assert engine.settled_holder() is None  # no container runs: it ended
    engine("start", cid)
    assert engine.holder() is not None
    engine("rm", "-f", cid)
    assert engine.settled_holder() is None
    assert engine("ps", "-aq").stdout == ""


def test_rootless_engine_without_newuidmap(engine: UserEngine, unprivileged: UnprivilegedUser) -> None:
    """Without newuidmap and newgidmap the engine maps only the user's own ids: a layer's other
    owners become root's, said in one line; a --user that is not mapped is one line, 125."""
    engine.outer = without_id_helpers()
    p = engine("run", "--rm", "localhost/layers:1", "sh", "-c", "cat /proc/self/uid_map; stat -c '%u %g' /etc/motd")
    assert p.stdout.split() == ["0", str(unprivileged.uid), "1", "0", "0"]
    warnings = [line for line in p.stderr.splitlines() if "not mapped in this user namespace" in line]
    assert len(warnings) == 1 and "/etc/subuid" in warnings[0]
    assert engine("run", "--rm", "localhost/busybox:1", "true").stderr == ""
    p = engine("run", "--rm", "--user", "1000", "localhost/busybox:1", "true", check=False)
    assert (p.returncode, p.stdout) == (125, "")
    assert p.stderr == (
        "Error: rootless: uid 1000 is not mapped in this user's namespace "
        "(subordinate ids need newuidmap and newgidmap and ranges in /etc/subuid)\n"
    )
    assert engine("ps", "-aq").stdout == ""
    assert engine.settled_holder() is None


def test_rootless_concurrent_first_commands_make_one_holder(engine: UserEngine) -> None:
    """Commands started together with no holder: one makes it, the others join it, so every
    container is in the one namespace; removed together, the last of them ends the holder."""
    run = [*engine.user.prefix(), user_python(), "-m", "lading", "container", "run", "-d", "localhost/busybox:1"]
    starts = [
        subprocess.Popen([*run, "sleep", "1000"], stdout=subprocess.PIPE, text=True, cwd=engine.user.home)
        for _ in range(4)
    ]
    cids = [p.communicate(timeout=180)[0].strip() for p in starts]
    assert [p.returncode for p in starts] == [0] * 4
    holder = engine.holder()
    assert holder is not None
    inits = [int(engine("inspect", "-f", "{{.State.Pid}}", cid).stdout) for cid in cids]
    assert {_userns(pid) for pid in inits} == {_userns(holder)}
    removes = [
        subprocess.Popen([*engine.user.prefix(), user_python(), "-m", "lading", "container", "rm", "-f", cid])
        for cid in cids
    ]
    assert [p.wait(timeout=180) for p in removes] == [0] * 4
    assert engine.settled_holder() is None
    assert engine("ps", "-aq").stdout == ""


def test_rootless_user_without_subordinate_ids(
    user_without_ranges: UnprivilegedUser, test_images: BuiltImages, busybox_template: Path
) -> None:
    """A user that /etc/subuid and /etc/subgid do not list: the engine maps its own ids only, and
    the runtime, given a config with a range, maps its own id and says what it left out."""
    user = user_without_ranges
    layout = user.own(shutil.copytree(test_images.layout, user.home / "layout"))
    user.run(user_python(), "-m", "lading", "image", "import", f"{layout}:busybox", "localhost/busybox:1")
    engine = UserEngine(user)
    out = engine("run", "--rm", "localhost/busybox:1", "cat", "/proc/self/uid_map", "/proc/self/gid_map").stdout
    assert out.split() == ["0", str(user.uid), "1", "0", str(user.gid), "1"]
    assert engine.settled_holder() is None
    user.run(user_python(), "-m", "lading", "image", "rm", "localhost/busybox:1")

    bundle = user.home / "bundle"
    shutil.copytree(busybox_template, bundle / "rootfs", symlinks=True)
    config = default_config(rootless=True, args=["cat", "/proc/self/uid_map"])
    config["process"]["terminal"] = False
    config["linux"]["uidMappings"] = [
        {"containerID": 0, "hostID": user.uid, "size": 1},
        {"containerID": 1, "hostID": 100000, "size": 65536},
    ]
    config["linux"]["gidMappings"][0]["hostID"] = user.gid
    (bundle / "config.json").write_text(json.dumps(config))
    user.own(bundle)
    p = user.run(user_python(), "-m", "lading", "run", "--bundle", str(bundle), "no-ranges", cwd=user.home)
    assert p.stdout.split() == ["0", str(user.uid), "1"]
    assert f'msg="config.json: $.linux.uidMappings: /etc/subuid has no range for {user.name}: only uid ' in p.stderr


def test_rootless_seccomp_and_privileged_beside_podman(
    engine: UserEngine,
    podman: RootlessPodman,  # noqa: F811 (the fixture imported above)
) -> None:
    """docker's profile rootless too (loaded as root of the user namespace); --privileged has no
    filter and binds the host's devices (a user namespace may not make device nodes)."""
    script = (
        "grep ^Seccomp: /proc/self/status; ls /dev/kmsg /dev/loop0 2>&1; mkdir /m && mount -t tmpfs t /m && echo ok"
    )
    for flags in ([], ["--privileged"]):
        ours = engine("run", "--rm", *flags, "localhost/busybox:1", "sh", "-c", script, check=False)
        theirs = podman("run", "--rm", "--runtime", RUNC, *flags, IMAGE_NAME, "sh", "-c", script, check=False)
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), (ours, theirs)
        assert ours.stdout.startswith("Seccomp:\t0\n/dev/kmsg\n/dev/loop0\nok" if flags else "Seccomp:\t2\n"), ours
    assert engine("ps", "-aq").stdout == ""
