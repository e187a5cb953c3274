"""The database handle and what it makes: snapshots, scans, batches and
transactions."""

from ctypes import byref, c_char_p, cast, c_int64, c_size_t, c_uint64, c_void_p, create_string_buffer, sizeof, string_at

from . import _lib
from ._handle import Closing, Guard, b, take, ttl_ms
from .errors import BUFFER_TOO_SMALL, CONFLICT, EXISTS, INTERNAL, NOT_FOUND, ClosedError, check
from .index import LOWER_EXCLUSIVE, UPPER_INCLUSIVE, IndexIterator

L = _lib.lib

# Sync modes and recovery modes (KVDB_SYNC_*, KVDB_RECOVERY_*).
SYNC_NEVER, SYNC_INTERVAL, SYNC_ALWAYS = 0, 1, 2
RECOVERY_TOLERATE_CORRUPT_TAIL, RECOVERY_ABSOLUTE_CONSISTENCY, RECOVERY_POINT_IN_TIME = 0, 1, 2

# Eviction policies at the memory limit (KVDB_EVICT_*, Redis's names).
(
    EVICT_NOEVICTION,
    EVICT_ALLKEYS_LRU,
    EVICT_ALLKEYS_LFU,
    EVICT_ALLKEYS_RANDOM,
    EVICT_VOLATILE_LRU,
    EVICT_VOLATILE_LFU,
    EVICT_VOLATILE_RANDOM,
    EVICT_VOLATILE_TTL,
) = range(8)


def _found(status, absent=NOT_FOUND):
    """True for OK, False for ``absent``; raises for anything else."""
    if status == absent:
        return False
    check(status)
    return True


def _get_many(call, keys):
    """Runs a ``kvdb_multi_get``-like ``call(lookups, n, buf, cap)`` over
    ``keys``: their values in order, None for a key not found. If a value
    did not fit in the buffer, the whole call is made again with room for
    every value, so that all of them come from one moment."""
    keys = [b(k) for k in keys]
    n = len(keys)
    if n == 0:
        return []
    lookups = (_lib.Lookup * n)()
    for lookup, key in zip(lookups, keys):
        # The pointer is into the bytes object, which ``keys`` keeps alive.
        lookup.key = cast(c_char_p(key), c_void_p)
        lookup.klen = len(key)
    cap = max(4096, 128 * n)
    while True:
        buf = create_string_buffer(cap)
        check(call(lookups, n, buf, cap))
        if all(lookup.status != BUFFER_TOO_SMALL for lookup in lookups):
            break
        cap = sum(lookup.vlen for lookup in lookups) + 4096
    return [
        (string_at(lookup.val, lookup.vlen) if lookup.vlen else b"") if _found(lookup.status) else None
        for lookup in lookups
    ]


class Batch:
    """Writes applied atomically by DB.write; reusable. A context manager
    from DB.batch() writes itself on a clean exit."""

    def __init__(self, db=None):
        self._g = Guard(L.kvdb_batch_new(), L.kvdb_batch_free, "batch")
        self._db = db

    def put(self, key, value, ttl=None):
        key, value = b(key), b(value)
        with self._g as h:
            if ttl is None:
                check(L.kvdb_batch_put(h, key, len(key), value, len(value)))
            else:
                check(L.kvdb_batch_put_ttl(h, key, len(key), value, len(value), ttl_ms(ttl)))
        return self

    def delete(self, key):
        key = b(key)
        with self._g as h:
            check(L.kvdb_batch_delete(h, key, len(key)))
        return self

    def clear(self):
        with self._g as h:
            L.kvdb_batch_clear(h)

    def __len__(self):
        with self._g as h:
            return L.kvdb_batch_count(h)

    def close(self):
        self._g.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        try:
            if exc_type is None and self._db is not None:
                self._db.write(self)
        finally:
            self.close()

    def __del__(self):
        self.close()


