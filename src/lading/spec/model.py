"""Typed OCI runtime documents without msgspec or typing: plain classes with a table of fields.

`create`, `run` and `exec` decode config.json on every call, and importing msgspec and building
its Struct models (with typing's Annotated and Literal) cost more than the rest of `run`. Here a
model is a plain class whose ``FIELDS`` say, per attribute, the JSON name, the rule its value must
satisfy and its default; the class annotations say the same to mypy (tests/spec checks that the
two agree). `decode_document` parses with the C scanner behind the json module and walks the
document in order, so the first problem it meets is the one msgspec met, and the errors are
msgspec's, spelled by lading.spec.decode_errors as one line with the JSON path. Checks a rule
cannot state (absolute paths, duplicates, pairs of fields) are each model's ``check``, run as
msgspec ran ``__post_init__``: when the object is complete, and on construction.

Departures from plain JSON that msgspec made and this keeps: NaN, Infinity and lone UTF-16
surrogates are malformed JSON, a number too large for a float is "out of range", and bytes that
are not UTF-8 are an error only where a value is read (an unknown field is skipped unread).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    M = TypeVar("M", bound="Model")

UINT64_MAX = 2**64 - 1
REQUIRED: Any = object()  # a field's default when it has none


class Invalid(ValueError):
    """A value the rules allow but the spec does not, found by a model's ``check``.

    ``where`` is the JSON path of the offending value relative to the object being checked
    (".cwd", ".namespaces[2].type", or "" for the object itself).
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


class Rejected(Exception):
    """Where decoding stopped and why, before lading.spec.decode_errors spells it for the user.

    ``parts`` is the JSON path (None for a map key, which, as msgspec did, the message finds
    afterwards); ``style`` says how the value is shown: "got" (", got VALUE"), "unknown" (an
    enum: "unknown DETAIL VALUE", DETAIL naming the set), "plain" (not at all), or "invalid" (a
    model's check failed: DETAIL is Invalid.where). ``seen`` is what msgspec's message said about
    the value (its JSON type, or an enum's value): two errors are the same if all of this is.
    """

    def __init__(
        self, parts: tuple[str | int | None, ...], problem: str, style: str, detail: str = "", seen: object = None
    ) -> None:
        super().__init__(problem)
        self.parts, self.problem, self.style, self.detail, self.seen = parts, problem, style, detail, seen

    def identity(self) -> tuple[object, ...]:
        return (self.parts, self.problem, self.style, self.detail, self.seen)


class Malformed(Exception):
    """The document is not JSON as msgspec reads it (NaN, Infinity, a lone surrogate).

    ``skipped``: found in an unknown field's value, which msgspec read with another parser (whose
    messages differ)."""

    def __init__(self, skipped: bool = False) -> None:
        super().__init__()
        self.skipped = skipped


def quote(value: object) -> str:
    """A value as it appears in JSON, for messages: "root", 42, null."""
    if isinstance(value, str):
        return str(_json.encode_basestring(value))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def require_absolute(where: str, path: str) -> None:
    if not path.startswith("/"):
        raise Invalid(where, f"expected an absolute path, got {quote(path)}")


def require_uint64(model: object, *fields: tuple[str, str]) -> None:
    """Check the upper bound of unsigned 64-bit fields, given as (attribute, JSON name) pairs.

    After the object is complete, not while its value is read: msgspec could not bound an
    integer above int64, so this check came last, and which error comes first is kept."""
    for attribute, name in fields:
        value = getattr(model, attribute)
        if value is not None and value > UINT64_MAX:
            raise Invalid(f".{name}", f"expected an integer <= {UINT64_MAX}, got {value}")


