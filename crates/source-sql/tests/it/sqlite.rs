//! SQLite as a source: reflection, types and rows as dlt 1.31's `sql_database` gives them
//! (checked against it with SQLAlchemy 2.0 on the same file), and an incremental run.

use std::path::Path;

use crate::{pipeline, text};
use source_sql::{SqlDatabase, SqlSourceError};
use test_support::{connect, fresh_schema, query_rows, quote_ident};

fn database(dir: &Path, ddl: &str) -> SqlDatabase {
    let file = dir.join("source.db");
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch(ddl)
        .unwrap();
    SqlDatabase::from_url(&format!("sqlite:///{}", file.display())).unwrap()
}

const TYPES_DDL: &str = r#"
CREATE TABLE items (id INTEGER PRIMARY KEY, price DECIMAL(12,2) NOT NULL, score REAL,
  d DOUBLE, ok BOOLEAN, born DATE, at DATETIME, ts TIMESTAMP, clock TIME, note TEXT,
  code VARCHAR(3), doc JSON, raw BLOB, untyped, money MONEY, "Hostile ""Name"" ; --" TEXT);
INSERT INTO items VALUES (1, 12.5, 1.5, 0.25, 1, '1900-01-02', '2024-01-02 03:04:05.123456',
  '2024-01-02 03:04:05', '10:11:12', 'quote '' "dq"
line\', 'ab', '{"b": 1, "a": [1, 2]}', x'00ff10', 'u', 7, 'x');
INSERT INTO items (id, price, note) VALUES (2, 0.01, '');
CREATE TABLE "Order ""Lines""" (k INT, v TEXT);
INSERT INTO "Order ""Lines""" VALUES (1, 'one');
"#;

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_tables_load_with_reflected_types_and_rows() {
    let client = connect().await;
    let dataset = fresh_schema(&client, "sql sqlite types").await;
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), TYPES_DDL);
    let tables = db.reflect(&[]).await.unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Order \"Lines\"", "items"]);
    assert_eq!(tables[1].primary_key, ["id"]);
    let resources = tables.iter().map(|t| db.resource(t)).collect();
    pipeline("sql_sqlite_types", &dataset, dir.path())
        .run(resources)
        .await
        .expect("load");

    // dlt 1.31's tables (an untyped column comes after the typed ones), but for the key:
    // SQLite's `INTEGER PRIMARY KEY` does not say NOT NULL, dlt keeps it nullable, dlt-rs
    // makes every primary key column NOT NULL
    let columns: Vec<String> = query_rows(
        &client,
        &format!(
            "SELECT table_name || '|' || column_name || '|' || data_type || '|' || is_nullable \
             || '|' || coalesce(numeric_precision::text, '') || '|' \
             || coalesce(numeric_scale::text, '') FROM information_schema.columns \
             WHERE table_schema = '{dataset}' AND table_name NOT LIKE '\\_dlt%' \
             ORDER BY table_name, ordinal_position"
        ),
    )
    .await
    .into_iter()
    .flatten()
    .flatten()
    .collect();
    assert_eq!(
        columns,
        [
            "items|id|bigint|NO|64|0",
            "items|price|numeric|NO|12|2",
            "items|score|double precision|YES|53|",
            "items|d|double precision|YES|53|",
            "items|ok|boolean|YES||",
            "items|born|date|YES||",
            "items|at|timestamp without time zone|YES||",
            "items|ts|timestamp without time zone|YES||",
            "items|clock|time without time zone|YES||",
            "items|note|character varying|YES||",
            "items|code|character varying|YES||",
            "items|doc|jsonb|YES||",
            "items|raw|bytea|YES||",
            "items|money|numeric|YES|38|9",
            "items|hostile_namexxx|character varying|YES||",
            "items|untyped|character varying|YES||",
            "items|_dlt_load_id|character varying|NO||",
            "items|_dlt_id|character varying|NO||",
            "order_linesx|k|bigint|YES|64|0",
            "order_linesx|v|character varying|YES||",
            "order_linesx|_dlt_load_id|character varying|NO||",
            "order_linesx|_dlt_id|character varying|NO||",
        ]
    );
    let rows = query_rows(
        &client,
        &format!(
            "SELECT id, price, score, d, ok, born, at, ts, clock, note, code, doc, raw, money, \
             hostile_namexxx, untyped FROM {}.items ORDER BY id",
            quote_ident(&dataset)
        ),
    )
    .await;
    assert_eq!(
        rows,
        [
            text(&[
                "1",
                "12.50",
                "1.5",
                "0.25",
                "t",
                "1900-01-02",
                "2024-01-02 03:04:05.123456",
                "2024-01-02 03:04:05",
                "10:11:12",
                "quote ' \"dq\"\nline\\",
                "ab",
                "{\"a\": [1, 2], \"b\": 1}",
                "\\x00ff10",
                "7.000000000",
                "x",
                "u",
            ]),
            text(&[
                "2", "0.01", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "", "NULL",
                "NULL", "NULL", "NULL", "NULL", "NULL",
            ]),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_incremental_reads_from_the_last_value_and_errors_are_named() {
    let client = connect().await;
    let dataset = fresh_schema(&client, "sql sqlite incremental").await;
    let dir = tempfile::tempdir().unwrap();
    let db = database(
        dir.path(),
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME, v TEXT); \
         INSERT INTO events VALUES (1, '2024-01-01 00:00:00', 'a'), (2, '2024-01-02 00:00:00', 'b');",
    );
    let names = ["events".to_string()];
    let run = || async {
        let tables = db.reflect(&names).await.unwrap();
        let resource = db
            .incremental_resource(&tables[0], "at", None)
            .unwrap()
            .write_disposition("merge", None)
            .unwrap();
        pipeline("sql_sqlite_incremental", &dataset, dir.path())
            .run(vec![resource])
            .await
            .expect("load")
    };
    assert_eq!(run().await.items, 2);
    rusqlite::Connection::open(dir.path().join("source.db"))
        .unwrap()
        .execute_batch(
            "UPDATE events SET at = '2024-01-03 00:00:00', v = 'A' WHERE id = 1; \
             INSERT INTO events VALUES (3, '2024-01-04 00:00:00', 'c');",
        )
        .unwrap();
    assert_eq!(run().await.items, 2);
    let rows: Vec<String> = query_rows(
        &client,
        &format!(
            "SELECT id::text || '=' || v FROM {}.events ORDER BY id",
            quote_ident(&dataset)
        ),
    )
    .await
    .into_iter()
    .flatten()
    .flatten()
    .collect();
    assert_eq!(rows, ["1=A", "2=b", "3=c"]);

    let missing = SqlDatabase::from_url("sqlite:////nonexistent/dir/x.db").unwrap();
    assert!(matches!(
        missing.reflect(&[]).await,
        Err(SqlSourceError::Sqlite { .. })
    ));
    assert!(matches!(
        db.reflect(&["nope".to_string()]).await,
        Err(SqlSourceError::UnknownTables { .. })
    ));
}
