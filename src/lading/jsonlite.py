"""JSON in and out without importing the json package, for the verbs that run on every container step.

`import json` compiles regular expressions when it loads, and with them imports re, enum,
functools and collections: milliseconds, on verbs whose whole work is reading state.json. The C
accelerator behind the json package (``_json``) does the real work on its own; this module puts
around it the few lines json.loads and json.dumps do. The output is byte for byte what
``json.dumps(value)`` and ``json.dumps(value, indent=...)`` write (or, with ``go=True``, what
Go's encoding/json writes, for output compared with runc's); a syntax error is the json
package's JSONDecodeError (a ValueError) with the same message, imported only when there is one.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Options:
    """What the C scanner reads from a json.JSONDecoder: the defaults of json.loads."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = _json.make_scanner(_Options())  # type: ignore[arg-type]  # any object with these attributes


def loads(text: str | bytes) -> Any:
    """json.loads for UTF-8 documents."""
    s = text.decode("utf-8") if isinstance(text, bytes) else text
    start = len(s) - len(s.lstrip(_WHITESPACE))
    try:
        value, end = _scan(s, start)
    except StopIteration as e:
        _fail("Expecting value", s, e.value)
    except SystemError:
        # The scanner reports most syntax errors with json.decoder's JSONDecodeError, which it
        # looks up in sys.modules without importing: import it and scan again for the message.
        import json.decoder  # noqa: F401

        value, end = _scan(s, start)
    rest = len(s) - len(s[end:].lstrip(_WHITESPACE))
    if rest != len(s):
        _fail("Extra data", s, rest)
    return value


def _fail(message: str, s: str, pos: int) -> Any:
    from json import JSONDecodeError

    raise JSONDecodeError(message, s, pos)


def dumps(value: Any, indent: int | str | None = None, go: bool = False) -> str:
    """json.dumps(value) or json.dumps(value, indent=indent), for dicts with string keys, lists,
    strings, numbers, booleans and null. With ``go``, what Go's encoding/json writes instead (runc's
    output, which clients compare byte for byte): no spaces unless indented, non-ASCII text as it
    is, and ``<``, ``>``, ``&``, U+2028, U+2029, backspace and form feed as \\u escapes."""
    if indent is None:  # the C encoder, as json.dumps has it (it does not indent)
        return "".join((_GO if go else _PYTHON).encoder(value, 0))
    out: list[str] = []
    step = indent if isinstance(indent, str) else " " * (indent or 0)
    style = _GO if go else _PYTHON
    _encode(value, out, "\n" if indent is not None else "", step, style)
    return "".join(out)


_GO_ESCAPES = {c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029\b\f"}


def _go_string(s: str) -> str:
    if not any(c in s for c in _GO_ESCAPES):
        return _json.encode_basestring(s)
    return '"' + "".join(_GO_ESCAPES.get(c) or _json.encode_basestring(c)[1:-1] for c in s) + '"'


def _unserializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _Style:
    """How strings are written and what separates items and keys when not indented; the C
    encoder of ``_json`` set up to write that (without json's check for cycles)."""

    def __init__(self, string: Any, item: str, key: str) -> None:
        self.string, self.item, self.key = string, item, key
        self.encoder = _json.make_encoder(None, _unserializable, string, None, key, item, False, False, True)


_PYTHON = _Style(_json.encode_basestring_ascii, ", ", ": ")
_GO = _Style(_go_string, ",", ":")


def _encode(value: Any, out: list[str], newline: str, step: str, style: _Style) -> None:
    if isinstance(value, str):
        out.append(style.string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, (list, tuple, dict)):
        _container(value, out, newline, step, style)
    else:
        _unserializable(value)


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (_CONSTANTS["Infinity"], _CONSTANTS["-Infinity"]):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _container(value: Any, out: list[str], newline: str, step: str, style: _Style) -> None:
    is_dict = isinstance(value, dict)
    if not value:
        out.append("{}" if is_dict else "[]")
        return
    inner = newline + step if newline else ""
    out.append("{" if is_dict else "[")
    separator = "," + inner if newline else style.item
    key_separator = ": " if newline else style.key
    for i, item in enumerate(value.items() if is_dict else value):
        out.append(separator if i else inner)
        if is_dict:
            key, item = item
            out.append(style.string(str(key)) + key_separator)
        _encode(item, out, inner, step, style)
    out.append(newline + ("}" if is_dict else "]"))
