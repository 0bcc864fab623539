//! Reading a dataset back on PostgreSQL: a server-side cursor (`DECLARE ... CURSOR FOR` the
//! query, its parameters bound in text form so the server parses each as the type it
//! infers), fetched a batch at a time in the server's text form (`DateStyle` ISO, UTC) and
//! read into typed values by each result column's type.

use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use dest_core::{DataType, Value};
use postgres_types::{to_sql_checked, Format, IsNull, ToSql, Type};

/// A parameter sent in text form: the server parses it as the type it inferred for the
/// parameter (as it parses a literal), so one value fits `bigint`, `numeric`,
/// `timestamptz` or `text` columns alike.
#[derive(Debug)]
pub(crate) struct TextParam(pub(crate) Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// The text form of a parameter value (`None`: NULL).
pub(crate) fn param_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Double(f) if f.is_nan() => "NaN".into(),
        Value::Double(f) if f.is_infinite() => {
            if *f > 0.0 { "Infinity" } else { "-Infinity" }.into()
        }
        Value::Double(f) => format!("{f:?}"),
        Value::Number(s) | Value::Text(s) => s.clone(),
        Value::Timestamp(ts) => ts.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        Value::NaiveTimestamp(ts) => ts.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Time(t) => t.format("%H:%M:%S%.f").to_string(),
        Value::Binary(b) => format!("\\x{}", dest_core::hex_text(b)),
        Value::Json(j) => j.to_string(),
    })
}

/// The dlt type of a result column of PostgreSQL type `ty` (a type dlt has no name for is
/// read as its text).
pub(crate) fn column_type(ty: &Type) -> DataType {
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => DataType::Bigint,
        Type::FLOAT4 | Type::FLOAT8 => DataType::Double,
        Type::NUMERIC => DataType::Decimal,
        Type::BOOL => DataType::Bool,
        Type::TIMESTAMPTZ | Type::TIMESTAMP => DataType::Timestamp,
        Type::DATE => DataType::Date,
        Type::TIME => DataType::Time,
        Type::JSON | Type::JSONB => DataType::Json,
        Type::BYTEA => DataType::Binary,
        _ => DataType::Text,
    }
}

/// A value the server printed for a column of type `ty`, typed. Text that does not read
/// as its type (`infinity` timestamps, dates before the common era) stays text.
pub(crate) fn text_value(ty: &Type, s: &str) -> Value {
    let typed = match *ty {
        Type::BOOL => Some(Value::Bool(s == "t")),
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => s.parse().ok().map(Value::Int),
        Type::FLOAT4 | Type::FLOAT8 => s.parse().ok().map(Value::Double),
        Type::NUMERIC => Some(Value::Number(s.to_string())),
        Type::TIMESTAMPTZ => DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
            .ok()
            .map(|t| Value::Timestamp(t.with_timezone(&Utc))),
        Type::TIMESTAMP => NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(Value::NaiveTimestamp),
        Type::DATE => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(Value::Date),
        Type::TIME => NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
            .ok()
            .map(Value::Time),
        Type::JSON | Type::JSONB => serde_json::from_str(s).ok().map(Value::Json),
        Type::BYTEA => s
            .strip_prefix("\\x")
            .and_then(dest_core::decode_hex)
            .map(Value::Binary),
        _ => None,
    };
    typed.unwrap_or_else(|| Value::Text(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_reads_as_typed_values() {
        let ts = text_value(&Type::TIMESTAMPTZ, "2024-01-02 03:04:05.123456+00");
        assert_eq!(
            param_text(&ts).as_deref(),
            Some("2024-01-02T03:04:05.123456Z")
        );
        assert_eq!(text_value(&Type::BOOL, "t"), Value::Bool(true));
        assert_eq!(text_value(&Type::INT2, "-7"), Value::Int(-7));
        assert_eq!(
            text_value(&Type::BYTEA, "\\x00ff"),
            Value::Binary(vec![0, 255])
        );
        assert_eq!(
            text_value(&Type::TIMESTAMPTZ, "infinity"),
            Value::Text("infinity".into())
        );
        assert_eq!(
            text_value(&Type::NUMERIC, "1.50"),
            Value::Number("1.50".into())
        );
        assert_eq!(
            param_text(&Value::Binary(vec![1, 171])).as_deref(),
            Some("\\x01ab")
        );
        assert_eq!(
            param_text(&Value::Double(f64::NEG_INFINITY)).as_deref(),
            Some("-Infinity")
        );
        assert_eq!(param_text(&Value::Null), None);
    }
}
