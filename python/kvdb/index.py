"""Index definitions (key field, value bytes, JSON field, Python callback)
and the iterator over an index query's results."""

import sys
from ctypes import byref, c_void_p, string_at

from . import _lib
from ._handle import Closing, Guard, b, borrowed
from .errors import NOT_FOUND, check

# Interpretations of IndexValueBytes (KVDB_INDEX_*): integers sort numerically.
BYTES, U32_LE, U32_BE, I32_LE, I32_BE, U64_LE, U64_BE, I64_LE, I64_BE = range(9)
LOWER_EXCLUSIVE = 1
UPPER_INCLUSIVE = 2

# Callbacks the library still holds, by context number: the library calls
# _free when the last copy of a definition is gone.
_callbacks = {}
_next_ctx = [1]


@_lib.EXTRACT_FN
def _extract(ctx, key, klen, val, vlen, out):
    try:
        fn = _callbacks[ctx]
        k = string_at(key, klen) if klen else b""
        v = string_at(val, vlen) if vlen else b""
        for ikey in fn(k, v) or ():
            ikey = b(ikey)
            _lib.lib.kvdb_index_keys_add(out, ikey, len(ikey))
    except BaseException:  # never unwind into the library
        sys.excepthook(*sys.exc_info())


@_lib.FREE_FN
def _free(ctx):
    _callbacks.pop(ctx, None)


class IndexDef:
    """A secondary index definition; make one with key_field, value_bytes,
    json_field or callback."""

    def __init__(self, name, make, unique=False):
        self.name = name
        self._make = make
        self.unique = unique

    def _build(self):
        """A new C definition (free it with kvdb_index_def_free)."""
        out = c_void_p()
        check(self._make(self.name.encode(), byref(out)))
        if self.unique:
            status = _lib.lib.kvdb_index_def_set_unique(out)
            if status:
                _lib.lib.kvdb_index_def_free(out)
                check(status)
        return out

    def with_c(self, f):
        d = self._build()
        try:
            return f(d)
        finally:
            _lib.lib.kvdb_index_def_free(d)


def key_field(name, delimiter, field, unique=False):
    """Field number ``field`` (from 0) of keys split at ``delimiter`` (one byte)."""
    delim = b(delimiter)
    if len(delim) != 1:
        raise ValueError("delimiter must be one byte")
    return IndexDef(
        name,
        lambda n, out: _lib.lib.kvdb_index_def_new_key_field(n, delim[0], field, out),
        unique,
    )


def value_bytes(name, offset, length, interpretation=BYTES, unique=False):
    """Bytes [offset, offset+length) of values, read as ``interpretation``."""
    return IndexDef(
        name,
        lambda n, out: _lib.lib.kvdb_index_def_new_value_bytes(
            n, offset, length, interpretation, out
        ),
        unique,
    )


def json_field(name, field, unique=False):
    """Top-level field ``field`` of values that are JSON objects."""
    f = field.encode()
    return IndexDef(
        name, lambda n, out: _lib.lib.kvdb_index_def_new_json_field(n, f, out), unique
    )


def callback(name, fn, unique=False):
    """Index keys computed by ``fn(key, value) -> iterable of bytes``. It
    must be deterministic and must not call into the database; an exception
    is reported through sys.excepthook and ends the record's keys."""

    def make(n, out):
        ctx = _next_ctx[0]
        _next_ctx[0] += 1
        _callbacks[ctx] = fn
        status = _lib.lib.kvdb_index_def_new_callback(n, _extract, ctx, _free, out)
        if status:
            _callbacks.pop(ctx, None)
        return status

    return IndexDef(name, make, unique)


class IndexIterator(Closing):
    """The records an index query matched, as (index_key, key, value)
    tuples: iterate it (ascending), or call next_back() for the other end.
    The index key is in its ordered form (docs/FORMAT.md)."""

    def __init__(self, handle):
        self._g = Guard(handle, _lib.lib.kvdb_index_iter_free, "index iterator")

    def __iter__(self):
        return self

    def _step(self, fn):
        with self._g as it:
            status = fn(it)
            if status == NOT_FOUND:
                return None
            check(status)
            parts = []
            for read in (
                _lib.lib.kvdb_index_iter_index_key,
                _lib.lib.kvdb_index_iter_key,
                _lib.lib.kvdb_index_iter_value,
            ):
                status, data = borrowed(lambda p, n: read(it, p, n))
                check(status)
                parts.append(data)
            return tuple(parts)

    def __next__(self):
        entry = self._step(_lib.lib.kvdb_index_iter_next)
        if entry is None:
            raise StopIteration
        return entry

    def next_back(self):
        """The next record from the back (descending), or None at the end;
        the two ends meet without repeating or skipping a record."""
        return self._step(_lib.lib.kvdb_index_iter_next_back)

