//! Fixtures the destinations' own unit tests share: a table with a column of every type
//! (and the hints that change a type), and an in-memory writer for file-format tests.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use dest_core::{Column, DataType, TableSchema};

/// Table `users` with a column of every dlt type, the precisions, scales and time zone hints
/// that change a column type, a column without a type (never created) and a unique,
/// non-nullable `_dlt_id`.
pub fn users_table() -> TableSchema {
    let with = |name: &str, ty: DataType, precision: Option<u32>, scale: Option<u32>| Column {
        precision,
        scale,
        ..Column::new(name, ty)
    };
    let mut t = TableSchema::new("users");
    t.columns = vec![
        Column::new("id", DataType::Bigint),
        with("s", DataType::Text, Some(3), None),
        Column::new("t", DataType::Text),
        Column::new("f", DataType::Double),
        Column::new("b", DataType::Bool),
        Column::new("ts", DataType::Timestamp),
        Column {
            timezone: Some(false),
            ..Column::new("naive", DataType::Timestamp)
        },
        with("ts3", DataType::Timestamp, Some(3), None),
        Column::new("d", DataType::Date),
        Column::new("tm", DataType::Time),
        with("small", DataType::Bigint, Some(16), None),
        with("int", DataType::Bigint, Some(32), None),
        Column::new("bin", DataType::Binary),
        Column::new("meta", DataType::Json),
        with("dec", DataType::Decimal, Some(10), Some(2)),
        Column::new("w", DataType::Wei),
        Column::incomplete("hint_only"),
        Column {
            unique: true,
            ..Column::new("_dlt_id", DataType::Text).not_null()
        },
    ];
    t
}

/// A writer whose bytes the test reads back after the writer was handed away (a job file
/// in memory).
#[derive(Debug, Clone, Default)]
pub struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// What was written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
