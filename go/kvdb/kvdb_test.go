package kvdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustOpen(t *testing.T, path string, opts *Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, db *DB, key string) string {
	t.Helper()
	v, err := db.Get([]byte(key))
	if errors.Is(err, ErrNotFound) {
		return "<absent>"
	}
	must(t, err)
	return string(v)
}

func TestPutGetDeleteFromManyGoroutines(t *testing.T) {
	db := mustOpen(t, "", nil)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				k := []byte(fmt.Sprintf("g%d:%d", g, i))
				if err := db.Put(k, k); err != nil {
					t.Errorf("put: %v", err)
					return
				}
				if v, err := db.Get(k); err != nil || !bytes.Equal(v, k) {
					t.Errorf("get %s: %q %v", k, v, err)
					return
				}
				if _, err := db.Increment([]byte("hits"), 1); err != nil {
					t.Errorf("increment: %v", err)
					return
				}
			}
			if err := db.Delete([]byte(fmt.Sprintf("g%d:0", g))); err != nil {
				t.Errorf("delete: %v", err)
			}
		}(g)
	}
	wg.Wait()
	if got := get(t, db, "hits"); got != "4800" {
		t.Fatalf("hits = %s, want 4800", got)
	}
	if got := get(t, db, "g3:0"); got != "<absent>" {
		t.Fatalf("deleted key reads %q", got)
	}
	if err := db.Delete([]byte("g3:0")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}

func TestSentinelErrorsMatchWithErrorsIs(t *testing.T) {
	db := mustOpen(t, "", nil)
	_, err := db.Get([]byte("missing"))
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		t.Fatalf("get missing: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusNotFound {
		t.Fatalf("errors.As: %v", err)
	}
	must(t, db.PutIfAbsent([]byte("k"), []byte("1")))
	if err := db.PutIfAbsent([]byte("k"), []byte("2")); !errors.Is(err, ErrExists) {
		t.Fatalf("put_if_absent on a present key: %v", err)
	}
	if err := db.CompareAndSwap([]byte("k"), []byte("9"), []byte("3")); !errors.Is(err, ErrConflict) {
		t.Fatalf("cas mismatch: %v", err)
	}
	if err := db.CompareAndSwap([]byte("nope"), []byte("9"), []byte("3")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cas on absent key: %v", err)
	}
	must(t, db.CompareAndSwap([]byte("k"), []byte("1"), []byte("3")))
	if got := get(t, db, "k"); got != "3" {
		t.Fatalf("after cas: %s", got)
	}
	if err := db.Put(bytes.Repeat([]byte("k"), 70000), nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized key: %v", err)
	}
	if _, err := db.Increment([]byte("k"), 1<<62); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Increment([]byte("k"), 1<<62); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("overflow: %v", err)
	}
	if !strings.Contains(err.Error(), "not found") {
		t.Fatalf("message %q does not describe the status", err.Error())
	}
}

