//! File backing of the devnet ledger, shared safely by several processes.
//!
//! Every node of a local devnet (proxy, clients, workers, `cocoon devnet status`) is its own
//! OS process with its own [`super::DevnetLedger`] on the same JSON file. Each operation runs
//! under an advisory lock on a sidecar file `<file>.lock` (exclusive for writes, shared for
//! reads; `flock`-style, so two handles in one process exclude each other too):
//!
//! 1. lock; 2. reload the state if the file changed since this handle last saw it;
//! 3. apply the operation to a copy; 4. write `<file>.tmp`, fsync, rename over the file,
//!    fsync the directory; 5. record the new generation in the lock file; 6. unlock.
//!
//! Change detection is cheap: the lock file holds the state's `generation` counter (8 bytes,
//! little endian) that every writer bumps, and the state file's identity (device, inode,
//! length, modification time) is compared as well, so a hand-edited file is also picked up.
//! An unchanged file costs a lock, an 8-byte read, a `stat` and an unlock.
//!
//! Do not delete the lock file while processes use the devnet: a new lock file would not
//! exclude handles that still hold the old one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{storage, DevnetState, DEVNET_FORMAT};
use crate::ledger::LedgerError;

/// What a handle knew about the files when it last loaded or wrote the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    lock_generation: u64,
    device: u64,
    inode: u64,
    len: u64,
    modified_ns: i128,
}

/// The devnet state file, its lock file, and what this handle last saw of them.
pub(super) struct FileStore {
    lock_file: File,
    state_file: StateFile,
}

struct StateFile {
    path: PathBuf,
    seen: Option<Fingerprint>,
}

/// Lock kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LockMode {
    /// Readers.
    Shared,
    /// A writer.
    Exclusive,
}

/// The store while this handle holds the advisory lock; unlocks when dropped.
pub(super) struct Locked<'a> {
    lock_file: &'a File,
    state_file: &'a mut StateFile,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.lock_file.unlock() {
            tracing::warn!(error = %e, "devnet: unlocking the ledger lock file failed");
        }
    }
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

fn modified_ns(meta: &std::fs::Metadata) -> i128 {
    let Ok(modified) = meta.modified() else {
        return 0;
    };
    match modified.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

fn read_lock_generation(lock_file: &File) -> Result<u64, LedgerError> {
    let mut file = lock_file;
    file.seek(SeekFrom::Start(0)).map_err(storage)?;
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while let Some(rest) = bytes.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match file.read(rest).map_err(storage)? {
            0 => break,
            n => filled += n,
        }
    }
    // A fresh (empty) lock file reads as generation 0.
    Ok(if filled == bytes.len() {
        u64::from_le_bytes(bytes)
    } else {
        0
    })
}

impl FileStore {
    /// Opens (creating if needed) the lock file next to `path`.
    pub(super) fn open(path: &Path) -> Result<FileStore, LedgerError> {
        let lock_path = sidecar(path, ".lock");
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| LedgerError::Storage(format!("{}: {e}", lock_path.display())))?;
        Ok(FileStore {
            lock_file,
            state_file: StateFile {
                path: path.to_path_buf(),
                seen: None,
            },
        })
    }

    /// Blocks until this handle holds the lock.
    pub(super) fn lock(&mut self, mode: LockMode) -> Result<Locked<'_>, LedgerError> {
        match mode {
            LockMode::Shared => self.lock_file.lock_shared(),
            LockMode::Exclusive => self.lock_file.lock(),
        }
        .map_err(storage)?;
        Ok(Locked {
            lock_file: &self.lock_file,
            state_file: &mut self.state_file,
        })
    }
}

impl Locked<'_> {
    /// Whether the state file exists.
    pub(super) fn exists(&self) -> Result<bool, LedgerError> {
        self.state_file.path.try_exists().map_err(storage)
    }

    fn fingerprint(&self) -> Result<Fingerprint, LedgerError> {
        let lock_generation = read_lock_generation(self.lock_file)?;
        let path = &self.state_file.path;
        let meta = std::fs::metadata(path)
            .map_err(|e| LedgerError::Storage(format!("{}: {e}", path.display())))?;
        let (device, inode) = identity(&meta);
        Ok(Fingerprint {
            lock_generation,
            device,
            inode,
            len: meta.len(),
            modified_ns: modified_ns(&meta),
        })
    }

    /// Returns the file's state if it changed since this handle last saw it.
    pub(super) fn reload_if_changed(&mut self) -> Result<Option<DevnetState>, LedgerError> {
        let now = self.fingerprint()?;
        if self.state_file.seen == Some(now) {
            return Ok(None);
        }
        let state = load(&self.state_file.path)?;
        self.state_file.seen = Some(now);
        Ok(Some(state))
    }

    /// Writes `state` atomically and publishes its generation (exclusive lock only).
    pub(super) fn write(&mut self, state: &DevnetState) -> Result<(), LedgerError> {
        persist(&self.state_file.path, state)?;
        let mut file = self.lock_file;
        file.seek(SeekFrom::Start(0)).map_err(storage)?;
        file.write_all(&state.generation.to_le_bytes())
            .map_err(storage)?;
        self.state_file.seen = Some(self.fingerprint()?);
        Ok(())
    }
}

/// Reads and validates a devnet state file.
fn load(path: &Path) -> Result<DevnetState, LedgerError> {
    let bytes = std::fs::read(path)
        .map_err(|e| LedgerError::Storage(format!("{}: {e}", path.display())))?;
    let state: DevnetState = serde_json::from_slice(&bytes).map_err(storage)?;
    if state.format != DEVNET_FORMAT {
        return Err(LedgerError::Storage(format!(
            "unknown devnet file format {:?} (this build reads {DEVNET_FORMAT}; start a new devnet file)",
            state.format
        )));
    }
    if state.holdings() != state.minted {
        return Err(LedgerError::Storage(
            "devnet file does not conserve money".into(),
        ));
    }
    state
        .config
        .params
        .prices()
        .map_err(|e| LedgerError::Invalid(e.to_string()))?;
    Ok(state)
}

/// Writes `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory, so a
/// crash leaves either the old or the new state.
fn persist(path: &Path, state: &DevnetState) -> Result<(), LedgerError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(storage)?;
    let tmp = sidecar(path, ".tmp");
    let mut file = File::create(&tmp).map_err(storage)?;
    file.write_all(&bytes).map_err(storage)?;
    file.sync_all().map_err(storage)?;
    std::fs::rename(&tmp, path).map_err(storage)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
