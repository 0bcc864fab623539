//! Live counters of a pipeline's work, for progress displays ([`Pipeline::progress`]).
//!
//! The stages update them as they go (relaxed atomics: a few per item or row, nothing
//! else); a display reads a [`ProgressSnapshot`] whenever it likes, from any thread. The
//! counters cover the current run and are reset when a run starts.
//!
//! [`Pipeline::progress`]: crate::Pipeline::progress

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

/// The stage a run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Idle = 0,
    /// Finishing packages an earlier run left pending.
    Pending = 1,
    /// Extracting (normalizing, and loading while normalizing, at the same time when
    /// `[load] overlap` is on).
    Extract = 2,
    /// Loading normalized packages.
    Load = 3,
    Done = 4,
    /// Waiting for another run of the pipeline to end (its lock;
    /// [`ProgressSnapshot::lock_holder`] names the process).
    WaitingForLock = 5,
}

impl Stage {
    fn from_u8(v: u8) -> Stage {
        match v {
            1 => Stage::Pending,
            2 => Stage::Extract,
            3 => Stage::Load,
            4 => Stage::Done,
            5 => Stage::WaitingForLock,
            _ => Stage::Idle,
        }
    }
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Progress {
    stage: AtomicU8,
    items: AtomicU64,
    items_bytes: AtomicU64,
    rows: AtomicU64,
    job_files: AtomicU64,
    tables: Mutex<BTreeSet<String>>,
    loaded_rows: AtomicU64,
    loaded_jobs: AtomicU64,
    /// Bytes of input the run will read (0: not known) and has read.
    input_total: AtomicU64,
    input_read: AtomicU64,
    /// [`EXTRACT_DONE`] and [`NORMALIZE_DONE`].
    finished: AtomicU8,
    /// The process that holds the pipeline's lock while this run waits for it (0: none).
    lock_holder: AtomicU64,
}

const EXTRACT_DONE: u8 = 1;
const NORMALIZE_DONE: u8 = 2;

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressSnapshot {
    pub stage: Stage,
    /// Items extracted, and the bytes of their JSON.
    pub items: u64,
    pub items_bytes: u64,
    /// Rows normalized (all tables), job files completed, tables that received rows.
    pub rows: u64,
    pub job_files: u64,
    pub tables: usize,
    /// Rows and job files loaded into the destination (committed or in an open load
    /// transaction).
    pub loaded_rows: u64,
    pub loaded_jobs: u64,
    /// Bytes of input the run will read, when known ([`Progress::set_input_total`]), and
    /// has read so far ([`Progress::input_read`]).
    pub input_total: Option<u64>,
    pub input_read: u64,
    /// Extraction ended (every item is in the package).
    pub extract_done: bool,
    /// Normalization ended (every job file is written).
    pub normalize_done: bool,
    /// While the run waits for the pipeline's lock ([`Stage::WaitingForLock`]): the process
    /// holding it, when it said.
    pub lock_holder: Option<u32>,
}

impl Progress {
    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProgressSnapshot {
            stage: Stage::from_u8(self.stage.load(Ordering::Relaxed)),
            items: get(&self.items),
            items_bytes: get(&self.items_bytes),
            rows: get(&self.rows),
            job_files: get(&self.job_files),
            tables: self.tables.lock().map(|t| t.len()).unwrap_or(0),
            loaded_rows: get(&self.loaded_rows),
            loaded_jobs: get(&self.loaded_jobs),
            input_total: Some(get(&self.input_total)).filter(|n| *n > 0),
            input_read: get(&self.input_read),
            extract_done: self.finished.load(Ordering::Relaxed) & EXTRACT_DONE != 0,
            normalize_done: self.finished.load(Ordering::Relaxed) & NORMALIZE_DONE != 0,
            lock_holder: u32::try_from(get(&self.lock_holder))
                .ok()
                .filter(|pid| *pid > 0),
        }
    }

    /// The bytes of input the next run reads (the sizes of its files), for a percentage and
    /// an ETA; kept until set again (a run's start does not clear it).
    pub fn set_input_total(&self, bytes: u64) {
        self.input_total.store(bytes, Ordering::Relaxed);
    }

    /// `n` more bytes of input read (by whoever reads the files a total was set for).
    pub fn input_read(&self, n: u64) {
        self.input_read.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn waiting_for_lock(&self, holder: Option<u32>) {
        self.lock_holder
            .store(holder.map_or(0, u64::from), Ordering::Relaxed);
        self.set_stage(Stage::WaitingForLock);
    }

    pub(crate) fn extract_done(&self) {
        self.finished.fetch_or(EXTRACT_DONE, Ordering::Relaxed);
    }

    pub(crate) fn normalize_done(&self) {
        self.finished.fetch_or(NORMALIZE_DONE, Ordering::Relaxed);
    }

    pub(crate) fn reset(&self) {
        for a in [
            &self.items,
            &self.items_bytes,
            &self.rows,
            &self.job_files,
            &self.loaded_rows,
            &self.loaded_jobs,
            &self.input_read,
            &self.lock_holder,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        self.finished.store(0, Ordering::Relaxed);
        if let Ok(mut t) = self.tables.lock() {
            t.clear();
        }
        self.set_stage(Stage::Idle);
    }

    pub(crate) fn set_stage(&self, stage: Stage) {
        self.stage.store(stage as u8, Ordering::Relaxed);
    }

    pub(crate) fn item(&self) {
        self.items.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` items at once (the rows of a record batch).
    pub(crate) fn items(&self, n: u64) {
        self.items.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes written to an items file (counted as the file is written, in buffer-sized
    /// steps).
    pub(crate) fn bytes(&self, n: u64) {
        self.items_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn row(&self) {
        self.rows.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` rows at once (a record batch).
    pub(crate) fn rows(&self, n: u64) {
        self.rows.fetch_add(n, Ordering::Relaxed);
    }

    /// A job file of `table` was started.
    pub(crate) fn job_file(&self, table: &str) {
        self.job_files.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut t) = self.tables.lock() {
            if !t.contains(table) {
                t.insert(table.to_string());
            }
        }
    }

    pub(crate) fn loaded(&self, jobs: u64, rows: u64) {
        self.loaded_jobs.fetch_add(jobs, Ordering::Relaxed);
        self.loaded_rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// Jobs counted by [`Progress::loaded`] whose transaction was rolled back.
    pub(crate) fn unloaded(&self, jobs: u64, rows: u64) {
        let sub = |a: &AtomicU64, n: u64| {
            let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        };
        sub(&self.loaded_jobs, jobs);
        sub(&self.loaded_rows, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resets() {
        let p = Progress::default();
        p.set_stage(Stage::Extract);
        p.item();
        p.item();
        p.bytes(15);
        p.row();
        p.job_file("a");
        p.job_file("a");
        p.job_file("b");
        p.loaded(2, 7);
        let s = p.snapshot();
        assert_eq!(
            (
                s.stage,
                s.items,
                s.items_bytes,
                s.rows,
                s.job_files,
                s.tables
            ),
            (Stage::Extract, 2, 15, 1, 3, 2)
        );
        assert_eq!((s.loaded_jobs, s.loaded_rows), (2, 7));
        p.reset();
        assert_eq!(p.snapshot().items, 0);
        assert_eq!(p.snapshot().stage, Stage::Idle);
    }
}
