//! A Parquet file read back as Arrow record batches, a bounded number of rows at a time.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::ColumnarError;

/// Rows per batch when reading: bounds memory by batch, not by file size.
const BATCH_ROWS: usize = 16 * 1024;

/// The record batches of one Parquet file, in order. Blocking IO: run it on a blocking thread.
pub struct ParquetBatches {
    path: String,
    schema: SchemaRef,
    rows: u64,
    reader: ParquetRecordBatchReader,
}

impl ParquetBatches {
    /// Opens `path`; reads its footer (schema and row count), no data yet.
    pub fn open(path: &Path) -> Result<Self, ColumnarError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|source| ColumnarError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_file(file, path)
    }

    /// Reads an open file (`path` names it in errors).
    pub fn from_file(file: File, path: &Path) -> Result<Self, ColumnarError> {
        let shown = path.display().to_string();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| {
            ColumnarError::Parquet {
                path: shown.clone(),
                source,
            }
        })?;
        let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).map_err(|_| {
            ColumnarError::Parquet {
                path: shown.clone(),
                source: parquet::errors::ParquetError::General(
                    "the footer gives a negative row count".into(),
                ),
            }
        })?;
        let schema = builder.schema().clone();
        let reader = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|source| ColumnarError::Parquet {
                path: shown.clone(),
                source,
            })?;
        Ok(ParquetBatches {
            path: shown,
            schema,
            rows,
            reader,
        })
    }

    /// The file's Arrow schema (with each field's metadata).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The file's row count (from its footer).
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

impl Iterator for ParquetBatches {
    type Item = Result<RecordBatch, ColumnarError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next().map(|r| {
            r.map_err(|source| ColumnarError::Arrow {
                context: format!("{}: reading a row group", self.path),
                source,
            })
        })
    }
}

impl std::fmt::Debug for ParquetBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetBatches")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}