class Scan(Closing):
    """Key/value pairs in key order (or reversed), read many per C call."""

    def __init__(self, handle, start=None, reverse=False, batch=256):
        self._g = Guard(handle, L.kvdb_iter_free, "iterator")
        self._reverse = reverse
        self._pairs = (_lib.Pair * batch)()
        self._ready = []
        self._done = False
        with self._g as it:
            if start is None:
                (L.kvdb_iter_seek_to_last if reverse else L.kvdb_iter_seek_to_first)(it)
            else:
                start = b(start)
                (L.kvdb_iter_seek_for_prev if reverse else L.kvdb_iter_seek)(it, start, len(start))

    def __iter__(self):
        return self

    def _fill(self):
        step = L.kvdb_iter_prev_batch_borrowed if self._reverse else L.kvdb_iter_next_batch_borrowed
        n = c_size_t()
        with self._g as it:
            check(step(it, self._pairs, len(self._pairs), byref(n)))
            if n.value == 0:
                self._done = True
            # The pairs are borrowed until the iterator moves: copied now.
            self._ready = [
                (
                    string_at(p.key, p.klen) if p.klen else b"",
                    string_at(p.val, p.vlen) if p.vlen else b"",
                )
                for p in self._pairs[: n.value]
            ]
        self._ready.reverse()

    def __next__(self):
        if not self._ready and not self._done:
            self._fill()
        if not self._ready:
            self.close()
            raise StopIteration
        return self._ready.pop()



def _index_range_args(lower, upper, lower_exclusive, upper_inclusive):
    lo = None if lower is None else b(lower)
    hi = None if upper is None else b(upper)
    flags = (LOWER_EXCLUSIVE if lower_exclusive else 0) | (UPPER_INCLUSIVE if upper_inclusive else 0)
    return lo, len(lo or b""), hi, len(hi or b""), flags


class _Reads:
    """Reads shared by DB and Snapshot: both are a view (a database handle
    plus an optional snapshot)."""

    def _view(self):
        raise NotImplementedError

    def scan(self, prefix=b"", start=None, reverse=False):
        """An iterator of (key, value) over keys starting with ``prefix``, in
        key order (descending if ``reverse``), from ``start`` if given."""
        prefix = b(prefix)
        with self._view() as (db, snap):
            it = c_void_p()
            check(L.kvdb_iter_new_prefix(db, snap, prefix, len(prefix), byref(it)))
        return Scan(it, start, reverse)

    def _index_query(self, make):
        with self._view() as (db, snap):
            it = c_void_p()
            check(make(db, snap, byref(it)))
        return IndexIterator(it)

    def index_equal(self, name, ikey):
        """Records whose index key equals ``ikey`` (in the records' own
        form: the field's bytes, the integer in its byte order, a JSON text
        such as b'"alice"' or b'30')."""
        ikey = b(ikey)
        return self._index_query(
            lambda db, snap, out: L.kvdb_index_iter_equal(db, snap, name.encode(), ikey, len(ikey), out)
        )

    def index_prefix(self, name, prefix):
        prefix = b(prefix)
        return self._index_query(
            lambda db, snap, out: L.kvdb_index_iter_prefix(db, snap, name.encode(), prefix, len(prefix), out)
        )

    def index_range(self, name, lower=None, upper=None, lower_exclusive=False, upper_inclusive=False):
        """Records whose index key lies from ``lower`` (included) to
        ``upper`` (excluded); None is open."""
        args = _index_range_args(lower, upper, lower_exclusive, upper_inclusive)
        return self._index_query(lambda db, snap, out: L.kvdb_index_iter_range(db, snap, name.encode(), *args, out))

    def index_get(self, name, ikey):
        """(key, value) of the first record whose index key equals ``ikey``,
        or None."""
        ikey = b(ikey)
        k, kl, v, vl = c_void_p(), c_size_t(), c_void_p(), c_size_t()
        with self._view() as (db, snap):
            status = L.kvdb_index_get(db, snap, name.encode(), ikey, len(ikey), byref(k), byref(kl), byref(v), byref(vl))
        if not _found(status):
            return None
        try:
            return string_at(k, kl.value), string_at(v, vl.value)
        finally:
            L.kvdb_free(k)
            L.kvdb_free(v)


class _DbView:
    def __init__(self, db):
        self._db = db

    def __enter__(self):
        return self._db._g.__enter__(), None

    def __exit__(self, *exc):
        self._db._g.__exit__(*exc)


