//! Database column types → dlt column hints, as dlt 1.31's `sql_database` reflects them with
//! its default `reflection_level="full"` (`dlt/sources/sql_database/schema_types.py`):
//! integers of every width are `bigint` (no precision), `numeric(p,s)` is `decimal` with
//! precision and scale, floats are `double`, strings `text` (no length), `bytea` `binary`,
//! timestamps `timestamp` with `timezone` from the type, `date`, `time`, `json`/`jsonb` and
//! arrays `json`, `boolean` `bool`, `uuid` `text`; nullability as declared. A type dlt does
//! not map gets no data type: its values are inferred, as dlt leaves them to the normalizer.

use dest_core::{Column, DataType};

/// One column of a source table, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlColumn {
    pub name: String,
    /// The type's name in `information_schema.columns.data_type` (`integer`, `numeric`,
    /// `timestamp with time zone`, `ARRAY`, `USER-DEFINED`, ...).
    pub db_type: String,
    pub nullable: bool,
    /// `numeric(p, s)`: p and s (`None` for an unconstrained `numeric`).
    pub precision: Option<u32>,
    pub scale: Option<u32>,
}

/// One source table: its columns in their order and its primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<SqlColumn>,
    pub primary_key: Vec<String>,
}

/// The dlt column hint of a source column; `data_type` is `None` for a type dlt does not map.
pub fn dlt_column(c: &SqlColumn) -> Column {
    let mut col = Column::incomplete(c.name.clone());
    col.nullable = c.nullable;
    let ty = match c.db_type.as_str() {
        "smallint" | "integer" | "bigint" => Some(DataType::Bigint),
        "numeric" | "decimal" => {
            col.precision = c.precision;
            col.scale = c.precision.and(c.scale);
            Some(DataType::Decimal)
        }
        "real" | "double precision" => Some(DataType::Double),
        "character varying" | "character" | "text" | "name" | "uuid" => Some(DataType::Text),
        "bytea" => Some(DataType::Binary),
        "timestamp without time zone" => {
            col.timezone = Some(false);
            Some(DataType::Timestamp)
        }
        "timestamp with time zone" => {
            col.timezone = Some(true);
            Some(DataType::Timestamp)
        }
        "date" => Some(DataType::Date),
        "time without time zone" | "time with time zone" => Some(DataType::Time),
        "json" | "jsonb" | "ARRAY" => Some(DataType::Json),
        "boolean" => Some(DataType::Bool),
        _ => None,
    };
    col.data_type = ty;
    col
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(db_type: &str, precision: Option<u32>, scale: Option<u32>) -> Column {
        dlt_column(&SqlColumn {
            name: "c".into(),
            db_type: db_type.into(),
            nullable: true,
            precision,
            scale,
        })
    }

    #[test]
    fn types_map_as_dlts_full_reflection() {
        for (db, ty) in [
            ("smallint", Some(DataType::Bigint)),
            ("integer", Some(DataType::Bigint)),
            ("bigint", Some(DataType::Bigint)),
            ("real", Some(DataType::Double)),
            ("double precision", Some(DataType::Double)),
            ("character varying", Some(DataType::Text)),
            ("text", Some(DataType::Text)),
            ("uuid", Some(DataType::Text)),
            ("bytea", Some(DataType::Binary)),
            ("date", Some(DataType::Date)),
            ("time without time zone", Some(DataType::Time)),
            ("jsonb", Some(DataType::Json)),
            ("ARRAY", Some(DataType::Json)),
            ("boolean", Some(DataType::Bool)),
            ("interval", None),
            ("USER-DEFINED", None),
        ] {
            let c = col(db, None, None);
            assert_eq!(c.data_type, ty, "{db}");
            assert_eq!(
                (c.precision, c.scale, c.timezone),
                (None, None, None),
                "{db}"
            );
        }
        let d = col("numeric", Some(12), Some(2));
        assert_eq!(
            (d.data_type, d.precision, d.scale),
            (Some(DataType::Decimal), Some(12), Some(2))
        );
        let free = col("numeric", None, None);
        assert_eq!((free.precision, free.scale), (None, None));
        assert_eq!(
            col("timestamp with time zone", None, None).timezone,
            Some(true)
        );
        assert_eq!(
            col("timestamp without time zone", None, None).timezone,
            Some(false)
        );
    }

    #[test]
    fn nullability_is_kept() {
        let c = dlt_column(&SqlColumn {
            name: "id".into(),
            db_type: "integer".into(),
            nullable: false,
            precision: None,
            scale: None,
        });
        assert!(!c.nullable);
        assert_eq!(c.name, "id");
    }
}
