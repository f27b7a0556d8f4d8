"""What confines a container besides its capabilities: ``--security-opt`` and ``--privileged``.

``--security-opt`` takes docker's options: ``seccomp=unconfined`` (no filter), ``seccomp=FILE``
(a profile in docker's JSON form, read and checked at create; the host config keeps its text, as
docker's does, so a later edit of the file changes nothing), ``seccomp=builtin`` (the default),
``no-new-privileges[=true|false]``, and ``apparmor=unconfined`` and ``label=disable``, which ask
for what the engine does anyway (it applies no AppArmor profile and no SELinux label; other
values of those two are refused, saying so). Anything else is refused in docker's words.

``--privileged`` (docker's meaning): every capability, no seccomp filter whatever was asked, the
host's devices in the container's /dev with a device cgroup that allows all, /sys and the cgroup
file system read-write, nothing masked or read-only.
"""

from __future__ import annotations

import os
import stat

from lading import jsonlite
from lading.errors import LadingError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_NOOP = {"apparmor": "unconfined", "label": "disable"}
_NOOPS = tuple(f"{k}={v}" for k, v in _NOOP.items())
_LSM = {"apparmor": "AppArmor profile", "label": "SELinux label"}
# what the host's /dev holds that is not a device of its own, or that the container gets its own of
# (ptmx: a link to its own devpts instance's)
_NOT_HOST_DEVICES = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev", "console", "ptmx")


def _profile_text(path: str) -> str:
    """A profile file's content, checked and made compact."""
    import json

    from lading.engine import seccomp
    from lading.spec.decode import read_document

    try:
        doc = json.loads(read_document(path))
    except json.JSONDecodeError as e:
        raise LadingError(f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg.lower()}") from None
    seccomp.check(doc, path)
    return json.dumps(doc, separators=(",", ":"))


def parse_options(values: list[str]) -> list[str]:
    """``--security-opt`` values -> the host config's SecurityOpt (a file's profile inlined)."""
    out = []
    for opt in values:
        key, eq, value = opt.partition("=")
        if opt in _NOOPS or opt == "no-new-privileges":
            out.append(opt)
        elif not eq or not value:
            raise LadingError(f"invalid --security-opt 1: {jsonlite.dumps(opt)}")
        elif key == "seccomp":
            out.append(opt if value in ("unconfined", "builtin") else f"seccomp={_profile_text(value)}")
        elif key == "no-new-privileges" and value in (*_TRUE, *_FALSE):
            out.append(opt)
        elif key in ("apparmor", "label"):
            raise LadingError(f"--security-opt {opt}: the engine applies no {_LSM[key]} (only {key}={_NOOP[key]})")
        else:
            raise LadingError(f"invalid --security-opt 2: {jsonlite.dumps(opt)}")
    return out


def _last(host: dict[str, Any], key: str) -> str | None:
    """The value of the last SecurityOpt ``key=...`` (``key`` alone: "")."""
    found = None
    for opt in host.get("SecurityOpt") or ():
        k, _, value = opt.partition("=")
        if k == key:
            found = value
    return found


def no_new_privileges(host: dict[str, Any]) -> bool:
    value = _last(host, "no-new-privileges")
    return value is not None and value not in _FALSE


def seccomp(host: dict[str, Any], caps: list[str]) -> dict[str, Any] | None:
    """The bundle's ``linux.seccomp`` (None: unconfined)."""
    import json

    from lading.engine import seccomp as profiles

    value = _last(host, "seccomp")
    if host.get("Privileged") or value == "unconfined":
        return None
    if value and value != "builtin":
        return profiles.linux_seccomp(json.loads(value), caps)
    from lading.engine import seccomp_default

    return profiles.linux_seccomp(seccomp_default.profile(), caps)


def host_devices(top: str = "/dev") -> list[dict[str, Any]]:
    """The host's device nodes, as ``linux.devices`` entries (the runtime makes or binds them)."""
    found = []
    for entry in os.scandir(top):
        if entry.name in _NOT_HOST_DEVICES:
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            found += host_devices(entry.path)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            found.append(
                {
                    "path": entry.path,
                    "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                    "major": os.major(st.st_rdev),
                    "minor": os.minor(st.st_rdev),
                    "fileMode": stat.S_IMODE(st.st_mode),
                    "uid": st.st_uid,
                    "gid": st.st_gid,
                }
            )
    return sorted(found, key=lambda d: str(d["path"]))
