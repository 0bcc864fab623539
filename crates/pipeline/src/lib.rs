//! The pipeline: extract → normalize → load, through load packages on disk.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pipeline::PipelineError> {
//! use pipeline::{Pipeline, Resource};
//! let mut p = Pipeline::builder("events")
//!     .destination("postgres")
//!     .dataset_name("raw")
//!     .credentials("postgresql://loader:pw@localhost/dlt_data")
//!     .build()?;
//! let items = vec![serde_json::json!({"id": 1, "tags": ["a", "b"]})];
//! let info = p.run(vec![Resource::new("events", items)]).await?;
//! println!("{info}");
//! # Ok(()) }
//! ```
//!
//! The pipeline knows destinations only by name, through the registry of `dest-core`;
//! the binary that uses it links the destination crates.

mod dataset;
mod extract;
pub mod fault;
mod incremental;
mod load;
mod local;
mod normalize;
mod package;
mod progress;
mod resource;
mod schema_files;
mod settings;
mod state;
mod storage;
mod stream;
mod trace;

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dest_core::registry::{self, DestinationContext};
use dest_core::{
    DatasetRef, Destination, LoadClient, LoaderFileFormat, MergeStrategy, Schema, TableDisposition,
};
use dlt_config::{Config, ConfigBuilder};

pub use crate::dataset::{
    json_value, ArrowBatches, Dataset, JsonRow, Query, Relation, Rows, DEFAULT_BATCH_ROWS,
};
use crate::extract::ExtractTarget;
pub use crate::incremental::{
    state_path as incremental_state_path, Incremental, IncrementalError, IncrementalRun,
    LastValueFunc, OnMissing, RangeBound, RowOrder,
};
pub use crate::local::{
    state_destination, DatasetOverview, DropInfo, DropPlan, FailedJob, LoadRecord, PipelineFolder,
    PipelineList, PipelineOverrides, SchemaUpdate, SyncInfo, SyncPlan, TableRows,
};
pub use crate::package::{
    ExtractedResource, JobInfo, JobState, PackageDetail, PackageStage, PackageStatus,
};
pub use crate::progress::{Progress, ProgressSnapshot, Stage};
pub use crate::resource::{ItemError, Resource};
use crate::resource::{Items, StrategySource};
pub use crate::schema_files::{schema_document, schema_yaml};
pub use crate::settings::SettingWarning;
pub use crate::state::{PipelineState, SourceState};
use crate::storage::{io_err, write_atomic, Storage, EXTRACTED, NORMALIZED};
pub use crate::trace::{PackageTrace, RunTrace, StepTrace};
use ::normalize::naming::Naming;
/// The arrow-rs crates of [`Resource::from_record_batches`] (build batches with these, so
/// the versions match).
pub use columnar::{arrow_array, arrow_schema};

/// The resources of [`Pipeline::run_with_state`], made from the source's state.
type MakeResources =
    Box<dyn FnOnce(&mut SourceState<'_>) -> Result<Vec<Resource>, PipelineError> + Send + 'static>;

/// Job files are split past this size by default (dlt has no default). Small enough that
/// loading starts soon after normalizing does and the last file (loaded after normalize
/// ends) is short; 4 MiB measured as fast as 1 MiB and faster than 16 MiB
/// (docs/performance.md).
pub const DEFAULT_FILE_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Loaded packages kept in the working folder by default (`[load] keep_loaded_packages`):
/// their schema, row counts and state for `dlt-rs pipeline` commands; older ones go, so the
/// folder does not grow with every run.
pub const DEFAULT_KEEP_LOADED_PACKAGES: usize = 100;

/// Parallelized resources extracted at once when `[extract] workers` is not set (dlt's
/// default).
pub const DEFAULT_EXTRACT_WORKERS: usize = 5;

/// Errors of a pipeline run; the message says which step failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    #[error("extract failed: {0}; nothing of this run was loaded")]
    Extract(ItemError),

    #[error("normalize failed: resource `{resource}`, item {item}: {source}; nothing of this run was loaded")]
    Normalize {
        resource: String,
        item: u64,
        source: Box<::normalize::NormalizeError>,
    },

    #[error("normalize failed: {0}")]
    Schema(Box<::normalize::NormalizeError>),

    #[error("load failed: table `{table}`, job {job}: {source}{}",
        item.as_ref().map(|i| format!("; the row came from {i}")).unwrap_or_default())]
    Load {
        table: String,
        job: String,
        source: Box<dest_core::Error>,
        /// The item the failing row came from, when the destination named the row.
        item: Option<ItemRef>,
    },

    #[error("load {load_id} aborted: {source}; rows of jobs that had completed stay loaded")]
    LoadAborted {
        load_id: String,
        source: Box<PipelineError>,
    },

    #[error(transparent)]
    Destination(Box<dest_core::Error>),

    #[error("configuration: {0}")]
    Config(String),

    /// Reading the dataset back ([`Pipeline::dataset`]) asked for something it does not
    /// have (a table, a column) or got rows that are not what was asked for.
    #[error("{0}")]
    Read(String),

    #[error("{context}: {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("internal error (a bug in dlt-rs, please report it): {0}")]
    Internal(String),
}

impl PipelineError {
    /// Whether running the same step again may succeed: the destination's error was
    /// transient (connection lost, server restarting, deadlock, ...).
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Load { source, .. } => source.is_transient(),
            PipelineError::Destination(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The item a failed load's row came from (also inside [`PipelineError::LoadAborted`]).
    pub fn item(&self) -> Option<&ItemRef> {
        match self {
            PipelineError::Load { item, .. } => item.as_ref(),
            PipelineError::LoadAborted { source, .. } => source.item(),
            _ => None,
        }
    }
}

/// The item (or, for a row of a nested table, the items) of a resource that a row came
/// from: items are numbered from 1 in the order the resource yielded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef {
    pub resource: String,
    pub first: u64,
    /// Equal to `first` when the item is known exactly.
    pub last: u64,
    /// The id of the input the package was extracted from ([`Pipeline::run_input`]), when
    /// the run gave one: the item of a package an earlier run left is in that run's input.
    pub input_id: Option<String>,
}

