//! A pipeline's working folder, for `dlt-rs pipeline NAME ...`: the pipelines of a
//! pipelines dir, the packages and their jobs, the local state, schema and last trace
//! ([`PipelineFolder`], no destination needed); and the operations that need the
//! destination, on [`Pipeline`]: the dataset's tables and loads ([`Pipeline::show_dataset`]),
//! dropping resources ([`Pipeline::drop_resources`]) and restoring the local state and
//! schema from the destination ([`Pipeline::sync_from_destination`]).

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use dest_core::{LoadClient, Schema};

use crate::extract::{Manifest, MANIFEST};
use crate::normalize::{PACKAGE_CREATED, PACKAGE_SCHEMA, PACKAGE_STATE};
use crate::state::PipelineState;
use crate::storage::{
    io_err, list_names, rename, write_atomic, JobFileName, Storage, COMPLETED_JOBS, EXTRACTED,
    FAILED_JOBS, LOADED, NEW_JOBS, NORMALIZED, STARTED_JOBS,
};
use crate::trace::RunTrace;
use crate::{LoadInfo, Pipeline, PipelineError};

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

impl PackageStage {
    /// Whether the package still waits to be loaded.
    pub fn is_pending(self) -> bool {
        matches!(self, PackageStage::Extracted | PackageStage::Normalized)
    }
}

impl fmt::Display for PackageStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PackageStage::Extracted => "pending (extracted)",
            PackageStage::Normalized => "pending (normalized)",
            PackageStage::Loaded => "loaded",
            PackageStage::Aborted => "aborted",
        })
    }
}

/// One package of a pipeline.
#[derive(Debug, Clone)]
pub struct PackageStatus {
    pub load_id: String,
    pub stage: PackageStage,
    /// Failed jobs (file name, the error recorded for it).
    pub failed_jobs: Vec<(String, String)>,
}

/// Where a job of a normalized or completed package is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    New,
    Started,
    Completed,
    Failed,
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobState::New => "new",
            JobState::Started => "started",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        })
    }
}

/// One job (a job file) of a package.
#[derive(Debug, Clone)]
pub struct JobInfo {
    pub file_name: String,
    pub table: String,
    pub file_format: String,
    pub state: JobState,
    /// How often the job was tried again after a transient failure.
    pub retry_count: u32,
    pub size_bytes: u64,
    /// Rows in the file, for the formats whose rows can be counted (`insert_values`, `csv`).
    pub rows: Option<u64>,
    /// The error recorded for a failed job.
    pub error: Option<String>,
    /// The file was deleted once loaded (`[load] delete_completed_jobs`); its name and
    /// size were kept.
    pub file_deleted: bool,
}

/// A resource of an extracted package (not yet normalized into jobs).
#[derive(Debug, Clone)]
pub struct ExtractedResource {
    pub table: String,
    pub items: u64,
}

/// One package with its jobs.
#[derive(Debug, Clone)]
pub struct PackageDetail {
    pub load_id: String,
    pub stage: PackageStage,
    /// When extraction of the package started (RFC 3339).
    pub created_at: Option<String>,
    /// When the package was loaded or aborted (RFC 3339).
    pub completed_at: Option<String>,
    /// Whether the package carries a new pipeline state.
    pub carries_state: bool,
    /// Jobs of a normalized or completed package, by table then file name.
    pub jobs: Vec<JobInfo>,
    /// Resources of an extracted package.
    pub resources: Vec<ExtractedResource>,
    /// The schema the package was normalized with.
    pub schema: Option<Schema>,
    /// Rows per table as normalize counted them (empty for packages of older versions).
    pub table_rows: std::collections::BTreeMap<String, u64>,
}

/// Tables and columns a package's schema has that the schema of the package before it
/// (in the working folder) had not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaUpdate {
    pub table: String,
    /// The table is new (else: new columns of an existing table).
    pub new_table: bool,
    /// `(column, data type)`.
    pub columns: Vec<(String, String)>,
}

/// A failed job with its package.
#[derive(Debug, Clone)]
pub struct FailedJob {
    pub load_id: String,
    pub job: JobInfo,
}

/// The pipelines of a pipelines dir.
#[derive(Debug, Clone)]
pub struct PipelineList {
    pub pipelines_dir: PathBuf,
    /// Sorted by name.
    pub names: Vec<String>,
}

/// A pipeline's working folder (`<pipelines dir>/<name>`).
#[derive(Debug)]
pub struct PipelineFolder {
    name: String,
    storage: Storage,
    /// Held by folders opened to change them ([`PipelineFolder::open`]).
    lock: Option<fs::File>,
}

