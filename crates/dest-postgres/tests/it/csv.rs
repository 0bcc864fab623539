//! `csv` job files against the test server, through the destination's public API: files
//! written by `dest_postgres::Csv`, loaded with `COPY` by `LoadClient::run_job` (each job one
//! transaction).

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use dest_core::{Column, DataType, Error, LoadClient, LoadTarget, Result, TableSchema, Value};
use dest_postgres::Csv;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::{create_tables, job, schema, write_job, Dataset};

fn ts() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Writes `rows` through the csv writer into `dir/<name>.csv` and loads it into dataset
/// table `table` (one transaction: `COPY`, then the job's key).
async fn copy_rows(
    client: &dyn LoadClient,
    dir: &Path,
    table: &str,
    columns: &[Column],
    rows: &[Vec<Value>],
    name: &str,
) -> Result<u64> {
    let path = dir.join(format!("{name}.csv"));
    write_job(&Csv::new(), &path, columns, rows);
    let result = client
        .run_job(&job(table, &path, "csv", name))
        .await
        .map(|outcome| outcome.rows);
    std::fs::remove_file(&path).unwrap();
    result
}

pub(crate) fn all_types_table(name: &str) -> TableSchema {
    let mut t = TableSchema::new(name);
    t.columns = vec![
        Column::new("id", DataType::Bigint),
        Column::new("b", DataType::Bool),
        Column::new("i", DataType::Bigint),
        Column {
            precision: Some(16),
            ..Column::new("small", DataType::Bigint)
        },
        Column::new("d", DataType::Double),
        Column::new("dec", DataType::Decimal),
        Column::new("w", DataType::Wei),
        Column::new("s", DataType::Text),
        Column::new("ts", DataType::Timestamp),
        Column {
            timezone: Some(false),
            ..Column::new("naive", DataType::Timestamp)
        },
        Column {
            precision: Some(3),
            ..Column::new("ts3", DataType::Timestamp)
        },
        Column::new("dt", DataType::Date),
        Column::new("tm", DataType::Time),
        Column::new("bin", DataType::Binary),
        Column::new("j", DataType::Json),
    ];
    t
}

