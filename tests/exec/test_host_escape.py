"""Attacks from inside a container on the runtime's own process while it is in the container.

CVE-2019-5736: a root process in the container opens /proc/PID/exe (the host's python) of the
runtime as it joins, or of a created container's init, to read it or later write through it.
CVE-2024-21626: a host directory fd or cwd survives into the container, and process.cwd
/proc/self/fd/N (or the program) walks through it to the host.

The attackers here get every advantage a container can have without CAP_SYS_PTRACE in the host's
user namespace: a user namespace of their own in which they hold CAP_SYS_PTRACE, a writable
rootfs, and the power to make the runtime block inside the container (an /etc/passwd FIFO: the
runtime reads it for $HOME).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.exec.support import popen, start
from tests.support import lading_argv, lading_env

# Probe one process of the runtime: each line names a way into the host that worked.
PROBE = r"""
probe() {
  v=$1
  readlink $v/exe >/dev/null 2>&1 && echo "readlink $v/exe: $(readlink $v/exe)"
  (exec 3< $v/exe) 2>/dev/null && echo "opened $v/exe"
  ls $v/cwd/ >/dev/null 2>&1 && echo "listed $v/cwd"
  ls $v/root/ >/dev/null 2>&1 && echo "listed $v/root"
  for f in $v/fd/*; do
    ls $f/ >/dev/null 2>&1 && echo "listed $f"
    (exec 3< $f) 2>/dev/null && echo "opened $f"
  done
  cat $v/environ >/dev/null 2>&1 && echo "read $v/environ"
  cat $v/maps >/dev/null 2>&1 && echo "read $v/maps"
}
"""

# Make the next runtime that reads /etc/passwd block on a FIFO, probe it, then let it go. The
# FIFO is put back as the real file *before* the runtime gets its content: once released, the
# runtime execs the program at once, and a program that reads /etc/passwd itself (busybox `id`
# does, even for -u) must not open the FIFO again, or it would wait forever for a writer.
BLOCK_AND_PROBE = (
    PROBE
    + r"""
cp /etc/passwd /etc/passwd.real && rm /etc/passwd && mkfifo /etc/passwd
touch /armed
victim=
for i in $(seq 1000); do
  for d in /proc/[0-9]*; do
    case "$(cat $d/comm 2>/dev/null)" in python*) victim=$d; break 2;; esac
  done
  sleep 0.01
done
if [ -n "$victim" ]; then echo "victim $(cat $victim/comm)"; probe $victim; else echo "no victim"; fi
exec 4> /etc/passwd
mv /etc/passwd.real /etc/passwd
cat /etc/passwd >&4
exec 4>&-
"""
)


def _userns_container(lading, bundle) -> None:
    bundle.config["root"]["readonly"] = False
    start(lading, bundle, userns=True)


def _wait_for(path: Path) -> None:
    for _ in range(500):
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def test_a_joining_exec_is_out_of_reach(lading, bundle):
    _userns_container(lading, bundle)
    attacker = popen(lading, "--cap", "CAP_SYS_PTRACE", "c1", "sh", "-c", BLOCK_AND_PROBE, stdout=-1)
    try:
        _wait_for(bundle.rootfs / "armed")
        victim = lading("exec", "c1", "sh", "-c", "echo ran as $(id -u) with HOME=$HOME")
        out, _ = attacker.communicate(timeout=60)
    finally:
        attacker.kill()
        attacker.wait()
    assert victim.stdout == "ran as 0 with HOME=/root\n"
    if out == "no victim\n":  # the scan never saw the joining runtime: nothing was tested
        pytest.skip("the joining exec was not caught inside the container within 10s")
    # one line naming the victim (python, python3, ...); any more is a way into the host that worked
    assert re.fullmatch(r"victim python[\w.]*\n", out), out


def test_a_created_containers_init_is_out_of_reach(lading, bundle):
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    from tests.exec.support import USERNS

    bundle.config["linux"].update(USERNS)
    bundle.write(args=["true"])
    lading("create", "--bundle", str(bundle), "c1")
    out = lading(
        "exec",
        "--cap",
        "CAP_SYS_PTRACE",
        "c1",
        "sh",
        "-c",
        PROBE + "echo $(cat /proc/1/comm); probe /proc/1; true",
    )
    # the init's name (python, python3, ...) and nothing else: any more is a way into the host
    assert re.fullmatch(r"python[\w.]*\n", out.stdout), out.stdout


def test_no_exe_of_the_runtime_is_ever_opened_while_execs_join(lading, bundle):
    """A container process scans every process's /proc/PID/exe as fast as it can while execs join."""
    bundle.config["root"]["readonly"] = False
    loop = r"""
    while :; do
      for d in /proc/[0-9]*; do
        [ "$(readlink $d/exe 2>/dev/null)" = /bin/busybox ] && continue
        if (exec 3< $d/exe) 2>/dev/null; then echo "$d $(readlink $d/exe)" >> /hits; fi
      done
    done
    """
    start(lading, bundle, userns=True, args=["sh", "-c", loop])
    for _ in range(30):
        lading("exec", "--cap", "CAP_SYS_PTRACE", "c1", "true")
    hits = bundle.rootfs / "hits"
    assert not hits.exists() or "python" not in hits.read_text(), hits.read_text()


def _leaked_host_dir(fd: int, path: Path) -> None:
    """In a child before exec: fd refers to a host directory and is inherited (as if leaked)."""
    d = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    os.dup2(d, fd)
    os.close(d)


def test_exec_holds_no_leaked_host_fd(lading, bundle, tmp_path):
    start(lading, bundle)
    pid_file = tmp_path / "pid"
    lading(
        "exec",
        "--detach",
        "--pid-file",
        str(pid_file),
        "c1",
        "sleep",
        "1000",
        pass_fds=(3, 4, 5),
        preexec_fn=lambda: [_leaked_host_dir(n, tmp_path) for n in (3, 4, 5)],
    )
    assert sorted(os.listdir(f"/proc/{pid_file.read_text()}/fd")) == ["0", "1", "2"]


@pytest.mark.parametrize("fd", [3, 4, 5, 6, 7, 8])
def test_cwd_through_a_leaked_host_fd_is_refused(lading, bundle, tmp_path, fd):
    start(lading, bundle)
    (tmp_path / "host-secret").write_text("host")
    p = lading(
        "exec",
        "--cwd",
        f"/proc/self/fd/{fd}",
        "c1",
        "cat",
        "host-secret",
        pass_fds=(3, 4, 5),
        preexec_fn=lambda: [_leaked_host_dir(n, tmp_path) for n in (3, 4, 5)],
        check=False,
    )
    assert p.returncode == 255 and "host" not in p.stdout
    assert p.stderr.startswith(f"chdir to cwd '/proc/self/fd/{fd}' set in the process failed: ")


def test_cwd_through_a_preserved_host_fd_is_refused(lading, bundle, tmp_path):
    """A host directory passed on purpose (--preserve-fds) still cannot become the cwd."""
    start(lading, bundle)
    p = lading(
        "exec",
        "--preserve-fds",
        "1",
        "--cwd",
        "/proc/self/fd/3",
        "c1",
        "pwd",
        pass_fds=(3,),
        preexec_fn=lambda: _leaked_host_dir(3, tmp_path),
        check=False,
    )
    assert (p.returncode, p.stdout) == (255, "")
    assert p.stderr == "cwd '/proc/self/fd/3' is outside the container's root filesystem\n"


def test_create_with_cwd_through_a_host_fd_is_refused(lading, bundle, tmp_path):
    for preserve in ("0", "1"):
        (tmp_path / "host-secret").write_text("host")
        bundle.write(args=["cat", "host-secret"], cwd="/proc/self/fd/3")
        p = subprocess.run(
            [
                *lading_argv(),
                "--root",
                str(lading.root),
                "run",
                "--preserve-fds",
                preserve,
                "-b",
                str(bundle),
                "c1",
            ],
            env=lading_env(),
            capture_output=True,
            text=True,
            pass_fds=(3,),
            preexec_fn=lambda: _leaked_host_dir(3, tmp_path),
            timeout=60,
        )
        assert (p.returncode, p.stdout) == (1, ""), p.stderr
        # refused while building the rootfs (a magic link cannot be resolved inside the root), or
        # at the chdir (the directory reached is outside the container's root)
        assert p.stderr in (
            "config.json: $.process.cwd: cannot create '/proc/self/fd/3' in the rootfs: "
            "Too many levels of symbolic links\n",
            "cwd '/proc/self/fd/3' is outside the container's root filesystem\n",
        ), p.stderr
        assert not (lading.root / "c1").exists()


def _dynamic_loader() -> Path | None:
    for p in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"):
        if Path(p).exists():
            return Path(p)
    return None


@pytest.mark.skipif(_dynamic_loader() is None, reason="no known dynamic loader on this host")
def test_a_program_whose_interpreter_is_proc_self_exe_never_runs_the_host_python(lading, bundle):
    """The CVE-2019-5736 exploit proper: the container's program is ``#!/proc/self/exe``, so
    execve would start whatever the exec'ing process runs; with the host's dynamic loader in the
    image, the host's python would come up inside the container (blocked here reading an
    ld.so.preload FIFO) and a container process could open it through /proc/PID/exe."""
    loader = _dynamic_loader()
    assert loader is not None
    target = bundle.rootfs / str(loader).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(loader.resolve().read_bytes())
    target.chmod(0o755)
    evil = bundle.rootfs / "bin" / "evil"
    evil.write_text("#!/proc/self/exe\n")
    evil.chmod(0o755)
    bundle.config["root"]["readonly"] = False
    start(lading, bundle, userns=True)
    watcher = r"""
    mkfifo /etc/ld.so.preload; touch /armed
    while :; do
      for d in /proc/[0-9]*; do
        case "$(readlink $d/exe 2>/dev/null)" in
          *python*) (exec 3< $d/exe) 2>/dev/null && echo "opened $(readlink $d/exe)" >> /hits
                    echo > /etc/ld.so.preload; exit;;
        esac
      done
    done
    """
    lading("exec", "-d", "--cap", "CAP_SYS_PTRACE", "c1", "sh", "-c", watcher)
    _wait_for(bundle.rootfs / "armed")
    victim = lading("exec", "c1", "/bin/evil", check=False, timeout=30)
    assert not (bundle.rootfs / "hits").exists(), (bundle.rootfs / "hits").read_text()
    assert (victim.returncode, victim.stderr) == (127, "")


def test_the_init_also_execs_through_the_trampoline(lading, bundle):
    """create/start: a failed execve is still reported by `start`, and a /proc/self/exe
    interpreter ends at once instead of starting the host's python."""
    (bundle.rootfs / "bin" / "junk").write_bytes(b"\x01\x02 not a program")
    (bundle.rootfs / "bin" / "junk").chmod(0o755)
    (bundle.rootfs / "bin" / "evil").write_text("#!/proc/self/exe\n")
    (bundle.rootfs / "bin" / "evil").chmod(0o755)
    bundle.write(args=["/bin/junk"])
    p = lading("run", "--bundle", str(bundle), "c1", check=False)
    assert (p.returncode, p.stderr) == (1, "exec failed: Exec format error\n")
    bundle.write(args=["/bin/evil"])
    p = lading("run", "--bundle", str(bundle), "c2", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (127, "", "")
