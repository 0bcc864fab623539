//! Reading a loaded dataset back through the library (`Pipeline::dataset`), as
//! `cargo xtask e2e` runs it after its loads.
//!
//! `read_back --pipeline NAME --pipelines-dir DIR [--destination D] [--credentials C]
//! [--expect-rows N]` opens the pipeline, lists its tables with their row counts, prints the
//! newest events as JSON rows and as typed rows, and streams table `events` as Arrow record
//! batches; it fails unless the batches hold every row (and `N` rows, when given).

use pipeline::arrow_array::{Array, StringArray};
use pipeline::{Pipeline, PipelineOverrides};
use serde::Deserialize;

use dest_core::{Comparison, SortOrder};
// the destination crates must be linked for the registry to know them
use dest_postgres as _;
use dest_sqlite as _;

/// The columns of an event this example cares about (a row has more: they are ignored).
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    r#type: String,
    created_at: String,
    public: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut name, mut dir, mut expect) = (None, None, None);
    let mut overrides = PipelineOverrides::default();
    while let Some(flag) = args.next() {
        let value = args.next();
        match flag.as_str() {
            "--pipeline" => name = value,
            "--pipelines-dir" => dir = value,
            "--destination" => overrides.destination = value,
            "--credentials" => overrides.credentials = value,
            "--expect-rows" => expect = value.map(|v| v.parse::<u64>()).transpose()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let name = name.ok_or_else(|| anyhow::anyhow!("--pipeline NAME is required"))?;
    let pipeline =
        Pipeline::open_existing(&name, dir.as_deref().map(std::path::Path::new), &overrides)?;
    let dataset = pipeline.dataset().await?;

    println!("dataset {}:", dataset.dataset_name());
    for (table, rows) in dataset.row_counts().await? {
        println!("  {table:<40} {rows:>9} rows");
    }

    let events = dataset.table("events")?;
    // the newest three public events, as JSON objects
    let newest = events
        .clone()
        .select(&["id", "type", "created_at"])
        .filter("public", Comparison::Eq, true)
        .order_by("created_at", SortOrder::Desc)
        .limit(3)
        .rows()
        .await?;
    for row in &newest {
        println!("  newest: {}", serde_json::Value::Object(row.clone()));
    }
    // the same rows as values of a Rust type
    let typed: Vec<Event> = events
        .clone()
        .filter("public", Comparison::Eq, true)
        .order_by("created_at", SortOrder::Desc)
        .limit(3)
        .fetch()
        .await?;
    for e in &typed {
        println!(
            "  typed:  {} {} at {} (public: {})",
            e.id, e.r#type, e.created_at, e.public
        );
    }
    anyhow::ensure!(
        newest.len() == typed.len()
            && newest
                .iter()
                .zip(&typed)
                .all(|(j, t)| j.get("id").and_then(|v| v.as_str()) == Some(t.id.as_str())),
        "the JSON rows and the typed rows differ"
    );

    // every event as Arrow record batches, one batch in memory at a time
    let total = events.count().await?;
    let mut batches = events.clone().select(&["id", "type"]).arrow(5_000).await?;
    let (mut rows, mut count, mut push_events) = (0u64, 0usize, 0usize);
    while let Some(batch) = batches.next().await? {
        rows += batch.num_rows() as u64;
        count += 1;
        if let Some(types) = batch.column(1).as_any().downcast_ref::<StringArray>() {
            push_events += types.iter().flatten().filter(|t| *t == "PushEvent").count();
        }
    }
    println!("  arrow: {rows} rows of `events` in {count} batches ({push_events} push events)");
    anyhow::ensure!(
        rows == total,
        "the Arrow batches hold {rows} rows, the table {total}"
    );
    if let Some(n) = expect {
        anyhow::ensure!(rows == n, "`events` holds {rows} rows, expected {n}");
    }
    Ok(())
}