/// `resource `t`, item 2` or `resource `t`, one of items 5-9`.
impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "resource `{}`, item {}", self.resource, self.first)
        } else {
            write!(
                f,
                "resource `{}`, one of items {}-{}",
                self.resource, self.first, self.last
            )
        }
    }
}

impl From<ItemError> for PipelineError {
    fn from(e: ItemError) -> Self {
        PipelineError::Extract(e)
    }
}

impl From<dest_core::Error> for PipelineError {
    fn from(e: dest_core::Error) -> Self {
        PipelineError::Destination(Box::new(e))
    }
}

impl From<::normalize::NormalizeError> for PipelineError {
    fn from(e: ::normalize::NormalizeError) -> Self {
        PipelineError::Schema(Box::new(e))
    }
}

/// One loaded package.
#[derive(Debug, Clone)]
pub struct PackageInfo {
    pub load_id: String,
    /// Rows inserted by the package's jobs (all tables).
    pub rows: u64,
    /// Of those, rows loaded while the package was being normalized (`[load] overlap`).
    pub rows_streamed: u64,
    /// Tables that had jobs.
    pub tables: Vec<String>,
    /// Job files loaded (also those loaded while normalizing).
    pub jobs: u64,
    /// Rows per table (the system table `_dlt_pipeline_state` included).
    pub table_rows: std::collections::BTreeMap<String, u64>,
    /// Tables replaced by no rows at all (a replace whose resource yielded nothing empties
    /// its chain, as in dlt), with the rows each held before.
    pub replaced_empty: std::collections::BTreeMap<String, u64>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct LoadInfo {
    pub pipeline_name: String,
    pub dataset_name: String,
    /// Items extracted in this run.
    pub items: u64,
    pub packages: Vec<PackageInfo>,
    /// The destination's name.
    pub destination: String,
    /// The run's steps (`normalize` for packages an earlier run left, `extract+normalize`,
    /// `load`) and their seconds.
    pub steps: Vec<(String, f64)>,
}

/// dlt's load info, shorter: packages, steps with their times, and per package its jobs
/// and the rows of each table.
impl fmt::Display for LoadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: f64 = self.steps.iter().map(|(_, s)| s).sum();
        write!(
            f,
            "pipeline {}: {} package(s) loaded into dataset {}{} in {total:.2} s",
            self.pipeline_name,
            self.packages.len(),
            self.dataset_name,
            if self.destination.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.destination)
            },
        )?;
        if !self.steps.is_empty() {
            let steps: Vec<String> = self
                .steps
                .iter()
                .map(|(name, s)| format!("{name} {s:.2} s"))
                .collect();
            write!(f, "\n  steps: {}", steps.join(", "))?;
        }
        if self.items > 0 {
            write!(f, "\n  {} item(s) extracted", self.items)?;
        }
        let rows: u64 = self.packages.iter().map(|p| p.rows).sum();
        if total > 0.0 && (self.items > 0 || rows > 0) {
            #[allow(clippy::cast_precision_loss)]
            let per_second = |n: u64| n as f64 / total;
            write!(
                f,
                "\n  throughput: {:.0} item(s)/s extracted, {:.0} row(s)/s loaded (over the whole run)",
                per_second(self.items),
                per_second(rows)
            )?;
        }
        for p in &self.packages {
            for (table, removed) in &p.replaced_empty {
                write!(
                    f,
                    "\n  load {}: table {table} replaced by 0 rows ({removed} row(s) removed)",
                    p.load_id
                )?;
            }
            if p.tables.is_empty() {
                if p.replaced_empty.is_empty() {
                    write!(f, "\n  load {}: nothing new", p.load_id)?;
                }
                continue;
            }
            write!(
                f,
                "\n  load {}: {} row(s) in {} job(s), no failed jobs",
                p.load_id, p.rows, p.jobs
            )?;
            for (table, rows) in &p.table_rows {
                write!(f, "\n    {table}: {rows} row(s)")?;
            }
        }
        Ok(())
    }
}

/// Builds a [`Pipeline`]. `Debug` never prints the credentials.
#[derive(Debug)]
pub struct PipelineBuilder {
    name: String,
    destination: String,
    dataset_name: Option<String>,
    pipelines_dir: Option<PathBuf>,
    config: Option<ConfigBuilder>,
    credentials: Option<dest_core::Secret>,
    loader_file_format: Option<String>,
    restore_from_destination: bool,
    import_schema_path: Option<PathBuf>,
    export_schema_path: Option<PathBuf>,
    schema_contract: Option<dest_core::SchemaContract>,
}

impl PipelineBuilder {
    /// The destination by registry name (default `postgres`).
    pub fn destination(mut self, name: &str) -> Self {
        self.destination = name.to_string();
        self
    }

    /// The dataset (a PostgreSQL schema); default `<pipeline name>_dataset`.
    pub fn dataset_name(mut self, name: &str) -> Self {
        self.dataset_name = Some(name.to_string());
        self
    }

