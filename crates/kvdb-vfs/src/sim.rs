//! An in-memory file system for durability tests.
//!
//! It records, for every file, how many bytes have been synced, and for every
//! directory entry whether its directory has been synced since the entry was
//! created, renamed or removed. [`SimFs::crash`] builds the file system a
//! power failure would leave behind: only durable entries, each file cut to
//! its synced length, optionally with a random part of the unsynced tail
//! kept (a torn write). Writes and syncs can be made to fail on a countdown.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{DirLock, FileBytes, Vfs, WritableFile};

#[derive(Debug, Default, Clone)]
struct SimFile {
    data: Vec<u8>,
    /// Bytes `..synced` are durable.
    synced: usize,
}

/// Fails operations once a countdown runs out, until cleared.
#[derive(Debug, Default, Clone, Copy)]
struct Countdown {
    remaining: Option<u64>,
}

impl Countdown {
    /// True if this operation must fail.
    fn trips(&mut self) -> bool {
        match &mut self.remaining {
            None => false,
            Some(0) => true,
            Some(n) => {
                *n -= 1;
                false
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    files: HashMap<u64, SimFile>,
    /// Directory entries as they are now.
    names: BTreeMap<PathBuf, u64>,
    /// Directory entries as of the last sync of their directory.
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
    write_faults: Countdown,
    sync_faults: Countdown,
    create_faults: Countdown,
    writes: u64,
    syncs: u64,
    /// How long a file sync takes (none by default).
    sync_delay: std::time::Duration,
}

impl State {
    fn file_id(&self, path: &Path) -> io::Result<u64> {
        self.names.get(path).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file", path.display()),
            )
        })
    }

    fn check_dir(&self, path: &Path) -> io::Result<()> {
        let parent = path.parent().unwrap_or(Path::new(""));
        if self.dirs.contains(parent) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory", parent.display()),
            ))
        }
    }
}

/// How [`SimFs::crash`] treats bytes written but not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashOptions {
    /// Keep a random prefix of each file's unsynced tail (a torn write), with
    /// its last kept byte flipped half of the time; otherwise drop it all.
    pub torn_tails: bool,
    /// Seed for the random choices.
    pub seed: u64,
}

/// An in-memory file system with fault injection and crash images.
#[derive(Debug, Default, Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

fn injected(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        format!("injected {what} failure"),
    )
}

struct SimHandle {
    state: Arc<Mutex<State>>,
    id: u64,
}

impl WritableFile for SimHandle {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut s = self.state.lock();
        let fail = s.write_faults.trips();
        s.writes += 1;
        let file = s.files.get_mut(&self.id).expect("open file exists");
        if fail {
            // A failed write may still have written part of its data.
            file.data.extend_from_slice(&buf[..buf.len() / 2]);
            return Err(injected("write"));
        }
        file.data.extend_from_slice(buf);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut s = self.state.lock();
        let fail = s.write_faults.trips();
        s.writes += 1;
        if fail {
            return Err(injected("write"));
        }
        let file = s.files.get_mut(&self.id).expect("open file exists");
        let offset = usize::try_from(offset).map_err(io::Error::other)?;
        if offset < file.synced {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the simulator does not model overwriting synced bytes",
            ));
        }
        let end = offset + buf.len();
        if file.data.len() < end {
            file.data.resize(end, 0);
        }
        file.data[offset..end].copy_from_slice(buf);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.state.lock();
        let fail = s.sync_faults.trips();
        s.syncs += 1;
        let delay = s.sync_delay;
        if fail {
            // A failing sync takes its time too.
            drop(s);
            std::thread::sleep(delay);
            return Err(injected("sync"));
        }
        if !delay.is_zero() {
            // As a disk does: what was written before the sync began is
            // durable once it returns; other calls go on meanwhile.
            let written = s.files.get(&self.id).expect("open file exists").data.len();
            drop(s);
            std::thread::sleep(delay);
            s = self.state.lock();
            let file = s.files.get_mut(&self.id).expect("open file exists");
            file.synced = file.synced.max(written.min(file.data.len()));
            return Ok(());
        }
        let file = s.files.get_mut(&self.id).expect("open file exists");
        file.synced = file.data.len();
        Ok(())
    }
}

struct SimLock {
    state: Arc<Mutex<State>>,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.dir);
    }
}

