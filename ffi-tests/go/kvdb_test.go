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
