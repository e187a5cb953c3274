//! The contents of a whole file, memory-mapped or owned.

use std::ops::Deref;

/// The contents of a file, read by [`crate::Vfs::read`].
pub struct FileBytes {
    inner: Inner,
}

enum Inner {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl FileBytes {
    /// Bytes held in memory.
    pub fn owned(bytes: Vec<u8>) -> Self {
        Self {
            inner: Inner::Owned(bytes),
        }
    }

    /// A memory map of a file.
    pub fn mapped(map: memmap2::Mmap) -> Self {
        Self {
            inner: Inner::Mapped(map),
        }
    }
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            Inner::Owned(v) => v,
            Inner::Mapped(m) => m,
        }
    }
}

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileBytes({} bytes)", self.len())
    }
}
