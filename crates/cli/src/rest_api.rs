//! `dlt-rs rest-api`: a REST API declared in dlt's `RESTAPIConfig` shape (a JSON, YAML or
//! TOML file) loaded with dlt's `rest_api` semantics, no code needed.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use source_rest::{HttpOptions, RestApiConfig, RestApiSource};

use crate::{RunArgs, Signals};

#[derive(Debug, Args)]
pub struct RestApiArgs {
    /// The config file: dlt's `RESTAPIConfig` dict (`client`, `resource_defaults`,
    /// `resources`) as `.json`, `.yaml` / `.yml` or `.toml`. Secrets it leaves out (an auth's
    /// `token`, `api_key`, `password`...) come from `.dlt/secrets.toml` (`[sources.rest_api]`)
    /// or `SOURCES__REST_API__<KEY>` variables.
    pub config: PathBuf,
    /// Load only these resources (default: every resource of the config).
    #[arg(long, value_delimiter = ',')]
    pub resources: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs `dlt-rs rest-api`.
pub(crate) async fn run(a: RestApiArgs, quiet: bool) -> Result<()> {
    let mut signals = Signals::listen()?;
    a.run.disposition()?;
    let mut config = RestApiConfig::from_file(&a.config)?;
    let settings = dlt_config::Config::load()?;
    config.resolve_secrets(&settings);
    let names = config.resource_names();
    if let Some(unknown) = a.resources.iter().find(|r| !names.contains(&r.as_str())) {
        bail!(
            "--resources names `{unknown}`, which `{}` does not define (it defines: {})",
            a.config.display(),
            names.join(", ")
        );
    }
    let http = HttpOptions::from_config(&settings)?;
    let source = RestApiSource::new(config, http);
    let mut resources = source.resources()?;
    if !a.resources.is_empty() {
        resources.retain(|r| a.resources.iter().any(|n| n == r.table_name()));
    }
    // the config's hints win unless the command line gives its own
    let resources = resources
        .into_iter()
        .map(|r| a.run.hint_given(r))
        .collect::<Result<Vec<_>>>()?;
    let mut p = a.run.pipeline()?;
    let progress = p.progress();
    let info = crate::drive(progress, p.run(resources), &mut signals, &a.run, quiet).await?;
    if !quiet {
        println!("{info}");
    }
    Ok(())
}
