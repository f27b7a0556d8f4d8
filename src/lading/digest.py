"""SHA-256 in hex, for chain IDs and the resolv.conf hash, without loading OpenSSL.

hashlib takes its SHA-256 from OpenSSL, whose loading costs every engine command a few
milliseconds of CPU (a `run` computes two digests, a runtime `create` one for its seccomp cache);
CPython 3.11 has its own implementation as the ``_sha256`` module, which is what this uses when
it is there.
"""

from __future__ import annotations

try:
    from _sha256 import sha256  # type: ignore[import-not-found]  # no stub: the C module behind hashlib's fallback
except ImportError:  # another CPython (3.12 names it _sha2)
    from hashlib import sha256


def sha256_hex(data: bytes) -> str:
    return str(sha256(data).hexdigest())