func TestEveryMethodAfterCloseReturnsErrClosed(t *testing.T) {
	db, err := Open("", nil)
	must(t, err)
	must(t, db.Put([]byte("k"), []byte("v")))
	snap, err := db.NewSnapshot()
	must(t, err)
	it, err := db.NewIterator(nil)
	must(t, err)
	txn, err := db.Begin()
	must(t, err)
	b := NewBatch()

	must(t, db.Close())
	must(t, db.Close()) // idempotent
	calls := map[string]error{
		"Put":         db.Put([]byte("k"), nil),
		"PutTTL":      db.PutTTL([]byte("k"), nil, time.Second),
		"Delete":      db.Delete([]byte("k")),
		"Expire":      db.Expire([]byte("k"), time.Second),
		"Persist":     db.Persist([]byte("k")),
		"PutIfAbsent": db.PutIfAbsent([]byte("k"), nil),
		"CAS":         db.CompareAndSwap([]byte("k"), nil, nil),
		"Write":       db.Write(b),
		"Sync":        db.Sync(),
		"Checkpoint":  db.Checkpoint(),
		"GC":          db.CollectGarbage(),
		"Reorder":     db.Reorder(),
		"Backup":      db.Backup(t.TempDir()),
		"DropIndex":   db.DropIndex("x"),
		"CreateIndex": db.CreateIndex(IndexKeyField("x", ':', 0)),
	}
	_, calls["Watch"] = db.Watch(nil, WatchFromNow)
	_, calls["WatchRange"] = db.WatchRange(nil, nil, WatchFromNow)
	_, calls["Get"] = db.Get([]byte("k"))
	_, calls["GetMany"] = db.GetMany([][]byte{[]byte("k")})
	_, calls["GetInto"] = db.GetInto([]byte("k"), make([]byte, 8))
	_, calls["Exists"] = db.Exists([]byte("k"))
	_, _, calls["TTL"] = db.TTL([]byte("k"))
	_, calls["Increment"] = db.Increment([]byte("n"), 1)
	_, calls["Stats"] = db.Stats()
	_, calls["RecoveryInfo"] = db.RecoveryInfo()
	_, calls["RecoveryMessage"] = db.RecoveryMessage()
	_, calls["NewSnapshot"] = db.NewSnapshot()
	_, calls["NewIterator"] = db.NewIterator(nil)
	_, calls["Begin"] = db.Begin()
	_, calls["Indexes"] = db.Indexes()
	_, _, calls["IndexGet"] = db.IndexGet("x", nil)
	_, calls["IndexEqual"] = db.IndexEqual("x", nil)
	_, calls["Snapshot.NewIterator"] = snap.NewIterator(nil)
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}

	// Handles made before Close keep reading what they saw.
	if v, err := snap.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("snapshot after db close: %q %v", v, err)
	}
	it.SeekToFirst()
	if !it.Valid() || string(it.Key()) != "k" {
		t.Fatal("iterator after db close")
	}
	// A transaction cannot commit into a closed database: it says so.
	if _, err := txn.Get([]byte("k")); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("txn after db close: %v", err)
	}

	// And each of them is closed idempotently, then answers ErrClosed.
	must(t, snap.Close())
	must(t, snap.Close())
	if _, err := snap.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed snapshot: %v", err)
	}
	must(t, it.Close())
	must(t, it.Close())
	it.SeekToFirst()
	if it.Valid() || it.Key() != nil {
		t.Fatal("closed iterator is valid")
	}
	if _, err := it.NextBatch(make([]byte, 64), 4); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed iterator batch: %v", err)
	}
	if _, err := it.NextBatchFunc(4, func(_, _ []byte) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed iterator borrowed batch: %v", err)
	}
	must(t, txn.Rollback())
	must(t, txn.Rollback())
	if err := txn.Put([]byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("ended txn: %v", err)
	}
	if err := txn.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("commit of an ended txn: %v", err)
	}
	must(t, b.Close())
	must(t, b.Close())
	if err := b.Put([]byte("k"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed batch: %v", err)
	}
}

func TestCloseWaitsForCallsInFlight(t *testing.T) {
	db, err := Open("", nil)
	must(t, err)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				err := db.Put([]byte(fmt.Sprintf("%d:%d", g, i)), []byte("v"))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("put: %v", err)
					return
				}
			}
		}(g)
	}
	time.Sleep(50 * time.Millisecond)
	must(t, db.Close())
	wg.Wait()
}

func TestTTLsRoundUpToWholeMilliseconds(t *testing.T) {
	db := mustOpen(t, "", nil)
	// 300 µs is 1 ms, not 0 (which the library would reject).
	must(t, db.PutTTL([]byte("blink"), []byte("v"), 300*time.Microsecond))
	time.Sleep(20 * time.Millisecond)
	if got := get(t, db, "blink"); got != "<absent>" {
		t.Fatalf("a 300µs TTL still reads %q after 20ms", got)
	}
	must(t, db.PutTTL([]byte("s"), []byte("v"), time.Hour))
	left, has, err := db.TTL([]byte("s"))
	if err != nil || !has || left <= 59*time.Minute || left > time.Hour {
		t.Fatalf("ttl: %v %v %v", left, has, err)
	}
	must(t, db.Persist([]byte("s")))
	if _, has, _ := db.TTL([]byte("s")); has {
		t.Fatal("persist left a TTL")
	}
	must(t, db.Expire([]byte("s"), 1500*time.Microsecond))
	left, has, _ = db.TTL([]byte("s"))
	if !has || left > 2*time.Millisecond {
		t.Fatalf("expire 1.5ms gave %v", left)
	}
	if _, _, err := db.TTL([]byte("missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ttl of a missing key: %v", err)
	}
	if err := db.PutTTL([]byte("s"), []byte("v"), 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ttl 0: %v", err)
	}
	if err := db.PutTTL([]byte("s"), []byte("v"), -time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative ttl: %v", err)
	}
	must(t, db.PutIfAbsentTTL([]byte("lease"), []byte("me"), time.Minute))
	if _, has, _ := db.TTL([]byte("lease")); !has {
		t.Fatal("lease without TTL")
	}
}

