//! `dlt-rs dashboard` end to end in headless Chromium (Debian's `chromium`, installed where
//! missing): a pipeline loaded here (nested data, an incremental cursor, a package aborted
//! by a failed job) shows its pipelines list, loads, schema, table rows, failed jobs and
//! state, and the page reports no error of its own (`#errors` stays empty).
//!
//! With `DLT_RS_DASHBOARD_SCREENSHOTS=DIR` the test also writes a screenshot of each view
//! into DIR (`docs/img/` holds the ones docs/dashboard.md shows).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use pipeline::{Incremental, Pipeline, PipelineFolder, Resource};
use serde_json::json;
use test_support::chromium::{dump_dom, ensure_chromium, screenshot};
use test_support::{connect, fresh_schema, pg_url};

use crate::common::{dlt_rs, BIN};

/// The dashboard process, stopped when the test ends (passing or not).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `dlt-rs dashboard` on a free port; its address, read from its first line.
fn start(pipes: &Path, cwd: &Path, url: &str) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args(["dashboard", "--port", "0", "--pipelines-dir"])
        .arg(pipes)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env("DESTINATION__POSTGRES__CREDENTIALS", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let address = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (server, address)
}

/// The DOM of a view once it rendered, after checking the page reported no error.
fn view(chromium: &Path, address: &str, route: &str, ready: &str) -> String {
    let dom = dump_dom(chromium, &format!("{address}#/{route}"), 20_000);
    assert!(
        dom.contains(&format!("data-ready=\"{ready}\"")),
        "view {route} did not render:\n{dom}"
    );
    assert!(
        dom.contains("<pre id=\"errors\" aria-live=\"polite\"></pre>"),
        "the page reported errors on {route}:\n{dom}"
    );
    dom
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_a_loaded_pipeline_in_chromium() {
    let chromium = ensure_chromium();
    let db = connect().await;
    let ds = fresh_schema(&db, "dashboard::views").await;
    let dir = tempfile::tempdir().unwrap();
    let pipes = dir.path().join("pipes");
    let url = pg_url();

    // two loads of nested data with an incremental cursor
    let mut p = Pipeline::builder(&ds)
        .destination("postgres")
        .dataset_name(&ds)
        .pipelines_dir(&pipes)
        .credentials(&url)
        .build()
        .unwrap();
    let orders = |rows: serde_json::Value| {
        Resource::new("orders", rows.as_array().unwrap().clone())
            .incremental(Incremental::new("updated_at"))
    };
    p.run(vec![orders(json!([
        {"id": 1, "customer": "ann <b>&amp;", "updated_at": "2024-05-01T10:00:00Z",
         "lines": [{"sku": "tea", "qty": 2}, {"sku": "cup", "qty": 1}]},
        {"id": 2, "customer": "bob", "updated_at": "2024-05-02T10:00:00Z", "lines": []}
    ]))])
    .await
    .unwrap();
    p.run(vec![orders(json!([
        {"id": 3, "customer": "cy", "updated_at": "2024-05-03T10:00:00Z", "lines": [{"sku": "pot", "qty": 1}]}
    ]))])
    .await
    .unwrap();
    // a package aborted by a failed job (a unique column with a duplicate)
    let file = dir.path().join("codes.jsonl");
    std::fs::write(&file, "{\"code\": \"a\"}\n{\"code\": \"a\"}\n").unwrap();
    let out = dlt_rs(
        &[
            "load",
            file.to_str().unwrap(),
            "--table",
            "codes",
            "--columns",
            "{\"code\": {\"unique\": true}}",
            "--pipeline",
            &ds,
            "--dataset",
            &ds,
            "--credentials",
            &url,
            "--pipelines-dir",
            pipes.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!out.status.success(), "the duplicate loaded");
    let folder = PipelineFolder::inspect(&ds, Some(&pipes)).unwrap();
    let load_ids: Vec<String> = folder
        .packages()
        .unwrap()
        .into_iter()
        .map(|p| p.load_id)
        .collect();
    assert_eq!(load_ids.len(), 3);

    let (_server, address) = start(&pipes, dir.path(), &url);
    let shots = std::env::var_os("DLT_RS_DASHBOARD_SCREENSHOTS").map(std::path::PathBuf::from);
    let shoot = |route: &str, name: &str| {
        if let Some(d) = &shots {
            std::fs::create_dir_all(d).unwrap();
            screenshot(
                &chromium,
                &format!("{address}#/{route}"),
                &d.join(format!("dashboard-{name}.png")),
                (1200, 720),
            );
        }
    };

    // the pipelines of the folder
    let list = view(&chromium, &address, "", "pipelines");
    assert!(list.contains(&format!(">{ds}</a>")), "{list}");
    shoot("", "pipelines");

    // its loads: every package, the aborted one too, with rows per table in the chart
    let loads = view(&chromium, &address, &format!("p/{ds}/loads"), "loads");
    for id in &load_ids {
        assert!(loads.contains(id), "load {id} missing:\n{loads}");
    }
    assert!(
        loads.contains("id=\"loads-chart\"") && loads.contains("orders__lines: 2 rows"),
        "{loads}"
    );
    assert!(loads.contains("class=\"pill aborted\""), "{loads}");
    shoot(&format!("p/{ds}/loads"), "loads");

    // the schema as a diagram: tables, types, hints, the parent link
    let schema = view(&chromium, &address, &format!("p/{ds}/schema"), "schema");
    assert!(
        schema.contains("data-table=\"orders__lines\"") && schema.contains("data-table=\"orders\""),
        "{schema}"
    );
    assert!(
        schema.contains("orders → orders__lines") && schema.contains("timestamp"),
        "{schema}"
    );
    shoot(&format!("p/{ds}/schema"), "schema");

    // the rows of a table (escaped, not interpreted), with counts
    let data = view(
        &chromium,
        &address,
        &format!("p/{ds}/data/orders/0"),
        "data",
    );
    assert!(data.contains("ann &lt;b&gt;&amp;amp;"), "{data}");
    assert!(data.contains("rows 1–3 of 3"), "{data}");
    assert!(
        data.contains("orders__lines</a></td><td class=\"num\">3</td>"),
        "{data}"
    );
    shoot(&format!("p/{ds}/data/orders/0"), "data");

    // the failed job with its error
    let failed = view(&chromium, &address, &format!("p/{ds}/failed"), "failed");
    assert!(
        failed.contains("codes") && failed.contains("duplicate key value"),
        "{failed}"
    );
    shoot(&format!("p/{ds}/failed"), "failed");

    // the incremental cursor
    let state = view(&chromium, &address, &format!("p/{ds}/state"), "state");
    assert!(
        state.contains("id=\"cursors\"") && state.contains("2024-05-03T10:00:00Z"),
        "{state}"
    );
    shoot(&format!("p/{ds}/state"), "state");

    // credentials are never part of an answer
    for dom in [&list, &loads, &schema, &data, &failed, &state] {
        assert!(
            !dom.contains(&url) && !dom.contains("postgresql://"),
            "{dom}"
        );
    }
}
