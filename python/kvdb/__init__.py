"""kvdb: an embeddable, concurrent, in-memory key-value database with
durability, TTLs, snapshots, ordered scans, transactions and secondary
indexes, called through its C library (libkvdb) with ctypes.

    import kvdb
    with kvdb.open() as db:            # in memory; kvdb.open("dir") is durable
        db.put(b"k", b"v", ttl=60)
        db.get(b"k")                   # b"v"; None if absent
"""

from .db import (
    DB,
    RECOVERY_ABSOLUTE_CONSISTENCY,
    RECOVERY_POINT_IN_TIME,
    RECOVERY_TOLERATE_CORRUPT_TAIL,
    SYNC_ALWAYS,
    SYNC_INTERVAL,
    SYNC_NEVER,
    Batch,
    Scan,
    Snapshot,
    Transaction,
    open,
    version,
)
from .errors import (
    BufferTooSmallError,
    ClosedError,
    ConflictError,
    ConstraintError,
    CorruptionError,
    Error,
    ExistsError,
    InternalError,
    InvalidArgumentError,
    IOFailure,
    LockedError,
    NotFoundError,
    TooLargeError,
)
from .index import (
    BYTES,
    I32_BE,
    I32_LE,
    I64_BE,
    I64_LE,
    U32_BE,
    U32_LE,
    U64_BE,
    U64_LE,
    IndexDef,
    IndexIterator,
    callback,
    json_field,
    key_field,
    value_bytes,
)

__all__ = [name for name in dir() if not name.startswith("_")]
