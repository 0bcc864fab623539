//! Bound execution of `insert_values` job files (the default `insert_values_execution`)
//! against the test server, through the destination's public API: job files written by
//! `dest_postgres::InsertValues`, tables made by `LoadClient::update_schema`, files loaded by
//! `LoadClient::run_job` (each job one transaction). The destination's `max_statement_bytes`
//! is the size of a batch.

use std::io::Write as _;
use std::path::Path;

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use dest_core::{Column, DataType, Error, FileFormat, LoadTarget, TableSchema, Value};
use dest_postgres::InsertValues;
use test_support::query_rows;

use crate::support::{batch_bytes, create_tables, job, schema, Dataset};

fn ts() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap()
}

/// Writes a job file with the real `insert_values` writer.
fn write_job(path: &Path, columns: &[Column], rows: &[Vec<Value>], statement_bytes: usize) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = InsertValues::new(statement_bytes)
        .writer("t", columns, Box::new(std::io::BufWriter::new(file)))
        .unwrap();
    for r in rows {
        w.write_row(r).unwrap();
    }
    w.finish().unwrap().flush().unwrap();
}

fn all_types_table(name: &str) -> TableSchema {
    let mut t = TableSchema::new(name);
    t.columns = vec![
        Column::new("id", DataType::Bigint),
        Column::new("b", DataType::Bool),
        Column {
            precision: Some(16),
            ..Column::new("small", DataType::Bigint)
        },
        Column::new("d", DataType::Double),
        Column::new("dec", DataType::Decimal),
        Column::new("w", DataType::Wei),
        Column::new("s", DataType::Text),
        Column {
            precision: Some(5),
            ..Column::new("s5", DataType::Text)
        },
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
        Column::new("we\"ird\nname", DataType::Text),
    ];
    t
}

const NASTY: &str = "Alice O'Neil\nsays \"hi\", ok?\r\n\\N \\. \\x41 E'' '' 🦀 ünï {} ),(";

fn all_types_rows() -> Vec<Vec<Value>> {
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let time = NaiveTime::from_hms_micro_opt(23, 59, 58, 123_456).unwrap();
    let wei = format!("{}.{}", "9".repeat(76), "1".repeat(78));
    let mut rows = vec![
        vec![
            Value::Int(1),
            Value::Bool(true),
            Value::Int(-32768),
            Value::Double(0.1 + 0.2),
            Value::Number("12345678901234567890123456789.123456789".into()),
            Value::Number(wei),
            Value::Text(NASTY.into()),
            Value::Text("abc  ".into()),
            Value::Timestamp(ts() + chrono::Duration::microseconds(123_456)),
            Value::NaiveTimestamp(date.and_time(time)),
            Value::Timestamp(ts() + chrono::Duration::microseconds(987_654)),
            Value::Date(date),
            Value::Time(time),
            Value::Binary(vec![0, b',', b'\'', b'\\', b'\n', 0xff]),
            Value::Json(serde_json::json!({"b": [1, "x'y\"z,\n\\"], "a": null, "n": 1.50})),
            Value::Text("x".into()),
        ],
        vec![
            Value::Int(2),
            Value::Bool(false),
            Value::Int(0),
            Value::Double(-1.5e300),
            Value::Number("-0.000000001".into()),
            Value::Number("0".into()),
            Value::Text(String::new()),
            Value::Text("🦀🦀🦀🦀🦀".into()),
            Value::Timestamp(ts()),
            Value::NaiveTimestamp(ts().naive_utc()),
            Value::Timestamp(ts()),
            Value::Date(NaiveDate::from_ymd_opt(1, 1, 1).unwrap()),
            Value::Time(NaiveTime::from_hms_opt(0, 0, 0).unwrap()),
            Value::Binary(vec![]),
            Value::Json(serde_json::json!("just text")),
            Value::Text(String::new()),
        ],
        vec![
            Value::Int(3),
            Value::Bool(true),
            Value::Int(7),
            Value::Double(5e-324),
            Value::Number("1e5".into()),
            Value::Number("+12".into()),
            Value::Text("\\".into()),
            Value::Text("'".into()),
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
            Value::Null,
        ],
    ];
    // NULL everywhere but the id, and a non-finite double (NULL too)
    let mut nulls = vec![Value::Null; 16];
    nulls[0] = Value::Int(4);
    nulls[3] = Value::Double(f64::NAN);
    rows.push(nulls);
    // many more rows, so the file has several statements and batches
    for i in 5..400 {
        let mut r = rows[i % 3].clone();
        r[0] = Value::Int(i as i64);
        r[6] = Value::Text(format!("{NASTY} #{i}"));
        rows.push(r);
    }
    rows
}

/// Executes a job file the old way: its statements as SQL text.
async fn execute_literal(client: &tokio_postgres::Client, target: &str, path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut sql = String::new();
    for line in text.split('\n') {
        match line.strip_prefix("INSERT INTO {}(") {
            Some(rest) => {
                sql.push_str("INSERT INTO ");
                sql.push_str(target);
                sql.push('(');
                sql.push_str(rest);
            }
            None => sql.push_str(line),
        }
        sql.push('\n');
    }
    client.batch_execute(&sql).await.unwrap();
}

