//! `dlt-rs sql-database`: the tables of a database loaded with dlt's `sql_database` semantics
//! (one resource per table, columns and primary keys reflected), no code needed.

use anyhow::{bail, Result};
use clap::Args;
use source_sql::SqlDatabase;

use crate::{RunArgs, Signals};

#[derive(Debug, Args)]
pub struct SqlDatabaseArgs {
    /// The source database: `postgresql://user:password@host:port/database` (`sslmode` and
    /// the other parameters as for the destination) or `mysql://user:password@host:3306/db`
    /// (MySQL, MariaDB) or `sqlite:///path/to/file.db`; the password is never printed.
    pub source_url: dest_core::Secret,
    /// The tables to load (default: every table of the schema), each into a table of its name.
    pub tables: Vec<String>,
    /// The source schema (default: the connection's current schema, usually `public`).
    #[arg(long)]
    pub schema: Option<String>,
    /// Load TABLE incrementally on COLUMN (repeatable): only rows with COLUMN at or past the
    /// last value loaded are read, as dlt's `incremental`; the last value is kept in the
    /// pipeline state.
    #[arg(long, value_name = "TABLE.COLUMN")]
    pub incremental: Vec<String>,
    /// Read only the part of TABLE where FROM <= COLUMN < TO (repeatable; either end may be
    /// left out: `id=..1000`, `id=1000..`), e.g. to load one big table's parts in several
    /// processes at once (docs/scale-out.md). The values are cast by the source to the
    /// column's type.
    #[arg(long, value_name = "TABLE.COLUMN=FROM..TO")]
    pub key_range: Vec<String>,
    /// Read PostgreSQL tables row by row (each row as JSON, `row_to_json`) instead of
    /// columnar (binary `COPY` decoded into Arrow batches; the default, about 2x faster).
    /// The tables are the same either way.
    #[arg(long)]
    pub no_columnar: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs `dlt-rs sql-database`.
pub(crate) async fn run(a: SqlDatabaseArgs, quiet: bool) -> Result<()> {
    let mut signals = Signals::listen()?;
    a.run.disposition()?;
    let mut db = SqlDatabase::from_url(a.source_url.expose())?.columnar(!a.no_columnar);
    if let Some(schema) = &a.schema {
        db = db.with_schema(schema);
    }
    let mut cursors = Vec::new();
    for spec in &a.incremental {
        match spec.split_once('.') {
            Some((table, column)) if !table.is_empty() && !column.is_empty() => {
                cursors.push((table, column));
            }
            _ => bail!("--incremental `{spec}`: expected TABLE.COLUMN"),
        }
    }
    let mut ranged = Vec::new();
    for spec in &a.key_range {
        let (table, column, from, to) = parse_key_range(spec)?;
        ranged.push(table.clone());
        db = db.key_range(table, column, from, to);
    }
    let tables = db.reflect(&a.tables).await?;
    let unknown = |option: &str, table: &str| {
        anyhow::anyhow!("{option} names table `{table}`, which this run does not load")
    };
    if let Some((table, _)) = cursors
        .iter()
        .find(|(name, _)| !tables.iter().any(|t| t.name == *name))
    {
        return Err(unknown("--incremental", table));
    }
    if let Some(table) = ranged
        .iter()
        .find(|name| !tables.iter().any(|t| t.name == **name))
    {
        return Err(unknown("--key-range", table));
    }
    let resources = tables
        .iter()
        .map(|t| {
            let resource = match cursors.iter().find(|(name, _)| *name == t.name) {
                Some((_, column)) => db.incremental_resource(t, column, None)?,
                None => db.resource(t),
            };
            a.run.hint(resource)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut p = a.run.pipeline()?;
    // rows of typed columns: `parquet` jobs (binary COPY) where the destination loads them,
    // the fastest way in (docs/sources/sql-database.md); the tables are the same
    let parquet = dest_core::LoaderFileFormat::Parquet;
    if a.run.loader_file_format.is_none()
        && p.destination()
            .capabilities()
            .file_formats
            .contains(&parquet)
    {
        p = a.run.pipeline_with_format(parquet.as_str())?;
    }
    let progress = p.progress();
    let info = crate::drive(progress, p.run(resources), &mut signals, &a.run, quiet).await?;
    if !quiet {
        println!("{info}");
    }
    Ok(())
}

/// `TABLE.COLUMN=FROM..TO` (either end may be empty, not both): the table, column and ends.
fn parse_key_range(spec: &str) -> Result<(String, String, Option<String>, Option<String>)> {
    let expected = || {
        anyhow::anyhow!(
            "--key-range `{spec}`: expected TABLE.COLUMN=FROM..TO (either end may be left out)"
        )
    };
    let (target, range) = spec.split_once('=').ok_or_else(expected)?;
    let (table, column) = target.split_once('.').ok_or_else(expected)?;
    let (from, to) = range.split_once("..").ok_or_else(expected)?;
    let end = |v: &str| (!v.is_empty()).then(|| v.to_string());
    if table.is_empty() || column.is_empty() || (from.is_empty() && to.is_empty()) {
        return Err(expected());
    }
    Ok((table.to_string(), column.to_string(), end(from), end(to)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::parse_key_range;

    #[test]
    fn key_ranges_parse_with_open_ends() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            parse_key_range("orders.id=1000..2000").unwrap(),
            ("orders".into(), "id".into(), some("1000"), some("2000"))
        );
        assert_eq!(
            parse_key_range("orders.created_at=..2024-01-01 00:00:00").unwrap(),
            (
                "orders".into(),
                "created_at".into(),
                None,
                some("2024-01-01 00:00:00")
            )
        );
        assert_eq!(
            parse_key_range("t.v=1.5..").unwrap(),
            ("t".into(), "v".into(), some("1.5"), None)
        );
        for bad in [
            "orders.id",
            "orders=1..2",
            "orders.id=..",
            "orders.id=5",
            ".id=1..2",
        ] {
            assert!(parse_key_range(bad).is_err(), "{bad}");
        }
    }
}
