//! Background threads owned by a database: each runs one job at a fixed
//! interval until stopped, and is joined when the database closes.
//!
//! The threads sleep on `std::sync` primitives, not `parking_lot`'s:
//! `parking_lot` keeps its sleepers in one process-wide table, and a thread
//! asleep there when the process forks leaves an entry behind in the
//! child's copy of the table that no thread owns, which breaks the next
//! thread to sleep in that slot of the table (seen: a child that opens a
//! database of its own after `fork()`). Background threads sleep almost all
//! the time, so theirs would nearly always be there; `std`'s condition
//! variable sleeps on its own address and leaves nothing shared behind.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Default)]
struct StopSignal {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    stopped: bool,
    /// A run was asked for since the last one began.
    nudged: bool,
}

impl StopSignal {
    /// The flags; a panic elsewhere while holding them cannot leave them
    /// torn.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wakes a worker to run its job now, from any thread.
#[derive(Clone)]
pub(crate) struct Nudge(Arc<StopSignal>);

impl Nudge {
    /// Runs the job now if the worker is asleep; if it is running the job,
    /// runs it again as soon as that run ends.
    pub(crate) fn nudge(&self) {
        let mut state = self.0.lock();
        if !state.nudged {
            state.nudged = true;
            self.0.wake.notify_all();
        }
    }
}

/// A named thread running a job periodically.
pub(crate) struct Worker {
    name: String,
    signal: Arc<StopSignal>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts a thread that calls `job` every `interval` until stopped. A
    /// panic in `job` ends the thread and is reported by [`Worker::stop`].
    pub(crate) fn spawn(
        name: &str,
        interval: Duration,
        mut job: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Self> {
        let signal = Arc::new(StopSignal::default());
        let thread_signal = Arc::clone(&signal);
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut state = thread_signal.lock();
                while !state.stopped {
                    if !state.nudged {
                        state = thread_signal
                            .wake
                            .wait_timeout(state, interval)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    if state.stopped {
                        break;
                    }
                    state.nudged = false;
                    drop(state);
                    job();
                    state = thread_signal.lock();
                }
            })?;
        Ok(Self {
            name: name.to_owned(),
            signal,
            handle: Some(handle),
        })
    }

    /// A handle that wakes the thread to run its job now.
    pub(crate) fn nudge_handle(&self) -> Nudge {
        Nudge(Arc::clone(&self.signal))
    }

    /// Stops the thread and waits for it; reports whether its job panicked.
    pub(crate) fn stop(&mut self) -> Result<(), String> {
        self.signal.lock().stopped = true;
        self.signal.wake.notify_all();
        match self.handle.take() {
            Some(handle) => handle
                .join()
                .map_err(|_| format!("background thread {} panicked", self.name)),
            None => Ok(()),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    #[test]
    fn worker_runs_periodically_and_stops_promptly() {
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        let mut w = Worker::spawn("test-worker", Duration::from_millis(5), move || {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        while count.load(Ordering::Relaxed) < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        w.stop().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        let after = count.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            count.load(Ordering::Relaxed),
            after,
            "no job runs after stop"
        );
    }

    #[test]
    fn a_nudge_while_the_job_runs_runs_it_again_at_once() {
        let runs = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let counted = Arc::clone(&runs);
        let mut w = Worker::spawn("nudged", Duration::from_secs(3600), move || {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
            }
        })
        .unwrap();
        let nudge = w.nudge_handle();
        nudge.nudge();
        started_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the first nudge ran the job");
        nudge.nudge(); // while the first run is under way
        go_tx.send(()).unwrap();
        let started = Instant::now();
        while runs.load(Ordering::SeqCst) < 2 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the nudge was lost: no second run within the hour's interval"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        w.stop().unwrap();
    }

    #[test]
    fn a_panicking_job_is_reported_at_stop() {
        let mut w = Worker::spawn("panicky", Duration::from_millis(1), || panic!("boom")).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let err = w.stop().unwrap_err();
        assert!(err.contains("panicky"), "{err}");
    }
}
