//! The crash-safe usage journal.
//!
//! Every usage record is appended to a local segment file as one JSON line and made
//! durable before the request counts as served. One writer thread does all writes:
//! it takes every record waiting, writes them with one `write`, then one `fdatasync`
//! (durability `fsync`) and acknowledges them all — group commit, so throughput holds
//! while a request waits at most about one fsync. With durability `os` it skips the
//! fsync: records survive a killed process (they are in the page cache), not a power cut.
//!
//! Segments are `usage-<seq>.jnl`; each start of the process opens a new one, so a line
//! torn by a crash can only sit at the end of a closed segment, where the mover skips it
//! (its request was never acknowledged, so never answered).

use crate::settings::Durability;
use kobo_store::UsageRecord;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Past this size the writer starts a new segment.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Most records written in one group commit.
const MAX_GROUP: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the usage journal is closed")]
    Closed,
    #[error("the usage journal could not be written: {0}")]
    Io(String),
}

struct Pending {
    line: Vec<u8>,
    ack: oneshot::Sender<Result<(), String>>,
}

/// Shared between the writer and the mover.
pub struct JournalShared {
    pub dir: PathBuf,
    /// The segment the writer appends to (the mover must not treat its tail as torn).
    pub active_seq: AtomicU64,
    /// An exclusive lock on `<dir>/LOCK`, held while this process owns the journal: a
    /// second process on the same data folder would otherwise move (and delete) the
    /// segment this one is still appending to. `None` for a detached journal.
    _lock: Option<File>,
}

#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Pending>,
    pub shared: Arc<JournalShared>,
}

pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("usage-{seq:012}.jnl"))
}

/// Sequence numbers of the segments in `dir`, ascending.
pub fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = name
            .strip_prefix("usage-")
            .and_then(|s| s.strip_suffix(".jnl"))
            .and_then(|s| s.parse().ok())
        {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

impl Journal {
    /// Opens a new segment in `dir` and starts the writer thread.
    pub fn open(
        dir: &Path,
        durability: Durability,
    ) -> io::Result<(Self, std::thread::JoinHandle<()>)> {
        fs::create_dir_all(dir)?;
        let lock = lock_dir(dir)?;
        let seq = segments(dir)?.last().map_or(1, |s| s + 1);
        let file = open_segment(dir, seq)?;
        sync_dir(dir);
        let shared = Arc::new(JournalShared {
            dir: dir.to_path_buf(),
            active_seq: AtomicU64::new(seq),
            _lock: Some(lock),
        });
        let (tx, rx) = mpsc::channel(65_536);
        let writer_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("kobo-journal".into())
            .spawn(move || writer(rx, file, seq, durability, writer_shared))?;
        Ok((Self { tx, shared }, handle))
    }

    /// A journal that refuses every append and touches no file: for one-off commands
    /// (`kobo migrate`, `kobo admin …`), which serve no gateway request and must leave a
    /// running server's journal alone.
    pub fn detached(dir: &Path) -> Self {
        let (tx, _) = mpsc::channel(1);
        let shared = Arc::new(JournalShared {
            dir: dir.to_path_buf(),
            active_seq: AtomicU64::new(0),
            _lock: None,
        });
        Self { tx, shared }
    }

    /// Appends one record; returns once it is durable (per the durability setting).
    pub async fn append(&self, rec: &UsageRecord) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(rec).map_err(|e| JournalError::Io(e.to_string()))?;
        line.push(b'\n');
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Pending { line, ack })
            .await
            .map_err(|_| JournalError::Closed)?;
        done.await
            .map_err(|_| JournalError::Closed)?
            .map_err(JournalError::Io)
    }
}

/// Takes the journal's lock, or says which folder another process holds.
fn lock_dir(dir: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "another kobo process is serving from {} (its usage journal is locked); \
                 give each server its own KOBO_DATA_DIR",
                dir.display()
            ),
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

fn open_segment(dir: &Path, seq: u64) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, seq))
}

/// Makes a new file's directory entry durable too.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn writer(
    mut rx: mpsc::Receiver<Pending>,
    mut file: File,
    mut seq: u64,
    durability: Durability,
    shared: Arc<JournalShared>,
) {
    let mut size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut group: Vec<Pending> = Vec::with_capacity(256);
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    while let Some(first) = rx.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        buf.clear();
        for p in &group {
            buf.extend_from_slice(&p.line);
        }
        let result = file.write_all(&buf).and_then(|()| match durability {
            Durability::Fsync => file.sync_data(),
            Durability::Os => Ok(()),
        });
        let outcome = result.map_err(|e| e.to_string());
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "The usage journal could not be written; the requests waiting on it fail.");
        } else {
            size += buf.len() as u64;
        }
        for p in group.drain(..) {
            let _ = p.ack.send(outcome.clone());
        }
        if size >= SEGMENT_BYTES {
            match open_segment(&shared.dir, seq + 1) {
                Ok(f) => {
                    seq += 1;
                    file = f;
                    size = 0;
                    sync_dir(&shared.dir);
                    shared.active_seq.store(seq, Ordering::Release);
                }
                Err(e) => {
                    tracing::error!(error = %e, "A new usage journal segment could not be opened; the current one grows.")
                }
            }
        }
    }
}
