//! dbt on a real PostgreSQL: a pipeline loads rows, dbt builds models from them in the
//! pipeline's dataset.
//!
//! dbt comes from a virtual environment cached in the cargo target dir (`<target>/dbt-venv`),
//! made with `python3 -m venv` and `pip install dbt-postgres` when `<venv>/bin/dbt` is
//! missing. When that install fails the tests fail (they never skip).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use dlt_dbt::{DbtError, DbtOptions, NodeStatus, PipelineOverrides};
use pipeline::{Pipeline, Resource};
use serde_json::json;
use test_support::dbt::dbt_venv;
use test_support::{connect, fresh_schema, pg_url, query_rows};

use dest_postgres as _;

/// The test server's URL with a password in it (one of its own, or a made-up one the
/// test server ignores: it lets the tests in with trust authentication), and the password.
fn url_with_password() -> (String, String) {
    let url = pg_url();
    let creds = dest_postgres::PostgresCredentials::parse_url(&url).unwrap();
    if let Some(pw) = &creds.password {
        return (url, pw.expose().to_string());
    }
    let pw = "dlt-rs-dbt-Secret-7f3a";
    let auth = url.find("://").unwrap() + 3;
    let at = auth + url[auth..].find('@').expect("the test URL names a user");
    (format!("{}:{pw}{}", &url[..at], &url[at..]), pw.to_string())
}

/// Configuration that ignores the developer's own `.dlt/` folders and environment.
fn isolated_config(dir: &Path) -> dlt_config::ConfigBuilder {
    dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(false)
}

fn items() -> Vec<serde_json::Value> {
    vec![
        json!({"id": 1, "category": "a", "qty": 2}),
        json!({"id": 2, "category": "a", "qty": 3}),
        json!({"id": 3, "category": "a", "qty": 1}),
        json!({"id": 4, "category": "b", "qty": 5}),
        json!({"id": 5, "category": "b", "qty": 1}),
    ]
}

/// Loads [`items`] into `dataset` through pipeline `name` kept in `dir`.
async fn load_items(name: &str, dataset: &str, dir: &Path, url: &str) -> Pipeline {
    let mut p = Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir.join("pipelines"))
        .credentials(url)
        .config(isolated_config(dir))
        .build()
        .unwrap();
    p.run(vec![Resource::new("items", items())]).await.unwrap();
    p
}

/// A copy of the fixture project in `dir` (dbt writes `target/` and `logs/` into it).
fn project_copy(dir: &Path) -> PathBuf {
    let to = dir.join("project");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbt_project"),
        &to,
    );
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// Files under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

async fn rows(db: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    query_rows(db, sql)
        .await
        .into_iter()
        .map(|r| r.into_iter().map(|v| v.unwrap_or_default()).collect())
        .collect()
}

