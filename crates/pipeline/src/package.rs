//! A load package on disk. [`LoadPackage`] is the one place that knows the files and
//! folders inside a package, from extraction to loading; the stages a package moves
//! through (`normalize/extracted`, `load/normalized`, `load/loaded`, ...) are the working
//! folder's, in [`crate::storage`].
//!
//! ```text
//! <load_id>/
//!   manifest.json           extracted: the resources and their items files, the state, the input id
//!   items/<n>.jsonl         extracted: the items of the n-th resource, one JSON document a line
//!   schema.json             normalized: the schema the package was normalized with
//!   created_at              normalized: when extraction started (RFC 3339), the scd2 boundary
//!   chains.json             normalized: the root tables of the package's resources
//!   rows.json               normalized: rows per table
//!   job_rows.json           normalized: rows per job file, by job key (not in packages of
//!                           older versions: their jobs' rows are unknown)
//!   origins.json            normalized: the items the rows of each job file came from
//!   state.json              normalized: the pipeline state the package carries, when it changed
//!   input_id                normalized: the input the package was extracted from, when given
//!   new_jobs/ started_jobs/ completed_jobs/ failed_jobs/
//!                           the job files by state (a failed one with its `.exception`)
//!   completed_jobs.json     loaded: the completed job files, once deleted (names and sizes)
//!   package_completed.json  loaded: the completion marker, "loaded" or "aborted"
//! ```
//!
//! A job's state is the folder its file is in; moving it is an atomic rename. Files are
//! written atomically (temp file, sync, rename).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use dest_core::{Column, Scd2Options, Schema, TableDisposition};
use serde::{Deserialize, Serialize};

use crate::state::PipelineState;
use crate::storage::{
    io_err, list_names, rename, write_atomic, Storage, EXTRACTED, LOADED, NORMALIZED,
};
use crate::PipelineError;

/// The manifest of an extracted package.
const MANIFEST: &str = "manifest.json";
/// The folder of an extracted package's items files.
const ITEMS: &str = "items";
/// The schema a package was normalized with.
const SCHEMA: &str = "schema.json";
/// The root tables of the package's resources (JSON list).
const CHAINS: &str = "chains.json";
/// Marks a normalized package with nothing to load (see [`LoadPackage::mark_empty`]).
const EMPTY: &str = "empty.json";
/// The package's creation time (RFC 3339), the boundary for scd2.
const CREATED: &str = "created_at";
/// The rows the package holds per table (`{"table": rows}`), for the run's summary.
const TABLE_ROWS: &str = "rows.json";
/// The rows normalize wrote into each job file (`{"<job key>": rows}`).
const JOB_ROWS: &str = "job_rows.json";
/// Where the rows of each job file came from (`{"<job key>": JobOrigin}`), so that a load
/// error on a row can name the item.
const ORIGINS: &str = "origins.json";
/// The pipeline state a package carries, when it changed with that package.
const STATE: &str = "state.json";
/// The id of the input a package was extracted from, when the run gave one.
const INPUT_ID: &str = "input_id";
/// What is kept of a loaded package's completed jobs when their files are deleted: their
/// names and sizes.
const COMPLETED_LISTING: &str = "completed_jobs.json";
/// The marker of a package that is done, loaded or aborted.
const COMPLETED_MARKER: &str = "package_completed.json";
/// The extension of a failed job's recorded error.
const EXCEPTION: &str = "exception";

/// The `[load]` setting that deletes a loaded package's completed job files (keeping a
/// listing of them), named after their folder as in dlt.
pub(crate) const DELETE_JOB_FILES_SETTING: &str = "delete_completed_jobs";

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

    /// The folder of the working folder that holds packages of this stage.
    fn storage_dir(self) -> &'static str {
        match self {
            PackageStage::Extracted => EXTRACTED,
            PackageStage::Normalized => NORMALIZED,
            PackageStage::Loaded | PackageStage::Aborted => LOADED,
        }
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
    /// Rows normalize wrote into the file (`None` for packages of older versions, which did
    /// not record them, and for files deleted after loading).
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
    pub table_rows: BTreeMap<String, u64>,
}

