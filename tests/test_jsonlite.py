"""lading.jsonlite reads and writes what the json module does, byte for byte, errors included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lading import jsonlite

VALUES: list[Any] = [
    {},
    [],
    "",
    0,
    -7,
    2**70,
    1.5,
    True,
    False,
    None,
    'é \n " \\ \x01 😀',
    {"ociVersion": "1.3.0", "pid": 42, "annotations": {"a": "b"}, "list": [1, [2, {}], {"x": None}]},
    [{"k": [True, False, None]}, [], {}, ""],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
@pytest.mark.parametrize("indent", [None, 0, 2, "\t"])
def test_dumps_writes_what_json_writes(value: Any, indent: int | str | None) -> None:
    assert jsonlite.dumps(value, indent=indent) == json.dumps(value, indent=indent)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_loads_reads_what_json_reads(value: Any) -> None:
    text = " \n" + json.dumps(value, indent=2) + "\t\r\n"
    assert jsonlite.loads(text) == json.loads(text)
    assert jsonlite.loads(text.encode()) == json.loads(text)


def test_special_floats_like_json() -> None:
    assert jsonlite.dumps([float("inf"), float("-inf")]) == "[Infinity, -Infinity]"
    assert jsonlite.dumps(float("nan")) == "NaN"
    assert jsonlite.loads("[Infinity, -Infinity]") == [float("inf"), float("-inf")]


@pytest.mark.parametrize(
    "text", ["", "  ", '{"a": }', "{} x", "[1,", '{"a":1,}', "nan", '"\\x"', '{"a" 1}', "[1 2]", '"abc']
)
def test_errors_are_json_errors(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        jsonlite.loads(text)
    assert str(got.value) == str(expected.value)


def test_what_json_cannot_write_is_refused() -> None:
    with pytest.raises(TypeError):
        jsonlite.dumps({"a": object()})


def test_errors_without_the_json_package_loaded() -> None:
    """The C scanner finds JSONDecodeError in sys.modules only: a verb that never imported json
    still gets the json package's message."""
    import subprocess
    import sys

    from tests.support import lading_env

    code = "from lading import jsonlite\ntry:\n    jsonlite.loads('{\"a\": 1')\nexcept ValueError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=lading_env(), check=True)
    assert out.stdout.strip() == "Expecting ',' delimiter: line 1 column 8 (char 7)"
