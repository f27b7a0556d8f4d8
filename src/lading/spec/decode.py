"""Decode OCI JSON documents into the spec models, failing with one line that says file, where and what.

The happy path is a single msgspec decode (in C); lading.spec.decode_errors, which explains a
failure, is imported only when there is one.
"""

from __future__ import annotations

import os
from typing import TypeVar

import msgspec

from lading.errors import LadingError, NotFoundError
from lading.spec.runtime_config import Spec

T = TypeVar("T")


def load_config(path: str | os.PathLike[str]) -> Spec:
    """Read and decode a bundle's config.json."""
    return decode_config(read_document(path), source=os.fspath(path))


def decode_config(data: bytes, source: str = "config.json") -> Spec:
    return decode(data, Spec, source)


def read_document(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes, or a one-line error naming it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise NotFoundError(f"{os.fspath(path)}: no such file") from None
    except OSError as e:
        raise LadingError(f"{os.fspath(path)}: {(e.strerror or str(e)).lower()}") from None


def decode(data: bytes, type: type[T], source: str) -> T:
    """Decode a JSON document into ``type``; any failure is a LadingError naming ``source``."""
    try:
        return msgspec.json.decode(data, type=type)
    except msgspec.ValidationError as e:
        from lading.spec.decode_errors import describe_invalid

        raise LadingError(f"{source}: {describe_invalid(e, data, type)}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        from lading.spec.decode_errors import describe_malformed

        raise LadingError(f"{source}: {describe_malformed(e, data)}") from None
