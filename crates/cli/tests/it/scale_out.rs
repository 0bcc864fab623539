//! The scale-out recipe of `docs/scale-out.md`: one source split by table across four
//! `dlt-rs sql-database` processes that run at the same time, each its own pipeline, all
//! into one dataset (merge, so the staging dataset is shared too), twice.

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
