//! Key ranges (`SqlDatabase::key_range`): one table's part read from every source kind
//! (PostgreSQL columnar and row by row, MySQL, SQLite), one range and two on two columns,
//! and the errors for a column that is missing or cannot bound a range.

use crate::pipeline;
use source_sql::{SqlDatabase, SqlSourceError};
use test_support::mysql::{fresh_mysql_database, mysql_url};
use test_support::{connect, fresh_schema, query_rows, quote_ident};

/// Rows of the source table: `id` 1..=100, `day` 2024-01-01 + id days, `tag` text with a
/// quote, `doc` json (which cannot bound a range).
const ROWS: usize = 100;

/// Loads `table` of `db` with `10 <= id < 20` and, with `day_from`, a second range
/// `day >= day_from`; returns the ids that landed, in order, and the items extracted.
async fn load_part(
    db: SqlDatabase,
    name: &str,
    table: &str,
    day_from: Option<&str>,
) -> (Vec<i64>, u64) {
    let client = connect().await;
    let dataset = fresh_schema(&client, name).await;
    let dir = tempfile::tempdir().unwrap();
    let mut db = db.key_range(table, "id", Some("10".into()), Some("20".into()));
    if let Some(day) = day_from {
        db = db.key_range(table, "day", Some(day.into()), None);
    }
    let tables = db.reflect(&[table.to_string()]).await.unwrap();
    let info = pipeline(&name.replace(' ', "_"), &dataset, dir.path())
        .run(vec![db.resource(&tables[0])])
        .await
        .unwrap();
    let ids = query_rows(
        &client,
        &format!(
            // the destination table's name is normalized (`part_table`)
            "SELECT id::text FROM {}.part_table ORDER BY id",
            quote_ident(&dataset),
        ),
    )
    .await
    .into_iter()
    .flatten()
    .flatten()
    .map(|v| v.parse().unwrap())
    .collect();
    (ids, info.items)
}

fn expected(day_from: Option<i64>) -> Vec<i64> {
    (10..20)
        .filter(|i| day_from.is_none_or(|d| *i >= d))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn key_ranges_read_only_their_part_from_every_source() {
    let client = connect().await;
    // PostgreSQL, columnar and row by row
    let source = fresh_schema(&client, "sql key range source").await;
    let s = quote_ident(&source);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.\"Part Table\" (id bigint PRIMARY KEY, \
             day date NOT NULL, tag text, doc json); \
             INSERT INTO {s}.\"Part Table\" SELECT i, DATE '2024-01-01' + i, 'it''s ' || i, \
             '{{\"a\": 1}}' FROM generate_series(1, {ROWS}) i;"
        ))
        .await
        .unwrap();
    for columnar in [true, false] {
        let db = SqlDatabase::from_url(&test_support::pg_url())
            .unwrap()
            .with_schema(&source)
            .columnar(columnar);
        let (ids, items) = load_part(
            db.clone(),
            &format!("sql key range pg {columnar}"),
            "Part Table",
            None,
        )
        .await;
        assert_eq!(ids, expected(None), "columnar {columnar}");
        assert_eq!(items, 10);
        // two ranges on two columns: both hold (2024-01-16 is id 15)
        let (ids, _) = load_part(
            db,
            &format!("sql key range pg two {columnar}"),
            "Part Table",
            Some("2024-01-16"),
        )
        .await;
        assert_eq!(ids, expected(Some(15)), "columnar {columnar}");
    }

    // MySQL
    let ddl = format!(
        "CREATE TABLE `Part Table` (id bigint PRIMARY KEY, day date NOT NULL, tag text, \
         doc json); INSERT INTO `Part Table` WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL \
         SELECT i + 1 FROM n WHERE i < {ROWS}) SELECT i, DATE '2024-01-01' + INTERVAL i DAY, \
         CONCAT('it''s ', i), '{{\"a\": 1}}' FROM n;"
    );
    let db_name = fresh_mysql_database("sql key range", &ddl).await;
    let db = SqlDatabase::from_url(&format!("{}/{db_name}", mysql_url())).unwrap();
    let (ids, _) = load_part(db.clone(), "sql key range mysql", "Part Table", None).await;
    assert_eq!(ids, expected(None));
    let (ids, _) = load_part(
        db,
        "sql key range mysql two",
        "Part Table",
        Some("2024-01-16"),
    )
    .await;
    assert_eq!(ids, expected(Some(15)));

    // SQLite
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("part.db");
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(
        "CREATE TABLE \"Part Table\" (id INTEGER PRIMARY KEY, day DATE NOT NULL, tag TEXT);",
    )
    .unwrap();
    for i in 1..=ROWS as i64 {
        conn.execute(
            "INSERT INTO \"Part Table\" VALUES (?1, date('2024-01-01', ?2), ?3)",
            rusqlite::params![i, format!("+{i} days"), format!("it's {i}")],
        )
        .unwrap();
    }
    drop(conn);
    let db = SqlDatabase::from_url(&format!("sqlite:///{}", file.display())).unwrap();
    let (ids, _) = load_part(db.clone(), "sql key range sqlite", "Part Table", None).await;
    assert_eq!(ids, expected(None));
    let (ids, _) = load_part(
        db,
        "sql key range sqlite two",
        "Part Table",
        Some("2024-01-16"),
    )
    .await;
    assert_eq!(ids, expected(Some(15)));

    // errors name the table and column
    let db = SqlDatabase::from_url(&test_support::pg_url())
        .unwrap()
        .with_schema(&source);
    let e = db
        .clone()
        .key_range("Part Table", "nope", Some("1".into()), None)
        .reflect(&[])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SqlSourceError::UnknownRangeColumn { column, .. } if column == "nope"),
        "{e}"
    );
    let e = db
        .key_range("Part Table", "doc", None, Some("1".into()))
        .reflect(&[])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SqlSourceError::RangeType { column, db_type, .. } if column == "doc" && db_type == "json"),
        "{e}"
    );
}
