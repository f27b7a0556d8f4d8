"""What confines an engine container (seccomp, --privileged, --security-opt), beside podman.

The same image and command under `lading container run` and `podman run` (private storage,
Debian's runc): where docker and podman agree, the output and status must be the same. Where
podman's default seccomp profile differs from docker's (podman's answers ENOSYS for an unknown
system call and lets the kernel alone judge keyctl, unshare or clone3), the engine gives
docker's answer, and the test says podman's; with Debian's docker.io installed, a private
dockerd gives docker's own answer beside them (its --privileged is left out: docker 20.10
asks for every capability it knows, more than this machine's bounding set has). Nothing here
changes the host: the checks with --privileged only read (the /dev listing, capabilities, mount
options).

System calls are made by a small static probe bound into the container read-only:
``probe NR [ARG...]`` prints ``ok`` or the strerror of the errno.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lading.engine import seccomp_default, security
from lading.engine.bundle import DEFAULT_CAPS
from lading.linux import capabilities
from lading.linux import seccomp as sc
from lading.runtime.seccomp import prepare
from lading.spec.decode import decode
from lading.spec.runtime_config import LinuxSeccomp
from tests.clients import docker as docker_client
from tests.clients.image import IMAGE_NAME
from tests.clients.podman import Podman
from tests.engine.support import Engine
from tests.security.support import installed_filters
from tests.support import static_program

PROBE = "/probe"
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17
PER_LINUX32 = 0x8
PER_BSD = 0x6


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return static_program(
        "#include <errno.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
        "#include <unistd.h>\n#include <sys/syscall.h>\n"
        "int main(int argc, char **argv) {\n"
        "  unsigned long a[6] = {0};\n"
        "  for (int i = 2; i < argc && i < 8; i++) a[i - 2] = strtoul(argv[i], 0, 0);\n"
        "  pid_t self = getpid();\n"
        "  long r = syscall(strtol(argv[1], 0, 0), a[0], a[1], a[2], a[3], a[4], a[5]);\n"
        "  if (getpid() != self) _exit(0); /* the child of a clone that was allowed */\n"
        '  puts(r < 0 ? strerror(errno) : "ok");\n'
        "  return 0;\n"
        "}\n",
        tmp_path_factory.mktemp("probe"),
    )


@pytest.fixture(scope="module")
def docker(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[docker_client.Docker | None]:
    """A private dockerd with the image, or None without Debian's docker.io."""
    if not docker_client.available():
        yield None
        return
    d = docker_client.Docker(tmp_path_factory.mktemp("docker"))
    try:
        d.load(archive, IMAGE_NAME)
        yield d
    finally:
        left = d.close()
        assert not left, f"docker left behind: {left}"


def nr(name: str) -> str:
    number = sc.resolve_syscall(name)
    assert number is not None and number >= 0, name
    return str(number)


def call(name: str, *args: int) -> list[str]:
    return [PROBE, nr(name), *(hex(a) for a in args)]