pub(crate) fn all_types_rows() -> Vec<Vec<Value>> {
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let time = NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap();
    let mut rows = vec![
        vec![
            Value::Int(1),
            Value::Bool(true),
            Value::Int(i64::MAX),
            Value::Int(-32768),
            Value::Double(0.1 + 0.2),
            Value::Number("12345678901234567890123456789.123456789".into()),
            Value::Number(format!("{}.{}", "9".repeat(76), "1".repeat(78))),
            Value::Text("Alice O'Neil\nsays \"hi\", ok?\r\n\\N \\. 🦀".into()),
            Value::Timestamp(ts() + chrono::Duration::microseconds(123_456)),
            Value::NaiveTimestamp(date.and_time(time)),
            Value::Timestamp(ts() + chrono::Duration::microseconds(987_654)),
            Value::Date(date),
            Value::Time(time),
            Value::Binary(vec![0, b',', b'"', b'\n', 0xff]),
            Value::Json(serde_json::json!({"b": [1, "x'y\"z,\n"], "a": null, "n": 1.50})),
        ],
        vec![
            Value::Int(2),
            Value::Bool(false),
            Value::Int(i64::MIN),
            Value::Int(0),
            Value::Double(-1.5e300),
            Value::Number("-0.000000001".into()),
            Value::Number("0".into()),
            Value::Text(String::new()),
            Value::Timestamp(ts()),
            Value::NaiveTimestamp(ts().naive_utc()),
            Value::Timestamp(ts()),
            Value::Date(NaiveDate::from_ymd_opt(1, 1, 1).unwrap()),
            Value::Time(NaiveTime::from_hms_opt(0, 0, 0).unwrap()),
            Value::Binary(vec![]),
            Value::Json(serde_json::json!("just text")),
        ],
        vec![
            Value::Int(3),
            Value::Bool(true),
            Value::Int(7),
            Value::Int(7),
            Value::Double(5e-324),
            Value::Number("1e5".into()),
            Value::Number("+12".into()),
            Value::Text("\\.".into()),
            Value::Timestamp(Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap()),
            Value::NaiveTimestamp(
                NaiveDate::from_ymd_opt(9999, 12, 31)
                    .unwrap()
                    .and_time(time),
            ),
            Value::Timestamp(Utc.with_ymd_and_hms(2000, 2, 29, 0, 0, 0).unwrap()),
            Value::Date(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap()),
            Value::Time(NaiveTime::from_hms_micro_opt(12, 0, 0, 1).unwrap()),
            Value::Binary((0..=255).collect()),
            Value::Json(
                serde_json::from_str(r#"[{"deep": {"x": [true, false, null]}}, 1e400, 1.50]"#)
                    .unwrap(),
            ),
        ],
    ];
    // non-finite doubles become NULL, and a row of NULLs but the id
    let mut nulls = vec![Value::Null; 15];
    nulls[0] = Value::Int(4);
    nulls[4] = Value::Double(f64::NAN);
    rows.push(nulls);
    let mut inf = rows[1].clone();
    inf[0] = Value::Int(5);
    inf[4] = Value::Double(f64::NEG_INFINITY);
    rows.push(inf);
    rows
}

#[tokio::test]
async fn copy_stores_what_insert_values_stores() {
    let ds = Dataset::new("csv::copy_matches_insert").await;
    let client = ds.client(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let via_csv = all_types_table("via_csv");
    let via_insert = all_types_table("via_insert");
    create_tables(
        &*client,
        &schema(&[via_csv.clone(), via_insert.clone()]),
        LoadTarget::Dataset,
    )
    .await;
    let rows = all_types_rows();
    let csv_target = ds.qualified("via_csv");
    let insert_target = ds.qualified("via_insert");
    let n = copy_rows(
        &*client,
        dir.path(),
        "via_csv",
        &via_csv.columns,
        &rows,
        "all",
    )
    .await
    .unwrap();
    assert_eq!(n, rows.len() as u64);

    let mut insert = format!("INSERT INTO {insert_target} VALUES ");
    let mut lit = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            lit.push(b',');
        }
        lit.push(b'(');
        for (j, v) in r.iter().enumerate() {
            if j > 0 {
                lit.push(b',');
            }
            dest_postgres::render_value(&mut lit, v).unwrap();
        }
        lit.push(b')');
    }
    insert.push_str(std::str::from_utf8(&lit).unwrap());
    ds.admin.batch_execute(&insert).await.unwrap();

    // jsonb has no equality through EXCEPT problems; compare every column as text too
    for (a, b) in [(&csv_target, &insert_target), (&insert_target, &csv_target)] {
        let diff = test_support::query_rows(
            &ds.admin,
            &format!("SELECT * FROM {a} EXCEPT SELECT * FROM {b}"),
        )
        .await;
        assert!(diff.is_empty(), "{a} has rows {b} lacks: {diff:?}");
    }
    let csv_text = test_support::query_rows(
        &ds.admin,
        &format!("SELECT t::text FROM {csv_target} AS t ORDER BY id"),
    )
    .await;
    let insert_text = test_support::query_rows(
        &ds.admin,
        &format!("SELECT t::text FROM {insert_target} AS t ORDER BY id"),
    )
    .await;
    assert_eq!(csv_text, insert_text);
    assert_eq!(csv_text.len(), rows.len());
    // empty string and NULL stay apart
    let s = test_support::query_rows(
        &ds.admin,
        &format!("SELECT id, s IS NULL, s FROM {csv_target} WHERE id IN (2, 4) ORDER BY id"),
    )
    .await;
    assert_eq!(
        s,
        vec![
            vec![Some("2".into()), Some("f".into()), Some(String::new())],
            vec![Some("4".into()), Some("t".into()), None],
        ]
    );

    // a header-only file loads nothing; a one-column table keeps a NULL row
    let n = copy_rows(
        &*client,
        dir.path(),
        "via_csv",
        &via_csv.columns,
        &[],
        "empty",
    )
    .await
    .unwrap();
    assert_eq!(n, 0);
    let one = ds.qualified("one");
    ds.admin
        .batch_execute(&format!("CREATE TABLE {one} (v varchar)"))
        .await
        .unwrap();
    let n = copy_rows(
        &*client,
        dir.path(),
        "one",
        &[Column::new("v", DataType::Text)],
        &[
            vec![Value::Null],
            vec![Value::Text(String::new())],
            vec![Value::Null],
        ],
        "one",
    )
    .await
    .unwrap();
    assert_eq!(n, 3);
    let got =
        test_support::query_rows(&ds.admin, &format!("SELECT count(*), count(v) FROM {one}")).await;
    assert_eq!(got, vec![vec![Some("3".into()), Some("1".into())]]);
}