# --- parsing -------------------------------------------------------------------------------------


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs in order: a repeated key is decoded each time."""


class _Bad:
    def __init__(self, why: str) -> None:
        self.why = why


_NOT_JSON = _Bad("malformed")  # NaN, Infinity, -Infinity
_TOO_BIG = _Bad("number out of range")  # a float literal beyond the range of a double
_INFINITY = float("inf")


def _float(text: str) -> object:
    value = float(text)
    return _TOO_BIG if value in (_INFINITY, -_INFINITY) else value


def _constant(name: str) -> object:
    return _NOT_JSON


class _Options:
    strict = True
    object_hook = None
    object_pairs_hook = _Pairs
    parse_float = staticmethod(_float)
    parse_int = int
    parse_constant = staticmethod(_constant)


_scan = _json.make_scanner(_Options())  # type: ignore[arg-type]  # any object with these attributes


def parse(data: bytes) -> tuple[Any, bool]:
    """The document with objects as _Pairs, and whether it has bytes that are not UTF-8 (kept as
    lone surrogates, U+DC80-U+DCFF); ValueError if it is not JSON."""
    try:
        s, raw_bytes = data.decode("utf-8"), False
    except UnicodeDecodeError:
        s, raw_bytes = data.decode("utf-8", "surrogateescape"), True
    start = len(s) - len(s.lstrip(" \t\n\r"))
    try:
        value, end = _scan(s, start)
    except (StopIteration, SystemError):  # SystemError: the scanner's message needs json.decoder
        raise ValueError("not JSON") from None
    if s[end:].strip(" \t\n\r"):
        raise ValueError("extra data")
    return value, raw_bytes


# --- rules ---------------------------------------------------------------------------------------


class Context:
    """What one decoding needs to know about its document."""

    def __init__(self, data: bytes, raw_bytes: bool) -> None:
        # Strings may hold lone surrogates: from a \\uD8xx-\\uDFxx escape (malformed JSON for
        # msgspec) or from bytes that are not UTF-8 (an error only in a value that is read).
        lower = data.lower()
        self.surrogates = raw_bytes or b"\\ud" in lower
        # Which one a U+DC80-U+DCFF is, is clear unless the text has both.
        self.raw_bytes = raw_bytes and not _lone_low_escape(lower)


def _lone_low_escape(lower: bytes) -> bool:
    """The (lowercased) text has a \\udcXX escape that does not end a surrogate pair."""
    at = lower.find(b"\\udc")
    while at >= 0:
        before = lower[at - 6 : at]
        if not (before.startswith(b"\\ud") and before[3:4] in (b"8", b"9", b"a", b"b")):
            return True
        at = lower.find(b"\\udc", at + 1)
    return False


def _has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unreadable_when_skipped(s: str, ctx: Context) -> bool:
    """A string msgspec refused even where it skipped the value: a lone surrogate escape (bytes
    that are not UTF-8 it did not look at)."""
    if not _has_surrogate(s):
        return False
    return not (ctx.raw_bytes and all("\udc80" <= c <= "\udcff" for c in s if "\ud800" <= c <= "\udfff"))


def mismatch(value: object, parts: tuple[str | int | None, ...], expected: str, ctx: Context) -> Rejected:
    if value is _NOT_JSON or (ctx.surrogates and isinstance(value, str) and _has_surrogate(value)):
        raise Malformed
    if value is _TOO_BIG:
        return Rejected(parts, "number out of range", "got")
    return Rejected(parts, f"expected {expected}", "got", seen=type(value))


class Rule:
    expected = ""

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        raise NotImplementedError


class Int(Rule):
    expected = "an integer"

    def __init__(self, low: int, high: int | None) -> None:
        self.low, self.high = low, high

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if type(value) is not int:
            raise mismatch(value, parts, self.expected, ctx)
        if value < self.low:
            raise Rejected(parts, f"expected an integer >= {self.low}", "got")
        if self.high is not None and value > self.high:
            raise Rejected(parts, f"expected an integer <= {self.high}", "got")
        return value


class Str(Rule):
    expected = "a string"

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if type(value) is not str or (ctx.surrogates and _has_surrogate(value)):
            raise mismatch(value, parts, self.expected, ctx)
        return value


class Bool(Rule):
    expected = "a boolean"

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if value is not True and value is not False:
            raise mismatch(value, parts, self.expected, ctx)
        return value


class Enum(Str):
    """One of a fixed set of strings; ``title`` names the set in the message."""

    def __init__(self, title: str, *values: str) -> None:
        self.title, self.values = title, frozenset(values)

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if super().decode(value, parts, ctx) not in self.values:
            raise Rejected(parts, "unknown", "unknown", self.title, seen=value)
        return value


class Pattern(Str):
    """A string that ``matches``; ``pattern`` is the regular expression it stands for, as shown."""

    def __init__(self, pattern: str, matches: Callable[[str], bool]) -> None:
        self.pattern, self.matches = pattern, matches

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if not self.matches(super().decode(value, parts, ctx)):
            raise Rejected(parts, f"expected a string matching {self.pattern}", "got")
        return value


class ListOf(Rule):
    expected = "an array"

    def __init__(self, item: Rule, min_length: int = 0) -> None:
        self.item, self.min_length = item, min_length

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if type(value) is not list:
            raise mismatch(value, parts, self.expected, ctx)
        if len(value) < self.min_length:
            raise Rejected(parts, "expected a non-empty array", "got")
        item = self.item.decode
        return [item(v, (*parts, i), ctx) for i, v in enumerate(value)]


def _items(value: Any) -> Any:
    return value if type(value) is _Pairs else value.items()


def _is_object(value: object) -> bool:
    return type(value) is _Pairs or type(value) is dict


class MapOf(Rule):
    """A JSON object with any keys and values of one rule."""

    expected = "an object"

    def __init__(self, value: Rule) -> None:
        self.value = value

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if not _is_object(value):
            raise mismatch(value, parts, self.expected, ctx)
        inner = (*parts, None)
        out = {}
        for key, v in _items(value):
            if ctx.surrogates and _has_surrogate(key):
                raise Malformed
            out[key] = self.value.decode(v, inner, ctx)
        return out


class AnyValue(Rule):
    """Any JSON value, kept as plain Python values (another platform's section)."""

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if _is_object(value):
            inner = (*parts, None)
            return {k: self.decode(v, inner, ctx) for k, v in _items(value) if not _bad_key(k, ctx)}
        if type(value) is list:
            return [self.decode(v, (*parts, i), ctx) for i, v in enumerate(value)]
        if isinstance(value, _Bad) or (ctx.surrogates and isinstance(value, str) and _has_surrogate(value)):
            raise mismatch(value, parts, "", ctx)
        return value


def _bad_key(key: str, ctx: Context) -> bool:
    if ctx.surrogates and _has_surrogate(key):
        raise Malformed
    return False


def skip(value: Any, ctx: Context) -> None:
    """An unknown field's value is not decoded, but it must still be JSON."""
    if _is_object(value):
        for k, v in _items(value):
            if ctx.surrogates and _unreadable_when_skipped(k, ctx):
                raise Malformed(skipped=True)
            skip(v, ctx)
    elif type(value) is list:
        for v in value:
            skip(v, ctx)
    elif value is _NOT_JSON or (ctx.surrogates and isinstance(value, str) and _unreadable_when_skipped(value, ctx)):
        raise Malformed(skipped=True)


class Object(Rule):
    """A JSON object decoded into a model."""

    expected = "an object"

    def __init__(self, model: type[Model]) -> None:
        self.model = model

    def decode(self, value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> Any:
        if not _is_object(value):
            raise mismatch(value, parts, self.expected, ctx)
        return self.model.decode(value, parts, ctx)


# --- models --------------------------------------------------------------------------------------


class Field:
    def __init__(self, attr: str, rule: Rule, default: Any, json: str | None) -> None:
        self.attr, self.rule = attr, rule
        self.json = json or camel(attr)
        self.factory: Callable[[], Any] | None = default if callable(default) and default is not REQUIRED else None
        self.default = None if self.factory else default
        self.nullable = default is None  # `X | None = None`: null is accepted and means absent


def camel(name: str) -> str:
    if "_" not in name:  # most fields: a table of 186 is built when runtime_config loads
        return name
    first, *rest = name.split("_")
    return first + "".join(w.capitalize() for w in rest)


def fields(*table: tuple[Any, ...]) -> tuple[Field, ...]:
    """(attribute, rule, default[, JSON name]) rows; default REQUIRED for a required field, a
    callable for a fresh default per object, else the value (None: optional)."""
    return tuple(Field(row[0], row[1], row[2], row[3] if len(row) == 4 else None) for row in table)


class Model:
    """Base of the config.json models; a subclass sets FIELDS and may override ``check``."""

    FIELDS: tuple[Field, ...] = ()
    _by_json: dict[str, Field]

    def __init_subclass__(cls) -> None:
        cls._by_json = {f.json: f for f in cls.FIELDS}

    def __init__(self, **values: Any) -> None:
        for f in self.FIELDS:
            if f.attr in values:
                setattr(self, f.attr, values.pop(f.attr))
            elif f.default is REQUIRED:
                raise TypeError(f"{type(self).__name__}: missing required field {f.attr!r}")
            else:
                setattr(self, f.attr, f.factory() if f.factory else f.default)
        if values:
            raise TypeError(f"{type(self).__name__}: unknown fields {sorted(values)}")
        self.check()

    def check(self) -> None:
        """What the rules cannot say; raises Invalid."""

    @classmethod
    def decode(cls: type[M], value: Any, parts: tuple[str | int | None, ...], ctx: Context) -> M:
        by_json = cls._by_json
        got: dict[str, Any] = {}
        for key, v in _items(value):
            f = by_json.get(key)
            if f is None:
                if ctx.surrogates and _unreadable_when_skipped(key, ctx):
                    raise Malformed
                skip(v, ctx)
            elif v is None and f.nullable:
                got[f.attr] = None
            else:
                got[f.attr] = f.rule.decode(v, (*parts, key), ctx)
        obj = cls.__new__(cls)
        for f in cls.FIELDS:
            if f.attr in got:
                setattr(obj, f.attr, got[f.attr])
            elif f.default is REQUIRED:
                raise Rejected(parts, f'missing required field "{f.json}"', "plain")
            else:
                setattr(obj, f.attr, f.factory() if f.factory else f.default)
        try:
            obj.check()
        except Invalid as e:
            raise Rejected(parts, e.problem, "invalid", e.where) from None
        return obj

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, f.attr) == getattr(other, f.attr) for f in self.FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the msgspec Structs were

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.attr}={getattr(self, f.attr)!r}" for f in self.FIELDS)
        return f"{type(self).__name__}({shown})"


