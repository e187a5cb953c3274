"""Loading libkvdb and declaring the C functions (ctypes signatures)."""

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)

status_t = c_int
vp = c_void_p
pvp = POINTER(c_void_p)
psize = POINTER(c_size_t)

EXTRACT_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t, c_void_p)
FREE_FN = CFUNCTYPE(None, c_void_p)
TXN_BODY_FN = CFUNCTYPE(c_int, c_void_p, c_void_p)


class Pair(Structure):
    _fields_ = [("key", c_void_p), ("klen", c_size_t), ("val", c_void_p), ("vlen", c_size_t)]


class Lookup(Structure):
    _fields_ = [
        ("key", c_void_p),
        ("klen", c_size_t),
        ("val", c_void_p),
        ("vlen", c_size_t),
        ("status", c_int),
    ]


class Stats(Structure):
    _fields_ = [
        (name, c_uint64)
        for name in (
            "live_keys",
            "keys_held",
            "versions",
            "bytes",
            "expired_reclaimed",
            "versions_reclaimed",
            "gets",
            "puts",
            "deletes",
            "batches",
            "open_views",
            "wal_bytes",
            "checkpoints",
        )
    ]


class Recovery(Structure):
    _fields_ = [
        ("size", c_size_t),
        ("snapshot_loaded", c_bool),
        ("snapshot_seq", c_uint64),
        ("snapshot_entries", c_uint64),
        ("snapshots_rejected", c_uint64),
        ("wal_records_applied", c_uint64),
        ("wal_records_skipped", c_uint64),
        ("wal_bytes", c_uint64),
        ("torn_tail_cut", c_bool),
        ("torn_tail_offset", c_uint64),
        ("torn_tail_bytes", c_uint64),
        ("segments_discarded", c_uint64),
        ("last_seq", c_uint64),
        ("duration_us", c_uint64),
        ("wal_segments_skipped", c_uint64),
    ]


