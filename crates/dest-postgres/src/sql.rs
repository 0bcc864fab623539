//! SQL text: identifier quoting, literal escaping, type mapping and DDL. Pure functions.
//!
//! The SQL both SQL destinations generate lives in `dest-sql`, parameterised by a
//! `Dialect`; [`PostgresDialect`] is PostgreSQL's. What stays here is PostgreSQL's own:
//! its type mapping ([`column_type`]) and its escape string literals ([`escape_literal`]).
//! Every identifier goes through [`quote_ident`] and every string-like literal through
//! [`escape_literal`]; nothing else builds SQL from names or values.

use chrono::{DateTime, Utc};
use dest_core::{Column, DataType};
use dest_sql::{Dialect, SqlTextError, TempTable};

/// PostgreSQL's identifier limit in bytes.
pub const MAX_IDENTIFIER_LENGTH: usize = 63;

/// PostgreSQL's limit of columns per table.
const MAX_COLUMNS: usize = 1600;

/// The columns of tables: `$1` the schema, `$2` the table names (`text[]`); columns
/// `table_name`, `column_name`.
pub(crate) const EXISTING_COLUMNS: &str =
    "SELECT table_name::text, column_name::text FROM information_schema.columns \
     WHERE table_schema = $1 AND table_name = ANY($2)";

/// The server's version number (`150004`).
pub(crate) const SERVER_VERSION: &str = "SELECT current_setting('server_version_num')::int";

/// Opens the read-only transaction of a user's query or a read back, the dataset first on
/// the search path (then `public`, where extensions such as PostGIS live), with the text
/// forms `read::text_value` reads (`DateStyle` ISO, UTC, shortest exact floats, hex bytea).
pub(crate) fn read_begin(dataset: &str) -> String {
    format!(
        "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ; \
         SET LOCAL search_path TO {}, public; SET LOCAL TimeZone TO 'UTC'; \
         SET LOCAL DateStyle TO 'ISO, YMD'; SET LOCAL extra_float_digits TO 1; \
         SET LOCAL bytea_output TO 'hex'",
        quote_ident(dataset)
    )
}

/// Ends a read's transaction.
pub(crate) const READ_END: &str = "ROLLBACK";

/// The cursor of a read back (one per connection: a connection runs one read at a time).
const READ_CURSOR: &str = "dlt_rs_read";

/// Declares the read's cursor for `query` (one query, its parameters `$n` bound).
pub(crate) fn declare_read_cursor(query: &str) -> String {
    format!("DECLARE {READ_CURSOR} NO SCROLL CURSOR FOR {query}")
}

/// The next `rows` rows of the read's cursor.
pub(crate) fn fetch_read_cursor(rows: usize) -> String {
    format!("FETCH FORWARD {rows} FROM {READ_CURSOR}")
}

/// The statements of the staging lock (`crate::staging_lock`): a two-key session lock
/// `($1, hashtext($2))` taken, waited for, released; the backend pid; and whether backend
/// `$1` holds lock `($2, hashtext($3))`.
pub(crate) mod staging_lock {
    pub(crate) const BACKEND_PID: &str = "SELECT pg_backend_pid()";
    pub(crate) const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1, hashtext($2))";
    pub(crate) const LOCK: &str = "SELECT pg_advisory_lock($1, hashtext($2))";
    pub(crate) const UNLOCK: &str = "SELECT pg_advisory_unlock($1, hashtext($2))";
    pub(crate) const HELD: &str =
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
         AND granted AND pid = $1 AND objsubid = 2 \
         AND classid::int8 = ($2::int8 & 4294967295) \
         AND objid::int8 = (hashtext($3)::int8 & 4294967295))";
}

/// The statements of `crate::bound` (insert_values files executed with bound parameters).
pub(crate) mod bound {
    use std::fmt::Write as _;

    use super::quote_ident;

