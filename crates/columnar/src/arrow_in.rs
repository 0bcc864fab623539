//! Arrow data coming in: dlt's columns for an Arrow schema, and arrays of any Arrow type
//! turned into the job type of the column they load into.
//!
//! dlt's rules (`get_column_type_from_py_arrow`, then `adjust_column_schema_to_capabilities`
//! for a destination with microsecond timestamps): strings → `text`; floats → `double`;
//! integers → `bigint`, with the bit width as `precision` below 64 bits; decimals →
//! `decimal(p, s)`; binaries → `binary` (fixed size: its width as `precision`); dates →
//! `date`; timestamps and times → `timestamp` / `time` with the unit's precision capped at 6
//! and the default 6 left out, and *no* time zone flag (naive timestamps load as UTC into
//! `timestamp with time zone`, as dlt loads them); struct, list and map → `json`; a dictionary
//! as its values; the `Null` type → a column without a type (created when data arrives).
//!
//! Deliberate differences: unsigned integers get the next wider type (`uint32` → `bigint`,
//! `uint64` → `decimal(20, 0)`), where dlt gives the signed type of the same width and fails on
//! the upper half of the range; struct, list and map columns load as `json` (dlt's Arrow path
//! to PostgreSQL fails on them), binary as `binary` (dlt fails too).

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, BooleanArray, NullArray, RecordBatch};
use arrow_cast::cast::{cast_with_options, CastOptions};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType as Arrow, Field, TimeUnit};
use base64::Engine as _;
use dest_core::{Column, DataType};
use serde_json::{Map, Number, Value as Json};

use crate::types::arrow_type;
use crate::ColumnarError;

/// The precision of timestamps and times that dlt leaves out (the destination's default).
const DEFAULT_PRECISION: u32 = 6;

fn unit_precision(unit: TimeUnit) -> u32 {
    let p = match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    };
    p.min(DEFAULT_PRECISION)
}

/// dlt's column for an Arrow field, named as in the data (the caller normalizes the name).
pub fn column_of(field: &Field) -> Result<Column, ColumnarError> {
    let mut c = Column::incomplete(field.name().as_str());
    c.nullable = field.is_nullable();
    let (data_type, precision, scale) = match field.data_type() {
        Arrow::Dictionary(_, values) => {
            let inner = Field::new(
                field.name().as_str(),
                values.as_ref().clone(),
                field.is_nullable(),
            );
            return column_of(&inner);
        }
        Arrow::Null => return Ok(c),
        t => type_of(field.name(), t)?,
    };
    c.data_type = Some(data_type);
    c.precision = precision;
    c.scale = scale;
    Ok(c)
}

type Mapped = (DataType, Option<u32>, Option<u32>);

fn type_of(name: &str, t: &Arrow) -> Result<Mapped, ColumnarError> {
    Ok(match t {
        Arrow::Utf8 | Arrow::LargeUtf8 | Arrow::Utf8View => (DataType::Text, None, None),
        Arrow::Float16 | Arrow::Float32 | Arrow::Float64 => (DataType::Double, None, None),
        Arrow::Boolean => (DataType::Bool, None, None),
        Arrow::Int8 => (DataType::Bigint, Some(8), None),
        Arrow::Int16 | Arrow::UInt8 => (DataType::Bigint, Some(16), None),
        Arrow::Int32 | Arrow::UInt16 => (DataType::Bigint, Some(32), None),
        Arrow::Int64 | Arrow::UInt32 => (DataType::Bigint, None, None),
        Arrow::UInt64 => (DataType::Decimal, Some(20), Some(0)),
        Arrow::Decimal32(p, s)
        | Arrow::Decimal64(p, s)
        | Arrow::Decimal128(p, s)
        | Arrow::Decimal256(p, s) => {
            let scale = u32::try_from(*s).map_err(|_| ColumnarError::Column {
                column: name.to_string(),
                message: format!("a decimal with negative scale {s} is not supported"),
            })?;
            (DataType::Decimal, Some(u32::from(*p)), Some(scale))
        }
        Arrow::Timestamp(unit, _) => {
            let p = unit_precision(*unit);
            (
                DataType::Timestamp,
                (p != DEFAULT_PRECISION).then_some(p),
                None,
            )
        }
        Arrow::Date32 | Arrow::Date64 => (DataType::Date, None, None),
        Arrow::Time32(unit) | Arrow::Time64(unit) => {
            let p = unit_precision(*unit);
            (DataType::Time, (p != DEFAULT_PRECISION).then_some(p), None)
        }
        Arrow::Binary | Arrow::LargeBinary | Arrow::BinaryView => (DataType::Binary, None, None),
        Arrow::FixedSizeBinary(n) => (DataType::Binary, u32::try_from(*n).ok(), None),
        t if is_nested(t) => (DataType::Json, None, None),
        t => {
            return Err(ColumnarError::Column {
                column: name.to_string(),
                message: format!(
                    "Arrow type {t} has no dlt data type (cast it to a supported type)"
                ),
            })
        }
    })
}