/// One resource of an extracted package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResourceSpec {
    pub table_name: String,
    /// Stored as `write_disposition` and `strategy`.
    #[serde(flatten)]
    pub disposition: TableDisposition,
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub merge_key: Vec<String>,
    #[serde(default)]
    pub columns: Vec<Column>,
    #[serde(default)]
    pub max_table_nesting: Option<u32>,
    /// dlt's `schema_contract` of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_contract: Option<dest_core::SchemaContract>,
    /// dlt's `table_name` function as a field: each item goes to the table its value names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_name_from: Option<String>,
    /// dlt's `nested_hints`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nested_hints: Vec<normalize::NestedHints>,
    /// Options of the scd2 merge strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scd2: Option<Scd2Options>,
    /// Items file, relative to the package.
    pub items_file: String,
    /// Arrow items: further files, after `items_file` (a batch with other columns than
    /// the one before starts a file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_items_files: Vec<String>,
    /// What the items files hold.
    #[serde(default, skip_serializing_if = "ItemsFormat::is_jsonl")]
    pub items_format: ItemsFormat,
    /// Arrow items: `_dlt_load_id` and `_dlt_id` are added whatever
    /// `[normalize.parquet_normalizer]` says ([`crate::Resource::dlt_columns`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dlt_columns: bool,
    /// Items (Arrow: rows).
    pub items: u64,
}

/// What a resource's items files hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ItemsFormat {
    /// One JSON document per line.
    #[default]
    Jsonl,
    /// Arrow record batches in a Parquet file.
    Arrow,
}

impl ItemsFormat {
    fn is_jsonl(&self) -> bool {
        *self == ItemsFormat::Jsonl
    }
}

/// The manifest of an extracted package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub load_id: String,
    pub created_at: String,
    pub resources: Vec<ResourceSpec>,
    /// The pipeline state to store with this load, when it changed.
    #[serde(default)]
    pub state: Option<PipelineState>,
    /// Identifies the input the package was extracted from ([`crate::Pipeline::run_input`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_id: Option<String>,
}

/// The items the rows of one job file came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobOrigin {
    /// A root table's file: every item gave one row, so within a segment the row
    /// `segment.row + k` came from item `segment.first + k`. A nested table's file: a row
    /// came from one of its segment's items.
    pub exact: bool,
    /// In the order of the file's rows; a new one starts where the resource changes (or, in
    /// a root table's file, where the items stop being consecutive).
    pub segments: Vec<OriginSegment>,
}

/// Consecutive rows of a job file that came from items of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OriginSegment {
    /// The file's first row of the segment (0-based).
    pub row: u64,
    pub resource: String,
    /// The first and the last item (1-based: the n-th item the resource yielded) whose
    /// rows are in the segment.
    pub first: u64,
    pub last: u64,
}

impl JobOrigin {
    /// The resource and the items (first, last; equal when exact) row `row` of the file
    /// came from.
    pub(crate) fn item_of(&self, row: u64) -> Option<(&str, u64, u64)> {
        let at = self.segments.partition_point(|s| s.row <= row);
        let segment = self.segments.get(at.checked_sub(1)?)?;
        if self.exact {
            let item = segment.first.checked_add(row - segment.row)?;
            (item <= segment.last).then_some((segment.resource.as_str(), item, item))
        } else {
            Some((segment.resource.as_str(), segment.first, segment.last))
        }
    }
}

/// A job file name: `<table>.<file_id>.<retry_count>.<format>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobFileName {
    pub table: String,
    pub file_id: String,
    pub retry: u32,
    pub format: String,
}

impl JobFileName {
    pub(crate) fn new(table: &str, format: &str) -> Self {
        let id: [u8; 5] = rand::random();
        JobFileName {
            table: table.to_string(),
            file_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            retry: 0,
            format: format.to_string(),
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        let mut parts = name.rsplitn(4, '.');
        let format = parts.next()?.to_string();
        let retry = parts.next()?.parse().ok()?;
        let file_id = parts.next()?.to_string();
        let table = parts.next()?.to_string();
        Some(JobFileName {
            table,
            file_id,
            retry,
            format,
        })
    }

    /// The job's id within its package, the same on every retry (`<table>.<file id>`).
    pub(crate) fn key(&self) -> String {
        format!("{}.{}", self.table, self.file_id)
    }

    pub(crate) fn file_name(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.table, self.file_id, self.retry, self.format
        )
    }
}

