"""hostname, hosts and resolv.conf for a container, made at each start in its metadata directory
and bind-mounted over the init layer's placeholders (as docker does).

hostname and hosts are rewritten every time. resolv.conf is rewritten too unless the user edited
it: resolv.conf.hash holds the hash of what the engine last wrote, and a file that no longer
matches it is kept. With the host's network the host's own hosts and resolv.conf are copied; in a
namespace of its own, where only lo exists, nameservers on the host's loopback are unreachable,
so they are dropped.
"""

from __future__ import annotations

from pathlib import Path

from lading.digest import sha256_hex
from lading.engine.containers import atomic_write

_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def _host_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _resolv(host_network: bool) -> str:
    text = _host_file("/etc/resolv.conf")
    if host_network:
        return text
    lines = [
        line
        for line in text.splitlines()
        if not (
            line.split()[:1] == ["nameserver"] and line.split()[1:2] and line.split()[1].startswith(("127.", "::1"))
        )
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def write(cdir: Path, hostname: str, host_network: bool) -> None:
    atomic_write(cdir / "hostname", hostname + "\n", durable=False)
    atomic_write(cdir / "hosts", _host_file("/etc/hosts") if host_network else _HOSTS, durable=False)
    resolv, stamp = cdir / "resolv.conf", cdir / "resolv.conf.hash"
    digest = sha256_hex(resolv.read_bytes()) if resolv.exists() else ""
    if digest and stamp.exists() and digest != stamp.read_text().strip():
        return  # the user's edit
    text = _resolv(host_network)
    atomic_write(resolv, text, durable=False)
    atomic_write(stamp, sha256_hex(text.encode()) + "\n", durable=False)