impl SimFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `n` more writes succeed, then fails every write (a failed append
    /// writes half its data) until [`SimFs::clear_faults`].
    pub fn fail_writes_after(&self, n: u64) {
        self.state.lock().write_faults.remaining = Some(n);
    }

    /// Lets `n` more syncs (of files or directories) succeed, then fails
    /// every sync until [`SimFs::clear_faults`].
    pub fn fail_syncs_after(&self, n: u64) {
        self.state.lock().sync_faults.remaining = Some(n);
    }

    /// Lets `n` more file creations succeed, then fails every creation
    /// (as when no file descriptor is left) until [`SimFs::clear_faults`].
    pub fn fail_creates_after(&self, n: u64) {
        self.state.lock().create_faults.remaining = Some(n);
    }

    /// Makes every file sync from now on take `delay`, as a disk's flush
    /// does (none by default): writers that arrive meanwhile can share the
    /// next sync, whatever the scheduler does.
    pub fn set_sync_delay(&self, delay: std::time::Duration) {
        self.state.lock().sync_delay = delay;
    }

    /// Stops injecting failures.
    pub fn clear_faults(&self) {
        let mut s = self.state.lock();
        s.write_faults = Countdown::default();
        s.sync_faults = Countdown::default();
        s.create_faults = Countdown::default();
    }

    /// Write calls made so far (failed ones included).
    pub fn writes(&self) -> u64 {
        self.state.lock().writes
    }

    /// Sync calls made so far (failed ones included).
    pub fn syncs(&self) -> u64 {
        self.state.lock().syncs
    }

    /// The file system a power failure at this instant would leave.
    pub fn crash(&self, options: CrashOptions) -> SimFs {
        let s = self.state.lock();
        let mut rng = options.seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut image = State {
            dirs: s.dirs.clone(),
            ..State::default()
        };
        for (path, id) in &s.durable_names {
            let file = &s.files[id];
            let mut data = file.data[..file.synced].to_vec();
            let unsynced = &file.data[file.synced..];
            if options.torn_tails && !unsynced.is_empty() {
                let keep = (next() % (unsynced.len() as u64 + 1)) as usize;
                data.extend_from_slice(&unsynced[..keep]);
                if keep > 0 && next() % 2 == 0 {
                    *data.last_mut().expect("kept a byte") ^= 0x5a;
                }
            }
            let new_id = image.next_id;
            image.next_id += 1;
            let synced = data.len();
            image.files.insert(new_id, SimFile { data, synced });
            image.names.insert(path.clone(), new_id);
            image.durable_names.insert(path.clone(), new_id);
        }
        SimFs {
            state: Arc::new(Mutex::new(image)),
        }
    }

    /// Changes a file's bytes in place (its whole new content counts as
    /// durable): for corruption tests.
    pub fn modify(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let mut s = self.state.lock();
        let id = s.file_id(path)?;
        let file = s.files.get_mut(&id).expect("named file exists");
        f(&mut file.data);
        file.synced = file.data.len();
        Ok(())
    }
}

