//! Change streams: every change exactly once, in commit order, batches
//! whole; resuming after a restart; lagging and the snapshot resync;
//! expirations; waking a poll loop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kvdb::{
    Batch, Change, Db, ErrorKind, Event, ManualClock, Options, SyncPolicy, WATCH_FROM_NOW,
    WATCH_FROM_OLDEST, Watcher,
};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn quiet() -> Options {
    Options::manual_maintenance()
}

fn apply(model: &mut Model, event: &Event) {
    match &event.change {
        Change::Put { value, .. } => {
            model.insert(event.key.clone(), value.clone());
        }
        Change::Delete | Change::Expired | Change::Evicted => {
            model.remove(&event.key);
        }
    }
}

fn contents(db: &Db) -> Model {
    db.snapshot().iter().collect()
}

/// Every event up to sequence number `through`, waiting for each.
fn drain_through(watcher: &mut Watcher, through: u64) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while events.last().is_none_or(|e: &Event| e.seq < through) {
        assert!(
            Instant::now() < deadline,
            "events stopped at {:?}",
            events.last()
        );
        if let Some(event) = watcher.next_timeout(Duration::from_millis(100)).unwrap() {
            events.push(event);
        }
    }
    events
}

fn assert_consecutive(events: &[Event], first: u64) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.seq, first + i as u64, "gap or duplicate at {event:?}");
    }
}

#[test]
fn a_watcher_from_zero_sees_every_change_of_eight_writers_once_in_order_with_batches_whole() {
    let db = Arc::new(Db::in_memory_with(quiet()).unwrap());
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_OLDEST).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let through = Arc::new(AtomicU64::new(u64::MAX));
    let consumer = {
        let (done, through) = (Arc::clone(&done), Arc::clone(&through));
        std::thread::spawn(move || {
            let mut events = Vec::new();
            loop {
                let target = through.load(Ordering::SeqCst);
                if done.load(Ordering::SeqCst)
                    && events.last().is_some_and(|e: &Event| e.seq >= target)
                {
                    return events;
                }
                if let Some(e) = watcher.next_timeout(Duration::from_millis(50)).unwrap() {
                    events.push(e);
                }
            }
        })
    };
    let writers: Vec<_> = (0..8u32)
        .map(|w| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9u64 ^ u64::from(w);
                for j in 0..400u32 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let key = format!("k{}", rng % 64).into_bytes();
                    match rng % 4 {
                        0 => db.put(&key, format!("{w}-{j}").as_bytes()).unwrap(),
                        1 => {
                            db.delete(&key).unwrap();
                        }
                        2 => {
                            let mut batch = Batch::new();
                            for m in 0..3 {
                                batch.put(format!("b{w}-{j}-{m}").as_bytes(), b"x").unwrap();
                            }
                            batch.delete(&key).unwrap();
                            db.write(&batch).unwrap();
                        }
                        _ => db
                            .transaction(|txn| {
                                let n = txn.get(&key)?.map_or(0, |v| v.len());
                                txn.put(&key, &vec![b't'; n % 7 + 1])?;
                                txn.put(format!("t{w}-{j}").as_bytes(), b"y")
                            })
                            .unwrap(),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let snapshot = db.snapshot();
    through.store(snapshot.seq(), Ordering::SeqCst);
    done.store(true, Ordering::SeqCst);
    let events = consumer.join().unwrap();

    assert_consecutive(&events, 1);
    assert_eq!(events.last().unwrap().seq, snapshot.seq());
    // Batches whole: the four operations of each batch are consecutive and
    // only the last closes it; a transaction's two puts likewise.
    let mut i = 0;
    while i < events.len() {
        let key = String::from_utf8_lossy(&events[i].key).into_owned();
        let size = if key.starts_with('b') {
            4
        } else if events[i..].get(1).is_some_and(|e| e.key.starts_with(b"t"))
            && !key.starts_with('t')
        {
            2
        } else {
            1
        };
        if key.starts_with('b') {
            let prefix = &key[..key.rfind('-').unwrap()];
            for (m, e) in events[i..i + 3].iter().enumerate() {
                assert_eq!(e.key, format!("{prefix}-{m}").into_bytes());
            }
            assert_eq!(events[i + 3].change, Change::Delete);
        }
        for e in &events[i..i + size - 1] {
            assert!(!e.last_in_batch, "{e:?} does not end its batch");
        }
        assert!(
            events[i + size - 1].last_in_batch,
            "{:?} ends its batch",
            events[i + size - 1]
        );
        i += size;
    }
    let mut model = Model::new();
    for event in &events {
        apply(&mut model, event);
    }
    assert_eq!(model, snapshot.iter().collect::<Model>());
}

#[test]
fn a_prefix_watcher_sees_only_its_keys_and_the_last_of_them_closes_the_batch() {
    let db = Db::in_memory_with(quiet()).unwrap();
    let mut watcher = db.watch_prefix(b"user:", WATCH_FROM_NOW).unwrap();
    let mut batch = Batch::new();
    batch.put(b"user:1", b"ada").unwrap();
    batch.put(b"user:2", b"grace").unwrap();
    batch.put(b"zzz", b"other").unwrap();
    db.write(&batch).unwrap();
    db.put(b"order:1", b"x").unwrap();
    db.delete(b"user:1").unwrap();
    let events = drain_through(&mut watcher, 5);
    let seen: Vec<(u64, &[u8], bool)> = events
        .iter()
        .map(|e| (e.seq, e.key.as_slice(), e.last_in_batch))
        .collect();
    assert_eq!(
        seen,
        [
            (1, &b"user:1"[..], false),
            (2, b"user:2", true),
            (5, b"user:1", true)
        ]
    );
    assert_eq!(events[2].change, Change::Delete);
    assert_eq!(watcher.try_next().unwrap(), None);
    assert_eq!(watcher.position(), 6);

    let mut ranged = db.watch(b"order:".to_vec()..b"order;".to_vec(), 1).unwrap();
    let order = ranged.try_next().unwrap().unwrap();
    assert_eq!((order.seq, order.key.as_slice()), (4, &b"order:1"[..]));
    assert_eq!(ranged.try_next().unwrap(), None);
}

#[test]
fn puts_carry_their_value_and_expiry_time() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = quiet();
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    db.put_with_ttl(b"k", b"v", Duration::from_millis(500))
        .unwrap();
    let event = watcher.try_next().unwrap().unwrap();
    assert_eq!(
        event.change,
        Change::Put {
            value: b"v".to_vec(),
            expires_at: Some(1_000_500)
        }
    );
}

