"""lading's modules compiled into one file at install time, and the importer that serves them.

Every runtime verb is a fresh process that imports 25 to 70 of lading's modules. Through the
normal import system each one costs a search along sys.path, a stat of its source, an open, read
and check of its .pyc, all of it Python code running in importlib. The launcher
(cli/launcher.py) has lading/precompiled_build.py write, at install time, one file beside the
package's .pyc files holding every module's code object, marshalled, with the size and modification time of the
source it was compiled from (and the same for the few modules of the standard library written in
Python that the runtime verbs load). The launcher then calls :func:`start`, whose
:func:`install` puts a :class:`Finder` first on sys.meta_path.

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
    from collections.abc import Sequence
    from types import ModuleType
    from typing import TypeAlias

    # name -> "MTIME SIZE OFFSET LENGTH DEPS SOURCE": the source's mtime in ns and size, where the
    # code is (or EXTENSION), the modules of the file that its top-level import statements name
    # (comma-separated, in their order), and the source's path (relative to the root when under
    # it: lading's own modules). One string a module, split only when the module is looked for:
    # tuples of fields and paths were some 1 500 objects to unmarshal at every start (0.6 million
    # instructions), for the 25 to 70 modules a verb imports.
    Index: TypeAlias = dict[str, str]
    # (STAMP, the directory holding the lading package, with a trailing slash, the index)
    Head: TypeAlias = tuple[str, str, Index]

# The file: MAGIC_NUMBER, the head's length (4 bytes), the head (marshalled), then the code
# objects (each marshalled), at the offsets the index gives from the end of the head. Only the
# head is read at start-up; a module's code when it is imported.
LENGTH = 4
_FIRST_READ = 32768
# The interpreter that built the file (and the head's format): another one ignores the file (the
# standard library's sources in it are that interpreter's).
STAMP = f"{sys.version} index 3"
_Module = type(sys)  # types.ModuleType, without importing types
# The offset of a C module in the index: it has no code in the file.
EXTENSION = -1


def path_for(package_dir: str) -> str:
    """Where the file of the package in package_dir lives: beside its .pyc files."""
    return f"{package_dir}/__pycache__/lading.{sys.implementation.cache_tag}.precompiled"


class Finder:
    """Finds and loads the modules of an index whose sources are unchanged."""

    def __init__(self, path: str, root: str, index: "Index", start: int) -> None:
        self.path, self.root, self.index, self.start = path, root, index, start

    def find_spec(
        self, name: str, path: "Sequence[str] | None" = None, target: "ModuleType | None" = None
    ) -> "_frozen_importlib.ModuleSpec | None":
        entry = self.index.get(name)
        if entry is None:
            return None
        mtime, size, offset, length, deps, source = entry.split(" ", 5)
        if not source.startswith("/"):
            source = self.root + source
        try:
            st = posix.stat(source)
        except OSError:
            return None
        if st.st_mtime_ns != int(mtime) or st.st_size != int(size):
            return None
        if int(offset) == EXTENSION:
            return _frozen_importlib_external.spec_from_file_location(
                name, source, loader=_frozen_importlib_external.ExtensionFileLoader(name, source)
            )
        is_package = source.endswith("/__init__.py")
        # a loader by its two methods: importlib.abc.Loader would bring typing in
        spec = _frozen_importlib.ModuleSpec(name, self, origin=source, is_package=is_package)  # type: ignore[arg-type]
        spec.loader_state = (int(offset), int(length), deps.split(",") if deps else ())  # for _execute
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
        offset, length, deps = module.__spec__.loader_state  # type: ignore[union-attr]  # find_spec's
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
            start = len(magic) + LENGTH + int.from_bytes(data[len(magic) : len(magic) + LENGTH], "little")
            if start > len(data):
                data = posix.pread(fd, start, 0)
        finally:
            posix.close(fd)
        if not data.startswith(magic) or len(data) < start:
            return
        stamp, root, index = marshal.loads(memoryview(data)[len(magic) + LENGTH : start])
    except (OSError, EOFError, ValueError, TypeError):  # none, or damaged: the normal import system
        return
    if stamp != STAMP:
        return
    sys.meta_path.insert(0, Finder(path, root, index, start))


def start(paths: "list[str]", path: str, gc_threshold: int) -> None:
    """The launcher's start-up (lading/boot.py says what and why): the collector's threshold,
    lading's directories first on sys.path, then :func:`install`. Here rather than in the
    launcher's text, which the interpreter compiles at every start (some 25 000 instructions a
    statement): this module's code is read compiled."""
    import gc

    gc.set_threshold(gc_threshold)
    sys.path[:0] = paths
    install(path)
