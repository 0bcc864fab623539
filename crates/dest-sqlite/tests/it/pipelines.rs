//! Real pipelines into a temporary SQLite file: every write disposition and strategy the
//! destination supports (and the capability error of the one it does not), schema
//! evolution, variant columns, nested tables, types, re-running loads, state restore, the
//! job and follow-up ledgers. What landed is read back with rusqlite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use dest_core::{
    DatasetRef, FollowUp, FollowUpJob, LoadJob, LoadTarget, Schema, TableSchema, Value,
};
use dest_sqlite::SqliteCredentials;
use pipeline::{Incremental, Pipeline, Resource};
use rusqlite::types::ValueRef;
use serde_json::{json, Value as Json};

use dest_sqlite as _;

/// A temporary folder holding the main database file and the pipelines.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("dlt.db")
    }

    fn pipeline(&self, name: &str, dataset: &str) -> Pipeline {
        self.pipeline_in(name, dataset, &self.dir.path().join("pipelines"), &[])
    }

    fn pipeline_in(
        &self,
        name: &str,
        dataset: &str,
        pipelines: &Path,
        config: &[(&str, Json)],
    ) -> Pipeline {
        let mut cfg = dlt_config::Config::builder()
            .project_dir(self.dir.path())
            .no_global_dir()
            .env(false);
        for (k, v) in config {
            cfg = cfg.set(k, v.clone());
        }
        Pipeline::builder(name)
            .destination("sqlite")
            .dataset_name(dataset)
            .pipelines_dir(pipelines)
            .credentials(self.db().to_str().unwrap())
            .config(cfg)
            .build()
            .expect("pipeline builds")
    }

    /// Runs `sql` with `dataset` attached; each value as text (`∅` for NULL, blobs as hex).
    fn rows(&self, dataset: &str, sql: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        let creds = SqliteCredentials::parse(self.db().to_str().unwrap()).unwrap();
        let file = creds.dataset_file(dataset);
        conn.execute(
            "ATTACH DATABASE ?1 AS ?2",
            (file.to_str().unwrap(), dataset),
        )
        .unwrap();
        let mut stmt = conn
            .prepare(sql)
            .unwrap_or_else(|e| panic!("{e}\n  sql: {sql}"));
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut cells = Vec::with_capacity(n);
                for i in 0..n {
                    cells.push(match r.get_ref(i)? {
                        ValueRef::Null => "∅".to_string(),
                        ValueRef::Integer(v) => v.to_string(),
                        ValueRef::Real(v) => format!("{v:?}"),
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        ValueRef::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
                    });
                }
                Ok(cells.join("|"))
            })
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    fn count(&self, dataset: &str, table: &str) -> i64 {
        self.rows(
            dataset,
            &format!("SELECT count(*) FROM {dataset}.\"{table}\""),
        )[0]
        .parse()
        .unwrap()
    }

    /// `name type notnull` of each column of a table.
    fn columns(&self, dataset: &str, table: &str) -> Vec<String> {
        self.rows(
            dataset,
            &format!(
                "SELECT name || ' ' || type || ' ' || \"notnull\" FROM pragma_table_info('{table}', '{dataset}')"
            ),
        )
    }

    /// The loads recorded in the dataset: each `status` (0 = loaded).
    fn loads(&self, dataset: &str) -> Vec<String> {
        self.rows(
            dataset,
            &format!("SELECT status FROM {dataset}._dlt_loads ORDER BY load_id"),
        )
    }
}

#[test]
fn sqlite_is_registered() {
    assert!(dest_core::registry::names().contains(&"sqlite"));
    let d = dest_core::registry::find("sqlite").unwrap();
    assert!(d.example_config.contains("destination.sqlite.credentials"));
}

#[tokio::test]
async fn nested_items_make_child_tables_in_an_attached_file() {
    let env = Env::new();
    let mut p = env.pipeline("nested", "raw");
    let items = vec![
        json!({"id": 1, "user": {"Name": "ann", "meta": {"admin": true}}, "tags": ["a", "b"],
               "orders": [{"sku": "x", "lines": [{"qty": 2}]}]}),
        json!({"id": 2, "user": {"Name": "bob"}, "tags": [], "orders": []}),
    ];
    let info = p.run(vec![Resource::new("Events", items)]).await.unwrap();
    assert_eq!(info.packages.len(), 1);
    // the dataset is a file next to the main one
    assert!(env.dir.path().join("dlt__raw.db").exists());
    assert!(env.dir.path().join("dlt__raw_staging.db").exists());

    assert_eq!(
        env.rows(
            "raw",
            "SELECT id, user__name, user__meta__admin FROM raw.events ORDER BY id"
        ),
        ["1|ann|1", "2|bob|∅"]
    );
    assert_eq!(
        env.rows(
            "raw",
            "SELECT t.value, t._dlt_list_idx, e.id FROM raw.events__tags t \
             JOIN raw.events e ON e._dlt_id = t._dlt_parent_id ORDER BY t._dlt_list_idx"
        ),
        ["a|0|1", "b|1|1"]
    );
    assert_eq!(
        env.rows(
            "raw",
            "SELECT l.qty FROM raw.events__orders__lines l \
             JOIN raw.events__orders o ON o._dlt_id = l._dlt_parent_id"
        ),
        ["2"]
    );
    assert_eq!(env.loads("raw"), ["0"]);
    // dlt's columns, types and constraints
    assert_eq!(
        env.columns("raw", "events"),
        [
            "id BIGINT 0",
            "user__name TEXT 0",
            "user__meta__admin BOOLEAN 0",
            "_dlt_load_id TEXT 1",
            "_dlt_id VARCHAR(128) 1"
        ]
    );
    let uniques = env.rows(
        "raw",
        "SELECT count(*) FROM pragma_index_list('events', 'raw') WHERE \"unique\" = 1",
    );
    assert_eq!(uniques, ["1"], "_dlt_id is unique");
    for t in ["_dlt_loads", "_dlt_version", "_dlt_pipeline_state"] {
        assert!(env.count("raw", t) >= 1, "{t}");
    }
}

