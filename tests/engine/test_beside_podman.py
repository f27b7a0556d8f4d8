"""`lading container run` beside `podman run` (private storage, Debian's runc under podman): the
same image, the same command and flags that mean the same, the same output and exit status."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.clients.image import IMAGE_NAME, write_image_archive
from tests.clients.podman import Podman
from tests.engine.support import Engine
from tests.support import make_busybox_rootfs

SHARED = "/shared-from-host"


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("shared")
    (d / "file").write_text("from the host\n")
    return d


CASES = {
    "exit status": ([], ["sh", "-c", "echo out; echo err >&2; exit 3"]),
    "env": (["-e", "GREETING=hi", "-e", "PATH=/bin"], ["sh", "-c", 'echo "$GREETING $PATH"']),
    "workdir": (["-w", "/tmp"], ["pwd"]),
    "user by name": (["-u", "nobody"], ["id"]),
    "user and group ids": (["-u", "1:100"], ["id"]),
    "hostname": (["-h", "box"], ["hostname"]),  # (/etc/hostname: docker ends it with a newline, podman not)
    "entrypoint": (["--entrypoint", "echo"], ["a", "b"]),
    "read-only root": (["--read-only"], ["touch", "/x"]),
    "read-only bind": (["-v", f"{{host}}:{SHARED}:ro"], ["sh", "-c", f"cat {SHARED}/file; touch {SHARED}/x"]),
    "no capabilities": (["--cap-drop", "ALL"], ["grep", "-E", "^Cap(Eff|Prm|Bnd)", "/proc/self/status"]),
    "own network namespace": ([], ["ls", "/sys/class/net"]),
    "command not found": ([], ["/no/such/program"]),
    "not executable": ([], ["/etc/passwd"]),
    "stdin": (["-i"], ["sh", "-c", "cat; echo done"]),
    "pids limit below zero: unlimited": (["--pids-limit", "-5"], ["echo", "ran"]),
}


@pytest.mark.parametrize("case", CASES)
def test_same_output_and_status_as_podman(
    engine: Engine, podman: Podman, archive: Path, host_dir: Path, case: str
) -> None:
    engine.image("import", str(archive), IMAGE_NAME)
    flags, command = CASES[case]
    flags = [f.replace("{host}", str(host_dir)) for f in flags]
    stdin = "typed\n" if "-i" in flags else None
    argv = ["run", "--cgroup-parent", podman.cgroup_parent, "--rm", *flags, IMAGE_NAME, *command]
    theirs = podman(*argv, check=False, input=stdin)
    ours = engine("run", "--rm", *flags, IMAGE_NAME, *command, check=False, input=stdin)
    if not theirs.stdout and not theirs.stderr and (ours.stdout or ours.stderr):
        # podman 4.3 now and then loses all the output of a container that exits at once: ask again
        theirs = podman(*argv, check=False, input=stdin)
    assert ours.returncode == theirs.returncode, (ours, theirs)
    assert ours.stdout == theirs.stdout
    if theirs.returncode in (126, 127):
        assert len(ours.stderr.strip().splitlines()) == 1  # the engine's error line, worded its own way
    else:
        assert ours.stderr == theirs.stderr


def test_same_status_after_stop_as_podman(engine: Engine, podman: Podman, archive: Path) -> None:
    engine.image("import", str(archive), IMAGE_NAME)
    script = ["sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done"]
    engine("run", "-d", "--name", "stopper", IMAGE_NAME, *script)
    podman.run("-d", "--name", "stopper", IMAGE_NAME, *script)
    assert engine("stop", "stopper").stdout == podman("stop", "stopper").stdout == "stopper\n"
    ours = engine("inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "stopper").stdout
    theirs = podman("inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "stopper").stdout
    assert ours == theirs == "42 exited\n"
    engine("rm", "stopper")
    podman("rm", "stopper")


def test_ps_last_and_latest_as_podman(engine: Engine, podman: Podman, archive: Path) -> None:
    """`ps -n N` and `ps -l`: the newest created containers whatever their state (docker's flags),
    filters first; in docker's order, newest first (podman lists them oldest first)."""
    engine.image("import", str(archive), IMAGE_NAME)
    for name, command in (("first", ["sleep", "600"]), ("second", ["true"]), ("third", ["true"])):
        engine("create", "--name", name, IMAGE_NAME, *command)
        podman("create", "--cgroup-parent", podman.cgroup_parent, "--name", name, IMAGE_NAME, *command)
    engine("start", "first")
    podman("start", "first")
    for flags in (["-l"], ["-n", "2"], ["-n", "5"], ["-n", "1", "--filter", "status=running"], ["-n", "0"]):
        argv = ["ps", *flags, "--format", "{{.Names}}"]
        assert sorted(engine(*argv).stdout.split()) == sorted(podman(*argv).stdout.split()), flags
    assert engine("ps", "-n", "2", "--format", "{{.Names}}").stdout == "third\nsecond\n"
    engine("rm", "-f", "first", "second", "third")
    podman("rm", "-f", "first", "second", "third")


EXEC_CASES = {
    "found": ([], ["sh", "-c", "echo ran; exit 4"]),
    "not in PATH": ([], ["nosuchcmd"]),
    "no such path": ([], ["/no/such/program"]),
    "not executable": ([], ["/etc/passwd"]),
    "a directory": ([], ["/etc"]),
    "a symlink out of the root": ([], ["/tmp/out"]),
    "a directory in PATH is skipped": (["-e", "PATH=/etc:/bin"], ["passwd", "-h"]),
    "stdin": (["-i"], ["sh", "-c", "cat; echo done"]),
    "terminal": (["-t"], ["sh", "-c", "test -t 1 && echo tty"]),
}


def test_exec_status_as_podman(engine: Engine, podman: Podman, archive: Path) -> None:
    """exec's status: the program's own, 127 when the command is not found, 126 when it cannot be
    run (not executable, a directory), with one line of error."""
    engine.image("import", str(archive), IMAGE_NAME)
    engine("run", "-d", "--name", "execd", IMAGE_NAME, "sleep", "600")
    podman.run("-d", "--name", "execd", IMAGE_NAME, "sleep", "600")
    for client in (engine, podman):  # a program of the host's, not in the image
        client("exec", "execd", "ln", "-s", shutil.which("python3") or "/usr/bin/python3", "/tmp/out")
    for case, (flags, command) in EXEC_CASES.items():
        stdin = "typed\n" if "-i" in flags else None
        theirs = podman("exec", *flags, "execd", *command, check=False, input=stdin)
        ours = engine("exec", *flags, "execd", *command, check=False, input=stdin)
        assert ours.returncode == theirs.returncode, (case, ours, theirs)
        if theirs.returncode in (126, 127):
            assert ours.stdout == ""
            assert len(ours.stderr.strip().splitlines()) == 1, (case, ours)
        else:
            assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr), (case, ours, theirs)
    engine("rm", "-f", "execd")
    podman("rm", "-f", "execd")


