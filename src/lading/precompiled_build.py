"""Builds, at install time, the file lading.precompiled serves lading's modules from.

Kept apart from the importer: every runtime verb loads lading/precompiled.py before anything else,
and this half (the walk of the package, ast, compile, the order in which a module's imports run)
is only ever run by the launcher (cli/launcher.py) when it is installed, so no verb pays for
reading its code.
"""

from __future__ import annotations

import _frozen_importlib_external
import marshal

from lading.precompiled import EXTENSION, LENGTH, STAMP

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from collections.abc import Collection

    from lading.precompiled import Head, Index

# The standard library's modules written in Python that runtime verbs load (tests/test_start_up.py
# lists them): served from the file too, with the same check of their sources.
STDLIB = ("__future__", "struct")
# And its C modules that are shared objects (where the interpreter does not have them built in):
# the file records where each is, so that its first import is not a search along sys.path, whose
# directories (site-packages, the standard library, lib-dynload) are each listed on the way.
STDLIB_EXTENSIONS = ("_json", "fcntl", "select", "pwd", "_socket", "_struct", "_ctypes", "zlib", "termios")


def build(package_dir: str, path: str) -> None:
    """Compile every module under package_dir (the ``lading`` directory), and the standard
    library's of :data:`STDLIB`, into path, atomically; record where :data:`STDLIB_EXTENSIONS`
    are."""
    import os  # at install time

    sources: dict[str, str] = {}  # module -> its source
    parent = os.path.dirname(package_dir)
    for directory, subdirs, files in os.walk(package_dir):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                parts = os.path.relpath(os.path.join(directory, name), parent)[: -len(".py")].split(os.sep)
                sources[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(directory, name)
    import importlib.util

    for module in STDLIB:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            sources[module] = spec.origin
    import ast

    trees: dict[str, ast.Module] = {}
    for module, source in sources.items():
        with open(source, "rb") as f:
            trees[module] = ast.parse(f.read(), source)
    flags = {module: _future_as_flag(tree) for module, tree in trees.items()}
    for tree in trees.values():
        _without_function_annotations(tree)
    first = _first(trees)
    index: Index = {}
    codes: list[bytes] = []
    offset = 0
    root = parent + "/"
    for module, source in sources.items():
        st = os.stat(source)
        codes.append(marshal.dumps(compile(trees[module], source, "exec", flags[module], dont_inherit=True)))
        deps = ",".join(first[module])
        index[module] = f"{st.st_mtime_ns} {st.st_size} {offset} {len(codes[-1])} {deps} {source.removeprefix(root)}"
        offset += len(codes[-1])
    for module in STDLIB_EXTENSIONS:
        spec = importlib.util.find_spec(module)
        if spec is not None and isinstance(spec.loader, _frozen_importlib_external.ExtensionFileLoader):
            assert spec.origin is not None
            st = os.stat(spec.origin)
            index[module] = f"{st.st_mtime_ns} {st.st_size} {EXTENSION} 0  {spec.origin}"
    head: Head = (STAMP, root, index)
    data = marshal.dumps(head)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(_frozen_importlib_external.MAGIC_NUMBER + len(data).to_bytes(LENGTH, "little") + data)
        f.writelines(codes)
    os.replace(tmp, path)


def _future_as_flag(tree: ast.Module) -> int:
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


def _without_function_annotations(tree: ast.Module) -> None:
    """Take the annotations off the module's functions (their arguments and return): each ``def``
    would otherwise build a dict of them when it runs, about 1% of a runtime verb, for type
    checkers only (nothing in lading reads a function's ``__annotations__``; the sources keep
    them). A class body's annotations stay: lading.record reads them."""
    import ast

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
            arguments = node.args
            for arg in (
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                arguments.vararg,
                arguments.kwarg,
            ):
                if arg is not None:
                    arg.annotation = None


def _first(trees: dict[str, ast.Module]) -> dict[str, tuple[str, ...]]:
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


def _imported(tree: ast.Module, known: Collection[str]) -> tuple[str, ...]:
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
