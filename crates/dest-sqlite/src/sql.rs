//! SQLite's [`Dialect`] of the shared SQL (`dest-sql`), its type mapping, the one string
//! literal function and the text forms of dates and times. Pure functions.
//!
//! # Type mapping
//!
//! dlt's `sqlalchemy` destination on SQLite (SQLAlchemy's SQLite type names), except for
//! exact numbers:
//!
//! | dlt type | column type | stored as |
//! | --- | --- | --- |
//! | `text` | `TEXT` (`VARCHAR(n)` with a precision, `VARCHAR(128)` when `unique`) | text |
//! | `double` | `DOUBLE` | real (NaN and infinities: NULL) |
//! | `bool` | `BOOLEAN` | integer 1 / 0 |
//! | `bigint` | `BIGINT` (`SMALLINT` / `INTEGER` by precision) | integer (64-bit) |
//! | `timestamp` | `DATETIME` | text `YYYY-MM-DD HH:MM:SS.ffffff`, in UTC |
//! | `date` | `DATE` | text `YYYY-MM-DD` |
//! | `time` | `TIME` | text `HH:MM:SS.ffffff` |
//! | `binary` | `BLOB` | blob |
//! | `json` | `JSON` | text (compact JSON) |
//! | `decimal` | `TEXT` | text, every digit |
//! | `wei` | `TEXT` | text, every digit |
//!
//! The text forms of timestamps and times are SQLAlchemy's (what dlt's sqlalchemy
//! destination stores): fixed width, so they sort and compare in time order, and SQLite's
//! date functions read them.
//!
//! **Exact numbers are text.** dlt declares `decimal` and `wei` columns `NUMERIC(p, s)`,
//! whose affinity turns a value into a 64-bit integer or a double: a decimal past 15
//! significant digits, and every integer past 64 bits, would lose digits. dlt-rs keeps
//! every digit of such numbers (`wei` columns hold integers of up to 76 digits), so these
//! columns have TEXT affinity and hold the exact decimal text; SQLite's arithmetic still
//! reads them as numbers.

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, Timelike, Utc};
use dest_core::{Column, DataType};
use dest_sql::{Dialect, SqlTextError, TempTable};

/// SQLite's [`Dialect`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

/// The dialect, for the functions of `dest-sql`.
pub(crate) const SQLITE: SqliteDialect = SqliteDialect;

/// The longest table or column name, in bytes. SQLite has no limit (dlt's sqlalchemy
/// destination takes SQLAlchemy's 9999), but dlt-rs names job files and dataset files
/// after tables and datasets, and a file name has at most 255 bytes: 200 leaves room for
/// `.<file id>.<retry>.typed-jsonl` and `<main stem>__..._staging.db`. Longer names are
/// shortened by dlt's naming convention (a hash in the middle), as on PostgreSQL at 63.
pub const MAX_IDENTIFIER_LENGTH: usize = 200;

/// The current UTC time in the stored timestamp form (SQLite's `%f` has milliseconds).
/// Read-only on: no statement may write (a user's query, a read back).
pub(crate) const QUERY_ONLY_ON: &str = "PRAGMA query_only = ON";
/// Read-only off again.
pub(crate) const QUERY_ONLY_OFF: &str = "PRAGMA query_only = OFF";

const NOW: &str = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))";

// doc:start dialect
impl Dialect for SqliteDialect {
    fn destination(&self) -> &'static str {
        crate::NAME
    }
    fn max_identifier_length(&self) -> usize {
        MAX_IDENTIFIER_LENGTH
    }
    fn database_name(&self) -> &'static str {
        "SQLite"
    }
    /// `SQLITE_MAX_COLUMN`.
    fn max_columns(&self) -> usize {
        2000
    }
    /// The write lock first, so two loaders wait for each other in the busy timeout
    /// instead of failing halfway.
    fn begin(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }
    fn parse_timestamp(&self, text: &str) -> Option<DateTime<Utc>> {
        parse_timestamp_text(text)
    }
    fn column_type(&self, c: &Column) -> Result<String, SqlTextError> {
        column_type(c)
    }
    fn string_literal(&self, s: &str) -> Result<String, SqlTextError> {
        string_literal(s)
    }
    fn timestamp_literal(&self, ts: DateTime<Utc>) -> Result<String, SqlTextError> {
        string_literal(&timestamp_text(&ts.naive_utc()))
    }
    fn param(&self, n: usize) -> String {
        format!("?{n}")
    }
    fn now(&self) -> &'static str {
        NOW
    }
    fn ledger_timestamp_type(&self) -> &'static str {
        "DATETIME"
    }
    fn truncate_table(&self, qualified: &str) -> String {
        format!("DELETE FROM {qualified}")
    }
    /// A table in `temp` (the connection's own database), dropped at the end of the
    /// follow-up (a rolled back transaction takes its creation back too).
    fn temp_table(&self, name: &str) -> TempTable {
        let name = self.qualified("temp", name);
        TempTable {
            create: format!("CREATE TABLE {name}"),
            drop: Some(format!("DROP TABLE {name}")),
            name,
        }
    }
    fn add_columns_in_one_statement(&self) -> bool {
        false
    }
}
// doc:end dialect

