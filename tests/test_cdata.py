"""lading.linux.cdata against the ctypes package it stands in for: the same C types, buffers and
calls, measured side by side in one interpreter."""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys

import pytest

from lading.linux import cdata

TYPES = ["c_int", "c_uint", "c_long", "c_ulong", "c_ushort", "c_char", "c_char_p", "c_void_p"]
TYPES += ["c_uint32", "c_uint64", "c_size_t"]


@pytest.mark.parametrize("name", TYPES)
def test_a_type_is_ctypes_own(name: str) -> None:
    mine, theirs = getattr(cdata, name), getattr(ctypes, name)
    assert (mine._type_, cdata.sizeof(mine)) == (theirs._type_, ctypes.sizeof(theirs))


def test_string_buffers_as_ctypes_makes_them() -> None:
    for args in [(b"abc",), (b"a\0b", 3), (b"xy", 5), (8,)]:
        mine, theirs = cdata.create_string_buffer(*args), ctypes.create_string_buffer(*args)
        assert (mine.raw, cdata.sizeof(mine)) == (theirs.raw, ctypes.sizeof(theirs))
    with pytest.raises(ValueError):
        cdata.create_string_buffer(b"too long", 3)


def test_calls_return_values_and_errno() -> None:
    libc = cdata.CDLL(None, use_errno=True)
    assert libc.getpid() == os.getpid()
    assert libc.getpid is libc.getpid  # one function object per name, as ctypes keeps it
    libc.labs.restype, libc.labs.argtypes = cdata.c_long, (cdata.c_long,)
    assert libc.labs(-(2**40)) == 2**40  # all 64 bits of a long, both ways
    assert libc.close(-1) == -1
    assert cdata.get_errno() == errno.EBADF
    with pytest.raises(AttributeError):
        libc.no_such_function_here  # noqa: B018
    with pytest.raises(OSError):
        cdata.CDLL("libnothing-at-all.so.9")


def test_structures_pointers_and_memmove() -> None:
    class Pair(cdata.Structure):
        _fields_ = (("a", cdata.c_uint32), ("b", cdata.c_uint64))

    pair, buffer = Pair(1, 2), cdata.create_string_buffer(16)
    cdata.memmove(buffer, cdata.addressof(pair), cdata.sizeof(pair))
    assert buffer.raw == bytes(pair) == ctypes.string_at(ctypes.addressof(pair), 16)
    libc = cdata.CDLL(None)
    libc.memcmp.argtypes = (cdata.POINTER(Pair), cdata.POINTER(Pair), cdata.c_size_t)
    assert libc.memcmp(cdata.byref(pair), cdata.byref(Pair(1, 2)), 16) == 0


def test_it_does_not_load_the_ctypes_package() -> None:
    src = os.path.dirname(os.path.dirname(os.path.dirname(cdata.__file__)))
    code = f"import sys; sys.path.insert(0, {src!r}); import lading.linux.cdata; "
    code += "print(' '.join(sorted(m for m in sys.modules if 'ctypes' in m or m in ('os', 'types', 'struct'))))"
    out = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["_ctypes"]
