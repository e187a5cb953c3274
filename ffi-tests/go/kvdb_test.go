package kvdb

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustOpen(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func TestPutGetDeleteFromManyGoroutines(t *testing.T) {
	db := mustOpen(t, "")
	defer db.Close()
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
				v, ok, err := db.Get(k)
				if err != nil || !ok || !bytes.Equal(v, k) {
					t.Errorf("get %s: %q %v %v", k, v, ok, err)
					return
				}
				if _, err := db.Increment([]byte("hits"), 1); err != nil {
					t.Errorf("increment: %v", err)
					return
				}
			}
			removed, err := db.Delete([]byte(fmt.Sprintf("g%d:0", g)))
			if err != nil || !removed {
				t.Errorf("delete: %v %v", removed, err)
			}
		}(g)
	}
	wg.Wait()
	v, _, _ := db.Get([]byte("hits"))
	if string(v) != "4800" {
		t.Fatalf("hits = %s, want 4800", v)
	}
	if _, ok, _ := db.Get([]byte("g3:0")); ok {
		t.Fatal("deleted key still present")
	}
}

func TestBatchIsAtomicAndScanSeesIt(t *testing.T) {
	db := mustOpen(t, "")
	defer db.Close()
	b := NewBatch()
	defer b.Free()
	for i := 0; i < 50; i++ {
		if err := b.Put([]byte(fmt.Sprintf("user:%02d", i)), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete([]byte("user:00")); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 51 {
		t.Fatalf("batch len %d", b.Len())
	}
	if err := db.Put([]byte("other"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(b); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := db.Scan([]byte("user:"), func(k, v []byte) bool {
		keys = append(keys, string(k))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 49 || keys[0] != "user:01" || keys[48] != "user:49" {
		t.Fatalf("scan: %d keys, %v", len(keys), keys)
	}
}

func TestTTLExpires(t *testing.T) {
	db := mustOpen(t, "")
	defer db.Close()
	if err := db.PutTTL([]byte("s"), []byte("v"), 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Get([]byte("s")); !ok {
		t.Fatal("missing before expiry")
	}
	time.Sleep(80 * time.Millisecond)
	if _, ok, _ := db.Get([]byte("s")); ok {
		t.Fatal("present after expiry")
	}
	err := db.PutTTL([]byte("s"), []byte("v"), 0)
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusInvalid {
		t.Fatalf("ttl 0: %v", err)
	}
}

// Each goroutine fails with its own oversized key length; the detail it
// gets back must name its own length, never another goroutine's, though
// goroutines move between OS threads.
func TestErrorDetailBelongsToTheFailingCall(t *testing.T) {
	db := mustOpen(t, "")
	defer db.Close()
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
			}
		}(g)
	}
	wg.Wait()
}

func TestPersistentDirectoryReopensAndLocks(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir)
	if err := db.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusLocked {
		t.Fatalf("second open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir)
	defer db.Close()
	if v, ok, _ := db.Get([]byte("k")); !ok || string(v) != "v" {
		t.Fatalf("after reopen: %q %v", v, ok)
	}
}

func balance(t *testing.T, txn *Txn, key []byte) int {
	v, ok, err := txn.Get(key)
	if err != nil || !ok {
		t.Fatalf("get %s: %v %v", key, ok, err)
	}
	var n int
	fmt.Sscan(string(v), &n)
	return n
}

func TestTransactionsKeepTheBankTotalAcrossGoroutines(t *testing.T) {
	db := mustOpen(t, "")
	defer db.Close()
	const accounts = 20
	for i := 0; i < accounts; i++ {
		if err := db.Put([]byte(fmt.Sprintf("acct/%02d", i)), []byte("100")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	conflicts := 0
	var mu sync.Mutex
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for made := 0; made < 100; {
				from := []byte(fmt.Sprintf("acct/%02d", (g*7+made)%accounts))
				to := []byte(fmt.Sprintf("acct/%02d", (g*3+made*5+1)%accounts))
				if bytes.Equal(from, to) {
					made++
					continue
				}
				txn, err := db.Begin()
				if err != nil {
					t.Error(err)
					return
				}
				a, b := balance(t, txn, from), balance(t, txn, to)
				txn.Put(from, []byte(fmt.Sprint(a-1)))
				txn.Put(to, []byte(fmt.Sprint(b+1)))
				switch err := txn.Commit(); {
				case err == nil:
					made++
				case IsConflict(err):
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	txn, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	total, n := 0, 0
	txn.Scan([]byte("acct/"), func(k, v []byte) bool {
		var b int
		fmt.Sscan(string(v), &b)
		total += b
		n++
		return true
	})
	txn.Rollback()
	if total != accounts*100 || n != accounts {
		t.Fatalf("total %d over %d accounts, want %d over %d", total, n, accounts*100, accounts)
	}
	t.Logf("%d conflicts retried", conflicts)
}

func TestTransactionConflictsAndSavepoints(t *testing.T) {
	db := mustOpen(t, "")
	defer db.Close()
	a, _ := db.Begin()
	if _, ok, _ := a.Get([]byte("k")); ok {
		t.Fatal("k should be absent")
	}
	a.Put([]byte("other"), []byte("1"))
	db.Put([]byte("k"), []byte("now present"))
	if err := a.Commit(); !IsConflict(err) {
		t.Fatalf("commit after a read key changed: %v, want a conflict", err)
	}
	b, _ := db.Begin()
	b.Put([]byte("x"), []byte("1"))
	b.Savepoint()
	b.Put([]byte("x"), []byte("2"))
	if err := b.RollbackToSavepoint(); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if err := b.RollbackToSavepoint(); !errors.As(err, &e) || e.Status != StatusNotFound {
		t.Fatalf("second rollback to savepoint: %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := db.Get([]byte("x")); string(v) != "1" {
		t.Fatalf("x = %q, want 1", v)
	}
	c, _ := db.Begin()
	c.Put([]byte("never"), []byte(""))
	c.Rollback()
	if _, ok, _ := db.Get([]byte("never")); ok {
		t.Fatal("a rolled back write is visible")
	}
}

func TestIndexesFromGo(t *testing.T) {
	db := mustOpen(t, "")
	defer db.Close()
	if err := db.CreateIndex("by_email", JSONField, "email", 0, true); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateIndex("by_region", KeyField, "", 1, false); err != nil {
		t.Fatal(err)
	}
	db.Put([]byte("user/eu/1"), []byte(`{"email": "a@x"}`))
	db.Put([]byte("user/us/2"), []byte(`{"email": "b@x"}`))
	db.Put([]byte("user/eu/3"), []byte(`{"email": "c@x"}`))

	var found []string
	db.IndexEqual("by_email", []byte(`"b@x"`), func(r IndexRecord) bool {
		found = append(found, string(r.Key))
		return true
	})
	if strings.Join(found, ",") != "user/us/2" {
		t.Fatalf("by_email b@x = %v", found)
	}
	found = nil
	db.IndexRange("by_region", nil, nil, true, func(r IndexRecord) bool {
		found = append(found, string(r.IndexKey)+"="+string(r.Key))
		return true
	})
	if strings.Join(found, ",") != "us=user/us/2,eu=user/eu/3,eu=user/eu/1" {
		t.Fatalf("by_region descending = %v", found)
	}

	// A duplicate email is refused whole, in a put and in a batch.
	err := db.Put([]byte("user/us/4"), []byte(`{"email": "a@x"}`))
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusConstraint {
		t.Fatalf("duplicate put: %v", err)
	}
	b := NewBatch()
	b.Put([]byte("user/us/5"), []byte(`{"email": "e@x"}`))
	b.Put([]byte("user/us/6"), []byte(`{"email": "c@x"}`))
	if err := db.Write(b); !errors.As(err, &e) || e.Status != StatusConstraint {
		t.Fatalf("duplicate batch: %v", err)
	}
	b.Free()
	if _, ok, _ := db.Get([]byte("user/us/5")); ok {
		t.Fatal("a refused batch applied")
	}

	// A transaction sees its own writes through the index.
	txn, _ := db.Begin()
	txn.Put([]byte("user/us/7"), []byte(`{"email": "g@x"}`))
	n := 0
	txn.IndexEqual("by_email", []byte(`"g@x"`), func(IndexRecord) bool { n++; return true })
	if n != 1 {
		t.Fatalf("the transaction found %d records", n)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.DropIndex("by_region"); err != nil {
		t.Fatal(err)
	}
	if err := db.IndexRange("by_region", nil, nil, false, func(IndexRecord) bool { return true }); err == nil {
		t.Fatal("a dropped index answered")
	}
}

// Goroutines move records between cities while others query the index:
// every record found has the city it was found under, and every record is
// found exactly once.
func TestIndexReadersSeeRecordsAndEntriesAgree(t *testing.T) {
	db := mustOpen(t, "")
	defer db.Close()
	if err := db.CreateIndex("by_city", JSONField, "city", 0, false); err != nil {
		t.Fatal(err)
	}
	const records = 50
	cities := []string{"lima", "oslo", "rome"}
	for i := 0; i < records; i++ {
		db.Put([]byte(fmt.Sprintf("r%02d", i)), []byte(`{"city": "lima"}`))
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
		seen := map[string]int{}
		err := db.IndexRange("by_city", nil, nil, round%2 == 1, func(r IndexRecord) bool {
			seen[string(r.Key)]++
			// The index key is the JSON string tagged: 0x40 then the text.
			city := string(r.IndexKey[1:])
			if !strings.Contains(string(r.Value), `"`+city+`"`) {
				t.Errorf("record %s = %s found under %q", r.Key, r.Value, city)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
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
