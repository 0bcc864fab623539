//! `dlt-rs filesystem`: a folder of JSON Lines, gzip CSV and Parquet files into one table,
//! then re-runs that load only new or changed files (modification time), a malformed file
//! that loads nothing, a crash at every stage that neither loses nor doubles a file, and
//! schemes that are not supported yet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pipeline::arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use test_support::{connect, fresh_schema, pg_url};

use crate::common::*;

/// `dlt-rs filesystem ARGS...` into dataset `ds` (pipeline `ds`, table `t` unless `args`
/// name one), with `DLT_RS_FAULT=fault` when given.
fn fs_run(dir: &Path, ds: &str, args: &[&str], fault: Option<&str>) -> Output {
    let url = pg_url();
    let pipes = dir.join("pipes").to_string_lossy().into_owned();
    let mut all = vec!["filesystem"];
    all.extend_from_slice(args);
    all.extend([
        "--credentials",
        &url,
        "--pipeline",
        ds,
        "--pipelines-dir",
        &pipes,
        "--dataset",
        ds,
    ]);
    if !args.contains(&"--table") && !args.contains(&"--format") {
        all.extend(["--table", "t"]);
    }
    match fault {
        None => dlt_rs(&all, dir),
        Some(point) => Command::new(BIN)
            .args(&all)
            .current_dir(dir)
            .env("HOME", dir)
            .env("DLT_RS_FAULT", point)
            .output()
            .unwrap(),
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_parquet(path: &Path, ids: Vec<i64>, names: Vec<&str>) {
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
    ])
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn write_gz(path: &Path, text: &str) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

/// Sets the modification time of `path` to `base` plus `secs`.
fn touch(path: &Path, base: SystemTime, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(base + Duration::from_secs(secs)).unwrap();
}

/// The three files of the first run, with modification times base+1, +2, +3.
fn three_files(data: &Path, base: SystemTime) {
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(
        data.join("a.jsonl"),
        "{\"id\": 1, \"name\": \"a1\"}\n{\"id\": 2, \"name\": \"a2\"}\n",
    )
    .unwrap();
    write_gz(&data.join("b.csv.gz"), "id,name\n3,b3\n4,b4\n");
    write_parquet(&data.join("c.parquet"), vec![5], vec!["c5"]);
    touch(&data.join("a.jsonl"), base, 1);
    touch(&data.join("b.csv.gz"), base, 2);
    touch(&data.join("c.parquet"), base, 3);
}

async fn rows(db: &tokio_postgres::Client, ds: &str) -> Vec<String> {
    contents(
        db,
        &format!("select id || ' ' || name from {ds}.t order by id, _dlt_load_id"),
    )
    .await
}

#[tokio::test]
async fn new_and_changed_files_load_once_each_run() {
    let db = connect().await;
    let ds = fresh_schema(&db, "filesystem::incremental").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = SystemTime::now() - Duration::from_secs(3600);
    three_files(&data, base);
    let folder = data.to_string_lossy().into_owned();

    let first = ok(&fs_run(dir.path(), &ds, &[&folder], None));
    assert!(first.contains("3 new or changed of 3 files"), "{first}");
    assert_eq!(
        rows(&db, &ds).await,
        ["1 a1", "2 a2", "3 b3", "4 b4", "5 c5"]
    );

    // nothing changed: nothing loads, not even a package
    let second = ok(&fs_run(dir.path(), &ds, &[&folder], None));
    assert!(second.contains("no new or changed files"), "{second}");
    assert!(second.contains("0 package(s)"), "{second}");
    assert_eq!(rows(&db, &ds).await.len(), 5);

    // a.jsonl changes (a later modification time), d.jsonl is new, b and c stay
    std::fs::write(
        data.join("a.jsonl"),
        "{\"id\": 1, \"name\": \"a1 again\"}\n",
    )
    .unwrap();
    touch(&data.join("a.jsonl"), base, 10);
    std::fs::write(data.join("d.jsonl"), "{\"id\": 6, \"name\": \"d6\"}\n").unwrap();
    touch(&data.join("d.jsonl"), base, 10);
    let third = ok(&fs_run(dir.path(), &ds, &[&folder], None));
    assert!(third.contains("2 new or changed of 4 files"), "{third}");
    assert_eq!(
        rows(&db, &ds).await,
        ["1 a1", "1 a1 again", "2 a2", "3 b3", "4 b4", "5 c5", "6 d6"]
    );

    // a file at the newest time that was not loaded yet (same mtime as a and d): loaded;
    // a and d, also at that time, are not loaded again
    std::fs::write(data.join("e.jsonl"), "{\"id\": 7, \"name\": \"e7\"}\n").unwrap();
    touch(&data.join("e.jsonl"), base, 10);
    let fourth = ok(&fs_run(dir.path(), &ds, &[&folder], None));
    assert!(fourth.contains("1 new or changed of 5 files"), "{fourth}");
    assert_eq!(rows(&db, &ds).await.len(), 8);

    // the cursor is in the destination's state too: a new machine (no working folder)
    // restores it and loads nothing again
    std::fs::remove_dir_all(dir.path().join("pipes")).unwrap();
    let restored = ok(&fs_run(dir.path(), &ds, &[&folder], None));
    assert!(restored.contains("no new or changed files"), "{restored}");
    assert_eq!(rows(&db, &ds).await.len(), 8);
}

#[tokio::test]
async fn a_glob_a_format_and_the_default_table() {
    let db = connect().await;
    let ds = fresh_schema(&db, "filesystem::glob").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("2024")).unwrap();
    std::fs::write(data.join("top.jsonl"), "{\"id\": 1}\n").unwrap();
    std::fs::write(data.join("2024/deep.jsonl"), "{\"id\": 2}\n").unwrap();
    std::fs::write(data.join("2024/other.txt"), "{\"id\": 3}\n").unwrap();
    let url = format!("file://{}", data.display());
    let out = ok(&fs_run(
        dir.path(),
        &ds,
        &[&url, "--glob", "**/*.jsonl", "--format", "jsonl"],
        None,
    ));
    assert!(out.contains("2 new or changed of 2 files"), "{out}");
    let ids = contents(
        &db,
        &format!("select string_agg(id::text, ',' order by id) from {ds}.read_jsonl"),
    )
    .await;
    assert_eq!(ids, ["1,2"]);

    // a pattern in the path: the folder before it, the rest as the pattern
    let pattern = format!("{}/2024/*.txt", data.display());
    let out = ok(&fs_run(
        dir.path(),
        &ds,
        &[&pattern, "--table", "txt"],
        None,
    ));
    assert!(out.contains("1 new or changed of 1 files"), "{out}");
    assert_eq!(
        contents(&db, &format!("select id::text from {ds}.txt")).await,
        ["3"]
    );

    // without --table or --format: a one-line error
    let out = dlt_rs(&["filesystem", &url, "--pipeline", "x"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--table"), "{err}");
}

#[tokio::test]
async fn a_malformed_file_loads_nothing_and_is_read_again_once_fixed() {
    let db = connect().await;
    let ds = fresh_schema(&db, "filesystem::malformed").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.jsonl"), "{\"id\": 1, \"name\": \"a\"}\n").unwrap();
    std::fs::write(
        data.join("b.jsonl"),
        "{\"id\": 2, \"name\": \"b\"}\n{\"id\": 3, \"name\": \n",
    )
    .unwrap();
    let folder = data.to_string_lossy().into_owned();
    let out = fs_run(dir.path(), &ds, &[&folder], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("b.jsonl, line 2: malformed JSON"), "{err}");
    assert!(err.contains("nothing of this run was loaded"), "{err}");
    let exists = contents(
        &db,
        &format!("select count(*) from information_schema.tables where table_schema = '{ds}' and table_name = 't'"),
    )
    .await;
    assert_eq!(exists, ["0"]);

    // fixed: both files load (the failed run did not advance the cursor)
    std::fs::write(
        data.join("b.jsonl"),
        "{\"id\": 2, \"name\": \"b\"}\n{\"id\": 3, \"name\": \"c\"}\n",
    )
    .unwrap();
    ok(&fs_run(dir.path(), &ds, &[&folder], None));
    assert_eq!(rows(&db, &ds).await, ["1 a", "2 b", "3 c"]);

    // a malformed CSV file names its line too
    std::fs::write(data.join("c.csv"), "id,name\n4,d\n5,e,extra\n").unwrap();
    let out = fs_run(dir.path(), &ds, &[&folder], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.csv, line 3"), "{err}");
    assert_eq!(rows(&db, &ds).await.len(), 3);
}

/// A crash at each stage after extraction: the next run finishes the package and reads no
/// file twice; every file's rows are in the table once.
#[tokio::test]
async fn a_crash_at_any_stage_neither_loses_nor_doubles_a_file() {
    let db = connect().await;
    for (i, point) in [
        "extracted-published",
        "normalized-published",
        "job-committed",
        "load-recorded",
    ]
    .iter()
    .enumerate()
    {
        let ds = fresh_schema(&db, &format!("filesystem::crash_{i}")).await;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let base = SystemTime::now() - Duration::from_secs(3600);
        three_files(&data, base);
        let folder = data.to_string_lossy().into_owned();
        // overlap off, so every point is on the path of the run
        let crashed = {
            let url = pg_url();
            let pipes = dir.path().join("pipes").to_string_lossy().into_owned();
            Command::new(BIN)
                .args([
                    "filesystem",
                    &folder,
                    "--table",
                    "t",
                    "--credentials",
                    &url,
                    "--pipeline",
                    &ds,
                    "--pipelines-dir",
                    &pipes,
                    "--dataset",
                    &ds,
                ])
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .env("LOAD__OVERLAP", "false")
                .env("DLT_RS_FAULT", point)
                .output()
                .unwrap()
        };
        assert!(
            !crashed.status.success(),
            "{point}: the crash point was not reached"
        );
        // a new file arrives meanwhile
        std::fs::write(data.join("d.jsonl"), "{\"id\": 6, \"name\": \"d6\"}\n").unwrap();
        touch(&data.join("d.jsonl"), base, 4);
        let out = ok(&fs_run(dir.path(), &ds, &[&folder], None));
        assert!(
            out.contains("1 new or changed of 4 files"),
            "{point}: {out}"
        );
        assert_eq!(
            rows(&db, &ds).await,
            ["1 a1", "2 a2", "3 b3", "4 b4", "5 c5", "6 d6"],
            "{point}"
        );
        let again = ok(&fs_run(dir.path(), &ds, &[&folder], None));
        assert!(
            again.contains("no new or changed files"),
            "{point}: {again}"
        );
    }
}

#[test]
fn object_store_schemes_are_not_supported_yet() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["s3://bucket/data", "gs://bucket/x", "az://container/y"] {
        let out = dlt_rs(
            &["filesystem", url, "--table", "t", "--pipeline", "p"],
            dir.path(),
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        let scheme = url.split_once("://").unwrap().0;
        assert!(
            err.contains(&format!("`{scheme}://` is not supported yet")),
            "{err}"
        );
    }
}