class _SnapView:
    def __init__(self, snap):
        self._snap = snap

    def __enter__(self):
        s = self._snap._g.__enter__()
        try:
            return self._snap._db._g.__enter__(), s
        except BaseException:
            self._snap._g.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        self._snap._db._g.__exit__(*exc)
        self._snap._g.__exit__(*exc)


class Snapshot(_Reads, Closing):
    """A consistent, read-only view of the database at one moment. Making
    scans and index queries from it needs its database open."""

    def __init__(self, db, handle):
        self._db = db
        self._g = Guard(handle, L.kvdb_snapshot_free, "snapshot")

    def _view(self):
        return _SnapView(self)

    @property
    def seq(self):
        """The sequence number the snapshot reads at: it holds every write
        numbered up to it and none after."""
        n = c_uint64()
        with self._g as s:
            check(L.kvdb_snapshot_seq(s, byref(n)))
        return n.value

    def get(self, key, default=None):
        key = b(key)
        with self._g as s:
            status, value = take(lambda p, n: L.kvdb_snapshot_get(s, key, len(key), p, n))
        return value if _found(status) else default

    def get_many(self, keys):
        """The values of ``keys`` at the snapshot's moment, in order (None
        for a key not found)."""
        with self._g as s:
            return _get_many(lambda ls, n, buf, cap: L.kvdb_snapshot_multi_get(s, ls, n, buf, cap), keys)



class Transaction:
    """A serializable transaction: reads see the database as it was at begin
    plus the transaction's own writes; commit applies every write at once or
    raises ConflictError. As a context manager it commits on a clean exit
    and rolls back on an exception."""

    def __init__(self, handle):
        # A transaction lent to a run_transaction function is the library's:
        # ending it there only marks the run as misused, which the library
        # reports once the function returns.
        self._g = Guard(handle, L.kvdb_txn_rollback, "transaction")

    def get(self, key, default=None):
        key = b(key)
        with self._g as t:
            status, value = take(lambda p, n: L.kvdb_txn_get(t, key, len(key), p, n))
        return value if _found(status) else default

    def get_many(self, keys):
        """The values of ``keys`` as the transaction sees them, in order
        (None for a key not found), in one call into the library; every key
        its own write did not answer counts for commit validation."""
        with self._g as t:
            return _get_many(lambda ls, n, buf, cap: L.kvdb_txn_multi_get(t, ls, n, buf, cap), keys)

    def put(self, key, value, ttl=None):
        key, value = b(key), b(value)
        with self._g as t:
            if ttl is None:
                check(L.kvdb_txn_put(t, key, len(key), value, len(value)))
            else:
                check(L.kvdb_txn_put_ttl(t, key, len(key), value, len(value), ttl_ms(ttl)))

    def delete(self, key):
        """Deletes at commit; False if the key was not live as seen here."""
        key = b(key)
        with self._g as t:
            return _found(L.kvdb_txn_delete(t, key, len(key)))

    def savepoint(self):
        with self._g as t:
            check(L.kvdb_txn_savepoint(t))

    def rollback_to_savepoint(self):
        """Undoes the writes since the newest savepoint; False if none."""
        with self._g as t:
            return _found(L.kvdb_txn_rollback_to_savepoint(t))

    def scan(self, prefix=b"", start=None, reverse=False):
        prefix = b(prefix)
        with self._g as t:
            it = c_void_p()
            check(L.kvdb_txn_iter_new_prefix(t, prefix, len(prefix), byref(it)))
        return Scan(it, start, reverse)

    def _index_query(self, make):
        with self._g as t:
            it = c_void_p()
            check(make(t, byref(it)))
        return IndexIterator(it)

    def index_equal(self, name, ikey):
        ikey = b(ikey)
        return self._index_query(lambda t, out: L.kvdb_txn_index_iter_equal(t, name.encode(), ikey, len(ikey), out))

    def index_prefix(self, name, prefix):
        prefix = b(prefix)
        return self._index_query(
            lambda t, out: L.kvdb_txn_index_iter_prefix(t, name.encode(), prefix, len(prefix), out)
        )

    def index_range(self, name, lower=None, upper=None, lower_exclusive=False, upper_inclusive=False):
        args = _index_range_args(lower, upper, lower_exclusive, upper_inclusive)
        return self._index_query(lambda t, out: L.kvdb_txn_index_iter_range(t, name.encode(), *args, out))

    def commit(self):
        """Applies the writes atomically or raises ConflictError; the
        transaction has ended either way."""
        handle = self._g.detach()
        if handle is None:
            raise ClosedError("the transaction has ended")
        check(L.kvdb_txn_commit(handle))

    def rollback(self):
        """Discards the transaction; nothing once it has ended."""
        self._g.close()

    @property
    def active(self):
        return not self._g.closed

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None and self.active:
            self.commit()
        else:
            self.rollback()

    def __del__(self):
        self.rollback()


