package kvdb

/*
#include "kvdb.h"
*/
import "C"

import "time"

// SyncMode says when writes reach stable storage. The zero value keeps
// the library's default.
type SyncMode int

// Sync modes (KVDB_SYNC_*).
const (
	// SyncDefault keeps the library's default.
	SyncDefault SyncMode = iota
	// SyncNever leaves syncing to the operating system (and DB.Sync).
	SyncNever
	// SyncInterval syncs every Options.SyncInterval.
	SyncInterval
	// SyncAlways makes each write durable before it returns.
	SyncAlways
)

// RecoveryMode says what recovery does with a damaged log. The zero value
// keeps the library's default (RecoveryTolerateCorruptTail).
type RecoveryMode int

// Recovery modes (KVDB_RECOVERY_*).
const (
	// RecoveryDefault keeps the library's default.
	RecoveryDefault RecoveryMode = iota
	// RecoveryTolerateCorruptTail cuts a torn tail, the trace of a crash.
	RecoveryTolerateCorruptTail
	// RecoveryAbsoluteConsistency refuses to open on any damage.
	RecoveryAbsoluteConsistency
	// RecoveryPointInTime recovers up to the first damage.
	RecoveryPointInTime
)

func (m SyncMode) toC() C.int {
	switch m {
	case SyncNever:
		return C.KVDB_SYNC_NEVER
	case SyncInterval:
		return C.KVDB_SYNC_INTERVAL
	case SyncAlways:
		return C.KVDB_SYNC_ALWAYS
	}
	return -1 // the library rejects it
}

func (m RecoveryMode) toC() C.int {
	switch m {
	case RecoveryTolerateCorruptTail:
		return C.KVDB_RECOVERY_TOLERATE_CORRUPT_TAIL
	case RecoveryAbsoluteConsistency:
		return C.KVDB_RECOVERY_ABSOLUTE_CONSISTENCY
	case RecoveryPointInTime:
		return C.KVDB_RECOVERY_POINT_IN_TIME
	}
	return -1 // the library rejects it
}

// Options configure Open. The zero value (or a nil *Options) means the
// library's defaults; set only what you need.
type Options struct {
	// Sync is when writes reach stable storage (durable databases).
	Sync SyncMode
	// SyncInterval is the period of SyncInterval (rounded up to whole
	// milliseconds; at least 1 ms).
	SyncInterval time.Duration
	// Recovery is what recovery does with a damaged log.
	Recovery RecoveryMode
	// CheckpointBytes of log trigger a background checkpoint; nil keeps
	// the default (256 MiB), 0 disables background checkpoints.
	CheckpointBytes *uint64
	// SnapshotsToKeep is how many snapshot files are kept; 0 keeps the
	// default (2).
	SnapshotsToKeep uint32
	// CheckpointOnClose makes Close checkpoint first: the next Open replays
	// no log and, under an LRU or LFU memory limit, finds each key's use as
	// it was at the close, reads included (as Redis saves its RDB file at
	// shutdown). Close reports a failed checkpoint; nothing acknowledged is
	// lost.
	CheckpointOnClose bool
	// NoBackgroundMaintenance turns off the background threads for active
	// expiry and garbage collection (then call CollectGarbage yourself).
	NoBackgroundMaintenance bool
	// Indexes are built from the recovered data before Open returns.
	Indexes []IndexDef
	// WatchRetention sets what change streams retain; nil keeps the
	// defaults (8 MiB in memory, 64 MiB of log).
	WatchRetention *WatchRetention
	// MemoryLimit caps the memory the database holds and says what a write
	// past it does; nil: no limit.
	MemoryLimit *MemoryLimit
}

// WatchRetention is what change streams retain for watchers (see
// DB.Watch).
type WatchRetention struct {
	// MemoryBytes of recent committed batches kept in memory; 0 turns
	// change streams off.
	MemoryBytes uint64
	// LogBytes of log that checkpoints keep although a snapshot covers it,
	// so watchers can replay older changes, also after a restart (durable
	// databases).
	LogBytes uint64
}

// toC builds the C options (release them with kvdb_options_free).
func (o *Options) toC() (*C.kvdb_options_t, error) {
	opts := C.kvdb_options_new()
	if opts == nil {
		return nil, newError(StatusInternal, "kvdb_options_new failed")
	}
	if o == nil {
		return opts, nil
	}
	set := func(f func() C.kvdb_status_t) error { return call(f) }
	var err error
	if o.Sync != SyncDefault {
		err = set(func() C.kvdb_status_t {
			return C.kvdb_options_set_sync(opts, o.Sync.toC(), C.uint32_t(ttlMillis(o.SyncInterval)))
		})
	}
	if err == nil && o.Recovery != RecoveryDefault {
		err = set(func() C.kvdb_status_t { return C.kvdb_options_set_recovery_mode(opts, o.Recovery.toC()) })
	}
	if err == nil && o.CheckpointBytes != nil {
		err = set(func() C.kvdb_status_t {
			return C.kvdb_options_set_checkpoint_bytes(opts, C.uint64_t(*o.CheckpointBytes))
		})
	}
	if err == nil && o.WatchRetention != nil {
		err = set(func() C.kvdb_status_t {
			r := o.WatchRetention
			return C.kvdb_options_set_watch_retention(opts, C.uint64_t(r.MemoryBytes), C.uint64_t(r.LogBytes))
		})
	}
	if err == nil && o.MemoryLimit != nil {
		err = set(func() C.kvdb_status_t {
			m := o.MemoryLimit
			return C.kvdb_options_set_memory_limit(opts, C.uint64_t(m.Bytes), C.int(m.Policy))
		})
	}
	if err == nil && o.SnapshotsToKeep != 0 {
		err = set(func() C.kvdb_status_t {
			return C.kvdb_options_set_snapshots_to_keep(opts, C.uint32_t(o.SnapshotsToKeep))
		})
	}
	if err == nil && o.CheckpointOnClose {
		err = set(func() C.kvdb_status_t { return C.kvdb_options_set_checkpoint_on_close(opts, 1) })
	}
	if err == nil && o.NoBackgroundMaintenance {
		err = set(func() C.kvdb_status_t { return C.kvdb_options_set_background_maintenance(opts, 0) })
	}
	for _, def := range o.Indexes {
		if err != nil {
			break
		}
		err = def.with(func(d *C.kvdb_index_def_t) error {
			return call(func() C.kvdb_status_t { return C.kvdb_options_add_index(opts, d) })
		})
	}
	if err != nil {
		C.kvdb_options_free(opts)
		return nil, err
	}
	return opts, nil
}
