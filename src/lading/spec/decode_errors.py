"""Explain why a document failed to decode, in one line: where (a JSON path) and what, with the value.

msgspec (the image documents) reports ``Expected `int`, got `str` - at `$.process.user.uid```,
and lading.spec.model (config.json, process.json, resources) a Rejected with the same facts; both
become ``$.process.user.uid: expected an integer, got "root"``. The raw JSON is parsed again with
the standard library to fetch the offending value and to name the map key that both decoders
leave out (``[...]``): the key whose entry alone gives the same error. Imported only when
decoding has already failed, so its cost does not matter.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import msgspec
import msgspec.inspect as mi

from lading.spec.model import Invalid, Malformed, Model, Rejected, decode_document, quote

_AT = re.compile(r"^(.*?)(?: - at `(\$[^`]*)`)?$", re.DOTALL)
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_MISSING = object()


class _Malformed:
    def __init__(self, message: str) -> None:
        self.message = message


class _Key(str):
    """A map key in a JSON path (printed as ["key"]), as opposed to a field name (printed as .name)."""


def _parse(data: bytes) -> Any:
    """The document as plain Python values, or a description of why it is not JSON."""
    if not data.strip():
        return _Malformed("malformed JSON: the document is empty")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        return _Malformed(f"malformed JSON: invalid UTF-8 at byte {e.start}")
    except json.JSONDecodeError as e:
        return _Malformed(f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg[:1].lower()}{e.msg[1:]}")


def describe_malformed(error: Exception, data: bytes) -> str:
    document = _parse(data)
    if isinstance(document, _Malformed):
        return document.message
    # The standard library is more lenient (NaN, Infinity): fall back to msgspec's byte offset.
    message = str(error)
    found = re.search(r"^JSON is malformed: (.*) \(byte (\d+)\)$", message)
    if found is None:
        return f"malformed JSON: {message}"
    offset = int(found.group(2))
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"malformed JSON at line {line} column {column}: {found.group(1)}"


class _NoFields(msgspec.Struct):
    """Decoding into this skips every value, as msgspec skipped unknown fields."""


def describe_not_json(error: Malformed, data: bytes) -> str:
    """Why a document the json module reads is still malformed (NaN, Infinity, a lone surrogate):
    msgspec's message, which is what lading said when it decoded config.json with msgspec."""
    for kind in (object, _NoFields)[error.skipped :]:
        try:
            msgspec.json.decode(data, type=kind)
        except msgspec.ValidationError:  # a number out of range where msgspec skipped it
            continue
        except (msgspec.DecodeError, UnicodeDecodeError) as e:
            return describe_malformed(e, data)
    return "malformed JSON"


def describe_rejected(error: Rejected, data: bytes, model: type[Model]) -> str:
    """The one line for a document lading.spec.model rejected."""
    document = _parse(data)
    if isinstance(document, _Malformed):  # cannot happen: the decoder parsed it first
        return document.message
    parts: list[str | int | None] = list(error.parts)
    if any(key is None for key in parts):

        def same_error(trial: bytes) -> bool:
            try:
                decode_document(trial, model)
            except Rejected as e:
                return e.identity() == error.identity()
            except (Malformed, ValueError):
                pass
            return False

        parts = _resolve_map_keys(document, parts, same_error)
    where = _format_path(parts)
    if error.style == "invalid":
        return f"{where}{error.detail}: {error.problem}"
    value = _lookup(document, parts)
    if error.style == "unknown":
        shown = "" if value is _MISSING else f" {_render(value)}"
        return f"{where}: unknown {error.detail or 'value'}{shown}"
    if error.style == "got" and value is not _MISSING:
        return f"{where}: {error.problem}, got {_render(value)}"
    return f"{where}: {error.problem}"


def describe_invalid(error: msgspec.ValidationError, data: bytes, type: Any) -> str:
    """The one line for a document msgspec rejected."""
    document = _parse(data)
    if isinstance(document, _Malformed):  # msgspec stops at the first invalid value, before the syntax error
        return document.message
    message, path = _AT.match(str(error)).groups()  # type: ignore[union-attr]
    parts = _parse_path(path or "$")
    if any(key is None for key in parts):

        def same_error(trial: bytes) -> bool:
            try:
                msgspec.json.decode(trial, type=type)
            except msgspec.ValidationError as e:
                return str(e) == str(error)
            except msgspec.DecodeError:
                pass
            return False

        parts = _resolve_map_keys(document, parts, same_error)

    cause = error.__cause__
    if isinstance(cause, Invalid):
        return f"{_format_path(parts)}{cause.where}: {cause.problem}"
    value = _lookup(document, parts)
    return f"{_format_path(parts)}: {_problem(message, value, type, parts)}"