    /// Where the pipeline's working folder lives (default `~/.dlt/pipelines`).
    pub fn pipelines_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.pipelines_dir = Some(dir.into());
        self
    }

    /// The configuration to read (default: `.dlt/` files, environment, `~/.dlt/`).
    pub fn config(mut self, config: ConfigBuilder) -> Self {
        self.config = Some(config);
        self
    }

    /// Destination credentials given in code (a connection string); they win over
    /// environment variables and files.
    pub fn credentials(mut self, credentials: &str) -> Self {
        self.credentials = Some(dest_core::Secret::new(credentials));
        self
    }

    /// The loader file format (default: the destination's preferred one).
    pub fn loader_file_format(mut self, format: &str) -> Self {
        self.loader_file_format = Some(format.to_string());
        self
    }

    /// dlt's `import_schema_path`: a folder with `<schema>.schema.yaml` (or `.json`) that a
    /// run takes as its schema when the file is new or changed since it was last imported
    /// (types, hints, contracts a user edited).
    pub fn import_schema_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.import_schema_path = Some(dir.into());
        self
    }

    /// dlt's `export_schema_path`: the schema is written there as `<schema>.schema.yaml`
    /// whenever it changes.
    pub fn export_schema_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.export_schema_path = Some(dir.into());
        self
    }

    /// dlt's `schema_contract` argument of `pipeline.run`: every run sets it on each of its
    /// resources and as the schema's contract (both are kept in the stored schema, so later
    /// runs without it keep it).
    pub fn schema_contract(mut self, contract: dest_core::SchemaContract) -> Self {
        self.schema_contract = Some(contract);
        self
    }

    /// Whether a pipeline without local state restores it from the destination (default true).
    pub fn restore_from_destination(mut self, yes: bool) -> Self {
        self.restore_from_destination = yes;
        self
    }

    /// Reads configuration and builds the destination (no connection is made yet).
    pub fn build(self) -> Result<Pipeline, PipelineError> {
        validate_pipeline_name(&self.name)?;
        let mut cfg = self.config.unwrap_or_default();
        if let Some(c) = &self.credentials {
            cfg = cfg.set(
                &format!("destination.{}.credentials", self.destination),
                c.expose(),
            );
        }
        let config = Arc::new(cfg.build()?);
        let ctx = DestinationContext {
            destination_name: &self.destination,
            pipeline_name: Some(&self.name),
            config: config.as_ref(),
        };
        let destination = registry::create(&self.destination, &ctx)?;
        let caps = destination.capabilities().clone();
        let format = match &self.loader_file_format {
            Some(name) => caps.check_file_format(destination.name(), name)?,
            None => caps.preferred_file_format,
        };
        let arrow_parquet = format == LoaderFileFormat::Parquet
            || (self.loader_file_format.is_none()
                && caps.file_formats.contains(&LoaderFileFormat::Parquet));
        let file_format = destination.file_format(format).ok_or_else(|| {
            PipelineError::Internal(format!(
                "destination `{}` lists format `{format}` but has no writer for it",
                destination.name()
            ))
        })?;
        let max = caps.max_identifier_length;
        // `[schema] naming`: the convention of a new schema (an unknown name fails in
        // `settings::check` below, with the closest name)
        let naming = match config
            .resolver(Some(&self.name))
            .find(&["schema"], "naming")
        {
            Some(found) => Some(settings::parse_naming(
                &found.as_string()?,
                "schema.naming",
            )?),
            None => None,
        };
        let dataset_raw = self
            .dataset_name
            .unwrap_or_else(|| format!("{}_dataset", self.name));
        // as dlt: the dataset is named with the schema's naming convention
        let dataset_name = naming
            .unwrap_or_default()
            .normalize_identifier(&dataset_raw, max)
            .map_err(|e| PipelineError::Config(format!("dataset name: {e}")))?;
        let staging_name = staging_name(
            destination.as_ref(),
            &dataset_name,
            naming.unwrap_or_default(),
            max,
        )?;
        let schema_name = ::normalize::naming::normalize_identifier(&self.name, 64)
            .map_err(|e| PipelineError::Config(format!("pipeline name: {e}")))?;
        let dir = match self.pipelines_dir {
            Some(d) => d,
            None => default_pipelines_dir()?,
        };
        let storage = Storage::open(dir.join(&self.name))?;
        let file_max_bytes = match config
            .resolver(Some(&self.name))
            .find(&["normalize", "data_writer"], "file_max_bytes")
        {
            Some(found) => found.as_u64()?.max(1),
            None => DEFAULT_FILE_MAX_BYTES,
        };
        let overlap = match config.resolver(Some(&self.name)).find(&["load"], "overlap") {
            Some(found) => found.as_bool()?,
            None => true,
        };
        // dlt's pipeline settings `import_schema_path` / `export_schema_path` (in
        // `[pipelines.<name>]` or at the top), where code and command line give none
        let schema_path = |field: &str| -> Result<Option<PathBuf>, PipelineError> {
            let r = config.resolver(None);
            match r
                .find(&["pipelines", &self.name], field)
                .or_else(|| r.find(&[], field))
            {
                Some(found) => Ok(Some(PathBuf::from(found.as_string()?))),
                None => Ok(None),
            }
        };
        let import_schema_path = match self.import_schema_path {
            Some(p) => Some(p),
            None => schema_path("import_schema_path")?,
        };
        let export_schema_path = match self.export_schema_path {
            Some(p) => Some(p),
            None => schema_path("export_schema_path")?,
        };
        let destination_keys = settings::DestinationKeys {
            name: destination.name(),
            read: caps.config_keys,
            dlt_only: caps.dlt_config_keys,
        };
        let setting_warnings = settings::check(&config, &self.name, &destination_keys)?;
        for w in &setting_warnings {
            tracing::warn!("{w}");
        }
        let extract_workers = match config
            .resolver(Some(&self.name))
            .find(&["extract"], "workers")
        {
            Some(found) => usize::try_from(found.as_u64()?)
                .unwrap_or(usize::MAX)
                .max(1),
            None => DEFAULT_EXTRACT_WORKERS,
        };
        let arrow_setting = |key: &str| -> Result<bool, PipelineError> {
            match config
                .resolver(Some(&self.name))
                .find(&["normalize", "parquet_normalizer"], key)
            {
                Some(found) => Ok(found.as_bool()?),
                None => Ok(false),
            }
        };
        let (arrow_load_id, arrow_row_id) = (
            arrow_setting("add_dlt_load_id")?,
            arrow_setting("add_dlt_id")?,
        );
        let load_setting = |key: &str| config.resolver(Some(&self.name)).find(&["load"], key);
        let delete_job_files = match load_setting(package::DELETE_JOB_FILES_SETTING) {
            Some(found) => found.as_bool()?,
            None => true,
        };
        let keep_loaded_packages = match load_setting("keep_loaded_packages") {
            Some(found) => usize::try_from(found.as_u64()?).unwrap_or(usize::MAX),
            None => DEFAULT_KEEP_LOADED_PACKAGES,
        };
        Ok(Pipeline {
            retention: (delete_job_files, keep_loaded_packages),
            name: self.name,
            dataset_name,
            staging_name,
            schema_name,
            storage,
            config,
            destination,
            normalize: normalize::NormalizeOptions {
                format: file_format,
                max_identifier_length: max,
                file_max_bytes,
                progress: Arc::new(Progress::default()),
                arrow_load_id,
                arrow_row_id,
                arrow_parquet,
                fold_case: !caps.case_sensitive_identifiers,
            },
            restore_from_destination: self.restore_from_destination,
            import_schema_path,
            export_schema_path,
            schema_contract: self.schema_contract,
            naming,
            overlap,
            extract_workers,
            setting_warnings,
        })
    }
}

