//! Reading a dataset back through the library (`Pipeline::dataset`), on PostgreSQL and
//! SQLite alike: every dlt type with hostile names and NULLs as JSON rows, typed rows and
//! Arrow batches; select, filter, order, limit and offset; SQL with bound parameters that
//! stay values; batches that stream; the errors of a table or column that is not there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pipeline::arrow_array::{Array, Int64Array, StringArray};
use pipeline::{Pipeline, Resource};
use serde::Deserialize;
use serde_json::json;
use test_support::{connect, fresh_schema, pg_url};

use dest_core::{Comparison, SortOrder, Value};
use dest_postgres as _;
use dest_sqlite as _;

/// Names dlt keeps as they are only after normalizing: spaces, quotes, a keyword, unicode.
const TABLE: &str = "Events \"of\" Year";
const TABLE_NORMALIZED: &str = "events_of_year";

fn items() -> Vec<serde_json::Value> {
    let mut out = vec![
        json!({
            "ID": 1, "Select": "x'; drop table events_of_year; --", "Größe": 1.5, "flag": true,
            "amount": "12345678901234567890.123456789", "at": "2024-01-02T03:04:05.123456Z",
            "day": "2024-02-29", "clock": "23:59:59.5", "doc": {"a": [1, 2], "b": null},
            "tags": ["x", "y"]
        }),
        json!({
            "ID": 2, "Select": "plain", "Größe": null, "flag": false, "amount": null, "at": null,
            "day": null, "clock": null, "doc": null, "tags": []
        }),
    ];
    for i in 3..=2500 {
        out.push(json!({"ID": i, "Select": format!("row {i}"), "Größe": i as f64 / 4.0, "flag": i % 2 == 0}));
    }
    out
}

fn hints() -> serde_json::Value {
    json!({
        "amount": {"data_type": "decimal", "precision": 38, "scale": 9},
        "at": {"data_type": "timestamp"},
        "day": {"data_type": "date"},
        "clock": {"data_type": "time"},
        "doc": {"data_type": "json"}
    })
}

async fn loaded(
    destination: &str,
    credentials: &str,
    dataset: &str,
    dir: &std::path::Path,
) -> Pipeline {
    let mut p = Pipeline::builder(&format!("read_back_{destination}"))
        .destination(destination)
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(credentials)
        .config(
            dlt_config::Config::builder()
                .project_dir(dir)
                .no_global_dir()
                .env(false),
        )
        .build()
        .unwrap();
    p.run(vec![Resource::new(TABLE, items())
        .columns_json(&hints())
        .unwrap()])
        .await
        .unwrap_or_else(|e| panic!("{destination}: {e}"));
    p
}

#[derive(Debug, Deserialize, PartialEq)]
struct Event {
    id: i64,
    select: Option<String>,
    #[serde(rename = "gr_e")]
    groesse: Option<f64>,
    flag: bool,
}

