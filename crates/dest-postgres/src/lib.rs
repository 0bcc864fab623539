//! The PostgreSQL destination of dlt-rs, registered as `postgres`.
//!
//! A dataset is a PostgreSQL schema. Tables are created with dlt's type mapping, rows are
//! loaded from `insert_values` job files (multi-row `INSERT`s, one transaction per file)
//! by a pool of connections, and `unique` hints become UNIQUE constraints unless
//! `create_indexes = false`.
//!
//! Modules: `config` (credentials and settings), `sql` (quoting, escaping, type mapping and
//! [`sql::PostgresDialect`], PostgreSQL's dialect of the SQL the SQL destinations share in
//! `dest-sql`: DDL, system tables, ledgers, replace and merge), `merge_sql` / `follow_up`
//! (the follow-ups' statements and their transaction), `insert_values` (the file format),
//! `client` (all IO and retry classification), `load` (the load client).

mod bound;
mod client;
mod config;
mod csv;
mod dbt;
mod follow_up;
mod insert_values;
mod ledger;
mod load;
mod merge_sql;
mod session;
pub mod sql;
mod staging_lock;
pub mod tls;

use std::sync::Arc;

use async_trait::async_trait;
use dest_core::config::Resolver;
use dest_core::registry::{DestinationContext, DestinationDescriptor};
use dest_core::{
    Capabilities, DatasetRef, Destination, DispositionKind, FileFormat, LoadClient, Result,
};

pub use client::PgError;
pub use config::{PostgresCredentials, PostgresSettings};
pub use csv::Csv;
pub use dest_core::Secret;
pub use insert_values::{render_value, InsertValues};

/// The registry name.
pub const NAME: &str = "postgres";

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
    preferred_file_format: "insert_values",
    file_formats: &["insert_values", "csv"],
    write_dispositions: &[
        DispositionKind::Append,
        DispositionKind::Replace,
        DispositionKind::Merge,
    ],
    merge_strategies: &["delete-insert", "upsert", "scd2"],
    replace_strategies: &[
        "truncate-and-insert",
        "insert-from-staging",
        "staging-optimized",
    ],
    max_identifier_length: sql::MAX_IDENTIFIER_LENGTH,
    max_query_length: 32 * 1024 * 1024,
    supports_ddl_transactions: true,
    timestamp_precision: 6,
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

    fn file_format(&self, name: &str) -> Option<Arc<dyn FileFormat>> {
        match name {
            "insert_values" => Some(Arc::new(InsertValues::new(
                self.settings.max_statement_bytes,
            ))),
            "csv" => Some(Arc::new(csv::Csv::new())),
            _ => None,
        }
    }

    fn workers(&self) -> usize {
        self.settings.workers
    }

    fn staging_dataset_layout(&self) -> &str {
        &self.settings.staging_dataset_name_layout
    }

    async fn client(&self, dataset: &DatasetRef) -> Result<Arc<dyn LoadClient>> {
        let config = self.credentials.to_pg_config()?;
        let target = format!(
            "{}:{}/{}",
            self.credentials.host, self.credentials.port, self.credentials.database
        );
        let tls = self.credentials.tls_settings()?.connector()?;
        let pool = client::Pool::new(config, tls, target);
        // connect once now, so bad credentials fail before any work
        let first = pool.get().await?;
        pool.put(first);
        Ok(Arc::new(load::PostgresClient {
            pool: Arc::new(pool),
            dataset: dataset.name.clone(),
            staging: dataset.staging.clone(),
            settings: self.settings.clone(),
            staging_lock: Default::default(),
        }))
    }

    fn dbt_profile(&self, dataset: &str) -> Result<dest_core::DbtProfile> {
        dbt::profile(&self.credentials, dataset)
    }
}