fn is_nested(t: &Arrow) -> bool {
    matches!(
        t,
        Arrow::List(_)
            | Arrow::LargeList(_)
            | Arrow::FixedSizeList(..)
            | Arrow::ListView(_)
            | Arrow::LargeListView(_)
            | Arrow::Struct(_)
            | Arrow::Map(..)
            | Arrow::Union(..)
    )
}

/// `array` as the job type of `target` (the table's column it loads into): cast, or written
/// as JSON text for `json` and nested data. A value the column cannot take is an error
/// naming the column and what Arrow said of the value.
pub fn to_job_array(array: &ArrayRef, target: &Column) -> Result<ArrayRef, ColumnarError> {
    let want = arrow_type(target);
    let source = match array.data_type() {
        Arrow::Dictionary(_, values) => {
            let values = values.as_ref().clone();
            cast(array, &values, &target.name)?
        }
        _ => array.clone(),
    };
    if source.data_type() == &want {
        return Ok(source);
    }
    match (target.data_type, source.data_type()) {
        (None, _) => Ok(Arc::new(NullArray::new(source.len()))),
        (Some(DataType::Json), _) => json_text(&source, &target.name),
        (Some(_), t) if is_nested(t) => json_text(&source, &target.name),
        // exact numbers keep Arrow's decimals; integers become their digits
        (
            Some(DataType::Decimal | DataType::Wei),
            Arrow::Decimal128(..) | Arrow::Decimal256(..),
        ) => Ok(source),
        (
            Some(DataType::Decimal | DataType::Wei),
            Arrow::Decimal32(p, s) | Arrow::Decimal64(p, s),
        ) => cast(&source, &Arrow::Decimal128(*p, *s), &target.name),
        _ => cast(&source, &want, &target.name),
    }
}

fn cast(array: &ArrayRef, to: &Arrow, column: &str) -> Result<ArrayRef, ColumnarError> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(array, to, &options).map_err(|e| ColumnarError::Column {
        column: column.to_string(),
        message: format!("cannot load Arrow {} as {to}: {e}", array.data_type()),
    })
}

