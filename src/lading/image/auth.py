"""Registry credentials and the WWW-Authenticate challenge.

Credentials come from ``--creds USER[:PASSWORD]`` or, as docker and podman find them, from
``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``) and ``$REGISTRY_AUTH_FILE``
(podman's auth.json): the ``auths`` entry for the registry host, as base64 ``auth`` or as
``username``/``password``. Docker Hub's entry is keyed ``https://index.docker.io/v1/``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lading.errors import LadingError

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
_PARAM = re.compile(r'\s*([a-zA-Z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass
class Challenge:
    scheme: str  # "bearer" or "basic", lowercased
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Challenge:
    """``Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"``."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return Challenge(scheme.lower(), params)


def parse_creds(text: str) -> Credentials:
    user, sep, password = text.partition(":")
    if not user:
        raise LadingError("--creds: expected USERNAME[:PASSWORD]")
    if not sep:
        import getpass

        password = getpass.getpass(f"Password for {user}: ")
    return Credentials(user, password)


def _auth_files() -> list[Path]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    docker_dir = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    files.append(Path(docker_dir) / "config.json")
    return files


def from_config(registry: str) -> Credentials | None:
    """The stored credentials for a registry host (``docker.io`` or ``host:port``), if any."""
    keys = _HUB_KEYS if registry == "docker.io" else (registry, f"https://{registry}", f"http://{registry}")
    for path in _auth_files():
        try:
            auths = json.loads(path.read_text()).get("auths", {})
        except FileNotFoundError:
            continue
        except (OSError, ValueError, AttributeError) as e:
            raise LadingError(f"{path}: cannot read credentials: {e}") from None
        for key in keys:
            entry = auths.get(key) or auths.get(key.rstrip("/"))
            if not isinstance(entry, dict):
                continue
            if entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except ValueError:
                    raise LadingError(f"{path}: $.auths[{key!r}].auth: not base64 of user:password") from None
                return Credentials(user, password)
            if entry.get("username"):
                return Credentials(entry["username"], entry.get("password", ""))
    return None
