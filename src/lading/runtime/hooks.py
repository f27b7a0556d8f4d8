"""Running OCI hooks: the container state on stdin, a timeout, and runc's error reporting.

Hooks run at six points of the lifecycle (config.md "POSIX-platform Hooks"). The ones that run in
the runtime namespace (prestart, createRuntime, poststart, poststop) are started by the runtime;
createContainer and startContainer run from the container's init process, inside the container's
namespaces. Both use this module, which forks and execs directly (no subprocess import) because
the init may have already pivoted into a root without Python's standard library.
"""

from __future__ import annotations

import os
import select
import signal
import time
from typing import Any

from lading.errors import LadingError

OUTPUT_LIMIT = 4096


def run(kind: str, hooks: list[dict[str, Any]] | None, state_json: str) -> None:
    """Run each hook in order; raise LadingError naming the first one that fails."""
    for i, hook in enumerate(hooks or []):
        run_one(f"{kind}[{i}]", hook, state_json)


def run_one(name: str, hook: dict[str, Any], state_json: str) -> None:
    path = hook["path"]
    args = hook.get("args") or [path]
    env = hook.get("env") or []
    timeout = hook.get("timeout")
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the hook
        try:
            os.dup2(stdin_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            os.execve(path, args, dict(e.split("=", 1) for e in env if "=" in e))
        except BaseException as e:
            os.write(2, f"{e}\n".encode())
        finally:
            os._exit(127)
    os.close(stdin_r)
    os.close(out_w)
    try:
        try:
            os.write(stdin_w, state_json.encode())
        except BrokenPipeError:
            pass  # the hook need not read its stdin
        os.close(stdin_w)
        stdin_w = -1
        status, output = _wait(pid, out_r, timeout)
    finally:
        if stdin_w >= 0:
            os.close(stdin_w)
        os.close(out_r)
    if status is None:
        raise LadingError(f"{name} hook {path} timed out after {timeout}s")
    if status != 0:
        detail = output.decode(errors="replace").strip().replace("\n", "; ")
        why = f"exit status {status}" if status > 0 else f"signal {-status}"
        raise LadingError(f"{name} hook {path} failed with {why}" + (f": {detail}" if detail else ""))


def _wait(pid: int, out_fd: int, timeout: float | None) -> tuple[int | None, bytes]:
    """Collect output until the hook exits; None status (after killing it) on timeout."""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(out_fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    deadline = None if timeout is None else time.monotonic() + timeout
    output = b""
    exited = False
    try:
        while not exited:
            left = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            events = poller.poll(left)
            if not events:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None, output
            for fd, _ in events:
                if fd == pidfd:
                    exited = True
                else:
                    chunk = os.read(out_fd, 4096)
                    if not chunk:
                        poller.unregister(out_fd)
                    output = (output + chunk)[-OUTPUT_LIMIT:]
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    os.set_blocking(out_fd, False)
    try:
        output = (output + os.read(out_fd, OUTPUT_LIMIT))[-OUTPUT_LIMIT:]
    except BlockingIOError:
        pass
    return os.waitstatus_to_exitcode(status), output
