"""Decode OCI JSON documents into the spec models, failing with one line that says file, where and what.

config.json, process.json and resources go to the lading.spec.model classes (no msgspec import);
the image documents are msgspec Structs and decode with msgspec. lading.spec.decode_errors,
which explains a failure, is imported only when there is one.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading.errors import LadingError, NotFoundError
from lading.spec.model import Malformed, Model, Rejected, decode_document

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from os import PathLike
    from typing import TypeVar

    from lading.spec.runtime_config import Spec

    T = TypeVar("T")


def load_config(path: str | PathLike[str]) -> Spec:
    """Read and decode a bundle's config.json."""
    return decode_config(read_document(path), source=posix.fspath(path))


def decode_config(data: bytes, source: str = "config.json") -> Spec:
    from lading.spec.runtime_config import Spec

    return decode(data, Spec, source)


def read_document(path: str | PathLike[str]) -> bytes:
    """A file's bytes, or a one-line error naming it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise NotFoundError(f"{posix.fspath(path)}: no such file") from None
    except OSError as e:
        raise LadingError(f"{posix.fspath(path)}: {(e.strerror or str(e)).lower()}") from None


def decode(data: bytes, kind: type[T], source: str) -> T:
    """Decode a JSON document into ``kind`` (a model, or a msgspec type); any failure is a
    LadingError naming ``source``."""
    if isinstance(kind, type) and issubclass(kind, Model):
        return _decode_model(data, kind, source)  # type: ignore[return-value]
    return _decode_struct(data, kind, source)


def _decode_model(data: bytes, model: type[Model], source: str) -> Model:
    try:
        return decode_document(data, model)
    except Rejected as e:
        from lading.spec.decode_errors import describe_rejected

        raise LadingError(f"{source}: {describe_rejected(e, data, model)}") from None
    except Malformed as e:
        from lading.spec.decode_errors import describe_not_json

        raise LadingError(f"{source}: {describe_not_json(e, data)}") from None
    except ValueError:  # not JSON, or not UTF-8
        from lading.spec.decode_errors import describe_malformed

        raise LadingError(f"{source}: {describe_malformed(ValueError(), data)}") from None


def _decode_struct(data: bytes, kind: type[T], source: str) -> T:
    import msgspec

    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as e:
        from lading.spec.decode_errors import describe_invalid

        raise LadingError(f"{source}: {describe_invalid(e, data, kind)}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        from lading.spec.decode_errors import describe_malformed

        raise LadingError(f"{source}: {describe_malformed(e, data)}") from None