# name: (result type, argument types)
SIGNATURES = {
    "kvdb_open": (status_t, [c_char_p, vp, pvp]),
    "kvdb_close": (status_t, [vp]),
    "kvdb_backup": (status_t, [vp, c_char_p]),
    "kvdb_open_in_memory_from": (status_t, [c_char_p, vp, pvp]),
    "kvdb_sync": (status_t, [vp]),
    "kvdb_checkpoint": (status_t, [vp]),
    "kvdb_collect_garbage": (status_t, [vp]),
    "kvdb_reorder": (status_t, [vp]),
    "kvdb_last_error": (c_size_t, [c_char_p, c_size_t]),
    "kvdb_strerror": (c_char_p, [c_int]),
    "kvdb_version": (c_char_p, []),
    "kvdb_allocator": (c_char_p, []),
    "kvdb_free": (None, [vp]),
    "kvdb_put": (status_t, [vp, c_char_p, c_size_t, c_char_p, c_size_t]),
    "kvdb_put_ttl": (status_t, [vp, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64]),
    "kvdb_get": (status_t, [vp, c_char_p, c_size_t, pvp, psize]),
    "kvdb_delete": (status_t, [vp, c_char_p, c_size_t]),
    "kvdb_exists": (status_t, [vp, c_char_p, c_size_t]),
    "kvdb_ttl": (status_t, [vp, c_char_p, c_size_t, POINTER(c_int64)]),
    "kvdb_expire": (status_t, [vp, c_char_p, c_size_t, c_uint64]),
    "kvdb_persist": (status_t, [vp, c_char_p, c_size_t]),
    "kvdb_put_if_absent": (status_t, [vp, c_char_p, c_size_t, c_char_p, c_size_t]),
    "kvdb_put_if_absent_ttl": (status_t, [vp, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64]),
    "kvdb_compare_and_swap": (
        status_t,
        [vp, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p, c_size_t],
    ),
    "kvdb_increment": (status_t, [vp, c_char_p, c_size_t, c_int64, POINTER(c_int64)]),
    "kvdb_stats": (status_t, [vp, POINTER(Stats)]),
    "kvdb_recovery_info": (status_t, [vp, POINTER(Recovery)]),
    "kvdb_recovery_message": (c_size_t, [vp, c_char_p, c_size_t]),
    "kvdb_options_new": (vp, []),
    "kvdb_options_free": (None, [vp]),
    "kvdb_options_set_sync": (status_t, [vp, c_int, c_uint32]),
    "kvdb_options_set_recovery_mode": (status_t, [vp, c_int]),
    "kvdb_options_set_checkpoint_bytes": (status_t, [vp, c_uint64]),
    "kvdb_options_set_snapshots_to_keep": (status_t, [vp, c_uint32]),
    "kvdb_options_set_background_maintenance": (status_t, [vp, c_int]),
    "kvdb_options_set_memory_limit": (status_t, [vp, c_uint64, c_int]),
    "kvdb_options_set_checkpoint_on_close": (status_t, [vp, c_int]),
    "kvdb_set_memory_limit": (status_t, [vp, c_uint64, c_int]),
    "kvdb_memory_usage": (
        status_t,
        [vp, POINTER(c_uint64), POINTER(c_uint64), POINTER(c_uint64)],
    ),
    "kvdb_options_add_index": (status_t, [vp, vp]),
    "kvdb_batch_new": (vp, []),
    "kvdb_batch_free": (None, [vp]),
    "kvdb_batch_put": (status_t, [vp, c_char_p, c_size_t, c_char_p, c_size_t]),
    "kvdb_batch_put_ttl": (status_t, [vp, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64]),
    "kvdb_batch_delete": (status_t, [vp, c_char_p, c_size_t]),
    "kvdb_batch_count": (c_size_t, [vp]),
    "kvdb_batch_clear": (None, [vp]),
    "kvdb_write": (status_t, [vp, vp]),
    "kvdb_snapshot_new": (status_t, [vp, pvp]),
    "kvdb_snapshot_free": (None, [vp]),
    "kvdb_snapshot_get": (status_t, [vp, c_char_p, c_size_t, pvp, psize]),
    "kvdb_multi_get": (status_t, [vp, POINTER(Lookup), c_size_t, vp, c_size_t]),
    "kvdb_snapshot_multi_get": (status_t, [vp, POINTER(Lookup), c_size_t, vp, c_size_t]),
    "kvdb_txn_multi_get": (status_t, [vp, POINTER(Lookup), c_size_t, vp, c_size_t]),
    "kvdb_snapshot_seq": (status_t, [vp, POINTER(c_uint64)]),
    "kvdb_iter_new_prefix": (status_t, [vp, vp, c_char_p, c_size_t, pvp]),
    "kvdb_iter_free": (None, [vp]),
    "kvdb_iter_seek_to_first": (None, [vp]),
    "kvdb_iter_seek_to_last": (None, [vp]),
    "kvdb_iter_seek": (None, [vp, c_char_p, c_size_t]),
    "kvdb_iter_seek_for_prev": (None, [vp, c_char_p, c_size_t]),
    "kvdb_iter_valid": (c_bool, [vp]),
    "kvdb_iter_next": (None, [vp]),
    "kvdb_iter_prev": (None, [vp]),
    "kvdb_iter_key": (status_t, [vp, pvp, psize]),
    "kvdb_iter_value": (status_t, [vp, pvp, psize]),
    "kvdb_iter_next_batch": (status_t, [vp, POINTER(Pair), c_size_t, vp, c_size_t, psize]),
    "kvdb_iter_prev_batch": (status_t, [vp, POINTER(Pair), c_size_t, vp, c_size_t, psize]),
    "kvdb_iter_next_batch_borrowed": (status_t, [vp, POINTER(Pair), c_size_t, psize]),
    "kvdb_iter_prev_batch_borrowed": (status_t, [vp, POINTER(Pair), c_size_t, psize]),
    "kvdb_txn_begin": (status_t, [vp, pvp]),
    "kvdb_txn_get": (status_t, [vp, c_char_p, c_size_t, pvp, psize]),
    "kvdb_txn_put": (status_t, [vp, c_char_p, c_size_t, c_char_p, c_size_t]),
    "kvdb_txn_put_ttl": (status_t, [vp, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64]),
    "kvdb_txn_delete": (status_t, [vp, c_char_p, c_size_t]),
    "kvdb_txn_commit": (status_t, [vp]),
    "kvdb_txn_run": (status_t, [vp, TXN_BODY_FN, vp]),
    "kvdb_txn_rollback": (None, [vp]),
    "kvdb_txn_savepoint": (status_t, [vp]),
    "kvdb_txn_rollback_to_savepoint": (status_t, [vp]),
    "kvdb_txn_iter_new_prefix": (status_t, [vp, c_char_p, c_size_t, pvp]),
    "kvdb_index_def_new_key_field": (status_t, [c_char_p, c_uint8, c_uint32, pvp]),
    "kvdb_index_def_new_value_bytes": (status_t, [c_char_p, c_size_t, c_size_t, c_int, pvp]),
    "kvdb_index_def_new_json_field": (status_t, [c_char_p, c_char_p, pvp]),
    "kvdb_index_def_new_callback": (status_t, [c_char_p, EXTRACT_FN, vp, FREE_FN, pvp]),
    "kvdb_index_def_set_unique": (status_t, [vp]),
    "kvdb_index_def_free": (None, [vp]),
    "kvdb_index_keys_add": (status_t, [vp, c_char_p, c_size_t]),
    "kvdb_create_index": (status_t, [vp, vp]),
    "kvdb_drop_index": (status_t, [vp, c_char_p]),
    "kvdb_index_list": (status_t, [vp, pvp, psize]),
    "kvdb_index_get": (status_t, [vp, vp, c_char_p, c_char_p, c_size_t, pvp, psize, pvp, psize]),
    "kvdb_index_iter_equal": (status_t, [vp, vp, c_char_p, c_char_p, c_size_t, pvp]),
    "kvdb_index_iter_prefix": (status_t, [vp, vp, c_char_p, c_char_p, c_size_t, pvp]),
    "kvdb_index_iter_range": (
        status_t,
        [vp, vp, c_char_p, c_char_p, c_size_t, c_char_p, c_size_t, c_uint32, pvp],
    ),
    "kvdb_txn_index_iter_equal": (status_t, [vp, c_char_p, c_char_p, c_size_t, pvp]),
    "kvdb_txn_index_iter_prefix": (status_t, [vp, c_char_p, c_char_p, c_size_t, pvp]),
    "kvdb_txn_index_iter_range": (
        status_t,
        [vp, c_char_p, c_char_p, c_size_t, c_char_p, c_size_t, c_uint32, pvp],
    ),
    "kvdb_index_iter_next": (status_t, [vp]),
    "kvdb_index_iter_next_back": (status_t, [vp]),
    "kvdb_index_iter_index_key": (status_t, [vp, pvp, psize]),
    "kvdb_index_iter_key": (status_t, [vp, pvp, psize]),
    "kvdb_index_iter_value": (status_t, [vp, pvp, psize]),
    "kvdb_index_iter_free": (None, [vp]),
}


def _candidates():
    env = os.environ.get("KVDB_LIBRARY")
    if env:
        yield env
        return
    bundled = os.path.join(os.path.dirname(__file__), "lib", "libkvdb.so.0")
    if os.path.exists(bundled):
        yield bundled
    yield "libkvdb.so.0"
    found = ctypes.util.find_library("kvdb")
    if found:
        yield found


def load():
    """Loads libkvdb and declares its functions; raises OSError saying
    where it looked if no library could be loaded."""
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
            continue
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib
    raise OSError(
        "libkvdb not found; install it (make && sudo make install), set "
        "LD_LIBRARY_PATH, or point KVDB_LIBRARY at libkvdb.so. Tried:\n  "
        + "\n  ".join(tried)
    )


lib = load()
