//! The real file system.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use crate::{DirLock, FileBytes, Vfs, WritableFile};

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

struct StdFile {
    file: File,
}

impl WritableFile for StdFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// The name of the lock file kept in a locked directory.
pub const LOCK_FILE: &str = "LOCK";

impl Vfs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        match fs::metadata(dir) {
            Ok(m) if !m.is_dir() => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} exists and is not a directory", dir.display()),
            )),
            _ => fs::create_dir_all(dir),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file()
                && let Ok(name) = entry.file_name().into_string()
            {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(StdFile { file }))
    }

    fn read(&self, path: &Path) -> io::Result<FileBytes> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(FileBytes::owned(Vec::new()));
        }
        // SAFETY: kvdb maps only files it no longer writes (closed log
        // segments, renamed snapshot files) in a directory it holds the lock
        // of. Another program changing the file meanwhile would break this;
        // that is outside what kvdb supports.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(FileBytes::mapped(map))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        // fsync flushes the file, not the descriptor: a read-only one does.
        File::open(path)?.sync_data()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    /// Locks the directory itself and its `LOCK` file, both with
    /// `flock(LOCK_EX | LOCK_NB)`. The directory's lock is the one that
    /// counts: deleting or replacing the `LOCK` file of an open database
    /// does not let a second opener in. The `LOCK` file is locked too, so
    /// that builds which lock only it still see the database as open; after
    /// locking it, its inode is compared with the one at the path, and a
    /// file replaced in between is locked anew.
    fn lock(&self, dir: &Path) -> io::Result<DirLock> {
        let directory = File::open(dir)?;
        try_lock(&directory, dir)?;
        let path = dir.join(LOCK_FILE);
        for _ in 0..8 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            try_lock(&file, dir)?;
            let (held, named) = (file.metadata()?, fs::metadata(&path));
            if named.is_ok_and(|n| n.dev() == held.dev() && n.ino() == held.ino()) {
                return Ok(DirLock::new(Box::new((directory, file))));
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("the lock file of {} keeps being replaced", dir.display()),
        ))
    }
}

/// Takes an exclusive, non-blocking `flock` on `file`.
fn try_lock(file: &File, dir: &Path) -> io::Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("{} is locked by another handle", dir.display()),
        )),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs;
        let path = dir.path().join("a");
        let mut f = fs.create(&path).unwrap();
        f.append(b"hello world").unwrap();
        f.write_at(0, b"J").unwrap();
        f.sync().unwrap();
        assert!(fs.create(&path).is_err(), "create refuses an existing file");
        assert_eq!(&*fs.read(&path).unwrap(), b"Jello world");
        fs.sync_file(&path).unwrap();
        fs.truncate(&path, 5).unwrap();
        assert_eq!(&*fs.read(&path).unwrap(), b"Jello");
        fs.rename(&path, &dir.path().join("b")).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        let lock = fs.lock(dir.path()).unwrap();
        assert_eq!(
            fs.lock(dir.path()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        drop(lock);
        let _again = fs.lock(dir.path()).unwrap();
        assert_eq!(
            fs.list(dir.path()).unwrap(),
            vec!["LOCK".to_owned(), "b".to_owned()]
        );
        fs.remove(&dir.path().join("b")).unwrap();
        assert_eq!(&*fs.read(&dir.path().join(LOCK_FILE)).unwrap(), b"");
    }
}
