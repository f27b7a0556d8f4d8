"""What every OCI document model shares: the Struct base, integer ranges, and the validation error.

OCI documents spell their keys in camelCase with a few acronyms (``blockIO``, ``containerID``,
``disableOOMKiller``); the models use snake_case attributes, ``rename="camel"`` for the regular
spellings and an explicit ``msgspec.field(name=...)`` for the irregular ones. Unknown keys are
ignored, as the runtime spec requires ("Extensibility" in config.md).

Checks that a type annotation cannot say (an absolute path, a duplicate entry, "one of these two
fields") live in each model's ``__post_init__`` and raise `Invalid`; msgspec runs them while decoding
and reports where, and lading.spec.decode_errors turns that into the one-line message the user sees.
"""

from typing import Annotated

import msgspec


class OCIStruct(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False, rename="camel"):
    """Base of every OCI document model. Subclasses also pass ``kw_only=True`` (not inherited)."""


Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Uint16 = Annotated[int, msgspec.Meta(ge=0, le=2**16 - 1)]
Uint32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
# msgspec cannot bound an integer above int64: models with Uint64 fields call require_uint64.
Uint64 = Annotated[int, msgspec.Meta(ge=0)]
UINT64_MAX = 2**64 - 1


class Invalid(ValueError):
    """A value the types allow but the spec does not.

    ``where`` is the JSON path of the offending value relative to the object being checked
    (".cwd", ".namespaces[2].type", or "" for the object itself).
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def quote(value: object) -> str:
    """A value as it appears in JSON, for messages: "root", 42, null."""
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def require_absolute(where: str, path: str) -> None:
    if not path.startswith("/"):
        raise Invalid(where, f"expected an absolute path, got {quote(path)}")


def require_uint64(struct: object, *fields: tuple[str, str]) -> None:
    """Check the upper bound of Uint64 fields, given as (attribute, JSON name) pairs."""
    for attribute, name in fields:
        value = getattr(struct, attribute)
        if value is not None and value > UINT64_MAX:
            raise Invalid(f".{name}", f"expected an integer <= {UINT64_MAX}, got {value}")
