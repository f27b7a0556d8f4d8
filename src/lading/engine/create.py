"""`container create`: everything checked first, then a name, two layers and the records.

Each step can be undone and is undone on failure, so bad input leaves nothing behind. The
container's lock is held from the moment its directory exists until config.v2.json is written:
a create killed half way leaves a directory that the next command recognizes (no config, lock
free) and removes together with its name and layers.
"""

from __future__ import annotations

import os
import time

from lading.engine import crash
from lading.engine import roots as roots_
from lading.engine.containers import Container
from lading.engine.roots import Roots
from lading.errors import LadingError
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lading.engine.image_record import ImageRecord


class CreateOptions(Record):
    """What `run` and `create` were asked for (every field given: cli/container.py)."""

    image: str
    cmd: list[str] | None
    entrypoint: list[str] | None
    name: str
    env: list[str]
    workdir: str
    user: str | None
    hostname: str
    labels: dict[str, str]
    binds: list[str]  # host:container[:ro|rw]
    memory: int
    nano_cpus: int
    pids_limit: int
    cap_add: list[str]
    cap_drop: list[str]
    read_only: bool
    privileged: bool
    security_opt: list[str]  # engine/security.py parse_options' form
    restart: str
    runtime: str
    init: bool
    auto_remove: bool
    tty: bool
    stdin_open: bool
    network: str
    log_opts: dict[str, str]


def now() -> str:
    """RFC 3339 with nanoseconds in UTC, as docker writes times."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def restart_policy(text: str) -> dict[str, Any]:
    name, _, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure") or (count and name != "on-failure"):
        raise LadingError(
            f"invalid restart policy {text!r}: use no, always, unless-stopped or on-failure[:max-retries]"
        )
    if count and not count.isdigit():
        raise LadingError(f"invalid restart policy {text!r}: maximum retry count must be a number")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def parse_bind(text: str) -> tuple[str, str, str]:
    """``/host:/ctr[:ro|rw]`` to (source, destination, mode)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0].startswith("/") or not parts[1].startswith("/"):
        raise LadingError(f"invalid volume specification: {text!r} (expected /host/path:/container/path[:ro])")
    mode = parts[2] if len(parts) == 3 else ""
    if mode not in ("", "ro", "rw"):
        raise LadingError(f"invalid mode {mode!r} in volume specification {text!r}: use ro or rw")
    return parts[0], parts[1], mode


def _check_binds(binds: list[str]) -> None:
    for b in binds:
        source = parse_bind(b)[0]
        if not os.path.exists(source):
            raise LadingError(f'invalid mount config for type "bind": bind source path does not exist: {source}')


def _records(
    cid: str, name: str, mount_id: str, image: ImageRecord, o: CreateOptions, cdir: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    from lading.image.convert import command, image_env, merge_env

    c = image.config
    entrypoint, cmd = command(c.get("Entrypoint"), c.get("Cmd"), o.entrypoint, o.cmd)
    args = [*entrypoint, *cmd]
    if not args:
        raise LadingError("No command specified")
    hostname = o.hostname or (os.uname().nodename if o.network == "host" else cid[:12])
    config = {
        "ID": cid,
        "Name": f"/{name}",
        "Created": now(),
        "Path": args[0],
        "Args": args[1:],
        "Config": {
            "Hostname": hostname,
            "User": o.user if o.user is not None else (c.get("User") or ""),
            "Tty": o.tty,
            "OpenStdin": o.stdin_open,
            "Env": merge_env(image_env(c.get("Env")), o.env),
            "Cmd": cmd,
            "Entrypoint": entrypoint or None,
            "Image": image.name,
            "WorkingDir": o.workdir or c.get("WorkingDir") or "",
            "Labels": {**(c.get("Labels") or {}), **o.labels},
            "StopSignal": c.get("StopSignal") or "SIGTERM",
        },
        "Image": image.id,
        "State": {
            "Status": "created",
            "Running": False,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": 0,
            "ExitCode": 0,
            "Error": "",
            "StartedAt": "0001-01-01T00:00:00Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Driver": "overlay2",
        "MountID": mount_id,
        "RestartCount": 0,
        "HasBeenStartedBefore": False,
        "HasBeenManuallyStopped": False,
        "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"),
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "LogPath": str(cdir / f"{cid}-json.log"),
    }
    host = {
        "Binds": o.binds,
        "NetworkMode": o.network,
        "RestartPolicy": restart_policy(o.restart),
        "AutoRemove": o.auto_remove,
        "Runtime": roots_.runtime_path(o.runtime),
        "Privileged": o.privileged,
        "SecurityOpt": o.security_opt or None,
        "ReadonlyRootfs": o.read_only,
        "CapAdd": o.cap_add,
        "CapDrop": o.cap_drop,
        "Memory": o.memory,
        "NanoCpus": o.nano_cpus,
        "PidsLimit": o.pids_limit,
        "Init": o.init,
        "InitPath": "",
        "LogConfig": {"Type": "json-file", "Config": dict(o.log_opts)},
    }
    if o.init:
        from lading.engine.bundle import init_binary

        host["InitPath"] = init_binary() or ""
        if not host["InitPath"]:
            raise LadingError("--init: no init program found on this host (docker-init, catatonit or tini)")
    return config, host


def create(roots: Roots, image: ImageRecord, o: CreateOptions) -> Container:
    if o.network not in ("none", "host"):
        raise LadingError(f"--network {o.network}: only none and host are supported for now")
    _check_binds(o.binds)
    if o.workdir and not o.workdir.startswith("/"):
        raise LadingError(f"the working directory '{o.workdir}' is invalid, it needs to be an absolute path")
    store_ = roots.containers
    layers = roots.layers
    mount_id = os.urandom(32).hex()
    with store_.new() as (cid, cdir):
        name = ""
        try:
            config, host = _records(cid, o.name or "pending", mount_id, image, o, cdir)
            if o.name:
                store_.claim_name(o.name, cid)
                name = o.name
            else:
                name = store_.generate_name(cid)
            config["Name"] = f"/{name}"
            crash.point("create-name")
            for shared in (True, False):  # exclusive only to unpack a missing image layer
                with layers.locked(shared):
                    top = layers.add_image(roots.storage, image, unpack=not shared)
                    if top is not None:
                        layers.add_container(cid, mount_id, top)
                        break
            crash.point("create-layers")
            c = Container(cid, cdir, config, host)
            store_.save(c, host=True)
            return c
        except BaseException:
            with layers.locked():
                layers.remove_container(cid, mount_id)
            if name:
                store_.release_name(name, cid)
            store_.remove_dir(cid)
            raise