/// A job file, not the `.exception` file recorded beside a failed one.
fn is_job(name: &str) -> bool {
    JobFileName::parse(name).is_some_and(|j| j.format != EXCEPTION)
}

/// The folders of a package's jobs: a job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobFolder {
    New,
    Started,
    Completed,
    Failed,
}

impl JobFolder {
    pub(crate) const ALL: [JobFolder; 4] = [
        JobFolder::New,
        JobFolder::Started,
        JobFolder::Completed,
        JobFolder::Failed,
    ];

    fn name(self) -> &'static str {
        match self {
            JobFolder::New => "new_jobs",
            JobFolder::Started => "started_jobs",
            JobFolder::Completed => "completed_jobs",
            JobFolder::Failed => "failed_jobs",
        }
    }

    fn state(self) -> JobState {
        match self {
            JobFolder::New => JobState::New,
            JobFolder::Started => JobState::Started,
            JobFolder::Completed => JobState::Completed,
            JobFolder::Failed => JobState::Failed,
        }
    }
}

/// How a package ended (its completion marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    Loaded,
    Aborted,
}

/// A completed job listed once its file was deleted.
#[derive(Serialize, Deserialize)]
struct ListedJob {
    file_name: String,
    size_bytes: u64,
}

/// A package's folder, in whatever stage it is.
#[derive(Debug, Clone)]
pub(crate) struct LoadPackage {
    dir: PathBuf,
}

fn serialize<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<u8>, PipelineError> {
    serde_json::to_vec(value)
        .map_err(|e| PipelineError::Internal(format!("serializing {what}: {e}")))
}

/// Reads a JSON file a package must have; a damaged one is an internal error.
fn read_required<T: serde::de::DeserializeOwned>(
    path: &Path,
    context: &'static str,
) -> Result<T, PipelineError> {
    let bytes = fs::read(path).map_err(io_err(context, path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| PipelineError::Internal(format!("{}: {e}", path.display())))
}

/// Reads a JSON file a package may lack (`None`, as for packages of older versions); a
/// damaged one is an internal error.
fn read_optional<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, PipelineError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PipelineError::Internal(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", path)(e)),
    }
}

impl LoadPackage {
    /// The package in folder `dir`.
    pub(crate) fn at(dir: PathBuf) -> Self {
        LoadPackage { dir }
    }

    /// Package `load_id` in `stage` (a folder of the working folder, [`crate::storage`]).
    pub(crate) fn of(storage: &Storage, stage: &str, load_id: &str) -> Self {
        LoadPackage::at(storage.package(stage, load_id))
    }

