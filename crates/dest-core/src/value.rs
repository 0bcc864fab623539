//! A normalized, typed value: what the normalizer hands to a file format writer.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// One cell of a normalized row. The variant matches the column's [`crate::DataType`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A `bigint` value.
    Int(i64),
    /// A `double` value. Not finite values are written as NULL (as dlt does).
    Double(f64),
    /// An exact number kept as its decimal text (`decimal` / `wei` columns, integers past 64 bits).
    Number(String),
    Text(String),
    /// A timestamp in UTC, for columns with time zone.
    Timestamp(DateTime<Utc>),
    /// A timestamp without time zone (column hint `timezone: false`).
    NaiveTimestamp(NaiveDateTime),
    Date(NaiveDate),
    Time(NaiveTime),
    Binary(Vec<u8>),
    /// A JSON document (`json` columns), key order preserved.
    Json(serde_json::Value),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Appends `byte` as two lower-case hex digits (binary values in text job files).
pub fn push_hex(out: &mut Vec<u8>, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(DIGITS[usize::from(byte >> 4)]);
    out.push(DIGITS[usize::from(byte & 0x0f)]);
}