#[test]
fn expirations_are_delivered_when_the_expiry_cycle_deletes_the_key() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = quiet();
    options.clock = clock.clone();
    let db = Db::in_memory_with(options).unwrap();
    db.put_with_ttl(b"session", b"token", Duration::from_millis(100))
        .unwrap();
    db.put(b"kept", b"x").unwrap();
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    clock.advance(101);
    assert_eq!(
        db.get(b"session").unwrap(),
        None,
        "absent from its expiry time"
    );
    assert_eq!(
        watcher.try_next().unwrap(),
        None,
        "no event before the cycle"
    );
    assert_eq!(db.expire_cycle().reclaimed, 1);
    let event = watcher.try_next().unwrap().unwrap();
    assert_eq!((event.seq, event.key.as_slice()), (3, &b"session"[..]));
    assert_eq!(event.change, Change::Expired);
    assert!(event.last_in_batch);
    assert_eq!(watcher.try_next().unwrap(), None);
}

#[test]
fn the_background_expiry_cycle_delivers_expirations_to_a_blocked_watcher() {
    let mut options = Options::default();
    options.expire_interval = Some(Duration::from_millis(10));
    let db = Db::in_memory_with(options).unwrap();
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    db.put_with_ttl(b"k", b"v", Duration::from_millis(30))
        .unwrap();
    assert!(matches!(
        watcher
            .next_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap()
            .change,
        Change::Put { .. }
    ));
    let expired = watcher
        .next_timeout(Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!(
        (expired.key.as_slice(), expired.change),
        (&b"k"[..], Change::Expired)
    );
}

#[test]
fn next_timeout_returns_none_when_nothing_arrives_and_from_now_skips_the_past() {
    let db = Db::in_memory_with(quiet()).unwrap();
    db.put(b"old", b"1").unwrap();
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    let started = Instant::now();
    assert_eq!(
        watcher.next_timeout(Duration::from_millis(30)).unwrap(),
        None
    );
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(watcher.try_next().unwrap(), None);
    db.put(b"new", b"2").unwrap();
    assert_eq!(watcher.try_next().unwrap().unwrap().key, b"new");
}

#[test]
fn a_watcher_that_falls_behind_lags_and_the_snapshot_resync_recovers_exactly() {
    let mut options = quiet();
    options.watch_retention_bytes = 16 * 1024;
    let db = Arc::new(Db::in_memory_with(options).unwrap());
    let mut stale = db.watch_prefix(b"", WATCH_FROM_OLDEST).unwrap();
    for i in 0..2000u32 {
        db.put(format!("k{}", i % 300).as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    let err = stale.try_next().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Lagged);
    let kvdb::Error::Lagged { requested, oldest } = err else {
        panic!("{err:?}")
    };
    assert_eq!(requested, 1);
    assert!(oldest > 1000 && oldest <= 2000, "{oldest}");
    let again = stale.try_next().unwrap_err().to_string();
    assert!(
        again.contains(&format!("oldest retained is {oldest}")),
        "{again}"
    );

    // A writer keeps going while the consumer resyncs whenever it lags.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("k{}", i % 300);
                if i.is_multiple_of(5) {
                    db.delete(key.as_bytes()).unwrap();
                } else {
                    db.put(key.as_bytes(), &i.to_le_bytes()).unwrap();
                }
                i += 1;
            }
        })
    };
    let mut resyncs = 0;
    let mut model = Model::new();
    let mut watcher: Option<Watcher> = None;
    let started = Instant::now();
    let mut through = u64::MAX;
    loop {
        if through == u64::MAX && started.elapsed() > Duration::from_millis(1500) && resyncs > 0 {
            stop.store(true, Ordering::SeqCst);
            while !writer.is_finished() {
                std::thread::yield_now();
            }
            through = db.snapshot().seq();
        }
        let w = match &mut watcher {
            Some(w) => w,
            None => {
                let snapshot = db.snapshot();
                model = snapshot.iter().collect();
                resyncs += 1;
                watcher.insert(db.watch_prefix(b"", snapshot.seq() + 1).unwrap())
            }
        };
        if w.position() > through {
            break;
        }
        match w.try_next() {
            Ok(Some(event)) => {
                apply(&mut model, &event);
                if event.seq.is_multiple_of(97) {
                    // A slow consumer now and then.
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            Ok(None) => {}
            Err(e) if e.kind() == ErrorKind::Lagged => watcher = None,
            Err(e) => panic!("{e}"),
        }
    }
    writer.join().unwrap();
    assert!(resyncs > 1, "the consumer never lagged");
    assert_eq!(watcher.unwrap().try_next().unwrap(), None);
    assert_eq!(model, contents(&db), "after {resyncs} resyncs");
}

/// A durable database's options with small log segments and a small feed,
/// so that watchers read from the log.
fn durable() -> Options {
    let mut options = quiet();
    options.sync = SyncPolicy::Never;
    options.wal_segment_bytes = 4096;
    options.watch_retention_bytes = 4096;
    options
}

#[test]
fn a_watcher_behind_the_feed_catches_up_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), durable()).unwrap();
    for i in 0..2000u32 {
        db.put(format!("k{}", i % 100).as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_OLDEST).unwrap();
    let events = drain_through(&mut watcher, 2000);
    assert_consecutive(&events, 1);
    db.put(b"live", b"1").unwrap();
    assert_eq!(watcher.try_next().unwrap().unwrap().seq, 2001);
}