#[tokio::test]
async fn datasets_read_back_alike_on_postgres_and_sqlite() {
    let db = connect().await;
    let ds = fresh_schema(&db, "read_back::datasets").await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir
        .path()
        .join("read_back.db")
        .to_string_lossy()
        .to_string();
    for (destination, credentials) in [("postgres", pg_url()), ("sqlite", sqlite)] {
        let p = loaded(destination, &credentials, &ds, dir.path()).await;
        let data = p.dataset().await.unwrap();
        assert_eq!(
            data.tables(),
            vec![TABLE_NORMALIZED, "events_of_year__tags"],
            "{destination}"
        );
        let t = data.table(TABLE_NORMALIZED).unwrap();
        assert_eq!(t.count().await.unwrap(), 2500, "{destination}");

        // every type, as JSON, NULLs included
        let rows = t
            .clone()
            .select(&[
                "id", "select", "gr_e", "flag", "amount", "at", "day", "clock", "doc",
            ])
            .order_by("id", SortOrder::Asc)
            .limit(2)
            .rows()
            .await
            .unwrap();
        assert_eq!(
            serde_json::Value::Array(rows.into_iter().map(serde_json::Value::Object).collect()),
            expected_first_rows(),
            "{destination}"
        );

        // filters, order, window; typed rows
        let page: Vec<Event> = t
            .clone()
            .select(&["id", "select", "gr_e", "flag"])
            .filter("id", Comparison::Gt, 100)
            .filter("flag", Comparison::Eq, true)
            .is_not_null("gr_e")
            .order_by("id", SortOrder::Desc)
            .limit(3)
            .offset(1)
            .fetch()
            .await
            .unwrap();
        assert_eq!(
            page,
            vec![
                Event {
                    id: 2498,
                    select: Some("row 2498".into()),
                    groesse: Some(624.5),
                    flag: true
                },
                Event {
                    id: 2496,
                    select: Some("row 2496".into()),
                    groesse: Some(624.0),
                    flag: true
                },
                Event {
                    id: 2494,
                    select: Some("row 2494".into()),
                    groesse: Some(623.5),
                    flag: true
                },
            ],
            "{destination}"
        );
        let hostile = t
            .clone()
            .filter(
                "select",
                Comparison::Eq,
                "x'; drop table events_of_year; --",
            )
            .count()
            .await
            .unwrap();
        assert_eq!(hostile, 1, "{destination}");
        assert_eq!(t.clone().is_null("amount").count().await.unwrap(), 2499);
        assert_eq!(
            t.clone()
                .is_in("id", vec![Value::Int(1), Value::Int(7), Value::Int(99_999)])
                .count()
                .await
                .unwrap(),
            2,
            "{destination}"
        );
        assert_eq!(t.clone().is_in("id", vec![]).count().await.unwrap(), 0);
        let since = t
            .clone()
            .filter(
                "at",
                Comparison::Ge,
                Value::Timestamp("2024-01-01T00:00:00Z".parse().unwrap()),
            )
            .count()
            .await
            .unwrap();
        assert_eq!(since, 1, "{destination}: timestamps compare as timestamps");

        // Arrow batches stream: 2500 rows in batches of at most 1000, typed
        let mut batches = t
            .clone()
            .select(&["id", "select"])
            .order_by("id", SortOrder::Asc)
            .arrow(1000)
            .await
            .unwrap();
        let mut sizes = Vec::new();
        let mut sum = 0i64;
        while let Some(b) = batches.next().await.unwrap() {
            sizes.push(b.num_rows());
            let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            sum += ids.iter().flatten().sum::<i64>();
            assert!(b.column(1).as_any().downcast_ref::<StringArray>().is_some());
        }
        assert_eq!(sizes, vec![1000, 1000, 500], "{destination}");
        assert_eq!(sum, 2500 * 2501 / 2, "{destination}");

        // a second read while one is open gets a connection of its own (no wait on SQLite)
        let mut open = t.clone().cursor().await.unwrap();
        let first = open.next_values(10).await.unwrap().unwrap();
        assert_eq!(first.len(), 10);
        assert_eq!(
            data.table("events_of_year__tags")
                .unwrap()
                .count()
                .await
                .unwrap(),
            2
        );
        drop(open);

        // the user's SQL with parameters: values stay values
        let param = if destination == "postgres" {
            "$1"
        } else {
            "?1"
        };
        let sql =
            format!("select count(*) as n from {TABLE_NORMALIZED} where \"select\" = {param}");
        let n = data
            .query(&sql, vec![Value::from("plain' or '1'='1")])
            .rows()
            .await
            .unwrap();
        assert_eq!(
            n,
            vec![json!({"n": 0}).as_object().unwrap().clone()],
            "{destination}"
        );
        let mut q = data
            .query(
                &format!(
                    "select id, \"select\" from {TABLE_NORMALIZED} where id <= {param} order by id"
                ),
                vec![Value::Int(3)],
            )
            .arrow(2)
            .await
            .unwrap();
        let mut rows = 0;
        while let Some(b) = q.next().await.unwrap() {
            assert!(b.num_rows() <= 2);
            assert!(
                b.column(0).as_any().downcast_ref::<Int64Array>().is_some(),
                "{destination}"
            );
            rows += b.num_rows();
        }
        assert_eq!(rows, 3, "{destination}");
        assert_eq!(
            data.row_counts().await.unwrap()[0],
            (TABLE_NORMALIZED.to_string(), 2500)
        );

        // what is not there
        let e = data.table("nope").unwrap_err().to_string();
        assert!(
            e.contains("no table `nope`") && e.contains(TABLE_NORMALIZED),
            "{e}"
        );
        let e = t
            .clone()
            .filter("missing", Comparison::Eq, 1)
            .count()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no column `missing`") && e.contains("gr_e"),
            "{e}"
        );
        // and the query could not write
        let w = data
            .query(&format!("delete from {TABLE_NORMALIZED}"), vec![])
            .rows()
            .await;
        assert!(w.is_err(), "{destination}: a delete ran in a read");
        assert_eq!(t.count().await.unwrap(), 2500, "{destination}");
    }
}

fn expected_first_rows() -> serde_json::Value {
    serde_json::from_str(
        r#"[{"id":1,"select":"x'; drop table events_of_year; --","gr_e":1.5,"flag":true,
        "amount":12345678901234567890.123456789,"at":"2024-01-02T03:04:05.123456Z",
        "day":"2024-02-29","clock":"23:59:59.500","doc":{"a":[1,2],"b":null}},
        {"id":2,"select":"plain","gr_e":null,"flag":false,"amount":null,"at":null,"day":null,
        "clock":null,"doc":null}]"#,
    )
    .unwrap()
}