#[tokio::test]
async fn types_round_trip_and_big_numbers_keep_every_digit() {
    let env = Env::new();
    let mut p = env.pipeline("types", "ds");
    let items = vec![json!({
        "i": -3, "f": 1.5, "b": false, "s": "it's \"q\"\nline\u{0}nul 🦀",
        "ts": "2024-01-02T03:04:05.123456+02:00", "d": "2024-02-03",
        "big": 123456789012345678901234567890u128, "obj": {"k": [1, "x"]},
    })];
    let hints = json!({"obj": {"data_type": "json"}, "bin": {"data_type": "binary"}});
    p.run(vec![Resource::new("t", items)
        .columns_json(&hints)
        .unwrap()])
        .await
        .unwrap();
    let got = env.rows(
        "ds",
        "SELECT i, typeof(i), f, typeof(f), b, s, ts, d, big, typeof(big), obj FROM ds.t",
    );
    assert_eq!(
        got,
        ["-3|integer|1.5|real|0|it's \"q\"\nline\u{0}nul 🦀|2024-01-02 01:04:05.123456|2024-02-03|123456789012345678901234567890|text|{\"k\":[1,\"x\"]}"]
    );
    let cols = env.columns("ds", "t");
    assert!(cols.contains(&"ts DATETIME 0".to_string()), "{cols:?}");
    assert!(cols.contains(&"big TEXT 0".to_string()), "{cols:?}");
    assert!(cols.contains(&"obj JSON 0".to_string()), "{cols:?}");
    // the stored forms work with SQLite's functions
    assert_eq!(
        env.rows(
            "ds",
            "SELECT json_extract(obj, '$.k[1]'), strftime('%Y', ts) FROM ds.t"
        ),
        ["x|2024"]
    );
}

#[tokio::test]
async fn schema_evolves_with_new_and_variant_columns() {
    let env = Env::new();
    let mut p = env.pipeline("evolve", "ds");
    p.run(vec![Resource::new(
        "people",
        vec![json!({"id": 1, "age": 30})],
    )])
    .await
    .unwrap();
    p.run(vec![Resource::new(
        "people",
        vec![json!({"id": 2, "age": "unknown", "email": "x@y.z"})],
    )])
    .await
    .unwrap();
    assert_eq!(
        env.rows(
            "ds",
            "SELECT id, age, age__v_text, email FROM ds.people ORDER BY id"
        ),
        ["1|30|∅|∅", "2|∅|unknown|x@y.z"]
    );
    let cols = env.columns("ds", "people");
    assert!(cols.contains(&"email TEXT 0".to_string()), "{cols:?}");
    assert!(cols.contains(&"age__v_text TEXT 0".to_string()), "{cols:?}");
    assert_eq!(env.loads("ds"), ["0", "0"]);
    assert_eq!(env.count("ds", "_dlt_version"), 2);
}

#[tokio::test]
async fn replace_strategies_replace_the_chain() {
    for strategy in ["truncate-and-insert", "insert-from-staging"] {
        let env = Env::new();
        let mut p = env.pipeline("replace", "ds");
        let run = |items: Vec<Json>| {
            Resource::new("snap", items)
                .write_disposition("replace", Some(strategy))
                .unwrap()
        };
        p.run(vec![run(vec![
            json!({"id": 1, "tags": ["a"]}),
            json!({"id": 2, "tags": ["b", "c"]}),
        ])])
        .await
        .unwrap();
        p.run(vec![run(vec![json!({"id": 3, "tags": ["d"]})])])
            .await
            .unwrap();
        assert_eq!(
            env.rows("ds", "SELECT id FROM ds.snap"),
            ["3"],
            "{strategy}"
        );
        assert_eq!(
            env.rows("ds", "SELECT value FROM ds.snap__tags"),
            ["d"],
            "{strategy}"
        );
    }
}