#[test]
fn a_watcher_resumed_after_a_restart_continues_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    let resume_at;
    {
        let db = Db::open(dir.path(), durable()).unwrap();
        let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
        for i in 0..600u32 {
            db.put(format!("k{}", i % 50).as_bytes(), &i.to_le_bytes())
                .unwrap();
            if i == 300 {
                db.checkpoint().unwrap();
            }
        }
        let mut batch = Batch::new();
        batch.delete(b"k1").unwrap();
        batch.put(b"k2", b"batched").unwrap();
        db.write(&batch).unwrap();
        all.extend(drain_through(&mut watcher, 400));
        resume_at = watcher.position();
        db.checkpoint().unwrap();
        db.close().unwrap();
    }
    assert_eq!(resume_at, 401);
    let db = Db::open(dir.path(), durable()).unwrap();
    let mut watcher = db.watch_prefix(b"", resume_at).unwrap();
    db.put(b"after", b"restart").unwrap();
    all.extend(drain_through(&mut watcher, 603));
    assert_consecutive(&all, 1);
    assert_eq!(all[600].change, Change::Delete);
    assert!(!all[600].last_in_batch && all[601].last_in_batch);
    assert_eq!(all[602].key, b"after");
    let mut model = Model::new();
    for event in &all {
        apply(&mut model, event);
    }
    assert_eq!(model, contents(&db));
}

