"""Running OCI hooks: the container state on stdin, a timeout, and runc's error reporting.

Hooks run at six points of the lifecycle (config.md "POSIX-platform Hooks"). The ones that run in
the runtime namespace (prestart, createRuntime, poststart, poststop) are started by the runtime;
createContainer and startContainer run from the container's init process, inside the container's
namespaces. Both use this module, which forks and execs directly (no subprocess import) because
the init may have already pivoted into a root without Python's standard library.

As with runc: a hook without ``env`` inherits the environment of whoever runs it (the caller
passes the runtime's environment, or the container process's for the hooks in the container); a
hook gets the state on stdin, its stdout and stderr are kept (the last 4 KiB) for the error
message, and no other fd of the runtime. Each hook leads its own process group, so a hook that
times out is killed with everything it started; one that exits in time may leave a daemon behind
(prestart hooks that start a network helper rely on that).
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why
import select
import time

from lading import jsonlite, log
from lading.errors import LadingError
from lading.linux import signals
from lading.linux.paths import fsdecode
from lading.linux.process import reset_signals

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping  # collections.abc imports collections
    from typing import Any

OUTPUT_LIMIT = 4096
_MAX_POLL_MS = 2**31 - 1
_FD_LIMIT = 2**31 - 1


def state_json(
    oci_version: str, cid: str, status: str, pid: int | None, bundle: str, annotations: dict[str, str]
) -> str:
    """The state hooks get on stdin (runtime.md "State"); no pid once stopped, as it may
    already belong to another process."""
    state: dict[str, Any] = {"ociVersion": oci_version, "id": cid, "status": status}
    if pid is not None and status != "stopped":
        state["pid"] = pid
    state["bundle"] = bundle
    state["annotations"] = annotations
    return jsonlite.dumps(state)


def run(kind: str, hooks: list[dict[str, Any]] | None, state_json: str, env: Mapping[str, str] | None = None) -> None:
    """Run each hook in order; raise LadingError naming the first one that fails.

    ``env`` is the environment of hooks that give none (default: this process's)."""
    for i, hook in enumerate(hooks or []):
        log.debug("running hook %s[%d]: %s", kind, i, hook["path"])
        run_one(f"{kind}[{i}]", hook, state_json, env)


def run_poststop(poststop: list[dict[str, Any]] | None, state_json: str) -> None:
    """Every poststop hook, in order; a failing one is only a warning (runtime.md lifecycle 13)."""
    for i, hook in enumerate(poststop or []):
        try:
            run_one(f"poststop[{i}]", hook, state_json)
        except LadingError as e:
            log.warning(str(e))


def _environ() -> dict[str, str]:
    """os.environ as a dict: posix.environ, decoded as os decodes it."""
    return {fsdecode(k): fsdecode(v) for k, v in posix.environ.items()}


def run_one(name: str, hook: dict[str, Any], state_json: str, env: Mapping[str, str] | None = None) -> None:
    path = hook["path"]
    args = hook.get("args") or [path]
    if "env" in hook:
        hook_env = dict(e.split("=", 1) for e in hook["env"] if "=" in e)
    else:
        hook_env = _environ() if env is None else dict(env)
    timeout = hook.get("timeout")
    stdin_r, stdin_w = posix.pipe()
    out_r, out_w = posix.pipe()
    pid = posix.fork()
    if pid == 0:  # the hook
        try:
            posix.setpgid(0, 0)
            posix.dup2(stdin_r, 0)
            posix.dup2(out_w, 1)
            posix.dup2(out_w, 2)
            posix.closerange(3, _FD_LIMIT)
            reset_signals()
            posix.execve(path, args, hook_env)
        except OSError as e:
            posix.write(2, f"exec {path}: {e.strerror or e}\n".encode())
        except BaseException as e:
            posix.write(2, f"{e}\n".encode())
        finally:
            posix._exit(127)
    try:
        posix.setpgid(pid, pid)  # also here, so a timeout can never miss the group
    except OSError:
        pass  # the hook already did it and exec'd
    posix.close(stdin_r)
    posix.close(out_w)
    try:
        status, output = _communicate(pid, stdin_w, state_json.encode(), out_r, timeout)
    finally:
        posix.close(out_r)
    detail = output.decode(errors="replace").strip().replace("\n", "; ")
    if status is None:
        raise LadingError(
            f"{name} hook {path} timed out after {timeout}s and was killed" + (f": {detail}" if detail else "")
        )
    if status != 0:
        why = f"exit status {status}" if status > 0 else f"signal {-status}"
        raise LadingError(f"{name} hook {path} failed with {why}" + (f": {detail}" if detail else ""))


def _communicate(pid: int, in_fd: int, data: bytes, out_fd: int, timeout: float | None) -> tuple[int | None, bytes]:
    """Feed the state to the hook (then close ``in_fd``) and collect its output until it exits;
    None status (after killing its process group) on timeout. A hook need not read its stdin."""
    pidfd = posix.pidfd_open(pid)
    posix.set_blocking(in_fd, False)
    poller = select.poll()
    poller.register(out_fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    poller.register(in_fd, select.POLLOUT)
    deadline = None if timeout is None else time.monotonic() + timeout
    output = b""
    exited = False
    try:
        while not exited:
            left = None
            if deadline is not None:
                left = min(_MAX_POLL_MS, max(0, int((deadline - time.monotonic()) * 1000)))
            events = poller.poll(left)
            if not events:
                try:
                    posix.killpg(pid, signals.SIGKILL)
                except ProcessLookupError:
                    pass
                posix.waitpid(pid, 0)
                return None, output
            for fd, _ in events:
                if fd == pidfd:
                    exited = True
                elif fd == in_fd:
                    try:
                        data = data[posix.write(in_fd, data) :]
                    except BrokenPipeError:
                        data = b""
                    if not data:
                        poller.unregister(in_fd)
                        posix.close(in_fd)
                        in_fd = -1
                else:
                    chunk = posix.read(out_fd, 4096)
                    if not chunk:
                        poller.unregister(out_fd)
                    output = (output + chunk)[-OUTPUT_LIMIT:]
    finally:
        posix.close(pidfd)
        if in_fd >= 0:
            posix.close(in_fd)
    _, status = posix.waitpid(pid, 0)
    posix.set_blocking(out_fd, False)
    try:
        output = (output + posix.read(out_fd, OUTPUT_LIMIT))[-OUTPUT_LIMIT:]
    except BlockingIOError:
        pass
    return posix.waitstatus_to_exitcode(status), output
