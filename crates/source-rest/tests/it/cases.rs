//! The dlt reference cases: the same config and steps against the same fixture must give
//! the same tables, columns and rows as dlt 1.31 gave (`<case>.expected`), and fail where
//! dlt failed, loading what dlt loaded then (nothing).

use std::path::{Path, PathBuf};
use std::time::Duration;

use pipeline::Pipeline;
use serde_json::Value as Json;
use source_rest::fixture::FixtureApi;
use source_rest::{HttpOptions, RestApiConfig, RestApiSource};
use test_support::{connect, fresh_schema, query_rows, quote_ident};
use tokio_postgres::Client;

use dest_postgres as _;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Every string of `v` with `{FIXTURE}` replaced by `url`.
fn with_fixture(v: &Json, url: &str) -> Json {
    match v {
        Json::String(s) => Json::String(s.replace("{FIXTURE}", url)),
        Json::Array(a) => Json::Array(a.iter().map(|x| with_fixture(x, url)).collect()),
        Json::Object(o) => Json::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), with_fixture(x, url)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The dataset as the reference runner dumps it (the same two queries).
async fn dump(db: &Client, dataset: &str) -> Vec<String> {
    let mut out = vec!["## columns".to_string()];
    let columns: Vec<String> = query_rows(
        db,
        &format!(
            "SELECT table_name || '|' || column_name || '|' || data_type || '|' || is_nullable \
             FROM information_schema.columns WHERE table_schema = '{dataset}' \
             AND table_name NOT LIKE '\\_dlt%' ORDER BY table_name, ordinal_position"
        ),
    )
    .await
    .into_iter()
    .flatten()
    .flatten()
    .collect();
    let mut tables: Vec<String> = Vec::new();
    for c in &columns {
        let table = c.split('|').next().unwrap_or_default().to_string();
        if tables.last() != Some(&table) {
            tables.push(table);
        }
    }
    out.extend(columns);
    for t in tables {
        out.push(format!("## table {t}"));
        let rows = query_rows(
            db,
            &format!(
                "SELECT (to_jsonb(t) - '_dlt_load_id' - '_dlt_id' - '_dlt_parent_id' \
                 - '_dlt_root_id')::text AS r FROM {}.{} t ORDER BY r",
                quote_ident(dataset),
                quote_ident(&t)
            ),
        )
        .await;
        out.extend(rows.into_iter().flatten().flatten());
    }
    out
}

pub(crate) fn pipeline(name: &str, dataset: &str, dir: &Path) -> Pipeline {
    let config = dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(Vec::<(String, String)>::new());
    Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(&test_support::pg_url())
        .config(config)
        .build()
        .expect("pipeline builds")
}

/// Retries as dlt's (5 attempts) but without the waits.
pub(crate) fn http_options() -> HttpOptions {
    HttpOptions {
        backoff_factor: Duration::from_millis(5),
        max_retry_delay: Duration::from_millis(20),
        ..HttpOptions::default()
    }
}

/// Runs case `name`: its steps (one run without a steps file), comparing the dataset after
/// each run with dlt's. Returns the differences, if any.
async fn run_case(name: &str) -> Result<(), String> {
    let dir = cases_dir();
    let read = |file: &str| std::fs::read_to_string(dir.join(file));
    let config: Json = serde_json::from_str(&read(&format!("{name}.json")).unwrap()).unwrap();
    let steps: Vec<Json> = match read(&format!("{name}.steps.json")) {
        Ok(text) => serde_json::from_str::<Json>(&text).unwrap()["steps"]
            .as_array()
            .unwrap()
            .clone(),
        Err(_) => vec![serde_json::json!({"run": "run1"})],
    };
    let runs = steps.iter().filter(|s| s.get("run").is_some()).count();
    let fixture = FixtureApi::start().unwrap();
    let config = with_fixture(&config, &fixture.url());
    let db = connect().await;
    let dataset = fresh_schema(&db, &format!("rest case {name}")).await;
    let work = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    for step in &steps {
        if let Some(c) = step.get("control") {
            fixture
                .control(
                    c["method"].as_str().unwrap(),
                    c["path"].as_str().unwrap(),
                    c.get("body").unwrap_or(&Json::Null),
                )
                .unwrap();
            continue;
        }
        let label = step["run"].as_str().unwrap();
        let expected_file = if runs == 1 {
            format!("{name}.expected")
        } else {
            format!("{name}.{label}.expected")
        };
        let expected_text = read(&expected_file).unwrap();
        let mut expected: Vec<&str> = expected_text.lines().collect();
        let dlt_failed = expected.first().is_some_and(|l| l.starts_with("## error"));
        if dlt_failed {
            expected.remove(0);
        }
        let source = RestApiSource::new(RestApiConfig::from_json(&config).unwrap(), http_options());
        let result = match source.resources() {
            Ok(resources) => pipeline(&format!("rest_case_{name}"), &dataset, work.path())
                .run(resources)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match (&result, dlt_failed) {
            (Ok(()), true) => problems.push(format!("{label}: dlt failed, dlt-rs loaded")),
            (Err(e), false) => problems.push(format!("{label}: dlt loaded, dlt-rs failed: {e}")),
            _ => {}
        }
        let got = dump(&db, &dataset).await;
        if got != expected {
            let mut diff = format!("{label}: the dataset differs from dlt's ({expected_file})\n");
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                if g != e {
                    diff.push_str(&format!(
                        "  line {}:\n    dlt-rs: {g}\n    dlt:    {e}\n",
                        i + 1
                    ));
                    break;
                }
            }
            if got.len() != expected.len() {
                diff.push_str(&format!(
                    "  lines: dlt-rs {}, dlt {}\n",
                    got.len(),
                    expected.len()
                ));
            }
            problems.push(diff);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Every case, so one run reports them all.
#[tokio::test(flavor = "multi_thread")]
async fn every_case_loads_what_dlt_loads() {
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            let stem = name.strip_suffix(".json")?;
            (!stem.contains('.')).then(|| stem.to_string())
        })
        .collect();
    names.sort();
    assert!(names.len() >= 30, "{names:?}");
    let only = std::env::var("REST_CASE").ok();
    let mut failed = Vec::new();
    for name in names
        .iter()
        .filter(|n| only.as_ref().is_none_or(|o| o == *n))
    {
        if let Err(e) = run_case(name).await {
            failed.push(format!("case `{name}`:\n{e}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
