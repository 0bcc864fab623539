//! `dlt-rs rest-api CONFIG`: a dlt `RESTAPIConfig` file (YAML here) loaded without code:
//! a dependent resource, the auth's token from `.dlt/secrets.toml`, `--resources`, an
//! incremental second run that asks only from the cursor on, and a refused token that
//! fails the run with an error that names the URL and not the token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use source_rest::fixture::{FixtureApi, BEARER_TOKEN};
use test_support::{connect, fresh_schema, pg_url, quote_ident};

use crate::common::{contents, dlt_rs};

#[tokio::test(flavor = "multi_thread")]
async fn rest_api_loads_a_yaml_config_with_secrets_from_the_configuration() {
    let db = connect().await;
    let dataset = fresh_schema(&db, "cli rest api").await;
    let api = FixtureApi::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".dlt")).unwrap();
    std::fs::write(
        dir.path().join(".dlt/secrets.toml"),
        format!("[sources.rest_api]\ntoken = \"{BEARER_TOKEN}\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("api.yaml"),
        format!(
            r#"client:
  base_url: {url}
resources:
  - name: posts
    primary_key: id
    endpoint:
      path: posts
      data_selector: data
      paginator: {{type: page_number, base_page: 1, total_path: total_pages}}
  - name: comments
    include_from_parent: [title]
    endpoint:
      path: posts/{{resources.posts.id}}/comments
      paginator: single_page
  - name: tickets
    primary_key: id
    write_disposition: merge
    endpoint:
      path: tickets
      data_selector: tickets
      paginator: {{type: page_number, base_page: 1, total_path: total_pages}}
      params:
        updated_since:
          type: incremental
          cursor_path: updated_at
          initial_value: "2024-01-01T00:00:00Z"
  - name: accounts
    endpoint:
      path: secure/bearer
      data_selector: data
      auth: {{type: bearer}}
"#,
            url = api.url()
        ),
    )
    .unwrap();
    let url = pg_url();
    let pipes = dir.path().join("pipes").to_string_lossy().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "rest-api",
            "api.yaml",
            "--credentials",
            &url,
            "--pipeline",
            "cli_rest",
            "--pipelines-dir",
            &pipes,
            "--dataset",
            &dataset,
        ];
        args.extend_from_slice(extra);
        dlt_rs(&args, dir.path())
    };
    let out = run(&[]);
    assert!(out.status.success(), "{out:?}");
    let d = quote_ident(&dataset);
    let count = |table: &str| {
        let db = &db;
        let sql = format!("SELECT count(*)::text FROM {d}.{table}");
        async move { contents(db, &sql).await }
    };
    assert_eq!(count("posts").await, ["23"]);
    let accounts = api.records("accounts").len().to_string();
    assert_eq!(count("accounts").await, [accounts]);
    // every comment carries its post's title
    assert_eq!(
        contents(
            &db,
            &format!(
                "SELECT (count(*) > 0 AND count(*) = count(_posts_title))::text FROM {d}.comments"
            )
        )
        .await,
        ["true"]
    );
    let tickets = count("tickets").await;

    // the second run: only tickets from the cursor on are asked for; only `tickets`
    api.clear_requests();
    let out = run(&["--resources", "tickets"]);
    assert!(out.status.success(), "{out:?}");
    let asked: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.path == "/tickets")
        .filter_map(|r| r.param("updated_since").map(str::to_string))
        .collect();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|v| v.as_str() > "2024-01-01T00:00:00Z"),
        "{asked:?}"
    );
    assert!(api.requests().iter().all(|r| r.path == "/tickets"));
    assert_eq!(count("tickets").await, tickets, "merged: nothing doubled");

    // a refused token: the run fails naming the URL and status, never the token
    std::fs::write(
        dir.path().join(".dlt/secrets.toml"),
        "[sources.rest_api]\ntoken = \"not-the-token-xyz\"\n",
    )
    .unwrap();
    let out = run(&["--resources", "accounts"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("401") && err.contains("/secure/bearer"),
        "{err}"
    );
    assert!(!err.contains("not-the-token-xyz"), "{err}");
    // an unknown resource is named
    let out = run(&["--resources", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`nope`"));
}