#[tokio::test]
async fn staging_optimized_is_refused_with_a_capability_error() {
    let env = Env::new();
    let mut p = env.pipeline("swap", "ds");
    let r = Resource::new("snap", vec![json!({"id": 1})])
        .write_disposition("replace", Some("staging-optimized"))
        .unwrap();
    let err = p.run(vec![r]).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "replace strategy `staging-optimized` is not supported by destination `sqlite`"
        ),
        "{err}"
    );
    assert!(
        err.contains("supported: truncate-and-insert, insert-from-staging"),
        "{err}"
    );
    // configured instead of given: the same error
    let mut p = env.pipeline_in(
        "swap2",
        "ds",
        &env.dir.path().join("p2"),
        &[(
            "destination.sqlite.replace_strategy",
            json!("staging-optimized"),
        )],
    );
    let r = Resource::new("snap", vec![json!({"id": 1})])
        .write_disposition("replace", None)
        .unwrap();
    let err = p.run(vec![r]).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "replace strategy `staging-optimized` is not supported by destination `sqlite`"
        ),
        "{err}"
    );
    // nothing was loaded
    assert!(!env.dir.path().join("dlt__ds.db").exists());
}

#[tokio::test]
async fn merge_delete_insert_with_dedup_sort_hard_delete_and_nested_rows() {
    let env = Env::new();
    let mut p = env.pipeline("merge", "ds");
    let hints = json!({"ts": {"dedup_sort": "desc"}, "deleted": {"hard_delete": true, "data_type": "bool"}});
    let run = |items: Vec<Json>| {
        Resource::new("users", items)
            .write_disposition("merge", Some("delete-insert"))
            .unwrap()
            .primary_key(["id"])
            .columns_json(&hints)
            .unwrap()
    };
    p.run(vec![run(vec![
        json!({"id": 1, "name": "a", "ts": 1, "tags": ["x"]}),
        json!({"id": 2, "name": "b", "ts": 1, "tags": ["y"]}),
        json!({"id": 1, "name": "a2", "ts": 2, "tags": ["z", "w"]}),
    ])])
    .await
    .unwrap();
    assert_eq!(
        env.rows("ds", "SELECT id, name FROM ds.users ORDER BY id"),
        ["1|a2", "2|b"]
    );
    assert_eq!(
        env.rows("ds", "SELECT value FROM ds.users__tags ORDER BY value"),
        ["w", "y", "z"]
    );
    p.run(vec![run(vec![
        json!({"id": 2, "deleted": true}),
        json!({"id": 3, "name": "c", "ts": 5, "tags": ["v"]}),
        json!({"id": 1, "name": "a3", "ts": 3}),
    ])])
    .await
    .unwrap();
    assert_eq!(
        env.rows("ds", "SELECT id, name FROM ds.users ORDER BY id"),
        ["1|a3", "3|c"]
    );
    assert_eq!(env.rows("ds", "SELECT value FROM ds.users__tags"), ["v"]);
    // running the same data again changes nothing
    p.run(vec![run(vec![
        json!({"id": 3, "name": "c", "ts": 5, "tags": ["v"]}),
    ])])
    .await
    .unwrap();
    assert_eq!(
        env.rows("ds", "SELECT id, name FROM ds.users ORDER BY id"),
        ["1|a3", "3|c"]
    );
    assert_eq!(env.rows("ds", "SELECT value FROM ds.users__tags"), ["v"]);
    assert_eq!(env.loads("ds"), ["0", "0", "0"]);
}

#[tokio::test]
async fn merge_key_replaces_partitions() {
    let env = Env::new();
    let mut p = env.pipeline("mk", "ds");
    let run = |items: Vec<Json>| {
        Resource::new("events", items)
            .write_disposition("merge", Some("delete-insert"))
            .unwrap()
            .merge_key(["day"])
    };
    p.run(vec![run(vec![
        json!({"day": "mon", "v": 1}),
        json!({"day": "mon", "v": 2}),
        json!({"day": "tue", "v": 3}),
    ])])
    .await
    .unwrap();
    p.run(vec![run(vec![json!({"day": "mon", "v": 9})])])
        .await
        .unwrap();
    assert_eq!(
        env.rows("ds", "SELECT day, v FROM ds.events ORDER BY day, v"),
        ["mon|9", "tue|3"]
    );
}

#[tokio::test]
async fn upsert_updates_inserts_and_hard_deletes_without_merge() {
    let env = Env::new();
    let mut p = env.pipeline("upsert", "ds");
    let hints = json!({"deleted": {"hard_delete": true, "data_type": "bool"}});
    let run = |items: Vec<Json>| {
        Resource::new("items", items)
            .write_disposition("merge", Some("upsert"))
            .unwrap()
            .primary_key(["id"])
            .columns_json(&hints)
            .unwrap()
    };
    p.run(vec![run(vec![
        json!({"id": 1, "v": "a", "kids": [1, 2, 3]}),
        json!({"id": 2, "v": "b", "kids": [4]}),
        json!({"id": 3, "v": "c", "kids": [5]}),
    ])])
    .await
    .unwrap();
    p.run(vec![run(vec![
        json!({"id": 1, "v": "a2", "kids": [1]}),
        json!({"id": 2, "deleted": true}),
        json!({"id": 4, "v": "d", "kids": [6]}),
        json!({"id": 4, "v": "d", "kids": [6]}),
    ])])
    .await
    .unwrap();
    assert_eq!(
        env.rows("ds", "SELECT id, v FROM ds.items ORDER BY id"),
        ["1|a2", "3|c", "4|d"]
    );
    assert_eq!(
        env.rows(
            "ds",
            "SELECT i.id, k.value FROM ds.items__kids k JOIN ds.items i ON i._dlt_id = k._dlt_root_id ORDER BY i.id, k.value"
        ),
        ["1|1", "3|5", "4|6"]
    );
    assert_eq!(env.count("ds", "items__kids"), 3, "no orphans");
    // no temporary table is left behind, and staging holds the last batch only
    assert_eq!(env.loads("ds"), ["0", "0"]);
}

