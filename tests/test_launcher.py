"""The launcher and its precompiled modules: the code that runs is always the current source.

The launcher serves lading's modules from one file compiled at install time (lading.precompiled);
each is used only while its source is unchanged. These tests build that file for a copy of the
package, then edit, add and damage things, and look at which loader imported what and which code
ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lading
from lading import precompiled_build
from lading.cli.launcher import write_launcher

# Imports a module through the precompiled file, then prints its loader's class and a value of it.
SHOW = """
import sys
sys.path[:0] = [sys.argv[1]]
from lading import precompiled
precompiled.install(sys.argv[2])
import importlib
module = importlib.import_module(sys.argv[3])
print(type(module.__spec__.loader).__name__, getattr(module, "EDITED", "-"), module.__file__)
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the lading package (sources only) under a directory whose name has a space (the
    index's entries are strings split at spaces), in its src, with its precompiled file."""
    root = tmp_path / "a tree"
    package = root / "src" / "lading"
    shutil.copytree(os.path.dirname(lading.__file__ or ""), package, ignore=shutil.ignore_patterns("__pycache__"))
    precompiled_build.build(str(package), str(root / "modules"))
    return root


def show(tree: Path, module: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-IS", "-c", SHOW, str(tree / "src"), str(tree / "modules"), module],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.rstrip("\n").split(" ", 2)  # the path last: it has a space


def test_unchanged_modules_come_from_the_precompiled_file(tree: Path) -> None:
    assert show(tree, "lading.runtime.lifecycle") == [
        "Finder",
        "-",
        str(tree / "src" / "lading" / "runtime" / "lifecycle.py"),
    ]
    assert show(tree, "lading.cli")[0] == "Finder"  # a package, and its submodules below
    assert show(tree, "lading.cli.args")[0] == "Finder"
    assert show(tree, "struct")[0] == "Finder"  # the standard library's few (precompiled_build.STDLIB)
    assert show(tree, "json")[0] == "SourceFileLoader"  # and no others


def test_an_edited_module_is_imported_from_its_source(tree: Path) -> None:
    source = tree / "src" / "lading" / "runtime" / "lifecycle.py"
    mtime = source.stat().st_mtime_ns
    source.write_text(source.read_text() + "EDITED = 1\n")
    assert show(tree, "lading.runtime.lifecycle")[:2] == ["SourceFileLoader", "1"]
    # the same size and mtime as compiled, other bytes: an edit that keeps both goes unseen by
    # any timestamp check (as with .pyc files); one byte more or a new mtime is enough
    source.write_text(source.read_text().replace("EDITED = 1", "EDITED = 2"))
    os.utime(source, ns=(mtime, mtime))
    assert show(tree, "lading.runtime.lifecycle")[0] == "SourceFileLoader"  # the size differs


def test_new_and_deleted_modules(tree: Path) -> None:
    (tree / "src" / "lading" / "added.py").write_text("EDITED = 3\n")
    assert show(tree, "lading.added")[:2] == ["SourceFileLoader", "3"]
    (tree / "src" / "lading" / "jsonlite.py").unlink()
    run = subprocess.run(
        [sys.executable, "-IS", "-c", SHOW, str(tree / "src"), str(tree / "modules"), "lading.jsonlite"],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "No module named 'lading.jsonlite'" in run.stderr


# Imports a module through the precompiled file, then prints the loader of each module named after
# it, and a value of the last.
SHOW_ALL = """
import sys
sys.path[:0] = [sys.argv[1]]
from lading import precompiled
precompiled.install(sys.argv[2])
import importlib
importlib.import_module(sys.argv[3])
names = sys.argv[4:]
print(*[type(sys.modules[n].__spec__.loader).__name__ for n in names], getattr(sys.modules[names[-1]], "VALUE", "-"))
"""


def show_all(tree: Path, module: str, *names: str) -> list[str]:
    argv = [sys.executable, "-IS", "-c", SHOW_ALL, str(tree / "src"), str(tree / "modules"), module, *names]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()


def test_what_a_module_imports_comes_from_the_file_unless_edited(tree: Path) -> None:
    """The Finder executes a module's imports itself, before it: each still only while its
    source is unchanged."""
    names = ("lading.errors", "lading.linux.process", "lading.runtime.store")
    assert show_all(tree, "lading.runtime.lifecycle", *names) == ["Finder", "Finder", "Finder", "-"]
    store = tree / "src" / "lading" / "runtime" / "store.py"
    store.write_text(store.read_text() + "VALUE = 1\n")
    assert show_all(tree, "lading.runtime.lifecycle", *names) == ["Finder", "Finder", "SourceFileLoader", "1"]


def test_annotations_in_the_file(tree: Path) -> None:
    """The file compiles ``from __future__ import annotations`` into the module as a flag (its
    annotations stay strings, and nothing imports __future__), and leaves the functions'
    annotations out (a class body keeps its own: lading.record reads them)."""
    package = tree / "src" / "lading"
    (package / "annotated.py").write_text(
        "from __future__ import annotations\n\n\n"
        "class Point:\n"
        "    x: int\n\n"
        "    def moved(self, dx: int, *rest: int, by: float = 1) -> Point:\n"
        "        return self\n"
    )
    precompiled_build.build(str(package), str(tree / "modules"))
    code = SHOW_ALL.split("names = ")[0] + (
        "Point = sys.modules['lading.annotated'].Point\n"
        "print('__future__' in sys.modules, Point.__annotations__, Point.moved.__annotations__)\n"
    )
    argv = [sys.executable, "-IS", "-c", code, str(tree / "src"), str(tree / "modules"), "lading.annotated"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out == "False {'x': 'int'} {}\n"


def test_an_import_cycle_runs_in_the_order_of_the_statements(tree: Path) -> None:
    """A module that imports, at its end, one that imports it back finds it half made, as Python
    always has: the file does not execute that one first."""
    package = tree / "src" / "lading"
    (package / "cycle_a.py").write_text("X = 1\nfrom lading import cycle_b\n")
    (package / "cycle_b.py").write_text("from lading.cycle_a import X\n\nVALUE = X + 1\n")
    precompiled_build.build(str(package), str(tree / "modules"))
    assert show_all(tree, "lading.cycle_a", "lading.cycle_a", "lading.cycle_b") == ["Finder", "Finder", "2"]


@pytest.mark.parametrize("damage", [b"", b"not a precompiled file", None])
def test_a_missing_or_damaged_file_is_ignored(tree: Path, damage: bytes | None) -> None:
    modules = tree / "modules"
    if damage is None:  # the right header, then garbage
        modules.write_bytes(modules.read_bytes()[:40] + b"\xff" * 100)
    elif damage:
        modules.write_bytes(damage)
    else:
        modules.unlink()
    assert show(tree, "lading.runtime.lifecycle")[0] == "SourceFileLoader"


@pytest.mark.parametrize("other", ["magic", "stamp"])
def test_a_file_another_python_wrote_is_ignored(tree: Path, other: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another bytecode (MAGIC_NUMBER, checked before anything is unmarshalled), or another build
    of the same (the stamp in the head)."""
    modules = tree / "modules"
    if other == "magic":
        modules.write_bytes(b"\x00\x00\r\n" + modules.read_bytes()[4:])
    else:
        monkeypatch.setattr(precompiled_build, "STAMP", "3.11.0 (another build) index 3")
        precompiled_build.build(str(tree / "src" / "lading"), str(modules))
    assert show(tree, "lading.runtime.lifecycle")[0] == "SourceFileLoader"


def test_the_launcher_runs_with_its_precompiled_modules(tmp_path: Path) -> None:
    launcher = tmp_path / "lading"
    write_launcher(str(launcher))
    text = launcher.read_text()
    assert text.startswith(f"#!{os.path.abspath(sys.executable)} -IS\n")
    assert "precompiled.start(" in text
    run = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, check=True)
    assert run.stdout.startswith(f"lading version {lading.__version__}\n")
