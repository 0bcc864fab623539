//! docs/destinations/postgres.md, "Data types": a timestamp column with a precision and
//! without time zone, as in dlt's example.

// doc:start
use pipeline::{Pipeline, Resource};
use serde_json::json;

use dest_postgres as _; // links the destination: the registry then knows `postgres`

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = Resource::new(
        "events",
        vec![json!({"event_id": 1, "event_tstamp": "2024-07-30T10:00:00.123"})],
    )
    .columns_json(&json!({
        "event_tstamp": {"data_type": "timestamp", "precision": 3, "timezone": false}
    }))?
    .primary_key(["event_id"]);

    // credentials from .dlt/secrets.toml
    let mut pipeline = Pipeline::builder("chess_events")
        .destination("postgres")
        .dataset_name("chess_events")
        .build()?;
    let info = pipeline.run(vec![events]).await?;
    println!("{info}");
    Ok(())
}
// doc:end

/// Runs the example.
pub(crate) fn run() -> anyhow::Result<()> {
    main()
}