#[tokio::test]
async fn scd2_retires_and_inserts_versions() {
    let env = Env::new();
    let mut p = env.pipeline("scd2", "ds");
    let run = |items: Vec<Json>| {
        Resource::new("dim", items)
            .write_disposition("merge", Some("scd2"))
            .unwrap()
    };
    p.run(vec![run(vec![
        json!({"id": 1, "v": "a"}),
        json!({"id": 2, "v": "b"}),
    ])])
    .await
    .unwrap();
    p.run(vec![run(vec![
        json!({"id": 1, "v": "a"}),
        json!({"id": 2, "v": "b2"}),
    ])])
    .await
    .unwrap();
    let got = env.rows(
        "ds",
        "SELECT id, v, _dlt_valid_from IS NOT NULL, _dlt_valid_to IS NOT NULL FROM ds.dim ORDER BY id, v",
    );
    assert_eq!(got, ["1|a|1|0", "2|b|1|1", "2|b2|1|0"]);
    // the retired version ends where the new one starts
    let got = env.rows(
        "ds",
        "SELECT count(*) FROM ds.dim a JOIN ds.dim b ON a._dlt_valid_to = b._dlt_valid_from",
    );
    assert_eq!(got, ["1"]);
    let ts = env.rows("ds", "SELECT _dlt_valid_from FROM ds.dim LIMIT 1");
    assert_eq!(ts[0].len(), "2024-01-01 00:00:00.000000".len(), "{ts:?}");
}

#[tokio::test]
async fn unique_hint_and_create_indexes_false() {
    let env = Env::new();
    let mut p = env.pipeline_in(
        "idx",
        "ds",
        &env.dir.path().join("p"),
        &[("destination.sqlite.create_indexes", json!(false))],
    );
    p.run(vec![Resource::new("t", vec![json!({"code": "a"})])
        .columns_json(&json!({"code": {"unique": true}}))
        .unwrap()])
        .await
        .unwrap();
    assert_eq!(
        env.rows("ds", "SELECT count(*) FROM pragma_index_list('t', 'ds')"),
        ["0"]
    );
    let mut p = env.pipeline("idx2", "ds2");
    p.run(vec![Resource::new("t", vec![json!({"x": 1})])])
        .await
        .unwrap();
    // a unique column added later gets a unique index
    p.run(vec![Resource::new("t", vec![json!({"x": 2, "code": "b"})])
        .columns_json(&json!({"code": {"unique": true}}))
        .unwrap()])
        .await
        .unwrap();
    let idx = env.rows(
        "ds2",
        "SELECT name FROM pragma_index_list('t', 'ds2') WHERE \"unique\" = 1 ORDER BY name",
    );
    assert!(idx.contains(&"t_code_key".to_string()), "{idx:?}");
}

#[tokio::test]
async fn state_is_restored_on_a_new_machine() {
    let env = Env::new();
    let cursor = Incremental::new("updated_at");
    let mut p = env.pipeline_in("inc", "ds", &env.dir.path().join("a"), &[]);
    p.run(vec![Resource::new(
        "events",
        vec![
            json!({"id": 1, "updated_at": 10}),
            json!({"id": 2, "updated_at": 20}),
        ],
    )
    .incremental(cursor.clone())])
        .await
        .unwrap();
    // another folder: the state and schema come from the dataset
    let mut q = env.pipeline_in("inc", "ds", &env.dir.path().join("b"), &[]);
    q.sync_destination().await.unwrap();
    assert_eq!(
        q.incremental_start("events", &cursor).unwrap(),
        Some(json!(20))
    );
    q.run(vec![Resource::new(
        "events",
        vec![
            json!({"id": 2, "updated_at": 20}),
            json!({"id": 3, "updated_at": 30}),
        ],
    )
    .incremental(cursor)])
        .await
        .unwrap();
    assert_eq!(
        env.rows("ds", "SELECT id FROM ds.events ORDER BY id"),
        ["1", "2", "3"]
    );
    assert!(env.count("ds", "_dlt_pipeline_state") >= 2);
}

#[tokio::test]
async fn main_dataset_is_the_main_file() {
    let env = Env::new();
    let mut p = env.pipeline("m", "main");
    p.run(vec![Resource::new("t", vec![json!({"x": 1})])])
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    assert!(env.dir.path().join("dlt__main_staging.db").exists());
}

