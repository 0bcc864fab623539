//! Arrow and Parquet for dlt-rs: the columnar side of loading.
//!
//! - [`arrow_type`]: the Arrow type a dlt column has in a `parquet` job file (the *job
//!   types* below), and [`job_schema`] for a table's columns;
//! - [`Parquet`]: the `parquet` loader file format (dlt's name): a [`dest_core::FileFormat`]
//!   whose writer turns normalized rows into Parquet row groups;
//! - [`ParquetBatches`]: a Parquet file read back as Arrow record batches, a bounded number of
//!   rows at a time (destinations load job files with it);
//! - [`column_of`] / [`to_job_array`]: Arrow input with dlt's semantics: the dlt column of
//!   an Arrow field, and an array of any Arrow type as the job type of its column;
//! - [`json_value`] / [`filter_rows`]: a cell of any Arrow type as JSON, and the rows of a
//!   batch kept by a filter (incremental cursors on Arrow data);
//! - [`ParquetBatchWriter`]: record batches into a Parquet file as they come;
//! - [`RowBatchBuilder`]: normalized rows into job-typed record batches (the `parquet`
//!   writer's row groups, a dataset read back as Arrow);
//! - [`cell`]: one cell of a job-typed array as a [`dest_core::Value`] (destinations that bind
//!   values one by one, such as SQLite).
//!
//! # Job types
//!
//! Every array of a `parquet` job file has one of these Arrow types, whatever the input was
//! (JSON rows, Arrow record batches, Parquet or CSV files); a loader needs to read no other:
//!
//! | dlt type | Arrow type |
//! | --- | --- |
//! | `text` | `Utf8` |
//! | `json` | `Utf8` (JSON text) |
//! | `double` | `Float64` (not finite: NULL) |
//! | `bool` | `Boolean` |
//! | `bigint` | `Int64` |
//! | `decimal`, `wei` | `Utf8` (the exact decimal text), or `Decimal128(p, s)` / `Decimal256(p, s)` |
//! | `timestamp` | `Timestamp(Microsecond, Some("+00:00"))`; `timezone: false`: `Timestamp(Microsecond, None)` |
//! | `date` | `Date32` |
//! | `time` | `Time64(Microsecond)` |
//! | `binary` | `Binary` |
//!
//! A column with no value in a file may also be of Arrow type `Null`. Each field carries its
//! dlt type in its metadata under [`DATA_TYPE_KEY`], so `json` and `text` stay apart.

mod arrow_in;
mod read;
mod types;
mod write;

pub use arrow_in::{column_of, filter_rows, json_value, to_job_array};
pub use read::ParquetBatches;
pub use types::{arrow_type, cell, job_batch, job_schema, DATA_TYPE_KEY};
pub use write::{Parquet, ParquetBatchWriter, RowBatchBuilder};

/// The arrow-rs crates this crate is built with, for callers that build record batches.
pub use arrow_array;
pub use arrow_schema;

/// What can go wrong reading or writing columnar data. Messages name the file, the column
/// and the row where they are known.
#[derive(Debug, thiserror::Error)]
pub enum ColumnarError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable Parquet file: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("column `{column}`: {message}")]
    Column { column: String, message: String },
}

impl From<ColumnarError> for dest_core::Error {
    /// IO stays IO (transient, as every job file's), the rest is data that cannot load.
    fn from(e: ColumnarError) -> Self {
        match e {
            ColumnarError::Io { path, source } => {
                dest_core::Error::io("reading a parquet file", path, source)
            }
            other => dest_core::Error::Data(other.to_string()),
        }
    }
}
