"""Image config to runtime config (image-spec conversion.md), as an overlay on lading's defaults.

What the image says wins over the defaults: args are Entrypoint + Cmd (either replaceable from
the command line), Env (with PATH added only if the image sets none), WorkingDir, and User,
resolved against the image's own /etc/passwd and /etc/group (read inside the rootfs, so a
symlinked /etc/passwd cannot make us read the host's). Labels become annotations and take
precedence over the implicit ones (os, architecture, created, ...), as the spec requires.
"""

from __future__ import annotations

import os

from lading.errors import LadingError
from lading.linux.fs import open_in_root
from lading.record import Record

TYPE_CHECKING = False  # the engine uses this module without reading image documents (msgspec)
if TYPE_CHECKING:
    from typing import Any

    from lading.spec.image import ImageConfig

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_DB = 4 << 20


class Overrides(Record):
    entrypoint: list[str] | None = None  # replaces Config.Entrypoint (and drops Config.Cmd)
    cmd: list[str] | None = None  # replaces Config.Cmd
    env: tuple[str, ...] = ()  # added or replacing by name
    user: str | None = None
    cwd: str | None = None
    terminal: bool = False
    readonly: bool = False


def _read_in_root(rootfs: str, path: str) -> str | None:
    try:
        rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fd = open_in_root(rootfd, path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    finally:
        os.close(rootfd)
    with os.fdopen(fd, "rb") as f:
        return f.read(_MAX_DB).decode("utf-8", "replace")


def _table(text: str | None) -> list[list[str]]:
    if not text:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


_MAX_ID = (1 << 31) - 1  # the kernel takes ids up to 2^32 - 2; runc and docker stop at this


def resolve_user(spec_: str, rootfs: str, source: str = "image config: $.config.User") -> dict[str, Any]:
    """``user``, ``uid``, ``user:group``, ``uid:gid`` (and mixes) to process.user."""
    if not spec_:
        return {"uid": 0, "gid": 0}
    user, _, group = spec_.partition(":")
    passwd = _table(_read_in_root(rootfs, "etc/passwd"))
    entry = next((p for p in passwd if len(p) >= 4 and (p[0] == user or p[2] == user)), None)
    if user.isdigit():
        uid = int(user)
        gid = int(entry[3]) if entry and entry[2] == user else 0
    elif entry is None:
        raise LadingError(f"{source}: unable to find user {user}: no matching entries in passwd file")
    else:
        uid, gid = int(entry[2]), int(entry[3])
    result: dict[str, Any] = {"uid": uid, "gid": gid}
    groups = _table(_read_in_root(rootfs, "etc/group"))
    if group:
        if group.isdigit():
            result["gid"] = int(group)
        else:
            g = next((g for g in groups if len(g) >= 3 and g[0] == group), None)
            if g is None:
                raise LadingError(f"{source}: unable to find group {group}: no matching entries in group file")
            result["gid"] = int(g[2])
    elif not user.isdigit():
        extra = sorted({int(g[2]) for g in groups if len(g) >= 4 and user in g[3].split(",") and g[2].isdigit()})
        if extra:
            result["additionalGids"] = extra
    if not all(0 <= n <= _MAX_ID for n in (result["uid"], result["gid"])):
        raise LadingError(f"{source}: uids and gids must be in range 0-{_MAX_ID}")
    return result


def merge_env(base: list[str], extra: list[str] | tuple[str, ...]) -> list[str]:
    out = {e.partition("=")[0]: e for e in base}
    for e in extra:
        out[e.partition("=")[0]] = e
    return list(out.values())


def image_annotations(cfg: ImageConfig) -> dict[str, str]:
    prefix = "org.opencontainers.image."
    implicit = {
        "os": cfg.os,
        "architecture": cfg.architecture,
        "variant": cfg.variant,
        "os.version": cfg.os_version,
        "os.features": ",".join(cfg.os_features),
        "author": cfg.author,
        "created": cfg.created,
        "stopSignal": cfg.config.stop_signal,
        "exposedPorts": ",".join(cfg.config.exposed_ports or {}),
    }
    out = {prefix + k: v for k, v in implicit.items() if v}
    out.update(cfg.config.labels or {})
    return out


def command(
    image_entrypoint: list[str] | None, image_cmd: list[str] | None, entrypoint: list[str] | None, cmd: list[str] | None
) -> tuple[list[str], list[str]]:
    """(Entrypoint, Cmd) after the command line's: a new entrypoint also drops the image's Cmd."""
    ep = entrypoint if entrypoint is not None else (image_entrypoint or [])
    return ep, cmd if cmd is not None else ([] if entrypoint is not None else (image_cmd or []))


def image_env(env: list[str] | None) -> list[str]:
    """The image's Env, with a default PATH if it sets none."""
    env = list(env or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, DEFAULT_PATH)
    return env


def overlay(cfg: ImageConfig, rootfs: str, o: Overrides) -> dict[str, Any]:
    """The parts of config.json the image (and the command line) decide."""
    c = cfg.config
    entrypoint, cmd = command(c.entrypoint, c.cmd, o.entrypoint, o.cmd)
    args = [*entrypoint, *cmd]
    if not args:
        raise LadingError("the image has no Entrypoint or Cmd: give the command to run after the image name")
    env = image_env(c.env)
    if o.terminal and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    return {
        "process": {
            "terminal": o.terminal,
            "user": resolve_user(c.user, rootfs) if o.user is None else resolve_user(o.user, rootfs, "--user"),
            "args": args,
            "env": merge_env(env, o.env),
            "cwd": o.cwd or c.working_dir or "/",
        },
        "root": {"path": "rootfs", "readonly": o.readonly},
        "annotations": image_annotations(cfg),
    }


def apply(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on ``base``: nested objects merge, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = apply(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
