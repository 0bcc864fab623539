//! SQL text: identifier quoting, literal escaping, type mapping and DDL. Pure functions.
//!
//! The SQL both SQL destinations generate lives in `dest-sql`, parameterised by a
//! `Dialect`; [`PostgresDialect`] is PostgreSQL's. What stays here is PostgreSQL's own:
//! its type mapping ([`column_type`]) and its escape string literals ([`escape_literal`]).
//! Every identifier goes through [`quote_ident`] and every string-like literal through
//! [`escape_literal`]; nothing else builds SQL from names or values.

use chrono::{DateTime, Utc};
use dest_core::{Column, DataType, TableSchema};
use dest_sql::{Dialect, TempTable};

/// PostgreSQL's identifier limit in bytes.
pub const MAX_IDENTIFIER_LENGTH: usize = 63;

/// PostgreSQL's [`Dialect`] of the shared SQL.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresDialect;

/// The dialect, for the functions of `dest-sql`.
pub const PG: PostgresDialect = PostgresDialect;

impl Dialect for PostgresDialect {
    fn destination(&self) -> &'static str {
        "postgres"
    }
    fn max_identifier_length(&self) -> usize {
        MAX_IDENTIFIER_LENGTH
    }
    fn quote_ident(&self, name: &str) -> String {
        quote_ident(name)
    }
    fn column_type(&self, c: &Column) -> Result<String, String> {
        column_type(c)
    }
    fn string_literal(&self, s: &str) -> Result<String, String> {
        literal(s).map_err(|e| e.to_string())
    }
    /// `E'2026-11-24 03:13:09.747648+00:00'`, as dlt renders it for PostgreSQL.
    fn timestamp_literal(&self, ts: DateTime<Utc>) -> Result<String, String> {
        self.string_literal(&ts.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string())
    }
    fn param(&self, n: usize) -> String {
        format!("${n}")
    }
    fn text_param(&self, n: usize) -> String {
        format!("${n}::varchar")
    }
    fn now(&self) -> &'static str {
        "now()"
    }
    fn ledger_timestamp_type(&self) -> &'static str {
        "timestamptz"
    }
    /// `ON COMMIT DROP` tables in `pg_temp`: they live for the transaction only.
    fn temp_table(&self, name: &str) -> TempTable {
        let name = qualified("pg_temp", name);
        TempTable {
            create: format!("CREATE TEMPORARY TABLE {name} ON COMMIT DROP"),
            name,
            drop: None,
        }
    }
    /// MERGE needs PostgreSQL 15 (checked before an upsert runs).
    fn has_merge(&self) -> bool {
        true
    }
    /// `SET SCHEMA` moves the table (with its indexes); `LIKE ... INCLUDING ALL` leaves an
    /// empty copy with the same columns, constraints and indexes in staging.
    fn move_table(
        &self,
        staging_qualified: &str,
        dataset: &str,
        dataset_qualified: &str,
    ) -> Option<Vec<String>> {
        Some(vec![
            format!(
                "ALTER TABLE {staging_qualified} SET SCHEMA {}",
                quote_ident(dataset)
            ),
            format!("CREATE TABLE {staging_qualified} (LIKE {dataset_qualified} INCLUDING ALL)"),
        ])
    }
}

/// Quotes an identifier for PostgreSQL: wrapped in `"`, inner `"` doubled.
pub fn quote_ident(name: &str) -> String {
    dest_sql::quote_ident(name)
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
        DataType::Bigint => match dest_sql::integer_bits(c)? {
            16 => "smallint".into(),
            32 => "integer".into(),
            _ => "bigint".into(),
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
    dest_sql::ddl::column_def(&PG, c, create_indexes)
}

/// `CREATE TABLE` for the complete columns of `table` (`IF NOT EXISTS` for dlt's tables).
pub fn create_table(
    schema: &str,
    table: &TableSchema,
    create_indexes: bool,
) -> Result<String, String> {
    dest_sql::ddl::create_table(&PG, schema, table, create_indexes)
}

/// `ALTER TABLE ... ADD COLUMN ...` for `columns` (none: no statement).
pub fn add_columns(
    schema: &str,
    table: &str,
    columns: &[&Column],
    create_indexes: bool,
) -> Result<Option<String>, String> {
    // PostgreSQL adds every column in one statement
    Ok(
        dest_sql::ddl::add_columns(&PG, schema, table, columns, create_indexes)?
            .into_iter()
            .next(),
    )
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

    /// The shared system statements in PostgreSQL's dialect: the text the destination ran
    /// before they moved to `dest-sql` (the one difference: `"version_hash"` is quoted, and
    /// `::text` casts of varchar columns read as text anyway are gone).
    #[test]
    fn system_statements() {
        use dest_sql::system;
        expect![[r#"
            CREATE TABLE IF NOT EXISTS "st"."_dlt_rs_jobs" ("load_id" varchar NOT NULL, "job" varchar NOT NULL, "committed_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("load_id", "job"));
            SELECT "job" FROM "st"."_dlt_rs_jobs" WHERE "load_id" = $1;
            DELETE FROM "st"."_dlt_rs_jobs" WHERE "load_id" = $1;
            SELECT 1 FROM "ds"."_dlt_version" WHERE "version_hash" = $1 LIMIT 1;
            INSERT INTO "ds"."_dlt_version"("version", "engine_version", "inserted_at", "schema_name", "version_hash", "schema") VALUES ($1, $2, now(), $3, $4, $5);
            INSERT INTO "ds"."_dlt_loads"("load_id", "schema_name", "status", "inserted_at", "schema_version_hash") SELECT $1::varchar, $2::varchar, 0, now(), $3::varchar WHERE NOT EXISTS (SELECT 1 FROM "ds"."_dlt_loads" WHERE "load_id" = $1::varchar AND "schema_name" = $2::varchar AND "status" = 0);
            SELECT s."version", s."engine_version", s."pipeline_name", s."state", s."_dlt_load_id" FROM "ds"."_dlt_pipeline_state" AS s JOIN "ds"."_dlt_loads" AS l ON l."load_id" = s."_dlt_load_id" WHERE s."pipeline_name" = $1 AND l."status" = 0 ORDER BY l."load_id" DESC LIMIT 1;
            SELECT "version", "version_hash", "schema" FROM "ds"."_dlt_version" WHERE "schema_name" = $1 ORDER BY "inserted_at" DESC LIMIT 1;
            DELETE FROM "ds"."_dlt_version" WHERE "schema_name" = $1"#]]
        .assert_eq(
            &[
                system::jobs_ddl(&PG, "st"),
                system::jobs_committed(&PG, "st"),
                system::jobs_forget(&PG, "st"),
                system::version_stored(&PG, "ds"),
                system::version_insert(&PG, "ds"),
                system::complete_load(&PG, "ds"),
                system::stored_state(&PG, "ds"),
                system::stored_schema(&PG, "ds"),
                system::versions_delete(&PG, "ds"),
            ]
            .join(";\n"),
        );
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
