//! Hostile and bad input through the whole path (library → PostgreSQL → read back): values
//! and identifiers crafted to break SQL quoting, keys that collide or are SQL keywords, very
//! wide, deep and large items. Each test loads into its own schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use pipeline::{Pipeline, PipelineError, Resource};
use proptest::prelude::*;
use serde_json::{json, Map, Value as Json};
use test_support::{connect, fresh_schema, pg_url, query_rows};

use dest_postgres as _;

fn pipeline(name: &str, dataset: &str, dir: &Path, format: &str) -> Pipeline {
    Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(&pg_url())
        .loader_file_format(format)
        .config(
            dlt_config::Config::builder()
                .project_dir(dir)
                .no_global_dir()
                .env(false),
        )
        .build()
        .expect("pipeline builds")
}

async fn texts(db: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    query_rows(db, sql).await
}

/// Strings made to break out of quoting in SQL literals, CSV, COPY and array syntax.
fn hostile_text() -> impl Strategy<Value = String> {
    let fragments = prop::sample::select(vec![
        "'",
        "''",
        "\\",
        "\\\\",
        "\"",
        "\n",
        "\r\n",
        ",",
        "{",
        "}",
        "$1",
        "$$",
        "E'",
        "\\x00",
        "\\.",
        "');DROP TABLE t;--",
        "NULL",
        "\\N",
        "🚀",
        "é",
        "\u{2028}",
        "\t",
        " ",
    ]);
    prop::collection::vec(
        prop_oneof![fragments.prop_map(str::to_string), any::<String>()],
        0..6,
    )
    .prop_map(|parts| parts.concat().replace('\0', ""))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever text goes in comes back out of PostgreSQL unchanged, in both file formats,
    /// and nothing else is executed (the table still holds exactly the batch).
    #[test]
    fn any_text_comes_back_unchanged(values in prop::collection::vec(hostile_text(), 1..20)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let db = connect().await;
            for format in ["insert_values", "csv"] {
                let ds = fresh_schema(&db, &format!("hostile::text_{format}")).await;
                let dir = tempfile::tempdir().unwrap();
                let items: Vec<Json> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json!({"n": i, "v": v}))
                    .collect();
                pipeline("fuzz", &ds, dir.path(), format)
                    .run(vec![Resource::new("t", items)])
                    .await
                    .unwrap();
                let back = texts(&db, &format!("select v from {ds}.t order by n")).await;
                let back: Vec<String> = back.into_iter().map(|r| r[0].clone().unwrap()).collect();
                assert_eq!(back, values, "{format}");
            }
        });
    }
}

/// Keys that are SQL keywords, quote characters, injections, unicode, 300 characters long,
/// or equal up to case and punctuation: each becomes dlt's snake_case column (long names
/// shortened as dlt does) and its value comes back. Keys that normalize to the same
/// column keep the last value, as in dlt (documented in docs/reliability.md).
#[tokio::test]
async fn hostile_keys_become_columns_and_colliding_keys_keep_the_last_value() {
    let db = connect().await;
    let ds = fresh_schema(&db, "hostile::keys").await;
    let dir = tempfile::tempdir().unwrap();
    let long = "k".repeat(300);
    let keys = [
        "select",
        "from",
        "table",
        "order",
        "user",
        "Name",
        "q\"uote",
        "it's",
        "x\"; drop table t; --",
        "résumé",
        "🚀 launch",
        "$1",
        "{}",
        &long,
    ];
    let mut item = Map::new();
    item.insert("id".into(), json!(1));
    for (i, k) in keys.iter().enumerate() {
        item.insert((*k).to_string(), json!(format!("v{i}")));
    }
    // three keys, one column `a_b`: the last one wins
    item.insert("a b".into(), json!("first"));
    item.insert("a_b".into(), json!("second"));
    item.insert("A-B".into(), json!("third"));
    pipeline("keys", &ds, dir.path(), "insert_values")
        .run(vec![Resource::new("t", vec![Json::Object(item)])])
        .await
        .unwrap();
    for (i, k) in keys.iter().enumerate() {
        let column = normalize::naming::normalize_identifier(k, 63).unwrap();
        let sql = format!("select {} from {ds}.t", dest_postgres::quote_ident(&column));
        assert_eq!(
            texts(&db, &sql).await,
            [[Some(format!("v{i}"))]],
            "key {k:?} -> column {column:?}"
        );
    }
    assert_eq!(
        texts(&db, &format!("select a_b from {ds}.t")).await,
        [[Some("third".to_string())]]
    );
}