// Each goroutine fails with its own oversized key length; the detail it
// gets back must name its own length, never another goroutine's, though
// goroutines move between OS threads.
func TestErrorDetailBelongsToTheFailingCall(t *testing.T) {
	db := mustOpen(t, "", nil)
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			size := 65537 + g
			key := bytes.Repeat([]byte("k"), size)
			for i := 0; i < 50; i++ {
				err := db.Put(key, nil)
				var e *Error
				if !errors.As(err, &e) || e.Status != StatusTooLarge {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				if !strings.Contains(e.Message, fmt.Sprint(size)) {
					t.Errorf("goroutine %d got another call's detail: %q", g, e.Message)
					return
				}
				runtime.Gosched()
			}
		}(g)
	}
	wg.Wait()
}

func TestBatchIsAtomicAndIteratorsSeeIt(t *testing.T) {
	db := mustOpen(t, "", nil)
	b := NewBatch()
	defer b.Close()
	for i := 0; i < 50; i++ {
		must(t, b.Put([]byte(fmt.Sprintf("user:%02d", i)), []byte("x")))
	}
	must(t, b.PutTTL([]byte("user:temp"), []byte("t"), time.Hour))
	must(t, b.Delete([]byte("user:00")))
	if b.Len() != 52 {
		t.Fatalf("batch len %d", b.Len())
	}
	must(t, db.Put([]byte("other"), []byte("y")))
	must(t, db.Write(b))
	must(t, b.Clear())
	if b.Len() != 0 {
		t.Fatal("clear left operations")
	}

	it, err := db.NewIterator([]byte("user:"))
	must(t, err)
	defer it.Close()
	var keys []string
	for it.SeekToFirst(); it.Valid(); it.Next() {
		keys = append(keys, string(it.Key()))
	}
	if len(keys) != 50 || keys[0] != "user:01" || keys[49] != "user:temp" {
		t.Fatalf("scan: %d keys, %v", len(keys), keys)
	}
	var back []string
	for it.SeekToLast(); it.Valid(); it.Prev() {
		back = append(back, string(it.Key()))
	}
	if len(back) != 50 || back[0] != "user:temp" {
		t.Fatalf("reverse scan: %v", back)
	}
	it.Seek([]byte("user:10"))
	if string(it.Key()) != "user:10" || string(it.Value()) != "x" {
		t.Fatalf("seek: %s", it.Key())
	}
	it.SeekForPrev([]byte("user:105"))
	if string(it.Key()) != "user:10" {
		t.Fatalf("seek for prev: %s", it.Key())
	}

	// NextBatch reads many pairs per call into the caller's buffer.
	it.SeekToFirst()
	buf := make([]byte, 256)
	total := 0
	for {
		kvs, err := it.NextBatch(buf, 16)
		must(t, err)
		if len(kvs) == 0 {
			break
		}
		for _, kv := range kvs {
			if !bytes.HasPrefix(kv.Key, []byte("user:")) {
				t.Fatalf("batch key %q", kv.Key)
			}
		}
		total += len(kvs)
	}
	if total != 50 {
		t.Fatalf("batches read %d pairs", total)
	}

	// NextBatchFunc hands over the same pairs in place, batch by batch,
	// while the keys already read are deleted.
	it.SeekToFirst()
	var borrowed []string
	for {
		n, err := it.NextBatchFunc(7, func(key, value []byte) {
			if !bytes.HasPrefix(key, []byte("user:")) || len(value) == 0 {
				t.Fatalf("borrowed pair %q = %q", key, value)
			}
			borrowed = append(borrowed, string(key))
		})
		must(t, err)
		if n == 0 {
			break
		}
		if n > 7 {
			t.Fatalf("a batch of %d pairs", n)
		}
		for _, k := range borrowed[len(borrowed)-n:] {
			must(t, db.Delete([]byte(k)))
		}
	}
	if len(borrowed) != 50 || borrowed[0] != back[49] || borrowed[49] != back[0] {
		t.Fatalf("borrowed batches read %d keys: %v", len(borrowed), borrowed)
	}
	if _, err := it.NextBatchFunc(0, func(_, _ []byte) {}); err == nil {
		t.Fatal("a max of 0 is refused")
	}
	must(t, db.Put([]byte("user:zz"), bytes.Repeat([]byte("v"), 1000)))
	it2, _ := db.NewIterator([]byte("user:zz"))
	defer it2.Close()
	it2.SeekToFirst()
	if _, err := it2.NextBatch(buf, 16); !errors.Is(err, ErrBufferTooSmall) {
		t.Fatalf("a pair larger than the buffer: %v", err)
	}
}

func TestReorderKeepsEveryKeyInScanOrder(t *testing.T) {
	db := mustOpen(t, "", nil)
	for i := 0; i < 3000; i++ {
		must(t, db.Put([]byte(fmt.Sprintf("r:%05d", (i*7919)%3000)), []byte("v")))
	}
	must(t, db.Reorder())
	it, err := db.NewIterator([]byte("r:"))
	must(t, err)
	defer it.Close()
	n := 0
	for it.SeekToFirst(); it.Valid(); it.Next() {
		if want := fmt.Sprintf("r:%05d", n); string(it.Key()) != want {
			t.Fatalf("key %d is %q, want %q", n, it.Key(), want)
		}
		n++
	}
	if n != 3000 {
		t.Fatalf("scanned %d keys, want 3000", n)
	}
}

