//! docs/configuration.md, "Values set in code".

// doc:start
use dlt_config::Config;
use pipeline::{Pipeline, Resource};
use serde_json::json;

use dest_postgres as _; // links the destination: the registry then knows `postgres`

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // values set in code win over environment variables and the .dlt/ files
    let config = Config::builder()
        .set("destination.postgres.create_indexes", false)
        .set("load.workers", 4);
    let mut pipeline = Pipeline::builder("config_code")
        .dataset_name("config_code")
        .config(config) // the credentials still come from .dlt/secrets.toml
        .build()?;
    let users = vec![
        json!({"id": 1, "name": "ann"}),
        json!({"id": 2, "name": "bob"}),
    ];
    let info = pipeline.run(vec![Resource::new("users", users)]).await?;
    println!("{info}");
    Ok(())
}
// doc:end

/// Runs the example.
pub(crate) fn run() -> anyhow::Result<()> {
    main()
}
