//! Moves journaled usage records into the database, in batches, exactly once.
//!
//! The position reached is kept in `checkpoint` (segment and byte offset), written
//! after each database commit. A crash between the commit and the checkpoint replays
//! records the database already holds; their ids make the insert a no-op, and only new
//! rows reach the rollups. Fully moved closed segments are deleted.

use super::journal::{segment_path, segments, JournalShared};
use kobo_store::{Store, UsageRecord};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 1000;
/// How long the mover lets records gather when it has caught up.
const PAUSE: Duration = Duration::from_millis(100);
const READ_CHUNK: u64 = 4 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Checkpoint {
    seq: u64,
    offset: u64,
}

fn read_checkpoint(dir: &Path) -> Checkpoint {
    fs::read_to_string(dir.join("checkpoint"))
        .ok()
        .and_then(|s| {
            let (a, b) = s.trim().split_once(' ')?;
            Some(Checkpoint {
                seq: a.parse().ok()?,
                offset: b.parse().ok()?,
            })
        })
        .unwrap_or(Checkpoint { seq: 0, offset: 0 })
}

fn write_checkpoint(dir: &Path, c: Checkpoint) -> io::Result<()> {
    let tmp = dir.join("checkpoint.tmp");
    fs::write(&tmp, format!("{} {}\n", c.seq, c.offset))?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(tmp, dir.join("checkpoint"))
}

pub struct Mover {
    store: Arc<dyn Store>,
    shared: Arc<JournalShared>,
}

/// One step's result: how many records were read, and how many were new to the database.
pub struct Moved {
    pub read: usize,
    pub inserted: usize,
}

impl Mover {
    pub fn new(store: Arc<dyn Store>, shared: Arc<JournalShared>) -> Self {
        Self { store, shared }
    }

    /// Moves everything there is now; used at start (replay) and at shutdown.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let m = self.step().await?;
            total += m.inserted;
            if m.read == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs until `stop` fires, then drains what is left.
    ///
    /// A full batch is followed at once by the next; otherwise the mover waits
    /// [`PAUSE`] so records gather into batches: a step per group commit would cost a
    /// checkpoint fsync and a database transaction for a handful of records.
    pub async fn run(self, stop: tokio_util::sync::CancellationToken) {
        loop {
            match self.step().await {
                Ok(m) if m.read >= BATCH => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "Moving usage records to the database failed; they stay in the journal and will be retried.");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(PAUSE) => {}
            }
        }
        match self.drain().await {
            Ok(n) => tracing::info!(moved = n, "The usage journal was drained at shutdown."),
            Err(e) => {
                tracing::error!(error = %e, "The usage journal could not be drained at shutdown; it is replayed at the next start.")
            }
        }
    }

    /// Reads up to one batch past the checkpoint, inserts it, advances the checkpoint.
    pub async fn step(&self) -> anyhow::Result<Moved> {
        let dir = self.shared.dir.clone();
        let active = self.shared.active_seq.load(Ordering::Acquire);
        let (records, next) =
            tokio::task::spawn_blocking(move || read_batch(&dir, active)).await??;
        let read = records.len();
        let inserted = if records.is_empty() {
            0
        } else {
            self.store.insert_usage(&records).await?
        };
        let dir = self.shared.dir.clone();
        if let Some(next) = next {
            tokio::task::spawn_blocking(move || -> io::Result<()> {
                write_checkpoint(&dir, next)?;
                for seq in segments(&dir)? {
                    if seq < next.seq {
                        fs::remove_file(segment_path(&dir, seq))?;
                    }
                }
                Ok(())
            })
            .await??;
        }
        Ok(Moved { read, inserted })
    }
}

/// Reads complete lines past the checkpoint; returns them and the new checkpoint.
fn read_batch(dir: &Path, active: u64) -> io::Result<(Vec<UsageRecord>, Option<Checkpoint>)> {
    let mut cp = read_checkpoint(dir);
    let mut records = Vec::new();
    let mut moved = false;
    for seq in segments(dir)? {
        if seq < cp.seq {
            continue;
        }
        if seq > cp.seq {
            cp = Checkpoint { seq, offset: 0 };
            moved = true;
        }
        let mut f = File::open(segment_path(dir, seq))?;
        f.seek(SeekFrom::Start(cp.offset))?;
        let mut buf = Vec::new();
        f.take(READ_CHUNK).read_to_end(&mut buf)?;
        let mut consumed = 0usize;
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if records.len() >= BATCH {
                break;
            }
            if !line.ends_with(b"\n") {
                break; // incomplete: still being written, or torn by a crash (see below)
            }
            consumed += line.len();
            match serde_json::from_slice::<UsageRecord>(line) {
                Ok(r) => records.push(r),
                Err(e) => {
                    tracing::error!(segment = seq, error = %e, "A usage journal line could not be read and was skipped.")
                }
            }
        }
        if consumed > 0 {
            cp.offset += consumed as u64;
            moved = true;
        }
        if records.len() >= BATCH || seq >= active || buf.len() as u64 >= READ_CHUNK {
            break;
        }
        // A closed segment: whatever is left after the last newline was torn by a crash
        // (never acknowledged); move on to the next segment.
    }
    Ok((records, moved.then_some(cp)))
}
