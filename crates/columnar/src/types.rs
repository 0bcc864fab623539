//! dlt's data types as Arrow types in job files, and cells of job-typed arrays as values.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Decimal256Type, Float64Type, Int64Type, Time64MicrosecondType,
    TimestampMicrosecondType,
};
use arrow_array::Array;
use arrow_schema::{DataType as Arrow, Field, Schema, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveTime};
use dest_core::{Column, DataType, Value};

use crate::ColumnarError;

/// The field metadata key holding a column's dlt type (`text`, `json`, `bigint`, ...).
pub const DATA_TYPE_KEY: &str = "dlt.data_type";

/// The time zone of timestamps with a time zone in job files.
pub(crate) const UTC: &str = "+00:00";

/// The Arrow type of `column` in a job file (the crate's table of job types). A column
/// without a data type yet holds only NULLs: `Null`.
pub fn arrow_type(column: &Column) -> Arrow {
    match column.data_type {
        None => Arrow::Null,
        Some(DataType::Text | DataType::Json | DataType::Decimal | DataType::Wei) => Arrow::Utf8,
        Some(DataType::Double) => Arrow::Float64,
        Some(DataType::Bool) => Arrow::Boolean,
        Some(DataType::Bigint) => Arrow::Int64,
        Some(DataType::Timestamp) => Arrow::Timestamp(
            TimeUnit::Microsecond,
            (column.timezone != Some(false)).then(|| Arc::from(UTC)),
        ),
        Some(DataType::Date) => Arrow::Date32,
        Some(DataType::Time) => Arrow::Time64(TimeUnit::Microsecond),
        Some(DataType::Binary) => Arrow::Binary,
    }
}

/// The Arrow schema of a job file of `columns`: every field nullable (NOT NULL is the
/// table's to enforce), its dlt type in the metadata.
pub fn job_schema(columns: &[Column]) -> Schema {
    Schema::new(
        columns
            .iter()
            .map(|c| {
                let field = Field::new(c.name.as_str(), arrow_type(c), true);
                match c.data_type {
                    Some(t) => field.with_metadata(HashMap::from([(
                        DATA_TYPE_KEY.to_string(),
                        t.as_str().to_string(),
                    )])),
                    None => field,
                }
            })
            .collect::<Vec<_>>(),
    )
}

/// A record batch of job-typed `arrays` for `columns` (as [`job_schema`], with each
/// field's type taken from its array: a decimal column may hold Arrow decimals).
pub fn job_batch(
    columns: &[Column],
    arrays: Vec<arrow_array::ArrayRef>,
) -> Result<arrow_array::RecordBatch, ColumnarError> {
    let fields: Vec<Field> = columns
        .iter()
        .zip(&arrays)
        .map(|(c, a)| {
            let field = Field::new(c.name.as_str(), a.data_type().clone(), true);
            match c.data_type {
                Some(t) => field.with_metadata(HashMap::from([(
                    DATA_TYPE_KEY.to_string(),
                    t.as_str().to_string(),
                )])),
                None => field,
            }
        })
        .collect();
    arrow_array::RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|source| {
        ColumnarError::Arrow {
            context: "a batch of job-typed columns".into(),
            source,
        }
    })
}

/// The dlt type a job file's field says it holds (its metadata), else the one its Arrow type
/// implies.
pub(crate) fn field_data_type(field: &Field) -> Option<DataType> {
    if let Some(t) = field.metadata().get(DATA_TYPE_KEY) {
        if let Ok(t) = t.parse() {
            return Some(t);
        }
    }
    match field.data_type() {
        Arrow::Utf8 => Some(DataType::Text),
        Arrow::Float64 => Some(DataType::Double),
        Arrow::Boolean => Some(DataType::Bool),
        Arrow::Int64 => Some(DataType::Bigint),
        Arrow::Decimal128(..) | Arrow::Decimal256(..) => Some(DataType::Decimal),
        Arrow::Timestamp(..) => Some(DataType::Timestamp),
        Arrow::Date32 => Some(DataType::Date),
        Arrow::Time64(_) => Some(DataType::Time),
        Arrow::Binary => Some(DataType::Binary),
        _ => None,
    }
}

fn unexpected(field: &Field) -> ColumnarError {
    ColumnarError::Column {
        column: field.name().clone(),
        message: format!(
            "Arrow type {} is not a job type (a bug in dlt-rs)",
            field.data_type()
        ),
    }
}

/// Row `row` of `array` (a job-typed array of `field`) as a [`Value`]: JSON text of a `json`
/// field parsed into [`Value::Json`], decimals as [`Value::Number`] text.
pub fn cell(field: &Field, array: &dyn Array, row: usize) -> Result<Value, ColumnarError> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    let value = match array.data_type() {
        Arrow::Null => Value::Null,
        Arrow::Utf8 => {
            let s = array.as_string::<i32>().value(row);
            match field_data_type(field) {
                Some(DataType::Json) => {
                    Value::Json(serde_json::from_str(s).map_err(|e| ColumnarError::Column {
                        column: field.name().clone(),
                        message: format!("row {row}: not a JSON document: {e}"),
                    })?)
                }
                Some(DataType::Decimal | DataType::Wei) => Value::Number(s.to_string()),
                _ => Value::Text(s.to_string()),
            }
        }
        Arrow::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            if v.is_finite() {
                Value::Double(v)
            } else {
                Value::Null
            }
        }
        Arrow::Boolean => Value::Bool(array.as_boolean().value(row)),
        Arrow::Int64 => Value::Int(array.as_primitive::<Int64Type>().value(row)),
        Arrow::Decimal128(_, _) => {
            let a = array.as_primitive::<Decimal128Type>();
            Value::Number(a.value_as_string(row))
        }
        Arrow::Decimal256(_, _) => {
            let a = array.as_primitive::<Decimal256Type>();
            Value::Number(a.value_as_string(row))
        }
        Arrow::Timestamp(TimeUnit::Microsecond, tz) => {
            let us = array.as_primitive::<TimestampMicrosecondType>().value(row);
            let ts = DateTime::from_timestamp_micros(us).ok_or_else(|| out_of_range(field, row))?;
            if tz.is_some() {
                Value::Timestamp(ts)
            } else {
                Value::NaiveTimestamp(ts.naive_utc())
            }
        }
        Arrow::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            let epoch =
                NaiveDate::from_ymd_opt(1970, 1, 1).ok_or_else(|| out_of_range(field, row))?;
            Value::Date(
                epoch
                    .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
                    .ok_or_else(|| out_of_range(field, row))?,
            )
        }
        Arrow::Time64(TimeUnit::Microsecond) => {
            let us = array.as_primitive::<Time64MicrosecondType>().value(row);
            let secs =
                u32::try_from(us.div_euclid(1_000_000)).map_err(|_| out_of_range(field, row))?;
            let nanos = u32::try_from(us.rem_euclid(1_000_000) * 1000)
                .map_err(|_| out_of_range(field, row))?;
            Value::Time(
                NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
                    .ok_or_else(|| out_of_range(field, row))?,
            )
        }
        Arrow::Binary => Value::Binary(array.as_binary::<i32>().value(row).to_vec()),
        _ => return Err(unexpected(field)),
    };
    Ok(value)
}

fn out_of_range(field: &Field, row: usize) -> ColumnarError {
    ColumnarError::Column {
        column: field.name().clone(),
        message: format!("row {row}: value out of range"),
    }
}
