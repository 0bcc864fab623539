//! The PostgreSQL destination of dlt-rs, registered as `postgres`.
//!
//! A dataset is a PostgreSQL schema. Tables are created with dlt's type mapping, rows are
//! loaded from `insert_values` job files (multi-row `INSERT`s, one transaction per file)
//! by a pool of connections, and `unique` hints become UNIQUE constraints unless
//! `create_indexes = false`.
//!
//! The load protocol is `dest-sql`'s engine ([`dest_sql::SqlClient`]); this crate is what
//! PostgreSQL brings to it. Modules (private; the public items are re-exported below):
//! `config` (credentials and settings), `sql` ([`PostgresDialect`]: quoting, the one literal
//! escaping function, dlt's type mapping, and the statements of the driver), `driver` (the
//! engine's `Driver` and `Connection` over a pool of tokio-postgres connections), `client`
//! (connections, the pool, retry classification by SQLSTATE), `insert_values`, `bound` and
//! `csv` (the file formats and their loaders), `staging_lock`, `tls`, `dbt`.

mod binary_copy;
mod bound;
mod client;
mod config;
mod csv;
mod dbt;
mod driver;
mod insert_values;
#[cfg(test)]
mod merge_sql;
mod read;
mod sql;
mod staging_lock;
mod tls;

use std::sync::Arc;

use async_trait::async_trait;
use dest_core::config::Resolver;
use dest_core::registry::{DestinationContext, DestinationDescriptor};
use dest_core::{
    Capabilities, DatasetRef, Destination, DispositionKind, FileFormat, LoadClient,
    LoaderFileFormat, MergeStrategy, ReplaceStrategy, Result,
};

pub use client::PgError;
pub use config::{PostgresCredentials, PostgresSettings};
pub use csv::Csv;
pub use dest_core::Secret;
pub use insert_values::{render_value, InsertValues, RenderError};
pub use sql::{
    escape_literal, literal, quote_ident, NulInText, PostgresDialect, MAX_IDENTIFIER_LENGTH,
};
pub use tls::{TlsMode, TlsSettings};

/// The registry name.
pub const NAME: &str = "postgres";

/// Opens one connection to the server `credentials` name, with TLS as their `sslmode` asks
/// (as the destination connects): for code that reads from PostgreSQL, such as the
/// `sql_database` source. Errors name host, port and database, never the password.
pub async fn connect(credentials: &PostgresCredentials) -> Result<tokio_postgres::Client> {
    let config = credentials.to_pg_config()?;
    let tls = credentials.tls_settings()?.connector()?;
    client::connect(&config, tls.as_ref(), &target(credentials)).await
}

/// `host:port/database`, for messages.
fn target(c: &PostgresCredentials) -> String {
    format!("{}:{}/{}", c.host, c.port, c.database)
}

/// An example `.dlt/secrets.toml` / `.dlt/config.toml` for this destination.
pub const EXAMPLE_CONFIG: &str = r#"# .dlt/secrets.toml
[destination.postgres.credentials]
database = "dlt_data"
username = "loader"
password = "<password>"
host = "localhost"
port = 5432
connect_timeout = 15

# .dlt/config.toml
[destination.postgres]
create_indexes = true

[load]
workers = 20
"#;

const CAPABILITIES: Capabilities = Capabilities {
    preferred_file_format: LoaderFileFormat::InsertValues,
    file_formats: &[
        LoaderFileFormat::InsertValues,
        LoaderFileFormat::Csv,
        LoaderFileFormat::Parquet,
    ],
    write_dispositions: &DispositionKind::ALL,
    merge_strategies: &MergeStrategy::ALL,
    replace_strategies: &ReplaceStrategy::ALL,
    max_identifier_length: sql::MAX_IDENTIFIER_LENGTH,
    max_query_length: 32 * 1024 * 1024,
    supports_ddl_transactions: true,
    timestamp_precision: 6,
    // identifiers are always quoted
    case_sensitive_identifiers: true,
    // PostGIS: `geometry(Geometry, <srid>)` columns from WKT / EWKT / hex WKB text
    column_hints: &[sql::GEOMETRY_HINT, sql::SRID_HINT],
    config_keys: &[
        "credentials",
        "create_indexes",
        "replace_strategy",
        "staging_dataset_name_layout",
        "max_statement_bytes",
        "insert_values_execution",
    ],
    dlt_config_keys: &[
        "csv_format",
        "enable_dataset_name_normalization",
        "info_tables_query_threshold",
        "truncate_tables_on_staging_destination_before_load",
        "destination_name",
        "environment",
    ],
};

inventory::submit! {
    DestinationDescriptor::new(NAME, "PostgreSQL (tokio-postgres; insert_values)", EXAMPLE_CONFIG, factory)
}

fn factory(ctx: &DestinationContext<'_>) -> Result<Box<dyn Destination>> {
    let r = Resolver::new(ctx.config, ctx.pipeline_name);
    let credentials = PostgresCredentials::resolve(&r, ctx.destination_name)?;
    let settings = PostgresSettings::resolve(&r, ctx.destination_name)?;
    Ok(Box::new(Postgres::new(credentials, settings)))
}

/// The PostgreSQL destination, configured.
#[derive(Debug)]
pub struct Postgres {
    credentials: PostgresCredentials,
    settings: Arc<PostgresSettings>,
    capabilities: Capabilities,
}

impl Postgres {
    pub fn new(credentials: PostgresCredentials, settings: PostgresSettings) -> Self {
        Postgres {
            credentials,
            settings: Arc::new(settings),
            capabilities: CAPABILITIES,
        }
    }
}

#[async_trait]
impl Destination for Postgres {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn file_format(&self, format: LoaderFileFormat) -> Option<Arc<dyn FileFormat>> {
        match format {
            LoaderFileFormat::InsertValues => Some(Arc::new(InsertValues::new(
                self.settings.max_statement_bytes,
            ))),
            LoaderFileFormat::Csv => Some(Arc::new(csv::Csv::new())),
            LoaderFileFormat::Parquet => Some(Arc::new(columnar::Parquet)),
            _ => None,
        }
    }

    fn replace_strategy(&self) -> Option<ReplaceStrategy> {
        self.settings.sql.replace_strategy
    }

    fn workers(&self) -> usize {
        self.settings.workers
    }

    fn staging_dataset_layout(&self) -> &str {
        &self.settings.sql.staging_dataset_name_layout
    }

    async fn client(&self, dataset: &DatasetRef) -> Result<Arc<dyn LoadClient>> {
        let config = self.credentials.to_pg_config()?;
        let tls = self.credentials.tls_settings()?.connector()?;
        let pool = client::Pool::new(config, tls, target(&self.credentials));
        // connect once now, so bad credentials fail before any work
        let first = pool.get().await?;
        pool.put(first);
        let driver = Arc::new(driver::PgDriver {
            pool,
            settings: self.settings.clone(),
            staging_lock: Default::default(),
        });
        Ok(Arc::new(dest_sql::SqlClient::new(
            driver,
            dataset,
            self.settings.sql.create_indexes,
        )))
    }

    fn dbt_profile(&self, dataset: &str) -> Result<dest_core::DbtProfile> {
        dbt::profile(&self.credentials, dataset)
    }
}