#[tokio::test]
async fn a_missing_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pipeline::builder("nowhere")
        .destination("sqlite")
        .pipelines_dir(dir.path())
        .credentials("/nonexistent/folder/dlt.db")
        .config(
            dlt_config::Config::builder()
                .project_dir(dir.path())
                .no_global_dir()
                .env(false),
        )
        .build()
        .unwrap();
    let err = p
        .run(vec![Resource::new("t", vec![json!({"x": 1})])])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("folder /nonexistent/folder does not exist"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// the load client directly: the ledgers that make re-running a package safe

fn schema_with(table: TableSchema) -> Schema {
    let mut s = Schema::new("ledger");
    s.tables.push(table);
    s.bump_version();
    s
}

#[tokio::test]
async fn ledgers_skip_committed_jobs_and_run_a_follow_up_once() {
    let env = Env::new();
    let dest = dest_core::registry::create(
        "sqlite",
        &dest_core::registry::DestinationContext {
            destination_name: "sqlite",
            pipeline_name: Some("ledger"),
            config: &dlt_config::Config::builder()
                .project_dir(env.dir.path())
                .no_global_dir()
                .env(false)
                .set("destination.sqlite.credentials", env.db().to_str().unwrap())
                .build()
                .unwrap(),
        },
    )
    .unwrap();
    let client = dest
        .client(&DatasetRef {
            name: "ds".into(),
            staging: "ds_staging".into(),
        })
        .await
        .unwrap();
    let mut t = TableSchema::new("t");
    t.columns = vec![
        dest_core::Column::new("id", dest_core::DataType::Bigint),
        dest_core::Column::new("_dlt_id", dest_core::DataType::Text),
    ];
    t.columns[0].primary_key = true;
    t.columns[1].row_key = true;
    t.disposition = dest_core::TableDisposition::Merge(dest_core::MergeStrategy::DeleteInsert);
    t.seen_data = true;
    let schema = schema_with(t.clone());
    client.initialize(true).await.unwrap();
    for target in [LoadTarget::Dataset, LoadTarget::Staging] {
        let ran = client
            .update_schema(&schema, &["t".into()], target)
            .await
            .unwrap();
        assert!(!ran.is_empty());
        // the same version again: nothing to do
        assert!(client
            .update_schema(&schema, &["t".into()], target)
            .await
            .unwrap()
            .is_empty());
    }

    // a job file
    let file = env.dir.path().join("t.1.0.typed-jsonl");
    let fmt = dest
        .file_format(dest_core::LoaderFileFormat::TypedJsonl)
        .unwrap();
    let out = std::fs::File::create(&file).unwrap();
    let cols: Vec<_> = t.columns.clone();
    let mut w = fmt.writer("t", &cols, Box::new(out)).unwrap();
    for i in 0..450 {
        w.write_row(&[Value::Int(i), Value::Text(format!("r{i}"))])
            .unwrap();
    }
    drop(w.finish().unwrap());
    let job = LoadJob {
        load_id: "100".into(),
        table: "t".into(),
        file: file.clone(),
        format: dest_core::LoaderFileFormat::TypedJsonl,
        target: LoadTarget::Staging,
        key: "t.1".into(),
    };
    assert!(client.committed_jobs("100").await.unwrap().is_empty());
    assert_eq!(client.run_job(&job).await.unwrap().rows, 450);
    assert_eq!(client.committed_jobs("100").await.unwrap(), ["t.1"]);

    let follow = FollowUpJob {
        kind: FollowUp::DeleteInsert,
        chain: vec![&t],
        load_id: "100",
        created_at: chrono::Utc::now(),
        schema_name: "test",
    };
    client.follow_up(&follow).await.unwrap();
    assert_eq!(env.count("ds", "t"), 450);
    // called again (a crash before the package was marked done): not run again
    client
        .truncate(&["t".into()], LoadTarget::Staging)
        .await
        .unwrap();
    client.run_job(&job).await.unwrap();
    client.run_job(&job).await.unwrap();
    client.follow_up(&follow).await.unwrap();
    assert_eq!(env.count("ds", "t"), 450);
    assert_eq!(
        env.rows(
            "ds_staging",
            "SELECT load_id, root_table FROM ds_staging._dlt_rs_follow_ups"
        ),
        ["100|test.t"]
    );
    client.complete_load("100", &schema).await.unwrap();
    client.complete_load("100", &schema).await.unwrap();
    assert_eq!(env.loads("ds"), ["0"], "one row per load id");
    client.forget_jobs("100").await.unwrap();
    assert!(client.committed_jobs("100").await.unwrap().is_empty());

    // inspection
    let counts = client
        .table_row_counts(&["t".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(counts, [("t".into(), Some(450)), ("nope".into(), None)]);
    let loads = client.recent_loads(5).await.unwrap();
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].0, "100");
    assert!((chrono::Utc::now() - loads[0].2).num_seconds().abs() < 60);
    let stored = client.stored_schema("ledger").await.unwrap().unwrap();
    assert_eq!(stored.version_hash, schema.version_hash);
    client.drop_tables(&["t".into()], "ledger").await.unwrap();
    assert!(client.stored_schema("ledger").await.unwrap().is_none());
    assert_eq!(
        client.table_row_counts(&["t".into()]).await.unwrap(),
        [("t".into(), None)]
    );
}

#[tokio::test]
async fn a_failing_job_changes_nothing() {
    let env = Env::new();
    let mut p = env.pipeline("fail", "ds");
    p.run(vec![Resource::new("t", vec![json!({"code": "a"})])
        .columns_json(&json!({"code": {"unique": true}}))
        .unwrap()])
        .await
        .unwrap();
    let err = p
        .run(vec![Resource::new(
            "t",
            vec![json!({"code": "b"}), json!({"code": "a"})],
        )
        .columns_json(&json!({"code": {"unique": true}}))
        .unwrap()])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("UNIQUE constraint failed"), "{err}");
    assert_eq!(env.rows("ds", "SELECT code FROM ds.t"), ["a"]);
}

