//! Database column types → dlt column hints, as dlt 1.31's `sql_database` reflects them with
//! its default `reflection_level="full"` (`dlt/sources/sql_database/schema_types.py`):
//! integers of every width are `bigint` (no precision), `numeric(p,s)` is `decimal` with
//! precision and scale, floats are `double`, strings `text` (no length), `bytea` `binary`,
//! timestamps `timestamp` with `timezone` from the type, `date`, `time`, `json`/`jsonb` and
//! arrays `json`, `boolean` `bool`, `uuid` `text`; nullability as declared. MySQL's types
//! map as SQLAlchemy's MySQL dialect reflects them (see `mysql_type`), SQLite's declared types
//! as its SQLite dialect does (see `sqlite_type`). A type dlt does
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
    /// An unsigned integer type (MySQL's `... UNSIGNED`).
    pub unsigned: bool,
}

/// The database a table is read from: its catalog's type names differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

/// One source table: its columns in their order and its primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTable {
    pub dialect: Dialect,
    pub schema: String,
    pub name: String,
    pub columns: Vec<SqlColumn>,
    pub primary_key: Vec<String>,
}

/// The dlt column hint of a source column; `data_type` is `None` for a type dlt does not map.
pub fn dlt_column(dialect: Dialect, c: &SqlColumn) -> Column {
    let mut col = Column::incomplete(c.name.clone());
    col.nullable = c.nullable;
    col.data_type = match dialect {
        Dialect::Postgres => postgres_type(c, &mut col),
        Dialect::Mysql => mysql_type(c, &mut col),
        Dialect::Sqlite => sqlite_type(c, &mut col),
    };
    col
}

fn decimal(c: &SqlColumn, col: &mut Column) -> Option<DataType> {
    col.precision = c.precision;
    col.scale = c.precision.and(c.scale);
    Some(DataType::Decimal)
}

fn timestamp(col: &mut Column, timezone: bool) -> Option<DataType> {
    col.timezone = Some(timezone);
    Some(DataType::Timestamp)
}

fn postgres_type(c: &SqlColumn, col: &mut Column) -> Option<DataType> {
    match c.db_type.as_str() {
        "smallint" | "integer" | "bigint" => Some(DataType::Bigint),
        "numeric" | "decimal" => decimal(c, col),
        "real" | "double precision" => Some(DataType::Double),
        "character varying" | "character" | "text" | "name" | "uuid" => Some(DataType::Text),
        "bytea" => Some(DataType::Binary),
        "timestamp without time zone" => timestamp(col, false),
        "timestamp with time zone" => timestamp(col, true),
        "date" => Some(DataType::Date),
        "time without time zone" | "time with time zone" => Some(DataType::Time),
        "json" | "jsonb" | "ARRAY" => Some(DataType::Json),
        "boolean" => Some(DataType::Bool),
        _ => None,
    }
}

/// MySQL and MariaDB (`information_schema.columns.data_type`, lower case), as SQLAlchemy's
/// MySQL dialect reflects them for dlt 1.31 (checked against it on MariaDB 10.11:
/// `tinyint(1)` is an integer, MariaDB's `json` is a `longtext`, so text; `year` and `bit`
/// are not mapped, their values infer `bigint`); one difference: `bigint unsigned` is
/// `decimal(20, 0)`, since values past 2^63 do not fit a `bigint` (dlt fails on them).
fn mysql_type(c: &SqlColumn, col: &mut Column) -> Option<DataType> {
    match c.db_type.as_str() {
        "bigint" if c.unsigned => {
            col.precision = Some(20);
            col.scale = Some(0);
            Some(DataType::Decimal)
        }
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
            Some(DataType::Bigint)
        }
        "decimal" | "numeric" => decimal(c, col),
        // SQLAlchemy's MySQL `DOUBLE` has `asdecimal=True`: dlt makes it a decimal (with
        // precision and scale only where the type declares them: `double(10,2)`)
        "double" | "real" if c.scale.is_some() => decimal(c, col),
        "double" | "real" => Some(DataType::Decimal),
        "float" => Some(DataType::Double),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            Some(DataType::Text)
        }
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            Some(DataType::Binary)
        }
        "datetime" | "timestamp" => timestamp(col, false),
        "date" => Some(DataType::Date),
        "time" => Some(DataType::Time),
        "json" => Some(DataType::Json),
        _ => None,
    }
}

/// SQLite: the declared type's name (upper case) as SQLAlchemy's SQLite dialect resolves it
/// (its `ischema_names`, then SQLite's affinity rules: `INT` → integer, `CHAR`/`CLOB`/`TEXT`
/// → text, `BLOB` or none → no type, `REAL`/`FLOA`/`DOUB` → float, else numeric).
fn sqlite_type(c: &SqlColumn, col: &mut Column) -> Option<DataType> {
    let name = c.db_type.as_str();
    match name {
        "BIGINT" | "INT" | "INTEGER" | "SMALLINT" => Some(DataType::Bigint),
        "BOOL" | "BOOLEAN" => Some(DataType::Bool),
        "BLOB" => Some(DataType::Binary),
        "CHAR" | "NCHAR" | "VARCHAR" | "NVARCHAR" | "TEXT" => Some(DataType::Text),
        "DATE" | "DATE_CHAR" => Some(DataType::Date),
        "DATETIME" | "DATETIME_CHAR" | "TIMESTAMP" => timestamp(col, false),
        "TIME" | "TIME_CHAR" => Some(DataType::Time),
        "DOUBLE" | "FLOAT" | "REAL" => Some(DataType::Double),
        "DECIMAL" | "NUMERIC" => decimal(c, col),
        "JSON" => Some(DataType::Json),
        _ if name.contains("INT") => Some(DataType::Bigint),
        _ if ["CHAR", "CLOB", "TEXT"].iter().any(|a| name.contains(a)) => Some(DataType::Text),
        _ if name.is_empty() || name.contains("BLOB") => None,
        _ if ["REAL", "FLOA", "DOUB"].iter().any(|a| name.contains(a)) => Some(DataType::Double),
        _ => decimal(c, col),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(db_type: &str, precision: Option<u32>, scale: Option<u32>) -> Column {
        dlt_column(
            Dialect::Postgres,
            &SqlColumn {
                name: "c".into(),
                db_type: db_type.into(),
                nullable: true,
                precision,
                scale,
                unsigned: false,
            },
        )
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
        let c = dlt_column(
            Dialect::Postgres,
            &SqlColumn {
                name: "id".into(),
                db_type: "integer".into(),
                nullable: false,
                precision: None,
                scale: None,
                unsigned: false,
            },
        );
        assert!(!c.nullable);
        assert_eq!(c.name, "id");
    }
}
