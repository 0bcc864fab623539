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

macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(v.into())
            }
        })*
    };
}

value_from!(
    bool => Bool,
    i64 => Int,
    i32 => Int,
    u32 => Int,
    f64 => Double,
    String => Text,
    &str => Text,
    DateTime<Utc> => Timestamp,
    NaiveDateTime => NaiveTimestamp,
    NaiveDate => Date,
    NaiveTime => Time,
    Vec<u8> => Binary,
    serde_json::Value => Json,
);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Appends `byte` as two lower-case hex digits (binary values in text job files).
pub fn push_hex(out: &mut Vec<u8>, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(DIGITS[usize::from(byte >> 4)]);
    out.push(DIGITS[usize::from(byte & 0x0f)]);
}

/// Bytes as lower-case hex text (binary values read back as text).
pub fn hex_text(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(2 * bytes.len());
    for b in bytes {
        push_hex(&mut out, *b);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Hex text (either case) as bytes; `None` when it is not an even number of hex digits.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let pairs = s.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    pairs
        .map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect()
}