/// Two pipelines merge into one SQLite dataset and table at once: their staged loads take
/// turns (an OS file lock on `<staging file>.lock`), so neither run's rows are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pipelines_merging_into_one_table_at_once_keep_every_row() {
    let env = std::sync::Arc::new(Env::new());
    let n = 2000u64;
    for round in 0..3 {
        let mut runs = Vec::new();
        for (i, name) in ["a", "b"].into_iter().enumerate() {
            let env = env.clone();
            runs.push(tokio::spawn(async move {
                let pipes = env.dir.path().join(format!("pipes_{name}"));
                // small job files: the staged load takes many transactions, so the two
                // runs' loads overlap
                let small = [("normalize.data_writer.file_max_bytes", json!(4096))];
                let mut p = env.pipeline_in(name, "ds", &pipes, &small);
                let from = i as u64 * n;
                let items: Vec<Json> = (from..from + n)
                    .map(|id| json!({"id": id, "v": format!("{name}{round}_{id}"), "kids": [id]}))
                    .collect();
                let r = Resource::new("shared", items)
                    .primary_key(["id"])
                    .write_disposition("merge", None)
                    .unwrap();
                p.run(vec![r]).await.map(|_| ())
            }));
        }
        for run in runs {
            run.await.unwrap().unwrap();
        }
        let rows = env.rows(
            "ds",
            &format!(
                "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || \
                 sum(v = 'a{round}_' || id) || ' ' || sum(v = 'b{round}_' || id) \
                 FROM ds.shared"
            ),
        );
        assert_eq!(
            rows,
            [format!("{} {} {n} {n}", 2 * n, 2 * n)],
            "round {round}"
        );
    }
}

/// Arrow record batches load into SQLite through `parquet` job files (the default for Arrow
/// data where the destination loads them): every type in its stored form, struct and list
/// columns as JSON, binary as a blob, a later batch adding a column.
#[tokio::test]
async fn arrow_batches_load_with_every_type() {
    use pipeline::arrow_array::builder::{Int64Builder, ListBuilder};
    use pipeline::arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch,
        StringArray, TimestampMicrosecondArray,
    };
    use std::sync::Arc;

    let env = Env::new();
    let mut lists = ListBuilder::new(Int64Builder::new());
    lists.values().append_value(7);
    lists.append(true);
    lists.append(false);
    let first = RecordBatch::try_from_iter_with_nullable(vec![
        (
            "Id",
            Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
            true,
        ),
        (
            "s",
            Arc::new(StringArray::from(vec![Some("it's"), Some("")])) as ArrayRef,
            true,
        ),
        (
            "f",
            Arc::new(Float64Array::from(vec![Some(1.5), None])) as ArrayRef,
            true,
        ),
        (
            "b",
            Arc::new(BooleanArray::from(vec![Some(true), None])) as ArrayRef,
            true,
        ),
        (
            "ts",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_704_103_445_123_456), None])
                    .with_timezone("UTC"),
            ) as ArrayRef,
            true,
        ),
        (
            "d",
            Arc::new(Date32Array::from(vec![Some(19_723), None])) as ArrayRef,
            true,
        ),
        (
            "raw",
            Arc::new(BinaryArray::from(vec![Some(&b"\x00\xff"[..]), None])) as ArrayRef,
            true,
        ),
        ("l", Arc::new(lists.finish()) as ArrayRef, true),
    ])
    .unwrap();
    let second = RecordBatch::try_from_iter_with_nullable(vec![
        ("Id", Arc::new(Int32Array::from(vec![3])) as ArrayRef, true),
        (
            "extra",
            Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
            true,
        ),
    ])
    .unwrap();
    for format in [None, Some("typed-jsonl")] {
        let dataset = format!("arrow_{}", format.map_or("default", |_| "rows"));
        let mut p = env.pipeline(&dataset, &dataset);
        if let Some(f) = format {
            p = Pipeline::builder(&dataset)
                .destination("sqlite")
                .dataset_name(&dataset)
                .pipelines_dir(env.dir.path().join("pipelines"))
                .credentials(env.db().to_str().unwrap())
                .loader_file_format(f)
                .config(
                    dlt_config::Config::builder()
                        .project_dir(env.dir.path())
                        .no_global_dir()
                        .env(false),
                )
                .build()
                .unwrap();
        }
        p.run(vec![Resource::from_record_batches(
            "t",
            vec![Ok(first.clone()), Ok(second.clone())],
        )])
        .await
        .unwrap();
        let got = env.rows(
            &dataset,
            &format!("SELECT id, s, f, b, ts, d, raw, l, extra FROM {dataset}.t ORDER BY id"),
        );
        assert_eq!(
            got,
            [
                "1|it's|1.5|1|2024-01-01 10:04:05.123456|2024-01-01|00ff|[7]|∅",
                "2||∅|∅|∅|∅|∅|∅|∅",
                "3|∅|∅|∅|∅|∅|∅|∅|x",
            ],
            "{format:?}"
        );
    }
}

