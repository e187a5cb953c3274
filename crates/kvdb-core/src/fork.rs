//! Knowing whether this process is a `fork()` child of the process that
//! made a handle.
//!
//! A child inherits a copy of the parent's memory, including every open
//! database, but none of its threads: a lock a parent thread held at the
//! moment of the fork stays held forever in the child, background threads
//! are gone, and file descriptors still point at the parent's files. A child
//! that used an inherited database would write into the parent's log or
//! deadlock. So every store records the *fork generation* it was made in: a
//! counter that a `pthread_atfork` child handler increments in each child.
//! An inherited handle sees a different generation and refuses to work; it
//! can only be dropped, which then touches no lock and no file.
//!
//! The check is one relaxed atomic load. The handler is registered once per
//! process, when the first token is made; the library is linked with
//! `-z nodelete`, so the handler's code is never unmapped by `dlclose`.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// Incremented in every child process right after `fork()`.
static GENERATION: AtomicU64 = AtomicU64::new(0);

static REGISTER: Once = Once::new();

extern "C" fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

fn register() {
    REGISTER.call_once(|| {
        // SAFETY: `after_fork_in_child` is a plain function with the C ABI
        // that only touches an atomic, which is async-signal-safe and so
        // allowed in a fork handler; the two other handlers are absent.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        // pthread_atfork fails only with ENOMEM; without the handler, forks
        // go undetected, which is the behaviour before this module existed.
        debug_assert_eq!(rc, 0, "pthread_atfork failed");
    });
}

/// The fork generation a handle was made in.
#[derive(Debug, Clone, Copy)]
pub struct ProcessToken {
    generation: u64,
}

impl ProcessToken {
    /// A token for the calling process.
    pub fn current() -> Self {
        register();
        Self {
            generation: GENERATION.load(Ordering::Relaxed),
        }
    }

    /// True if this process is a `fork()` child of the one that made the
    /// token (or a descendant of such a child).
    #[inline]
    pub fn is_inherited(&self) -> bool {
        GENERATION.load(Ordering::Relaxed) != self.generation
    }
}

impl Default for ProcessToken {
    fn default() -> Self {
        Self::current()
    }
}
