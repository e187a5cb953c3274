//! Background threads owned by a database: each runs one job at a fixed
//! interval until stopped, and is joined when the database closes.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
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
                let mut stopped = thread_signal.stopped.lock();
                while !*stopped {
                    thread_signal.wake.wait_for(&mut stopped, interval);
                    if *stopped {
                        break;
                    }
                    drop(stopped);
                    job();
                    stopped = thread_signal.stopped.lock();
                }
            })?;
        Ok(Self {
            name: name.to_owned(),
            signal,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it; reports whether its job panicked.
    pub(crate) fn stop(&mut self) -> Result<(), String> {
        *self.signal.stopped.lock() = true;
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
    fn a_panicking_job_is_reported_at_stop() {
        let mut w = Worker::spawn("panicky", Duration::from_millis(1), || panic!("boom")).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let err = w.stop().unwrap_err();
        assert!(err.contains("panicky"), "{err}");
    }
}
