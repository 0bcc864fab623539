//! SQL text: identifier quoting, literal escaping, type mapping and DDL. Pure functions.
//!
//! Every identifier goes through [`quote_ident`] and every string-like literal through
//! [`escape_literal`]; nothing else builds SQL from names or values.

use std::fmt::Write as _;

use dest_core::{Column, DataType, TableSchema};

/// Quotes an identifier for PostgreSQL: wrapped in `"`, inner `"` doubled.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

/// A text value cannot be stored by PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("text contains a NUL character (\\u0000) at byte {0}, which PostgreSQL text cannot store")]
pub struct NulInText(pub usize);

/// Appends `s` as an escape string literal `E'...'`: `'` is doubled, `\` doubled, LF and
/// CR written as `\n` / `\r` (so a rendered literal never spans lines). Every other
/// character is copied as is. The one function that renders string values into SQL.
pub fn escape_literal(out: &mut Vec<u8>, s: &str) -> Result<(), NulInText> {
    out.reserve(s.len() + 3);
    out.extend_from_slice(b"E'");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'\'' => b"''",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            0 => return Err(NulInText(i)),
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'\'');
    Ok(())
}

/// [`escape_literal`] into a new string (for statements built in memory).
pub fn literal(s: &str) -> Result<String, NulInText> {
    let mut out = Vec::with_capacity(s.len() + 3);
    escape_literal(&mut out, s)?;
    // only ASCII was inserted into valid UTF-8 at char boundaries
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// PostgreSQL type of a column (dlt's mapping).
pub fn column_type(c: &Column) -> Result<String, String> {
    let Some(ty) = c.data_type else {
        return Err(format!("column `{}` has no data type", c.name));
    };
    Ok(match ty {
        DataType::Text => match c.precision {
            Some(p) => format!("varchar({p})"),
            None => "varchar".into(),
        },
        DataType::Double => "double precision".into(),
        DataType::Bool => "boolean".into(),
        DataType::Timestamp => {
            let zone = if c.timezone == Some(false) {
                "without time zone"
            } else {
                "with time zone"
            };
            match c.precision {
                Some(p) if p > 6 => {
                    return Err(format!(
                        "column `{}`: timestamp precision {p} is above PostgreSQL's 6",
                        c.name
                    ))
                }
                Some(p) => format!("timestamp ({p}) {zone}"),
                None => format!("timestamp {zone}"),
            }
        }
        DataType::Date => "date".into(),
        DataType::Time => match c.precision {
            Some(p) => format!("time ({p}) without time zone"),
            None => "time without time zone".into(),
        },
        DataType::Bigint => match c.precision {
            Some(p) if p <= 16 => "smallint".into(),
            Some(p) if p <= 32 => "integer".into(),
            Some(p) if p <= 64 => "bigint".into(),
            Some(p) => {
                return Err(format!(
                    "column `{}`: bigint precision {p} bits is above 64",
                    c.name
                ))
            }
            None => "bigint".into(),
        },
        DataType::Binary => "bytea".into(),
        DataType::Json => "jsonb".into(),
        DataType::Decimal => format!(
            "numeric({},{})",
            c.precision.unwrap_or(38),
            c.scale.unwrap_or(9)
        ),
        DataType::Wei => "numeric(156,78)".into(),
    })
}

/// `"name" type [UNIQUE] [NOT NULL]`.
pub fn column_def(c: &Column, create_indexes: bool) -> Result<String, String> {
    let mut def = format!("{} {}", quote_ident(&c.name), column_type(c)?);
    if c.unique && create_indexes {
        def.push_str(" UNIQUE");
    }
    if !c.nullable {
        def.push_str(" NOT NULL");
    }
    Ok(def)
}

/// `CREATE TABLE` for the complete columns of `table` (`IF NOT EXISTS` for dlt's tables).
pub fn create_table(
    schema: &str,
    table: &TableSchema,
    create_indexes: bool,
) -> Result<String, String> {
    let defs = table
        .complete_columns()
        .map(|c| column_def(c, create_indexes))
        .collect::<Result<Vec<_>, _>>()?;
    let if_not_exists = if table.is_system() {
        "IF NOT EXISTS "
    } else {
        ""
    };
    Ok(format!(
        "CREATE TABLE {if_not_exists}{} (\n{})",
        qualified(schema, &table.name),
        defs.join(",\n")
    ))
}

/// `ALTER TABLE ... ADD COLUMN ...` for `columns` (none: no statement).
pub fn add_columns(
    schema: &str,
    table: &str,
    columns: &[&Column],
    create_indexes: bool,
) -> Result<Option<String>, String> {
    if columns.is_empty() {
        return Ok(None);
    }
    let mut sql = format!("ALTER TABLE {}\n", qualified(schema, table));
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(",\n");
        }
        let _ = write!(sql, "ADD COLUMN {}", column_def(c, create_indexes)?);
    }
    Ok(Some(sql))
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a"), r#""a""#);
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(qualified("ds", "t"), r#""ds"."t""#);
    }

    #[test]
    fn literals() {
        let cases = [
            ("Alice O'Neil\nx\\y", r"E'Alice O''Neil\nx\\y'"),
            ("", "E''"),
            ("tab\there", "E'tab\there'"),
            ("cr\r", r"E'cr\r'"),
            ("emoji 🦀", "E'emoji 🦀'"),
            ("'); DROP TABLE t; --", "E'''); DROP TABLE t; --'"),
        ];
        for (input, want) in cases {
            assert_eq!(literal(input).unwrap(), want, "{input:?}");
        }
        assert_eq!(literal("a\0b"), Err(NulInText(1)));
    }

    #[test]
    fn ddl_snapshot() {
        let mut t = TableSchema::new("users");
        t.columns = vec![
            Column::new("id", DataType::Bigint),
            Column {
                precision: Some(3),
                ..Column::new("s", DataType::Text)
            },
            Column {
                timezone: Some(false),
                ..Column::new("naive", DataType::Timestamp)
            },
            Column {
                precision: Some(3),
                ..Column::new("ts3", DataType::Timestamp)
            },
            Column {
                precision: Some(16),
                ..Column::new("small", DataType::Bigint)
            },
            Column {
                precision: Some(10),
                scale: Some(2),
                ..Column::new("dec", DataType::Decimal)
            },
            Column::new("meta", DataType::Json),
            Column::new("w", DataType::Wei),
            Column::incomplete("hint_only"),
            Column {
                unique: true,
                ..Column::new("_dlt_id", DataType::Text).not_null()
            },
        ];
        expect![[r#"
            CREATE TABLE "ds"."users" (
            "id" bigint,
            "s" varchar(3),
            "naive" timestamp without time zone,
            "ts3" timestamp (3) with time zone,
            "small" smallint,
            "dec" numeric(10,2),
            "meta" jsonb,
            "w" numeric(156,78),
            "_dlt_id" varchar UNIQUE NOT NULL)"#]]
        .assert_eq(&create_table("ds", &t, true).unwrap());
        let cols: Vec<&Column> = t.columns.iter().take(2).collect();
        expect![[r#"
            ALTER TABLE "ds"."users"
            ADD COLUMN "id" bigint,
            ADD COLUMN "s" varchar(3)"#]]
        .assert_eq(&add_columns("ds", "users", &cols, false).unwrap().unwrap());
        let no_index = create_table("ds", &t, false).unwrap();
        assert!(no_index.contains(r#""_dlt_id" varchar NOT NULL"#));
    }
}
