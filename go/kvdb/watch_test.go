package kvdb

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// drain collects events until one at or past through arrives.
func drain(t *testing.T, w *Watcher, through uint64) []Event {
	t.Helper()
	var events []Event
	deadline := time.Now().Add(60 * time.Second)
	for len(events) == 0 || events[len(events)-1].Seq < through {
		if time.Now().After(deadline) {
			t.Fatalf("events stopped after %d", len(events))
		}
		e, err := w.Next(100 * time.Millisecond)
		if errors.Is(err, ErrTimedOut) {
			continue
		}
		must(t, err)
		events = append(events, e)
	}
	return events
}

func TestWatcherSeesEveryChangeOfConcurrentWritersInOrder(t *testing.T) {
	db := mustOpen(t, "", nil)
	w, err := db.Watch(nil, WatchFromOldest)
	must(t, err)
	defer w.Close()

	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				key := []byte(fmt.Sprintf("g%d:%d", g, i%10))
				switch i % 4 {
				case 0:
					b := NewBatch()
					b.Put([]byte("batch:a"), key)
					b.Put([]byte("batch:b"), key)
					if err := db.Write(b); err != nil {
						t.Error(err)
					}
					b.Close()
				case 1:
					if err := db.Delete(key); err != nil && !errors.Is(err, ErrNotFound) {
						t.Error(err)
					}
				case 2:
					if err := db.Update(16, func(tx *Txn) error { return tx.Put(key, []byte("t")) }); err != nil {
						t.Error(err)
					}
				default:
					if err := db.Put(key, []byte("v")); err != nil {
						t.Error(err)
					}
				}
			}
		}(g)
	}
	wg.Wait()
	snap, err := db.NewSnapshot()
	must(t, err)
	through, err := snap.Seq()
	must(t, err)
	snap.Close()

	model := map[string]string{}
	for i, e := range drain(t, w, through) {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		if string(e.Key) == "batch:a" && e.LastInBatch {
			t.Fatalf("batch:a closed its batch: %+v", e)
		}
		switch e.Kind {
		case EventPut:
			model[string(e.Key)] = string(e.Value)
		default:
			delete(model, string(e.Key))
		}
	}
	it, err := db.NewIterator(nil)
	must(t, err)
	defer it.Close()
	n := 0
	for it.SeekToFirst(); it.Valid(); it.Next() {
		if model[string(it.Key())] != string(it.Value()) {
			t.Fatalf("%s: model %q, database %q", it.Key(), model[string(it.Key())], it.Value())
		}
		n++
	}
	if n != len(model) {
		t.Fatalf("model holds %d keys, database %d", len(model), n)
	}
}

func TestWatcherLagsAndResyncsFromASnapshot(t *testing.T) {
	db := mustOpen(t, "", &Options{WatchRetention: &WatchRetention{MemoryBytes: 8192}})
	w, err := db.Watch([]byte("k"), WatchFromOldest)
	must(t, err)
	for i := 0; i < 1000; i++ {
		must(t, db.Put([]byte(fmt.Sprintf("k%d", i%50)), []byte("v")))
	}
	_, err = w.Next(0)
	if !errors.Is(err, ErrLagged) || !strings.Contains(err.Error(), "oldest retained is") {
		t.Fatalf("want ErrLagged naming the oldest, got %v", err)
	}
	w.Close()
	snap, err := db.NewSnapshot()
	must(t, err)
	seq, err := snap.Seq()
	must(t, err)
	snap.Close()
	w, err = db.Watch([]byte("k"), seq+1)
	must(t, err)
	defer w.Close()
	must(t, db.Put([]byte("k-next"), []byte("1")))
	e, err := w.Next(time.Second)
	must(t, err)
	if e.Seq != seq+1 || string(e.Key) != "k-next" || string(e.Value) != "1" {
		t.Fatalf("after resync: %+v", e)
	}
	if _, err := w.Next(0); !errors.Is(err, ErrTimedOut) {
		t.Fatalf("want ErrTimedOut, got %v", err)
	}
}

func TestWatcherRangeExpiryFdAndClose(t *testing.T) {
	db := mustOpen(t, "", nil)
	w, err := db.WatchRange([]byte("a"), []byte("c"), WatchFromNow)
	must(t, err)
	fd, err := w.Fd()
	must(t, err)
	if _, err := w.Next(0); !errors.Is(err, ErrTimedOut) {
		t.Fatalf("want ErrTimedOut, got %v", err)
	}
	must(t, db.Put([]byte("zzz"), []byte("outside")))
	must(t, db.PutTTL([]byte("b"), []byte("lease"), 20*time.Millisecond))
	fds := []syscall.FdSet{{}}
	fds[0].Bits[fd/64] |= 1 << (uint(fd) % 64)
	tv := syscall.Timeval{Sec: 5}
	if n, err := syscall.Select(fd+1, &fds[0], nil, nil, &tv); err != nil || n != 1 {
		t.Fatalf("the fd did not become readable: %d %v", n, err)
	}
	e, err := w.Next(0)
	must(t, err)
	if e.Kind != EventPut || string(e.Key) != "b" || e.ExpiresAt.IsZero() || !e.LastInBatch {
		t.Fatalf("put: %+v", e)
	}
	e, err = w.Next(30 * time.Second)
	must(t, err)
	if e.Kind != EventExpired || string(e.Key) != "b" {
		t.Fatalf("expiry: %+v", e)
	}
	pos, err := w.Position()
	must(t, err)
	if pos != e.Seq+1 {
		t.Fatalf("position %d after seq %d", pos, e.Seq)
	}
	must(t, db.Close())
	if _, err := w.Next(0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("after close: %v", err)
	}
	must(t, w.Close())
	if _, err := w.Next(0); err != ErrClosed {
		t.Fatalf("after Close: %v", err)
	}
}