    /// Package `load_id`, listed in `stage`.
    pub(crate) fn listed(storage: &Storage, load_id: &str, stage: PackageStage) -> Self {
        LoadPackage::of(storage, stage.storage_dir(), load_id)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    // --- extracted packages

    /// Creates the folder of the items files.
    pub(crate) fn create_items_folder(&self) -> Result<(), PipelineError> {
        let p = self.file(ITEMS);
        fs::create_dir_all(&p).map_err(io_err("creating a package", &p))
    }

    /// The items file of the package's `n`-th resource: its name relative to the package
    /// (what the manifest records) and its path.
    pub(crate) fn items_file(&self, n: usize) -> (String, PathBuf) {
        self.items_file_named(&format!("{n}.jsonl"))
    }

    /// The `k`-th Parquet file of resource `n`'s Arrow items.
    pub(crate) fn arrow_items_file(&self, n: usize, k: usize) -> (String, PathBuf) {
        self.items_file_named(&format!("{n}.{k}.parquet"))
    }

    fn items_file_named(&self, name: &str) -> (String, PathBuf) {
        let relative = format!("{ITEMS}/{name}");
        let path = self.dir.join(&relative);
        (relative, path)
    }

    /// The path of a file the manifest names (relative to the package).
    pub(crate) fn path_of(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    pub(crate) fn write_manifest(&self, manifest: &Manifest) -> Result<(), PipelineError> {
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|e| PipelineError::Internal(format!("serializing a manifest: {e}")))?;
        write_atomic(&self.file(MANIFEST), &bytes)
    }

    /// The manifest of an extracted package.
    pub(crate) fn manifest(&self) -> Result<Manifest, PipelineError> {
        read_required(&self.file(MANIFEST), "reading a package manifest")
    }

    // --- what normalize records

    pub(crate) fn write_schema(&self, schema: &Schema) -> Result<(), PipelineError> {
        write_atomic(&self.file(SCHEMA), &serialize(schema, "the schema")?)
    }

    /// The schema a normalized package was normalized with.
    pub(crate) fn schema(&self) -> Result<Schema, PipelineError> {
        read_required(&self.file(SCHEMA), "reading a package schema")
    }

    pub(crate) fn write_created_at(&self, created_at: &str) -> Result<(), PipelineError> {
        write_atomic(&self.file(CREATED), created_at.as_bytes())
    }

    /// When the package was created (the scd2 validity boundary).
    pub(crate) fn created_at(&self) -> Result<DateTime<Utc>, PipelineError> {
        let p = self.file(CREATED);
        let text =
            fs::read_to_string(&p).map_err(io_err("reading the package creation time", &p))?;
        DateTime::parse_from_rfc3339(text.trim())
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| PipelineError::Internal(format!("{}: {e}", p.display())))
    }

    /// Marks the package as one dlt drops instead of loading: no resource yielded an item
    /// (a `replace` resource that yielded none still empties its table, so it counts), and
    /// the state did not change.
    pub(crate) fn mark_empty(&self) -> Result<(), PipelineError> {
        write_atomic(&self.file(EMPTY), b"true")
    }

    /// Whether [`Self::mark_empty`] marked the package.
    pub(crate) fn is_marked_empty(&self) -> Result<bool, PipelineError> {
        Ok(read_optional::<bool>(&self.file(EMPTY))?.unwrap_or(false))
    }

    pub(crate) fn write_roots(&self, roots: &[String]) -> Result<(), PipelineError> {
        write_atomic(&self.file(CHAINS), &serialize(roots, "chains")?)
    }

    /// The root tables of the package's resources (none in packages of older versions).
    pub(crate) fn roots(&self) -> Result<Vec<String>, PipelineError> {
        Ok(read_optional(&self.file(CHAINS))?.unwrap_or_default())
    }

    pub(crate) fn write_table_rows(
        &self,
        rows: &BTreeMap<String, u64>,
    ) -> Result<(), PipelineError> {
        write_atomic(&self.file(TABLE_ROWS), &serialize(rows, "row counts")?)
    }

    /// The rows per table normalize counted; `None` for packages of older versions, which
    /// did not count them (a record that cannot be read counts no rows).
    pub(crate) fn table_rows(&self) -> Option<BTreeMap<String, u64>> {
        let p = self.file(TABLE_ROWS);
        p.exists().then(|| {
            fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default()
        })
    }

    pub(crate) fn write_job_rows(&self, rows: &BTreeMap<String, u64>) -> Result<(), PipelineError> {
        write_atomic(&self.file(JOB_ROWS), &serialize(rows, "job row counts")?)
    }

