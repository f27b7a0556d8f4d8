"""lading's modules compiled into one file at install time, and the importer that serves them.

Every runtime verb is a fresh process that imports 25 to 70 of lading's modules. Through the
normal import system each one costs a search along sys.path, a stat of its source, an open, read
and check of its .pyc, all of it Python code running in importlib. The launcher
(cli/launcher.py) calls :func:`build` at install time: one file beside the package's .pyc files
holding every module's code object, marshalled, with the size and modification time of the
source it was compiled from (and the same for the few modules of the standard library written in
Python that the runtime verbs load). The launcher then calls :func:`install`, which puts a
:class:`Finder` first on sys.meta_path.

A module is served from that file only while its source is exactly as it was compiled (size and
mtime in nanoseconds, one stat); an edited, new or deleted module goes through the normal import
system, so the code that runs is always the current source. A file written by another Python
(another version, even another build of the same) is ignored as a whole.

importlib's own work for each import (its locks, the search of sys.meta_path, the parent
package, the module's attributes: about 30 µs a module, Python code as well) is spared for most
of them: the file also lists, for each module, the modules of the file its top-level import
statements name, and the Finder executes those first, itself (:meth:`Finder.exec_module`), so
that the module's own import statements find them in sys.modules. ``from __future__ import
annotations`` is compiled in as a flag rather than kept as a statement (which would import
__future__), and the standard library's C modules that verbs load are found at the path the file
records, not by a search of sys.path.
"""

# No `from __future__ import annotations` (so annotations that name types of TYPE_CHECKING are
# strings): this module is loaded before its importer exists (lading/boot.py), and __future__
# would be searched for along sys.path (site-packages, the standard library) at every start.

import _frozen_importlib
import _frozen_importlib_external
import _thread
import marshal
import posix  # not os: the launcher's start-up would pay for os (runtime/store.py says why)
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from collections.abc import Collection, Sequence
    from types import ModuleType
    from typing import TypeAlias

    # name -> (source path, is a package, source mtime in ns, source size, offset, length, the
    # modules of the file that its top-level import statements name, in their order)
    Index: TypeAlias = dict[str, tuple[str, bool, int, int, int, int, tuple[str, ...]]]

# The file: MAGIC_NUMBER, the index's length (4 bytes), the index (marshalled), then the code
# objects (each marshalled), at the offsets the index gives from the end of the index. Only the
# index is read at start-up; a module's code when it is imported.
_LENGTH = 4
_FIRST_READ = 32768
# The interpreter that built the file (and the index's format), under a key no module has:
# another one ignores the file (the standard library's sources below are that interpreter's).
_VERSION = " python"
_STAMP = f"{sys.version} index 2"
_Module = type(sys)  # types.ModuleType, without importing types
# The standard library's modules written in Python that runtime verbs load (tests/test_start_up.py
# lists them): served from the file too, with the same check of their sources.
STDLIB = ("__future__", "struct")
# And its C modules that are shared objects (where the interpreter does not have them built in):
# the file records where each is, so that its first import is not a search along sys.path, whose
# directories (site-packages, the standard library, lib-dynload) are each listed on the way.
STDLIB_EXTENSIONS = ("_json", "fcntl", "select", "pwd", "_socket", "_struct", "_ctypes", "zlib", "termios")
# The offset of a C module in the index: it has no code in the file.
_EXTENSION = -1


def path_for(package_dir: str) -> str:
    """Where the file of the package in package_dir lives: beside its .pyc files."""
    return f"{package_dir}/__pycache__/lading.{sys.implementation.cache_tag}.precompiled"


def build(package_dir: str, path: str) -> None:
    """Compile every module under package_dir (the ``lading`` directory), and the standard
    library's of :data:`STDLIB`, into path, atomically; record where :data:`STDLIB_EXTENSIONS`
    are."""
    import os  # at install time

    sources: dict[str, tuple[str, bool]] = {}  # module -> (source, is a package)
    parent = os.path.dirname(package_dir)
    for directory, subdirs, files in os.walk(package_dir):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                parts = os.path.relpath(os.path.join(directory, name), parent)[: -len(".py")].split(os.sep)
                is_package = parts[-1] == "__init__"
                sources[".".join(parts[:-1] if is_package else parts)] = (os.path.join(directory, name), is_package)
    import importlib.util

    for module in STDLIB:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            sources[module] = (spec.origin, spec.submodule_search_locations is not None)
    import ast

    trees: dict[str, ast.Module] = {}
    for module, (source, _) in sources.items():
        with open(source, "rb") as f:
            trees[module] = ast.parse(f.read(), source)
    flags = {module: _future_as_flag(tree) for module, tree in trees.items()}
    first = _first(trees)
    index: Index = {}
    codes: list[bytes] = []
    offset = 0
    for module, (source, is_package) in sources.items():
        st = os.stat(source)
        codes.append(marshal.dumps(compile(trees[module], source, "exec", flags[module], dont_inherit=True)))
        index[module] = (source, is_package, st.st_mtime_ns, st.st_size, offset, len(codes[-1]), first[module])
        offset += len(codes[-1])
    for module in STDLIB_EXTENSIONS:
        spec = importlib.util.find_spec(module)
        if spec is not None and isinstance(spec.loader, _frozen_importlib_external.ExtensionFileLoader):
            assert spec.origin is not None
            st = os.stat(spec.origin)
            index[module] = (spec.origin, False, st.st_mtime_ns, st.st_size, _EXTENSION, 0, ())
    index[_VERSION] = (_STAMP, False, 0, 0, 0, 0, ())
    head = marshal.dumps(index)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(_frozen_importlib_external.MAGIC_NUMBER + len(head).to_bytes(_LENGTH, "little") + head)
        f.writelines(codes)
    os.replace(tmp, path)


