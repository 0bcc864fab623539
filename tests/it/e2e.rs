//! End-to-end tests: pipelines through the library against a real PostgreSQL.
//!
//! Each test loads into its own schema (`test_support::fresh_schema`) and its own temporary
//! pipelines dir, and asserts what landed in the database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pipeline::{Pipeline, PipelineError, Resource};
use serde_json::json;
use test_support::{connect, fresh_schema, pg_url, query_rows};

use dest_postgres as _;

fn pipeline(name: &str, dataset: &str, dir: &std::path::Path) -> Pipeline {
    Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(&pg_url())
        .config(dlt_config_isolated(dir))
        .build()
        .expect("pipeline builds")
}

/// Configuration that ignores the developer's own `.dlt/` folders and environment.
fn dlt_config_isolated(dir: &std::path::Path) -> dlt_config::ConfigBuilder {
    dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(false)
}

async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    query_rows(client, sql)
        .await
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

#[test]
fn postgres_is_registered_in_this_binary() {
    // the binary links more than `dest_postgres`: `no_loss` parses a command line with the
    // CLI's parser, which links every destination of the CLI (SQLite too)
    let names = dest_core::registry::names();
    assert!(names.contains(&"postgres"), "{names:?}");
    let err = dest_core::registry::find("snowflake")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("known destinations: {}", names.join(", "))),
        "{err}"
    );
}

#[tokio::test]
async fn nested_items_make_child_tables_and_link_them() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::nested_items_make_child_tables").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("nested", &ds, dir.path());
    let items = vec![
        json!({"id": 1, "user": {"Name": "ann", "meta": {"admin": true}}, "tags": ["a", "b"],
               "orders": [{"sku": "x", "lines": [{"qty": 2}]}]}),
        json!({"id": 2, "user": {"Name": "bob"}, "tags": [], "orders": []}),
    ];
    let info = p.run(vec![Resource::new("Events", items)]).await.unwrap();
    assert_eq!(info.packages.len(), 1);

    let got = rows(
        &db,
        &format!(
            "select id::text, user__name, user__meta__admin::text from {ds}.events order by id"
        ),
    )
    .await;
    assert_eq!(got, [["1", "ann", "true"], ["2", "bob", "NULL"]]);
    let got = rows(
        &db,
        &format!(
            "select t.value, t._dlt_list_idx::text, e.id::text from {ds}.events__tags t \
             join {ds}.events e on e._dlt_id = t._dlt_parent_id order by t._dlt_list_idx"
        ),
    )
    .await;
    assert_eq!(got, [["a", "0", "1"], ["b", "1", "1"]]);
    let got = rows(
        &db,
        &format!(
            "select l.qty::text from {ds}.events__orders__lines l \
             join {ds}.events__orders o on o._dlt_id = l._dlt_parent_id"
        ),
    )
    .await;
    assert_eq!(got, [["2"]]);
    let got = rows(
        &db,
        &format!("select count(*)::text from {ds}._dlt_loads where status = 0"),
    )
    .await;
    assert_eq!(got, [["1"]]);
}

#[tokio::test]
async fn schema_evolves_across_runs_and_state_is_written_once() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::schema_evolves_across_runs").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("evolve", &ds, dir.path());
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
    let got = rows(
        &db,
        &format!("select id::text, age::text, age__v_text, email from {ds}.people order by id"),
    )
    .await;
    assert_eq!(
        got,
        [
            ["1", "30", "NULL", "NULL"],
            ["2", "NULL", "unknown", "x@y.z"]
        ]
    );
    let counts = rows(
        &db,
        &format!(
            "select (select count(*) from {ds}._dlt_version)::text, \
                    (select count(*) from {ds}._dlt_loads)::text, \
                    (select count(*) from {ds}._dlt_pipeline_state)::text"
        ),
    )
    .await;
    assert_eq!(counts, [["2", "2", "1"]]);

    // same shape again: no new schema version
    p.run(vec![Resource::new(
        "people",
        vec![json!({"id": 3, "age": 5})],
    )])
    .await
    .unwrap();
    let versions = rows(
        &db,
        &format!("select count(*)::text from {ds}._dlt_version"),
    )
    .await;
    assert_eq!(versions, [["2"]]);
}