/// Parallelized resources (dlt's `parallelized=True`) are extracted at the same time: the
/// first item of `a` waits for `b` to have produced one (and `b`'s Arrow batches wait for
/// `a`), which would fail after two minutes if they ran one after another. With and without
/// overlapped normalize/load; the tables come out as a sequential run makes them.
#[tokio::test]
async fn parallelized_resources_are_extracted_at_once() {
    use pipeline::arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use pipeline::ItemError;
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    let env = Env::new();
    for overlap in [true, false] {
        let dataset = format!("par_{overlap}");
        let pipelines = env.dir.path().join("pipelines");
        let mut p = env.pipeline_in(
            &dataset,
            &dataset,
            &pipelines,
            &[
                ("load.overlap", json!(overlap)),
                ("extract.workers", json!(3)),
            ],
        );
        let (a_started, a_seen) = mpsc::channel::<()>();
        let (b_started, b_seen) = mpsc::channel::<()>();
        let wait = |rx: &mpsc::Receiver<()>, who: &str| {
            rx.recv_timeout(Duration::from_secs(120))
                .map_err(|_| ItemError {
                    source_name: who.to_string(),
                    position: "item 1".into(),
                    message: "the other resource never started: extracted one after another".into(),
                })
        };
        let mut a_items = (1..=3000).map(|i| json!({"id": i, "name": format!("a{i}")}));
        let mut first_a = true;
        let a = Resource::from_results(
            "a",
            std::iter::from_fn(move || {
                if first_a {
                    first_a = false;
                    let _ = a_started.send(());
                    if let Err(e) = wait(&b_seen, "a") {
                        return Some(Err(e));
                    }
                }
                a_items.next().map(Ok)
            }),
        )
        .parallelized(true);
        let mut batch = 0i64;
        let b = Resource::from_record_batches(
            "b",
            std::iter::from_fn(move || {
                batch += 1;
                if batch == 1 {
                    let _ = b_started.send(());
                    if let Err(e) = wait(&a_seen, "b") {
                        return Some(Err(e));
                    }
                }
                (batch <= 3).then(|| {
                    let ids: Vec<i64> = (0..1000).map(|i| (batch - 1) * 1000 + i).collect();
                    Ok(RecordBatch::try_from_iter(vec![(
                        "id",
                        Arc::new(Int64Array::from(ids)) as ArrayRef,
                    )])
                    .unwrap())
                })
            }),
        )
        .parallelized(true);
        // not parallelized: extracted on a lane of its own, one after another
        let c = Resource::new("c", vec![json!({"id": 1}), json!({"id": 2})]);
        let d = Resource::new("c", vec![json!({"id": 3, "late": "x"})]);
        let info = p.run(vec![c, a, b, d]).await.unwrap();
        assert_eq!(info.items, 3000 + 3000 + 3, "overlap {overlap}");
        assert_eq!(
            env.rows(
                &dataset,
                &format!("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {dataset}.a")
            ),
            ["3000|3000|1|3000"]
        );
        assert_eq!(
            env.rows(
                &dataset,
                &format!("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {dataset}.b")
            ),
            ["3000|3000|0|2999"]
        );
        assert_eq!(
            env.rows(
                &dataset,
                &format!("SELECT id, late FROM {dataset}.c ORDER BY id")
            ),
            ["1|∅", "2|∅", "3|x"]
        );
        assert_eq!(
            env.columns(&dataset, "c"),
            [
                "id BIGINT 0",
                "_dlt_load_id TEXT 1",
                "_dlt_id VARCHAR(128) 1",
                "late TEXT 0"
            ]
        );
        assert_eq!(env.loads(&dataset), ["0"]);
    }
}

/// A parallelized resource that fails stops the run: the error names it, nothing of the
/// run loads (the other resources' rows neither), and the next run loads everything once.
#[tokio::test]
async fn a_failing_parallelized_resource_loads_nothing_of_the_run() {
    use pipeline::ItemError;

    let env = Env::new();
    let mut p = env.pipeline("par_fail", "par_fail");
    let good = || {
        Resource::new(
            "good",
            (1..=50_000).map(|i| json!({"id": i})).collect::<Vec<_>>(),
        )
        .parallelized(true)
    };
    let bad = Resource::from_results(
        "bad",
        (1..=100).map(|i| {
            if i == 100 {
                Err(ItemError {
                    source_name: "resource `bad`".into(),
                    position: "item 100".into(),
                    message: "the source went away".into(),
                })
            } else {
                Ok(json!({"id": i}))
            }
        }),
    )
    .parallelized(true);
    let err = p.run(vec![good(), bad]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("`bad`") && text.contains("item 100"),
        "the error names the failing resource: {text}"
    );
    let tables = env.rows(
        "par_fail",
        "SELECT count(*) FROM par_fail.sqlite_master WHERE type = 'table' AND name IN ('good', 'bad')",
    );
    assert_eq!(tables, ["0"], "nothing of the failed run was loaded");
    let ok = Resource::new(
        "bad",
        (1..=99).map(|i| json!({"id": i})).collect::<Vec<_>>(),
    )
    .parallelized(true);
    p.run(vec![good(), ok]).await.unwrap();
    assert_eq!(env.count("par_fail", "good"), 50_000);
    assert_eq!(env.count("par_fail", "bad"), 99);
}