    /// The rows normalize wrote into each job file, by job key ([`JobFileName::key`]);
    /// empty for packages of older versions (and when the record cannot be read): their
    /// jobs' rows are unknown.
    fn job_rows(&self) -> BTreeMap<String, u64> {
        fs::read(self.file(JOB_ROWS))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub(crate) fn write_origins(
        &self,
        origins: &BTreeMap<String, JobOrigin>,
    ) -> Result<(), PipelineError> {
        write_atomic(&self.file(ORIGINS), &serialize(origins, "row origins")?)
    }

    /// Where the rows of each job file came from, by job key (`None` when not known).
    pub(crate) fn origins(&self) -> Option<BTreeMap<String, JobOrigin>> {
        let bytes = fs::read(self.file(ORIGINS)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub(crate) fn write_state(&self, state: &PipelineState) -> Result<(), PipelineError> {
        write_atomic(&self.file(STATE), &serialize(state, "the state")?)
    }

    /// The pipeline state a normalized package carries, when it changed with it.
    pub(crate) fn state(&self) -> Result<Option<PipelineState>, PipelineError> {
        read_optional(&self.file(STATE))
    }

    pub(crate) fn write_input_id(&self, id: &str) -> Result<(), PipelineError> {
        write_atomic(&self.file(INPUT_ID), id.as_bytes())
    }

    /// The input a normalized package was extracted from, when the run gave one.
    pub(crate) fn input_id(&self) -> Result<Option<String>, PipelineError> {
        let p = self.file(INPUT_ID);
        match fs::read_to_string(&p) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &p)(e)),
        }
    }

    // --- jobs

    /// The folder of the jobs in `folder`.
    pub(crate) fn job_folder(&self, folder: JobFolder) -> PathBuf {
        self.dir.join(folder.name())
    }

    /// The path of job file `name` in `folder`.
    pub(crate) fn job_path(&self, folder: JobFolder, name: &str) -> PathBuf {
        self.job_folder(folder).join(name)
    }

    pub(crate) fn create_job_folder(&self, folder: JobFolder) -> Result<(), PipelineError> {
        let p = self.job_folder(folder);
        fs::create_dir_all(&p).map_err(io_err("creating a package folder", &p))
    }

    pub(crate) fn create_job_folders(&self) -> Result<(), PipelineError> {
        JobFolder::ALL
            .into_iter()
            .try_for_each(|f| self.create_job_folder(f))
    }

    /// The names of the files in `folder` (with the errors recorded beside failed jobs),
    /// sorted.
    pub(crate) fn job_file_names(&self, folder: JobFolder) -> Result<Vec<String>, PipelineError> {
        list_names(&self.job_folder(folder), false)
    }

    /// The jobs in `folder`, by file name.
    pub(crate) fn jobs(&self, folder: JobFolder) -> Result<Vec<JobFileName>, PipelineError> {
        Ok(self
            .job_file_names(folder)?
            .iter()
            .filter_map(|n| JobFileName::parse(n))
            .filter(|j| j.format != EXCEPTION)
            .collect())
    }

    /// Moves job file `name` from `from` to `to`.
    pub(crate) fn move_job(
        &self,
        name: &str,
        from: JobFolder,
        to: JobFolder,
    ) -> Result<(), PipelineError> {
        rename(&self.job_path(from, name), &self.job_path(to, name))
    }

    /// Moves the jobs of `from` that match `pick` to `to`.
    pub(crate) fn move_jobs(
        &self,
        from: JobFolder,
        to: JobFolder,
        pick: impl Fn(&JobFileName) -> bool,
    ) -> Result<(), PipelineError> {
        for job in self.jobs(from)? {
            if pick(&job) {
                self.move_job(&job.file_name(), from, to)?;
            }
        }
        Ok(())
    }

    /// Moves started job `job` back to the new jobs with its retry count raised.
    pub(crate) fn requeue_started(&self, job: &mut JobFileName) -> Result<(), PipelineError> {
        let started = self.job_path(JobFolder::Started, &job.file_name());
        job.retry += 1;
        rename(&started, &self.job_path(JobFolder::New, &job.file_name()))
    }

    /// Records the error of failed job `name` beside it.
    pub(crate) fn record_job_error(&self, name: &str, error: &str) -> Result<(), PipelineError> {
        let path = self
            .job_path(JobFolder::Failed, name)
            .with_extension(EXCEPTION);
        write_atomic(&path, error.as_bytes())
    }

    /// The error recorded for failed job `name`.
    fn job_error(&self, name: &str) -> Option<String> {
        fs::read_to_string(
            self.job_path(JobFolder::Failed, name)
                .with_extension(EXCEPTION),
        )
        .ok()
    }

