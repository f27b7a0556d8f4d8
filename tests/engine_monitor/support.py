"""A monitor under test: a busybox bundle, a real OCI runtime (lading or runc), and leak checks.

Everything lives under the test's tmp dir: the runtime's --root, the monitor's exec dir, the log;
the container's cgroup has a unique absolute path, so the test can check it is gone.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from lading.engine import attach_protocol as proto
from lading.engine.monitor import ExitRecord, Launched, MonitorConfig, launch, wait_exit
from tests.clients.runtimes import RUNC
from tests.support import lading_argv, mounts_under, pid_alive, runtime_entries

RUNTIMES = ["lading", "runc"]


def processes_naming(text: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains text.

    /proc is listed twice: a process that starts a child and exits while /proc is being listed
    (a monitor spawning its exit command, then exiting) can be missing from one listing, its
    child not yet listed and itself gone by the time its command line is read."""
    found: set[int] = set()
    for _ in range(2):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline and pid_alive(int(entry)):
                found.add(int(entry))
    return sorted(pid for pid in found if pid_alive(pid))


def describe_process(pid: int) -> str:
    """pid, parent, state and command line: what a leak report needs to tell where it came from."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid} (gone)"
    return f"{pid} (parent {fields[1]}, state {fields[0]}): {cmdline.strip()}"


def children_of(pid: int, zombies_only: bool = False) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and (fields[0] == "Z" or not zombies_only):
            found.append(int(entry))
    return found


def wait_for(cond: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout}s")
        time.sleep(0.02)


class MonitoredContainer:
    """One container run by a monitor: write its config, launch, start, wait, read the log."""

    def __init__(self, tmp: Path, bundle: Any, runtime: str) -> None:
        self.tmp = tmp
        self.bundle = bundle
        self.runtime_name = runtime
        self.root = tmp / "runtime-state"
        self.exec_dir = tmp / "exec"
        self.exec_dir.mkdir()
        self.log_path = tmp / "ctr-json.log"
        self.marker = tmp / "exit-command-ran"
        self.id = "mon-" + uuid.uuid4().hex[:12]
        self.cgroup = f"/lading-test-{self.id}"
        self.launched: Launched | None = None
        self.exit_markers = {self.exec_dir: self.marker}  # exec dir -> the file its exit command writes
        self.runtime_argv = (
            [*lading_argv(), "--root", str(self.root)] if runtime == "lading" else [RUNC, "--root", str(self.root)]
        )

    def config(self, args: list[str], *, terminal: bool = False, stdin: bool = False, **kw: Any) -> MonitorConfig:
        """Write config.json for args and return the monitor's configuration."""
        self.bundle.config["process"]["args"] = args
        self.bundle.config["process"]["terminal"] = terminal
        self.bundle.config["linux"]["cgroupsPath"] = self.cgroup
        self.bundle.write()
        # The exit command copies the exit record: it proves the record was there before it ran.
        exit_command = [
            "/bin/sh",
            "-c",
            f'cat "{self.exec_dir}/exit" > "{self.marker}.tmp"; mv "{self.marker}.tmp" "{self.marker}"',
        ]
        return MonitorConfig(
            container_id=self.id,
            runtime_argv=self.runtime_argv,
            bundle=self.bundle.path,
            exec_dir=self.exec_dir,
            log_path=self.log_path,
            terminal=terminal,
            stdin=stdin,
            exit_command=kw.pop("exit_command", exit_command),
            **kw,
        )

    def another(self, first: MonitorConfig, args: list[str]) -> MonitorConfig:
        """A second container on the same rootfs, with its own id, bundle, cgroup, exec dir and
        log; its exit command writes $SPAWN_TEST_MARK to tmp/second-exit-command-ran."""
        config = json.loads((self.bundle.path / "config.json").read_text())
        config["process"]["args"] = args
        config["root"]["path"] = str(self.bundle.rootfs)
        config["linux"]["cgroupsPath"] = self.cgroup + "-2"
        bundle = self.tmp / "bundle2"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(config))
        exec_dir = self.tmp / "exec2"
        exec_dir.mkdir()
        marker = self.tmp / "second-exit-command-ran"
        self.exit_markers[exec_dir] = marker
        return first.replace(
            container_id=self.id + "-2",
            bundle=bundle,
            exec_dir=exec_dir,
            log_path=self.tmp / "second-json.log",
            exit_command=["/bin/sh", "-c", f'echo "$SPAWN_TEST_MARK" > "{marker}"'],
        )

    def launch(self, args: list[str], **kw: Any) -> Launched:
        self.launched = launch(self.config(args, **kw))
        return self.launched

    def runtime(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.runtime_argv, *args], capture_output=True, text=True, check=check, timeout=60)

    def start(self) -> None:
        self.runtime("start", self.id)

    def run(self, args: list[str], **kw: Any) -> ExitRecord:
        self.launch(args, **kw)
        self.start()
        return self.wait()

    def wait(self) -> ExitRecord:
        record = wait_exit(self.exec_dir, timeout=60)
        assert record is not None, "the monitor ended without an exit record"
        wait_for(self.marker.exists, what="the exit command")
        return record

    def entries(self, path: Path | None = None) -> list[dict[str, str]]:
        lines = (path or self.log_path).read_text().splitlines()
        return [json.loads(line) for line in lines]

    def output(self, stream: str = "stdout") -> str:
        return "".join(e["log"] for e in self.entries() if e["stream"] == stream)

    def attach_socket(self, hello: bytes = proto.HELLO_STDOUT + proto.HELLO_STDERR) -> socket.socket:
        """A raw attach connection (the protocol, without lading.engine.attach)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        sock.connect(str(self.exec_dir / proto.SOCKET_NAME))
        sock.send(proto.HELLO + hello)
        assert sock.recv(proto.MAX_PACKET) == proto.HELLO
        return sock

    def cleanup(self) -> None:
        """What the engine's exit command does: delete the container (also if the test failed)."""
        self.runtime("delete", "--force", self.id, check=False)
        if self.launched:
            # Its monitor ends by itself once the container is gone. A SIGKILL could land while it
            # starts its exit command, which then runs on with no parent, and in the middle of an
            # exec /proc shows it with no command line: the wait below would not see it.
            wait_exit(self.exec_dir, timeout=30)
            if pid_alive(self.launched.monitor_pid):
                os.kill(self.launched.monitor_pid, 9)
        # A monitor that got as far as starting its exit command is gone once posix_spawn has
        # returned, that is as soon as the command's execve has replaced its memory, and before
        # the kernel has put its arguments there: for that instant /proc shows the command with
        # no command line, and the wait below would not see it. Its effect, the file it writes,
        # says it has run.
        for exec_dir, marker in self.exit_markers.items():
            if (exec_dir / "exit").exists() and not (exec_dir / proto.SOCKET_NAME).exists():
                wait_for(marker.exists, what=f"the exit command of the monitor of {exec_dir.name}")
        wait_for(lambda: not processes_naming(str(self.tmp)), what="the test's processes to end")

    def leftovers(self) -> list[str]:
        found = [f"process {describe_process(pid)}" for pid in processes_naming(str(self.tmp))]
        found += [f"runtime state {p}" for p in runtime_entries(self.root)]
        found += [f"mount {m}" for m in mounts_under(self.tmp)]
        name = self.cgroup.lstrip("/") + "*"  # (and other containers' of the test: name-2)
        cgroups = [*Path("/sys/fs/cgroup").glob(name), *Path("/sys/fs/cgroup").glob(f"*/{name}")]
        found += [f"cgroup {d}" for d in cgroups if d.exists()]
        return found


def read_packets(sock: socket.socket, timeout: float = 30) -> list[bytes]:
    """Every packet until the monitor closes the connection."""
    packets: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            raise AssertionError(f"attach connection still open; got {packets!r}")
        packet = sock.recv(proto.MAX_PACKET)
        if not packet:
            return packets
        packets.append(packet)