def _parse_path(path: str) -> list[str | int | None]:
    """``$.a[2].b[...]`` -> ["a", 2, "b", None]; None stands for a map key msgspec leaves out."""
    parts: list[str | int | None] = []
    for name, index in _PATH_PART.findall(path[1:]):
        if name:
            parts.append(name)
        elif index == "...":
            parts.append(None)
        else:
            parts.append(int(index))
    return parts


def _format_path(parts: list[str | int | None]) -> str:
    out = "$"
    for part in parts:
        if part is None:
            out += "[...]"
        elif isinstance(part, _Key):
            out += f"[{quote(str(part))}]"
        elif isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}"
    return out


def _lookup(document: Any, parts: list[str | int | None]) -> Any:
    node = document
    for part in parts:
        if not isinstance(node, (list, dict)):
            return _MISSING
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


def _resolve_map_keys(
    document: Any, parts: list[str | int | None], same_error: Callable[[bytes], bool]
) -> list[str | int | None]:
    """Find which key of each map in the path is at fault by decoding the document with that map
    cut down to one entry: the key whose entry alone reproduces the error is the culprit."""
    resolved = list(parts)
    for i, part in enumerate(resolved):
        if part is not None:
            continue
        mapping = _lookup(document, resolved[:i])
        if not isinstance(mapping, dict):
            break
        for key in mapping:
            trial = copy.deepcopy(document)
            parent = _lookup(trial, resolved[:i])
            parent.clear()
            parent[key] = mapping[key]
            if same_error(json.dumps(trial).encode()):
                resolved[i] = _Key(key)
                break
        if resolved[i] is None:
            break
    return resolved


_TYPE_NAMES = {
    "int": "an integer",
    "str": "a string",
    "bool": "a boolean",
    "float": "a number",
    "object": "an object",
    "array": "an array",
}


def _type_phrase(names: str) -> str:
    """ "int | null" -> "an integer" (null is always allowed where a field is optional)."""
    words = [_TYPE_NAMES.get(n.strip(), n.strip()) for n in names.split("|") if n.strip() != "null"]
    return " or ".join(words) or "null"


def _render(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _problem(message: str, value: Any, type: Any, parts: list[str | int | None]) -> str:
    got = "" if value is _MISSING else f", got {_render(value)}"
    if m := re.fullmatch(r"Expected `([^`]+)`, got `[^`]+`", message):
        return f"expected {_type_phrase(m.group(1))}{got}"
    if m := re.fullmatch(r"Expected `([^`]+)` (>=|<=|>|<) (-?\d+)", message):
        return f"expected {_type_phrase(m.group(1))} {m.group(2)} {m.group(3)}{got}"
    if m := re.fullmatch(r"Expected `([^`]+)` matching regex '(.*)'", message, re.DOTALL):
        return f"expected {_type_phrase(m.group(1))} matching {m.group(2)}{got}"
    if m := re.fullmatch(r"Expected `([^`]+)` of length (>=|<=) (\d+)", message):
        if m.group(2) == ">=" and m.group(3) == "1":
            return f"expected a non-empty {m.group(1)}{got}"
        return f"expected {_type_phrase(m.group(1))} of length {m.group(2)} {m.group(3)}{got}"
    if message.startswith("Invalid enum value"):
        title = _enum_title(type, parts)
        shown = "" if value is _MISSING else f" {_render(value)}"
        return f"unknown {title}{shown}" if title else f"unknown value{shown}"
    if m := re.fullmatch(r"Object missing required field `([^`]+)`", message):
        return f'missing required field "{m.group(1)}"'
    if message == "Number out of range":
        return f"number out of range{got}"
    return message[:1].lower() + message[1:]


def _enum_title(type: Any, parts: list[str | int | None]) -> str | None:
    """The ``Meta(title=...)`` of the enum at ``parts`` ("namespace type"), found by walking the model."""

    def unwrap(node: Any) -> tuple[Any, str | None]:
        title = None
        while True:
            if isinstance(node, mi.Metadata):
                title = (node.extra_json_schema or {}).get("title", title)
                node = node.type
            elif isinstance(node, mi.UnionType):
                options = [t for t in node.types if not isinstance(t, mi.NoneType)]
                if len(options) != 1:
                    return None, None
                node = options[0]
            else:
                return node, title

    node: Any = mi.type_info(type)
    for part in parts:
        node, _ = unwrap(node)
        if isinstance(node, mi.StructType) and isinstance(part, str) and not isinstance(part, _Key):
            node = next((f.type for f in node.fields if f.encode_name == part), None)
        elif isinstance(node, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
            node = node.item_type
        elif isinstance(node, mi.DictType):
            node = node.value_type
        else:
            return None
    node, title = unwrap(node)
    return title if isinstance(node, mi.LiteralType) else None