#[tokio::test]
async fn integers_past_64_bits_keep_every_digit() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::integers_past_64_bits").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("bigints", &ds, dir.path());
    let items: Vec<serde_json::Value> = [
        r#"{"id": 1, "n": 123456789012345678901234567890}"#,
        r#"{"id": 2, "n": -99999999999999999999}"#,
        r#"{"id": 3, "small": 4611686018427387904}"#,
    ]
    .iter()
    .map(|s| serde_json::from_str(s).unwrap())
    .collect();
    p.run(vec![Resource::new("nums", items)]).await.unwrap();
    let got = rows(
        &db,
        &format!("select trunc(n)::text, small::text from {ds}.nums order by id"),
    )
    .await;
    assert_eq!(
        got,
        [
            ["123456789012345678901234567890", "NULL"],
            ["-99999999999999999999", "NULL"],
            ["NULL", "4611686018427387904"]
        ]
    );
}

#[tokio::test]
async fn a_source_error_loads_nothing_and_names_the_position() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::source_error_loads_nothing").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("bad_source", &ds, dir.path());
    let items = vec![
        Ok(json!({"id": 1})),
        Err(pipeline::ItemError {
            source_name: "api".into(),
            position: "page 2".into(),
            message: "HTTP 500".into(),
        }),
    ];
    let err = p
        .run(vec![Resource::from_results("t", items)])
        .await
        .unwrap_err();
    assert!(matches!(err, PipelineError::Extract(_)), "{err}");
    assert!(err.to_string().contains("api, page 2: HTTP 500"), "{err}");
    let tables = rows(
        &db,
        &format!(
            "select count(*)::text from information_schema.tables where table_schema = '{ds}'"
        ),
    )
    .await;
    assert_eq!(tables, [["0"]]);
}

#[tokio::test]
async fn a_new_working_folder_restores_state_from_the_destination() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::restores_state").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("restore", &ds, dir.path());
    p.run(vec![Resource::new("t", vec![json!({"id": 1})])])
        .await
        .unwrap();
    let before = p.state().unwrap().unwrap();

    let dir2 = tempfile::tempdir().unwrap();
    let mut p2 = pipeline("restore", &ds, dir2.path());
    p2.run(vec![Resource::new("t", vec![json!({"id": 2})])])
        .await
        .unwrap();
    let after = p2.state().unwrap().unwrap();
    assert_eq!(after.version_hash, before.version_hash);
    // the restored state is unchanged, so no second state row
    let n = rows(
        &db,
        &format!("select count(*)::text from {ds}._dlt_pipeline_state"),
    )
    .await;
    assert_eq!(n, [["1"]]);
    // the restored schema knew table t: no second schema version
    let v = rows(
        &db,
        &format!("select count(*)::text from {ds}._dlt_version"),
    )
    .await;
    assert_eq!(v, [["1"]]);
}