    /// Whether a job of the package failed for good.
    pub(crate) fn has_failed_jobs(&self) -> Result<bool, PipelineError> {
        Ok(!self.job_file_names(JobFolder::Failed)?.is_empty())
    }

    /// The failed jobs with their recorded errors.
    fn failed_jobs(&self) -> Result<Vec<(String, String)>, PipelineError> {
        let failed = self.job_folder(JobFolder::Failed);
        if !failed.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for name in list_names(&failed, false)? {
            if is_job(&name) {
                let error = self.job_error(&name).unwrap_or_default();
                out.push((name, error));
            }
        }
        Ok(out)
    }

    /// The jobs in `folders`, with their rows as normalize recorded them.
    pub(crate) fn job_infos(&self, folders: &[JobFolder]) -> Result<Vec<JobInfo>, PipelineError> {
        let job_rows = self.job_rows();
        let mut out = Vec::new();
        for &folder in folders {
            let state = folder.state();
            if folder == JobFolder::Completed && !self.job_folder(folder).is_dir() {
                let listed: Vec<ListedJob> =
                    crate::read_json(&self.file(COMPLETED_LISTING))?.unwrap_or_default();
                for job in listed {
                    let Some(parsed) = JobFileName::parse(&job.file_name) else {
                        continue;
                    };
                    out.push(JobInfo {
                        file_name: job.file_name,
                        table: parsed.table,
                        file_format: parsed.format,
                        state,
                        retry_count: parsed.retry,
                        size_bytes: job.size_bytes,
                        rows: None,
                        error: None,
                        file_deleted: true,
                    });
                }
                continue;
            }
            for name in self.job_file_names(folder)? {
                let Some(job) = JobFileName::parse(&name).filter(|j| j.format != EXCEPTION) else {
                    continue;
                };
                let size_bytes = fs::metadata(self.job_path(folder, &name))
                    .map(|m| m.len())
                    .unwrap_or(0);
                let error = match folder {
                    JobFolder::Failed => Some(
                        self.job_error(&name)
                            .map(|e| e.trim().to_string())
                            .unwrap_or_default(),
                    ),
                    _ => None,
                };
                out.push(JobInfo {
                    rows: job_rows.get(&job.key()).copied(),
                    file_name: name,
                    table: job.table,
                    file_format: job.format,
                    state,
                    retry_count: job.retry,
                    size_bytes,
                    error,
                    file_deleted: false,
                });
            }
        }
        Ok(out)
    }

    /// Makes the failed jobs of an aborted package new again (their recorded errors go)
    /// and removes its completion marker.
    pub(crate) fn requeue_failed_jobs(&self) -> Result<(), PipelineError> {
        let failed = self.job_folder(JobFolder::Failed);
        for name in list_names(&failed, false)? {
            let from = failed.join(&name);
            if is_job(&name) {
                rename(&from, &self.job_path(JobFolder::New, &name))?;
            } else {
                // the recorded errors (`.exception`)
                fs::remove_file(&from).map_err(io_err("removing a job's error", &from))?;
            }
        }
        let marker = self.file(COMPLETED_MARKER);
        fs::remove_file(&marker).map_err(io_err("removing a package marker", &marker))
    }

    /// Replaces the completed job files of a loaded package by a listing of them.
    pub(crate) fn archive_completed_jobs(&self) -> Result<(), PipelineError> {
        let folder = self.job_folder(JobFolder::Completed);
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
        write_atomic(
            &self.file(COMPLETED_LISTING),
            &serialize(&listing, "a job listing")?,
        )?;
        fs::remove_dir_all(&folder).map_err(io_err("removing completed job files", &folder))
    }

    // --- completion

    /// Writes the completion marker.
    pub(crate) fn mark_completed(&self, how: Completion) -> Result<(), PipelineError> {
        let marker: &[u8] = match how {
            Completion::Loaded => b"\"loaded\"",
            Completion::Aborted => b"\"aborted\"",
        };
        write_atomic(&self.file(COMPLETED_MARKER), marker)
    }

    /// Whether the package's marker says it was aborted.
    pub(crate) fn is_aborted(&self) -> bool {
        fs::read_to_string(self.file(COMPLETED_MARKER))
            .map(|m| m.contains("aborted"))
            .unwrap_or(false)
    }

