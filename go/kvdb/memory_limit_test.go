package kvdb

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

const testLimit = 256 * 1024

func TestMemoryLimitEvictsWithinTheLimitAndWatchersSeeIt(t *testing.T) {
	db, err := OpenInMemory(&Options{MemoryLimit: &MemoryLimit{Bytes: testLimit, Policy: AllKeysLRU}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := db.Watch(nil, WatchFromNow)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	value := make([]byte, 200)
	for i := 0; i < 3000; i++ {
		if err := db.Put([]byte(fmt.Sprintf("key-%06d", i)), value); err != nil {
			t.Fatal(err)
		}
		u, err := db.MemoryUsage()
		if err != nil {
			t.Fatal(err)
		}
		if u.Used > u.Limit {
			t.Fatalf("after put %d: %d bytes used, over the limit of %d", i, u.Used, u.Limit)
		}
	}
	u, _ := db.MemoryUsage()
	if u.Limit != testLimit || u.EvictedKeys < 1000 {
		t.Fatalf("usage %+v: expected the limit and over 1000 evictions", u)
	}
	evicted := uint64(0)
	for {
		e, err := w.Next(0)
		if errors.Is(err, ErrTimedOut) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == EventEvicted {
			evicted++
			if _, err := db.Get(e.Key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("evicted key %q still reads: %v", e.Key, err)
			}
		}
	}
	if evicted != u.EvictedKeys {
		t.Fatalf("%d eviction events for %d evictions", evicted, u.EvictedKeys)
	}
	// Lowered at run time, with another policy.
	if err := db.SetMemoryLimit(MemoryLimit{Bytes: testLimit / 2, Policy: AllKeysRandom}); err != nil {
		t.Fatal(err)
	}
	if u, _ := db.MemoryUsage(); u.Used > testLimit/2 {
		t.Fatalf("%d bytes used after lowering the limit to %d", u.Used, testLimit/2)
	}
}

func TestNoEvictionRefusesWithErrMemoryLimitAndKeepsWhatWasWritten(t *testing.T) {
	db, err := OpenInMemory(&Options{MemoryLimit: &MemoryLimit{Bytes: testLimit, Policy: NoEviction}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	value := make([]byte, 200)
	written := 0
	for ; ; written++ {
		err := db.PutTTL([]byte(fmt.Sprintf("key-%06d", written)), value, time.Hour)
		if errors.Is(err, ErrMemoryLimit) {
			break
		}
		if err != nil || written > 100000 {
			t.Fatalf("put %d: %v", written, err)
		}
	}
	for i := 0; i < written; i++ {
		if _, err := db.Get([]byte(fmt.Sprintf("key-%06d", i))); err != nil {
			t.Fatalf("key %d lost: %v", i, err)
		}
	}
	if err := db.SetMemoryLimit(MemoryLimit{Bytes: testLimit, Policy: EvictionPolicy(8)}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("policy 8: %v", err)
	}
}

func TestAnIndexThatDoesNotFitFailsWithErrMemoryLimitAndIsNotKept(t *testing.T) {
	db, err := OpenInMemory(&Options{MemoryLimit: &MemoryLimit{Bytes: testLimit, Policy: NoEviction}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 0; ; i++ {
		value := []byte(fmt.Sprintf("%08d%0192d", i, 0))
		err := db.Put([]byte(fmt.Sprintf("key-%06d", i)), value)
		if errors.Is(err, ErrMemoryLimit) {
			break
		}
		if err != nil || i > 100000 {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if err := db.CreateIndex(IndexValueBytes("head", 0, 8, Bytes)); !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("creating an index that does not fit: %v", err)
	}
	if names, err := db.Indexes(); err != nil || len(names) != 0 {
		t.Fatalf("indexes left: %v, %v", names, err)
	}
}

func TestACloseThatCheckpointsLeavesNoLogToReplay(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{
		MemoryLimit:       &MemoryLimit{Bytes: testLimit, Policy: AllKeysLRU},
		CheckpointOnClose: true,
	}
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := db.Put([]byte(fmt.Sprintf("key-%06d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info, err := db.RecoveryInfo()
	if err != nil {
		t.Fatal(err)
	}
	if !info.SnapshotLoaded || info.SnapshotEntries != 100 || info.WALRecordsApplied != 0 {
		t.Fatalf("recovery after a checkpointing close: %+v", info)
	}
}
