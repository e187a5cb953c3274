package kvdb

/*
#include "kvdb.h"
*/
import "C"

// EvictionPolicy is what a write that would pass the memory limit does,
// with Redis's maxmemory-policy names and meanings.
type EvictionPolicy int

// The policies, numbered as the C API's KVDB_EVICT_* constants.
const (
	// NoEviction: the write fails with ErrMemoryLimit and applies nothing.
	NoEviction EvictionPolicy = C.KVDB_EVICT_NOEVICTION
	// AllKeysLRU evicts the least recently used keys.
	AllKeysLRU EvictionPolicy = C.KVDB_EVICT_ALLKEYS_LRU
	// AllKeysLFU evicts the least frequently used keys.
	AllKeysLFU EvictionPolicy = C.KVDB_EVICT_ALLKEYS_LFU
	// AllKeysRandom evicts random keys.
	AllKeysRandom EvictionPolicy = C.KVDB_EVICT_ALLKEYS_RANDOM
	// VolatileLRU evicts the least recently used keys that have a TTL.
	VolatileLRU EvictionPolicy = C.KVDB_EVICT_VOLATILE_LRU
	// VolatileLFU evicts the least frequently used keys that have a TTL.
	VolatileLFU EvictionPolicy = C.KVDB_EVICT_VOLATILE_LFU
	// VolatileRandom evicts random keys that have a TTL.
	VolatileRandom EvictionPolicy = C.KVDB_EVICT_VOLATILE_RANDOM
	// VolatileTTL evicts the keys that expire soonest.
	VolatileTTL EvictionPolicy = C.KVDB_EVICT_VOLATILE_TTL
)

// MemoryLimit caps the memory a database holds (see DB.MemoryUsage for what
// counts). Bytes 0 means no limit. A database that holds more than the
// limit in its Options when opened evicts down to it before Open returns,
// as SetMemoryLimit does.
type MemoryLimit struct {
	Bytes  uint64
	Policy EvictionPolicy
}

// MemoryUsage is what DB.MemoryUsage reports.
type MemoryUsage struct {
	// Used is the bytes held, as the allocator sizes its blocks (versions
	// kept for open snapshots included; the change feed's retention not).
	Used uint64
	// Limit is the limit in bytes (0: none).
	Limit uint64
	// EvictedKeys counts the keys evicted since the database opened.
	EvictedKeys uint64
}

// SetMemoryLimit changes the memory limit and policy of an open database.
// If it holds more than the new limit, the policy evicts down to it before
// this returns; if the keys the policy may evict cannot free that much, it
// evicts them all, and writes then fail with ErrMemoryLimit until room is
// made. Setting an LRU or LFU policy where none recorded the keys' use, or
// changing between LRU and LFU, counts every key held as written now.
// Removing the limit (Bytes 0) leaves what reads record as it was, so that
// a limit set again, or a reopen, ranks the keys by all their use.
func (d *DB) SetMemoryLimit(limit MemoryLimit) error {
	return d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_set_memory_limit(db, C.uint64_t(limit.Bytes), C.int(limit.Policy))
	})
}

// MemoryUsage reports the memory the database holds, its limit and the keys
// evicted so far.
func (d *DB) MemoryUsage() (MemoryUsage, error) {
	var used, limit, evicted C.uint64_t
	err := d.with(func(db *C.kvdb_t) C.kvdb_status_t {
		return C.kvdb_memory_usage(db, &used, &limit, &evicted)
	})
	if err != nil {
		return MemoryUsage{}, err
	}
	return MemoryUsage{Used: uint64(used), Limit: uint64(limit), EvictedKeys: uint64(evicted)}, nil
}