GROUPS_IMAGE = "localhost/lading-test/groups:1"
ID = ["sh", "-c", "id -u; id -g; id -G"]  # numbers: podman adds a passwd entry for an unknown uid
EXEC_USERS = {
    "name": ["-u", "nobody"],
    "name with supplementary groups": ["-u", "daemon"],
    "uid without a passwd entry": ["-u", "1000"],
    "name:group": ["-u", "nobody:users"],
    "uid:gid": ["-u", "1:100"],
}


@pytest.fixture(scope="module")
def groups_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """busybox with supplementary groups in /etc/group (daemon in two, nobody in one)."""
    work = tmp_path_factory.mktemp("groups-image")
    rootfs = make_busybox_rootfs(work / "rootfs")
    with (rootfs / "etc" / "group").open("a") as f:
        f.write("wheel:x:10:daemon\nstaff:x:50:daemon,nobody\n")
    return write_image_archive(work / "groups.tar", rootfs, GROUPS_IMAGE, {"Cmd": ["sh"]})


@pytest.mark.parametrize("run_as", ["root", "nobody"])
def test_exec_user_and_groups_as_run(engine: Engine, podman: Podman, groups_archive: Path, run_as: str) -> None:
    """`exec -u` gives the user's own primary and supplementary groups from the container's
    /etc/passwd and /etc/group, as `run -u` does (podman's and the engine's), whatever user the
    container runs as; no -u is the container's user. (podman 4.3's exec leaves the primary
    group out of the supplementary ones, which its run and docker put in.)"""
    engine.image("import", str(groups_archive), GROUPS_IMAGE)
    podman.load(groups_archive)
    engine("run", "-d", "--name", "box", "-u", run_as, GROUPS_IMAGE, "sleep", "600")
    try:
        for case, flags in {"the container's user": ["-u", run_as], **EXEC_USERS}.items():
            theirs = podman.run("--rm", *flags, GROUPS_IMAGE, *ID).stdout
            assert engine("run", "--rm", *flags, GROUPS_IMAGE, *ID).stdout == theirs, case
            exec_flags = [] if case == "the container's user" else flags
            assert engine("exec", *exec_flags, "box", *ID).stdout == theirs, case
        for user, error in (
            ("nosuch", "user nosuch: no matching entries in passwd"),
            ("nobody:nosuch", "group nosuch"),
        ):
            p = engine("exec", "-u", user, "box", "id", check=False)
            assert p.returncode == 126, p  # docker's status (podman 4.3: 255), and its words in one line
            assert p.stderr.startswith("Error: --user: unable to find ") and error in p.stderr, p.stderr
            assert len(p.stderr.splitlines()) == 1
    finally:
        engine("rm", "-f", "box")