/// Sets the journal of attached database `name` to SQLite's rollback journal (`DELETE`).
pub(crate) fn rollback_journal(name: &str) -> String {
    format!("PRAGMA {}.journal_mode = DELETE", SQLITE.quote_ident(name))
}

/// A prepared `INSERT` of `rows` rows of `columns` into `table` (qualified), values bound.
pub(crate) fn insert_rows(table: &str, columns: &[String], rows: usize) -> String {
    let cols = columns
        .iter()
        .map(|c| SQLITE.quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT INTO {table}({cols}) VALUES {}",
        vec![row.as_str(); rows].join(", ")
    )
}

/// The column type of a complete column (see the module docs).
pub(crate) fn column_type(c: &Column) -> Result<String, SqlTextError> {
    let Some(ty) = c.data_type else {
        return Err(SqlTextError::NoDataType {
            column: c.name.clone(),
        });
    };
    Ok(match ty {
        DataType::Text => match c.precision {
            Some(p) => format!("VARCHAR({p})"),
            None if c.unique => "VARCHAR(128)".into(),
            None => "TEXT".into(),
        },
        DataType::Double => "DOUBLE".into(),
        DataType::Bool => "BOOLEAN".into(),
        DataType::Timestamp => "DATETIME".into(),
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
        DataType::Bigint => match dest_sql::integer_bits(c)? {
            16 => "SMALLINT".into(),
            32 => "INTEGER".into(),
            _ => "BIGINT".into(),
        },
        DataType::Binary => "BLOB".into(),
        DataType::Json => "JSON".into(),
        DataType::Decimal | DataType::Wei => "TEXT".into(),
    })
}

/// A string literal `'...'` with `'` doubled. SQL text ends at a NUL character, so a text
/// with one cannot be a literal (values are bound as parameters, where NUL is kept; only
/// generated text such as timestamps becomes a literal). The one function that renders a
/// string into SQLite's SQL.
pub(crate) fn string_literal(s: &str) -> Result<String, SqlTextError> {
    if let Some(at) = s.find('\0') {
        return Err(SqlTextError::Nul {
            at,
            what: "an SQLite literal cannot hold",
        });
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        if ch == '\'' {
            out.push('\'');
        }
        out.push(ch);
    }
    out.push('\'');
    Ok(out)
}