/// Every value of `array` as JSON text (`Utf8`); NULL stays NULL.
fn json_text(array: &ArrayRef, column: &str) -> Result<ArrayRef, ColumnarError> {
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    let mut text = String::new();
    for row in 0..array.len() {
        if array.is_null(row) {
            out.append_null();
            continue;
        }
        let value = json_value(array.as_ref(), row, column)?;
        text.clear();
        text.push_str(&value.to_string());
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

fn bad(column: &str, message: String) -> ColumnarError {
    ColumnarError::Column {
        column: column.to_string(),
        message,
    }
}

/// Row `row` of `array` as a JSON value: numbers as numbers (decimals with every digit),
/// text as strings, binary as base64, dates and times as ISO text, structs and maps with
/// string keys as objects, lists as arrays.
pub fn json_value(array: &dyn Array, row: usize, column: &str) -> Result<Json, ColumnarError> {
    if array.is_null(row) {
        return Ok(Json::Null);
    }
    Ok(match array.data_type() {
        Arrow::Null => Json::Null,
        Arrow::Boolean => Json::Bool(array.as_boolean().value(row)),
        Arrow::Int8 => Json::from(array.as_primitive::<Int8Type>().value(row)),
        Arrow::Int16 => Json::from(array.as_primitive::<Int16Type>().value(row)),
        Arrow::Int32 => Json::from(array.as_primitive::<Int32Type>().value(row)),
        Arrow::Int64 => Json::from(array.as_primitive::<Int64Type>().value(row)),
        Arrow::UInt8 => Json::from(array.as_primitive::<UInt8Type>().value(row)),
        Arrow::UInt16 => Json::from(array.as_primitive::<UInt16Type>().value(row)),
        Arrow::UInt32 => Json::from(array.as_primitive::<UInt32Type>().value(row)),
        Arrow::UInt64 => Json::from(array.as_primitive::<UInt64Type>().value(row)),
        Arrow::Float16
        | Arrow::Float32
        | Arrow::Float64
        | Arrow::Decimal32(..)
        | Arrow::Decimal64(..)
        | Arrow::Decimal128(..)
        | Arrow::Decimal256(..) => {
            let text = display(array, row, column)?;
            match text.parse::<Number>() {
                Ok(n) => Json::Number(n),
                // NaN and the infinities have no JSON number
                Err(_) => Json::Null,
            }
        }
        Arrow::Utf8 => Json::String(array.as_string::<i32>().value(row).to_string()),
        Arrow::LargeUtf8 => Json::String(array.as_string::<i64>().value(row).to_string()),
        Arrow::Utf8View => Json::String(array.as_string_view().value(row).to_string()),
        Arrow::Binary => base64_of(array.as_binary::<i32>().value(row)),
        Arrow::LargeBinary => base64_of(array.as_binary::<i64>().value(row)),
        Arrow::BinaryView => base64_of(array.as_binary_view().value(row)),
        Arrow::FixedSizeBinary(_) => base64_of(array.as_fixed_size_binary().value(row)),
        Arrow::List(_) => list(array.as_list::<i32>().value(row).as_ref(), column)?,
        Arrow::LargeList(_) => list(array.as_list::<i64>().value(row).as_ref(), column)?,
        Arrow::FixedSizeList(..) => list(array.as_fixed_size_list().value(row).as_ref(), column)?,
        Arrow::Struct(fields) => {
            let s = array.as_struct();
            let mut map = Map::new();
            for (field, child) in fields.iter().zip(s.columns()) {
                map.insert(
                    field.name().clone(),
                    json_value(child.as_ref(), row, column)?,
                );
            }
            Json::Object(map)
        }
        Arrow::Map(..) => {
            let entries = array.as_map().value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            let mut map = Map::new();
            for i in 0..entries.len() {
                let key = match json_value(keys.as_ref(), i, column)? {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, json_value(values.as_ref(), i, column)?);
            }
            Json::Object(map)
        }
        Arrow::Dictionary(..) => {
            let d = array.as_any_dictionary();
            let key =
                d.normalized_keys().get(row).copied().ok_or_else(|| {
                    bad(column, format!("row {row}: dictionary key out of range"))
                })?;
            json_value(d.values().as_ref(), key, column)?
        }
        // an instant, whatever zone it is shown in (Arrow's display needs zone names it
        // does not know: `UTC`, `Europe/Berlin`)
        Arrow::Timestamp(unit, Some(_)) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            let (secs, nanos) = match unit {
                TimeUnit::Second => (v, 0),
                TimeUnit::Millisecond => (v.div_euclid(1_000), v.rem_euclid(1_000) * 1_000_000),
                TimeUnit::Microsecond => (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1_000),
                TimeUnit::Nanosecond => (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000)),
            };
            let at = u32::try_from(nanos)
                .ok()
                .and_then(|n| chrono::DateTime::from_timestamp(secs, n))
                .ok_or_else(|| bad(column, format!("row {row}: timestamp out of range")))?;
            Json::String(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
        }
        // dates, times, naive timestamps, durations, intervals: Arrow's ISO display
        _ => Json::String(display(array, row, column)?),
    })
}

/// The rows of `batch` whose entry in `keep` is true.
pub fn filter_rows(batch: &RecordBatch, keep: Vec<bool>) -> Result<RecordBatch, ColumnarError> {
    arrow_select::filter::filter_record_batch(batch, &BooleanArray::from(keep)).map_err(|source| {
        ColumnarError::Arrow {
            context: "filtering rows".into(),
            source,
        }
    })
}

fn list(values: &dyn Array, column: &str) -> Result<Json, ColumnarError> {
    (0..values.len())
        .map(|i| json_value(values, i, column))
        .collect::<Result<Vec<_>, _>>()
        .map(Json::Array)
}

fn base64_of(bytes: &[u8]) -> Json {
    Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn display(array: &dyn Array, row: usize, column: &str) -> Result<String, ColumnarError> {
    let options = FormatOptions::default();
    let formatter = ArrayFormatter::try_new(array, &options)
        .map_err(|e| bad(column, format!("row {row}: {e}")))?;
    Ok(formatter.value(row).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Int32Builder, ListBuilder};
    use arrow_array::{Int32Array, StringArray, StructArray, UInt64Array};

    #[test]
    fn dlt_types_for_arrow_fields() {
        let c = |t: Arrow| column_of(&Field::new("x", t, true)).unwrap();
        assert_eq!(c(Arrow::Int32).precision, Some(32));
        assert_eq!(c(Arrow::Int64).precision, None);
        assert_eq!(c(Arrow::UInt64).data_type, Some(DataType::Decimal));
        let ts = c(Arrow::Timestamp(TimeUnit::Millisecond, None));
        assert_eq!(
            (ts.data_type, ts.precision, ts.timezone),
            (Some(DataType::Timestamp), Some(3), None)
        );
        assert_eq!(
            c(Arrow::Timestamp(TimeUnit::Nanosecond, None)).precision,
            None
        );
        assert_eq!(c(Arrow::Decimal128(10, 2)).scale, Some(2));
        assert_eq!(c(Arrow::Null).data_type, None);
        assert!(
            !column_of(&Field::new("x", Arrow::Utf8, false))
                .unwrap()
                .nullable
        );
        assert!(column_of(&Field::new("x", Arrow::Duration(TimeUnit::Second), true)).is_err());
    }

    #[test]
    fn nested_values_become_json_text() {
        let mut lb = ListBuilder::new(Int32Builder::new());
        lb.values().append_value(1);
        lb.values().append_null();
        lb.append(true);
        lb.append(false);
        let list: ArrayRef = Arc::new(lb.finish());
        let out = to_job_array(&list, &Column::new("l", DataType::Json)).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "[1,null]");
        assert!(out.is_null(1));

        let s: ArrayRef = Arc::new(StructArray::from(vec![
            (
                Arc::new(Field::new("a", Arrow::Int32, true)),
                Arc::new(Int32Array::from(vec![Some(1)])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("b", Arrow::Utf8, true)),
                Arc::new(StringArray::from(vec![Some("x\"y")])) as ArrayRef,
            ),
        ]));
        let out = to_job_array(&s, &Column::new("s", DataType::Json)).unwrap();
        assert_eq!(out.as_string::<i32>().value(0), r#"{"a":1,"b":"x\"y"}"#);
    }

    #[test]
    fn casts_name_the_column_when_a_value_does_not_fit() {
        let big: ArrayRef = Arc::new(UInt64Array::from(vec![u64::MAX]));
        let e = to_job_array(&big, &Column::new("n", DataType::Bigint)).unwrap_err();
        assert!(e.to_string().contains("column `n`"), "{e}");
        let ok = to_job_array(&big, &Column::new("n", DataType::Decimal)).unwrap();
        assert_eq!(ok.as_string::<i32>().value(0), "18446744073709551615");
    }

    #[test]
    fn zoned_timestamps_are_instants_in_json() {
        use arrow_array::{TimestampMillisecondArray, TimestampSecondArray};
        // 2024-01-02T03:04:05.678Z
        let ms = 1_704_164_645_678;
        for tz in ["UTC", "Europe/Berlin", "+02:00"] {
            let a = TimestampMillisecondArray::from(vec![ms]).with_timezone(tz);
            assert_eq!(
                json_value(&a, 0, "t").unwrap(),
                Json::String("2024-01-02T03:04:05.678+00:00".into()),
                "{tz}"
            );
        }
        let before_1970 = TimestampSecondArray::from(vec![-1]).with_timezone("UTC");
        assert_eq!(
            json_value(&before_1970, 0, "t").unwrap(),
            Json::String("1969-12-31T23:59:59+00:00".into())
        );
        let naive = TimestampMillisecondArray::from(vec![ms]);
        assert_eq!(
            json_value(&naive, 0, "t").unwrap(),
            Json::String("2024-01-02T03:04:05.678".into())
        );
    }
}
