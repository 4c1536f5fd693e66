//! Where session logs keep their bytes: in memory while the sandbox's log budget allows, then in
//! files on the host. One sandbox's logs share one [`LogBudget`]; a log stream that would push
//! the sandbox's in-memory total past it moves to a file ("spills") and grows there. Spill files
//! live in a directory only the server can enter (0700) and are unlinked as soon as they are
//! open, so they vanish with the log that owns them (its command, session or sandbox gone, or
//! the server ended) and no other process can open them. Past the sandbox's disk budget a log
//! takes no more output and says so.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Most log bytes one sandbox keeps in server memory (the rest spills to files).
pub(crate) const MEMORY_BUDGET: usize = 16 << 20;
/// Most log bytes one sandbox keeps in spill files.
pub(crate) const DISK_BUDGET: usize = 1 << 30;
/// Most bytes one read of a log returns (a follower reads on).
pub(crate) const READ_LIMIT: usize = 1 << 20;

/// The log budget of one sandbox: what its logs hold in memory and on disk, and where they
/// spill.
#[derive(Debug)]
pub(crate) struct LogBudget {
    memory_limit: usize,
    disk_limit: usize,
    memory: AtomicUsize,
    disk: AtomicUsize,
    /// The directory spill files are made in; `None`: logs never spill (they are cut instead).
    spill: Option<Arc<SpillDir>>,
}

impl LogBudget {
    pub(crate) fn new(memory_limit: usize, disk_limit: usize, spill: Option<Arc<SpillDir>>) -> LogBudget {
        LogBudget { memory_limit, disk_limit, memory: AtomicUsize::new(0), disk: AtomicUsize::new(0), spill }
    }

    /// No limits and no spilling (a log on its own, as in tests).
    pub(crate) fn unbounded() -> LogBudget {
        LogBudget::new(usize::MAX, 0, None)
    }

    /// Log bytes held in memory now (allocated capacity, not just length).
    #[cfg(test)]
    pub(crate) fn in_memory(&self) -> usize {
        self.memory.load(Ordering::SeqCst)
    }

    /// Log bytes held in spill files now.
    #[cfg(test)]
    pub(crate) fn on_disk(&self) -> usize {
        self.disk.load(Ordering::SeqCst)
    }

    fn charge(counter: &AtomicUsize, limit: usize, bytes: usize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                held.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }
}

/// The server-owned directory spill files are made in, created (0700) when first needed.
#[derive(Debug)]
pub(crate) struct SpillDir {
    wanted: PathBuf,
    ready: OnceLock<Option<PathBuf>>,
}

impl SpillDir {
    pub(crate) fn new(wanted: PathBuf) -> SpillDir {
        SpillDir { wanted, ready: OnceLock::new() }
    }

    /// The directory, made private to the server; `None` when it cannot be (logs are cut then).
    fn path(&self) -> Option<&Path> {
        self.ready
            .get_or_init(|| match private_dir(&self.wanted) {
                Ok(()) => Some(self.wanted.clone()),
                Err(error) => {
                    tracing::error!(dir = %self.wanted.display(), %error, "session logs cannot spill to disk");
                    None
                }
            })
            .as_deref()
    }

    /// A new spill file: created exclusively (0600), then unlinked at once. A directory removed
    /// meanwhile (a tmp cleaner) is made again.
    fn file(&self) -> std::io::Result<File> {
        let dir = self.path().ok_or_else(|| std::io::Error::other("no spill directory"))?;
        match SpillDir::create_in(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                private_dir(dir)?;
                SpillDir::create_in(dir)
            }
            other => other,
        }
    }

    fn create_in(dir: &Path) -> std::io::Result<File> {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|e| std::io::Error::other(e.to_string()))?;
        let name: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!("log-{name}"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(file)
    }
}

/// Makes `dir` (and its parents) and checks it is a real directory of this user that nobody
/// else may enter; an existing one with looser permissions is tightened, one of another owner
/// (or a link) refused.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(std::io::Error::other("the spill directory is not a directory of the server's own user"));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The bytes of one log stream: in memory, or in a spill file once the budget ran out.
#[derive(Debug)]
pub(crate) struct Buffer {
    budget: Arc<LogBudget>,
    memory: Vec<u8>,
    file: Option<File>,
    len: usize,
}

