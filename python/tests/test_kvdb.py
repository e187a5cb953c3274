"""The Python binding against libkvdb: every call, errors as exceptions,
closed handles, TTL rounding, scans, transactions, indexes and threads.

Run: KVDB_LIBRARY=target/release/libkvdb.so python3 -m unittest discover -s python/tests
"""

import json
import os
import struct
import tempfile
import threading
import time
import unittest

import kvdb


class PointOperations(unittest.TestCase):
    def setUp(self):
        self.db = kvdb.open()
        self.addCleanup(self.db.close)

    def test_put_get_delete_and_mapping_protocol(self):
        db = self.db
        db.put(b"k", b"v")
        self.assertEqual(db.get(b"k"), b"v")
        self.assertIsNone(db.get(b"missing"))
        self.assertEqual(db.get(b"missing", b"dflt"), b"dflt")
        db["s"] = "text"  # str is UTF-8
        self.assertEqual(db["s"], b"text")
        self.assertIn(b"s", db)
        self.assertNotIn(b"nope", db)
        with self.assertRaises(KeyError):
            db[b"nope"]
        self.assertTrue(db.delete(b"k"))
        self.assertFalse(db.delete(b"k"))
        del db["s"]
        with self.assertRaises(KeyError):
            del db["s"]
        binary = bytes(range(256))
        db.put(binary, binary)
        self.assertEqual(db.get(binary), binary)
        db.put(b"empty", b"")
        self.assertEqual(db.get(b"empty"), b"")

    def test_conditional_writes_and_counters(self):
        db = self.db
        self.assertTrue(db.put_if_absent(b"lock", b"a"))
        self.assertFalse(db.put_if_absent(b"lock", b"b"))
        self.assertTrue(db.compare_and_swap(b"lock", b"a", b"c"))
        self.assertFalse(db.compare_and_swap(b"lock", b"a", b"d"))
        with self.assertRaises(kvdb.NotFoundError):
            db.compare_and_swap(b"nolock", b"a", b"d")
        self.assertEqual(db.increment(b"n"), 1)
        self.assertEqual(db.increment(b"n", -5), -4)
        with self.assertRaises(kvdb.InvalidArgumentError):
            db.increment(b"lock")

    def test_errors_carry_status_and_detail(self):
        with self.assertRaises(kvdb.TooLargeError) as caught:
            self.db.put(b"k" * 70000, b"v")
        self.assertEqual(caught.exception.status, 7)
        self.assertIn("70000", str(caught.exception))
        self.assertIsInstance(caught.exception, kvdb.Error)

    def test_ttls_are_seconds_rounded_up_to_whole_milliseconds(self):
        db = self.db
        db.put(b"blink", b"v", ttl=0.0003)  # 0.3 ms is 1 ms, not 0
        time.sleep(0.02)
        self.assertIsNone(db.get(b"blink"))
        db.put(b"s", b"v", ttl=3600)
        self.assertTrue(3590 < db.ttl(b"s") <= 3600)
        self.assertTrue(db.persist(b"s"))
        self.assertIsNone(db.ttl(b"s"))
        self.assertTrue(db.expire(b"s", 30))
        self.assertFalse(db.expire(b"missing", 30))
        self.assertFalse(db.persist(b"missing"))
        with self.assertRaises(kvdb.NotFoundError):
            db.ttl(b"missing")
        for bad in (0, -1):
            with self.assertRaises(kvdb.InvalidArgumentError):
                db.put(b"s", b"v", ttl=bad)
        self.assertTrue(db.put_if_absent(b"lease", b"me", ttl=60))
        self.assertIsNotNone(db.ttl(b"lease"))

    def test_stats_and_version(self):
        self.db.put(b"a", b"1")
        stats = self.db.stats()
        self.assertEqual(stats["live_keys"], 1)
        self.assertEqual(stats["puts"], 1)
        self.assertTrue(kvdb.version().startswith("0."))
        expected = "system" if os.environ.get("KVDB_ALLOCATOR") == "system" else "mimalloc"
        self.assertEqual(kvdb.allocator(), expected)
        self.assertEqual(self.db.recovery_info()["last_seq"], 0)
        self.assertEqual(self.db.recovery_message(), "")


