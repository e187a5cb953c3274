//! A view reads the clock under the registry's lock, so it can never be
//! registered with a time older than a horizon that expiry already used:
//! what a view sees as live at its own time is still there to be read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvdb_core::{Clock, ExpireConfig, Op, Store};

/// A manual clock whose next reading, once armed, pauses the reading thread
/// (after taking the time) until the test lets it go.
#[derive(Debug)]
struct GatedClock {
    now: AtomicU64,
    armed: AtomicBool,
    paused: Mutex<Option<mpsc::SyncSender<()>>>,
    resume: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Clock for GatedClock {
    fn now_ms(&self) -> u64 {
        let now = self.now.load(Ordering::SeqCst);
        if self.armed.swap(false, Ordering::SeqCst) {
            if let Some(paused) = self.paused.lock().unwrap().take() {
                paused.send(()).unwrap();
            }
            if let Some(resume) = self.resume.lock().unwrap().take() {
                resume.recv().unwrap();
            }
        }
        now
    }
}

#[test]
fn expiry_never_reclaims_what_a_view_being_registered_still_sees() {
    let (paused_tx, paused_rx) = mpsc::sync_channel(1);
    let (resume_tx, resume_rx) = mpsc::sync_channel(1);
    let clock = Arc::new(GatedClock {
        now: AtomicU64::new(1_000),
        armed: AtomicBool::new(false),
        paused: Mutex::new(Some(paused_tx)),
        resume: Mutex::new(Some(resume_rx)),
    });
    let store = Store::with_clock(clock.clone());
    store
        .write(&[Op::Put {
            key: b"k",
            value: b"v",
            expires_at: Some(1_001),
        }])
        .unwrap();
    clock.armed.store(true, Ordering::SeqCst);
    std::thread::scope(|s| {
        // The view reads the time (1,000: "k" is live) and pauses there.
        let viewer = s.spawn(|| store.snapshot());
        paused_rx.recv().unwrap();
        clock.now.store(1_002, Ordering::SeqCst);
        // Meanwhile the expiry cycle runs at 1,002, when "k" has expired.
        let (done_tx, done_rx) = mpsc::channel();
        let store = &store;
        let expirer = s.spawn(move || {
            let report = store.active_expire_cycle(&ExpireConfig::default());
            done_tx.send(()).unwrap();
            report
        });
        // With the time read outside the registry's lock the cycle finishes
        // now and reclaims "k"; under the lock it waits for the view.
        let _ = done_rx.recv_timeout(Duration::from_millis(500));
        resume_tx.send(()).unwrap();
        let view = viewer.join().unwrap();
        expirer.join().unwrap();
        assert_eq!(view.time_ms(), 1_000);
        assert_eq!(
            view.get(b"k").unwrap(),
            Some(b"v".to_vec()),
            "a view at time 1,000 sees the key that expires at 1,001"
        );
    });
}