func TestSnapshotsKeepTheirView(t *testing.T) {
	db := mustOpen(t, "", nil)
	must(t, db.Put([]byte("a"), []byte("1")))
	snap, err := db.NewSnapshot()
	must(t, err)
	defer snap.Close()
	must(t, db.Put([]byte("a"), []byte("2")))
	must(t, db.Put([]byte("b"), []byte("new")))
	if v, _ := snap.Get([]byte("a")); string(v) != "1" {
		t.Fatalf("snapshot a = %s", v)
	}
	seq, err := snap.Seq()
	must(t, err)
	newer, _ := db.NewSnapshot()
	defer newer.Close()
	if later, _ := newer.Seq(); later != seq+2 {
		t.Fatalf("snapshot sequence numbers %d then %d, want two writes apart", seq, later)
	}
	if _, err := snap.Get([]byte("b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("snapshot sees a later key: %v", err)
	}
	it, err := snap.NewIterator(nil)
	must(t, err)
	defer it.Close()
	n := 0
	for it.SeekToFirst(); it.Valid(); it.Next() {
		n++
	}
	if n != 1 {
		t.Fatalf("snapshot iterator saw %d keys", n)
	}
	st, err := db.Stats()
	must(t, err)
	if st.LiveKeys != 2 || st.OpenViews < 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestGetManyReadsEveryKeyAtOneMoment(t *testing.T) {
	db := mustOpen(t, "", nil)
	must(t, db.Put([]byte("a"), []byte("1")))
	must(t, db.Put([]byte("empty"), nil))
	big := bytes.Repeat([]byte("B"), 100000) // larger than the first buffer
	must(t, db.Put([]byte("big"), big))
	got, err := db.GetMany([][]byte{[]byte("a"), []byte("missing"), []byte("empty"), []byte("big")})
	must(t, err)
	if len(got) != 4 || string(got[0]) != "1" || got[1] != nil || got[2] == nil || len(got[2]) != 0 || !bytes.Equal(got[3], big) {
		t.Fatalf("GetMany = %q", got)
	}
	if none, err := db.GetMany(nil); err != nil || len(none) != 0 {
		t.Fatalf("GetMany(nil) = %q, %v", none, err)
	}
	snap, err := db.NewSnapshot()
	must(t, err)
	defer snap.Close()
	must(t, db.Put([]byte("a"), []byte("2")))
	must(t, db.Delete([]byte("big")))
	then, err := snap.GetMany([][]byte{[]byte("a"), []byte("big")})
	must(t, err)
	now, err := db.GetMany([][]byte{[]byte("a"), []byte("big")})
	must(t, err)
	if string(then[0]) != "1" || !bytes.Equal(then[1], big) || string(now[0]) != "2" || now[1] != nil {
		t.Fatalf("snapshot %q, now %q", then, now)
	}
	keys := make([][]byte, 100)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("m:%03d", i))
		if i%2 == 0 {
			must(t, db.Put(keys[i], keys[i]))
		}
	}
	many, err := db.GetMany(keys)
	must(t, err)
	for i, v := range many {
		if (i%2 == 0) != bytes.Equal(v, keys[i]) || (i%2 == 1 && v != nil) {
			t.Fatalf("key %s: %q", keys[i], v)
		}
	}
	_, err = db.GetMany([][]byte{[]byte("a"), make([]byte, 70000)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a key too large: %v", err)
	}
}

func TestPersistentDirectoryReopensAndLocks(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{Sync: SyncAlways, SnapshotsToKeep: 3}
	db, err := Open(dir, opts)
	must(t, err)
	must(t, db.Put([]byte("k"), []byte("v")))
	must(t, db.Sync())
	if _, err := Open(dir, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	must(t, db.Checkpoint())
	must(t, db.Put([]byte("k2"), []byte("v2")))
	must(t, db.Close())
	db = mustOpen(t, dir, opts)
	if got := get(t, db, "k"); got != "v" {
		t.Fatalf("after reopen: %q", got)
	}
	info, err := db.RecoveryInfo()
	must(t, err)
	if !info.SnapshotLoaded || info.WALRecordsApplied == 0 || info.LastSeq < 2 {
		t.Fatalf("recovery info: %+v", info)
	}
	if _, err := db.RecoveryMessage(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir+"/x", &Options{Sync: SyncInterval}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("interval sync without an interval: %v", err)
	}
}

func balance(t *testing.T, txn *Txn, key []byte) int {
	v, err := txn.Get(key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	var n int
	fmt.Sscan(string(v), &n)
	return n
}

func TestTransactionsKeepTheBankTotalAcrossGoroutines(t *testing.T) {
	db := mustOpen(t, "", nil)
	const accounts = 20
	for i := 0; i < accounts; i++ {
		must(t, db.Put([]byte(fmt.Sprintf("acct/%02d", i)), []byte("100")))
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for made := 0; made < 100; made++ {
				from := []byte(fmt.Sprintf("acct/%02d", (g*7+made)%accounts))
				to := []byte(fmt.Sprintf("acct/%02d", (g*3+made*5+1)%accounts))
				if bytes.Equal(from, to) {
					continue
				}
				err := db.Update(1000, func(txn *Txn) error {
					a, b := balance(t, txn, from), balance(t, txn, to)
					if err := txn.Put(from, []byte(fmt.Sprint(a-1))); err != nil {
						return err
					}
					return txn.Put(to, []byte(fmt.Sprint(b+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	txn, err := db.Begin()
	must(t, err)
	defer txn.Rollback()
	it, err := txn.NewIterator([]byte("acct/"))
	must(t, err)
	defer it.Close()
	total, n := 0, 0
	for it.SeekToFirst(); it.Valid(); it.Next() {
		var b int
		fmt.Sscan(string(it.Value()), &b)
		total += b
		n++
	}
	if total != accounts*100 || n != accounts {
		t.Fatalf("total %d over %d accounts, want %d over %d", total, n, accounts*100, accounts)
	}
}

func TestTransactionConflictsAndSavepoints(t *testing.T) {
	db := mustOpen(t, "", nil)
	a, _ := db.Begin()
	if _, err := a.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatal("k should be absent")
	}
	must(t, a.Put([]byte("other"), []byte("1")))
	must(t, db.Put([]byte("k"), []byte("now present")))
	if err := a.Commit(); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit after a read key changed: %v, want ErrConflict", err)
	}
	m, _ := db.Begin()
	must(t, m.Put([]byte("mine"), []byte("m")))
	got, err := m.GetMany([][]byte{[]byte("k"), []byte("mine"), []byte("none")})
	if err != nil || string(got[0]) != "now present" || string(got[1]) != "m" || got[2] != nil {
		t.Fatalf("txn GetMany = %q, %v", got, err)
	}
	must(t, db.Put([]byte("none"), []byte("inserted"))) // read as absent
	if err := m.Commit(); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit after a key GetMany read changed: %v, want ErrConflict", err)
	}
	b, _ := db.Begin()
	must(t, b.Put([]byte("x"), []byte("1")))
	must(t, b.Savepoint())
	must(t, b.PutTTL([]byte("x"), []byte("2"), time.Hour))
	must(t, b.RollbackToSavepoint())
	if err := b.RollbackToSavepoint(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second rollback to savepoint: %v", err)
	}
	buf := make([]byte, 4)
	if n, err := b.GetInto([]byte("x"), buf); err != nil || string(buf[:n]) != "1" {
		t.Fatalf("txn get into: %d %v", n, err)
	}
	if err := b.Delete([]byte("nothing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("txn delete of an absent key: %v", err)
	}
	must(t, b.Commit())
	if got := get(t, db, "x"); got != "1" {
		t.Fatalf("x = %q, want 1", got)
	}
	c, _ := db.Begin()
	must(t, c.Put([]byte("never"), []byte("")))
	must(t, c.Rollback())
	if got := get(t, db, "never"); got != "<absent>" {
		t.Fatal("a rolled back write is visible")
	}
	sentinel := errors.New("stop")
	if err := db.Update(3, func(*Txn) error { return sentinel }); err != sentinel {
		t.Fatalf("Update returned %v, want the function's error", err)
	}
}

// increment adds one to the decimal counter under key in txn.
func increment(txn *Txn, key []byte) error {
	v, err := txn.Get(key)
	if err != nil {
		return err
	}
	var n int
	fmt.Sscan(string(v), &n)
	return txn.Put(key, []byte(fmt.Sprint(n+1)))
}

func TestTransactionCommitsEveryIncrementOfOneHotKey(t *testing.T) {
	db := mustOpen(t, "", nil)
	must(t, db.Put([]byte("n"), []byte("0")))
	const goroutines, each = 4, 300
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := db.Transaction(func(txn *Txn) error { return increment(txn, []byte("n")) }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := get(t, db, "n"); got != fmt.Sprint(goroutines*each) {
		t.Fatalf("n = %s after %d increments", got, goroutines*each)
	}
}

func TestTransactionReportsWhatItsFunctionDid(t *testing.T) {
	db := mustOpen(t, "", nil)
	sentinel := errors.New("stop")
	if err := db.Transaction(func(txn *Txn) error {
		if err := txn.Put([]byte("never"), []byte("x")); err != nil {
			t.Error(err)
		}
		return sentinel
	}); err != sentinel {
		t.Fatalf("Transaction returned %v, want the function's error", err)
	}
	var commitErr error
	if err := db.Transaction(func(txn *Txn) error {
		if err := txn.Put([]byte("never"), []byte("x")); err != nil {
			t.Error(err)
		}
		commitErr = txn.Commit()
		return nil
	}); !errors.Is(err, ErrInvalidArgument) || !errors.Is(commitErr, ErrInvalidArgument) {
		t.Fatalf("a function that commits itself: run %v, commit %v", err, commitErr)
	}
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the function's panic", p)
			}
		}()
		_ = db.Transaction(func(txn *Txn) error {
			if err := txn.Put([]byte("never"), []byte("x")); err != nil {
				t.Error(err)
			}
			panic("boom")
		})
	}()
	if got := get(t, db, "never"); got != "<absent>" {
		t.Fatal("a transaction that did not commit wrote")
	}
	// Writing through the DB behind the transaction's back makes every
	// optimistic attempt conflict; in the last, which holds the write
	// lock, that write fails instead of waiting for ever.
	must(t, db.Put([]byte("busy"), []byte("0")))
	calls := 0
	err := db.Transaction(func(txn *Txn) error {
		calls++
		if _, err := txn.Get([]byte("busy")); err != nil {
			return err
		}
		if err := db.Put([]byte("busy"), []byte(fmt.Sprint(calls))); err != nil {
			return err
		}
		return txn.Put([]byte("never"), []byte("x"))
	})
	if !errors.Is(err, ErrInvalidArgument) || calls < 2 {
		t.Fatalf("writing through the DB inside: %v after %d calls", err, calls)
	}
	must(t, db.Put([]byte("busy"), []byte("free")))
}

func TestGetIntoReportsTheSizeNeeded(t *testing.T) {
	db := mustOpen(t, "", nil)
	must(t, db.Put([]byte("k"), []byte("0123456789")))
	buf := make([]byte, 4)
	n, err := db.GetInto([]byte("k"), buf)
	if !errors.Is(err, ErrBufferTooSmall) || n != 10 {
		t.Fatalf("small buffer: %d %v", n, err)
	}
	buf = make([]byte, n)
	if n, err = db.GetInto([]byte("k"), buf); err != nil || string(buf[:n]) != "0123456789" {
		t.Fatalf("get into: %q %v", buf[:n], err)
	}
	if ok, _ := db.Exists([]byte("k")); !ok {
		t.Fatal("exists")
	}
	if ok, err := db.Exists([]byte("nope")); ok || err != nil {
		t.Fatalf("exists of a missing key: %v %v", ok, err)
	}
}

func collect(t *testing.T, it *IndexIterator, err error) []string {
	t.Helper()
	must(t, err)
	defer it.Close()
	var out []string
	for it.Next() {
		out = append(out, string(it.Key()))
	}
	must(t, it.Err())
	return out
}

func TestIndexesFromGo(t *testing.T) {
	db := mustOpen(t, "", nil)
	must(t, db.CreateIndex(IndexJSONField("by_email", "email").Unique()))
	must(t, db.CreateIndex(IndexKeyField("by_region", '/', 1)))
	must(t, db.Put([]byte("user/eu/1"), []byte(`{"email": "a@x"}`)))
	must(t, db.Put([]byte("user/us/2"), []byte(`{"email": "b@x"}`)))
	must(t, db.Put([]byte("user/eu/3"), []byte(`{"email": "c@x"}`)))

	it, err := db.IndexEqual("by_email", []byte(`"b@x"`))
	if got := strings.Join(collect(t, it, err), ","); got != "user/us/2" {
		t.Fatalf("by_email b@x = %v", got)
	}
	it, err = db.IndexRange("by_region", nil, nil, 0)
	must(t, err)
	var found []string
	for it.NextBack() {
		found = append(found, string(it.IndexKey())+"="+string(it.Key()))
	}
	it.Close()
	if strings.Join(found, ",") != "us=user/us/2,eu=user/eu/3,eu=user/eu/1" {
		t.Fatalf("by_region descending = %v", found)
	}
	it, err = db.IndexRange("by_region", []byte("eu"), []byte("us"), LowerExclusive|UpperInclusive)
	if got := strings.Join(collect(t, it, err), ","); got != "user/us/2" {
		t.Fatalf("range (eu, us] = %v", got)
	}
	it, err = db.IndexPrefix("by_region", []byte("e"))
	if got := collect(t, it, err); len(got) != 2 {
		t.Fatalf("prefix e = %v", got)
	}
	k, v, err := db.IndexGet("by_email", []byte(`"c@x"`))
	if err != nil || string(k) != "user/eu/3" || !bytes.Contains(v, []byte("c@x")) {
		t.Fatalf("index get: %s %s %v", k, v, err)
	}
	if _, _, err := db.IndexGet("by_email", []byte(`"zz"`)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("index get of nothing: %v", err)
	}
	names, err := db.Indexes()
	if err != nil || strings.Join(names, ",") != "by_email,by_region" {
		t.Fatalf("indexes: %v %v", names, err)
	}

	// A duplicate email is refused whole, in a put and in a batch.
	if err := db.Put([]byte("user/us/4"), []byte(`{"email": "a@x"}`)); !errors.Is(err, ErrConstraint) {
		t.Fatalf("duplicate put: %v", err)
	}
	b := NewBatch()
	defer b.Close()
	b.Put([]byte("user/us/5"), []byte(`{"email": "e@x"}`))
	b.Put([]byte("user/us/6"), []byte(`{"email": "c@x"}`))
	if err := db.Write(b); !errors.Is(err, ErrConstraint) {
		t.Fatalf("duplicate batch: %v", err)
	}
	if got := get(t, db, "user/us/5"); got != "<absent>" {
		t.Fatal("a refused batch applied")
	}

	// Snapshots query the index as it was.
	snap, err := db.NewSnapshot()
	must(t, err)
	defer snap.Close()
	must(t, db.Put([]byte("user/eu/8"), []byte(`{"email": "h@x"}`)))
	it, err = snap.IndexPrefix("by_region", []byte("eu"))
	if got := collect(t, it, err); len(got) != 2 {
		t.Fatalf("snapshot saw %v", got)
	}
	if _, _, err := snap.IndexGet("by_email", []byte(`"h@x"`)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("snapshot index get: %v", err)
	}
	it, err = snap.IndexEqual("by_email", []byte(`"a@x"`))
	if got := collect(t, it, err); len(got) != 1 {
		t.Fatalf("snapshot equal: %v", got)
	}
	it, err = snap.IndexRange("by_region", nil, nil, 0)
	if got := collect(t, it, err); len(got) != 3 {
		t.Fatalf("snapshot range: %v", got)
	}

	// A transaction sees its own writes through the index.
	txn, _ := db.Begin()
	must(t, txn.Put([]byte("user/us/7"), []byte(`{"email": "g@x"}`)))
	it, err = txn.IndexEqual("by_email", []byte(`"g@x"`))
	if got := collect(t, it, err); len(got) != 1 {
		t.Fatalf("the transaction found %v", got)
	}
	it, err = txn.IndexPrefix("by_region", []byte("us"))
	if got := collect(t, it, err); len(got) != 2 {
		t.Fatalf("txn prefix: %v", got)
	}
	it, err = txn.IndexRange("by_region", nil, nil, 0)
	if got := collect(t, it, err); len(got) != 5 {
		t.Fatalf("txn range: %v", got)
	}
	must(t, txn.Commit())
	must(t, db.DropIndex("by_region"))
	if _, err := db.IndexRange("by_region", nil, nil, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a dropped index answered: %v", err)
	}
}

func TestCallbackAndValueIndexesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	byTag := IndexCallback("by_tag", func(key, value []byte) [][]byte {
		if !bytes.HasPrefix(value, []byte("tags=")) {
			return nil
		}
		return bytes.Split(value[5:], []byte(","))
	})
	byScore := IndexValueBytes("by_score", 0, 8, U64BE)
	panics := IndexCallback("panics", func(key, value []byte) [][]byte {
		if bytes.Equal(key, []byte("boom")) {
			panic("a bug in an index function")
		}
		return [][]byte{key}
	})
	opts := &Options{Indexes: []IndexDef{byTag}}
	db, err := Open(dir, opts)
	must(t, err)
	must(t, db.Put([]byte("post:1"), []byte("tags=go,c")))
	must(t, db.Put([]byte("post:2"), []byte("tags=c")))
	it, err := db.IndexEqual("by_tag", []byte("c"))
	if got := collect(t, it, err); strings.Join(got, ",") != "post:1,post:2" {
		t.Fatalf("by_tag c = %v", got)
	}
	must(t, db.CreateIndex(panics))
	must(t, db.Put([]byte("boom"), []byte("x")))
	it, err = db.IndexEqual("panics", []byte("boom"))
	if got := collect(t, it, err); len(got) != 0 {
		t.Fatalf("a panicking index function indexed %v", got)
	}
	must(t, db.Close())

	db = mustOpen(t, dir, opts)
	it, err = db.IndexEqual("by_tag", []byte("go"))
	if got := collect(t, it, err); strings.Join(got, ",") != "post:1" {
		t.Fatalf("after reopen by_tag go = %v", got)
	}
	scores := mustOpen(t, "", &Options{Indexes: []IndexDef{byScore}})
	for i, s := range []uint64{300, 5, 70000} {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, s)
		must(t, scores.Put([]byte(fmt.Sprintf("p%d", i)), v))
	}
	it, err = scores.IndexRange("by_score", nil, nil, 0)
	if got := strings.Join(collect(t, it, err), ","); got != "p1,p0,p2" {
		t.Fatalf("numeric order = %v", got)
	}
	for i := 0; i < 3; i++ {
		runtime.GC() // finalizers of dropped definitions do not free live callbacks
	}
	must(t, db.Put([]byte("post:3"), []byte("tags=go")))
	it, err = db.IndexEqual("by_tag", []byte("go"))
	if got := collect(t, it, err); len(got) != 2 {
		t.Fatalf("after GC by_tag go = %v", got)
	}
}

// Goroutines move records between cities while others query the index:
// every record found has the city it was found under, and every record is
// found exactly once.
func TestIndexReadersSeeRecordsAndEntriesAgree(t *testing.T) {
	db := mustOpen(t, "", nil)
	must(t, db.CreateIndex(IndexJSONField("by_city", "city")))
	const records = 50
	cities := []string{"lima", "oslo", "rome"}
	for i := 0; i < records; i++ {
		must(t, db.Put([]byte(fmt.Sprintf("r%02d", i)), []byte(`{"city": "lima"}`)))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := []byte(fmt.Sprintf("r%02d", (i*7+w)%records))
				city := cities[(i+w)%len(cities)]
				if err := db.Put(key, []byte(`{"city": "`+city+`"}`)); err != nil {
					t.Errorf("put: %v", err)
					return
				}
			}
		}(w)
	}
	for round := 0; round < 300; round++ {
		it, err := db.IndexRange("by_city", nil, nil, 0)
		must(t, err)
		seen := map[string]int{}
		step := it.Next
		if round%2 == 1 {
			step = it.NextBack
		}
		for step() {
			seen[string(it.Key())]++
			// The index key is the JSON string tagged: 0x40 then the text.
			city := string(it.IndexKey()[1:])
			if !strings.Contains(string(it.Value()), `"`+city+`"`) {
				t.Errorf("record %s = %s found under %q", it.Key(), it.Value(), city)
			}
		}
		must(t, it.Err())
		it.Close()
		if len(seen) != records {
			t.Fatalf("round %d: %d records found, want %d", round, len(seen), records)
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("record %s found %d times", k, n)
			}
		}
	}
	close(stop)
	wg.Wait()
}

func TestVersion(t *testing.T) {
	if !strings.HasPrefix(Version(), "0.") {
		t.Fatalf("version %q", Version())
	}
}

func TestAllocatorIsMimallocUnlessTheEnvironmentSaysSystem(t *testing.T) {
	want := "mimalloc"
	if os.Getenv("KVDB_ALLOCATOR") == "system" {
		want = "system"
	}
	if got := Allocator(); got != want {
		t.Fatalf("allocator %q, want %q", got, want)
	}
}

func TestBackupOpensDurableAndLoadsIntoMemory(t *testing.T) {
	db := mustOpen(t, "", nil)
	must(t, db.Put([]byte("k"), []byte("v")))
	must(t, db.PutTTL([]byte("lease"), []byte("x"), time.Hour))
	dir := t.TempDir() + "/backup"
	must(t, db.Backup(dir))
	must(t, db.Put([]byte("after"), []byte("not copied")))
	if err := db.Backup(dir); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("backup into a non-empty directory: %v", err)
	}
	mem, err := OpenInMemoryFrom(dir, nil)
	must(t, err)
	if v, err := mem.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("loaded copy: %q %v", v, err)
	}
	if _, err := mem.Get([]byte("after")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a write after the backup is in it: %v", err)
	}
	if _, has, _ := mem.TTL([]byte("lease")); !has {
		t.Fatal("the TTL was lost")
	}
	must(t, mem.Close())
	durable := mustOpen(t, dir, nil)
	if v, _ := durable.Get([]byte("k")); string(v) != "v" {
		t.Fatalf("durable copy: %q", v)
	}
	if _, err := OpenInMemoryFrom(dir, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("loading an open directory: %v", err)
	}
	if _, err := OpenInMemoryFrom(t.TempDir()+"/missing", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("loading a missing directory: %v", err)
	}
}
