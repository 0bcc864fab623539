//! `dlt-rs sql-database`: the tables of a database loaded with dlt's `sql_database` semantics
//! (one resource per table, columns and primary keys reflected), no code needed.

use anyhow::Result;
use clap::Args;
use source_sql::SqlDatabase;

use crate::{Interrupted, RunArgs, Signals};

#[derive(Debug, Args)]
pub struct SqlDatabaseArgs {
    /// The source database: `postgresql://user:password@host:port/database` (`sslmode` and
    /// the other parameters as for the destination; the password is never printed).
    pub source_url: dest_core::Secret,
    /// The tables to load (default: every table of the schema), each into a table of its name.
    pub tables: Vec<String>,
    /// The source schema (default: the connection's current schema, usually `public`).
    #[arg(long)]
    pub schema: Option<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs `dlt-rs sql-database`.
pub(crate) async fn run(a: SqlDatabaseArgs, quiet: bool) -> Result<()> {
    let mut signals = Signals::listen()?;
    a.run.disposition()?;
    let mut db = SqlDatabase::from_url(a.source_url.expose())?;
    if let Some(schema) = &a.schema {
        db = db.with_schema(schema);
    }
    let tables = db.reflect(&a.tables).await?;
    let resources = tables
        .iter()
        .map(|t| a.run.hint(db.resource(t)))
        .collect::<Result<Vec<_>>>()?;
    let mut p = a.run.pipeline()?;
    let display =
        crate::progress::Display::start(p.progress(), crate::progress::Mode::detect(quiet));
    let result = tokio::select! {
        result = p.run(resources) => Ok(result),
        signal = signals.recv() => Err(Interrupted { signal, from_stdin: false, pipeline: a.run.pipeline.clone() }),
    };
    display.finish().await;
    let info = match result? {
        Ok(info) => info,
        Err(e @ pipeline::PipelineError::LoadAborted { .. }) => {
            anyhow::bail!("{e}\n{}", a.run.retry_hint())
        }
        Err(e) => return Err(e.into()),
    };
    if !quiet {
        println!("{info}");
    }
    Ok(())
}
