//! The SQLite destination of dlt-rs, registered as `sqlite`.
//!
//! ```sh
//! dlt-rs load events.jsonl --pipeline events --dataset raw --table events \
//!     --destination sqlite --credentials data/dlt.db
//! ```
//!
//! # Datasets are attached database files
//!
//! The credentials name the main database file (`data/dlt.db`, or dlt's sqlalchemy URL
//! `sqlite:///data/dlt.db`; see [`config`]). A dataset is a database file next to it,
//! `<main stem>__<dataset><main suffix>` (`data/dlt__raw.db`), attached under the dataset's
//! name, so its tables are `"raw"."events"` as in a PostgreSQL schema: this is how dlt's
//! sqlalchemy destination maps datasets on SQLite, and it keeps datasets apart without
//! renaming a single table (a table prefix would). The dataset `main` is the main file
//! itself. The staging dataset (`raw_staging`, `data/dlt__raw_staging.db`) is attached
//! likewise; it holds the staging tables of replace and merge, and the job and follow-up
//! ledgers ([`dest_sql::system`]). Read a dataset with
//! `sqlite3 data/dlt.db "ATTACH 'data/dlt__raw.db' AS raw" "SELECT * FROM raw.events"`, or
//! open `data/dlt__raw.db` directly.
//!
//! # rusqlite, bundled
//!
//! SQLite is a library, not a server: loading is function calls on a file. rusqlite wraps
//! that API directly (prepared statements with cached plans, bound values, explicit
//! transaction modes, `ATTACH` on the one connection); with `bundled` it compiles SQLite
//! from source, so there is nothing to install and every machine has the same SQLite (a
//! recent one: `UPDATE ... FROM`, window functions, `concat`, upsert clauses). sqlx-sqlite
//! would add an async layer that runs the same calls on a worker thread of its own, plus
//! a pool built for servers, and hides transaction behaviour (`BEGIN IMMEDIATE`) behind
//! its own; for an embedded database the direct API is simpler and no slower. The sync
//! calls run on tokio's blocking threads ([`tokio::task::spawn_blocking`]).
//!
//! # Loading
//!
//! SQLite has one writer at a time, so a client holds one connection behind a mutex and
//! the destination loads one job at a time (`workers` is 1); every write is one
//! `BEGIN IMMEDIATE` transaction (it takes the write lock of every attached file, so two
//! pipelines sharing a main file take turns), and another connection's lock is waited for
//! up to `busy_timeout` seconds (default 30), then the load fails transiently and is
//! retried.
//! Job files are `typed-jsonl` ([`typed_jsonl`]: rows as JSON arrays, inserted by prepared
//! multi-row `INSERT`s with bound values). A job's rows and its record in the job ledger
//! commit in one transaction across the dataset and staging files: the files keep
//! SQLite's rollback journal, which commits across attached files atomically (dlt's
//! sqlalchemy destination switches to WAL, which does not). There are no load sessions
//! (`LoadClient::session` is `None`): tables load after normalizing.
//!
//! # What is supported
//!
//! Every write disposition: `append`; `replace` with `truncate-and-insert` (atomic, as on
//! PostgreSQL) and `insert-from-staging`; `merge` with `delete-insert` (`primary_key`,
//! `merge_key`, `hard_delete`, `dedup_sort`), `upsert` (SQLite has no `MERGE`: the same
//! result from delete / update / insert over a temporary table, `dest_sql::merge`) and
//! `scd2`. `staging-optimized` is refused with a capability error naming it: it swaps
//! staging tables into the dataset, and SQLite cannot move a table between database files
//! (a copy would be `insert-from-staging` under another name). Schema evolution adds
//! columns with `ALTER TABLE ... ADD COLUMN`, one per statement and nullable (SQLite cannot
//! add a NOT NULL column without a default); a `unique` column gets a UNIQUE constraint
//! (`CREATE UNIQUE INDEX` for added columns) unless `create_indexes = false`. Types: see
//! [`sql`]. Names are shortened past 200 bytes ([`sql::MAX_IDENTIFIER_LENGTH`]: job and
//! dataset files are named after them). Text with NUL characters is stored as it is (values are bound, never
//! written into SQL). Integers past 64 bits keep every digit: `wei` and `decimal` columns
//! hold exact decimal text.

mod client;
mod config;
mod driver;
mod parquet_rows;
mod read;
mod sql;
mod typed_jsonl;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dest_core::config::Resolver;
use dest_core::registry::{DestinationContext, DestinationDescriptor};
use dest_core::{
    Capabilities, DatasetRef, Destination, DispositionKind, Error, FileFormat, LoadClient,
    LoaderFileFormat, MergeStrategy, ReplaceStrategy, Result,
};
use dest_sql::SqlClient;

pub use client::SqliteError;
pub use config::{SqliteCredentials, SqliteSettings};
pub use sql::{SqliteDialect, MAX_IDENTIFIER_LENGTH};
pub use typed_jsonl::TypedJsonl;

/// The registry name.
pub const NAME: &str = "sqlite";

/// An example `.dlt/secrets.toml` / `.dlt/config.toml` for this destination.
pub const EXAMPLE_CONFIG: &str = r#"# .dlt/secrets.toml (a path, or sqlite:///relative.db / sqlite:////absolute.db)
destination.sqlite.credentials = "dlt_data.db"

# .dlt/config.toml
[destination.sqlite]
create_indexes = true
busy_timeout = 30
"#;