impl Buffer {
    pub(crate) fn new(budget: Arc<LogBudget>) -> Buffer {
        Buffer { budget, memory: Vec::new(), file: None, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds `bytes`; false (and nothing kept) when neither memory nor disk has room.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return true;
        }
        if self.file.is_none() {
            let needed = self.memory.len() + bytes.len();
            let capacity = self.memory.capacity();
            if needed <= capacity {
                self.memory.extend_from_slice(bytes);
                self.len = self.memory.len();
                return true;
            }
            let grown = needed.max(capacity * 2).max(4096);
            if LogBudget::charge(&self.budget.memory, self.budget.memory_limit, grown - capacity) {
                self.memory.reserve_exact(grown - self.memory.len());
                self.memory.extend_from_slice(bytes);
                self.len = self.memory.len();
                return true;
            }
            if !self.spill() {
                return false;
            }
        }
        if !LogBudget::charge(&self.budget.disk, self.budget.disk_limit, bytes.len()) {
            return false;
        }
        let written = self.file.as_ref().is_some_and(|file| file.write_all_at(bytes, self.len as u64).is_ok());
        if written {
            self.len += bytes.len();
        } else {
            self.budget.disk.fetch_sub(bytes.len(), Ordering::SeqCst);
        }
        written
    }

    /// Moves the bytes in memory to a new spill file.
    fn spill(&mut self) -> bool {
        let Some(dir) = self.budget.spill.clone() else { return false };
        if !LogBudget::charge(&self.budget.disk, self.budget.disk_limit, self.memory.len()) {
            return false;
        }
        let moved = dir.file().and_then(|file| file.write_all_at(&self.memory, 0).map(|()| file));
        match moved {
            Ok(file) => {
                self.file = Some(file);
                self.release_memory();
                true
            }
            Err(error) => {
                tracing::warn!(%error, "a session log could not spill to disk");
                self.budget.disk.fetch_sub(self.memory.len(), Ordering::SeqCst);
                false
            }
        }
    }

    fn release_memory(&mut self) {
        self.budget.memory.fetch_sub(self.memory.capacity(), Ordering::SeqCst);
        self.memory = Vec::new();
    }

    /// At most `max` bytes from byte `from` on (empty when nothing is there).
    pub(crate) fn read(&self, from: usize, max: usize) -> Vec<u8> {
        let end = self.len.min(from.saturating_add(max));
        if from >= end {
            return Vec::new();
        }
        match &self.file {
            None => self.memory[from..end].to_vec(),
            Some(file) => {
                let mut bytes = vec![0u8; end - from];
                match file.read_exact_at(&mut bytes, from as u64) {
                    Ok(()) => bytes,
                    Err(error) => {
                        tracing::error!(%error, "a spilled session log could not be read back");
                        Vec::new()
                    }
                }
            }
        }
    }

    /// Everything.
    pub(crate) fn all(&self) -> Vec<u8> {
        self.read(0, self.len)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.release_memory();
        if self.file.is_some() {
            self.budget.disk.fetch_sub(self.len, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_spills_past_the_memory_budget_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Arc::new(SpillDir::new(dir.path().join("spill")));
        let budget = Arc::new(LogBudget::new(64 << 10, 1 << 20, Some(spill)));
        let mut small = Buffer::new(Arc::clone(&budget));
        let mut big = Buffer::new(Arc::clone(&budget));
        assert!(small.append(b"kept in memory"));
        let chunk: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        for _ in 0..50 {
            assert!(big.append(&chunk));
        }
        assert!(budget.in_memory() <= 64 << 10, "{} bytes in memory", budget.in_memory());
        assert_eq!(budget.on_disk(), 500_000);
        assert_eq!(small.all(), b"kept in memory");
        assert_eq!(big.all(), chunk.repeat(50));
        assert_eq!(big.read(9_990, 20), [&chunk[9_990..], &chunk[..10]].concat());
        assert_eq!(big.read(500_000, 10), b"");
        // The spill directory is private and holds no names: the file was unlinked when opened.
        let meta = std::fs::metadata(dir.path().join("spill")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        assert_eq!(std::fs::read_dir(dir.path().join("spill")).unwrap().count(), 0);
        drop((small, big));
        assert_eq!((budget.in_memory(), budget.on_disk()), (0, 0), "dropped logs give their budget back");
    }

    #[test]
    fn past_the_disk_budget_a_buffer_takes_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let budget = Arc::new(LogBudget::new(4096, 10_000, Some(Arc::new(SpillDir::new(dir.path().to_path_buf())))));
        let mut buffer = Buffer::new(Arc::clone(&budget));
        assert!(buffer.append(&[b'a'; 6_000]));
        assert!(!buffer.append(&[b'b'; 6_000]), "the disk budget is 10,000 bytes");
        assert!(buffer.append(&[b'c'; 4_000]));
        assert_eq!(buffer.len(), 10_000);
        let unspillable = Arc::new(LogBudget::new(4096, 1 << 20, None));
        assert!(!Buffer::new(unspillable).append(&[b'a'; 5_000]), "without a spill directory past memory is refused");
    }
}