#[tokio::test]
async fn unique_hints_make_unique_indexes_unless_create_indexes_is_false() {
    let db = connect().await;
    let items = || vec![json!({"id": 1, "code": "a", "l": [1]})];
    let hints = || {
        Resource::new("docs", items())
            .columns_json(&json!({"code": {"unique": true}}))
            .unwrap()
    };

    let ds = fresh_schema(&db, "e2e::unique_hints_indexes_on").await;
    let dir = tempfile::tempdir().unwrap();
    pipeline("idx_on", &ds, dir.path())
        .run(vec![hints()])
        .await
        .unwrap();
    let got = rows(
        &db,
        &format!(
            "select tablename, indexdef from pg_indexes where schemaname = '{ds}' order by 1, 2"
        ),
    )
    .await;
    let defs: Vec<String> = got
        .iter()
        .map(|r| format!("{} {}", r[0], r[1].contains("UNIQUE")))
        .collect();
    assert_eq!(defs.len(), 4, "{got:?}"); // docs(_dlt_id), docs(code), docs__l(_dlt_id), state(_dlt_id)
    assert!(defs.iter().all(|d| d.ends_with("true")), "{got:?}");

    let ds = fresh_schema(&db, "e2e::unique_hints_indexes_off").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pipeline::builder("idx_off")
        .dataset_name(&ds)
        .pipelines_dir(dir.path())
        .credentials(&pg_url())
        .config(dlt_config_isolated(dir.path()).set("destination.postgres.create_indexes", false))
        .build()
        .unwrap();
    p.run(vec![hints()]).await.unwrap();
    let n = rows(
        &db,
        &format!("select count(*)::text from pg_indexes where schemaname = '{ds}'"),
    )
    .await;
    assert_eq!(n, [["0"]]);
}

fn events(ids: std::ops::RangeInclusive<i64>) -> Vec<serde_json::Value> {
    ids.map(|i| json!({"id": i, "updated_at": format!("2024-01-01T00:00:{i:02}Z")}))
        .collect()
}

#[tokio::test]
async fn incremental_load_continues_on_a_new_machine_without_gaps_or_duplicates() {
    use pipeline::Incremental;
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::incremental_new_machine").await;
    let cursor = || Incremental::new("updated_at").initial_value("2024-01-01T00:00:00Z");

    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("incr", &ds, dir.path());
    assert_eq!(
        p.incremental_start("events", &cursor()).unwrap(),
        Some(json!("2024-01-01T00:00:00Z"))
    );
    p.run(vec![
        Resource::new("events", events(1..=5)).incremental(cursor())
    ])
    .await
    .unwrap();
    drop(p);
    drop(dir); // the machine is gone

    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("incr", &ds, dir.path());
    p.sync_destination().await.unwrap();
    let start = p.incremental_start("events", &cursor()).unwrap();
    assert_eq!(start, Some(json!("2024-01-01T00:00:05Z")));
    // the source asks for everything from the start value on (inclusive, like most APIs)
    p.run(vec![
        Resource::new("events", events(5..=8)).incremental(cursor())
    ])
    .await
    .unwrap();

    // another new machine, without sync: run restores first and filters what the source repeats
    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("incr", &ds, dir.path());
    p.run(vec![
        Resource::new("events", events(1..=10)).incremental(cursor())
    ])
    .await
    .unwrap();

    let got = rows(
        &db,
        &format!("select count(*)::text, count(distinct id)::text, min(id)::text, max(id)::text from {ds}.events"),
    )
    .await;
    assert_eq!(got, [["10", "10", "1", "10"]]);
    let states = rows(
        &db,
        &format!("select count(*)::text from {ds}._dlt_pipeline_state"),
    )
    .await;
    assert_eq!(states, [["3"]]);
}

#[tokio::test]
async fn upsert_without_a_primary_key_fails_before_anything_is_loaded() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::upsert_without_primary_key").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = pipeline("upsert_nopk", &ds, dir.path());
    let r = Resource::new("t", vec![json!({"id": 1})])
        .write_disposition("merge", Some("upsert"))
        .unwrap();
    let err = p.run(vec![r]).await.unwrap_err().to_string();
    assert!(
        err.contains("upsert") && err.contains("no primary key"),
        "{err}"
    );
    let n = rows(
        &db,
        &format!(
            "select count(*)::text from information_schema.schemata where schema_name like '{ds}%'"
        ),
    )
    .await;
    assert_eq!(n, [["0"]]);
}

