//! Copies the tables of a PostgreSQL database into PostgreSQL, as dlt's `sql_database`
//! source does: one table per source table, column types, nullability and primary keys
//! reflected. Made by `dlt-rs init sql_database postgres`.
//!
//! The source database comes from `.dlt/secrets.toml` (`[sources.sql_database]
//! credentials`), its schema and tables from `.dlt/config.toml`, the destination's
//! credentials from `.dlt/secrets.toml`; environment variables such as
//! `SOURCES__SQL_DATABASE__CREDENTIALS` or `DESTINATION__POSTGRES__CREDENTIALS` override both.

use anyhow::{bail, Context};
use pipeline::Pipeline;
use source_sql::SqlDatabase;

// Links the PostgreSQL destination into the binary: without a `use`, the linker drops the
// crate and its registration under the name "postgres".
use dest_postgres as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut pipeline = Pipeline::builder("sql_database")
        .destination("postgres")
        .dataset_name("sql_data")
        // typed rows load fastest as Parquet jobs (binary COPY)
        .loader_file_format("parquet")
        .build()?;
    let (url, schema, tables, write_disposition) = {
        let config = pipeline.config().resolver(Some(pipeline.name()));
        let section = ["sources", "sql_database"];
        let text = |field: &str| {
            config
                .find(&section, field)
                .and_then(|found| found.value.as_str().map(str::to_string))
        };
        let Some(url) = text("credentials") else {
            bail!(
                "no source database: set `credentials` (a postgresql:// URL) at one of {}",
                config.tried_keys(&section, "credentials").join(", ")
            );
        };
        let tables: Vec<String> = match config.find(&section, "table_names") {
            None => Vec::new(),
            Some(found) => found
                .value
                .as_array()
                .context("sources.sql_database.table_names must be a list of names")?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        };
        (url, text("schema"), tables, text("write_disposition"))
    };
    let mut db = SqlDatabase::from_url(&url)?;
    if let Some(schema) = schema {
        db = db.with_schema(schema);
    }
    // every table of the schema, or the configured ones
    let tables = db.reflect(&tables).await?;
    let mut resources = Vec::new();
    for table in &tables {
        let mut resource = db.resource(table);
        if let Some(disposition) = &write_disposition {
            resource = resource.write_disposition(disposition, None)?;
        }
        resources.push(resource);
    }
    // on a new machine, restore the state from the dataset first
    pipeline.sync_destination().await?;
    let info = pipeline.run(resources).await?;
    println!("{info}");
    Ok(())
}
