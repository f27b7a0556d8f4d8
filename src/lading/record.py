"""Small immutable value classes, declared like a NamedTuple, without the typing module.

Every runtime verb is a fresh process. ``typing.NamedTuple`` costs the verbs that use it the
import of typing (which brings re, enum, functools, collections and contextlib: several
milliseconds) and the compilation of each class's constructor when its module loads. A
:class:`Record` subclass declares its fields as class annotations and their defaults as class
attributes, as a NamedTuple does, and gets a constructor taking them by position or keyword,
equality, hashing and repr over the fields, and :meth:`Record.replace`; mypy checks it as a
frozen dataclass (``dataclass_transform``). Unlike a tuple, it is not iterable or indexable.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self, dataclass_transform
else:

    def dataclass_transform(**_kwargs):
        return lambda cls: cls


@dataclass_transform(frozen_default=True)
class Record:
    """The base of a value class: ``class IdRange(Record): container: int; host: int; size: int``."""

    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        own = cls.__dict__.get("__annotations__", ())  # noqa: RUF063  # not inspect: start-up cost
        cls._fields = cls._fields + tuple(own)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if not kwargs and len(args) == len(fields):
            # every field by position, the common call (a parser's records, mount options): there
            # is nothing to check, and the checks below cost several times this assignment
            self.__dict__.update(zip(fields, args, strict=False))
            return
        if len(args) > len(fields) or not kwargs.keys() <= set(fields[len(args) :]):
            raise TypeError(f"{type(self).__name__}: unexpected arguments (fields: {', '.join(fields)})")
        missing = [f for f in fields[len(args) :] if f not in kwargs and not hasattr(type(self), f)]
        if missing:
            raise TypeError(f"{type(self).__name__}: missing {', '.join(missing)}")
        values = self.__dict__
        values.update(zip(fields, args, strict=False))
        values.update(kwargs)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (field=value) applied."""
        return type(self)(**{**{f: getattr(self, f) for f in self._fields}, **changes})