def decode_document(data: bytes, model: type[M]) -> M:
    """The model from a JSON document; raises Rejected, Malformed, or ValueError (not JSON)."""
    document, raw_bytes = parse(data)
    ctx = Context(data, raw_bytes)
    if not _is_object(document):
        raise mismatch(document, (), "an object", ctx)
    return model.decode(document, (), ctx)


def convert(value: dict[str, Any], model: type[M]) -> M:
    """The model from plain Python values (as to_builtins returns them); raises Rejected."""
    return model.decode(value, (), Context(b"", False))


def to_builtins(value: Any) -> Any:
    """Plain JSON values with the JSON names, leaving out fields that are None or equal to a
    plain default (what msgspec's omit_defaults wrote)."""
    if isinstance(value, Model):
        out = {}
        for f in value.FIELDS:
            v = getattr(value, f.attr)
            if v is None or (f.factory is None and f.default is not REQUIRED and v == f.default):
                continue
            out[f.json] = to_builtins(v)
        return out
    if isinstance(value, list):
        return [to_builtins(v) for v in value]
    if isinstance(value, dict):
        return {k: to_builtins(v) for k, v in value.items()}
    return value


def replace(model: M, **changes: Any) -> M:
    """A copy with some fields changed (not checked again, like msgspec.structs.replace)."""
    copy = type(model).__new__(type(model))
    for f in model.FIELDS:
        setattr(copy, f.attr, changes.pop(f.attr) if f.attr in changes else getattr(model, f.attr))
    if changes:
        raise TypeError(f"{type(model).__name__}: unknown fields {sorted(changes)}")
    return copy