    /// The savepoint around the rows of one file (rolled back to find a failing value).
    pub(crate) const SAVEPOINT: &str = "SAVEPOINT dlt_rs_insert_values";
    pub(crate) const RELEASE_SAVEPOINT: &str = "RELEASE SAVEPOINT dlt_rs_insert_values";
    pub(crate) const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT dlt_rs_insert_values";

    /// Whether the texts of `$1` convert to type `full` (a type name from the catalog).
    pub(crate) fn cardinality_as(full: &str) -> String {
        format!("SELECT cardinality($1::text[]::{full}[])")
    }

    /// The first (1-based) of the texts of `$1` longer than `n` characters but trailing
    /// spaces (what a `varchar(n)` / `char(n)` assignment refuses).
    pub(crate) fn longer_than(n: i32) -> String {
        format!(
            "SELECT min(i) FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) \
             WHERE char_length(rtrim(v, ' ')) > {n}"
        )
    }

    /// `INSERT INTO target(cols) SELECT u.c0::type, ... FROM unnest($1::text[], ...) AS
    /// u(c0, ...)` of `(name, cast)` columns: a column without a cast takes the text as it is,
    /// the others cast it with their type's input function.
    pub(crate) fn insert_from_unnest(target: &str, columns: &[(&str, Option<&str>)]) -> String {
        let names: Vec<String> = columns.iter().map(|(n, _)| quote_ident(n)).collect();
        let mut select = String::new();
        let mut params = String::new();
        let mut aliases = String::new();
        for (i, (_, cast)) in columns.iter().enumerate() {
            if i > 0 {
                select.push_str(", ");
                params.push_str(", ");
                aliases.push_str(", ");
            }
            let _ = write!(select, "u.c{i}");
            if let Some(cast) = cast {
                let _ = write!(select, "::{cast}");
            }
            let _ = write!(params, "${}::text[]", i + 1);
            let _ = write!(aliases, "c{i}");
        }
        format!(
            "INSERT INTO {target}({}) SELECT {select} FROM unnest({params}) AS u({aliases})",
            names.join(",")
        )
    }

    /// The header of an `insert_values` statement: `INSERT INTO {}(cols)` and `VALUES`, the
    /// table a placeholder filled in at load time.
    pub(crate) fn insert_values_header(placeholder: &str, columns: &[&str]) -> String {
        let names: Vec<String> = columns.iter().map(|n| quote_ident(n)).collect();
        format!("INSERT INTO {placeholder}({})\nVALUES\n", names.join(","))
    }
}

/// The statements of `crate::binary_copy` (`parquet` job files loaded with binary COPY).
pub(crate) mod binary_copy {
    use super::quote_ident;

    /// The columns of table `$1` (its qualified, quoted name as text) with the name of
    /// their base type (`int4`, `timestamptz`, ...); `$2` the column names (`text[]`).
    pub(crate) const COLUMN_TYPES: &str =
        "SELECT a.attname::text, coalesce(b.typname, t.typname)::text \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
         WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
         AND a.attname = ANY($2)";

    /// `COPY target (columns) FROM STDIN (FORMAT binary)`.
    pub(crate) fn copy_binary(target: &str, columns: &[String]) -> String {
        let names: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        format!(
            "COPY {target} ({}) FROM STDIN (FORMAT binary)",
            names.join(",")
        )
    }
}

/// PostgreSQL's [`Dialect`] of the shared SQL.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresDialect;

/// The dialect, for the functions of `dest-sql`.
pub(crate) const PG: PostgresDialect = PostgresDialect;

