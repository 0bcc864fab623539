//! The object-safe destination boundary the pipeline holds as `dyn`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    DispositionKind, FileFormat, FollowUp, LoadTarget, LoaderFileFormat, MergeStrategy,
    ReadRequest, ReplaceStrategy, Result, RowCursor, Schema, TableDisposition, TableSchema,
};

/// What a destination supports, as data. The pipeline checks it before loading.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// The format used when the user names none.
    pub preferred_file_format: LoaderFileFormat,
    pub file_formats: &'static [LoaderFileFormat],
    pub write_dispositions: &'static [DispositionKind],
    pub merge_strategies: &'static [MergeStrategy],
    pub replace_strategies: &'static [ReplaceStrategy],
    /// Longest table or column name; longer names are shortened by the naming convention.
    pub max_identifier_length: usize,
    /// Longest SQL statement the destination accepts, in bytes.
    pub max_query_length: usize,
    /// Whether schema changes can run inside a transaction.
    pub supports_ddl_transactions: bool,
    /// Fractional second digits a timestamp keeps.
    pub timestamp_precision: u32,
    /// Whether names that differ only in case are different tables and columns (quoted
    /// PostgreSQL identifiers: yes; SQLite: no). A case sensitive naming convention on a
    /// destination without fails a load whose names would become one.
    pub case_sensitive_identifiers: bool,
    /// dlt's destination-specific column hints the destination acts on
    /// (`x-postgres-geometry`); such a hint of another destination gets a warning.
    pub column_hints: &'static [&'static str],
    /// The keys the destination reads in its configuration section (`destination.<name>`;
    /// `credentials` with its fields): any other key there gets a warning.
    pub config_keys: &'static [&'static str],
    /// dlt's keys of the destination's configuration that it does not act on: a warning says
    /// so.
    pub dlt_config_keys: &'static [&'static str],
}

impl Capabilities {
    /// Checks that a disposition and its strategy are supported; the error lists what is.
    pub fn check_disposition(
        &self,
        destination: &str,
        disposition: TableDisposition,
    ) -> Result<()> {
        let unsupported = |what: String, supported: Vec<&str>| crate::Error::Unsupported {
            destination: destination.into(),
            what,
            hint: Some(format!("supported: {}", supported.join(", "))),
        };
        let Some(kind) = disposition.kind() else {
            return Ok(());
        };
        if !self.write_dispositions.contains(&kind) {
            return Err(unsupported(
                format!("write disposition `{}`", kind.as_str()),
                self.write_dispositions.iter().map(|k| k.as_str()).collect(),
            ));
        }
        let supported = match disposition {
            TableDisposition::Merge(s) => self.merge_strategies.contains(&s),
            TableDisposition::Replace(s) => self.replace_strategies.contains(&s),
            TableDisposition::Append | TableDisposition::Skip => true,
        };
        if supported {
            return Ok(());
        }
        let known = match kind {
            DispositionKind::Merge => self.merge_strategies.iter().map(|s| s.as_str()).collect(),
            _ => self.replace_strategies.iter().map(|s| s.as_str()).collect(),
        };
        Err(unsupported(
            format!(
                "{} strategy `{}`",
                kind.as_str(),
                disposition.strategy_name().unwrap_or_default()
            ),
            known,
        ))
    }

    /// The format named `name`, when the destination supports it.
    pub fn check_file_format(&self, destination: &str, name: &str) -> Result<LoaderFileFormat> {
        let supported = || {
            self.file_formats
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match name.parse::<LoaderFileFormat>() {
            Ok(f) if self.file_formats.contains(&f) => Ok(f),
            _ => Err(crate::Error::Unsupported {
                destination: destination.into(),
                what: format!("loader file format `{name}`"),
                hint: Some(format!("supported: {}", supported())),
            }),
        }
    }
}

/// The staging dataset of `dataset` by dlt's `staging_dataset_name_layout`: `%s` stands
/// for the dataset (`%s_staging`, the default); a layout without it names one staging
/// dataset for every dataset.
pub fn staging_dataset_name(layout: &str, dataset: &str) -> String {
    if layout.contains("%s") {
        layout.replace("%s", dataset)
    } else {
        layout.to_string()
    }
}

/// The dataset a client loads into (a PostgreSQL schema, an attached SQLite database file)
/// and its staging dataset. Both are normalized identifiers that fit the destination's
/// [`Capabilities::max_identifier_length`], and they differ: the pipeline makes them
/// (`<dataset>_staging` is shortened with a hash tag as dlt shortens any identifier, so a
/// long dataset name never makes staging the dataset itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRef {
    pub name: String,
    pub staging: String,
}

