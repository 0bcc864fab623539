//! File formats: a writer per table job and the name the destination loads it by.

use std::fmt;
use std::io::Write;

use crate::{Column, Result, Value};

/// A loader file format (insert_values, csv, ...). Each destination provides the formats it
/// supports; the writer renders values with the destination's own literal rules.
pub trait FileFormat: fmt::Debug + Send + Sync {
    /// The format name used in configuration and job file names (`insert_values`).
    fn name(&self) -> &'static str;
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
    /// Finishes the file; returns the underlying writer so the caller can flush and sync it.
    fn finish(self: Box<Self>) -> Result<Box<dyn Write + Send>>;
}
