//! What a user sees when an API misbehaves: one-line errors naming the resource, the page
//! and the URL, never a secret, and nothing of the run loaded; and the requests dlt-rs
//! makes (retries, dependent requests, incremental params).

use serde_json::json;
use source_rest::fixture::{FixtureApi, API_KEY_PARAM};
use source_rest::{RestApiConfig, RestApiSource};
use test_support::{connect, fresh_schema, query_rows};

use crate::cases::{http_options, pipeline};

/// Runs `config` into a fresh dataset; the error text of a failed run and whether any
/// table of the run exists afterwards.
async fn run(test: &str, config: serde_json::Value) -> (Result<(), String>, bool) {
    let db = connect().await;
    let dataset = fresh_schema(&db, test).await;
    let dir = tempfile::tempdir().unwrap();
    let source = RestApiSource::new(RestApiConfig::from_json(&config).unwrap(), http_options());
    let result = match source.resources() {
        Ok(r) => pipeline(&test.replace(' ', "_"), &dataset, dir.path())
            .run(r)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let tables = query_rows(
        &db,
        &format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{dataset}' \
             AND table_name NOT LIKE '\\_dlt%'"
        ),
    )
    .await;
    let any = tables[0][0].as_deref() != Some("0");
    (result, any)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_credential_is_named_without_the_secret() {
    let api = FixtureApi::start().unwrap();
    for (auth, path) in [
        (
            json!({"type": "bearer", "token": "s3cret-token-1"}),
            "secure/bearer",
        ),
        (
            json!({"type": "api_key", "name": API_KEY_PARAM, "api_key": "s3cret-key-2", "location": "query"}),
            "secure/api-key-query",
        ),
        (
            json!({"type": "http_basic", "username": "ann", "password": "s3cret-pass-3"}),
            "secure/basic",
        ),
    ] {
        let (result, loaded) = run(
            "rest errors auth",
            json!({"client": {"base_url": api.url(), "auth": auth},
                   "resources": [{"name": "accounts", "endpoint": {"path": path, "data_selector": "data"}}]}),
        )
        .await;
        let e = result.unwrap_err();
        assert!(e.contains("401") && e.contains(path), "{e}");
        assert!(e.contains("`accounts`"), "names the resource: {e}");
        assert!(!e.contains("s3cret"), "no secret in: {e}");
        assert!(!loaded);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_page_is_named_and_nothing_of_the_run_loads() {
    let api = FixtureApi::start().unwrap();
    api.malformed_page("/posts", 3);
    let config = json!({"client": {"base_url": api.url()}, "resources": [
        {"name": "tags", "endpoint": {"path": "tags", "data_selector": "tags", "paginator": "single_page"}},
        {"name": "posts", "endpoint": {"path": "posts", "params": {"per_page": 5}, "data_selector": "data",
          "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"}}}
    ]});
    let (result, loaded) = run("rest errors malformed", config.clone()).await;
    let e = result.unwrap_err();
    assert!(
        e.contains("`posts`") && e.contains("page 3") && e.contains("not JSON"),
        "{e}"
    );
    assert!(!loaded, "nothing of the run loads, `tags` neither");
    // fixed: the next run loads everything once
    api.clear_faults();
    let (result, loaded) = run("rest errors malformed", config).await;
    result.unwrap();
    assert!(loaded);
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_exhausted_name_the_status_and_the_attempts() {
    let api = FixtureApi::start().unwrap();
    api.fail_next("/tags", 503, 100);
    let (result, loaded) = run(
        "rest errors retries",
        json!({"client": {"base_url": api.url()}, "resources": [
            {"name": "tags", "endpoint": {"path": "tags", "data_selector": "tags", "paginator": "single_page"}}]}),
    )
    .await;
    let e = result.unwrap_err();
    assert!(e.contains("503") && e.contains("5 attempt"), "{e}");
    assert!(!loaded);
    assert_eq!(api.request_count("/tags"), 5, "dlt's 5 attempts");
}
