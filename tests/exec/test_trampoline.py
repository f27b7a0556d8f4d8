"""The exec trampoline (lading.linux.trampoline) run for real: argv, env, errors, sealing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lading.linux import trampoline


def _run(path: str, args: list[str], env: dict[str, str]) -> tuple[int, bytes, str]:
    """Fork, exec path through the trampoline; (exit status, stdout, reported error)."""
    errors_r, errors_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(out_w, 1)
            os.closerange(3, errors_w)  # nothing inherited but the error pipe
            os.closerange(errors_w + 1, 65536)
            os.set_inheritable(errors_w, True)
            trampoline.execve(trampoline.load(errors_w), path, args, env)
        finally:
            os._exit(99)
    os.close(errors_w)
    os.close(out_w)
    out = b""
    while chunk := os.read(out_r, 4096):
        out += chunk
    report = os.read(errors_r, 16)
    os.close(out_r)
    os.close(errors_r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out, trampoline.describe(report)


def test_execs_the_program_with_its_own_argv_and_env():
    sh = shutil.which("sh") or "/bin/sh"
    script = 'echo "$0 $1 $A"; head -c 8 /proc/$$/cmdline; echo; ls /proc/self/fd'
    status, out, error = _run(sh, ["my-argv0", "-c", script, "zero", "one"], {"A": "x"})
    assert (status, error) == (0, "")
    lines = out.decode().split("\n")
    assert lines[:2] == ["zero one x", "my-argv0"]
    assert sorted(lines[2:-1]) == ["0", "1", "2", "3"]  # the error pipe was closed on exec (3: ls's)


def test_a_failed_execve_is_reported_with_its_errno(tmp_path):
    assert _run(str(tmp_path / "missing"), ["x"], {}) == (127, b"", "exec failed: No such file or directory")
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x01\x02 not a program")
    junk.chmod(0o755)
    assert _run(str(junk), ["x"], {}) == (127, b"", "exec failed: Exec format error")


def test_a_proc_self_exe_interpreter_ends_at_once(tmp_path):
    script = tmp_path / "self"
    script.write_text("#!/proc/self/exe\n")
    script.chmod(0o755)
    status, out, _ = _run(str(script), ["self"], {})
    assert (status, out) == (127, b"")


def test_its_executable_is_a_sealed_memfd(tmp_path):
    r, w = os.pipe2(os.O_CLOEXEC)
    fd = trampoline.load(w)
    try:
        assert os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:lading-exec")
        with pytest.raises(PermissionError):
            os.write(fd, b"x")
        again = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
        try:
            with pytest.raises(PermissionError):
                os.pwrite(again, b"x", 0)
        finally:
            os.close(again)
    finally:
        os.close(fd)
        os.close(r)
        os.close(w)


@pytest.mark.skipif(not shutil.which("qemu-aarch64-static"), reason="qemu-aarch64-static is not installed")
def test_the_aarch64_trampoline_under_qemu(tmp_path):
    image = tmp_path / "trampoline"
    image.write_bytes(trampoline.image(9, "aarch64"))
    image.chmod(0o755)
    qemu = shutil.which("qemu-aarch64-static")
    assert qemu is not None
    r, w = os.pipe()
    try:

        def child() -> None:
            os.dup2(w, 9)

        echo = shutil.which("echo") or "/bin/echo"
        p = subprocess.run(
            [qemu, "-0", echo, str(image), "echo", "hi"], capture_output=True, pass_fds=(9,), preexec_fn=child
        )
        assert (p.returncode, p.stdout) == (0, b"hi\n")
        p = subprocess.run([qemu, "-0", str(Path("/nonexistent")), str(image), "x"], pass_fds=(9,), preexec_fn=child)
        assert p.returncode == 127
        os.close(w)
        w = -1
        assert trampoline.describe(os.read(r, 16)) == "exec failed: No such file or directory"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