impl Dialect for PostgresDialect {
    fn destination(&self) -> &'static str {
        "postgres"
    }
    fn max_identifier_length(&self) -> usize {
        MAX_IDENTIFIER_LENGTH
    }
    fn database_name(&self) -> &'static str {
        "PostgreSQL"
    }
    fn max_columns(&self) -> usize {
        MAX_COLUMNS
    }
    fn xact_lock(&self) -> Option<&'static str> {
        Some("SELECT pg_advisory_xact_lock(hashtext($1))")
    }
    fn lock_timeout(&self, ms: u64) -> Option<String> {
        Some(format!("SET LOCAL lock_timeout = '{ms}ms'"))
    }
    fn create_dataset(&self, name: &str) -> Option<String> {
        Some(format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(name)))
    }
    fn dataset_exists(&self) -> Option<&'static str> {
        Some("SELECT 1 FROM pg_namespace WHERE nspname = $1")
    }
    fn quote_ident(&self, name: &str) -> String {
        quote_ident(name)
    }
    fn column_type(&self, c: &Column) -> Result<String, SqlTextError> {
        column_type(c)
    }
    fn string_literal(&self, s: &str) -> Result<String, SqlTextError> {
        literal(s).map_err(|NulInText(at)| SqlTextError::Nul {
            at,
            what: "PostgreSQL text cannot store",
        })
    }
    /// `E'2026-11-24 03:13:09.747648+00:00'`, as dlt renders it for PostgreSQL.
    fn timestamp_literal(&self, ts: DateTime<Utc>) -> Result<String, SqlTextError> {
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
pub(crate) fn qualified(schema: &str, table: &str) -> String {
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

/// dlt's hint for a PostGIS geometry column (a text column of WKT, EWKT or hex WKB).
pub(crate) const GEOMETRY_HINT: &str = "x-postgres-geometry";
/// dlt's hint for the SRID of a geometry column (default 4326).
pub(crate) const SRID_HINT: &str = "x-postgres-srid";

/// PostgreSQL type of a column (dlt's mapping).
pub(crate) fn column_type(c: &Column) -> Result<String, SqlTextError> {
    let Some(ty) = c.data_type else {
        return Err(SqlTextError::NoDataType {
            column: c.name.clone(),
        });
    };
    // as dlt: a truthy geometry hint makes the column PostGIS' `geometry(Geometry, srid)`
    let geometry = match c.other.get(GEOMETRY_HINT) {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => false,
        Some(serde_json::Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    if geometry {
        let srid = match c.other.get(SRID_HINT) {
            None | Some(serde_json::Value::Null) => 4326,
            Some(v) => v.as_i64().ok_or_else(|| SqlTextError::Column {
                column: c.name.clone(),
                reason: format!("`{SRID_HINT}` must be an integer SRID, not {v}"),
            })?,
        };
        return Ok(format!("geometry(Geometry, {srid})"));
    }
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
                    return Err(SqlTextError::Column {
                        column: c.name.clone(),
                        reason: format!("timestamp precision {p} is above PostgreSQL's 6"),
                    })
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
        let t = dest_test::fixtures::users_table();
        expect![[r#"
            CREATE TABLE "ds"."users" (
            "id" bigint,
            "s" varchar(3),
            "t" varchar,
            "f" double precision,
            "b" boolean,
            "ts" timestamp with time zone,
            "naive" timestamp without time zone,
            "ts3" timestamp (3) with time zone,
            "d" date,
            "tm" time without time zone,
            "small" smallint,
            "int" integer,
            "bin" bytea,
            "meta" jsonb,
            "dec" numeric(10,2),
            "w" numeric(156,78),
            "_dlt_id" varchar UNIQUE NOT NULL)"#]]
        .assert_eq(&dest_sql::create_table(&PG, "ds", &t, true).unwrap());
        let cols: Vec<&Column> = t.columns.iter().take(2).collect();
        expect![[r#"
            ALTER TABLE "ds"."users"
            ADD COLUMN "id" bigint,
            ADD COLUMN "s" varchar(3)"#]]
        .assert_eq(&dest_sql::add_columns(&PG, "ds", "users", &cols, false).unwrap()[0]);
        let no_index = dest_sql::create_table(&PG, "ds", &t, false).unwrap();
        assert!(no_index.contains(r#""_dlt_id" varchar NOT NULL"#));
    }
}