/// Job files are loaded while the package is still being normalized; a normalize error
/// after some files were loaded (in their open transaction) must leave nothing behind, and
/// the same pipeline then loads the corrected data completely, with a column that appeared
/// mid-stream.
#[tokio::test]
async fn a_normalize_error_after_files_were_streamed_loads_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::normalize_error_after_streaming").await;
    let dir = tempfile::tempdir().unwrap();
    let build = || {
        Pipeline::builder("streamed")
            .destination("postgres")
            .dataset_name(&ds)
            .pipelines_dir(dir.path())
            .credentials(&pg_url())
            // tiny job files: many of them are loaded before the bad item is reached
            .config(
                dlt_config_isolated(dir.path()).set("normalize.data_writer.file_max_bytes", 2048),
            )
            .build()
            .unwrap()
    };
    let items = |bad: bool| -> Vec<serde_json::Value> {
        (1..=2000)
            .map(|i| match i {
                2000 if bad => json!({"id": i, "v": null}),
                i if i > 1000 => {
                    json!({"id": i, "v": i, "late": format!("x{i}"), "kids": [i, i + 1]})
                }
                i => json!({"id": i, "v": i, "kids": [i]}),
            })
            .collect()
    };
    let hints = json!({"v": {"data_type": "bigint", "nullable": false}});
    let resource = |bad: bool| Resource::new("t", items(bad)).columns_json(&hints).unwrap();
    let err = build().run(vec![resource(true)]).await.unwrap_err();
    assert!(matches!(err, PipelineError::Normalize { .. }), "{err}");
    let tables = rows(
        &db,
        &format!(
            "select table_name::text from information_schema.tables where table_schema = '{ds}' \
             and table_name not like '\\_dlt%' order by 1"
        ),
    )
    .await;
    assert!(tables.is_empty(), "tables left behind: {tables:?}");

    let info = build().run(vec![resource(false)]).await.unwrap();
    // the same configuration streams: the good run loaded its rows while normalizing
    assert_eq!(info.packages.len(), 1);
    assert_eq!(info.packages[0].rows_streamed, 5000, "{info:?}");
    let counts = rows(
        &db,
        &format!(
            "select (select count(*) from {ds}.t)::text, (select count(*) from {ds}.t__kids)::text, \
             (select count(late) from {ds}.t)::text, (select count(distinct id) from {ds}.t)::text"
        ),
    )
    .await;
    assert_eq!(counts, [["2000", "3000", "1000", "2000"]]);
}

/// A table appended to with many job files loads in lanes (several sessions at once, the
/// table created first in a transaction of its own): every row arrives exactly once, also
/// the rows of files that need a column added after the lanes began (left to the load
/// step), and a second load into the existing tables does the same.
#[tokio::test]
async fn a_table_loaded_in_lanes_gets_every_row_once() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::lanes").await;
    let dir = tempfile::tempdir().unwrap();
    let build = || {
        Pipeline::builder("lanes")
            .destination("postgres")
            .dataset_name(&ds)
            .pipelines_dir(dir.path())
            .credentials(&pg_url())
            .config(
                dlt_config_isolated(dir.path()).set("normalize.data_writer.file_max_bytes", 4096),
            )
            .build()
            .unwrap()
    };
    let items = |from: i64| -> Vec<serde_json::Value> {
        (from..from + 3000)
            .map(|i| match i % 3000 {
                // a column that appears after the lanes of `t` began
                n if n >= 2500 => json!({"id": i, "name": format!("n{i}"), "late": i, "kids": [i]}),
                _ => json!({"id": i, "name": format!("n{i}"), "kids": [i, -i]}),
            })
            .collect()
    };
    for (run, from) in [(1, 0), (2, 3000)] {
        let info = build()
            .run(vec![Resource::new("t", items(from))])
            .await
            .unwrap();
        // streamed in lanes, but not the files that came with the late column: the load
        // step loaded those
        let streamed = info.packages[0].rows_streamed;
        assert!(streamed > 0 && streamed < 9000, "run {run}: {info:?}");
        let counts = rows(
            &db,
            &format!(
                "select (select count(*) from {ds}.t)::text,                  (select count(distinct id) from {ds}.t)::text,                  (select count(late) from {ds}.t)::text,                  (select coalesce(sum(late), 0) from {ds}.t)::text,                  (select count(*) from {ds}.t__kids)::text,                  (select count(*) from {ds}.t__kids k join {ds}.t r                    on k._dlt_parent_id = r._dlt_id)::text"
            ),
        )
        .await;
        let late: i64 = (0..run)
            .flat_map(|r| r * 3000 + 2500..r * 3000 + 3000)
            .sum();
        let kids = run * (2500 * 2 + 500);
        assert_eq!(
            counts,
            [[
                (run * 3000).to_string(),
                (run * 3000).to_string(),
                (run * 500).to_string(),
                late.to_string(),
                kids.to_string(),
                kids.to_string()
            ]],
            "run {run}"
        );
    }
}