/// The staging dataset of `dataset`: the destination's layout filled in and normalized like
/// any identifier, so a name past the destination's identifier limit is shortened with a
/// hash tag (a plain cut would make `<63 bytes>_staging` the dataset itself, and a merge
/// would then empty the table it merges into). dlt fills the layout with the dataset name as
/// given; dlt-rs with the normalized one, which the pipeline state records (the two differ
/// only for names that needed shortening; staging holds nothing between loads).
fn staging_name(
    destination: &dyn Destination,
    dataset: &str,
    naming: Naming,
    max: usize,
) -> Result<String, PipelineError> {
    let layout = destination.staging_dataset_layout();
    let filled = dest_core::staging_dataset_name(layout, dataset);
    let staging = naming
        .normalize_identifier(&filled, max)
        .map_err(|e| PipelineError::Config(format!("staging dataset name: {e}")))?;
    if staging == dataset {
        return Err(PipelineError::Config(format!(
            "the staging dataset of `{dataset}` is `{staging}`, the dataset itself; set \
             `staging_dataset_name_layout` of destination `{}` to another name",
            destination.name()
        )));
    }
    Ok(staging)
}

fn validate_pipeline_name(name: &str) -> Result<(), PipelineError> {
    let ok = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(PipelineError::Config(format!(
            "pipeline name `{name}` cannot name a folder; use letters, digits and underscores"
        )))
    }
}

fn default_pipelines_dir() -> Result<PathBuf, PipelineError> {
    if let Some(d) = std::env::var_os("DLT_DATA_DIR") {
        return Ok(PathBuf::from(d).join("pipelines"));
    }
    match std::env::var_os("HOME") {
        Some(h) => Ok(PathBuf::from(h).join(".dlt").join("pipelines")),
        None => Err(PipelineError::Config(
            "no pipelines dir: set HOME or DLT_DATA_DIR, or give one".into(),
        )),
    }
}

/// A pipeline: a name, a destination, a dataset and a working folder.
pub struct Pipeline {
    name: String,
    dataset_name: String,
    /// The staging dataset (`<dataset>_staging`, normalized).
    staging_name: String,
    schema_name: String,
    storage: Storage,
    config: Arc<Config>,
    destination: Box<dyn Destination>,
    normalize: normalize::NormalizeOptions,
    restore_from_destination: bool,
    /// dlt's `import_schema_path` / `export_schema_path` ([`schema_files`]).
    import_schema_path: Option<PathBuf>,
    export_schema_path: Option<PathBuf>,
    /// `[schema] naming`, when configured.
    naming: Option<Naming>,
    /// The run's contract ([`PipelineBuilder::schema_contract`]).
    schema_contract: Option<dest_core::SchemaContract>,
    /// Load job files while normalizing (`[load] overlap`, default true).
    overlap: bool,
    /// Parallelized resources extracted at once (`[extract] workers`, default 5 as dlt's).
    extract_workers: usize,
    /// Settings of the configuration dlt-rs does not apply (each also logged as a warning).
    setting_warnings: Vec<SettingWarning>,
    /// `[load]` settings: delete the job files of loaded packages
    /// ([`package::DELETE_JOB_FILES_SETTING`], default true) and `keep_loaded_packages` (100).
    retention: (bool, usize),
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("destination", &self.destination.name())
            .field("dataset_name", &self.dataset_name)
            .field("working_dir", &self.storage.root)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// The settings of the configuration this pipeline does not apply: unknown keys in the
    /// sections it reads (with the closest valid key) and dlt settings dlt-rs does not
    /// implement. Each was logged as a warning when the pipeline was built.
    pub fn setting_warnings(&self) -> &[SettingWarning] {
        &self.setting_warnings
    }