@dataclass
class Both:
    """The engine (the image imported) and podman, to run one command under each."""

    engine: Engine
    podman: Podman
    probe: Path
    docker: docker_client.Docker | None

    def binds(self, command: list[str]) -> list[str]:
        return ["-v", f"{self.probe}:{PROBE}:ro"] if command[0] == PROBE else []

    def dockers(self, flags: list[str], command: list[str]) -> subprocess.CompletedProcess[str] | None:
        """docker's `run --rm` of it (None without docker)."""
        if self.docker is None:
            return None
        argv = ["run", "--rm", "--network", "none", *self.binds(command), *flags, IMAGE_NAME, *command]
        return self.docker(*argv, check=False)

    def run(
        self, flags: list[str], command: list[str]
    ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
        """(lading's, podman's) `run --rm` of the same command with the same flags."""
        binds = self.binds(command)
        ours = self.engine("run", "--rm", *binds, *flags, IMAGE_NAME, *command, check=False)
        theirs = self.podman.run("--rm", *binds, *flags, IMAGE_NAME, *command, check=False)
        if not theirs.stdout and not theirs.stderr and (ours.stdout or ours.stderr):
            theirs = self.podman.run("--rm", *binds, *flags, IMAGE_NAME, *command, check=False)  # podman 4.3 lost it
        return ours, theirs


@pytest.fixture
def both(engine: Engine, podman: Podman, archive: Path, probe: Path, docker: docker_client.Docker | None) -> Both:
    engine.image("import", str(archive), IMAGE_NAME)
    return Both(engine, podman, probe, docker)


def test_every_name_in_the_default_profile_is_a_system_call() -> None:
    """A misspelt name would be skipped quietly by the runtime (as runc skips unknown ones)."""
    names = {n for rule in seccomp_default.profile()["syscalls"] for n in rule["names"]}
    assert not sorted(n for n in names if sc.resolve_syscall(n) is None)


@pytest.mark.parametrize("caps", [[], list(DEFAULT_CAPS), list(capabilities.NAMES)], ids=["none", "docker's", "all"])
def test_the_default_profile_passes_the_runtimes_decoder(caps: list[str]) -> None:
    """What the bundle gets: valid for the runtime's decoder, compiled by libseccomp; the
    conditional rules follow the capabilities."""
    linux_seccomp = security.seccomp({}, caps)
    assert linux_seccomp is not None
    assert prepare(decode(json.dumps(linux_seccomp).encode(), LinuxSeccomp, "config.json")).program
    allowed = {n for r in linux_seccomp["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert ("mount" in allowed) == ("CAP_SYS_ADMIN" in caps)
    assert ("chroot" in allowed) == ("CAP_SYS_CHROOT" in caps)
    assert ("clone3" in allowed) == ("CAP_SYS_ADMIN" in caps)


SAME_AS_PODMAN = {
    "filter on": ([], ["grep", "^Seccomp:", "/proc/self/status"]),
    "seccomp=unconfined": (["--security-opt", "seccomp=unconfined"], ["grep", "^Seccomp:", "/proc/self/status"]),
    "privileged: no filter": (["--privileged"], ["grep", "^Seccomp:", "/proc/self/status"]),
    "apparmor=unconfined, label=disable": (
        ["--security-opt", "apparmor=unconfined", "--security-opt", "label=disable"],
        ["grep", "^Seccomp:", "/proc/self/status"],
    ),
    "no no_new_privs": ([], ["grep", "^NoNewPrivs:", "/proc/self/status"]),
    "no-new-privileges": (["--security-opt", "no-new-privileges"], ["grep", "^NoNewPrivs:", "/proc/self/status"]),
    "no-new-privileges=false": (
        ["--security-opt", "no-new-privileges=false"],
        ["grep", "^NoNewPrivs:", "/proc/self/status"],
    ),
    "mount refused": ([], ["sh", "-c", "mkdir -p /m && mount -t tmpfs t /m && echo mounted"]),
    "mount with SYS_ADMIN": (["--cap-add", "SYS_ADMIN"], ["sh", "-c", "mkdir -p /m && mount -t tmpfs t /m && echo ok"]),
    "mount privileged": (["--privileged"], ["sh", "-c", "mkdir -p /m && mount -t tmpfs t /m && echo mounted"]),
    "linux32": ([], ["linux32", "uname", "-m"]),
    "dmesg refused": ([], ["sh", "-c", "dmesg >/dev/null"]),
    "dmesg privileged": (["--privileged"], ["sh", "-c", "dmesg >/dev/null"]),
    "privileged capabilities": (["--privileged"], ["grep", "-E", "^Cap(Eff|Prm|Bnd)", "/proc/self/status"]),
    "sysfs read-only": ([], ["awk", '$2 == "/sys" { split($4, o, ","); print $3, o[1] }', "/proc/mounts"]),
    "privileged: sysfs read-write": (
        ["--privileged"],
        ["awk", '$2 == "/sys" { split($4, o, ","); print $3, o[1] }', "/proc/mounts"],
    ),
    "masked paths": ([], ["sh", "-c", "grep -c ' /proc/kcore ' /proc/mounts"]),
    "privileged: nothing masked": (["--privileged"], ["sh", "-c", "grep -c ' /proc/kcore ' /proc/mounts"]),
}


@pytest.mark.parametrize("case", SAME_AS_PODMAN)
def test_same_as_podman(both: Both, case: str) -> None:
    flags, command = SAME_AS_PODMAN[case]
    ours, theirs = both.run(flags, command)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), (ours, theirs)
    assert ours.stderr == theirs.stderr


PROBES_SAME_AS_PODMAN = {
    "personality PER_LINUX32": ([], ("personality", PER_LINUX32), "ok"),
    "personality query": ([], ("personality", 0xFFFFFFFF), "ok"),
    "clone with a namespace refused": ([], ("clone", CLONE_NEWUTS | SIGCHLD), os.strerror(errno.EPERM)),
    "clone with a namespace, SYS_ADMIN": (["--cap-add", "SYS_ADMIN"], ("clone", CLONE_NEWUTS | SIGCHLD), "ok"),
    "plain clone": ([], ("clone", SIGCHLD), "ok"),
    "removed syscall, unconfined": (
        ["--security-opt", "seccomp=unconfined"],
        ("nfsservctl",),
        os.strerror(errno.ENOSYS),
    ),
    "module loading refused": ([], ("delete_module", 0, 0), os.strerror(errno.EPERM)),
    "ptrace allowed (since 4.8), nobody to trace": ([], ("ptrace", 0xFFFF), os.strerror(errno.ESRCH)),
    "kcmp needs SYS_PTRACE": ([], ("kcmp", 1, 1, 0, 0, 0), os.strerror(errno.EPERM)),
    "kcmp with SYS_PTRACE": (["--cap-add", "SYS_PTRACE"], ("kcmp", 1, 1, 0, 0, 0), "ok"),
    # a bad pointer: the kernel refuses before it could change the clock
    "settimeofday needs SYS_TIME": ([], ("settimeofday", 1, 0), os.strerror(errno.EPERM)),
    "settimeofday with SYS_TIME": (["--cap-add", "SYS_TIME"], ("settimeofday", 1, 0), os.strerror(errno.EFAULT)),
}


@pytest.mark.parametrize("case", PROBES_SAME_AS_PODMAN)
def test_system_calls_as_podman(both: Both, case: str) -> None:
    flags, (name, *args), expected = PROBES_SAME_AS_PODMAN[case]
    ours, theirs = both.run(flags, call(name, *args))
    assert theirs.stdout == ours.stdout == f"{expected}\n", (ours, theirs)
    dockers = both.dockers(flags, call(name, *args))
    assert dockers is None or dockers.stdout == ours.stdout, dockers


# docker's answers where podman's profile gives another: (flags, call, ours (docker's), podman's)
DOCKER_NOT_PODMAN = {
    "keyctl is not in the list": ([], ("keyctl", 0), errno.EPERM, None),
    "a removed syscall": ([], ("nfsservctl",), errno.EPERM, errno.EPERM),
    "clone3: ENOSYS, so libc falls back to clone": ([], ("clone3",), errno.ENOSYS, errno.EINVAL),
    "clone3 with SYS_ADMIN": (["--cap-add", "SYS_ADMIN"], ("clone3",), errno.EINVAL, errno.EINVAL),
    "unshare of a user namespace": ([], ("unshare", CLONE_NEWUSER), errno.EPERM, 0),
    "unshare with SYS_ADMIN": (["--cap-add", "SYS_ADMIN"], ("unshare", CLONE_NEWUSER), 0, 0),
    "personality PER_BSD": ([], ("personality", PER_BSD), errno.EPERM, errno.ENOSYS),
}


def _said(code: int | None) -> str:
    return "ok\n" if code == 0 else f"{os.strerror(code)}\n" if code else ""


@pytest.mark.parametrize("case", DOCKER_NOT_PODMAN)
def test_docker_answers(both: Both, case: str) -> None:
    flags, (name, *args), ours_expected, theirs_expected = DOCKER_NOT_PODMAN[case]
    ours, theirs = both.run(flags, call(name, *args))
    assert ours.stdout == _said(ours_expected), ours
    if theirs_expected is not None:
        assert theirs.stdout == _said(theirs_expected), theirs
    dockers = both.dockers(flags, call(name, *args))
    assert dockers is None or dockers.stdout == ours.stdout, dockers


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="an x86_64 system call number no kernel has")
def test_an_unknown_system_call_is_eperm(both: Both) -> None:
    """Numbers 335-423 are unassigned on x86_64; docker answers EPERM, podman ENOSYS."""
    ours, theirs = both.run([], [PROBE, "400"])
    assert ours.stdout == _said(errno.EPERM), ours
    assert theirs.stdout == _said(errno.ENOSYS), theirs
    dockers = both.dockers([], [PROBE, "400"])
    assert dockers is None or dockers.stdout == ours.stdout, dockers


def test_privileged_sees_the_host_devices(both: Both) -> None:
    """The host's device nodes (not /dev/console, /dev/pts, ...), as podman binds them too."""
    command = ["sh", "-c", "find /dev -type c -o -type b | sort"]
    ours, theirs = both.run(["--privileged"], command)
    assert ours.returncode == theirs.returncode == 0
    host = {str(p) for p in Path("/dev").rglob("*") if p.is_char_device() or p.is_block_device()}
    seen = set(ours.stdout.split())
    assert {"/dev/kmsg", "/dev/loop0"} <= host & seen  # devices no default container has
    assert seen == set(theirs.stdout.split())
    default, _ = both.run([], command)
    assert "/dev/kmsg" not in default.stdout.split()


def test_a_profile_file_in_dockers_form(both: Both, tmp_path: Path) -> None:
    """The default profile without mkdir, as a file: the same refusal under both."""
    profile = seccomp_default.profile()
    for rule in profile["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in ("mkdir", "mkdirat")]
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile))
    ours, theirs = both.run(["--security-opt", f"seccomp={path}"], ["mkdir", "/made"])
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr) == (1, theirs.stderr)
    assert "Operation not permitted" in ours.stderr