#[tokio::test]
async fn copy_error_names_file_table_line_and_column() {
    let ds = Dataset::new("csv::copy_error").await;
    let client = ds.client(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let target = ds.qualified("t");
    ds.admin
        .batch_execute(&format!("CREATE TABLE {target} (id bigint, s varchar(3))"))
        .await
        .unwrap();
    let cols = [
        Column::new("id", DataType::Bigint),
        Column {
            precision: Some(3),
            ..Column::new("s", DataType::Text)
        },
    ];
    let rows = vec![
        vec![Value::Int(1), Value::Text("a\nb".into())],
        vec![Value::Int(2), Value::Text("ok".into())],
        vec![Value::Int(3), Value::Text("toolong".into())],
    ];
    let err = copy_rows(&*client, dir.path(), "t", &cols, &rows, "bad")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bad.csv into "), "{text}");
    assert!(text.contains(&target), "{text}");
    assert!(
        text.contains("value too long for type character varying(3) (22001)"),
        "{text}"
    );
    // lines of the file: 1 is the header, a line break inside quotes counts too
    assert!(
        text.contains(r#"where: COPY t, line 5, column s: "toolong""#),
        "{text}"
    );
    assert!(!err.is_transient());
    // ... and the row is the third one all the same
    assert!(matches!(err, Error::AtRow { row: 2, .. }), "{err:?}");

    // the failing value itself holds a line break
    let rows = vec![
        vec![Value::Int(1), Value::Text("a\nb".into())],
        vec![Value::Int(2), Value::Text("x\ny\nz".into())],
        vec![Value::Int(3), Value::Text("ok".into())],
    ];
    let err = copy_rows(&*client, dir.path(), "t", &cols, &rows, "multiline")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AtRow { row: 1, .. }), "{err:?}");
    let count =
        test_support::query_rows(&ds.admin, &format!("SELECT count(*) FROM {target}")).await;
    assert_eq!(count, vec![vec![Some("0".into())]]);

    // an error early in a file of several chunks still names its line
    let mut big = vec![vec![Value::Int(0), Value::Text("toolong".into())]];
    big.extend((1..200_000).map(|i| vec![Value::Int(i), Value::Text("ok".into())]));
    let err = copy_rows(&*client, dir.path(), "t", &cols, &big, "big")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"where: COPY t, line 2, column s: "toolong""#),
        "{err}"
    );
    assert!(matches!(err, Error::AtRow { row: 0, .. }), "{err:?}");

    // a missing column is a server error too
    let err = copy_rows(
        &*client,
        dir.path(),
        "t",
        &[Column::new("nope", DataType::Bigint)],
        &[vec![Value::Int(1)]],
        "missing",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("\"nope\""), "{err}");
    assert!(!matches!(err, Error::AtRow { .. }), "{err:?}");
}

/// Any text without NUL goes through the writer and COPY and comes back unchanged.
#[test]
fn text_survives_copy() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (ds, loader, target) = rt.block_on(async {
        let ds = Dataset::new("csv::text_survives_copy").await;
        let loader = ds.client(Default::default()).await;
        let target = ds.qualified("t");
        ds.admin
            .batch_execute(&format!(
                "CREATE TABLE {target} (id bigint, v varchar, w varchar)"
            ))
            .await
            .unwrap();
        (tokio::sync::Mutex::new(ds), loader, target)
    });
    let cols = [
        Column::new("id", DataType::Bigint),
        Column::new("v", DataType::Text),
        Column::new("w", DataType::Text),
    ];
    let strategy = prop::collection::vec(
        (
            any::<String>().prop_map(|s| s.replace('\0', "")),
            "[,\"\r\n\\\\.N ]{0,6}",
        ),
        1..8,
    );
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    runner
        .run(&strategy, |pairs| {
            let rows: Vec<Vec<Value>> = pairs
                .iter()
                .enumerate()
                .map(|(i, (v, w))| {
                    vec![
                        Value::Int(i as i64),
                        Value::Text(v.clone()),
                        Value::Text(w.clone()),
                    ]
                })
                .collect();
            let got = rt.block_on(async {
                let ds = ds.lock().await;
                ds.admin
                    .batch_execute(&format!("TRUNCATE {target}"))
                    .await
                    .unwrap();
                copy_rows(&*loader, dir.path(), "t", &cols, &rows, "prop")
                    .await
                    .unwrap();
                let stmt = format!("SELECT v, w FROM {target} ORDER BY id");
                ds.admin
                    .query(stmt.as_str(), &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
                    .collect::<Vec<_>>()
            });
            prop_assert_eq!(got, pairs);
            Ok(())
        })
        .unwrap();
}
