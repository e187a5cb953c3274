"""Byte conversion, TTL rounding and the guard that makes close safe while
other threads are inside a call."""

import math
import threading
from ctypes import byref, c_size_t, c_void_p, string_at

from . import _lib
from .errors import ClosedError, InvalidArgumentError


def b(x):
    """Keys and values: bytes as they are, str as UTF-8, other buffers copied."""
    if isinstance(x, bytes):
        return x
    if isinstance(x, str):
        return x.encode()
    if x is None:
        return b""
    return bytes(x)


def ttl_ms(ttl):
    """A TTL in seconds (int or float), rounded up to whole milliseconds: a
    positive TTL never becomes 0."""
    if ttl is None or ttl <= 0:
        raise InvalidArgumentError("ttl must be a positive number of seconds")
    return max(1, math.ceil(ttl * 1000))


def take(call):
    """Runs a C call that returns a library-allocated buffer through
    (void **, size_t *) and copies it out; the call returns the status."""
    ptr = c_void_p()
    n = c_size_t()
    status = call(byref(ptr), byref(n))
    if status != 0:
        return status, None
    try:
        return 0, string_at(ptr, n.value) if n.value else b""
    finally:
        _lib.lib.kvdb_free(ptr)


def borrowed(call):
    """Copies a buffer the library lends through (const void **, size_t *)."""
    ptr = c_void_p()
    n = c_size_t()
    status = call(byref(ptr), byref(n))
    if status != 0:
        return status, None
    return 0, string_at(ptr, n.value) if n.value else b""


class Guard:
    """Counts the calls in flight on a handle, so that close waits for them
    and every call after close raises ClosedError instead of touching a
    freed handle."""

    def __init__(self, handle, free, what):
        self.handle = handle
        self._free = free
        self._what = what
        self._calls = 0
        self._closing = False
        self._cond = threading.Condition(threading.Lock())

    def __enter__(self):
        with self._cond:
            if self._closing:
                raise ClosedError(f"the {self._what} is closed")
            self._calls += 1
            return self.handle

    def __exit__(self, *exc):
        with self._cond:
            self._calls -= 1
            if self._calls == 0:
                self._cond.notify_all()

    @property
    def closed(self):
        return self._closing

    def detach(self):
        """Takes the handle away once no call is in flight (None if already
        closed); later calls raise ClosedError."""
        with self._cond:
            self._closing = True  # new calls are refused from now on
            while self._calls:
                self._cond.wait()
            handle, self.handle = self.handle, None
        return handle

    def close(self):
        """Frees the handle once no call is in flight; returns what the free
        function returned (None if already closed)."""
        handle = self.detach()
        if handle is not None:
            return self._free(handle)
        return None


class Closing:
    """close() through a with block, and on garbage collection as a safety
    net; subclasses keep their Guard in ``_g``."""

    def close(self):
        self._g.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        g = getattr(self, "_g", None)
        if g is not None:
            g.close()