@pytest.mark.parametrize("flags", [[], ["--cap-add", "SYS_ADMIN"]], ids=["without", "with SYS_ADMIN"])
def test_a_profile_file_with_conditions(both: Both, tmp_path: Path, flags: list[str]) -> None:
    """docker's form: a rule naming one call with ``name``, left out when the container holds a
    capability (``excludes``); the same outcome under podman."""
    rule = {
        "name": "mkdir",
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": errno.EXFULL,
        "excludes": {"caps": ["CAP_SYS_ADMIN"]},
    }
    path = tmp_path / "conditions.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}))
    ours, theirs = both.run(["--security-opt", f"seccomp={path}", *flags], ["sh", "-c", "mkdir /made && echo made"])
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout == ("made\n" if flags else "")
    assert flags or os.strerror(errno.EXFULL) in ours.stderr


def test_a_profile_file_is_kept_at_create(both: Both, tmp_path: Path) -> None:
    """The profile is read once, at create (as docker's CLI sends its text): a later edit of the
    file changes nothing, and inspect shows the option."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}))
    engine = both.engine
    engine("create", "--name", "kept", "--security-opt", f"seccomp={path}", IMAGE_NAME, "true")
    path.write_text("not JSON")
    opts = engine.inspect("kept")["HostConfig"]["SecurityOpt"]
    assert [json.loads(o.partition("=")[2]) for o in opts] == [{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}]
    engine("start", "-a", "kept")
    engine("rm", "kept")


BAD_PROFILES = {
    "malformed JSON": ("{", "malformed JSON at line 1 column 2"),
    "unknown action": (
        {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]},
        '$.syscalls[0].action: unknown seccomp action "SCMP_ACT_NOPE"',
    ),
    "unknown operator": (
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "X", "value": 1}]}
            ],
        },
        '$.syscalls[0].args[0].op: unknown seccomp operator "X"',
    ),
    "bad minKernel": (
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}],
        },
        "$.syscalls[0].includes.minKernel:",
    ),
    "unknown architecture in archMap": (
        {"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_PDP11", "subArchitectures": []}]},
        "$.archMap[0]:",
    ),
    "both architectures and archMap": (
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}],
        },
        "$: give either architectures or archMap",
    ),
}


@pytest.mark.parametrize("case", BAD_PROFILES)
def test_a_bad_profile_file_is_one_line(both: Both, tmp_path: Path, case: str) -> None:
    doc, said = BAD_PROFILES[case]
    path = tmp_path / "bad.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    engine = both.engine
    for verb in ("run", "create"):
        p = engine(verb, "--security-opt", f"seccomp={path}", IMAGE_NAME, "true", check=False)
        assert p.returncode == 125
        assert p.stderr.startswith(f"Error: {path}: "), p.stderr
        assert said in p.stderr
        assert len(p.stderr.splitlines()) == 1
    assert both.engine("ps", "-a", "-q").stdout == ""


BAD_OPTIONS = {
    "unknown option": "foo=bar",
    "an AppArmor profile": "apparmor=docker-default",
    "no value": "seccomp",
    "not a boolean": "no-new-privileges=maybe",
    "no such file": "seccomp=/no/such/profile.json",
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_bad_security_options(both: Both, case: str) -> None:
    ours, theirs = both.run(["--security-opt", BAD_OPTIONS[case]], ["true"])
    assert ours.returncode == theirs.returncode == 125
    assert len(ours.stderr.splitlines()) == 1, ours.stderr
    if case == "no such file":
        assert ours.stderr == "Error: /no/such/profile.json: no such file\n"
    elif case == "an AppArmor profile":  # podman: no such profile on this host
        assert ours.stderr.startswith("Error: --security-opt apparmor=docker-default: the engine applies no AppArmor")
    else:  # docker's words, which podman took too
        assert ours.stderr == theirs.stderr
    assert both.engine("ps", "-a", "-q").stdout == ""


def test_containers_after_the_first_get_the_same_filter_from_the_cache(both: Both) -> None:
    """The first container's create compiles the default profile, the next take the program from
    the runtime's cache: the kernel holds, for each, exactly what libseccomp compiles for the
    bundle's linux.seccomp, and /proc shows the filter as for podman's container."""
    pids = []
    for name in ("first", "second", "third"):
        both.engine("run", "-d", "--name", name, IMAGE_NAME, "sleep", "600")
        pids.append(both.engine.inspect(name)["State"]["Pid"])
    assert len(list((both.engine.run_root / "runtimes" / "lading" / "seccomp:cache").iterdir())) == 1
    cid = both.engine.inspect("first")["Id"]
    config = json.loads((both.engine.run_root / "containers" / cid / "bundle" / "config.json").read_text())
    profile = decode(json.dumps(config["linux"]["seccomp"]).encode(), LinuxSeccomp, "config.json")
    assert [installed_filters(pid) for pid in pids] == [[prepare(profile).program]] * 3
    both.podman.run("-d", "--name", "theirs", IMAGE_NAME, "sleep", "600")
    theirs = int(both.podman("inspect", "--format", "{{.State.Pid}}", "theirs").stdout)
    assert {_seccomp_status(pid) for pid in [*pids, theirs]} == {"Seccomp:\t2\nSeccomp_filters:\t1"}
    both.podman("rm", "-f", "theirs")
    both.engine("rm", "-f", "first", "second", "third")


def _seccomp_status(pid: int) -> str:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith("Seccomp"))


@pytest.mark.parametrize(
    "flags", [[], ["--security-opt", "no-new-privileges"], ["--privileged"]], ids=["default", "nnp", "privileged"]
)
def test_exec_is_confined_as_the_container(both: Both, flags: list[str]) -> None:
    """An exec'd process gets the container's filter, no_new_privs and capabilities, as podman's."""
    command = ["grep", "-E", "^(Seccomp|NoNewPrivs|CapEff):", "/proc/self/status"]
    said = []
    for tool in (both.engine, both.podman):
        run = tool.run if isinstance(tool, Podman) else functools.partial(tool, "run")
        run("-d", "--name", "confined", *flags, IMAGE_NAME, "sleep", "600")
        said.append(tool("exec", "confined", *command).stdout)
        tool("rm", "-f", "confined")
    assert said[0] == said[1]
    assert ("Seccomp:\t0" in said[0]) == ("--privileged" in flags)