/// Settings dlt-rs does not apply are named, never silently ignored: a typo (with the key
/// meant), a dlt setting dlt-rs does not implement; a naming convention of dlt is applied
/// (no warning), an unknown one fails the build.
#[tokio::test]
async fn settings_that_do_nothing_are_named() {
    let env = Env::new();
    let pipelines = env.dir.path().join("pipelines");
    let p = env.pipeline_in(
        "settings",
        "settings",
        &pipelines,
        &[
            ("load.wrkers", json!(4)),
            ("normalize.workers", json!(2)),
            ("schema.naming", json!("sql_cs_v1")),
            ("load.workers", json!(4)),
        ],
    );
    let mut keys: Vec<(String, bool)> = p
        .setting_warnings()
        .iter()
        .map(|w| (w.key.clone(), w.message.contains("load.workers")))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("load.wrkers".to_string(), true),
            ("normalize.workers".to_string(), false),
        ]
    );
    let cfg = dlt_config::Config::builder()
        .project_dir(env.dir.path())
        .no_global_dir()
        .env(false)
        .set("schema.naming", "snake_cas");
    let e = Pipeline::builder("settings_bad")
        .destination("sqlite")
        .pipelines_dir(&pipelines)
        .credentials(env.db().to_str().unwrap())
        .config(cfg)
        .build()
        .unwrap_err();
    assert!(matches!(e, pipeline::PipelineError::Config(_)), "{e}");
}

/// dlt's pipeline settings `export_schema_path` / `import_schema_path` from the
/// configuration (under `[pipelines.<name>]` or at the top): the schema is exported there,
/// and an edited export is imported by the next run.
#[tokio::test]
async fn schema_paths_come_from_the_configuration() {
    let env = Env::new();
    let pipelines = env.dir.path().join("pipelines");
    let schemas = env.dir.path().join("schemas");
    let dir = json!(schemas.to_string_lossy());
    let settings = [
        ("pipelines.paths.export_schema_path", dir.clone()),
        ("import_schema_path", dir),
    ];
    let mut p = env.pipeline_in("paths", "paths", &pipelines, &settings);
    p.run(vec![Resource::new("t", vec![json!({"id": 1})])])
        .await
        .unwrap();
    let file = schemas.join("paths.schema.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(yaml.contains("name: paths"), "{yaml}");
    // a type for a column no item had yet: the next run takes it from the edited file
    let edited = yaml.replacen(
        "      id:\n",
        "      doc:\n        data_type: json\n        nullable: true\n      id:\n",
        1,
    );
    assert_ne!(edited, yaml, "{yaml}");
    std::fs::write(&file, edited).unwrap();
    let mut p = env.pipeline_in("paths", "paths", &pipelines, &settings);
    p.run(vec![Resource::new(
        "t",
        vec![json!({"id": 2, "doc": {"a": 1}})],
    )])
    .await
    .unwrap();
    let rows = env.rows("paths", "SELECT doc FROM paths.t WHERE id = 2");
    assert_eq!(rows, [r#"{"a":1}"#]);
}

/// dlt's `resource_state`: a resource keeps a value between runs (a page token here), set
/// while its resources are made and saved with the package that carries its items, at
/// dlt's place in the state (`sources.<source>.resources.<resource>.<key>`).
#[tokio::test]
async fn a_resource_keeps_its_state_between_runs() {
    let env = Env::new();
    let pipelines = env.dir.path().join("pipelines");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let mut p = env.pipeline_in("rstate", "rstate", &pipelines, &[]);
        let (tx, rx) = std::sync::mpsc::channel();
        p.run_with_state(move |state| {
            let page = state
                .resource_value("pages", "next_page")
                .and_then(|v| v.as_i64())
                .unwrap_or(1);
            tx.send(page).unwrap();
            state.set_resource_value("pages", "next_page", json!(page + 1));
            Ok(vec![Resource::new("pages", vec![json!({"page": page})])])
        })
        .await
        .unwrap();
        seen.push(rx.recv().unwrap());
    }
    assert_eq!(seen, [1, 2, 3]);
    let rows = env.rows("rstate", "SELECT page FROM rstate.pages ORDER BY page");
    assert_eq!(rows, ["1", "2", "3"]);
    let p = env.pipeline_in("rstate", "rstate", &pipelines, &[]);
    let state = p.state().unwrap().unwrap();
    assert_eq!(
        state.sources["rstate"]["resources"]["pages"]["next_page"],
        json!(4)
    );
}
