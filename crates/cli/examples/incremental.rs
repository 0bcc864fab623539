//! Incremental loading with a cursor kept in the pipeline state.
//!
//! `incremental --credentials URL [--dataset NAME] [--pipelines-dir DIR]`
//!
//! A pretend API returns issues updated since a timestamp. The pipeline remembers the
//! newest `updated_at` it loaded (in `state.json` and in `_dlt_pipeline_state`), so each
//! run asks only for what changed, and items repeated at the boundary are not loaded twice.
//! Delete the pipelines dir and run again: the state comes back from the database.

use pipeline::{Incremental, Pipeline, Resource};
use serde_json::{json, Value};

use dest_postgres as _;

/// The pretend API: issues updated at or after `since` (ISO timestamps compare as text here).
fn fetch_issues_since(since: &str, all: &[Value]) -> Vec<Value> {
    all.iter()
        .filter(|i| i["updated_at"].as_str().is_some_and(|u| u >= since))
        .cloned()
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut credentials, mut dataset, mut dir) = (None, None, None);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--credentials", v) => credentials = v,
            ("--dataset", v) => dataset = v,
            ("--pipelines-dir", v) => dir = v,
            (other, _) => anyhow::bail!("unknown flag {other}"),
        }
    }
    let mut builder =
        Pipeline::builder("issues").dataset_name(dataset.as_deref().unwrap_or("issues_data"));
    if let Some(c) = &credentials {
        builder = builder.credentials(c);
    }
    if let Some(d) = &dir {
        builder = builder.pipelines_dir(d);
    }
    let mut pipeline = builder.build()?;
    // a new machine: bring the state back from the destination before reading it
    pipeline.sync_destination().await?;

    let cursor = Incremental::new("updated_at").initial_value("2024-01-01T00:00:00Z");
    let all: Vec<Value> = (1..=6)
        .map(|n| json!({"id": n, "title": format!("issue {n}"), "updated_at": format!("2024-01-0{n}T12:00:00Z")}))
        .collect();

    for round in 1..=2 {
        let since = pipeline
            .incremental_start("issues", &cursor)?
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let page = fetch_issues_since(&since, &all[..if round == 1 { 4 } else { 6 }]);
        println!(
            "round {round}: the API returned {} issues updated since {since}",
            page.len()
        );
        let issues = Resource::new("issues", page)
            .write_disposition("merge", None)?
            .primary_key(["id"])
            .incremental(cursor.clone());
        let info = pipeline.run(vec![issues]).await?;
        println!("{info}");
    }
    Ok(())
}