// doc:start capabilities
const CAPABILITIES: Capabilities = Capabilities {
    preferred_file_format: LoaderFileFormat::TypedJsonl,
    file_formats: &[LoaderFileFormat::TypedJsonl, LoaderFileFormat::Parquet],
    write_dispositions: &DispositionKind::ALL,
    merge_strategies: &MergeStrategy::ALL,
    // no staging-optimized: SQLite cannot move a table between database files
    replace_strategies: &[
        ReplaceStrategy::TruncateAndInsert,
        ReplaceStrategy::InsertFromStaging,
    ],
    max_identifier_length: sql::MAX_IDENTIFIER_LENGTH,
    // SQLITE_MAX_SQL_LENGTH
    max_query_length: 1_000_000_000,
    supports_ddl_transactions: true,
    timestamp_precision: 6,
    // `Id` and `id` name one column
    case_sensitive_identifiers: false,
    column_hints: &[],
    config_keys: &[
        "credentials",
        "create_indexes",
        "replace_strategy",
        "staging_dataset_name_layout",
        "busy_timeout",
    ],
    // dlt's sqlalchemy destination
    dlt_config_keys: &[
        "engine_args",
        "create_unique_indexes",
        "create_primary_keys",
        "enable_dataset_name_normalization",
        "info_tables_query_threshold",
        "truncate_tables_on_staging_destination_before_load",
        "destination_name",
        "environment",
    ],
};
// doc:end capabilities

// doc:start registration
inventory::submit! {
    DestinationDescriptor::new(
        NAME,
        "SQLite (rusqlite, bundled; a dataset is an attached database file)",
        EXAMPLE_CONFIG,
        factory,
    )
}

/// Builds the destination from configuration (no IO: the first connection is made when a
/// load needs it).
fn factory(ctx: &DestinationContext<'_>) -> Result<Box<dyn Destination>> {
    let r = Resolver::new(ctx.config, ctx.pipeline_name);
    let credentials = SqliteCredentials::resolve(&r, ctx.destination_name)?;
    let settings = SqliteSettings::resolve(&r, ctx.destination_name)?;
    Ok(Box::new(Sqlite::new(credentials, settings)))
}
// doc:end registration

/// The SQLite destination, configured.
#[derive(Debug)]
pub struct Sqlite {
    credentials: SqliteCredentials,
    settings: Arc<SqliteSettings>,
    capabilities: Capabilities,
}

impl Sqlite {
    pub fn new(credentials: SqliteCredentials, settings: SqliteSettings) -> Self {
        Sqlite {
            credentials,
            settings: Arc::new(settings),
            capabilities: CAPABILITIES,
        }
    }

    /// The credentials (the main database file).
    pub fn credentials(&self) -> &SqliteCredentials {
        &self.credentials
    }
}

/// Names SQLite reserves for its own databases.
fn check_dataset_name(name: &str, role: &str) -> Result<()> {
    if name.is_empty() || name.eq_ignore_ascii_case("temp") {
        return Err(Error::Config(format!(
            "the {role} name `{name}` cannot name an attached SQLite database (`temp` is SQLite's own)"
        )));
    }
    Ok(())
}

#[async_trait]
impl Destination for Sqlite {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn file_format(&self, format: LoaderFileFormat) -> Option<Arc<dyn FileFormat>> {
        match format {
            LoaderFileFormat::TypedJsonl => Some(Arc::new(TypedJsonl)),
            LoaderFileFormat::Parquet => Some(Arc::new(columnar::Parquet)),
            _ => None,
        }
    }

    fn replace_strategy(&self) -> Option<ReplaceStrategy> {
        self.settings.sql.replace_strategy
    }

    /// One writer at a time.
    fn workers(&self) -> usize {
        1
    }

    fn staging_dataset_layout(&self) -> &str {
        &self.settings.sql.staging_dataset_name_layout
    }

    async fn client(&self, dataset: &DatasetRef) -> Result<Arc<dyn LoadClient>> {
        let staging = dataset.staging.clone();
        check_dataset_name(&dataset.name, "dataset")?;
        check_dataset_name(&staging, "staging dataset")?;
        if staging == dataset.name || staging.eq_ignore_ascii_case("main") {
            return Err(Error::Config(format!(
                "the staging dataset `{staging}` of dataset `{}` must be another attached file",
                dataset.name
            )));
        }
        let main = self.credentials.database.clone();
        let mut attach = Vec::new();
        for name in [&dataset.name, &staging] {
            if name != "main" {
                attach.push((name.clone(), self.credentials.dataset_file(name)));
            }
        }
        let mut lock_file = self.credentials.dataset_file(&staging).into_os_string();
        lock_file.push(".lock");
        let lock_file = std::path::PathBuf::from(lock_file);
        let busy = Duration::from_secs(self.settings.busy_timeout_secs);
        let conn = tokio::task::spawn_blocking(move || {
            let attach: Vec<(&str, &std::path::Path)> = attach
                .iter()
                .map(|(n, f)| (n.as_str(), f.as_path()))
                .collect();
            client::open(&main, &attach, busy)
        })
        .await
        .map_err(|e| Error::Internal(format!("opening SQLite failed: {e}")))??;
        // doc:start engine
        let driver = Arc::new(driver::SqliteDriver::new(conn, lock_file));
        let create_indexes = self.settings.sql.create_indexes;
        Ok(Arc::new(SqlClient::new(driver, dataset, create_indexes)))
        // doc:end engine
    }
}
