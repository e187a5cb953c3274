package kvdb_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/kvdb/kvdb/go/kvdb"
)

func Example() {
	db, err := kvdb.Open("", nil) // in memory; a directory path makes it durable
	if err != nil {
		panic(err)
	}
	defer db.Close()

	db.Put([]byte("user:1"), []byte("ada"))
	db.PutTTL([]byte("session:1"), []byte("token"), 30*time.Minute)
	v, _ := db.Get([]byte("user:1"))
	fmt.Println(string(v))

	if _, err := db.Get([]byte("user:2")); errors.Is(err, kvdb.ErrNotFound) {
		fmt.Println("user:2 not found")
	}

	n, _ := db.Increment([]byte("visits"), 1)
	fmt.Println("visits", n)

	it, _ := db.NewIterator([]byte("user:"))
	defer it.Close()
	for it.SeekToFirst(); it.Valid(); it.Next() {
		fmt.Printf("%s = %s\n", it.Key(), it.Value())
	}
	// Output:
	// ada
	// user:2 not found
	// visits 1
	// user:1 = ada
}

func ExampleDB_Update() {
	db, _ := kvdb.Open("", nil)
	defer db.Close()
	db.Put([]byte("alice"), []byte("10"))
	db.Put([]byte("bob"), []byte("0"))

	// Move 3 from alice to bob; retried on conflict with other writers.
	err := db.Update(10, func(t *kvdb.Txn) error {
		a, err := t.Get([]byte("alice"))
		if err != nil {
			return err
		}
		var balance int
		fmt.Sscan(string(a), &balance)
		if balance < 3 {
			return errors.New("insufficient funds")
		}
		t.Put([]byte("alice"), []byte(fmt.Sprint(balance-3)))
		return t.Put([]byte("bob"), []byte("3"))
	})
	fmt.Println(err)
	b, _ := db.Get([]byte("bob"))
	fmt.Println("bob", string(b))
	// Output:
	// <nil>
	// bob 3
}

func ExampleDB_IndexEqual() {
	db, _ := kvdb.Open("", &kvdb.Options{
		Indexes: []kvdb.IndexDef{kvdb.IndexJSONField("by_city", "city")},
	})
	defer db.Close()
	db.Put([]byte("user:1"), []byte(`{"name": "ada", "city": "london"}`))
	db.Put([]byte("user:2"), []byte(`{"name": "alan", "city": "wilmslow"}`))
	db.Put([]byte("user:3"), []byte(`{"name": "mary", "city": "london"}`))

	it, _ := db.IndexEqual("by_city", []byte(`"london"`))
	defer it.Close()
	for it.Next() {
		fmt.Println(string(it.Key()))
	}
	// Output:
	// user:1
	// user:3
}