#[test]
fn without_log_retention_a_restart_leaves_only_what_follows_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = durable();
    options.watch_log_retention_bytes = 0;
    {
        let db = Db::open(dir.path(), options.clone()).unwrap();
        for i in 0..300u32 {
            db.put(format!("k{i}").as_bytes(), b"v").unwrap();
        }
        db.checkpoint().unwrap();
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), options).unwrap();
    let mut watcher = db.watch_prefix(b"", 1).unwrap();
    let err = watcher.try_next().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Lagged, "{err}");
    // The documented recovery: a snapshot, then what follows it.
    let snapshot = db.snapshot();
    assert_eq!(snapshot.iter().count(), 300);
    let mut watcher = db.watch_prefix(b"", snapshot.seq() + 1).unwrap();
    db.put(b"next", b"1").unwrap();
    assert_eq!(watcher.try_next().unwrap().unwrap().seq, 301);
}

#[test]
fn the_fd_wakes_a_poll_loop() {
    let db = Arc::new(Db::in_memory_with(quiet()).unwrap());
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    let fd = watcher.fd().unwrap();
    let poll = |timeout_ms: i32| poll_readable(fd, timeout_ms);
    assert!(poll(0), "readable at first: retained events may wait");
    assert_eq!(watcher.try_next().unwrap(), None);
    assert!(!poll(0), "not readable once drained");
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            db.put(b"k", b"v").unwrap();
        })
    };
    assert!(poll(30_000), "a commit wakes the poll");
    assert_eq!(watcher.try_next().unwrap().unwrap().key, b"k");
    assert_eq!(watcher.try_next().unwrap(), None);
    assert!(!poll(0));
    writer.join().unwrap();
}

/// poll(2) on one descriptor for readability.
fn poll_readable(fd: i32, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd that outlives the call.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) == 1 }
}

#[test]
fn closing_the_database_wakes_a_blocked_watcher_with_closed() {
    let db = Db::in_memory_with(quiet()).unwrap();
    let mut watcher = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap();
    let waiter = std::thread::spawn(move || {
        let started = Instant::now();
        let result = watcher.next_timeout(Duration::from_secs(60));
        (result.map(|_| ()), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    db.close().unwrap();
    let (result, waited) = waiter.join().unwrap();
    assert!(matches!(result, Err(kvdb::Error::Closed)), "{result:?}");
    assert!(waited < Duration::from_secs(30));
}

#[test]
fn change_streams_can_be_turned_off() {
    let mut options = quiet();
    options.watch_retention_bytes = 0;
    let db = Db::in_memory_with(options).unwrap();
    let err = db.watch_prefix(b"", WATCH_FROM_NOW).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("off"), "{err}");
}