/// `HH:MM:SS.ffffff` (a leap second keeps `:59` and its fraction, as PostgreSQL's loader).
pub(crate) fn time_text(t: &NaiveTime) -> String {
    let micros = (t.nanosecond() % 1_000_000_000) / 1000;
    format!(
        "{:02}:{:02}:{:02}.{micros:06}",
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`: the stored form of timestamps (UTC for timestamps with
/// a time zone).
pub(crate) fn timestamp_text(ts: &NaiveDateTime) -> String {
    let d = ts.date();
    let date = if (0..=9999).contains(&d.year()) {
        format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    } else {
        d.format("%Y-%m-%d").to_string()
    };
    format!("{date} {}", time_text(&ts.time()))
}

/// Reads a stored timestamp back (`inserted_at` of `_dlt_loads`).
pub(crate) fn parse_timestamp_text(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use dest_core::TableSchema;
    use expect_test::expect;

    #[test]
    fn literals_and_times() {
        assert_eq!(string_literal("it's").unwrap(), "'it''s'");
        assert_eq!(string_literal("").unwrap(), "''");
        assert_eq!(
            string_literal("'); DROP TABLE t; --").unwrap(),
            "'''); DROP TABLE t; --'"
        );
        assert!(string_literal("a\0b")
            .unwrap_err()
            .to_string()
            .contains("byte 1"));
        let ts = NaiveDate::from_ymd_opt(987, 6, 5)
            .unwrap()
            .and_hms_micro_opt(4, 3, 2, 1)
            .unwrap();
        assert_eq!(timestamp_text(&ts), "0987-06-05 04:03:02.000001");
        assert_eq!(
            parse_timestamp_text("0987-06-05 04:03:02.000001"),
            Some(ts.and_utc())
        );
        let utc = Utc.with_ymd_and_hms(2026, 11, 24, 3, 13, 9).unwrap();
        assert_eq!(
            SQLITE.timestamp_literal(utc).unwrap(),
            "'2026-11-24 03:13:09.000000'"
        );
    }

    #[test]
    fn ddl_snapshot() {
        let t = dest_test::fixtures::users_table();
        expect![[r#"
            CREATE TABLE "ds"."users" (
            "id" BIGINT,
            "s" VARCHAR(3),
            "t" TEXT,
            "f" DOUBLE,
            "b" BOOLEAN,
            "ts" DATETIME,
            "naive" DATETIME,
            "ts3" DATETIME,
            "d" DATE,
            "tm" TIME,
            "small" SMALLINT,
            "int" INTEGER,
            "bin" BLOB,
            "meta" JSON,
            "dec" TEXT,
            "w" TEXT,
            "_dlt_id" VARCHAR(128) UNIQUE NOT NULL)"#]]
        .assert_eq(&dest_sql::create_table(&SQLITE, "ds", &t, true).unwrap());
        let added = [t.column("id").unwrap(), t.column("_dlt_id").unwrap()];
        expect![[r#"
            ALTER TABLE "ds"."users" ADD COLUMN "id" BIGINT;
            ALTER TABLE "ds"."users" ADD COLUMN "_dlt_id" VARCHAR(128);
            CREATE UNIQUE INDEX "ds"."users__dlt_id_key" ON "users" ("_dlt_id")"#]]
        .assert_eq(
            &dest_sql::add_columns(&SQLITE, "ds", "users", &added, true)
                .unwrap()
                .join(";\n"),
        );
        let mut big = Column::new("x", DataType::Bigint);
        big.precision = Some(65);
        assert!(column_type(&big)
            .unwrap_err()
            .to_string()
            .contains("above 64"));
    }
    /// The follow-ups in SQLite's dialect (each runs against real SQLite in
    /// `tests/it/pipelines.rs`): `DELETE FROM` for TRUNCATE, temporary tables in `temp` dropped
    /// at the end, upsert without MERGE, `'...'` timestamps in the stored form.
    #[test]
    fn follow_up_snapshots() {
        use dest_core::{FollowUp, SortOrder};
        use dest_sql::{follow_up_sql, Datasets};

        let s = Datasets {
            dataset: "ds",
            staging: "ds_staging",
        };
        let col = |name: &str, ty: DataType, f: &dyn Fn(&mut Column)| {
            let mut c = Column::new(name, ty);
            f(&mut c);
            c
        };
        let id = col("_dlt_id", DataType::Text, &|c| {
            c.nullable = false;
            c.unique = true;
            c.row_key = true;
        });
        let mut root = TableSchema::new("orders");
        root.columns = vec![
            col("id", DataType::Bigint, &|c| c.primary_key = true),
            col("ts", DataType::Timestamp, &|c| {
                c.dedup_sort = Some(SortOrder::Desc)
            }),
            col("deleted", DataType::Bool, &|c| c.hard_delete = true),
            id.clone(),
        ];
        let mut lines = TableSchema::new("orders__lines");
        lines.parent = Some("orders".into());
        lines.columns = vec![
            Column::new("sku", DataType::Text),
            col("_dlt_root_id", DataType::Text, &|c| c.root_key = true),
            id.clone(),
        ];
        let chain = [&root, &lines];
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 3, 13, 9).unwrap()
            + chrono::Duration::nanoseconds(747_647_800);
        let sql = |kind: FollowUp, chain: &[&TableSchema]| match follow_up_sql(
            &SQLITE, kind, s, chain, at,
        ) {
            Ok(sql) => sql.join(";\n"),
            Err(e) => format!("error: {e}"),
        };
        expect![[r#"
            CREATE TABLE "temp"."orders_delete" AS SELECT d."_dlt_id" FROM "ds"."orders" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."orders" AS s WHERE d."id" = s."id");
            DELETE FROM "ds"."orders__lines" WHERE "_dlt_root_id" IN (SELECT * FROM "temp"."orders_delete");
            DELETE FROM "ds"."orders" WHERE "_dlt_id" IN (SELECT * FROM "temp"."orders_delete");
            CREATE TABLE "temp"."orders_insert" AS SELECT "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY "ts" DESC) AS _dlt_dedup_rn, "_dlt_id", "deleted" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("deleted" IS NULL OR "deleted" = FALSE);
            INSERT INTO "ds"."orders"("id", "ts", "deleted", "_dlt_id") SELECT "id", "ts", "deleted", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "ts", "deleted", "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" IN (SELECT * FROM "temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines"("sku", "_dlt_root_id", "_dlt_id") SELECT "sku", "_dlt_root_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "_dlt_root_id", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "temp"."orders_insert"));
            DROP TABLE "temp"."orders_delete";
            DROP TABLE "temp"."orders_insert""#]].assert_eq(&sql(FollowUp::DeleteInsert, &chain));
        expect![[r#"
            CREATE TABLE "temp"."orders_merge" AS SELECT "id", "ts", "deleted", "_dlt_id", EXISTS (SELECT 1 FROM "ds"."orders" AS d WHERE d."id" = s."id") AS "_dlt_rs_matched" FROM (SELECT "id", "ts", "deleted", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY "ts" DESC) AS _dlt_dedup_rn, "id", "ts", "deleted", "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)) AS s;
            DELETE FROM "ds"."orders" AS d WHERE EXISTS (SELECT 1 FROM "temp"."orders_merge" AS s WHERE d."id" = s."id" AND (s."deleted" = TRUE));
            UPDATE "ds"."orders" AS d SET "id" = s."id", "ts" = s."ts", "deleted" = s."deleted", "_dlt_id" = s."_dlt_id" FROM "temp"."orders_merge" AS s WHERE d."id" = s."id";
            INSERT INTO "ds"."orders"("id", "ts", "deleted", "_dlt_id") SELECT "id", "ts", "deleted", "_dlt_id" FROM "temp"."orders_merge" WHERE NOT "_dlt_rs_matched";
            DROP TABLE "temp"."orders_merge";
            DELETE FROM "ds"."orders__lines" WHERE "_dlt_root_id" IN (SELECT "_dlt_id" FROM "ds_staging"."orders") AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds_staging"."orders__lines");
            CREATE TABLE "temp"."orders__lines_merge" AS SELECT "sku", "_dlt_root_id", "_dlt_id", EXISTS (SELECT 1 FROM "ds"."orders__lines" AS d WHERE d."_dlt_id" = s."_dlt_id") AS "_dlt_rs_matched" FROM (SELECT "sku", "_dlt_root_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "_dlt_root_id", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)) AS s;
            UPDATE "ds"."orders__lines" AS d SET "sku" = s."sku", "_dlt_root_id" = s."_dlt_root_id", "_dlt_id" = s."_dlt_id" FROM "temp"."orders__lines_merge" AS s WHERE d."_dlt_id" = s."_dlt_id";
            INSERT INTO "ds"."orders__lines"("sku", "_dlt_root_id", "_dlt_id") SELECT "sku", "_dlt_root_id", "_dlt_id" FROM "temp"."orders__lines_merge" WHERE NOT "_dlt_rs_matched";
            DROP TABLE "temp"."orders__lines_merge";
            DELETE FROM "ds"."orders__lines" WHERE "_dlt_root_id" IN (SELECT "_dlt_id" FROM "ds_staging"."orders" WHERE "deleted" = TRUE)"#]].assert_eq(&sql(FollowUp::Upsert, &chain));
        expect![[r#"
            DELETE FROM "ds"."orders";
            INSERT INTO "ds"."orders"("id", "ts", "deleted", "_dlt_id") SELECT "id", "ts", "deleted", "_dlt_id" FROM "ds_staging"."orders""#]].assert_eq(&sql(FollowUp::InsertFromStaging, &chain[..1]));
        expect!["error: replace strategy `staging-optimized` (it moves tables between datasets) is not supported by destination `sqlite`; use `insert-from-staging` or `truncate-and-insert`"].assert_eq(&sql(FollowUp::SwapStaging, &chain[..1]));
        let mut dim = TableSchema::new("dim");
        dim.columns = vec![
            Column::new("v", DataType::Text),
            col("_dlt_valid_from", DataType::Timestamp, &|c| {
                c.valid_from = true
            }),
            col("_dlt_valid_to", DataType::Timestamp, &|c| c.valid_to = true),
            col("_dlt_id", DataType::Text, &|c| c.row_version = true),
        ];
        dim.active_record_timestamp = Some("9999-12-31".into());
        expect![[r#"
            UPDATE "ds"."dim" SET "_dlt_valid_to" = '2026-11-24 03:13:09.747648' WHERE "_dlt_valid_to" = '9999-12-31 00:00:00.000000' AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds_staging"."dim");
            INSERT INTO "ds"."dim"("v", "_dlt_id", "_dlt_valid_from", "_dlt_valid_to") SELECT "v", "_dlt_id", '2026-11-24 03:13:09.747648' AS "_dlt_valid_from", '9999-12-31 00:00:00.000000' AS "_dlt_valid_to" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "v", "_dlt_id" FROM "ds_staging"."dim") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds"."dim" WHERE "_dlt_valid_to" = '9999-12-31 00:00:00.000000'))"#]].assert_eq(&sql(FollowUp::Scd2, &[&dim]));
    }
}