    /// Starts building a pipeline named `name` (destination `postgres` by default).
    pub fn builder(name: &str) -> PipelineBuilder {
        PipelineBuilder {
            name: name.to_string(),
            destination: "postgres".into(),
            dataset_name: None,
            pipelines_dir: None,
            config: None,
            credentials: None,
            loader_file_format: None,
            restore_from_destination: true,
            import_schema_path: None,
            export_schema_path: None,
            schema_contract: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dataset_name(&self) -> &str {
        &self.dataset_name
    }

    /// The pipeline's working folder.
    pub fn working_dir(&self) -> &Path {
        &self.storage.root
    }

    /// The configuration the pipeline reads.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The local state (None before the first run).
    pub fn state(&self) -> Result<Option<PipelineState>, PipelineError> {
        read_json(&self.storage.state_file())
    }

    /// The local schema (None before the first run).
    pub fn schema(&self) -> Result<Option<Schema>, PipelineError> {
        read_json(&self.schema_path())
    }

    fn schema_path(&self) -> PathBuf {
        self.storage
            .root
            .join("schemas")
            .join(format!("{}.schema.json", self.schema_name))
    }

    /// The live counters of this pipeline's runs (items extracted, rows normalized, rows
    /// loaded, the stage), for a progress display that polls them from another task.
    pub fn progress(&self) -> Arc<Progress> {
        self.normalize.progress.clone()
    }

    /// Extracts, normalizes and loads `resources`. Packages left pending by an earlier run
    /// that died are finished first.
    pub async fn run(&mut self, resources: Vec<Resource>) -> Result<LoadInfo, PipelineError> {
        self.run_traced(resources, None).await
    }

    /// As [`Pipeline::run`], for an input that can be identified (files: their paths, sizes
    /// and modification times, with the load options): when a package left pending by an
    /// earlier run of the same input exists (that run crashed or failed), only the pending
    /// packages are finished and `resources` are not read again. Running the same command
    /// again after a crash at any moment then ends with the rows of one run.
    pub async fn run_input(
        &mut self,
        resources: Vec<Resource>,
        input_id: &str,
    ) -> Result<LoadInfo, PipelineError> {
        self.run_traced(resources, Some(input_id)).await
    }

    /// As [`Pipeline::run`], with the resources made by `make` from the source's state when
    /// extraction begins: inside the run's lock, after packages an earlier run left pending
    /// are taken into account (their state counts as saved). What `make` sets in the state
    /// goes into the package with the resources' items, so it advances exactly when they are
    /// durable: a crash never loses them and never loads them twice. When `make` returns
    /// no resources nothing is extracted (and its changes to the state are dropped); the
    /// pending packages are still finished. A source that lists files, pages or partitions
    /// and remembers which it has read uses this (`source-fs`).
    pub async fn run_with_state<F>(&mut self, make: F) -> Result<LoadInfo, PipelineError>
    where
        F: FnOnce(&mut SourceState<'_>) -> Result<Vec<Resource>, PipelineError> + Send + 'static,
    {
        self.run_traced_with(Vec::new(), None, Some(Box::new(make)))
            .await
    }

    async fn run_inner(
        &mut self,
        resources: Vec<Resource>,
        input_id: Option<&str>,
        from_state: Option<MakeResources>,
    ) -> Result<LoadInfo, PipelineError> {
        let _lock = self.lock().await?;
        let progress = self.normalize.progress.clone();
        progress.reset();
        self.storage.discard_incomplete()?;
        let mut resources = resources;
        if let Some(id) = input_id {
            if normalize::pending_input_ids(&self.storage)?.contains(id) {
                tracing::info!(
                    "a pending package holds this input: finishing it, not reading the input again"
                );
                resources.clear();
            }
        }
        self.check_resources(&mut resources)?;
        let mut info = LoadInfo {
            pipeline_name: self.name.clone(),
            dataset_name: self.dataset_name.clone(),
            ..LoadInfo::default()
        };
        let mut run = RunContext::default();

        let state = self.current_state(&mut run.client).await?;
        let mut schema = match self.schema_to_start_from()? {
            Some(s) => s,
            None => {
                let mut s = Schema::new(&self.schema_name);
                self.naming.unwrap_or_default().set_on(&mut s);
                s
            }
        };
        self.check_naming(&mut schema)?;

        // finish what an earlier run left
        for id in self.storage.packages(EXTRACTED)? {
            trace::step("normalize");
            progress.set_stage(Stage::Pending);
            schema = self.normalize(&id, schema, &mut run).await?;
        }

        let mut next = state.clone();
        if let Some(make) = from_state {
            let mut source = SourceState {
                state: &mut next,
                source: &self.schema_name,
            };
            resources = make(&mut source)?;
            self.check_resources(&mut resources)?;
            if resources.is_empty() {
                next = state.clone();
            }
        }

        if !resources.is_empty() {
            if let Some(c) = &self.schema_contract {
                schema.set_schema_contract(Some(c));
            }
            trace::step("extract+normalize");
            progress.set_stage(Stage::Extract);
            let load_id = next_load_id(state.local.last_load_id.as_deref());
            let created_at =
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let target = ExtractTarget {
                load_id: &load_id,
                created_at: &created_at,
                source: &self.schema_name,
                input_id,
            };
            let (items, _schema) = self
                .extract_and_normalize(&target, resources, &mut next, schema, &mut run)
                .await?;
            info.items = items;
            progress.normalize_done();
            // the package holding the data (and this state) is durable: advance the state
            next.local.last_load_id = Some(load_id.clone());
            next.local.last_extracted_hash = Some(next.version_hash.clone());
            next.local.first_run = false;
            self.save_state(&next)?;
        }

        for id in self.storage.packages(NORMALIZED)? {
            if let Some(e) = run.connect_error.take() {
                return Err(e);
            }
            let package = package::LoadPackage::of(&self.storage, NORMALIZED, &id);
            if package.is_marked_empty()? {
                // as dlt: no item and no state change, no load
                tracing::info!(load_id = %id, "the package holds nothing to load; dropped");
                run.streamed.remove(&id);
                std::fs::remove_dir_all(package.dir())
                    .map_err(storage::io_err("removing an empty package", package.dir()))?;
                continue;
            }
            trace::step("load");
            progress.set_stage(Stage::Load);
            let c = self.client(&mut run.client).await?;
            let workers = self.destination.workers();
            let t0 = std::time::Instant::now();
            let done = run.streamed.remove(&id).unwrap_or_default();
            let p = load::load_package_retrying(&self.storage, c, &id, workers, done, &progress)
                .await?;
            tracing::info!(load_id = %id, rows = p.rows, seconds = t0.elapsed().as_secs_f64(), "loaded");
            let (delete, keep) = self.retention;
            if let Err(e) = package::tidy_loaded(&self.storage, &id, delete, keep) {
                tracing::warn!(load_id = %id, error = %e, "could not tidy the loaded packages");
            }
            info.packages.push(p);
        }
        progress.set_stage(Stage::Done);
        Ok(info)
    }

    /// Applies the configured replace strategy and checks every resource against the
    /// destination's capabilities, before anything is extracted.
    fn check_resources(&self, resources: &mut [Resource]) -> Result<(), PipelineError> {
        let caps = self.destination.capabilities();
        let dest = self.destination.name();
        // the destination's `replace_strategy`, where a resource names none
        let configured = self.destination.replace_strategy();
        for res in resources.iter_mut() {
            if let Some(c) = &self.schema_contract {
                res.hints.schema_contract = Some(c.clone());
            }
            if res.hints.table_name_from.is_some() && matches!(res.items, Items::Arrow(_)) {
                return Err(PipelineError::Config(format!(
                    "resource `{}`: a table name from a field is for JSON items, not Arrow data",
                    res.hints.table_name
                )));
            }
            let d = res.hints.disposition.disposition();
            if let (TableDisposition::Replace(_), Some(strategy), StrategySource::Destination) =
                (d, configured, res.strategy)
            {
                res.hints.disposition = Arc::new(dest_core::Replace { strategy });
            }
            let d = res.hints.disposition.disposition();
            caps.check_disposition(dest, d)?;
            let table = res.hints.table_name.clone();
            let hints = caps.column_hints;
            for w in settings::check_column_hints(&table, &mut res.hints.columns, dest, hints) {
                tracing::warn!("{w}");
            }
            for nested in &mut res.hints.nested {
                let name = format!("{table}__{}", nested.path.join("__"));
                for w in settings::check_column_hints(&name, &mut nested.columns, dest, hints) {
                    tracing::warn!("{w}");
                }
            }
            let has_pk = !res.hints.primary_key.is_empty()
                || res.hints.columns.iter().any(|c| c.primary_key)
                || self.stored_primary_key(&table)?;
            if let TableDisposition::Merge(
                strategy @ (MergeStrategy::Upsert | MergeStrategy::InsertOnly),
            ) = d
            {
                if !has_pk {
                    return Err(PipelineError::Config(format!(
                        "resource `{}` uses the {} merge strategy but has no primary key; \
                         give one (--primary-key, or Resource::primary_key); nothing was loaded",
                        res.hints.table_name,
                        strategy.as_str()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Applies `[schema] naming` to `schema`: a convention other than the schema's replaces
    /// it while no table has data; after that it is an error (dlt's `TableIdentifiersFrozen`:
    /// the tables' names were made with the schema's).
    fn check_naming(&self, schema: &mut Schema) -> Result<(), PipelineError> {
        let current = Naming::of_schema(schema)
            .map_err(|e| PipelineError::Config(format!("the schema `{}`: {e}", schema.name)))?;
        if let Some(n) = self.naming.filter(|n| *n != current) {
            if let Some(t) = schema.tables.iter().find(|t| !t.is_system() && t.seen_data) {
                return Err(PipelineError::Config(format!(
                    "setting `schema.naming` = `{n}`: the schema `{}` names its tables with \
                     `{current}` and table `{}` has data, so its names cannot change (as in \
                     dlt); load into a new dataset or pipeline, or drop its tables first \
                     (`dlt-rs pipeline {} drop`)",
                    schema.name, t.name, self.name
                )));
            }
            n.set_on(schema);
        }
        Ok(())
    }

    /// Whether the schema this run will start from may give table `table` (a resource name)
    /// a primary key: the local schema has one, or there is no local schema yet and one may
    /// be restored from the destination (the load then checks the table it merges into).
    fn stored_primary_key(&self, table: &str) -> Result<bool, PipelineError> {
        let Some(schema) = self.schema()? else {
            return Ok(self.restore_from_destination || self.import_schema_path.is_some());
        };
        let max = self.destination.capabilities().max_identifier_length;
        let naming = Naming::of_schema(&schema).unwrap_or_default();
        let Ok(name) = naming.normalize_path(table, max) else {
            return Ok(false);
        };
        Ok(schema
            .table(&name)
            .is_some_and(|t| t.columns.iter().any(|c| c.primary_key)))
    }

    /// Normalizes an extracted package; with `overlap`, its job files are loaded at the
    /// same time (what was committed is recorded in `run.streamed`).
    async fn normalize(
        &self,
        load_id: &str,
        schema: Schema,
        run: &mut RunContext,
    ) -> Result<Schema, PipelineError> {
        let t0 = std::time::Instant::now();
        let schema = match self.overlap_client(run).await {
            Some(c) => {
                let (schema, done) = stream::normalize_and_load(
                    &self.storage,
                    load_id,
                    schema,
                    &self.normalize,
                    c,
                    normalize::Input::Package,
                    self.destination.workers(),
                )
                .await?;
                record_streamed(&mut run.streamed, load_id, done);
                schema
            }
            None => normalize::normalize_package(&self.storage, load_id, schema, &self.normalize)?,
        };
        self.save_schema(&schema)?;
        tracing::info!(load_id = %load_id, seconds = t0.elapsed().as_secs_f64(), "normalized");
        Ok(schema)
    }

    /// The client to load with while normalizing, when `[load] overlap` is on and the
    /// destination answers. A connection failure is kept for the load step to report
    /// (normalizing goes on, the package is kept; no second connect timeout).
    async fn overlap_client(&self, run: &mut RunContext) -> Option<Arc<dyn LoadClient>> {
        if !self.overlap || run.connect_error.is_some() {
            return None;
        }
        match self.client(&mut run.client).await {
            Ok(c) => Some(c),
            Err(e) => {
                run.connect_error = Some(e);
                None
            }
        }
    }

    /// Extracts on a thread that may block (sources are iterators or streams that may, and
    /// parallelized resources run on threads of their own); gives back the state as the
    /// extraction left it.
    fn spawn_extract(
        &self,
        target: &ExtractTarget<'_>,
        resources: Vec<Resource>,
        mut state: PipelineState,
        sink: Option<extract::LiveSink>,
    ) -> tokio::task::JoinHandle<(Result<u64, PipelineError>, PipelineState)> {
        let (storage, id, created, source) = (
            self.storage.clone(),
            target.load_id.to_string(),
            target.created_at.to_string(),
            target.source.to_string(),
        );
        let progress = self.normalize.progress.clone();
        let input_id = target.input_id.map(str::to_string);
        let workers = self.extract_workers;
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let target = ExtractTarget {
                load_id: &id,
                created_at: &created,
                source: &source,
                input_id: input_id.as_deref(),
            };
            let r = handle.block_on(extract::extract(
                &storage,
                &target,
                resources,
                &mut state,
                sink.as_ref(),
                &progress,
                workers,
            ));
            progress.extract_done();
            drop(sink);
            (r, state)
        })
    }

    fn save_schema(&self, schema: &Schema) -> Result<(), PipelineError> {
        let bytes = serde_json::to_vec_pretty(schema)
            .map_err(|e| PipelineError::Internal(format!("serializing the schema: {e}")))?;
        write_atomic(&self.schema_path(), &bytes)?;
        if let Some(dir) = &self.export_schema_path {
            let same = self.import_schema_path.as_deref() == Some(dir.as_path());
            schema_files::export(dir, schema, same)?;
        }
        Ok(())
    }

    /// The local schema, or the import file's where one is set and new or changed since it
    /// was last imported (then saved, and exported, at once).
    fn schema_to_start_from(&self) -> Result<Option<Schema>, PipelineError> {
        let local = self.schema()?;
        let Some(dir) = &self.import_schema_path else {
            return Ok(local);
        };
        let before = local.as_ref().and_then(|s| s.imported_version_hash.clone());
        let schema = schema_files::import(dir, &self.schema_name, local)?;
        if let Some(s) = &schema {
            if s.imported_version_hash != before {
                self.save_schema(s)?;
            }
        }
        Ok(schema)
    }

    /// Extracts `resources` into package `target.load_id` and normalizes it, loading while
    /// normalizing; with overlap, all three at once (normalize follows the items files as
    /// extract writes them). Returns the items extracted and the evolved schema. On a
    /// normalize error the extracted package is removed.
    async fn extract_and_normalize(
        &self,
        target: &ExtractTarget<'_>,
        resources: Vec<Resource>,
        next: &mut PipelineState,
        schema: Schema,
        run: &mut RunContext,
    ) -> Result<(u64, Schema), PipelineError> {
        let load_id = target.load_id;
        let t0 = std::time::Instant::now();
        let Some(c) = self.overlap_client(run).await else {
            let (extracted, state) = self
                .spawn_extract(target, resources, next.clone(), None)
                .await
                .map_err(|e| PipelineError::Internal(format!("the extract task failed: {e}")))?;
            let items = extracted?;
            *next = state;
            tracing::info!(load_id = %load_id, items, seconds = t0.elapsed().as_secs_f64(), "extracted");
            let normalized = self.normalize(load_id, schema, run).await;
            return match normalized {
                Ok(schema) => Ok((items, schema)),
                Err(e) => {
                    // the data cannot be normalized; the state that would have advanced
                    // with it is dropped too, so the source can be read again once fixed
                    let _ = fs::remove_dir_all(self.storage.package(EXTRACTED, load_id));
                    Err(e)
                }
            };
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = extract::LiveSink {
            tx,
            cancelled: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        let cancelled = sink.cancelled.clone();
        let extracting = self.spawn_extract(target, resources, next.clone(), Some(sink));
        let normalized = stream::normalize_and_load(
            &self.storage,
            load_id,
            schema,
            &self.normalize,
            c,
            normalize::Input::Live(rx),
            self.destination.workers(),
        )
        .await;
        let (extracted, state) = extracting
            .await
            .map_err(|e| PipelineError::Internal(format!("the extract task failed: {e}")))?;
        match (extracted, normalized) {
            // the source failed (normalize then stopped for want of items)
            (Err(e), _) if !cancelled.load(std::sync::atomic::Ordering::SeqCst) => Err(e),
            (_, Err(e)) => {
                let _ = fs::remove_dir_all(self.storage.package(EXTRACTED, load_id));
                Err(e)
            }
            (Err(e), Ok(_)) => Err(e),
            (Ok(items), Ok((schema, done))) => {
                *next = state;
                record_streamed(&mut run.streamed, load_id, done);
                self.save_schema(&schema)?;
                tracing::info!(load_id = %load_id, items, seconds = t0.elapsed().as_secs_f64(), "extracted and normalized");
                Ok((items, schema))
            }
        }
    }

    async fn client(
        &self,
        slot: &mut Option<Arc<dyn LoadClient>>,
    ) -> Result<Arc<dyn LoadClient>, PipelineError> {
        if let Some(c) = slot {
            return Ok(c.clone());
        }
        let c = self
            .destination
            .client(&DatasetRef {
                name: self.dataset_name.clone(),
                staging: self.staging_name.clone(),
            })
            .await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The state to start from: the local one, else the destination's (unless disabled), else
    /// a new one; a pending package carrying a newer state (a crash right after it was
    /// written) wins over the local file.
    async fn current_state(
        &self,
        client: &mut Option<Arc<dyn LoadClient>>,
    ) -> Result<PipelineState, PipelineError> {
        let mut state = match self.state()? {
            Some(s) => s,
            None => {
                let restored = if self.restore_from_destination {
                    let c = self.client(client).await?;
                    self.restore(c.as_ref()).await?
                } else {
                    None
                };
                restored.unwrap_or_else(|| {
                    PipelineState::new(
                        &self.name,
                        &self.dataset_name,
                        &self.schema_name,
                        self.destination.name(),
                    )
                })
            }
        };
        for (load_id, pending) in normalize::pending_states(&self.storage)? {
            if state.local.last_load_id.as_deref() < Some(load_id.as_str()) {
                let local = state.local.clone();
                state = pending;
                state.local = local;
                state.local.last_load_id = Some(load_id);
                state.local.last_extracted_hash = Some(state.version_hash.clone());
                self.save_state(&state)?;
            }
        }
        // the pipeline now loads into another dataset or destination: the state says so
        // (and, changed, is stored in the new dataset with the next load), as in dlt
        let destination_type = format!("dlt.destinations.{}", self.destination.name());
        if state.dataset_name != self.dataset_name || state.destination_type != destination_type {
            state.dataset_name = self.dataset_name.clone();
            state.destination_type = destination_type;
        }
        Ok(state)
    }

    /// Restores the state and schema from the destination when there is no local state
    /// (dlt's `sync_destination`), so that sources can read their state before `run`.
    pub async fn sync_destination(&mut self) -> Result<(), PipelineError> {
        let mut client = None;
        self.current_state(&mut client).await?;
        Ok(())
    }

    /// Where an incremental cursor of `resource` starts: its last value from the state, or
    /// its initial value. Sources use it to ask only for new data; `run` filters anyway.
    pub fn incremental_start(
        &self,
        resource: &str,
        incremental: &Incremental,
    ) -> Result<Option<serde_json::Value>, PipelineError> {
        let state = self.state()?;
        let saved = state.as_ref().and_then(|s| {
            s.resource_value(
                &self.schema_name,
                &incremental::state_path(resource, incremental.cursor_path()),
            )
        });
        Ok(incremental.start_value(saved))
    }

    /// Restores state and schema from the destination (a new machine, a deleted folder).
    async fn restore(
        &self,
        client: &dyn LoadClient,
    ) -> Result<Option<PipelineState>, PipelineError> {
        let Some(stored) = client.stored_state(&self.name).await? else {
            return Ok(None);
        };
        let Some(mut state) = PipelineState::decode(&stored.state) else {
            tracing::warn!(load_id = %stored.load_id, "stored pipeline state cannot be decoded; starting fresh");
            return Ok(None);
        };
        state.dataset_name = self.dataset_name.clone();
        state.local.last_extracted_hash = Some(state.version_hash.clone());
        state.local.last_load_id = Some(stored.load_id.clone());
        if let Some(s) = client.stored_schema(&self.schema_name).await? {
            match serde_json::from_str::<Schema>(&s.schema) {
                Ok(schema) => {
                    let bytes = serde_json::to_vec_pretty(&schema).map_err(|e| {
                        PipelineError::Internal(format!("serializing the schema: {e}"))
                    })?;
                    write_atomic(&self.schema_path(), &bytes)?;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stored schema cannot be read; rebuilding it from data")
                }
            }
        }
        self.save_state(&state)?;
        tracing::info!(pipeline = %self.name, version = state.state_version, "restored state from the destination");
        Ok(Some(state))
    }

    fn save_state(&self, state: &PipelineState) -> Result<(), PipelineError> {
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| PipelineError::Internal(format!("serializing the state: {e}")))?;
        write_atomic(&self.storage.state_file(), &bytes)
    }

    /// One run of a pipeline at a time: an exclusive lock on the working folder.
    async fn lock(&self) -> Result<fs::File, PipelineError> {
        use fs2::FileExt;
        let file = self.storage.lock_file()?;
        if file.try_lock_exclusive().is_ok() {
            return Ok(self.locked(file));
        }
        // the holder wrote its process id into the file
        let holder = fs::read_to_string(self.storage.lock_path())
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        tracing::info!(pipeline = %self.name, holder, "another run of this pipeline is active; waiting for it");
        self.normalize.progress.waiting_for_lock(holder);
        let handle = tokio::task::spawn_blocking(move || file.lock_exclusive().map(|_| file));
        let file = handle
            .await
            .map_err(|e| PipelineError::Internal(format!("lock task: {e}")))?
            .map_err(io_err("locking the pipeline", &self.storage.lock_path()))?;
        Ok(self.locked(file))
    }

    /// The lock just taken, with this process's id written into the file (for a run that
    /// waits for it to say whom it waits for; best effort).
    fn locked(&self, mut file: fs::File) -> fs::File {
        use std::io::{Seek, Write};
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        file
    }

    /// The destination the pipeline loads to, configured (for tools that reuse its
    /// configuration, such as the dbt runner).
    pub fn destination(&self) -> &dyn Destination {
        self.destination.as_ref()
    }
}

/// What one run carries from step to step.
#[derive(Default)]
struct RunContext {
    /// The destination client, connected on first use.
    client: Option<Arc<dyn LoadClient>>,
    /// What was loaded while normalizing, by package.
    streamed: HashMap<String, stream::Streamed>,
    /// A failed connection while normalizing: the load step reports it (no second attempt
    /// and no second connect timeout).
    connect_error: Option<PipelineError>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, PipelineError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PipelineError::Config(format!("{} is damaged: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", path)(e)),
    }
}

/// A load id: Unix seconds with microseconds, always greater than `last`.
/// Records what package `load_id`'s sessions committed. Its staged chains emptied and
/// refilled the staging tables an earlier pending package's sessions had filled (one run
/// normalizes every pending package before it loads them): those are loaded again from
/// their job files by the earlier package's load step.
fn record_streamed(
    streamed: &mut HashMap<String, stream::Streamed>,
    load_id: &str,
    done: stream::Streamed,
) {
    for earlier in streamed.values_mut() {
        earlier
            .staged_roots
            .retain(|root| !done.staged_roots.contains(root));
    }
    streamed.insert(load_id.to_string(), done);
}

/// A new load id: dlt's format (`<seconds>.<microseconds>`, the time it was made), later
/// than `last`. Up to a millisecond of random offset is added: two pipelines that start at
/// the same moment into one dataset get the same id only by a 1-in-1000 chance (their
/// follow-ups and `_dlt_loads` rows are told apart by the schema name as well).
fn next_load_id(last: Option<&str>) -> String {
    let now = chrono::Utc::now();
    let mut micros = now.timestamp_micros() + rand::random::<u16>() as i64 % 1000;
    if let Some(prev) = last.and_then(parse_load_id) {
        if micros <= prev {
            micros = prev + 1;
        }
    }
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

fn parse_load_id(id: &str) -> Option<i64> {
    let (secs, frac) = id.split_once('.')?;
    let secs: i64 = secs.parse().ok()?;
    let mut frac = frac.to_string();
    frac.truncate(6);
    while frac.len() < 6 {
        frac.push('0');
    }
    Some(secs * 1_000_000 + frac.parse::<i64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_ids_grow() {
        let a = next_load_id(None);
        let b = next_load_id(Some("99999999999.999999"));
        assert_eq!(b, "100000000000.000000");
        assert!(parse_load_id(&a).is_some());
        let c = next_load_id(Some(&a));
        assert!(parse_load_id(&c) > parse_load_id(&a));
    }
}