class DB(_Reads):
    """An open database, safe to share between threads. Close it with
    close() or a with block; every call after close raises ClosedError."""

    def __init__(self, path=None, *, sync=None, sync_interval=None, recovery=None,
                 checkpoint_bytes=None, snapshots_to_keep=None, background_maintenance=True,
                 indexes=(), memory_limit=0, eviction=EVICT_NOEVICTION,
                 checkpoint_on_close=False, _load=False):
        opts = L.kvdb_options_new()
        try:
            if sync is not None:
                interval = ttl_ms(sync_interval) if sync_interval else 0
                check(L.kvdb_options_set_sync(opts, sync, interval))
            if recovery is not None:
                check(L.kvdb_options_set_recovery_mode(opts, recovery))
            if checkpoint_bytes is not None:
                check(L.kvdb_options_set_checkpoint_bytes(opts, checkpoint_bytes))
            if snapshots_to_keep is not None:
                check(L.kvdb_options_set_snapshots_to_keep(opts, snapshots_to_keep))
            if not background_maintenance:
                check(L.kvdb_options_set_background_maintenance(opts, 0))
            if checkpoint_on_close:
                check(L.kvdb_options_set_checkpoint_on_close(opts, 1))
            if memory_limit:
                check(L.kvdb_options_set_memory_limit(opts, memory_limit, eviction))
            for d in indexes:
                d.with_c(lambda c: check(L.kvdb_options_add_index(opts, c)))
            handle = c_void_p()
            if _load:
                check(L.kvdb_open_in_memory_from(str(path).encode(), opts, byref(handle)))
            else:
                check(L.kvdb_open(None if path is None else str(path).encode(), opts, byref(handle)))
        finally:
            L.kvdb_options_free(opts)
        self._g = Guard(handle, L.kvdb_close, "database")

    def _view(self):
        return _DbView(self)

    def close(self):
        """Closes the database (its files synced and released); again is a no-op."""
        status = self._g.close()
        if status:
            check(status)

    @property
    def closed(self):
        return self._g.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # Point operations.

    def put(self, key, value, ttl=None):
        """Stores ``value`` under ``key``; ``ttl`` in seconds, rounded up to
        whole milliseconds."""
        key, value = b(key), b(value)
        with self._g as h:
            if ttl is None:
                check(L.kvdb_put(h, key, len(key), value, len(value)))
            else:
                check(L.kvdb_put_ttl(h, key, len(key), value, len(value), ttl_ms(ttl)))

    def get(self, key, default=None):
        key = b(key)
        with self._g as h:
            status, value = take(lambda p, n: L.kvdb_get(h, key, len(key), p, n))
        return value if _found(status) else default

    def get_many(self, keys):
        """The values of ``keys`` in order (None for a key absent or
        expired), all read at one moment in one call into the library:
        much cheaper than a get per key, above all from Python."""
        with self._g as h:
            return _get_many(lambda ls, n, buf, cap: L.kvdb_multi_get(h, ls, n, buf, cap), keys)

    def delete(self, key):
        """Deletes ``key``; False if it held no live value."""
        key = b(key)
        with self._g as h:
            return _found(L.kvdb_delete(h, key, len(key)))

    def __getitem__(self, key):
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        self.put(key, value)

    def __delitem__(self, key):
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key):
        key = b(key)
        with self._g as h:
            return _found(L.kvdb_exists(h, key, len(key)))

    def ttl(self, key):
        """Seconds left (a float, ms precision), None if the key has no TTL;
        KeyError (NotFoundError) if it is absent."""
        key = b(key)
        left = c_int64()
        with self._g as h:
            check(L.kvdb_ttl(h, key, len(key), byref(left)))
        return None if left.value < 0 else left.value / 1000

    def expire(self, key, ttl):
        """Gives a live key a TTL; False if absent."""
        key = b(key)
        with self._g as h:
            return _found(L.kvdb_expire(h, key, len(key), ttl_ms(ttl)))

    def persist(self, key):
        """Removes a key's TTL; False if absent."""
        key = b(key)
        with self._g as h:
            return _found(L.kvdb_persist(h, key, len(key)))

    def put_if_absent(self, key, value, ttl=None):
        """Stores only if ``key`` is absent; False if it was present."""
        key, value = b(key), b(value)
        with self._g as h:
            if ttl is None:
                status = L.kvdb_put_if_absent(h, key, len(key), value, len(value))
            else:
                status = L.kvdb_put_if_absent_ttl(h, key, len(key), value, len(value), ttl_ms(ttl))
        return _found(status, EXISTS)

    def compare_and_swap(self, key, expected, value):
        """Replaces the value if it equals ``expected``: True if swapped,
        False if it differed; NotFoundError if the key is absent."""
        key, expected, value = b(key), b(expected), b(value)
        with self._g as h:
            status = L.kvdb_compare_and_swap(h, key, len(key), expected, len(expected), value, len(value))
        return _found(status, CONFLICT)

    def increment(self, key, delta=1):
        """Adds ``delta`` to the decimal integer at ``key`` (absent is 0)."""
        key = b(key)
        out = c_int64()
        with self._g as h:
            check(L.kvdb_increment(h, key, len(key), delta, byref(out)))
        return out.value

    # Groups, views and maintenance.

    def batch(self):
        """A Batch that writes itself when its with block ends cleanly."""
        return Batch(self)

    def write(self, batch):
        with batch._g as bh, self._g as h:
            check(L.kvdb_write(h, bh))

    def snapshot(self):
        with self._g as h:
            s = c_void_p()
            check(L.kvdb_snapshot_new(h, byref(s)))
        return Snapshot(self, s)

    def transaction(self):
        with self._g as h:
            t = c_void_p()
            check(L.kvdb_txn_begin(h, byref(t)))
        return Transaction(t)

    def run_transaction(self, fn):
        """Calls ``fn(txn)`` in a transaction and commits it, retrying the
        whole transaction when the commit conflicts, until it commits; returns
        what ``fn`` returned. Before each retry the library waits for the
        writes it lost to, and its last retry (the 17th attempt) runs ``fn``
        holding the write lock, so writers that keep winning cannot starve it
        (``kvdb_txn_run``). An exception from ``fn`` rolls back and is raised
        as is. ``fn`` must not commit, roll back or keep ``txn`` (the run then
        raises InvalidArgumentError, committing nothing). During the last
        retry other writes wait, and a write through this database from
        inside ``fn`` (instead of through ``txn``) raises
        InvalidArgumentError."""
        outcome = {}

        @_lib.TXN_BODY_FN
        def body(handle, _ctx):
            txn = Transaction(c_void_p(handle))
            outcome.clear()
            try:
                outcome["value"] = fn(txn)
                return 0
            except BaseException as e:  # raised again once the run returns
                outcome["error"] = e
                return INTERNAL
            finally:
                txn._g.detach()  # the handle is the library's again

        with self._g as h:
            status = L.kvdb_txn_run(h, body, None)
        if "error" in outcome:
            raise outcome["error"]
        check(status)
        return outcome.get("value")

    def backup(self, path):
        """Writes a consistent copy of the database as of one moment into the
        new or empty directory ``path`` (one snapshot file, which opens as a
        durable database). Other threads go on writing meanwhile."""
        with self._g as h:
            check(L.kvdb_backup(h, str(path).encode()))

    def sync(self):
        with self._g as h:
            check(L.kvdb_sync(h))

    def checkpoint(self):
        with self._g as h:
            check(L.kvdb_checkpoint(h))

    def collect_garbage(self):
        with self._g as h:
            check(L.kvdb_collect_garbage(h))

    def reorder(self):
        """Put the ordered index back in key order in memory now, so scans
        after random inserts read memory in order. Nothing readers see
        changes; the library does the same by itself when writes of new keys
        pause. Call it after a bulk load to have it done before scanning."""
        with self._g as h:
            check(L.kvdb_reorder(h))

    def stats(self):
        s = _lib.Stats()
        with self._g as h:
            check(L.kvdb_stats(h, byref(s)))
        return {name: getattr(s, name) for name, _ in _lib.Stats._fields_}

    def set_memory_limit(self, limit, eviction=EVICT_NOEVICTION):
        """Changes the memory limit in bytes (0: none) and the EVICT_*
        policy; a database over the new limit is evicted down to it before
        this returns, or, if the keys the policy may evict cannot free that
        much, loses them all, and writes then raise MemoryLimitError until
        room is made. Setting an LRU or LFU policy where none recorded the
        keys' use, or changing between LRU and LFU, counts every key held
        as written now. Removing the limit (0) leaves what reads record as
        it was, so that a limit set again, or a reopen, ranks the keys by
        all their use."""
        with self._g as h:
            check(L.kvdb_set_memory_limit(h, limit, eviction))

    def memory_usage(self):
        """Bytes held (as the allocator sizes them), the limit (0: none)
        and the keys evicted since open, as a dict."""
        used, limit, evicted = c_uint64(), c_uint64(), c_uint64()
        with self._g as h:
            check(L.kvdb_memory_usage(h, byref(used), byref(limit), byref(evicted)))
        return {"used": used.value, "limit": limit.value, "evicted_keys": evicted.value}

    def recovery_info(self):
        r = _lib.Recovery()
        r.size = sizeof(r)
        with self._g as h:
            check(L.kvdb_recovery_info(h, byref(r)))
        return {name: getattr(r, name) for name, _ in _lib.Recovery._fields_ if name != "size"}

    def recovery_message(self):
        with self._g as h:
            n = L.kvdb_recovery_message(h, None, 0)
            buf = create_string_buffer(n + 1)
            L.kvdb_recovery_message(h, buf, n + 1)
        return buf.value.decode("utf-8", "replace")

    # Indexes.

    def create_index(self, definition):
        """Builds the index over the existing records, online, and keeps it
        from then on. Under a memory limit the build makes room for the
        entries as a write does, or raises MemoryLimitError leaving nothing
        of the index. Indexes are not stored: pass them to open(indexes=...)
        to have them rebuilt at the next open."""
        with self._g as h:
            definition.with_c(lambda c: check(L.kvdb_create_index(h, c)))

    def drop_index(self, name):
        with self._g as h:
            check(L.kvdb_drop_index(h, name.encode()))

    def indexes(self):
        names, count = c_void_p(), c_size_t()
        with self._g as h:
            check(L.kvdb_index_list(h, byref(names), byref(count)))
        try:
            out, p = [], names.value
            for _ in range(count.value):
                name = c_char_p(p).value
                out.append(name.decode())
                p += len(name) + 1
            return out
        finally:
            L.kvdb_free(names)


def open(path=None, **options):  # noqa: A001 - the module's entry point
    """Opens the database in directory ``path`` (created if missing, its
    contents recovered), or an in-memory one if ``path`` is None or
    ":memory:". Options: sync (SYNC_*), sync_interval (seconds), recovery
    (RECOVERY_*), checkpoint_bytes, snapshots_to_keep,
    background_maintenance, indexes (a list of index definitions),
    memory_limit (bytes; 0: none), eviction (EVICT_*: what a write past
    the limit does; the default refuses it with MemoryLimitError) and
    checkpoint_on_close (close() checkpoints first: the next open replays
    no log and finds each key's use, reads included, as it was)."""
    return DB(path, **options)


def open_in_memory_from(path, **options):
    """An in-memory database holding the contents of a backup or database
    directory, read without writing or repairing anything there (LockedError
    if it is open elsewhere); it then touches no file. Options as for open()."""
    return DB(path, _load=True, **options)


def version():
    return L.kvdb_version().decode()


def allocator():
    """The allocator the library uses for its own memory in this process:
    "mimalloc", or "system" when KVDB_ALLOCATOR=system was set before the
    library's first allocation."""
    return L.kvdb_allocator().decode()