impl Vfs for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        for ancestor in dir.ancestors() {
            s.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.state.lock();
        if !s.dirs.contains(dir) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok(s.names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut s = self.state.lock();
        s.check_dir(path)?;
        if s.create_faults.trips() {
            return Err(io::Error::other(
                "injected create failure: too many open files",
            ));
        }
        if s.names.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        let id = s.next_id;
        s.next_id += 1;
        s.files.insert(id, SimFile::default());
        s.names.insert(path.to_path_buf(), id);
        Ok(Box::new(SimHandle {
            state: Arc::clone(&self.state),
            id,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<FileBytes> {
        let s = self.state.lock();
        let id = s.file_id(path)?;
        Ok(FileBytes::owned(s.files[&id].data.clone()))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.state.lock();
        let id = s.file_id(path)?;
        let file = s.files.get_mut(&id).expect("named file exists");
        let len = usize::try_from(len).map_err(io::Error::other)?;
        file.data.resize(len, 0);
        file.synced = len;
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.check_dir(to)?;
        let id = s.file_id(from)?;
        s.names.remove(from);
        s.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.file_id(path)?;
        s.names.remove(path);
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let id = s.file_id(path)?;
        let fail = s.sync_faults.trips();
        s.syncs += 1;
        if fail {
            return Err(injected("sync"));
        }
        let file = s.files.get_mut(&id).expect("named file exists");
        file.synced = file.data.len();
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        let fail = s.sync_faults.trips();
        s.syncs += 1;
        if fail {
            return Err(injected("directory sync"));
        }
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        s.durable_names.retain(|p, _| !in_dir(p));
        let current: Vec<_> = s
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        s.durable_names.extend(current);
        Ok(())
    }

    fn lock(&self, dir: &Path) -> io::Result<DirLock> {
        let mut s = self.state.lock();
        if !s.locks.insert(dir.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked", dir.display()),
            ));
        }
        Ok(DirLock::new(Box::new(SimLock {
            state: Arc::clone(&self.state),
            dir: dir.to_path_buf(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (SimFs, PathBuf) {
        let fs = SimFs::new();
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        (fs, dir)
    }

    const DROP: CrashOptions = CrashOptions {
        torn_tails: false,
        seed: 1,
    };

    #[test]
    fn crash_keeps_only_synced_bytes_of_durable_entries() {
        let (fs, dir) = setup();
        let mut a = fs.create(&dir.join("a")).unwrap();
        a.append(b"durable").unwrap();
        a.sync().unwrap();
        a.append(b" lost").unwrap();
        fs.sync_dir(&dir).unwrap();
        let mut b = fs.create(&dir.join("b")).unwrap();
        b.append(b"synced but entry not").unwrap();
        b.sync().unwrap();
        let image = fs.crash(DROP);
        assert_eq!(&*image.read(&dir.join("a")).unwrap(), b"durable");
        assert_eq!(
            image.read(&dir.join("b")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            &*fs.read(&dir.join("a")).unwrap(),
            b"durable lost",
            "the live system is unchanged"
        );
    }

    #[test]
    fn syncing_a_file_by_name_makes_what_it_holds_durable() {
        let (fs, dir) = setup();
        let mut a = fs.create(&dir.join("a")).unwrap();
        a.append(b"written").unwrap();
        fs.sync_dir(&dir).unwrap();
        drop(a);
        assert_eq!(&*fs.crash(DROP).read(&dir.join("a")).unwrap(), b"");
        fs.sync_file(&dir.join("a")).unwrap();
        assert_eq!(&*fs.crash(DROP).read(&dir.join("a")).unwrap(), b"written");
        fs.fail_syncs_after(0);
        assert!(fs.sync_file(&dir.join("a")).is_err());
        assert_eq!(
            fs.sync_file(&dir.join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn renames_and_removals_need_a_directory_sync() {
        let (fs, dir) = setup();
        let mut f = fs.create(&dir.join("tmp")).unwrap();
        f.append(b"x").unwrap();
        f.sync().unwrap();
        fs.sync_dir(&dir).unwrap();
        fs.rename(&dir.join("tmp"), &dir.join("final")).unwrap();
        let before_sync = fs.crash(DROP);
        assert_eq!(before_sync.list(&dir).unwrap(), vec!["tmp".to_owned()]);
        fs.sync_dir(&dir).unwrap();
        assert_eq!(fs.crash(DROP).list(&dir).unwrap(), vec!["final".to_owned()]);
        fs.remove(&dir.join("final")).unwrap();
        assert_eq!(fs.crash(DROP).list(&dir).unwrap(), vec!["final".to_owned()]);
        fs.sync_dir(&dir).unwrap();
        assert!(fs.crash(DROP).list(&dir).unwrap().is_empty());
    }

    #[test]
    fn torn_tails_keep_a_prefix_of_unsynced_bytes() {
        let (fs, dir) = setup();
        let mut f = fs.create(&dir.join("log")).unwrap();
        f.append(b"base").unwrap();
        f.sync().unwrap();
        fs.sync_dir(&dir).unwrap();
        f.append(&[7u8; 100]).unwrap();
        let mut lengths = BTreeSet::new();
        for seed in 0..50 {
            let image = fs.crash(CrashOptions {
                torn_tails: true,
                seed,
            });
            let data = image.read(&dir.join("log")).unwrap();
            assert!(data.starts_with(b"base"));
            assert!(data.len() <= 104);
            lengths.insert(data.len());
        }
        assert!(lengths.len() > 5, "torn lengths vary: {lengths:?}");
    }

    #[test]
    fn faults_trip_after_the_countdown_and_stay_until_cleared() {
        let (fs, dir) = setup();
        let mut f = fs.create(&dir.join("f")).unwrap();
        fs.fail_writes_after(2);
        f.append(b"1").unwrap();
        f.append(b"2").unwrap();
        assert_eq!(
            f.append(b"3456").unwrap_err().kind(),
            io::ErrorKind::StorageFull
        );
        assert!(f.append(b"7").is_err());
        assert_eq!(
            &*fs.read(&dir.join("f")).unwrap(),
            b"1234",
            "a failed write leaves half"
        );
        fs.clear_faults();
        f.append(b"8").unwrap();
        fs.fail_syncs_after(0);
        assert!(f.sync().is_err());
        assert!(fs.sync_dir(&dir).is_err());
        assert_eq!(fs.writes(), 5);
        assert_eq!(fs.syncs(), 2);
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let (fs, dir) = setup();
        let lock = fs.lock(&dir).unwrap();
        assert_eq!(fs.lock(&dir).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(lock);
        fs.lock(&dir).unwrap();
    }

    #[test]
    fn creating_in_a_missing_directory_fails() {
        let fs = SimFs::new();
        assert_eq!(
            fs.create(Path::new("/nope/f")).err().unwrap().kind(),
            io::ErrorKind::NotFound
        );
    }
}