fn pipelines_dir_or_default(pipelines_dir: Option<&Path>) -> Result<PathBuf, PipelineError> {
    match pipelines_dir {
        Some(d) => Ok(d.to_path_buf()),
        None => crate::default_pipelines_dir(),
    }
}

impl PipelineFolder {
    /// Opens the working folder of pipeline `name`, locked against runs of the pipeline
    /// (to change it).
    ///
    /// # Errors
    /// [`PipelineError::Config`] when the folder does not exist or a run is active.
    pub fn open(name: &str, pipelines_dir: Option<&Path>) -> Result<Self, PipelineError> {
        let mut folder = Self::inspect(name, pipelines_dir)?;
        let lock = folder.storage.lock_file()?;
        fs2::FileExt::try_lock_exclusive(&lock).map_err(|_| {
            PipelineError::Config(format!(
                "a run of pipeline `{name}` is active; try again when it ends"
            ))
        })?;
        folder.lock = Some(lock);
        Ok(folder)
    }

    /// Opens the working folder of pipeline `name` to read it, without locking it: a run
    /// may be active and change it meanwhile.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when the folder does not exist.
    pub fn inspect(name: &str, pipelines_dir: Option<&Path>) -> Result<Self, PipelineError> {
        crate::validate_pipeline_name(name)?;
        let dir = pipelines_dir_or_default(pipelines_dir)?;
        let root = dir.join(name);
        if !root.is_dir() {
            return Err(PipelineError::Config(format!(
                "pipeline `{name}` has no working folder in {}",
                dir.display()
            )));
        }
        Ok(PipelineFolder {
            name: name.to_string(),
            storage: Storage::open(root)?,
            lock: None,
        })
    }

