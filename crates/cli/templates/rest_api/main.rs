//! Loads a REST API into PostgreSQL as dlt's `rest_api` source does: the API is declared in
//! `rest_api.yaml` (dlt's `RESTAPIConfig` keys: client, auth, paginators, incremental
//! params, dependent resources). Made by `dlt-rs init rest_api postgres`.
//!
//! Secrets the config leaves out (an auth's `token`, `api_key`, `password`...) come from
//! `.dlt/secrets.toml` (`[sources.rest_api]`); the destination's credentials from
//! `.dlt/secrets.toml` too; environment variables such as `SOURCES__REST_API__TOKEN` or
//! `DESTINATION__POSTGRES__CREDENTIALS` override both.

use pipeline::Pipeline;
use source_rest::{HttpOptions, RestApiConfig, RestApiSource};

// Links the PostgreSQL destination into the binary: without a `use`, the linker drops the
// crate and its registration under the name "postgres".
use dest_postgres as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut pipeline = Pipeline::builder("rest_api")
        .destination("postgres")
        .dataset_name("rest_api_data")
        .build()?;
    let mut config = RestApiConfig::from_file("rest_api.yaml")?;
    config.resolve_secrets(pipeline.config());
    // `[runtime]` request settings (`request_max_attempts`, `request_timeout`...) apply
    let http = HttpOptions::from_config(pipeline.config())?;
    let resources = RestApiSource::new(config, http).resources()?;
    // on a new machine, restore the state (incremental cursors) from the dataset first
    pipeline.sync_destination().await?;
    // requests are blocking: the pipeline extracts on threads of its own
    let info = pipeline.run(resources).await?;
    println!("{info}");
    Ok(())
}
