//! What the modules of this binary share: the destination on the test server
//! (`DLT_RS_TEST_PG_URL`) built with its public constructors, a load client for a dataset of
//! one test, tables made by the client's own migration, and job files written with the
//! destination's public writers.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use dest_core::{
    Column, DatasetRef, Destination, FileFormat, LoadClient, LoadJob, LoadTarget, Schema,
    TableSchema, Value,
};
use dest_postgres::{Postgres, PostgresCredentials, PostgresSettings};
use test_support::{connect, fresh_schema, pg_url, quote_ident};

/// The destination on the test server with `settings`.
pub(crate) fn destination(settings: PostgresSettings) -> Postgres {
    let credentials = PostgresCredentials::parse_url(&pg_url()).unwrap();
    Postgres::new(credentials, settings)
}

/// The default settings with `max_statement_bytes` (the batch size of bound execution).
pub(crate) fn batch_bytes(bytes: usize) -> PostgresSettings {
    PostgresSettings {
        max_statement_bytes: bytes,
        ..PostgresSettings::default()
    }
}

/// The dataset of one test (`<name>`, staging `<name>_staging`, both dropped when made) and
/// a superuser connection to look at it.
pub(crate) struct Dataset {
    pub admin: tokio_postgres::Client,
    pub name: String,
    pub staging: String,
}

impl Dataset {
    /// Drops what an earlier run of `test` left; creates nothing yet.
    pub(crate) async fn new(test: &str) -> Dataset {
        let admin = connect().await;
        let name = fresh_schema(&admin, test).await;
        let staging = format!("{name}_staging");
        Dataset {
            admin,
            name,
            staging,
        }
    }

    /// A load client of the destination with `settings` for this dataset; the dataset and
    /// its staging schema exist once it returns (`LoadClient::initialize`).
    pub(crate) async fn client(&self, settings: PostgresSettings) -> Arc<dyn LoadClient> {
        let client = destination(settings)
            .client(&DatasetRef {
                name: self.name.clone(),
                staging: self.staging.clone(),
            })
            .await
            .unwrap();
        client.initialize(true).await.unwrap();
        client
    }

    /// `"dataset"."table"`.
    pub(crate) fn qualified(&self, table: &str) -> String {
        format!("{}.{}", quote_ident(&self.name), quote_ident(table))
    }

    /// Drops the dataset and its staging schema.
    pub(crate) async fn remove(&self) {
        self.admin
            .batch_execute(&format!(
                "DROP SCHEMA {} CASCADE; DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(&self.name),
                quote_ident(&self.staging)
            ))
            .await
            .unwrap();
    }
}

/// A schema named `test` holding `tables` (and the system tables).
pub(crate) fn schema(tables: &[TableSchema]) -> Schema {
    let mut schema = Schema::new("test");
    schema.tables.extend(tables.iter().cloned());
    schema.version_hash = schema.content_hash();
    schema
}

/// Makes `tables` exist in `target` as the loader does: [`LoadClient::update_schema`].
pub(crate) async fn create_tables(client: &dyn LoadClient, schema: &Schema, target: LoadTarget) {
    let names: Vec<String> = schema
        .tables
        .iter()
        .filter(|t| !t.name.starts_with("_dlt_"))
        .map(|t| t.name.clone())
        .collect();
    client.update_schema(schema, &names, target).await.unwrap();
}

/// A job of load `1` that loads `file` (format `format`) into dataset table `table`.
pub(crate) fn job(table: &str, file: &Path, format: &str, key: &str) -> LoadJob {
    LoadJob {
        load_id: "1".into(),
        table: table.into(),
        file: file.to_path_buf(),
        format: format.parse().unwrap(),
        target: LoadTarget::Dataset,
        key: key.into(),
    }
}

/// Writes a job file with `format`'s writer (table name `t`).
pub(crate) fn write_job(
    format: &dyn FileFormat,
    path: &Path,
    columns: &[Column],
    rows: &[Vec<Value>],
) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = format
        .writer("t", columns, Box::new(std::io::BufWriter::new(file)))
        .unwrap();
    for r in rows {
        w.write_row(r).unwrap();
    }
    w.finish().unwrap().flush().unwrap();
}
