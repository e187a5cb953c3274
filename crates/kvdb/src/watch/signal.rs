//! Waking a watcher: a flag writers raise when a change it may want is
//! published, a condition variable for a blocked `next`, and on request an
//! eventfd for event loops.
//!
//! The flag is the single source of truth. A writer raises it and wakes the
//! watcher only on the transition from clear to raised, and only reads it
//! while it is already raised, so a watcher that keeps up (and so does not
//! clear it) costs writers no write to a shared cache line. The watcher
//! clears it only after finding nothing to deliver, and then looks once
//! more, so a commit that lands between the look and the clear is never
//! missed.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// The wake-up state of one watcher.
#[derive(Default)]
pub(crate) struct Signal {
    /// Raised by a writer; cleared by the watcher when it has nothing left.
    pending: AtomicBool,
    /// The watcher is (about to be) blocked in [`Signal::wait_until`].
    waiting: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    fd: OnceLock<EventFd>,
}

impl Signal {
    /// Marks changes as pending and wakes the watcher if it was idle. Called
    /// after the change is published.
    pub(crate) fn raise(&self) {
        // The caller published the change with a SeqCst read-modify-write
        // (`Store::publish`) before this SeqCst load; `clear` stores the
        // flag and then fences (SeqCst) before the watcher looks again. If
        // the publish precedes that fence in the single total order, the
        // watcher's look sees the change; otherwise the fence precedes this
        // load, which then sees the flag cleared and raises it.
        if self.pending.load(Ordering::SeqCst) || self.pending.swap(true, Ordering::SeqCst) {
            return;
        }
        // SeqCst on both sides: either the watcher sees `pending` before it
        // blocks, or this sees `waiting` and wakes it under the lock.
        if self.waiting.load(Ordering::SeqCst) {
            let _held = self.lock.lock();
            self.wake.notify_all();
        }
        if let Some(fd) = self.fd.get() {
            fd.raise();
        }
    }

    /// Marks nothing as pending; the caller looks for changes once more
    /// afterwards.
    pub(crate) fn clear(&self) {
        self.pending.store(false, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if let Some(fd) = self.fd.get() {
            fd.drain();
        }
    }

    /// Blocks until the signal is raised or `deadline` passes; true if it
    /// was raised.
    pub(crate) fn wait_until(&self, deadline: Instant) -> bool {
        let mut held = self.lock.lock();
        self.waiting.store(true, Ordering::SeqCst);
        while !self.pending.load(Ordering::SeqCst) {
            if self.wake.wait_until(&mut held, deadline).timed_out() {
                break;
            }
        }
        self.waiting.store(false, Ordering::SeqCst);
        self.pending.load(Ordering::SeqCst)
    }

    /// A file descriptor that is readable while the signal is raised,
    /// created on first use.
    pub(crate) fn fd(&self) -> io::Result<RawFd> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.as_raw_fd());
        }
        let created = EventFd::new()?;
        // Another thread may have won the race; the loser's fd is closed.
        let _ = self.fd.set(created);
        let fd = self.fd.get().expect("set above");
        if self.pending.load(Ordering::SeqCst) {
            fd.raise();
        }
        Ok(fd.as_raw_fd())
    }
}

/// A non-blocking Linux eventfd, closed on drop.
struct EventFd(OwnedFd);

impl EventFd {
    fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new
        // descriptor this process owns and nothing else closes.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by no one else.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the descriptor readable. A full counter (after 2^64 - 2 raises
    /// without a drain) already reads as readable, so a failure is moot.
    fn raise(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to a descriptor we own.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    /// Makes the descriptor unreadable (EAGAIN when already so is fine).
    fn drain(&self) {
        let mut count = 0u64;
        // SAFETY: reads at most 8 bytes into a live u64 from a descriptor we own.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), (&raw mut count).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn readable(fd: RawFd) -> bool {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    }

    #[test]
    fn the_fd_is_readable_exactly_while_raised() {
        let signal = Signal::default();
        let fd = signal.fd().unwrap();
        assert!(!readable(fd));
        signal.raise();
        assert!(readable(fd));
        signal.raise();
        signal.clear();
        assert!(!readable(fd));
    }

    #[test]
    fn an_fd_made_while_raised_starts_readable() {
        let signal = Signal::default();
        signal.raise();
        assert!(readable(signal.fd().unwrap()));
    }

    #[test]
    fn a_raise_from_another_thread_ends_the_wait() {
        let signal = Arc::new(Signal::default());
        let raiser = Arc::clone(&signal);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            raiser.raise();
        });
        assert!(signal.wait_until(Instant::now() + Duration::from_secs(30)));
        thread.join().unwrap();
        signal.clear();
        assert!(!signal.wait_until(Instant::now() + Duration::from_millis(5)));
    }
}