/// One job file to load.
#[derive(Debug, Clone)]
pub struct LoadJob {
    pub load_id: String,
    /// Table the rows belong to.
    pub table: String,
    pub file: PathBuf,
    pub format: LoaderFileFormat,
    pub target: LoadTarget,
    /// The job's id within its package (the same on every attempt). Destinations record it
    /// in the transaction that commits the job's rows ([`LoadClient::committed_jobs`]).
    pub key: String,
}

/// A follow-up of one table chain: moves what the chain's jobs loaded into staging over
/// into the dataset, after all of them completed.
#[derive(Debug, Clone)]
pub struct FollowUpJob<'a> {
    pub kind: FollowUp,
    /// The chain: its root first, parents before children; only tables that have received
    /// data at some time (`seen_data`), so all of them exist in the dataset and in staging.
    pub chain: Vec<&'a TableSchema>,
    pub load_id: &'a str,
    /// When the package was created: the validity boundary of scd2.
    pub created_at: DateTime<Utc>,
    /// The name of the schema (pipeline) the package belongs to.
    pub schema_name: &'a str,
}

impl FollowUpJob<'_> {
    /// What the follow-up ledger records for this follow-up with its load id:
    /// `<schema>.<root table>`. Two pipelines whose load ids happen to be equal merge into
    /// one table each once (a ledger keyed by the root table alone skipped the second).
    pub fn ledger_key(&self) -> String {
        let root = self.chain.first().map_or("", |t| t.name.as_str());
        format!("{}.{root}", self.schema_name)
    }
}

/// What [`LoadClient::lock_staging`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagingLock {
    /// Held by this client without interruption since an earlier call: what this client
    /// loaded into staging meanwhile is still there.
    Held,
    /// Taken now: staging may hold anything, and what this client loaded into it before
    /// (under a lock since lost) must be loaded again.
    Acquired,
    /// Held by another loader (only with `wait: false`).
    Busy,
}

/// The result of a job that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOutcome {
    pub rows: u64,
}

/// The newest pipeline state stored in the destination.
#[derive(Debug, Clone)]
pub struct StoredState {
    pub version: i64,
    pub engine_version: i64,
    pub pipeline_name: String,
    /// dlt's encoding: base64(zlib(compact JSON)).
    pub state: String,
    pub load_id: String,
}

/// The newest schema stored in the destination.
#[derive(Debug, Clone)]
pub struct StoredSchema {
    pub version: i64,
    pub version_hash: String,
    pub schema: String,
}

/// A destination chosen by name from the registry, configured and ready to open clients.
#[async_trait]
pub trait Destination: fmt::Debug + Send + Sync {
    /// The registry name (`postgres`).
    fn name(&self) -> &str;
    fn capabilities(&self) -> &Capabilities;
    /// The writer for a supported file format, `None` for others.
    fn file_format(&self, format: LoaderFileFormat) -> Option<Arc<dyn FileFormat>>;
    /// Number of jobs that may load at once (dlt's `[load] workers`).
    fn workers(&self) -> usize;
    /// Connects to the destination for loading into `dataset`.
    async fn client(&self, dataset: &DatasetRef) -> Result<Arc<dyn LoadClient>>;
    /// The configured strategy of `replace` where a resource names none (dlt's
    /// `destination.<name>.replace_strategy`); `None`: `truncate-and-insert`.
    fn replace_strategy(&self) -> Option<ReplaceStrategy> {
        None
    }
    /// dlt's `staging_dataset_name_layout` as configured (`%s_staging` by default): the
    /// pipeline fills it in with [`staging_dataset_name`] and normalizes the result.
    fn staging_dataset_layout(&self) -> &str {
        "%s_staging"
    }