    /// When the package was loaded or aborted (`None` while it is not).
    pub(crate) fn completed_at(&self) -> Option<SystemTime> {
        fs::metadata(self.file(COMPLETED_MARKER))
            .and_then(|m| m.modified())
            .ok()
    }
}

/// Every package of `storage`: pending (extracted, normalized), then loaded and aborted,
/// oldest first within each stage.
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
        let package = LoadPackage::of(storage, LOADED, &id);
        let stage = match package.is_aborted() {
            true => PackageStage::Aborted,
            false => PackageStage::Loaded,
        };
        out.push(PackageStatus {
            failed_jobs: package.failed_jobs()?,
            load_id: id,
            stage,
        });
    }
    Ok(out)
}

/// Package `load_id` of `stage` with its jobs.
pub(crate) fn package_detail(
    storage: &Storage,
    load_id: &str,
    stage: PackageStage,
) -> Result<PackageDetail, PipelineError> {
    let package = LoadPackage::listed(storage, load_id, stage);
    let mut detail = PackageDetail {
        load_id: load_id.to_string(),
        stage,
        created_at: None,
        completed_at: package
            .completed_at()
            .map(|t| DateTime::<Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        carries_state: false,
        jobs: Vec::new(),
        resources: Vec::new(),
        schema: None,
        table_rows: Default::default(),
    };
    if stage == PackageStage::Extracted {
        if let Some(m) = crate::read_json::<Manifest>(&package.file(MANIFEST))? {
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
    detail.created_at = fs::read_to_string(package.file(CREATED))
        .ok()
        .map(|s| s.trim().to_string());
    detail.carries_state = package.file(STATE).exists();
    detail.schema = stored_schema(&package)?;
    detail.table_rows = crate::read_json(&package.file(TABLE_ROWS))?.unwrap_or_default();
    detail.jobs = package.job_infos(&JobFolder::ALL)?;
    detail
        .jobs
        .sort_by(|a, b| (&a.table, &a.file_name).cmp(&(&b.table, &b.file_name)));
    Ok(detail)
}

/// The schema package `load_id` of `stage` was normalized with, when it has one (a
/// damaged one is an error).
pub(crate) fn package_schema(
    storage: &Storage,
    load_id: &str,
    stage: PackageStage,
) -> Result<Option<Schema>, PipelineError> {
    stored_schema(&LoadPackage::listed(storage, load_id, stage))
}

fn stored_schema(package: &LoadPackage) -> Result<Option<Schema>, PipelineError> {
    crate::read_json(&package.file(SCHEMA))
}

/// Bounds the disk a pipeline uses once package `load_id` is loaded: its completed job
/// files go, a listing of their names stays (`[load] delete_completed_jobs`; what they
/// held is in the destination, and an aborted package keeps everything) and only the
/// newest `keep` loaded packages stay (`[load] keep_loaded_packages`).
pub(crate) fn tidy_loaded(
    storage: &Storage,
    load_id: &str,
    delete_job_files: bool,
    keep: usize,
) -> Result<(), PipelineError> {
    if delete_job_files {
        LoadPackage::of(storage, LOADED, load_id).archive_completed_jobs()?;
    }
    storage.prune_loaded(keep)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn job_file_names_round_trip() {
        let j = JobFileName::new("events__payload__commits", "insert_values");
        assert_eq!(j.file_id.len(), 10);
        let parsed = JobFileName::parse(&j.file_name()).unwrap();
        assert_eq!(parsed, j);
        assert_eq!(JobFileName::parse("nonsense"), None);
    }

    fn segment(row: u64, resource: &str, first: u64, last: u64) -> OriginSegment {
        OriginSegment {
            row,
            resource: resource.into(),
            first,
            last,
        }
    }

    #[test]
    fn origins_map_rows_to_items() {
        // a root table's file: items 1-3 of `a`, then items 7-8 of `a` (4-6 went to
        // another file), then items 1-2 of `b`
        let root = JobOrigin {
            exact: true,
            segments: vec![
                segment(0, "a", 1, 3),
                segment(3, "a", 7, 8),
                segment(5, "b", 1, 2),
            ],
        };
        let got: Vec<_> = (0..8).map(|r| root.item_of(r)).collect();
        assert_eq!(
            got,
            [
                Some(("a", 1, 1)),
                Some(("a", 2, 2)),
                Some(("a", 3, 3)),
                Some(("a", 7, 7)),
                Some(("a", 8, 8)),
                Some(("b", 1, 1)),
                Some(("b", 2, 2)),
                None
            ]
        );
        // a nested table's file: the range of its segment
        let nested = JobOrigin {
            exact: false,
            segments: vec![segment(0, "a", 2, 9), segment(40, "b", 1, 1)],
        };
        assert_eq!(nested.item_of(0), Some(("a", 2, 9)));
        assert_eq!(nested.item_of(39), Some(("a", 2, 9)));
        assert_eq!(nested.item_of(40), Some(("b", 1, 1)));
        assert_eq!(nested.item_of(1000), Some(("b", 1, 1)));
        let none = JobOrigin {
            exact: true,
            segments: vec![],
        };
        assert_eq!(none.item_of(0), None);
        // the JSON written into the package reads back
        let text = serde_json::to_string(&root).unwrap();
        assert_eq!(serde_json::from_str::<JobOrigin>(&text).unwrap(), root);
    }

    #[test]
    fn job_rows_come_from_the_record_normalize_wrote() {
        let dir = std::env::temp_dir().join(format!("dlt-rs-job-rows-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let package = LoadPackage::at(dir.clone());
        package.create_job_folders().unwrap();
        let counted = JobFileName::parse("t.aaaaaaaaaa.0.insert_values").unwrap();
        let failed = JobFileName::parse("t.bbbbbbbbbb.2.csv").unwrap();
        fs::write(package.job_path(JobFolder::New, &counted.file_name()), "x").unwrap();
        fs::write(
            package.job_path(JobFolder::Failed, &failed.file_name()),
            "x",
        )
        .unwrap();
        package
            .record_job_error(&failed.file_name(), "boom\n")
            .unwrap();
        let rows_of = |package: &LoadPackage| -> Vec<(String, Option<u64>, Option<String>)> {
            package
                .job_infos(&JobFolder::ALL)
                .unwrap()
                .into_iter()
                .map(|j| (j.file_name, j.rows, j.error))
                .collect()
        };
        // a package of an older version: no record, rows unknown
        assert_eq!(
            rows_of(&package),
            [
                (counted.file_name(), None, None),
                (failed.file_name(), None, Some("boom".into())),
            ]
        );
        // the record is by job key: it holds across retries
        let record: BTreeMap<String, u64> = [(counted.key(), 3), (failed.key(), 0)]
            .into_iter()
            .collect();
        package.write_job_rows(&record).unwrap();
        assert_eq!(
            rows_of(&package),
            [
                (counted.file_name(), Some(3), None),
                (failed.file_name(), Some(0), Some("boom".into())),
            ]
        );
        assert!(package.has_failed_jobs().unwrap());
        // completed job files deleted after loading: listed, rows not shown
        package
            .move_job(&counted.file_name(), JobFolder::New, JobFolder::Completed)
            .unwrap();
        package.archive_completed_jobs().unwrap();
        let listed = package.job_infos(&[JobFolder::Completed]).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].file_deleted && listed[0].rows.is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_completion_marker_says_how_a_package_ended() {
        let dir = std::env::temp_dir().join(format!("dlt-rs-marker-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let package = LoadPackage::at(dir.clone());
        assert!(package.completed_at().is_none() && !package.is_aborted());
        package.mark_completed(Completion::Aborted).unwrap();
        assert!(package.completed_at().is_some() && package.is_aborted());
        package.create_job_folders().unwrap();
        package.requeue_failed_jobs().unwrap();
        assert!(package.completed_at().is_none());
        package.mark_completed(Completion::Loaded).unwrap();
        assert!(!package.is_aborted());
        fs::remove_dir_all(&dir).unwrap();
    }
}
