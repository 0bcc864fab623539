//! The scale-out recipes of `docs/scale-out.md`: one source split by table, and one table
//! split by key range, across four `dlt-rs sql-database` processes that run at the same
//! time, each its own pipeline, all into one dataset (merge, so the staging dataset is
//! shared too), twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};

use test_support::{connect, fresh_schema, pg_url, quote_ident};

use crate::common::{contents, dlt_rs};

#[tokio::test(flavor = "multi_thread")]
async fn four_processes_load_one_source_by_table_into_one_dataset() {
    let db = connect().await;
    let test = "cli scale out";
    let source = fresh_schema(&db, &format!("{test} source")).await;
    let dataset = fresh_schema(&db, test).await;
    let s = quote_ident(&source);
    let mut ddl = format!("CREATE SCHEMA {s};");
    for k in 0..4 {
        ddl.push_str(&format!(
            "CREATE TABLE {s}.t{k} (id int PRIMARY KEY, v text NOT NULL); \
             INSERT INTO {s}.t{k} SELECT i, 't{k}-' || i FROM generate_series(1, {n}) i;",
            n = 1000 * (k + 1)
        ));
    }
    db.batch_execute(&ddl).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pipes = dir.path().join("pipes").to_string_lossy().to_string();
    let url = pg_url();

    let round = || {
        let start = Arc::new(Barrier::new(4));
        let workers: Vec<_> = (0..4)
            .map(|k| {
                let (start, url, source, dataset, pipes, cwd) = (
                    start.clone(),
                    url.clone(),
                    source.clone(),
                    dataset.clone(),
                    pipes.clone(),
                    dir.path().to_path_buf(),
                );
                std::thread::spawn(move || {
                    let table = format!("t{k}");
                    let pipeline = format!("shop_part_{k}");
                    start.wait();
                    dlt_rs(
                        &[
                            "sql-database",
                            &url,
                            &table,
                            "--schema",
                            &source,
                            "--credentials",
                            &url,
                            "--pipeline",
                            &pipeline,
                            "--pipelines-dir",
                            &pipes,
                            "--dataset",
                            &dataset,
                            "--write-disposition",
                            "merge",
                            "--incremental",
                            &format!("{table}.id"),
                        ],
                        &cwd,
                    )
                })
            })
            .collect();
        for w in workers {
            let out = w.join().unwrap();
            assert!(out.status.success(), "{out:?}");
        }
    };
    round();
    // new rows in every table; the second round reads only those, each process its own
    // table's cursor
    let mut more = String::new();
    for k in 0..4 {
        let n = 1000 * (k + 1);
        more.push_str(&format!(
            "INSERT INTO {s}.t{k} SELECT i, 't{k}-' || i FROM generate_series({}, {}) i;",
            n + 1,
            n + 10
        ));
    }
    db.batch_execute(&more).await.unwrap();
    round();

    let d = quote_ident(&dataset);
    for k in 0..4 {
        let n = 1000 * (k + 1) + 10;
        assert_eq!(
            contents(
                &db,
                &format!(
                    "SELECT count(*), count(DISTINCT id), min(id), max(id), \
                     bool_and(v = 't{k}-' || id) FROM {d}.t{k}"
                )
            )
            .await,
            [format!("{n}|{n}|1|{n}|t")],
            "table t{k}"
        );
    }
    // eight loads, each completed, two per pipeline; each pipeline's state stored
    assert_eq!(
        contents(
            &db,
            &format!(
                "SELECT schema_name, count(*), min(status) FROM {d}._dlt_loads \
                 GROUP BY schema_name ORDER BY schema_name"
            )
        )
        .await,
        (0..4)
            .map(|k| format!("shop_part_{k}|2|0"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        contents(
            &db,
            &format!("SELECT count(DISTINCT pipeline_name) FROM {d}._dlt_pipeline_state")
        )
        .await,
        ["4"]
    );
}

/// Runs `dlt-rs` with each argument list at the same moment (one process each) and checks
/// that every process succeeded.
fn at_once(runs: Vec<Vec<String>>, cwd: &std::path::Path) {
    let start = Arc::new(Barrier::new(runs.len()));
    let workers: Vec<_> = runs
        .into_iter()
        .map(|args| {
            let (start, cwd) = (start.clone(), cwd.to_path_buf());
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                start.wait();
                dlt_rs(&args, &cwd)
            })
        })
        .collect();
    for w in workers {
        let out = w.join().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}

/// One table split by key range (`--key-range`) across four processes that merge into one
/// destination table at the same time (they take turns on its staging table), with an
/// incremental cursor: a second round after updates and inserts brings exactly the source.
#[tokio::test(flavor = "multi_thread")]
async fn four_processes_load_one_table_by_key_range_into_one_table() {
    let db = connect().await;
    let test = "cli scale out by key range";
    let source = fresh_schema(&db, &format!("{test} source")).await;
    let dataset = fresh_schema(&db, test).await;
    let s = quote_ident(&source);
    db.batch_execute(&format!(
        "CREATE SCHEMA {s}; \
         CREATE TABLE {s}.big (id bigint PRIMARY KEY, v text NOT NULL, \
             updated_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'); \
         INSERT INTO {s}.big (id, v) SELECT i, 'v' || i FROM generate_series(1, 8000) i;"
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pipes = dir.path().join("pipes").to_string_lossy().to_string();
    let url = pg_url();
    let ranges = ["..2000", "2000..4000", "4000..6000", "6000.."];
    let runs: Vec<Vec<String>> = ranges
        .iter()
        .enumerate()
        .map(|(k, range)| {
            [
                "sql-database",
                &url,
                "big",
                "--schema",
                &source,
                "--credentials",
                &url,
                "--pipeline",
                &format!("big_part_{k}"),
                "--pipelines-dir",
                &pipes,
                "--dataset",
                &dataset,
                "--write-disposition",
                "merge",
                "--incremental",
                "big.updated_at",
                "--key-range",
                &format!("big.id={range}"),
            ]
            .map(str::to_string)
            .to_vec()
        })
        .collect();
    at_once(runs.clone(), dir.path());
    // updates in every part, and new rows past the last part's start
    db.batch_execute(&format!(
        "UPDATE {s}.big SET v = 'new' || id, updated_at = '2024-02-01 00:00:00+00' \
             WHERE id % 1000 = 7; \
         INSERT INTO {s}.big (id, v, updated_at) \
             SELECT i, 'new' || i, '2024-02-01 00:00:00+00' FROM generate_series(8001, 8100) i;"
    ))
    .await
    .unwrap();
    at_once(runs, dir.path());

    let d = quote_ident(&dataset);
    assert_eq!(
        contents(
            &db,
            &format!(
                "SELECT count(*), count(DISTINCT id), min(id), max(id), \
                 count(*) FILTER (WHERE v = 'new' || id), \
                 bool_and(v = CASE WHEN id % 1000 = 7 OR id > 8000 THEN 'new' ELSE 'v' END || id) \
                 FROM {d}.big"
            )
        )
        .await,
        ["8100|8100|1|8100|108|t"]
    );
    // each part's second run read only its changed rows (the cursor, within its range)
    assert_eq!(
        contents(
            &db,
            &format!(
                "SELECT l.schema_name, count(*) FROM {d}.big b \
                 JOIN {d}._dlt_loads l ON l.load_id = b._dlt_load_id \
                 WHERE b.updated_at > '2024-01-15' GROUP BY 1 ORDER BY 1"
            )
        )
        .await,
        [
            "big_part_0|2",
            "big_part_1|2",
            "big_part_2|2",
            "big_part_3|102"
        ]
    );
}