/// 100 levels of nested objects and lists: names past 63 bytes are shortened as dlt does
/// and every level's value is there.
#[tokio::test]
async fn a_hundred_levels_of_nesting_load() {
    let db = connect().await;
    let ds = fresh_schema(&db, "hostile::deep").await;
    let dir = tempfile::tempdir().unwrap();
    let mut item = json!({"v": 100});
    for level in (0..100).rev() {
        item = json!({"v": level, "a": item, "l": [{"w": level}]});
    }
    let info = pipeline("deep", &ds, dir.path(), "insert_values")
        .run(vec![Resource::new("t", vec![item])])
        .await
        .unwrap();
    // the root and one nested table per level's list (`l`)
    let tables = texts(
        &db,
        &format!(
            "select count(*)::text, max(length(table_name))::text from information_schema.tables \
             where table_schema = '{ds}' and table_name like 't%'"
        ),
    )
    .await;
    assert_eq!(tables[0][0].as_deref(), Some("101"), "{info:?}");
    assert_eq!(tables[0][1].as_deref(), Some("63"));
    let total: i64 = info.packages.iter().map(|p| p.rows as i64).sum();
    assert_eq!(total, 1 + 100 + 1, "root, 100 list rows, the state row");
}

/// An item with 10,000 keys: PostgreSQL allows 1,600 columns; the error names the table
/// and nothing loads.
#[tokio::test]
async fn ten_thousand_columns_fail_naming_the_table_and_load_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "hostile::wide").await;
    let dir = tempfile::tempdir().unwrap();
    let item: Map<String, Json> = (0..10_000).map(|i| (format!("c{i}"), json!(i))).collect();
    let err = pipeline("wide", &ds, dir.path(), "insert_values")
        .run(vec![Resource::new("t", vec![Json::Object(item)])])
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("table `t`") && msg.contains("10002 columns") && msg.contains("1600"),
        "{msg}"
    );
    assert!(matches!(err, PipelineError::Destination(_)), "{err:?}");
    let t = texts(
        &db,
        &format!("select count(*)::text from information_schema.tables where table_schema = '{ds}' and table_name = 't'"),
    )
    .await;
    assert_eq!(t, [[Some("0".to_string())]]);
}

/// A very large string (20 MB here; `DLT_RS_BIG_STRING_MB=100` for the size) loads
/// unchanged in both formats.
#[tokio::test]
async fn a_very_large_string_loads_unchanged() {
    let mb: usize = std::env::var("DLT_RS_BIG_STRING_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let db = connect().await;
    let pattern: String = (0..997u32)
        .map(|i| char::from_u32(32 + (i * 7919) % 95).unwrap())
        .collect();
    let big: String =
        pattern.repeat(mb * 1_000_000 / pattern.len() + 1)[..mb * 1_000_000].to_string();
    for format in ["insert_values", "csv"] {
        let ds = fresh_schema(&db, &format!("hostile::big_{format}")).await;
        let dir = tempfile::tempdir().unwrap();
        pipeline("big", &ds, dir.path(), format)
            .run(vec![Resource::new(
                "t",
                vec![
                    json!({"id": 1, "big": big}),
                    json!({"id": 2, "big": "small"}),
                ],
            )])
            .await
            .unwrap();
        let back = texts(&db, &format!("select big from {ds}.t where id = 1")).await;
        assert!(
            back[0][0].as_deref() == Some(big.as_str()),
            "{format}: the text differs"
        );
    }
}
