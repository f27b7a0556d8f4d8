"""exec --cgroup: the process joins an existing sub-cgroup of the container's, in every hierarchy
(PATH) or in the named v1 controllers' (CONTROLLER[,CONTROLLER]:PATH); a path out of the
container's cgroup, a malformed argument or an unknown controller is refused with runc's message
and exit status 255. Calibrated on runc 1.1.5, side by side on this (hybrid) host; delete removes
the sub-cgroups with the container's."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support import Runc, one_line


def hierarchies() -> dict[str, Path]:
    """Each mounted cgroup hierarchy by its /proc/PID/cgroup name ("" for cgroup2)."""
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        if fstype == "cgroup2":
            found[""] = Path(fields[4])
        elif fstype == "cgroup":
            names = [o for o in options if (o not in ("rw", "ro") and "=" not in o) or o.startswith("name=")]
            found.setdefault(",".join(names), Path(fields[4]))
    return found


def cgroups_of(pid: int | str, named: bool = False) -> dict[str, str]:
    """/proc/PID/cgroup as {hierarchy: path}; named (non-controller) hierarchies only if asked:
    runc moves an exec in name=systemd too, lading leaves that hierarchy to systemd."""
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if named or not names.startswith("name="):
            out[names] = path
    return out


@pytest.fixture
def container(runtime, bundle, cid):
    """A running container with a sub-cgroup "sub" in every hierarchy; yields (runtime, id, init's cgroups)."""
    bundle.write(args=["sleep", "1000"])
    runtime("run", "-d", "-b", str(bundle), cid)
    pid = runtime.state(cid)["pid"]
    base = cgroups_of(pid)
    mounts = hierarchies()
    for names, path in cgroups_of(pid, named=True).items():
        if path == "/":
            continue  # a hierarchy the container has no cgroup of its own in (lading's name=systemd)
        sub = mounts[names] / path.lstrip("/") / "sub"
        sub.mkdir()
        if "cpuset" in names.split(","):
            for f in ("cpuset.cpus", "cpuset.mems"):
                (sub / f).write_text((sub.parent / f).read_text())
    yield runtime, cid, base
    runtime("delete", "-f", cid)


def exec_cgroups(runtime, cid: str, *flags: str) -> dict[str, str]:
    """The cgroups of a process exec'd with ``flags``, as the host sees them."""
    pid_file = runtime.tmp / "exec.pid"
    runtime("exec", "-d", "--pid-file", str(pid_file), *flags, cid, "sleep", "1000")
    pid = int(pid_file.read_text())
    try:
        return cgroups_of(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_a_path_for_every_hierarchy(container):
    runtime, cid, base = container
    assert exec_cgroups(runtime, cid, "--cgroup", "sub") == {k: f"{v}/sub" for k, v in base.items()}


def test_paths_for_named_controllers(container):
    runtime, cid, base = container
    moved = exec_cgroups(runtime, cid, "--cgroup", "memory:sub")
    assert moved == {k: f"{v}/sub" if k == "memory" else v for k, v in base.items()}
    moved = exec_cgroups(runtime, cid, "--cgroup", "cpu,cpuacct:sub", "--cgroup", "pids:sub")
    assert moved == {k: f"{v}/sub" if k in ("cpu", "cpuacct", "pids") else v for k, v in base.items()}


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--cgroup", "../x"], "../x is not a sub cgroup path"),
        (["--cgroup", "sub/../../x"], "sub/../../x is not a sub cgroup path"),
        (["--cgroup", "memory:../x"], "../x is not a sub cgroup path"),
        (["--cgroup", "a:b:c"], "invalid --cgroup argument: a:b:c"),
        (
            ["--cgroup", "sub", "--cgroup", "memory:sub"],
            "invalid --cgroup argument: sub (missing <controller>: prefix)",
        ),
        (["--cgroup", "nosuchctl:sub"], "unknown controller nosuchctl"),
        (["--cgroup", "nosuch"], "/nosuch/cgroup.procs: "),
    ],
)
def test_refused_as_runc_refuses(container, flags, message):
    runtime, cid, _ = container
    p = runtime("exec", *flags, cid, "true", check=False)
    assert p.returncode == 255 and message in one_line(p), p


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--cgroup", ":sub"], "invalid --cgroup argument: :sub (empty <controller> prefix)"),
        (
            ["--cgroup", "memory:sub", "--cgroup", "memory:sub"],
            "invalid --cgroup argument(s): controller memory specified multiple times",
        ),
    ],
)
def test_refused_as_newer_runc_refuses(container, flags, message):
    """runc 1.1.5 lets these through (an empty controller, a repeated one); later runc refuses them."""
    runtime, cid, _ = container
    if isinstance(runtime, Runc):
        pytest.skip("runc 1.1.5 accepts this; runc 1.2 has the message")
    p = runtime("exec", *flags, cid, "true", check=False)
    assert (p.returncode, one_line(p)) == (255, message)
