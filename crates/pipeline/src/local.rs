//! A pipeline's working folder on its own, without a destination: list its packages, drop
//! the pending ones, send an aborted one back to be loaded again.

use std::fs;
use std::path::Path;

use crate::storage::{
    io_err, list_names, rename, JobFileName, Storage, EXTRACTED, FAILED_JOBS, LOADED, NEW_JOBS,
    NORMALIZED,
};
use crate::PipelineError;

/// The marker of a package that is done, loaded or aborted.
const COMPLETED_MARKER: &str = "package_completed.json";

/// Where a package is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageStage {
    /// Extracted, waiting to be normalized.
    Extracted,
    /// Normalized, waiting to be loaded (or partly loaded).
    Normalized,
    /// Loaded.
    Loaded,
    /// A job failed for good; its other jobs' rows stay loaded.
    Aborted,
}

/// One package of a pipeline.
#[derive(Debug, Clone)]
pub struct PackageStatus {
    pub load_id: String,
    pub stage: PackageStage,
    /// Failed jobs (file name, the error recorded for it).
    pub failed_jobs: Vec<(String, String)>,
}

/// A pipeline's working folder (`<pipelines dir>/<name>`).
#[derive(Debug)]
pub struct PipelineFolder {
    storage: Storage,
    _lock: fs::File,
}

impl PipelineFolder {
    /// Opens the working folder of pipeline `name`, locked against runs of the pipeline.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when the folder does not exist or a run is active.
    pub fn open(name: &str, pipelines_dir: Option<&Path>) -> Result<Self, PipelineError> {
        let dir = match pipelines_dir {
            Some(d) => d.to_path_buf(),
            None => crate::default_pipelines_dir()?,
        };
        let root = dir.join(name);
        if !root.is_dir() {
            return Err(PipelineError::Config(format!(
                "pipeline `{name}` has no working folder in {}",
                dir.display()
            )));
        }
        let storage = Storage::open(root)?;
        let lock = storage.lock_file()?;
        fs2::FileExt::try_lock_exclusive(&lock).map_err(|_| {
            PipelineError::Config(format!(
                "a run of pipeline `{name}` is active; try again when it ends"
            ))
        })?;
        Ok(PipelineFolder {
            storage,
            _lock: lock,
        })
    }

    /// Every package, oldest first within each stage: pending (extracted, normalized),
    /// then loaded and aborted.
    pub fn packages(&self) -> Result<Vec<PackageStatus>, PipelineError> {
        let mut out = Vec::new();
        for id in self.storage.packages(EXTRACTED)? {
            out.push(PackageStatus {
                load_id: id,
                stage: PackageStage::Extracted,
                failed_jobs: Vec::new(),
            });
        }
        for id in self.storage.packages(NORMALIZED)? {
            out.push(PackageStatus {
                load_id: id,
                stage: PackageStage::Normalized,
                failed_jobs: Vec::new(),
            });
        }
        for id in self.storage.packages(LOADED)? {
            let dir = self.storage.package(LOADED, &id);
            let marker = fs::read_to_string(dir.join(COMPLETED_MARKER)).unwrap_or_default();
            let stage = match marker.contains("aborted") {
                true => PackageStage::Aborted,
                false => PackageStage::Loaded,
            };
            out.push(PackageStatus {
                failed_jobs: failed_jobs(&dir)?,
                load_id: id,
                stage,
            });
        }
        Ok(out)
    }

    /// Deletes the packages not yet loaded (extracted or normalized) and the local state,
    /// which may have advanced with them: the next run restores the state of the last
    /// completed load from the destination. Rows a partly loaded package already committed
    /// stay in the dataset. Returns the load ids dropped.
    pub fn drop_pending_packages(&self) -> Result<Vec<String>, PipelineError> {
        let mut dropped = Vec::new();
        for stage in [EXTRACTED, NORMALIZED] {
            for id in self.storage.packages(stage)? {
                let dir = self.storage.package(stage, &id);
                fs::remove_dir_all(&dir).map_err(io_err("removing a package", &dir))?;
                dropped.push(id);
            }
        }
        if !dropped.is_empty() {
            let state = self.storage.state_file();
            match fs::remove_file(&state) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("removing the local state", &state)(e)),
            }
        }
        Ok(dropped)
    }

    /// Sends aborted package `load_id` back to be loaded by the next run: its failed jobs
    /// become new jobs (the rows of its completed jobs stay loaded and are not loaded again).
    ///
    /// # Errors
    /// [`PipelineError::Config`] when there is no such aborted package.
    pub fn retry(&self, load_id: &str) -> Result<(), PipelineError> {
        let dir = self.storage.package(LOADED, load_id);
        let aborted = fs::read_to_string(dir.join(COMPLETED_MARKER))
            .map(|m| m.contains("aborted"))
            .unwrap_or(false);
        if !aborted {
            return Err(PipelineError::Config(format!(
                "no aborted package `{load_id}` (see `dlt-rs pipeline NAME info`)"
            )));
        }
        let failed = dir.join(FAILED_JOBS);
        for name in list_names(&failed, false)? {
            let from = failed.join(&name);
            if is_job(&name) {
                rename(&from, &dir.join(NEW_JOBS).join(&name))?;
            } else {
                // the recorded errors (`.exception`)
                fs::remove_file(&from).map_err(io_err("removing a job's error", &from))?;
            }
        }
        let marker = dir.join(COMPLETED_MARKER);
        fs::remove_file(&marker).map_err(io_err("removing a package marker", &marker))?;
        rename(&dir, &self.storage.package(NORMALIZED, load_id))
    }
}

/// The failed jobs of a package with their recorded errors.
fn failed_jobs(dir: &Path) -> Result<Vec<(String, String)>, PipelineError> {
    let failed = dir.join(FAILED_JOBS);
    if !failed.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for name in list_names(&failed, false)? {
        if is_job(&name) {
            let error = fs::read_to_string(failed.join(&name).with_extension("exception"))
                .unwrap_or_default();
            out.push((name, error));
        }
    }
    Ok(out)
}

/// A job file, not the `.exception` file recorded beside a failed one.
fn is_job(name: &str) -> bool {
    JobFileName::parse(name).is_some_and(|j| j.format != EXCEPTION)
}

/// The extension of a failed job's recorded error.
const EXCEPTION: &str = "exception";