/// A merge whose nested table gets no rows in a later load: the staging copy of that table
/// must not keep the earlier load's rows (they would be merged again). Every merge strategy,
/// loaded while normalizing.
#[tokio::test]
async fn a_nested_table_without_rows_in_a_later_merge_keeps_no_stale_staging_rows() {
    let db = connect().await;
    for strategy in ["delete-insert", "upsert", "scd2"] {
        let ds = fresh_schema(&db, &format!("e2e::stale_staging_{strategy}")).await;
        let dir = tempfile::tempdir().unwrap();
        let mut p = pipeline("stale_staging", &ds, dir.path());
        let run = |items: Vec<serde_json::Value>| {
            Resource::new("t", items)
                .write_disposition("merge", Some(strategy))
                .unwrap()
                .primary_key(["id"])
        };
        p.run(vec![run(vec![json!({"id": 1, "tags": ["a", "b"]})])])
            .await
            .unwrap();
        p.run(vec![run(vec![json!({"id": 1, "tags": []})])])
            .await
            .unwrap();
        let active_tags = match strategy {
            // scd2 keeps the retired version and its tags; the active version has none
            "scd2" => format!(
                "select count(*)::text from {ds}.t__tags c join {ds}.t r on c._dlt_parent_id = r._dlt_id \
                 where r._dlt_valid_to is null"
            ),
            _ => format!("select count(*)::text from {ds}.t__tags"),
        };
        assert_eq!(rows(&db, &active_tags).await, [["0"]], "{strategy}");
    }
}

/// Extract, normalize and load run at once: a source that fails after thousands of items
/// (many job files already loaded in their open transactions) loads nothing, names the
/// position, and leaves no package behind.
#[tokio::test]
async fn a_source_error_after_files_were_streamed_loads_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "e2e::source_error_after_streaming").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = Pipeline::builder("late_error")
        .destination("postgres")
        .dataset_name(&ds)
        .pipelines_dir(dir.path())
        .credentials(&pg_url())
        .config(dlt_config_isolated(dir.path()).set("normalize.data_writer.file_max_bytes", 2048))
        .build()
        .unwrap();
    let items = (1..=5000)
        .map(|i| Ok(json!({"id": i, "kids": [i]})))
        .chain(std::iter::once(Err(pipeline::ItemError {
            source_name: "api".into(),
            position: "page 51".into(),
            message: "HTTP 500".into(),
        })));
    let err = p
        .run(vec![Resource::from_results("t", items)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("api, page 51: HTTP 500"), "{err}");
    let tables = rows(
        &db,
        &format!(
            "select count(*)::text from information_schema.tables where table_schema = '{ds}' \
             and table_name in ('t', 't__kids')"
        ),
    )
    .await;
    assert_eq!(tables, [["0"]]);
    // nothing pending: the next run with good data loads exactly its rows
    let info = p
        .run(vec![Resource::new("t", vec![json!({"id": 1})])])
        .await
        .unwrap();
    assert_eq!(info.packages.len(), 1, "{info:?}");
    let n = rows(&db, &format!("select count(*)::text from {ds}.t")).await;
    assert_eq!(n, [["1"]]);
}