    /// The dbt profile output that makes dbt work in `dataset` of this destination (its
    /// `schema`), with the destination's credentials; secrets go in
    /// [`secrets`](crate::DbtProfile::secrets), never in its `fields`. Destinations dbt cannot
    /// run on keep this default: [`Error::Unsupported`](crate::Error::Unsupported).
    fn dbt_profile(&self, _dataset: &str) -> Result<crate::DbtProfile> {
        Err(crate::Error::Unsupported {
            destination: self.name().to_string(),
            what: "running dbt".into(),
            hint: None,
        })
    }
}

/// A connected destination for one dataset. Methods take `&self` and may run concurrently
/// (load jobs do, up to [`Destination::workers`] at once): implementations hold a pool of
/// connections (PostgreSQL), or serialize on one (SQLite, `workers` = 1).
#[async_trait]
pub trait LoadClient: Send + Sync {
    /// Creates the dataset (and the staging dataset when `staging`) if missing.
    async fn initialize(&self, staging: bool) -> Result<()>;
    /// Brings the tables named in `tables` (plus the system tables) in line with `schema`
    /// in the dataset or in staging, and records the schema version. Idempotent: a schema
    /// whose version hash is already stored changes nothing. Returns the statements run.
    async fn update_schema(
        &self,
        schema: &Schema,
        tables: &[String],
        target: LoadTarget,
    ) -> Result<Vec<String>>;
    /// Empties tables (replace with truncate-and-insert; staging tables before a load).
    async fn truncate(&self, tables: &[String], target: LoadTarget) -> Result<()>;
    /// Loads one job file in one transaction, which also records the job's key.
    async fn run_job(&self, job: &LoadJob) -> Result<JobOutcome>;
    /// Moves a chain from staging into the dataset after its data jobs completed, in one
    /// transaction. Runs at most once per load and chain, even when called again after a
    /// crash (the destination records that it ran in the same transaction).
    async fn follow_up(&self, job: &FollowUpJob<'_>) -> Result<()>;
    /// Loads `jobs` in one transaction that first empties `truncate` (replace with
    /// truncate-and-insert: readers see the old rows or the new ones, never an empty or
    /// partial table). Returns the rows inserted.
    async fn run_jobs_atomically(&self, truncate: &[String], jobs: &[LoadJob]) -> Result<u64>;
    /// Records a completed load (`_dlt_loads`).
    async fn complete_load(&self, load_id: &str, schema: &Schema) -> Result<()>;
    /// The newest state of `pipeline_name` that belongs to a completed load.
    async fn stored_state(&self, pipeline_name: &str) -> Result<Option<StoredState>>;
    /// The newest stored version of schema `schema_name`.
    async fn stored_schema(&self, schema_name: &str) -> Result<Option<StoredSchema>>;
    /// The keys ([`LoadJob::key`]) of `load_id`'s jobs whose rows committed. After a crash
    /// between a job's commit and the pipeline's record of it, these jobs are not run again.
    /// A destination that keeps no such record returns none (its jobs may run twice).
    async fn committed_jobs(&self, _load_id: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Drops the record of `load_id`'s committed jobs once the package is complete.
    async fn forget_jobs(&self, _load_id: &str) -> Result<()> {
        Ok(())
    }
    /// Takes the staging dataset for this client: another loader (another pipeline, another
    /// process) that loads a staged chain into the same staging dataset waits until
    /// [`unlock_staging`](LoadClient::unlock_staging), so it cannot empty or fill staging
    /// tables between this client's staging loads and its follow-ups. `wait: false` answers
    /// [`StagingLock::Busy`] at once instead of waiting. The lock is the client's (its
    /// sessions and jobs share it) and ends with it at the latest; a follow-up fails
    /// transiently when the lock it was taken under was lost on the way (a connection that
    /// died), and what was loaded into staging must then be loaded again.
    ///
    /// The default suits a destination whose loads of one dataset cannot interleave.
    async fn lock_staging(&self, _wait: bool) -> Result<StagingLock> {
        Ok(StagingLock::Acquired)
    }
    /// Ends [`lock_staging`](LoadClient::lock_staging) (a package's follow-ups are done).
    async fn unlock_staging(&self) -> Result<()> {
        Ok(())
    }
    /// Opens a [`LoadSession`]: one connection with one open transaction, so a table
    /// chain can be loaded while it is still being normalized. `None` when the destination
    /// has no such sessions (the pipeline then loads after normalizing).
    async fn session(&self) -> Result<Option<Box<dyn LoadSession>>> {
        Ok(None)
    }
    /// The number of rows of each of `tables` in the dataset, in the order given; `None`
    /// for a table the dataset does not have. For inspection (`dlt-rs pipeline NAME show`).
    async fn table_row_counts(&self, _tables: &[String]) -> Result<Vec<(String, Option<u64>)>> {
        Err(unsupported("counting the rows of tables"))
    }
    /// The newest `limit` completed loads recorded in the dataset (`_dlt_loads`), newest
    /// first: `(load_id, status, inserted_at)`. None when the dataset has no loads table.
    async fn recent_loads(&self, _limit: usize) -> Result<Vec<(String, i64, DateTime<Utc>)>> {
        Err(unsupported("listing the loads of a dataset"))
    }
    /// Drops those of `tables` that are in the dataset and hold no rows, in one transaction:
    /// the tables a failed load created in transactions of their own (a laned table, see
    /// `pipeline`'s streaming), which the next load must be free to create as it sees fit.
    async fn drop_empty_tables(&self, _tables: &[String]) -> Result<()> {
        Ok(())
    }
    /// Drops `tables` from the dataset and from the staging dataset (missing tables are
    /// skipped) and deletes every stored version of schema `schema_name` (`_dlt_version`),
    /// as dlt's `pipeline drop` does: the tables are created again by the next load, whose
    /// schema is stored anew. One transaction where the destination has transactional DDL.
    async fn drop_tables(&self, _tables: &[String], _schema_name: &str) -> Result<()> {
        Err(unsupported("dropping tables"))
    }
    /// Runs the user's query `sql` against the dataset (its tables are found without the
    /// dataset's name) in a read-only transaction, and returns the rows of its last
    /// statement, every value as the destination prints it as text.
    async fn read_query(&self, _sql: &str) -> Result<QueryRows> {
        Err(unsupported("queries"))
    }
    /// Opens a read of the dataset ([`ReadRequest`]) in a read-only transaction: typed
    /// rows, a batch at a time, values bound as parameters (`Pipeline::dataset`).
    async fn read(&self, _request: &ReadRequest) -> Result<Box<dyn RowCursor>> {
        Err(unsupported("reading data back"))
    }
}

/// The rows of a read-only query ([`LoadClient::read_query`]): the column names, and each
/// value as the destination prints it (`None`: NULL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// The error of a [`LoadClient`] method a destination does not implement (the client does
/// not know its destination's registry name: the caller fills `destination` in).
fn unsupported(what: &str) -> crate::Error {
    crate::Error::Unsupported {
        destination: String::new(),
        what: what.into(),
        hint: None,
    }
}

/// What [`LoadSession::prepare`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// The table was not there: the session created it.
    Created,
    /// The table was there (the session added the columns it lacked, if any).
    Existed,
}

/// One transaction that loads job files of a table chain as they are produced
/// (overlapping normalize and load). Nothing is visible to readers before [`commit`];
/// dropping the session rolls everything back.
///
/// The pipeline gives each chain its own session and runs a table's schema changes in the
/// session that loads it (schema changes are transactional), which keeps sessions from
/// waiting on each other; a table appended to in lanes (several sessions) is prepared in a
/// session of its own, committed before the lanes load.
///
/// [`commit`]: LoadSession::commit
#[async_trait]
pub trait LoadSession: Send {
    /// Makes `table` of `schema` exist in `target` with (at least) its complete columns:
    /// created, or widened with the missing columns, inside the session's transaction.
    async fn prepare(
        &mut self,
        schema: &Schema,
        table: &str,
        target: LoadTarget,
    ) -> Result<Prepared>;
    /// Empties `tables` inside the session's transaction.
    async fn truncate(&mut self, tables: &[String], target: LoadTarget) -> Result<()>;
    /// Loads one job file (and records its key, as [`LoadClient::run_job`] does); returns
    /// the rows inserted.
    async fn load(&mut self, job: &LoadJob) -> Result<u64>;
    /// Commits everything the session did.
    async fn commit(self: Box<Self>) -> Result<()>;
}