#[tokio::test]
async fn builds_models_in_the_pipeline_dataset() {
    let venv = dbt_venv();
    let db = connect().await;
    let ds = fresh_schema(&db, "dbt::builds_models_in_the_pipeline_dataset").await;
    let dir = tempfile::tempdir().unwrap();
    let (url, password) = url_with_password();
    let p = load_items("dbt_models", &ds, dir.path(), &url).await;
    let project = project_copy(dir.path());

    let options = DbtOptions::default()
        .venv(&venv)
        .var("min_qty", 2)
        .exclude("broken");
    let result = dlt_dbt::run(&p, &project, &options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(result.success, "{result}");
    assert_eq!(result.exit_code, Some(0));
    assert_eq!(result.schema, ds);
    let mut ids: Vec<_> = result.nodes.iter().map(|n| n.unique_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "model.dlt_rs_test.category_a",
            "model.dlt_rs_test.items_summary"
        ]
    );
    let summary = result.node("items_summary").unwrap();
    assert_eq!(summary.status, NodeStatus::Success, "{summary}");
    assert_eq!(summary.rows_affected, Some(2), "{summary}");
    assert!(summary
        .relation_name
        .as_deref()
        .is_some_and(|r| r.contains(&ds)));
    assert_eq!(
        result.run_results.as_deref(),
        Some(project.join("target/run_results.json").as_path())
    );

    assert_eq!(
        rows(
            &db,
            &format!("select category, items::text, total_qty::text from {ds}.items_summary order by category")
        )
        .await,
        [["a", "2", "5"], ["b", "1", "5"]]
    );
    assert_eq!(
        rows(
            &db,
            &format!("select category, items::text from {ds}.category_a")
        )
        .await,
        [["a", "2"]]
    );
    assert_eq!(
        rows(
            &db,
            &format!(
                "select table_name, table_type from information_schema.tables \
                 where table_schema = '{ds}' and table_name in ('items_summary', 'category_a', 'broken') \
                 order by table_name"
            )
        )
        .await,
        [["category_a", "VIEW"], ["items_summary", "BASE TABLE"]]
    );

    // the password reached dbt (the profile needs the variable) but no file and no output
    assert!(
        files_containing(&project, &password).is_empty(),
        "the password is in {:?}",
        files_containing(&project, &password)
    );
    assert!(!result.output.iter().any(|l| l.contains(&password)));

    // as the CLI will: the pipeline opened by name, its dataset from its state
    let options = DbtOptions::default()
        .venv(&venv)
        .select("items_summary")
        .var("min_qty", 0);
    let overrides = PipelineOverrides {
        credentials: Some(url.clone()),
        ..PipelineOverrides::default()
    };
    let pipelines_dir = dir.path().join("pipelines");
    let result = dlt_dbt::run_for_cli(
        "dbt_models",
        Some(&pipelines_dir),
        &project,
        &overrides,
        &options,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(result.schema, ds);
    assert_eq!(result.nodes.len(), 1, "{result}");
    assert_eq!(
        rows(
            &db,
            &format!("select category, items::text, total_qty::text from {ds}.items_summary order by category")
        )
        .await,
        [["a", "3", "6"], ["b", "2", "6"]]
    );
    assert!(format!("{overrides:?}").contains("***"));
    assert!(!format!("{overrides:?}").contains(&password));
}

#[tokio::test]
async fn a_failing_model_is_named_in_the_error() {
    let venv = dbt_venv();
    let db = connect().await;
    let ds = fresh_schema(&db, "dbt::a_failing_model_is_named_in_the_error").await;
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = url_with_password();
    let p = load_items("dbt_failing", &ds, dir.path(), &url).await;
    let project = project_copy(dir.path());

    let err = dlt_dbt::run(&p, &project, &DbtOptions::default().venv(&venv))
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, DbtError::Failed(_)), "{msg}");
    assert!(msg.starts_with("`dbt run` failed (exit code 1)"), "{msg}");
    assert!(msg.contains("model.dlt_rs_test.broken (error)"), "{msg}");
    assert!(msg.contains("no_such_table"), "{msg}");
    assert!(msg.contains("last lines of dbt's output"), "{msg}");
    assert!(!msg.contains("model.dlt_rs_test.items_summary ("), "{msg}");

    let result = err.result().unwrap();
    assert!(!result.success);
    assert_eq!(result.exit_code, Some(1));
    assert_eq!(result.node("broken").unwrap().status, NodeStatus::Error);
    assert_eq!(
        result.node("items_summary").unwrap().status,
        NodeStatus::Success
    );
    let failed: Vec<_> = result.failed().map(|n| n.name()).collect();
    assert_eq!(failed, ["broken"]);
    // the other models were built
    assert_eq!(
        rows(
            &db,
            &format!("select count(*)::text from {ds}.items_summary")
        )
        .await,
        [["2"]]
    );
}

#[tokio::test]
async fn dbt_that_cannot_start_the_project_fails_with_its_output() {
    let venv = dbt_venv();
    let dir = tempfile::tempdir().unwrap();
    let project = project_copy(dir.path());
    std::fs::write(
        project.join("models/unparsable.sql"),
        "select {{ this is not jinja }}",
    )
    .unwrap();
    let (url, _) = url_with_password();
    let creds = dest_postgres::PostgresCredentials::parse_url(&url).unwrap();
    let dest = dest_postgres::Postgres::new(creds, Default::default());
    let err = dlt_dbt::run_with_destination(
        &dest,
        "dbt_never_built",
        &project,
        &DbtOptions::default().venv(&venv),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("`dbt run` failed (exit code 2)"), "{msg}");
    assert!(msg.contains("unparsable"), "{msg}");
}