def _future_as_flag(tree: "ast.Module") -> int:
    """Take ``from __future__ import annotations`` out of the module and return the compiler flag
    that has the same effect: the statement is also an import of __future__ when the module runs
    (one more module to load for every verb, one more import statement in each of lading's)."""
    import __future__

    import ast

    def is_future(node: ast.stmt) -> bool:
        names = [alias.name for alias in node.names] if isinstance(node, ast.ImportFrom) else []
        return isinstance(node, ast.ImportFrom) and node.module == "__future__" and names == ["annotations"]

    if not any(is_future(node) for node in tree.body):
        return 0
    tree.body = [node for node in tree.body if not is_future(node)]
    return __future__.annotations.compiler_flag


def _first(trees: "dict[str, ast.Module]") -> dict[str, tuple[str, ...]]:
    """For each module, what :meth:`Finder.exec_module` may execute before it: the modules its
    top-level imports name, less any that imports it in turn, directly or not (a cycle: that one
    must run when its import statement does, with the module that names it half made, as it
    always has)."""
    imported = {module: _imported(tree, trees) for module, tree in trees.items()}
    reach: dict[str, set[str]] = {}
    for module in imported:
        seen: set[str] = set()
        todo = list(imported[module])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += imported[name]
        reach[module] = seen
    return {m: tuple(d for d in deps if m not in reach[d]) for m, deps in imported.items()}


def _imported(tree: "ast.Module", known: "Collection[str]") -> tuple[str, ...]:
    """The modules among ``known`` that the module's top-level import statements name, each
    after its parent packages, in the order of the statements: ``from a.b import c`` names a, a.b
    and a.b.c when that is a module. Imports inside functions, ``if`` (TYPE_CHECKING) and ``try``
    are left to the module."""
    import ast

    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: none in lading or the standard library's few
                continue
            base = node.module or ""
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            names += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return tuple(name for name in dict.fromkeys(names) if name in known)


class Finder:
    """Finds and loads the modules of an index whose sources are unchanged."""

    def __init__(self, path: str, index: "Index", start: int) -> None:
        self.path, self.index, self.start = path, index, start

    def find_spec(
        self, name: str, path: "Sequence[str] | None" = None, target: "ModuleType | None" = None
    ) -> "_frozen_importlib.ModuleSpec | None":
        entry = self.index.get(name)
        if entry is None:
            return None
        source, is_package, mtime, size, offset, *_ = entry
        try:
            st = posix.stat(source)
        except OSError:
            return None
        if st.st_mtime_ns != mtime or st.st_size != size:
            return None
        if offset == _EXTENSION:
            return _frozen_importlib_external.spec_from_file_location(
                name, source, loader=_frozen_importlib_external.ExtensionFileLoader(name, source)
            )
        # a loader by its two methods: importlib.abc.Loader would bring typing in
        spec = _frozen_importlib.ModuleSpec(name, self, origin=source, is_package=is_package)  # type: ignore[arg-type]
        if is_package:
            spec.submodule_search_locations = [source.rpartition("/")[0]]
        spec.has_location = True  # __file__ is the source, as with a normal import
        spec.cached = self.path  # __cached__: where the code came from (not a .pyc's name to work out)
        return spec

    def create_module(self, spec: "_frozen_importlib.ModuleSpec") -> None:
        return None  # the default module object

    def exec_module(self, module: "ModuleType") -> None:
        # open while the module and what it imports first run, never kept: this process may
        # close or hand on any fd it has
        fd = posix.open(self.path, posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            self._execute(module, fd)
        finally:
            posix.close(fd)

    def _execute(self, module: "ModuleType", fd: int) -> None:
        *_, offset, length, deps = self.index[module.__name__]
        if _thread._count() == 0:  # no other thread may be importing what this executes
            for name in deps:
                if name not in sys.modules:
                    self._execute_first(name, fd)
        exec(marshal.loads(posix.pread(fd, length, self.start + offset)), module.__dict__)

    def _execute_first(self, name: str, fd: int) -> None:
        """Import module ``name`` of the file as importlib would (a module object with its
        attributes, in sys.modules while it runs, bound in its parent package), without importlib.
        One that is not served (its source changed, its parent is not imported) is left to the
        import statement that names it."""
        parent, _, child = name.rpartition(".")
        spec = self.find_spec(name)
        if spec is None or (parent and parent not in sys.modules):
            return
        # what importlib's module_from_spec makes of this Finder's specs, without its generality
        module = _Module(name)
        module.__dict__.update(__spec__=spec, __loader__=self, __file__=spec.origin, __cached__=self.path)
        if spec.submodule_search_locations is None:
            module.__package__ = parent
        else:
            module.__package__, module.__path__ = name, spec.submodule_search_locations
        sys.modules[name] = module
        try:
            self._execute(module, fd)
        except BaseException:
            del sys.modules[name]
            raise
        if parent:
            setattr(sys.modules[parent], child, module)


def install(path: str) -> None:
    """Serve lading's modules from the file at path, when there is one written by this Python."""
    magic = _frozen_importlib_external.MAGIC_NUMBER
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            data = posix.pread(fd, _FIRST_READ, 0)
            start = len(magic) + _LENGTH + int.from_bytes(data[len(magic) : len(magic) + _LENGTH], "little")
            if start > len(data):
                data = posix.pread(fd, start, 0)
        finally:
            posix.close(fd)
        if not data.startswith(magic) or len(data) < start:
            return
        index = marshal.loads(memoryview(data)[len(magic) + _LENGTH : start])
    except (OSError, EOFError, ValueError, TypeError):  # none, or damaged: the normal import system
        return
    if index.get(_VERSION, ("",))[0] != _STAMP:
        return
    sys.meta_path.insert(0, Finder(path, index, start))
