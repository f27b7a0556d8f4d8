"""The part of ctypes lading uses, made directly on ``_ctypes``, ctypes' own C half.

Why: `create`, `run` and `exec` call the kernel through a few libc functions and structures, and
the ctypes package costs more to import than all of them together: it loads os, types, struct and
ctypes._endian and builds some forty classes, about 2 ms of a `run` and a hundred more page faults,
while this module costs about 0.15 ms. The classes below are ctypes' own definitions (a C type is a
subclass of ``_SimpleCData`` naming its struct-module code; a library is a ``dlopen`` handle whose
functions are ``CFuncPtr`` subclasses carrying the call flags), so they behave exactly as
ctypes' do, and they mix with anything built on ``_ctypes`` (``Structure``, ``POINTER``, arrays
made with ``c_ulong * n``).

For the type checker the names are ctypes' themselves (typeshed describes those); at run time they
are the definitions below. Only what lading calls is here: a name missing from this module is
an AttributeError at import, never a silent difference. 64-bit Linux only, as lading is (c_long is
64 bits wide there, so c_uint64 and c_size_t are c_ulong, as ctypes makes them).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ctypes import (
        CDLL,
        POINTER,
        PyDLL,
        Structure,
        addressof,
        byref,
        c_char,
        c_char_p,
        c_int,
        c_long,
        c_size_t,
        c_uint,
        c_uint32,
        c_uint64,
        c_ulong,
        c_ushort,
        c_void_p,
        create_string_buffer,
        get_errno,
        memmove,
        sizeof,
    )
else:
    from _ctypes import (
        FUNCFLAG_CDECL,
        FUNCFLAG_PYTHONAPI,
        FUNCFLAG_USE_ERRNO,
        POINTER,
        CFuncPtr,
        Structure,
        _memmove_addr,
        _SimpleCData,
        addressof,
        byref,
        dlopen,
        get_errno,
        sizeof,
    )

    def _simple(name: str, code: str) -> type:
        """A C type as ctypes defines it: a _SimpleCData subclass naming its struct code."""
        return type(name, (_SimpleCData,), {"_type_": code, "__module__": __name__})

    c_int, c_uint = _simple("c_int", "i"), _simple("c_uint", "I")
    c_long, c_ulong = _simple("c_long", "l"), _simple("c_ulong", "L")
    c_ushort, c_char = _simple("c_ushort", "H"), _simple("c_char", "c")
    c_char_p, c_void_p = _simple("c_char_p", "z"), _simple("c_void_p", "P")
    c_uint32 = c_uint
    c_uint64 = c_size_t = c_ulong

    class CDLL:
        """A shared library (None: the process's own symbols), its functions as attributes,
        returning a C int unless their ``restype`` says otherwise."""

        _flags = FUNCFLAG_CDECL

        def __init__(self, name: str | None, use_errno: bool = False) -> None:
            flags = self._flags | (FUNCFLAG_USE_ERRNO if use_errno else 0)

            class Function(CFuncPtr):
                _flags_ = flags
                _restype_ = c_int

            self._Function = Function
            self._handle = dlopen(name, 0)  # RTLD_LOCAL, as ctypes opens a library on Linux

        def __getattr__(self, name: str) -> CFuncPtr:
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name)
            function = self._Function((name, self))
            function.__name__ = name
            setattr(self, name, function)  # one object per function, as ctypes keeps it
            return function

    class PyDLL(CDLL):
        """A library whose functions are called with the GIL held."""

        _flags = FUNCFLAG_CDECL | FUNCFLAG_PYTHONAPI

    def create_string_buffer(init: bytes | int, size: int | None = None) -> object:
        """A ``c_char`` array: of ``init`` bytes (one NUL more unless ``size`` is given), or of
        ``init`` zero bytes."""
        if isinstance(init, int):
            return (c_char * init)()
        buffer = (c_char * (len(init) + 1 if size is None else size))()
        buffer.value = init
        return buffer

    class _Memmove(CFuncPtr):
        _flags_ = FUNCFLAG_CDECL
        _restype_ = c_void_p
        _argtypes_ = (c_void_p, c_void_p, c_size_t)

    memmove = _Memmove(_memmove_addr)

__all__ = [
    "CDLL",
    "POINTER",
    "PyDLL",
    "Structure",
    "addressof",
    "byref",
    "c_char",
    "c_char_p",
    "c_int",
    "c_long",
    "c_size_t",
    "c_uint",
    "c_uint32",
    "c_uint64",
    "c_ulong",
    "c_ushort",
    "c_void_p",
    "create_string_buffer",
    "get_errno",
    "memmove",
    "sizeof",
]
