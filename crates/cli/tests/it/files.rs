//! CSV and Parquet files on the command line, beside JSON: types, NULL and the empty string,
//! hostile text, delimiters, hints, gzip, mixed inputs in one run, and bad files named with
//! their line while nothing loads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use pipeline::arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use test_support::{connect, fresh_schema, pg_url, query_rows};

use crate::common::*;

/// `dlt-rs load FILES... --table t` into dataset `ds`, with `extra` flags.
fn load(dir: &Path, ds: &str, files: &[&Path], extra: &[&str]) -> std::process::Output {
    load_reading(dir, ds, files, extra, std::process::Stdio::null())
}

/// [`load`] with `stdin` as standard input (a file `-` reads it).
fn load_reading(
    dir: &Path,
    ds: &str,
    files: &[&Path],
    extra: &[&str],
    stdin: std::process::Stdio,
) -> std::process::Output {
    let url = pg_url();
    let pipes = dir.join("pipes").join(ds);
    let pipes = pipes.to_string_lossy().into_owned();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["load"];
    args.extend(names.iter().map(String::as_str));
    args.extend([
        "--destination",
        "postgres",
        "--credentials",
        &url,
        "--pipeline",
        ds,
        "--pipelines-dir",
        &pipes,
        "--dataset",
        ds,
        "--table",
        "t",
    ]);
    args.extend_from_slice(extra);
    dlt_rs_reading(&args, dir, stdin)
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The last line of stderr that is not a progress line.
fn last_error_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .rfind(|l| !l.starts_with("progress:") && !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

async fn text_rows(db: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    query_rows(db, sql)
        .await
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

async fn types(db: &tokio_postgres::Client, ds: &str) -> Vec<String> {
    text_rows(
        db,
        &format!(
            "select column_name || ' ' || data_type from information_schema.columns \
             where table_schema = '{ds}' and table_name = 't' and column_name not like '\\_dlt%' \
             order by ordinal_position"
        ),
    )
    .await
}

const TYPED_CSV: &str = "id,name,zip,price,ok,at,big,empty,score\n\
1,\"a \"\"q\"\", b\",007,1.5,true,2024-01-01T10:00:00Z,123456789012345678901234567890,\"\",1\r\n\
2,,00501,2,FALSE,2024-01-02T10:00:00Z,-1,,2.5\n\
3,\"multi\nline \\\\ 😀\",1,.5,,,0,x,3\n";

#[tokio::test]
async fn csv_columns_are_typed_and_null_and_empty_stay_apart() {
    let db = connect().await;
    let ds = fresh_schema(&db, "files::csv_typed").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typed.csv");
    std::fs::write(&file, TYPED_CSV).unwrap();
    ok(&load(dir.path(), &ds, &[&file], &[]));
    assert_eq!(
        types(&db, &ds).await,
        [
            "id bigint",
            "name character varying",
            "zip character varying",
            "price double precision",
            "ok boolean",
            "at timestamp with time zone",
            "big numeric",
            "empty character varying",
            // the first value is `1`, but every value of the column is a number: double
            "score double precision",
        ]
    );
    db.batch_execute("SET TIME ZONE 'UTC'").await.unwrap();
    assert_eq!(
        text_rows(
            &db,
            &format!(
                "select id::text, name, zip, price::text, ok::text, at::text, \
                 trim(trailing '.' from trim(trailing '0' from big::text)), empty, \
                 score::text from {ds}.t order by id"
            )
        )
        .await,
        [
            "1|a \"q\", b|007|1.5|true|2024-01-01 10:00:00+00|123456789012345678901234567890||1",
            "2|NULL|00501|2|false|2024-01-02 10:00:00+00|-1|NULL|2.5",
            "3|multi\nline \\\\ 😀|1|0.5|NULL|NULL|0|x|3",
        ]
    );
}

#[tokio::test]
async fn gzip_tsv_delimiters_hints_and_json_beside_csv() {
    let db = connect().await;
    let dir = tempfile::tempdir().unwrap();

    // gzip CSV and JSON Lines in one run, into one table
    let ds = fresh_schema(&db, "files::csv_gzip_mixed").await;
    let gz = dir.path().join("a.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(b"id,v\n1,x\n2,y\n").unwrap();
    enc.finish().unwrap();
    let json = dir.path().join("b.jsonl");
    std::fs::write(&json, "{\"id\": 3, \"v\": \"z\"}\n").unwrap();
    ok(&load(dir.path(), &ds, &[&gz, &json], &[]));
    assert_eq!(
        text_rows(&db, &format!("select id::text, v from {ds}.t order by id")).await,
        ["1|x", "2|y", "3|z"]
    );

    // a TSV file (tab by its name) and a semicolon file with --csv-delimiter
    let ds = fresh_schema(&db, "files::tsv").await;
    let tsv = dir.path().join("c.tsv");
    std::fs::write(&tsv, "id\tv\n1\ta,b\n").unwrap();
    ok(&load(dir.path(), &ds, &[&tsv], &[]));
    assert_eq!(
        text_rows(&db, &format!("select id::text, v from {ds}.t")).await,
        ["1|a,b"]
    );
    let ds = fresh_schema(&db, "files::semicolon").await;
    let semi = dir.path().join("d.txt");
    std::fs::write(&semi, "id;v\n1;a,b\n").unwrap();
    ok(&load(dir.path(), &ds, &[&semi], &["--csv-delimiter", ";"]));
    assert_eq!(
        text_rows(&db, &format!("select id::text, v from {ds}.t")).await,
        ["1|a,b"]
    );

    // a hint overrides the inference: the numbers stay text, digit for digit
    let ds = fresh_schema(&db, "files::csv_hint").await;
    let zips = dir.path().join("zips.csv");
    std::fs::write(&zips, "Zip Code,n\n501,1\n1234,2\n").unwrap();
    ok(&load(
        dir.path(),
        &ds,
        &[&zips],
        &["--columns", r#"{"zip_code": {"data_type": "text"}}"#],
    ));
    assert_eq!(
        types(&db, &ds).await,
        ["zip_code character varying", "n bigint"]
    );
}

#[tokio::test]
async fn a_bad_csv_row_names_file_and_line_and_loads_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "files::csv_bad_row").await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "id,v\n1,a\n").unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "id,v\n1,a\n2,\"b\nc\"\n3,c,extra\n").unwrap();
    let out = load(dir.path(), &ds, &[&good, &bad], &[]);
    assert!(!out.status.success());
    let line = last_error_line(&out);
    assert!(line.contains("bad.csv, line 5"), "{line}");
    let tables = text_rows(
        &db,
        &format!("select count(*)::text from information_schema.tables where table_schema = '{ds}' and table_name = 't'"),
    )
    .await;
    assert_eq!(tables, ["0"], "nothing was loaded");

    // on standard input too, blank lines before the header included
    let piped = dir.path().join("piped");
    std::fs::write(&piped, "\n\n id,v\n1,a\n3,c,extra\n").unwrap();
    let out = load_reading(
        dir.path(),
        &ds,
        &[Path::new("-")],
        &[],
        std::fs::File::open(&piped).unwrap().into(),
    );
    assert!(!out.status.success());
    let line = last_error_line(&out);
    assert!(line.contains("line 5"), "{line}");

    // an unterminated quote names the line where the field began
    let open = dir.path().join("open.csv");
    std::fs::write(&open, "id,v\n1,\"never closed\n2,x\n").unwrap();
    let out = load(dir.path(), &ds, &[&open], &[]);
    assert!(!out.status.success());
    assert!(
        last_error_line(&out).contains("open.csv, line 2"),
        "{}",
        last_error_line(&out)
    );
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

#[tokio::test]
async fn parquet_files_load_as_arrow_data_beside_json() {
    let db = connect().await;
    let ds = fresh_schema(&db, "files::parquet").await;
    let dir = tempfile::tempdir().unwrap();
    let batch = RecordBatch::try_from_iter(vec![
        ("ID", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(vec![Some(""), None])) as ArrayRef,
        ),
    ])
    .unwrap();
    let pq = dir.path().join("a.parquet");
    write_parquet(&pq, &batch);
    // a Parquet file is known by its content too
    let unnamed = dir.path().join("b.data");
    write_parquet(&unnamed, &batch);
    ok(&load(dir.path(), &ds, &[&pq, &unnamed], &[]));
    // dlt's Arrow semantics: no _dlt_load_id / _dlt_id
    assert_eq!(
        types(&db, &ds).await,
        ["id bigint", "name character varying"]
    );
    let cols = text_rows(
        &db,
        &format!("select count(*)::text from information_schema.columns where table_schema = '{ds}' and table_name = 't'"),
    )
    .await;
    assert_eq!(cols, ["2"]);
    assert_eq!(
        text_rows(
            &db,
            &format!("select id::text, name from {ds}.t order by id, name")
        )
        .await,
        ["1|", "1|", "2|NULL", "2|NULL"]
    );

    // beside JSON in one run: the table gets dlt's columns, filled in for the Parquet rows
    let ds = fresh_schema(&db, "files::parquet_json").await;
    let json = dir.path().join("c.jsonl");
    std::fs::write(&json, "{\"id\": 3, \"name\": \"j\"}\n").unwrap();
    ok(&load(dir.path(), &ds, &[&json, &pq], &[]));
    assert_eq!(
        text_rows(
            &db,
            &format!("select id::text, coalesce(name, 'NULL'), (_dlt_id is not null)::text from {ds}.t order by id")
        )
        .await,
        ["1||true", "2|NULL|true", "3|j|true"]
    );

    // a file that is not Parquet after all: named, nothing loaded
    let ds = fresh_schema(&db, "files::parquet_bad").await;
    let broken = dir.path().join("broken.parquet");
    std::fs::write(&broken, b"PAR1 this is not parquet").unwrap();
    let out = load(dir.path(), &ds, &[&broken], &[]);
    assert!(!out.status.success());
    assert!(
        last_error_line(&out).contains("broken.parquet"),
        "{}",
        last_error_line(&out)
    );
    let tables = text_rows(
        &db,
        &format!(
            "select count(*)::text from information_schema.tables where table_schema = '{ds}'"
        ),
    )
    .await;
    assert_eq!(tables, ["0"]);
}
