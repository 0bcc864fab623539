//! `parquet` job files as rows of SQLite values: each cell through `columnar::cell` into a
//! [`dest_core::Value`], then into the stored form of `typed-jsonl`.

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use columnar::ParquetBatches;
use dest_core::Result;
use rusqlite::types::Value as Sql;

use crate::typed_jsonl::{stored, RowSource};

pub(crate) struct ParquetRows {
    what: String,
    columns: Vec<String>,
    schema: SchemaRef,
    batches: ParquetBatches,
    batch: Option<RecordBatch>,
    /// The next row of `batch`, and the rows of the batches before it.
    row: usize,
    done: u64,
}

impl ParquetRows {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let batches = ParquetBatches::open(path)?;
        let schema = batches.schema().clone();
        Ok(ParquetRows {
            what: path.display().to_string(),
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            schema,
            batches,
            batch: None,
            row: 0,
            done: 0,
        })
    }
}

impl RowSource for ParquetRows {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self, out: &mut Vec<Sql>) -> Result<bool> {
        loop {
            if let Some(batch) = &self.batch {
                if self.row < batch.num_rows() {
                    for (field, array) in self.schema.fields().iter().zip(batch.columns()) {
                        let value =
                            columnar::cell(field, array.as_ref(), self.row).map_err(|e| {
                                dest_core::Error::Data(format!(
                                    "{}, row {}: {e}",
                                    self.what,
                                    self.done + self.row as u64
                                ))
                            })?;
                        out.push(stored(value)?);
                    }
                    self.row += 1;
                    return Ok(true);
                }
                self.done += batch.num_rows() as u64;
            }
            match self.batches.next() {
                None => return Ok(false),
                Some(batch) => {
                    self.batch = Some(batch?);
                    self.row = 0;
                }
            }
        }
    }
}
