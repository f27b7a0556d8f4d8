"""The process `container exec` starts, as the process.json the runtime's exec is given.

The runtime's own exec flags only change the container's process: ``--user UID:GID`` keeps the
container's additional groups (root's group 0 for a container run as root) and
``--additional-gids`` only adds to them. docker and podman give an exec'd ``-u USER[:GROUP]`` the
user's own groups, read from the container's /etc/passwd and /etc/group as `run -u` does, so the
engine hands the runtime the whole process instead (``--process``, which runc and crun take too):
the container's process from its bundle with the command, terminal, working directory, the
added environment and the user replaced.
"""

from __future__ import annotations

import json

from lading.engine import bundle
from lading.image.convert import merge_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


def exec_process(
    bundle_dir: Path, rootfs: Path, command: list[str], tty: bool, workdir: str, env: list[str], user: str
) -> dict[str, Any]:
    """The container's process (its bundle's config.json) changed as `container exec`'s flags say."""
    with open(bundle_dir / "config.json") as f:
        process: dict[str, Any] = json.load(f)["process"]
    process.update(args=command, terminal=tty, env=merge_env(process.get("env") or [], env))
    if workdir:
        process["cwd"] = workdir
    if user:
        process["user"] = bundle.process_user(user, rootfs)
    return process