#[tokio::test]
async fn round_trip_every_type() {
    let ds = Dataset::new("bound::round_trip_every_type").await;
    // small batches: many of them in flight one after the other
    let client = ds.client(batch_bytes(2000)).await;
    let bound = all_types_table("bound");
    let literal = all_types_table("literal");
    create_tables(
        &*client,
        &schema(&[bound.clone(), literal.clone()]),
        LoadTarget::Dataset,
    )
    .await;
    let bound_target = ds.qualified("bound");
    let literal_target = ds.qualified("literal");
    let rows = all_types_rows();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("round_trip.insert_values");
    write_job(&path, &bound.columns, &rows, 4096);

    let n = client
        .run_job(&job("bound", &path, "insert_values", "bound.small_batches"))
        .await
        .unwrap()
        .rows;
    assert_eq!(n, rows.len() as u64);
    execute_literal(&ds.admin, &literal_target, &path).await;

    // both ways store the same
    let as_text = |t: &str| format!("SELECT r::text FROM {t} AS r ORDER BY id");
    let bound_text = query_rows(&ds.admin, &as_text(&bound_target)).await;
    let literal_text = query_rows(&ds.admin, &as_text(&literal_target)).await;
    assert_eq!(bound_text.len(), rows.len());
    assert_eq!(bound_text, literal_text);

    // and what went in comes back
    let got = ds
        .admin
        .query(
            &format!(
                "SELECT s, s5, bin, w::text, \"we\"\"ird\nname\", j::text, d, b \
                 FROM {bound_target} WHERE id <= 4 ORDER BY id"
            ),
            &[],
        )
        .await
        .unwrap();
    let text = |i: usize, c: usize| got[i].get::<_, Option<String>>(c);
    assert_eq!(text(0, 0).as_deref(), Some(NASTY));
    assert_eq!(text(0, 1).as_deref(), Some("abc  "));
    assert_eq!(text(1, 0).as_deref(), Some(""));
    assert_eq!(text(1, 1).as_deref(), Some("🦀🦀🦀🦀🦀"));
    assert_eq!(text(2, 0).as_deref(), Some("\\"));
    assert_eq!(text(2, 1).as_deref(), Some("'"));
    assert_eq!(text(3, 0), None);
    let bin = |i: usize| got[i].get::<_, Option<Vec<u8>>>(2);
    assert_eq!(bin(0), Some(vec![0, b',', b'\'', b'\\', b'\n', 0xff]));
    assert_eq!(bin(1), Some(vec![]));
    assert_eq!(bin(2), Some((0..=255).collect()));
    assert_eq!(bin(3), None);
    assert_eq!(
        text(0, 3),
        Some(format!("{}.{}", "9".repeat(76), "1".repeat(78)))
    );
    assert_eq!(text(0, 4).as_deref(), Some("x"));
    assert_eq!(text(1, 4).as_deref(), Some(""));
    assert_eq!(text(2, 4), None);
    assert_eq!(
        text(0, 5).as_deref(),
        Some(r#"{"a": null, "b": [1, "x'y\"z,\n\\"], "n": 1.5}"#)
    );
    assert_eq!(got[0].get::<_, Option<f64>>(6), Some(0.1 + 0.2));
    assert_eq!(got[2].get::<_, Option<f64>>(6), Some(5e-324));
    assert_eq!(got[3].get::<_, Option<f64>>(6), None);
    assert_eq!(got[0].get::<_, Option<bool>>(7), Some(true));
    assert_eq!(got[1].get::<_, Option<bool>>(7), Some(false));

    // one batch for the whole file, and an empty file
    client
        .truncate(&["bound".into()], LoadTarget::Dataset)
        .await
        .unwrap();
    let one_batch = ds.client(batch_bytes(1 << 30)).await;
    let n = one_batch
        .run_job(&job("bound", &path, "insert_values", "bound.one_batch"))
        .await
        .unwrap()
        .rows;
    assert_eq!(n, rows.len() as u64);
    std::fs::write(&path, "").unwrap();
    let n = one_batch
        .run_job(&job("bound", &path, "insert_values", "bound.empty"))
        .await
        .unwrap()
        .rows;
    assert_eq!(n, 0);
    let again = query_rows(&ds.admin, &as_text(&bound_target)).await;
    assert_eq!(again, literal_text);

    // -0.0 keeps its sign (the literal, a numeric constant, loses it)
    write_job(
        &path,
        &bound.columns[..4],
        &[vec![
            Value::Int(-1),
            Value::Null,
            Value::Null,
            Value::Double(-0.0),
        ]],
        4096,
    );
    ds.client(batch_bytes(4096))
        .await
        .run_job(&job("bound", &path, "insert_values", "bound.negative_zero"))
        .await
        .unwrap();
    let zero = query_rows(
        &ds.admin,
        &format!("SELECT d::text FROM {bound_target} WHERE id = -1"),
    )
    .await;
    assert_eq!(zero, vec![vec![Some("-0".to_string())]]);

    ds.remove().await;
}

#[tokio::test]
async fn bad_values_name_the_column_and_line() {
    let ds = Dataset::new("bound::bad_values").await;
    let client = ds.client(batch_bytes(4000)).await;
    ds.admin
        .batch_execute(&format!(
            "CREATE TABLE {} \
             (id bigint NOT NULL, n bigint, s varchar(3), x numeric(5,2), ts timestamptz)",
            ds.qualified("t")
        ))
        .await
        .unwrap();
    let target = ds.qualified("t");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad_values.insert_values");
    let load = job("t", &path, "insert_values", "t.1");
    // what every error of this job starts with: the file and the table it loads into
    let ctx = format!("loading {} into {target}", path.display());
    let header = "INSERT INTO {}(\"id\",\"n\",\"s\",\"x\",\"ts\")\nVALUES\n";
    let ok_row = |i: usize| format!("({i},{i},E'ab',1.5,'2024-01-01T10:00:00+00:00')");
    // a file of many rows (several statements and batches) with `bad` as row `at`
    let file = |bad: &str, at: usize| {
        let mut text = String::new();
        for i in 0..300 {
            if i % 100 == 0 {
                if i > 0 {
                    text.push_str(";\n");
                }
                text.push_str(header);
            } else {
                text.push_str(",\n");
            }
            if i == at {
                text.push_str(bad);
            } else {
                text.push_str(&ok_row(i));
            }
        }
        text.push(';');
        text
    };
    let line_of = |at: usize| at + 3 + (at / 100) * 2;
    let cases = [
        // text into a bigint column, first statement
        (
            "(7,E'abc',E'ab',1.5,NULL)",
            7,
            "column `n` (bigint): invalid input syntax for type bigint: \"abc\" (22P02)",
        ),
        // too long for varchar(3), in a later batch
        (
            "(250,250,E'abcd',1.5,NULL)",
            250,
            "column `s` (character varying(3)): value too long for type character varying(3) (22001)",
        ),
        // numeric overflow; trailing spaces are cut, not an error
        (
            "(120,120,E'ab     ',1234.5,NULL)",
            120,
            "column `x` (numeric(5,2)): numeric field overflow (22003)",
        ),
        // two bad values in one row: the first column is reported
        (
            "(0,E'x',E'abcd',NULL,E'noon')",
            0,
            "column `n` (bigint)",
        ),
        (
            "(299,299,E'ab',NULL,E'not a time')",
            299,
            "column `ts` (timestamp with time zone): invalid input syntax for type timestamp with time zone",
        ),
    ];
    for (bad, at, want) in cases {
        std::fs::write(&path, file(bad, at)).unwrap();
        let e = client.run_job(&load).await.unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{ctx}: line {} of the job file, ", line_of(at))),
            "{bad}: {msg}"
        );
        // the failing row's index among the file's rows, for the pipeline
        assert!(
            matches!(e, Error::AtRow { row, .. } if row == at as u64),
            "{bad}: {e:?}"
        );
        assert!(msg.contains(want), "{bad}: {msg}");
        assert!(!e.is_transient(), "{msg}");
    }
    // a bad row in a file of one batch; a NOT NULL violation names the batch's lines
    std::fs::write(&path, file("(NULL,1,E'ab',NULL,NULL)", 5)).unwrap();
    let e = ds
        .client(batch_bytes(1 << 20))
        .await
        .run_job(&load)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("{ctx}: a row on lines 3-")) && msg.contains("(23502)"),
        "{msg}"
    );
    assert!(!matches!(e, Error::AtRow { .. }), "{e:?}");

    // a column the table lacks, and a table that does not exist: the server's errors
    std::fs::write(&path, "INSERT INTO {}(\"nope\")\nVALUES\n(1);").unwrap();
    let e = client.run_job(&load).await.unwrap_err();
    assert!(e.to_string().contains("\"nope\""), "{e}");
    let e = client
        .run_job(&job("missing", &path, "insert_values", "missing.1"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("(42P01)"), "{e}");

    // a malformed row after batches were sent
    let mut text = file("(1,1,E'ab',1.5,NULL)", 1);
    text.push_str("\nINSERT INTO {}(\"id\",\"n\",\"s\",\"x\",\"ts\")\nVALUES\n(1,2);");
    std::fs::write(&path, text).unwrap();
    let e = client.run_job(&load).await.unwrap_err();
    assert!(matches!(e, Error::Internal(_)), "{e}");
    assert!(e.to_string().contains(", line 309: "), "{e}");

    let count = query_rows(&ds.admin, &format!("SELECT count(*) FROM {target}")).await;
    assert_eq!(count, vec![vec![Some("0".into())]]);
    ds.remove().await;
}