    /// The pipelines that have a working folder in `pipelines_dir` (default
    /// `~/.dlt/pipelines`, or `$DLT_DATA_DIR/pipelines`). A dir that does not exist has none.
    pub fn list(pipelines_dir: Option<&Path>) -> Result<PipelineList, PipelineError> {
        let dir = pipelines_dir_or_default(pipelines_dir)?;
        let names = list_names(&dir, true)?
            .into_iter()
            .filter(|n| {
                let root = dir.join(n);
                ["state.json", "load", "schemas"]
                    .iter()
                    .any(|entry| root.join(entry).exists())
            })
            .collect();
        Ok(PipelineList {
            pipelines_dir: dir,
            names,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn working_dir(&self) -> &Path {
        &self.storage.root
    }

    /// The local state (`None` before the first run, or after `drop-pending-packages`).
    pub fn state(&self) -> Result<Option<PipelineState>, PipelineError> {
        crate::read_json(&self.storage.state_file())
    }

    /// The local schemas (`schemas/*.schema.json`), by name.
    pub fn schemas(&self) -> Result<Vec<Schema>, PipelineError> {
        let dir = self.storage.root.join("schemas");
        let mut out = Vec::new();
        for name in list_names(&dir, false)? {
            if name.ends_with(".schema.json") {
                if let Some(s) = crate::read_json::<Schema>(&dir.join(&name))? {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// The trace of the last run (`None` when no run wrote one).
    pub fn trace(&self) -> Result<Option<RunTrace>, PipelineError> {
        crate::trace::read(&self.storage)
    }

    /// Every package, oldest first within each stage: pending (extracted, normalized),
    /// then loaded and aborted.
    pub fn packages(&self) -> Result<Vec<PackageStatus>, PipelineError> {
        packages(&self.storage)
    }

    /// Package `load_id` with its jobs; the most recent package (the greatest load id)
    /// when `None`.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when there is no such package (or none at all).
    pub fn package(&self, load_id: Option<&str>) -> Result<PackageDetail, PipelineError> {
        let all = self.packages()?;
        let found = match load_id {
            Some(id) => all.iter().find(|p| p.load_id == id),
            None => all.iter().max_by(|a, b| a.load_id.cmp(&b.load_id)),
        };
        let Some(p) = found else {
            return Err(PipelineError::Config(match load_id {
                Some(id) => format!(
                    "pipeline `{}` has no package `{id}` (`dlt-rs pipeline {} info` lists them)",
                    self.name, self.name
                ),
                None => format!("pipeline `{}` has no packages", self.name),
            }));
        };
        package_detail(&self.storage, &p.load_id, p.stage)
    }

    /// The tables and columns package `load_id`'s schema added to the schema of the package
    /// before it in the working folder (all of its tables when it is the first).
    pub fn schema_updates(&self, load_id: &str) -> Result<Vec<SchemaUpdate>, PipelineError> {
        let mut ids: Vec<(String, PackageStage)> = self
            .packages()?
            .into_iter()
            .map(|p| (p.load_id, p.stage))
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        let Some(pos) = ids.iter().position(|(id, _)| id == load_id) else {
            return Ok(Vec::new());
        };
        let schema_of = |(id, stage): &(String, PackageStage)| -> Option<Schema> {
            let dir = self.storage.package(stage_dir(*stage), id);
            crate::read_json(&dir.join(PACKAGE_SCHEMA)).ok().flatten()
        };
        let Some(now) = schema_of(&ids[pos]) else {
            return Ok(Vec::new());
        };
        let before = ids[..pos].iter().rev().find_map(schema_of);
        Ok(schema_diff(before.as_ref(), &now))
    }

    /// Every failed job of every package, oldest package first.
    pub fn failed_jobs(&self) -> Result<Vec<FailedJob>, PipelineError> {
        let mut out = Vec::new();
        for p in self.packages()? {
            if p.failed_jobs.is_empty() {
                continue;
            }
            let dir = self.storage.package(stage_dir(p.stage), &p.load_id);
            for job in jobs_in(&dir, &[(FAILED_JOBS, JobState::Failed)])? {
                out.push(FailedJob {
                    load_id: p.load_id.clone(),
                    job,
                });
            }
        }
        Ok(out)
    }

    fn require_lock(&self) -> Result<(), PipelineError> {
        match self.lock {
            Some(_) => Ok(()),
            None => Err(PipelineError::Internal(
                "a pipeline folder opened to inspect it cannot be changed".into(),
            )),
        }
    }

    /// Deletes the packages not yet loaded (extracted or normalized) and the local state,
    /// which may have advanced with them: the next run restores the state of the last
    /// completed load from the destination. Rows a partly loaded package already committed
    /// stay in the dataset. Returns the load ids dropped.
    pub fn drop_pending_packages(&self) -> Result<Vec<String>, PipelineError> {
        self.require_lock()?;
        let mut dropped = Vec::new();
        for stage in [EXTRACTED, NORMALIZED] {
            for id in self.storage.packages(stage)? {
                let dir = self.storage.package(stage, &id);
                fs::remove_dir_all(&dir).map_err(io_err("removing a package", &dir))?;
                dropped.push(id);
            }
        }
        if !dropped.is_empty() {
            remove_if_exists(&self.storage.state_file(), "removing the local state")?;
        }
        Ok(dropped)
    }

    /// Sends aborted package `load_id` back to be loaded by the next run: its failed jobs
    /// become new jobs (the rows of its completed jobs stay loaded and are not loaded again).
    ///
    /// # Errors
    /// [`PipelineError::Config`] when there is no such aborted package.
    pub fn retry(&self, load_id: &str) -> Result<(), PipelineError> {
        self.require_lock()?;
        let dir = self.storage.package(LOADED, load_id);
        if !is_aborted(&dir) {
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

/// Every package of `storage`, as [`PipelineFolder::packages`].
pub(crate) fn packages(storage: &Storage) -> Result<Vec<PackageStatus>, PipelineError> {
    let mut out = Vec::new();
    for id in storage.packages(EXTRACTED)? {
        out.push(PackageStatus {
            load_id: id,
            stage: PackageStage::Extracted,
            failed_jobs: Vec::new(),
        });
    }
    for id in storage.packages(NORMALIZED)? {
        out.push(PackageStatus {
            load_id: id,
            stage: PackageStage::Normalized,
            failed_jobs: Vec::new(),
        });
    }
    for id in storage.packages(LOADED)? {
        let dir = storage.package(LOADED, &id);
        let stage = match is_aborted(&dir) {
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

/// When completed package `load_id` was loaded or aborted.
pub(crate) fn completed_at(storage: &Storage, load_id: &str) -> Option<SystemTime> {
    let marker = storage.package(LOADED, load_id).join(COMPLETED_MARKER);
    fs::metadata(marker).and_then(|m| m.modified()).ok()
}

fn is_aborted(dir: &Path) -> bool {
    fs::read_to_string(dir.join(COMPLETED_MARKER))
        .map(|m| m.contains("aborted"))
        .unwrap_or(false)
}

fn stage_dir(stage: PackageStage) -> &'static str {
    match stage {
        PackageStage::Extracted => EXTRACTED,
        PackageStage::Normalized => NORMALIZED,
        PackageStage::Loaded | PackageStage::Aborted => LOADED,
    }
}

fn remove_if_exists(path: &Path, context: &'static str) -> Result<(), PipelineError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(context, path)(e)),
    }
}

fn package_detail(
    storage: &Storage,
    load_id: &str,
    stage: PackageStage,
) -> Result<PackageDetail, PipelineError> {
    let dir = storage.package(stage_dir(stage), load_id);
    let mut detail = PackageDetail {
        load_id: load_id.to_string(),
        stage,
        created_at: None,
        completed_at: completed_at(storage, load_id)
            .map(|t| DateTime::<Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        carries_state: false,
        jobs: Vec::new(),
        resources: Vec::new(),
        schema: None,
        table_rows: Default::default(),
    };
    if stage == PackageStage::Extracted {
        if let Some(m) = crate::read_json::<Manifest>(&dir.join(MANIFEST))? {
            detail.created_at = Some(m.created_at);
            detail.carries_state = m.state.is_some();
            detail.resources = m
                .resources
                .into_iter()
                .map(|r| ExtractedResource {
                    table: r.table_name,
                    items: r.items,
                })
                .collect();
        }
        return Ok(detail);
    }
    detail.created_at = fs::read_to_string(dir.join(PACKAGE_CREATED))
        .ok()
        .map(|s| s.trim().to_string());
    detail.carries_state = dir.join(PACKAGE_STATE).exists();
    detail.schema = crate::read_json(&dir.join(PACKAGE_SCHEMA))?;
    detail.table_rows =
        crate::read_json(&dir.join(crate::normalize::PACKAGE_ROWS))?.unwrap_or_default();
    detail.jobs = jobs_in(
        &dir,
        &[
            (NEW_JOBS, JobState::New),
            (STARTED_JOBS, JobState::Started),
            (COMPLETED_JOBS, JobState::Completed),
            (FAILED_JOBS, JobState::Failed),
        ],
    )?;
    detail
        .jobs
        .sort_by(|a, b| (&a.table, &a.file_name).cmp(&(&b.table, &b.file_name)));
    Ok(detail)
}

/// What is kept of a loaded package's completed jobs when their files are deleted
/// (`[load] delete_completed_jobs`): their names and sizes.
const COMPLETED_LISTING: &str = "completed_jobs.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct ListedJob {
    file_name: String,
    size_bytes: u64,
}

/// Replaces the completed job files of the loaded package `dir` by a listing of them.
pub(crate) fn archive_completed_jobs(dir: &Path) -> Result<(), PipelineError> {
    let folder = dir.join(COMPLETED_JOBS);
    if !folder.is_dir() {
        return Ok(());
    }
    let mut listing = Vec::new();
    for name in list_names(&folder, false)? {
        let size_bytes = fs::metadata(folder.join(&name))
            .map(|m| m.len())
            .unwrap_or(0);
        listing.push(ListedJob {
            file_name: name,
            size_bytes,
        });
    }
    let bytes = serde_json::to_vec(&listing)
        .map_err(|e| PipelineError::Internal(format!("serializing a job listing: {e}")))?;
    write_atomic(&dir.join(COMPLETED_LISTING), &bytes)?;
    fs::remove_dir_all(&folder).map_err(io_err("removing completed job files", &folder))
}

/// The jobs in the given job folders of package `dir`.
fn jobs_in(dir: &Path, folders: &[(&str, JobState)]) -> Result<Vec<JobInfo>, PipelineError> {
    let mut out = Vec::new();
    for (folder, state) in folders {
        if *folder == COMPLETED_JOBS && !dir.join(folder).is_dir() {
            let listed: Vec<ListedJob> =
                crate::read_json(&dir.join(COMPLETED_LISTING))?.unwrap_or_default();
            for job in listed {
                let Some(parsed) = JobFileName::parse(&job.file_name) else {
                    continue;
                };
                out.push(JobInfo {
                    file_name: job.file_name,
                    table: parsed.table,
                    file_format: parsed.format,
                    state: *state,
                    retry_count: parsed.retry,
                    size_bytes: job.size_bytes,
                    rows: None,
                    error: None,
                    file_deleted: true,
                });
            }
            continue;
        }
        let folder = dir.join(folder);
        for name in list_names(&folder, false)? {
            let Some(job) = JobFileName::parse(&name).filter(|j| j.format != EXCEPTION) else {
                continue;
            };
            let path = folder.join(&name);
            let size_bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let error = match state {
                JobState::Failed => Some(
                    fs::read_to_string(path.with_extension(EXCEPTION))
                        .map(|e| e.trim().to_string())
                        .unwrap_or_default(),
                ),
                _ => None,
            };
            out.push(JobInfo {
                rows: count_rows(&path, &job.format),
                file_name: name,
                table: job.table,
                file_format: job.format,
                state: *state,
                retry_count: job.retry,
                size_bytes,
                error,
                file_deleted: false,
            });
        }
    }
    Ok(out)
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
            let error = fs::read_to_string(failed.join(&name).with_extension(EXCEPTION))
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

/// The rows of a job file, for the line-based formats: `insert_values` has one row per
/// line starting with `(` (literals never hold a raw line break); `csv` one per record
/// after the header (line breaks inside quoted values do not end a record). `None` for
/// other formats or an unreadable file.
fn count_rows(path: &Path, format: &str) -> Option<u64> {
    #[derive(Clone, Copy)]
    enum Counter {
        InsertValues { at_line_start: bool },
        Csv { quoted: bool, last: u8 },
    }
    let mut counter = match format {
        "insert_values" => Counter::InsertValues {
            at_line_start: true,
        },
        "csv" => Counter::Csv {
            quoted: false,
            last: b'\n',
        },
        _ => return None,
    };
    let mut file = fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut records = 0u64;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            match &mut counter {
                Counter::InsertValues { at_line_start } => {
                    if *at_line_start && b == b'(' {
                        records += 1;
                    }
                    *at_line_start = b == b'\n';
                }
                Counter::Csv { quoted, last } => {
                    if b == b'"' {
                        *quoted = !*quoted;
                    } else if b == b'\n' && !*quoted {
                        records += 1;
                    }
                    *last = b;
                }
            }
        }
    }
    match counter {
        Counter::InsertValues { .. } => Some(records),
        Counter::Csv { last, .. } => {
            // a last record without a line break, then minus the header
            let records = records + u64::from(last != b'\n');
            Some(records.saturating_sub(1))
        }
    }
}

/// Tables and columns of `now` that `before` has not (every user table when `before` is
/// `None`).
fn schema_diff(before: Option<&Schema>, now: &Schema) -> Vec<SchemaUpdate> {
    let mut out = Vec::new();
    for t in now.tables.iter().filter(|t| !t.is_system()) {
        let old = before.and_then(|b| b.table(&t.name));
        let columns: Vec<(String, String)> = t
            .complete_columns()
            .filter(|c| {
                old.and_then(|o| o.column(&c.name))
                    .is_none_or(|oc| !oc.is_complete())
            })
            .map(|c| {
                let ty = c.data_type.map(|d| d.to_string()).unwrap_or_default();
                (c.name.clone(), ty)
            })
            .collect();
        let new_table = old.is_none_or(|o| o.complete_columns().next().is_none());
        if !columns.is_empty() {
            out.push(SchemaUpdate {
                table: t.name.clone(),
                new_table,
                columns,
            });
        }
    }
    out
}

/// A table of the dataset with its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    pub table: String,
    /// The parent of a nested table.
    pub parent: Option<String>,
    /// `None`: the table is in the schema but not in the dataset.
    pub rows: Option<u64>,
}

/// A completed load recorded in the dataset (`_dlt_loads`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRecord {
    pub load_id: String,
    /// 0: loaded.
    pub status: i64,
    pub inserted_at: DateTime<Utc>,
}

/// What [`Pipeline::show_dataset`] found.
#[derive(Debug, Clone)]
pub struct DatasetOverview {
    /// Where the table list came from: `local` or `destination` (the stored schema), or
    /// `none`.
    pub schema_from: &'static str,
    /// The schema's user tables (parents before their nested tables).
    pub tables: Vec<TableRows>,
    /// The newest loads, newest first.
    pub loads: Vec<LoadRecord>,
}

/// What [`Pipeline::drop_resources`] is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropPlan {
    pub pipeline_name: String,
    pub destination: String,
    pub dataset_name: String,
    pub resources: Vec<String>,
    /// Tables to drop: the resources' root tables and their nested tables, parents first.
    pub tables: Vec<String>,
    /// Paths in the pipeline state to reset (`sources.<source>.resources.<resource>`).
    pub state_paths: Vec<String>,
}

/// What [`Pipeline::drop_resources`] did.
#[derive(Debug, Clone)]
pub struct DropInfo {
    pub plan: DropPlan,
    /// The load that stored the new schema and state in the destination.
    pub load: LoadInfo,
}

/// What [`Pipeline::sync_from_destination`] is about to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlan {
    pub pipeline_name: String,
    pub destination: String,
    pub dataset_name: String,
    /// The local state's version, when there is one.
    pub local_state_version: Option<i64>,
    /// The stored state's version and the load that stored it.
    pub state_version: i64,
    pub state_load_id: String,
    /// The stored schema's version, when one is stored.
    pub schema_version: Option<i64>,
}

/// What [`Pipeline::sync_from_destination`] restored.
#[derive(Debug, Clone)]
pub struct SyncInfo {
    pub plan: SyncPlan,
    pub state: PipelineState,
    pub schema: Option<Schema>,
}

/// Destination, dataset and credentials to open an existing pipeline with
/// ([`Pipeline::open_existing`]); each defaults to what its working folder remembers.
#[derive(Clone, Default)]
pub struct PipelineOverrides {
    /// Destination name (default: the one the pipeline loads to, else `postgres`).
    pub destination: Option<String>,
    /// Dataset (default: the pipeline's, else `<pipeline>_dataset`).
    pub dataset: Option<String>,
    /// A connection string (default: from `.dlt/secrets.toml`, the environment, `~/.dlt/`).
    pub credentials: Option<String>,
}

impl fmt::Debug for PipelineOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineOverrides")
            .field("destination", &self.destination)
            .field("dataset", &self.dataset)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The destination name a state records (`dlt.destinations.postgres` → `postgres`).
pub fn state_destination(s: &PipelineState) -> &str {
    s.destination_type
        .strip_prefix("dlt.destinations.")
        .unwrap_or(&s.destination_type)
}

impl Pipeline {
    /// Opens pipeline `name` with the destination and dataset its working folder remembers
    /// (its state, else its last trace) unless `overrides` gives them, and the builder's
    /// defaults (postgres, `<pipeline>_dataset`) for a pipeline without a folder. Credentials
    /// come from the configuration (`.dlt/`, environment) unless given.
    ///
    /// # Errors
    /// When the folder's state cannot be read or the destination cannot be configured.
    pub fn open_existing(
        name: &str,
        pipelines_dir: Option<&Path>,
        overrides: &PipelineOverrides,
    ) -> Result<Pipeline, PipelineError> {
        let (mut destination, mut dataset) =
            (overrides.destination.clone(), overrides.dataset.clone());
        if let Ok(folder) = PipelineFolder::inspect(name, pipelines_dir) {
            if let Some(s) = folder.state()? {
                destination.get_or_insert_with(|| state_destination(&s).to_string());
                dataset.get_or_insert(s.dataset_name);
            }
            if let Some(t) = folder.trace()? {
                destination.get_or_insert(t.destination);
                dataset.get_or_insert(t.dataset_name);
            }
        }
        let mut builder = Pipeline::builder(name);
        if let Some(d) = &destination {
            builder = builder.destination(d);
        }
        if let Some(d) = &dataset {
            builder = builder.dataset_name(d);
        }
        if let Some(d) = pipelines_dir {
            builder = builder.pipelines_dir(d);
        }
        if let Some(c) = &overrides.credentials {
            builder = builder.credentials(c);
        }
        builder.build()
    }

    /// Gives an "unsupported" error of a destination client this destination's name.
    fn named(&self, e: dest_core::Error) -> PipelineError {
        match e {
            dest_core::Error::Unsupported {
                destination,
                what,
                hint,
            } if destination.is_empty() => dest_core::Error::Unsupported {
                destination: self.destination.name().to_string(),
                what,
                hint,
            }
            .into(),
            e => e.into(),
        }
    }

    /// The dataset's tables (those of the local schema, else of the schema stored in the
    /// destination) with their row counts, and the newest `loads` loads.
    pub async fn show_dataset(&self, loads: usize) -> Result<DatasetOverview, PipelineError> {
        let client = self.client(&mut None).await?;
        let (schema, schema_from) = match self.schema()? {
            Some(s) => (Some(s), "local"),
            None => match client.stored_schema(&self.schema_name).await? {
                Some(stored) => match serde_json::from_str::<Schema>(&stored.schema) {
                    Ok(s) => (Some(s), "destination"),
                    Err(e) => {
                        return Err(PipelineError::Config(format!(
                            "the schema stored in dataset `{}` cannot be read: {e}",
                            self.dataset_name
                        )))
                    }
                },
                None => (None, "none"),
            },
        };
        let mut tables = Vec::new();
        if let Some(schema) = &schema {
            let names: Vec<String> = schema
                .tables
                .iter()
                .filter(|t| !t.is_system() && t.complete_columns().next().is_some())
                .map(|t| t.name.clone())
                .collect();
            let counts = client
                .table_row_counts(&names)
                .await
                .map_err(|e| self.named(e))?;
            for (table, rows) in counts {
                let parent = schema.table(&table).and_then(|t| t.parent.clone());
                tables.push(TableRows {
                    table,
                    parent,
                    rows,
                });
            }
        }
        let loads = client
            .recent_loads(loads)
            .await
            .map_err(|e| self.named(e))?
            .into_iter()
            .map(|(load_id, status, inserted_at)| LoadRecord {
                load_id,
                status,
                inserted_at,
            })
            .collect();
        Ok(DatasetOverview {
            schema_from,
            tables,
            loads,
        })
    }

    /// Drops `resources` as dlt's `pipeline drop` does: their root tables and nested tables
    /// from the dataset (and staging) and from the schema, and their state (incremental
    /// cursors) from the pipeline state; then loads a package with the new state, which
    /// stores the new schema and state in the destination. The next run loads the
    /// resources from scratch. `confirm` sees the plan first; nothing happens when it says
    /// no (`Ok(None)`).
    ///
    /// # Errors
    /// [`PipelineError::Config`] for an unknown resource or when packages are pending.
    pub async fn drop_resources(
        &mut self,
        resources: &[String],
        confirm: impl FnOnce(&DropPlan) -> bool,
    ) -> Result<Option<DropInfo>, PipelineError> {
        let lock = self.lock().await?;
        self.storage.discard_incomplete()?;
        self.refuse_pending("drop resources")?;
        let mut client = None;
        let mut state = self.current_state(&mut client).await?;
        let mut schema = self.schema()?;
        let plan = self.drop_plan(resources, schema.as_ref(), &state)?;
        if !confirm(&plan) {
            return Ok(None);
        }
        if let Some(schema) = schema.as_mut().filter(|_| !plan.tables.is_empty()) {
            let c = self.client(&mut client).await?;
            c.drop_tables(&plan.tables, &schema.name)
                .await
                .map_err(|e| self.named(e))?;
            schema.tables.retain(|t| !plan.tables.contains(&t.name));
            schema.bump_version();
            self.save_schema(schema)?;
        }
        if let Some(Some(res)) = state
            .sources
            .get_mut(&self.schema_name)
            .map(|s| s.get_mut("resources").and_then(|r| r.as_object_mut()))
        {
            for r in resources {
                res.remove(r);
            }
        }
        state.bump();
        // a package with the new state (and no data): loading it stores the new schema
        // version (dropping deleted the stored ones) and the state in the destination
        let load_id = crate::next_load_id(state.local.last_load_id.as_deref());
        let created_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        crate::extract::extract(
            &self.storage,
            &load_id,
            &created_at,
            Vec::new(),
            &mut state,
            &self.schema_name,
            None,
            None,
            &self.normalize.progress,
        )
        .await?;
        state.local.last_load_id = Some(load_id);
        state.local.last_extracted_hash = Some(state.version_hash.clone());
        self.save_state(&state)?;
        drop(lock);
        let load = self.run(Vec::new()).await?;
        Ok(Some(DropInfo { plan, load }))
    }

    fn refuse_pending(&self, what: &str) -> Result<(), PipelineError> {
        let pending: Vec<String> = packages(&self.storage)?
            .into_iter()
            .filter(|p| p.stage.is_pending())
            .map(|p| p.load_id)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        Err(PipelineError::Config(format!(
            "cannot {what}: pipeline `{}` has pending packages ({}); load them first (run the \
             pipeline again) or drop them (`dlt-rs pipeline {} drop-pending-packages`)",
            self.name,
            pending.join(", "),
            self.name
        )))
    }

    fn drop_plan(
        &self,
        resources: &[String],
        schema: Option<&Schema>,
        state: &PipelineState,
    ) -> Result<DropPlan, PipelineError> {
        let state_resources = state
            .sources
            .get(&self.schema_name)
            .and_then(|s| s.get("resources"))
            .and_then(|r| r.as_object());
        let roots: Vec<&dest_core::TableSchema> = schema
            .map(|s| {
                s.tables
                    .iter()
                    .filter(|t| !t.is_system() && t.parent.is_none())
                    .collect()
            })
            .unwrap_or_default();
        let resource_of = |t: &dest_core::TableSchema| -> String {
            t.resource.clone().unwrap_or_else(|| t.name.clone())
        };
        let mut tables = Vec::new();
        let mut state_paths = Vec::new();
        let mut unknown = Vec::new();
        for r in resources {
            let mut found = false;
            for root in roots.iter().filter(|t| &resource_of(t) == r) {
                found = true;
                if let Some(schema) = schema {
                    for t in schema.chain(&root.name) {
                        if !tables.contains(&t.name) {
                            tables.push(t.name.clone());
                        }
                    }
                }
            }
            if state_resources.is_some_and(|m| m.contains_key(r)) {
                found = true;
                state_paths.push(format!("sources.{}.resources.{r}", self.schema_name));
            }
            if !found {
                unknown.push(r.clone());
            }
        }
        if !unknown.is_empty() {
            let mut known: Vec<String> = roots.iter().map(|t| resource_of(t)).collect();
            known.extend(state_resources.into_iter().flat_map(|m| m.keys().cloned()));
            known.sort();
            known.dedup();
            return Err(PipelineError::Config(format!(
                "pipeline `{}` has no resource {}; its resources: {}",
                self.name,
                unknown
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                match known.is_empty() {
                    true => "none".to_string(),
                    false => known.join(", "),
                }
            )));
        }
        Ok(DropPlan {
            pipeline_name: self.name.clone(),
            destination: self.destination.name().to_string(),
            dataset_name: self.dataset_name.clone(),
            resources: resources.to_vec(),
            tables,
            state_paths,
        })
    }

    /// Drops the local state and schema and restores them from the destination (the state
    /// of the newest completed load, the newest stored schema), as dlt's `pipeline sync`.
    /// `confirm` sees what will be restored first; nothing happens when it says no
    /// (`Ok(None)`).
    ///
    /// # Errors
    /// [`PipelineError::Config`] when the destination holds no state of the pipeline (the
    /// local files are kept) or packages are pending.
    pub async fn sync_from_destination(
        &mut self,
        confirm: impl FnOnce(&SyncPlan) -> bool,
    ) -> Result<Option<SyncInfo>, PipelineError> {
        let _lock = self.lock().await?;
        self.storage.discard_incomplete()?;
        self.refuse_pending("sync the pipeline")?;
        let client = self.client(&mut None).await?;
        let stored = client.stored_state(&self.name).await?;
        let Some(stored) = stored.filter(|s| PipelineState::decode(&s.state).is_some()) else {
            return Err(PipelineError::Config(format!(
                "dataset `{}` holds no (readable) state of pipeline `{}`: nothing to restore; \
                 the local state and schema were kept",
                self.dataset_name, self.name
            )));
        };
        let schema_version = client
            .stored_schema(&self.schema_name)
            .await?
            .map(|s| s.version);
        let plan = SyncPlan {
            pipeline_name: self.name.clone(),
            destination: self.destination.name().to_string(),
            dataset_name: self.dataset_name.clone(),
            local_state_version: self.state()?.map(|s| s.state_version),
            state_version: stored.version,
            state_load_id: stored.load_id,
            schema_version,
        };
        if !confirm(&plan) {
            return Ok(None);
        }
        remove_if_exists(&self.storage.state_file(), "removing the local state")?;
        remove_if_exists(&self.schema_path(), "removing the local schema")?;
        let state = restore_or_fail(self, client.as_ref()).await?;
        Ok(Some(SyncInfo {
            plan,
            state,
            schema: self.schema()?,
        }))
    }
}

async fn restore_or_fail(
    p: &Pipeline,
    client: &dyn LoadClient,
) -> Result<PipelineState, PipelineError> {
    p.restore(client).await?.ok_or_else(|| {
        PipelineError::Config(format!(
            "the state of pipeline `{}` could not be restored from dataset `{}`",
            p.name, p.dataset_name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_job_files_are_counted() {
        let dir = std::env::temp_dir().join(format!("dlt-rs-count-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let iv = dir.join("t.1.0.insert_values");
        fs::write(
            &iv,
            "INSERT INTO {}(\"a\")\nVALUES\n(1),\n(E'(x\\n(y'),\n(3);\nINSERT INTO {}(\"a\")\nVALUES\n(4);\n",
        )
        .unwrap();
        assert_eq!(count_rows(&iv, "insert_values"), Some(4));
        let csv = dir.join("t.1.0.csv");
        fs::write(&csv, "\"a\",\"b\"\n1,\"x\ny\"\n2,\"\"\"\"\n3,").unwrap();
        assert_eq!(count_rows(&csv, "csv"), Some(3));
        fs::write(&csv, "\"a\"\n").unwrap();
        assert_eq!(count_rows(&csv, "csv"), Some(0));
        assert_eq!(count_rows(&csv, "parquet"), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn schema_updates_list_new_tables_and_columns() {
        let mut before = Schema::new("s");
        let mut t = dest_core::TableSchema::new("items");
        t.columns
            .push(dest_core::Column::new("id", dest_core::DataType::Bigint));
        before.tables.push(t.clone());
        let mut now = before.clone();
        if let Some(items) = now.table_mut("items") {
            items
                .columns
                .push(dest_core::Column::new("name", dest_core::DataType::Text));
        }
        let mut child = dest_core::TableSchema::new("items__tags");
        child.parent = Some("items".into());
        child
            .columns
            .push(dest_core::Column::new("value", dest_core::DataType::Text));
        now.tables.push(child);
        assert_eq!(
            schema_diff(Some(&before), &now),
            vec![
                SchemaUpdate {
                    table: "items".into(),
                    new_table: false,
                    columns: vec![("name".into(), "text".into())],
                },
                SchemaUpdate {
                    table: "items__tags".into(),
                    new_table: true,
                    columns: vec![("value".into(), "text".into())],
                },
            ]
        );
        assert_eq!(schema_diff(None, &before).len(), 1);
    }
}
