package kvdb

/*
#include <stdlib.h>
#include "kvdb.h"
*/
import "C"

import (
	"time"
	"unsafe"
)

// Stats describe memory actually held (versions kept for open views and
// expired keys not yet reclaimed included) and the work done since open.
type Stats struct {
	LiveKeys          uint64 // keys whose newest version is a value
	KeysHeld          uint64 // keys in memory, deletion markers still needed included
	Versions          uint64 // versions held across all keys
	Bytes             uint64 // estimated bytes held
	ExpiredReclaimed  uint64 // keys removed because their TTL passed
	VersionsReclaimed uint64 // old versions freed by garbage collection
	Gets              uint64 // point reads served
	Puts              uint64 // puts applied (batches included)
	Deletes           uint64 // deletes applied (batches included)
	Batches           uint64 // write groups applied
	OpenViews         uint64 // snapshots and iterators open
	WALBytes          uint64 // bytes of write-ahead log on disk (0 in memory)
	Checkpoints       uint64 // checkpoints completed since open
}

// Stats returns the statistics of the database.
func (d *DB) Stats() (Stats, error) {
	var s C.kvdb_stats_t
	if err := d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_stats(db, &s) }); err != nil {
		return Stats{}, err
	}
	return Stats{
		LiveKeys: uint64(s.live_keys), KeysHeld: uint64(s.keys_held), Versions: uint64(s.versions),
		Bytes: uint64(s.bytes), ExpiredReclaimed: uint64(s.expired_reclaimed),
		VersionsReclaimed: uint64(s.versions_reclaimed), Gets: uint64(s.gets), Puts: uint64(s.puts),
		Deletes: uint64(s.deletes), Batches: uint64(s.batches), OpenViews: uint64(s.open_views),
		WALBytes: uint64(s.wal_bytes), Checkpoints: uint64(s.checkpoints),
	}, nil
}

// RecoveryInfo is what recovery found and did when the database opened
// (all zero in memory).
type RecoveryInfo struct {
	SnapshotLoaded    bool   // a snapshot was loaded
	SnapshotSeq       uint64 // its sequence number
	SnapshotEntries   uint64 // entries loaded from it
	SnapshotsRejected uint64 // newer snapshots that failed verification
	WALRecordsApplied uint64 // log records applied
	WALRecordsSkipped uint64 // log records the snapshot already held
	WALBytes          uint64 // bytes of intact log records read
	TornTailCut       bool   // a damaged log tail was cut off
	TornTailOffset    uint64 // the length the damaged segment was cut to
	TornTailBytes     uint64 // the bytes cut off
	SegmentsDiscarded uint64 // log segments set aside by point-in-time recovery
	LastSeq           uint64 // the newest sequence number after recovery
	Duration          time.Duration
	// WALSegmentsSkipped counts log segments not read at all because the
	// snapshot held every record in them (kept for change streams).
	WALSegmentsSkipped uint64
}

// RecoveryInfo returns what recovery found and did.
func (d *DB) RecoveryInfo() (RecoveryInfo, error) {
	var r C.kvdb_recovery_t
	r.size = C.size_t(unsafe.Sizeof(r))
	if err := d.with(func(db *C.kvdb_t) C.kvdb_status_t { return C.kvdb_recovery_info(db, &r) }); err != nil {
		return RecoveryInfo{}, err
	}
	return RecoveryInfo{
		SnapshotLoaded: bool(r.snapshot_loaded), SnapshotSeq: uint64(r.snapshot_seq),
		SnapshotEntries: uint64(r.snapshot_entries), SnapshotsRejected: uint64(r.snapshots_rejected),
		WALRecordsApplied: uint64(r.wal_records_applied), WALRecordsSkipped: uint64(r.wal_records_skipped),
		WALBytes: uint64(r.wal_bytes), TornTailCut: bool(r.torn_tail_cut),
		TornTailOffset: uint64(r.torn_tail_offset), TornTailBytes: uint64(r.torn_tail_bytes),
		SegmentsDiscarded: uint64(r.segments_discarded), LastSeq: uint64(r.last_seq),
		Duration:           time.Duration(r.duration_us) * time.Microsecond,
		WALSegmentsSkipped: uint64(r.wal_segments_skipped),
	}, nil
}

// RecoveryMessage is what recovery found and did, in words (one line per
// finding, naming files and offsets); empty in memory.
func (d *DB) RecoveryMessage() (string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.db == nil {
		return "", ErrClosed
	}
	n := C.kvdb_recovery_message(d.db, nil, 0)
	if n == 0 {
		return "", nil
	}
	buf := C.malloc(n + 1)
	defer C.free(buf)
	C.kvdb_recovery_message(d.db, (*C.char)(buf), n+1)
	return C.GoStringN((*C.char)(buf), C.int(n)), nil
}