class MemoryLimit(unittest.TestCase):
    LIMIT = 256 * 1024

    def test_an_evicting_policy_keeps_usage_within_the_limit(self):
        with kvdb.open(memory_limit=self.LIMIT, eviction=kvdb.EVICT_ALLKEYS_LRU) as db:
            for i in range(3000):
                db.put(b"key-%06d" % i, b"v" * 200)
                usage = db.memory_usage()
                self.assertLessEqual(usage["used"], usage["limit"])
            self.assertEqual(usage["limit"], self.LIMIT)
            self.assertGreater(usage["evicted_keys"], 1000)
            db.set_memory_limit(self.LIMIT // 2, kvdb.EVICT_ALLKEYS_RANDOM)
            self.assertLessEqual(db.memory_usage()["used"], self.LIMIT // 2)

    def test_noeviction_raises_memory_limit_error_and_keeps_what_was_written(self):
        with kvdb.open(memory_limit=self.LIMIT) as db:
            written = 0
            with self.assertRaises(kvdb.MemoryLimitError):
                while written < 100000:
                    db.put(b"key-%06d" % written, b"v" * 200)
                    written += 1
            for i in range(written):
                self.assertEqual(db.get(b"key-%06d" % i), b"v" * 200)
            with self.assertRaises(kvdb.InvalidArgumentError):
                db.set_memory_limit(self.LIMIT, 8)

    def test_an_index_that_does_not_fit_raises_memory_limit_error_and_is_not_kept(self):
        with kvdb.open(memory_limit=self.LIMIT) as db:
            written = 0
            with self.assertRaises(kvdb.MemoryLimitError):
                while written < 100000:
                    db.put(b"key-%06d" % written, b"%08d" % written + b"v" * 192)
                    written += 1
            with self.assertRaises(kvdb.MemoryLimitError):
                db.create_index(kvdb.value_bytes("head", 0, 8))
            self.assertEqual(db.indexes(), [])
            self.assertEqual(db.memory_usage()["evicted_keys"], 0)

    def test_a_close_that_checkpoints_leaves_no_log_to_replay(self):
        with tempfile.TemporaryDirectory() as d:
            options = dict(memory_limit=self.LIMIT, eviction=kvdb.EVICT_ALLKEYS_LRU,
                           checkpoint_on_close=True)
            with kvdb.open(d, **options) as db:
                for i in range(100):
                    db.put(b"key-%06d" % i, b"v")
                db.get(b"key-000000")
            with kvdb.open(d, **options) as db:
                info = db.recovery_info()
                self.assertTrue(info["snapshot_loaded"])
                self.assertEqual(info["snapshot_entries"], 100)
                self.assertEqual(info["wal_records_applied"], 0)


class ClosedHandles(unittest.TestCase):
    def test_every_call_after_close_raises_closed_error(self):
        db = kvdb.open()
        db.put(b"k", b"v")
        snap = db.snapshot()
        scan = db.scan()
        db.close()
        db.close()  # idempotent
        self.assertTrue(db.closed)
        calls = [
            lambda: db.put(b"k", b"v"),
            lambda: db.reorder(),
            lambda: db.get(b"k"),
            lambda: db.delete(b"k"),
            lambda: b"k" in db,
            lambda: db.ttl(b"k"),
            lambda: db.increment(b"n"),
            lambda: db.scan(),
            lambda: db.snapshot(),
            lambda: db.transaction(),
            lambda: db.stats(),
            lambda: db.sync(),
            lambda: db.indexes(),
            lambda: db.index_equal("x", b""),
            lambda: snap.scan(),
        ]
        for call in calls:
            with self.assertRaises(kvdb.ClosedError):
                call()
        # Views made before close keep reading what they saw.
        self.assertEqual(snap.get(b"k"), b"v")
        self.assertEqual(list(scan), [(b"k", b"v")])
        snap.close()
        snap.close()
        with self.assertRaises(kvdb.ClosedError):
            snap.get(b"k")

    def test_close_waits_for_calls_in_flight(self):
        db = kvdb.open()
        stop = []

        def writer(n):
            i = 0
            while True:
                try:
                    db.put(f"{n}:{i}", b"v")
                except kvdb.ClosedError:
                    stop.append(n)
                    return
                i += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        db.close()
        for t in threads:
            t.join()
        self.assertEqual(sorted(stop), [0, 1, 2, 3])


class ScansBatchesSnapshots(unittest.TestCase):
    def setUp(self):
        self.db = kvdb.open()
        self.addCleanup(self.db.close)

    def test_batch_applies_atomically_and_scans_see_it(self):
        db = self.db
        with db.batch() as b:
            for i in range(50):
                b.put(f"user:{i:02d}", b"x")
            b.put(b"user:temp", b"t", ttl=3600)
            b.delete(b"user:00")
            self.assertEqual(len(b), 52)
        keys = [k for k, _ in db.scan(prefix=b"user:")]
        self.assertEqual(len(keys), 50)
        self.assertEqual(keys[0], b"user:01")
        back = [k for k, _ in db.scan(prefix=b"user:", reverse=True)]
        self.assertEqual(back, keys[::-1])
        self.assertEqual(next(db.scan(prefix=b"user:", start=b"user:10"))[0], b"user:10")
        self.assertEqual(
            next(db.scan(prefix=b"user:", start=b"user:105", reverse=True))[0], b"user:10"
        )
        b = kvdb.Batch()
        b.put(b"x", b"1")
        b.clear()
        self.assertEqual(len(b), 0)
        b.close()

    def test_a_failing_with_block_writes_nothing(self):
        with self.assertRaises(RuntimeError):
            with self.db.batch() as b:
                b.put(b"half", b"x")
                raise RuntimeError("stop")
        self.assertIsNone(self.db.get(b"half"))

    def test_scan_reads_many_pairs_and_large_values(self):
        db = self.db
        for i in range(2000):
            db.put(b"n:%05d" % i, b"v" * (i % 50))
        db.put(b"n:big", b"B" * 300000)
        pairs = list(db.scan(prefix=b"n:"))
        self.assertEqual(len(pairs), 2001)
        self.assertEqual(pairs[-1], (b"n:big", b"B" * 300000))
        self.assertEqual(pairs[7], (b"n:00007", b"v" * 7))

    def test_reorder_keeps_every_key_in_scan_order(self):
        db = self.db
        for i in range(3000):
            db.put(b"r:%05d" % ((i * 7919) % 3000), b"v")
        db.reorder()
        keys = [k for k, _ in db.scan(prefix=b"r:")]
        self.assertEqual(keys, [b"r:%05d" % i for i in range(3000)])

    def test_snapshots_keep_their_view(self):
        db = self.db
        db.put(b"a", b"1")
        with db.snapshot() as snap:
            db.put(b"a", b"2")
            db.put(b"b", b"new")
            self.assertEqual(snap.get(b"a"), b"1")
            self.assertIsNone(snap.get(b"b"))
            self.assertEqual(list(snap.scan()), [(b"a", b"1")])
            with db.snapshot() as newer:
                self.assertEqual(newer.seq, snap.seq + 2)


    def test_get_many_reads_every_key_at_one_moment(self):
        db = self.db
        db.put(b"a", b"1")
        db.put(b"empty", b"")
        db.put(b"big", b"B" * 100000)  # larger than the first buffer
        keys = [b"a", "missing", b"empty", b"big", b"a"]
        self.assertEqual(db.get_many(keys), [b"1", None, b"", b"B" * 100000, b"1"])
        self.assertEqual(db.get_many([]), [])
        with db.snapshot() as snap:
            db.put(b"a", b"2")
            db.delete(b"big")
            self.assertEqual(snap.get_many([b"a", b"big"]), [b"1", b"B" * 100000])
            self.assertEqual(db.get_many([b"a", b"big"]), [b"2", None])
        many = [b"m:%03d" % i for i in range(100)]
        for k in many[::2]:
            db.put(k, k)
        self.assertEqual(db.get_many(many), [k if i % 2 == 0 else None for i, k in enumerate(many)])
        with self.assertRaises(kvdb.TooLargeError):
            db.get_many([b"a", b"x" * 70000])


class Transactions(unittest.TestCase):
    def setUp(self):
        self.db = kvdb.open()
        self.addCleanup(self.db.close)

    def test_commit_rollback_savepoints(self):
        db = self.db
        db.put(b"a", b"1")
        with db.transaction() as t:
            t.put(b"b", b"2")
            self.assertEqual(t.get(b"b"), b"2")
            self.assertIsNone(db.get(b"b"))
            t.savepoint()
            self.assertTrue(t.delete(b"a"))
            self.assertTrue(t.rollback_to_savepoint())
            self.assertFalse(t.rollback_to_savepoint())
            self.assertFalse(t.delete(b"nothing"))
            self.assertEqual([k for k, _ in t.scan()], [b"a", b"b"])
        self.assertEqual(db.get(b"b"), b"2")
        self.assertFalse(t.active)
        with self.assertRaises(kvdb.ClosedError):
            t.put(b"x", b"y")
        with self.assertRaises(ValueError):
            with db.transaction() as t:
                t.put(b"dropped", b"x")
                raise ValueError("abort")
        self.assertIsNone(db.get(b"dropped"))

    def test_conflicts_raise_and_apply_nothing(self):
        db = self.db
        t1, t2 = db.transaction(), db.transaction()
        t1.get(b"k")
        t1.put(b"k", b"t1")
        t2.put(b"k", b"t2")
        t2.commit()
        with self.assertRaises(kvdb.ConflictError):
            t1.commit()
        self.assertEqual(db.get(b"k"), b"t2")
        with self.assertRaises(kvdb.ClosedError):
            t1.commit()

    def test_a_transactions_get_many_reads_its_writes_and_counts_for_validation(self):
        db = self.db
        db.put(b"a", b"1")
        t = db.transaction()
        t.put(b"b", b"mine")
        self.assertEqual(t.get_many([b"a", b"b", b"none"]), [b"1", b"mine", None])
        t.put(b"c", b"3")
        db.put(b"none", b"now")  # a key it read as absent
        with self.assertRaises(kvdb.ConflictError):
            t.commit()

    def test_threads_keep_the_bank_total(self):
        db = self.db
        for i in range(10):
            db.put(f"acct/{i}", b"100")

        def transfer(n):
            for m in range(60):
                a, b = f"acct/{(n + m) % 10}", f"acct/{(n * 3 + m + 1) % 10}"
                if a == b:
                    continue
                while True:
                    try:
                        with db.transaction() as t:
                            x, y = int(t.get(a)), int(t.get(b))
                            t.put(a, str(x - 1))
                            t.put(b, str(y + 1))
                        break
                    except kvdb.ConflictError:
                        continue

        threads = [threading.Thread(target=transfer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sum(int(v) for _, v in db.scan(prefix=b"acct/")), 1000)


    def test_run_transaction_commits_every_increment_of_one_hot_key(self):
        db = self.db
        db.put(b"n", b"0")

        def increment(t):
            t.put(b"n", str(int(t.get(b"n")) + 1))

        def worker():
            for _ in range(200):
                db.run_transaction(increment)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(db.get(b"n"), b"800")
        self.assertEqual(db.run_transaction(lambda t: t.get(b"n")), b"800")

    def test_run_transaction_reports_what_its_function_did(self):
        db = self.db

        def fails(t):
            t.put(b"never", b"x")
            raise ValueError("abort")

        with self.assertRaises(ValueError):
            db.run_transaction(fails)

        def commits_itself(t):
            t.put(b"never", b"x")
            t.commit()

        with self.assertRaises(kvdb.InvalidArgumentError):
            db.run_transaction(commits_itself)

        def rolls_back_itself(t):
            t.put(b"never", b"x")
            t.rollback()

        with self.assertRaises(kvdb.InvalidArgumentError):
            db.run_transaction(rolls_back_itself)
        self.assertIsNone(db.get(b"never"))

        kept = []
        db.run_transaction(kept.append)
        with self.assertRaises(kvdb.ClosedError):
            kept[0].get(b"n")

        # Writing through the database behind the transaction's back makes
        # every optimistic attempt conflict; in the last, which holds the
        # write lock, that write raises instead of waiting for ever.
        db.put(b"busy", b"0")
        calls = []

        def writes_through_db(t):
            calls.append(1)
            t.get(b"busy")
            db.put(b"busy", str(len(calls)))
            t.put(b"never", b"x")

        with self.assertRaises(kvdb.InvalidArgumentError):
            db.run_transaction(writes_through_db)
        self.assertGreater(len(calls), 1)
        self.assertIsNone(db.get(b"never"))
        db.put(b"busy", b"free")


class Indexes(unittest.TestCase):
    def test_every_kind_of_index_and_query(self):
        with tempfile.TemporaryDirectory() as d:
            by_tag = kvdb.callback(
                "by_tag",
                lambda k, v: v[5:].split(b",") if v.startswith(b"tags=") else [],
            )
            opts = dict(sync=kvdb.SYNC_ALWAYS, indexes=[by_tag, kvdb.key_field("by_city", ":", 1)])
            with kvdb.open(d, **opts) as db:
                db.create_index(kvdb.json_field("by_age", "age"))
                self.assertEqual(db.indexes(), ["by_tag", "by_city", "by_age"])
                db.put(b"user:paris:1", json.dumps({"age": 30}))
                db.put(b"user:paris:2", json.dumps({"age": 41}))
                db.put(b"user:rome:3", json.dumps({"age": 30}))
                db.put(b"post:1", b"tags=py,c")
                db.put(b"post:2", b"tags=c")
                keys = [k for _, k, _ in db.index_equal("by_city", b"paris")]
                self.assertEqual(keys, [b"user:paris:1", b"user:paris:2"])
                self.assertEqual(len(list(db.index_equal("by_age", b"30"))), 2)
                self.assertEqual([k for _, k, _ in db.index_equal("by_tag", b"c")], [b"post:1", b"post:2"])
                it = db.index_range("by_city", b"paris", b"rome", upper_inclusive=True)
                self.assertEqual(next(it)[1], b"user:paris:1")
                self.assertEqual(it.next_back()[1], b"user:rome:3")
                it.close()
                self.assertEqual(len(list(db.index_prefix("by_city", b"r"))), 1)
                self.assertEqual(db.index_get("by_city", b"rome")[0], b"user:rome:3")
                self.assertIsNone(db.index_get("by_city", b"oslo"))
                with db.snapshot() as snap:
                    db.put(b"post:3", b"tags=c")
                    self.assertEqual(len(list(snap.index_equal("by_tag", b"c"))), 2)
                    self.assertEqual(len(list(db.index_equal("by_tag", b"c"))), 3)
                with db.transaction() as t:
                    t.put(b"user:oslo:9", b"{}")
                    self.assertEqual([k for _, k, _ in t.index_equal("by_city", b"oslo")], [b"user:oslo:9"])
                    self.assertEqual(len(list(t.index_prefix("by_city", b"o"))), 1)
                    self.assertGreater(len(list(t.index_range("by_city"))), 4)
                db.drop_index("by_age")
                with self.assertRaises(kvdb.InvalidArgumentError):
                    db.index_equal("by_age", b"30")
            with kvdb.open(d, **opts) as db:  # rebuilt from the data on disk
                self.assertEqual(len(list(db.index_equal("by_tag", b"py"))), 1)
                self.assertGreater(db.recovery_info()["wal_records_applied"], 0)
                with self.assertRaises(kvdb.LockedError):
                    kvdb.open(d)

    def test_unique_numeric_index_refuses_duplicates(self):
        with kvdb.open(indexes=[kvdb.value_bytes("badge", 0, 4, kvdb.U32_LE, unique=True)]) as db:
            db.put(b"a", struct.pack("<I", 7))
            db.put(b"b", struct.pack("<I", 300))
            with self.assertRaises(kvdb.ConstraintError):
                db.put(b"c", struct.pack("<I", 7))
            self.assertIsNone(db.get(b"c"))
            self.assertEqual([k for _, k, _ in db.index_range("badge")], [b"a", b"b"])

    def test_a_raising_index_function_gives_the_record_no_key(self):
        def fn(key, value):
            raise RuntimeError("a bug in an index function")

        seen = []
        import sys

        old, sys.excepthook = sys.excepthook, lambda *exc: seen.append(exc[0])
        try:
            with kvdb.open(indexes=[kvdb.callback("bad", fn)]) as db:
                db.put(b"k", b"v")
                self.assertEqual(list(db.index_range("bad")), [])
                self.assertEqual(db.get(b"k"), b"v")
        finally:
            sys.excepthook = old
        self.assertEqual(seen, [RuntimeError])


class Durability(unittest.TestCase):
    def test_reopen_keeps_acknowledged_writes(self):
        with tempfile.TemporaryDirectory() as d:
            with kvdb.open(d, sync=kvdb.SYNC_ALWAYS, snapshots_to_keep=2) as db:
                db.put(b"k", b"v", ttl=3600)
                db.checkpoint()
                db.put(b"k2", b"v2")
            with kvdb.open(d) as db:
                self.assertEqual(db.get(b"k"), b"v")
                self.assertEqual(db.get(b"k2"), b"v2")
                self.assertIsNotNone(db.ttl(b"k"))
                info = db.recovery_info()
                self.assertTrue(info["snapshot_loaded"])
            with self.assertRaises(kvdb.InvalidArgumentError):
                kvdb.open(d, sync=kvdb.SYNC_INTERVAL)

    def test_backup_opens_durable_and_loads_into_memory(self):
        with tempfile.TemporaryDirectory() as d:
            target = f"{d}/backup"
            with kvdb.open() as db:
                db.put(b"k", b"v")
                db.put(b"lease", b"x", ttl=3600)
                db.backup(target)
                db.put(b"after", b"not copied")
                with self.assertRaises(kvdb.InvalidArgumentError):
                    db.backup(target)
            with kvdb.open_in_memory_from(target) as mem:
                self.assertEqual(mem.get(b"k"), b"v")
                self.assertIsNone(mem.get(b"after"))
                self.assertIsNotNone(mem.ttl(b"lease"))
            with kvdb.open(target) as db:
                self.assertEqual(db.get(b"k"), b"v")
                with self.assertRaises(kvdb.LockedError):
                    kvdb.open_in_memory_from(target)
            with self.assertRaises(kvdb.InvalidArgumentError):
                kvdb.open_in_memory_from(f"{d}/missing")


if __name__ == "__main__":
    unittest.main()
