//! File formats: a writer per table job and the name the destination loads it by.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use crate::{Column, Error, Result, Value};

/// The loader file formats dlt-rs writes (dlt's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoaderFileFormat {
    /// Multi-row `INSERT ... VALUES` statements (PostgreSQL's default, as dlt's).
    InsertValues,
    /// CSV with a header row, loaded by `COPY` (PostgreSQL).
    Csv,
    /// Rows as JSON arrays of stored values, inserted with bound parameters (SQLite).
    TypedJsonl,
    /// Apache Parquet (dlt's `parquet`): Arrow arrays of the job types of the `columnar`
    /// crate; PostgreSQL loads them with binary `COPY`.
    Parquet,
}

impl LoaderFileFormat {
    pub const ALL: [LoaderFileFormat; 4] = [
        LoaderFileFormat::InsertValues,
        LoaderFileFormat::Csv,
        LoaderFileFormat::TypedJsonl,
        LoaderFileFormat::Parquet,
    ];

    /// The name in configuration and in job file names (`insert_values`).
    pub fn as_str(self) -> &'static str {
        match self {
            LoaderFileFormat::InsertValues => "insert_values",
            LoaderFileFormat::Csv => "csv",
            LoaderFileFormat::TypedJsonl => "typed-jsonl",
            LoaderFileFormat::Parquet => "parquet",
        }
    }
}

impl fmt::Display for LoaderFileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LoaderFileFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        LoaderFileFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown loader file format `{s}`; known formats: {}",
                    LoaderFileFormat::ALL
                        .map(LoaderFileFormat::as_str)
                        .join(", ")
                ))
            })
    }
}

/// A loader file format (insert_values, csv, ...). Each destination provides the formats it
/// supports; the writer renders values with the destination's own literal rules.
pub trait FileFormat: fmt::Debug + Send + Sync {
    /// Which format this is (its name is in configuration and job file names).
    fn format(&self) -> LoaderFileFormat;
    /// Starts a job file for `table` with these columns (schema order, complete columns only).
    fn writer(
        &self,
        table: &str,
        columns: &[Column],
        out: Box<dyn Write + Send>,
    ) -> Result<Box<dyn JobWriter>>;
}

/// Writes the rows of one job file.
pub trait JobWriter: Send {
    /// Writes one row; `row[i]` belongs to `columns[i]` of [`FileFormat::writer`].
    fn write_row(&mut self, row: &[Value]) -> Result<()>;
    /// Bytes of rows held in memory, not yet written out (a row group being built), so the
    /// caller can start the next file at the size it wants.
    fn buffered_bytes(&self) -> u64 {
        0
    }
    /// Finishes the file; returns the underlying writer so the caller can flush and sync it.
    fn finish(self: Box<Self>) -> Result<Box<dyn Write + Send>>;
}
