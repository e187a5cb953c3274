"""Exceptions: one class per status of the C library, and ClosedError."""

from . import _lib

OK = 0
NOT_FOUND = 1
INVALID_ARGUMENT = 2
IO_ERROR = 3
CORRUPTION = 4
CONFLICT = 5
EXISTS = 6
TOO_LARGE = 7
BUFFER_TOO_SMALL = 8
LOCKED = 9
CONSTRAINT = 10
MEMORY_LIMIT = 11
INTERNAL = 99


class Error(Exception):
    """A failed call: ``status`` is the KVDB_* code, the message carries the
    library's detail."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status


class NotFoundError(Error, KeyError):
    status = NOT_FOUND

    def __str__(self):  # KeyError would repr() the message
        return Exception.__str__(self)


class InvalidArgumentError(Error, ValueError):
    status = INVALID_ARGUMENT


class IOFailure(Error, OSError):
    status = IO_ERROR


class CorruptionError(Error):
    status = CORRUPTION


class ConflictError(Error):
    status = CONFLICT


class ExistsError(Error):
    status = EXISTS


class TooLargeError(Error, ValueError):
    status = TOO_LARGE


class BufferTooSmallError(Error):
    status = BUFFER_TOO_SMALL


class LockedError(Error):
    status = LOCKED


class ConstraintError(Error):
    status = CONSTRAINT


class MemoryLimitError(Error, MemoryError):
    """A write would pass the memory limit and the eviction policy cannot
    make room; nothing was applied."""

    status = MEMORY_LIMIT


class InternalError(Error):
    status = INTERNAL


class ClosedError(Error):
    """The handle was closed (or the transaction has ended)."""


_BY_STATUS = {
    cls.status: cls
    for cls in (
        NotFoundError,
        InvalidArgumentError,
        IOFailure,
        CorruptionError,
        ConflictError,
        ExistsError,
        TooLargeError,
        BufferTooSmallError,
        LockedError,
        ConstraintError,
        MemoryLimitError,
        InternalError,
    )
}


def last_error():
    """The calling thread's detail of its last failure."""
    n = _lib.lib.kvdb_last_error(None, 0)
    if n == 0:
        return ""
    buf = _lib.ctypes.create_string_buffer(n + 1)
    _lib.lib.kvdb_last_error(buf, n + 1)
    return buf.value.decode("utf-8", "replace")


def check(status):
    """Raises the exception for ``status`` unless it is OK. Python threads
    are OS threads, so the detail read here is this call's."""
    if status == OK:
        return
    text = _lib.lib.kvdb_strerror(status).decode()
    detail = last_error()
    cls = _BY_STATUS.get(status, Error)
    raise cls(f"{text}: {detail}" if detail else text, status)
