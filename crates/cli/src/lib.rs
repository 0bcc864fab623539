//! The dlt-rs command line: `dlt-rs load FILE... --destination postgres ...`.
//!
//! This crate is the one place that links the destination crates (`use dest_postgres as _`),
//! so their `inventory` registrations are in the binary.

mod filesystem;
pub mod init;
pub mod pipeline_cmd;
pub mod progress;
mod query_output;
pub mod rest_api;
mod schema_export;
pub use schema_export::SchemaFormat;
pub mod sql_source;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use pipeline::{Pipeline, Resource};
use source_fs as input;

pub use crate::pipeline_cmd::{DestinationArgs, PipelineAction, PipelineArgs};

// doc:start link
// Link the destinations: without a use, the linker drops their registrations.
use dest_postgres as _;
use dest_sqlite as _;
// doc:end link

/// Load JSON data into databases the way dlt does.
#[derive(Debug, Parser)]
#[command(name = "dlt-rs", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print nothing but errors: no progress, no summary.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log what the pipeline does (`-v`: info, `-vv`: debug, `-vvv`: trace); `DLT_RS_LOG`
    /// (a tracing filter) overrides it.
    #[arg(long, short, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl Cli {
    /// The tracing filter `-v`/`-q` ask for.
    pub fn log_level(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, 0) => "error",
            (_, 0) => "warn",
            (_, 1) => "info",
            (_, 2) => "debug",
            _ => "trace",
        }
    }
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
pub enum Command {
    /// Load JSON Lines, JSON array and CSV files (optionally gzip-compressed) and Parquet
    /// files into a table.
    Load(LoadArgs),
    /// Load the tables of a database (PostgreSQL) with dlt's `sql_database` semantics: one
    /// table per source table, column types, nullability and primary keys reflected.
    SqlDatabase(sql_source::SqlDatabaseArgs),
    /// Load the files of a folder (a path or file:// URL, a pattern of files) into one table
    /// with dlt's `filesystem` source semantics: JSON Lines, JSON, CSV (gzip or not) and
    /// Parquet; a run loads only the files new or changed since the last one.
    Filesystem(filesystem::FilesystemArgs),
    /// Load a REST API declared in dlt's `RESTAPIConfig` shape (a JSON, YAML or TOML file:
    /// client, auth, paginators, incremental params, dependent resources) with dlt's
    /// `rest_api` semantics.
    RestApi(rest_api::RestApiArgs),
    /// List the destinations this binary knows.
    Destinations,
    /// Inspect a pipeline (working folder, dataset, last run), repair it, drop resources or
    /// restore its state from the destination (dlt's `dlt pipeline`); `--list` lists them.
    Pipeline(PipelineArgs),
    /// Run a dbt project against a pipeline's dataset (dlt's dbt runner): the dbt profile is
    /// made from the pipeline's credentials; dbt comes from PATH or `--venv`.
    Dbt(DbtArgs),
    /// Serve the dashboard: a local, read-only web page of the pipelines of the pipelines
    /// dir (loads, schema, data, failed jobs, state) on 127.0.0.1.
    Dashboard(DashboardArgs),
    /// Make a Cargo project in the current folder that loads SOURCE into DESTINATION
    /// (`dlt-rs init chess postgres`, `sql_database`, `filesystem`); `--list` shows the
    /// sources and destinations.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Where pipelines keep their working folders (default `~/.dlt/pipelines`).
    #[arg(long)]
    pub pipelines_dir: Option<PathBuf>,
    /// The port on 127.0.0.1 (0: any free port; the address is printed).
    #[arg(long, default_value_t = DASHBOARD_PORT)]
    pub port: u16,
}

/// The dashboard's default port (dlt's dashboard's).
pub const DASHBOARD_PORT: u16 = 2718;

/// Serves the dashboard of `pipelines_dir` on 127.0.0.1:`port` until Ctrl-C; prints its
/// address first (with `pipeline`'s view when given).
pub(crate) async fn dashboard(
    pipelines_dir: Option<PathBuf>,
    port: u16,
    pipeline: Option<&str>,
) -> Result<()> {
    use std::io::Write;
    let dir = pipeline::PipelineFolder::list(pipelines_dir.as_deref())?.pipelines_dir;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!("could not listen on 127.0.0.1:{port} (`--port` picks another)")
        })?;
    let addr = listener.local_addr()?;
    let url = match pipeline {
        Some(p) => format!("http://{addr}/#/p/{p}"),
        None => format!("http://{addr}/"),
    };
    println!(
        "dlt-rs dashboard: {url} (pipelines of {}; Ctrl-C stops it)",
        dir.display()
    );
    std::io::stdout().flush()?;
    tokio::select! {
        served = dashboard::serve(listener, dir) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct DbtArgs {
    #[command(subcommand)]
    pub action: DbtAction,
}

#[derive(Debug, Subcommand)]
pub enum DbtAction {
    /// `dbt run` (or `--command build|test|...`) on PROJECT_DIR against the pipeline's
    /// dataset, with a profile made from its credentials (the password never goes to disk).
    Run {
        /// The dbt project (holds `dbt_project.yml`).
        project_dir: PathBuf,
        /// The pipeline whose dataset and credentials to use.
        #[arg(long)]
        pipeline: String,
        /// Where pipelines keep their working folders (default `~/.dlt/pipelines`).
        #[arg(long)]
        pipelines_dir: Option<PathBuf>,
        #[command(flatten)]
        destination: DestinationArgs,
        /// A virtual environment with dbt (`<venv>/bin/dbt`); default: `dbt` on PATH.
        #[arg(long)]
        venv: Option<PathBuf>,
        /// The dbt command (`run`, `build`, `test`, ...).
        #[arg(long, default_value = "run")]
        command: String,
        /// dbt `--select`.
        #[arg(long)]
        select: Vec<String>,
        /// dbt `--exclude`.
        #[arg(long)]
        exclude: Vec<String>,
        /// dbt `--full-refresh`.
        #[arg(long)]
        full_refresh: bool,
        /// dbt `--vars`, as a JSON object.
        #[arg(long)]
        vars: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The source (`chess`, `sql_database`, `filesystem`).
    #[arg(required_unless_present = "list")]
    pub source: Option<String>,
    /// The destination (`postgres`).
    #[arg(required_unless_present = "list")]
    pub destination: Option<String>,
    /// List the known sources and destinations.
    #[arg(long, short)]
    pub list: bool,
    /// The dlt-rs checkout to depend on by path (default: the one this binary was built
    /// from, when it still exists; else crates.io versions).
    #[arg(long)]
    pub dlt_rs_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Input files: JSON Lines, a JSON array, or JSON objects (pretty-printed, one after
    /// another); `.gz` compressed or not. `-` reads standard input; a directory loads its
    /// files (sorted by name); a quoted pattern (`'data/*.jsonl'`) the files it matches.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Root table name.
    #[arg(long)]
    pub table: String,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The options of the commands that read files: how their items become rows.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// Below this nesting depth data stays JSON instead of becoming child tables.
    #[arg(long)]
    pub max_table_nesting: Option<u32>,
    /// Column hints as JSON: '{"col": {"data_type": "json", "unique": true}}'.
    #[arg(long)]
    pub columns: Option<String>,
    /// dlt's `nested_hints` as JSON: hints of nested tables by their path below the root
    /// ('{"items": {"columns": {"price": {"data_type": "decimal"}}}}').
    #[arg(long)]
    pub nested_hints: Option<String>,
    /// dlt's `table_name` function: each item loads into the root table its top-level
    /// field FIELD names (`--table` is then the resource's name).
    #[arg(long, value_name = "FIELD")]
    pub table_name_from: Option<String>,
    /// The delimiter of CSV input files: one character, or `tab` (default `,`; `.tsv` files:
    /// tab).
    #[arg(long, value_parser = parse_delimiter)]
    pub csv_delimiter: Option<u8>,
}

impl ReadArgs {
    /// `--columns`, parsed.
    fn columns(&self) -> Result<Option<serde_json::Value>> {
        match &self.columns {
            Some(c) => Ok(Some(
                serde_json::from_str(c).context("--columns is not valid JSON")?,
            )),
            None => Ok(None),
        }
    }

    /// How CSV files are read: the delimiter, and the columns `columns` (the parsed
    /// `--columns`) gives a type, which keep their text.
    fn csv_options(&self, columns: Option<&serde_json::Value>) -> input::CsvOptions {
        input::CsvOptions {
            delimiter: self.csv_delimiter,
            hinted: hinted_columns(columns),
        }
    }

    /// `resource` with the hints of `run` and of these options (`columns`: the parsed
    /// `--columns`).
    fn hint(
        &self,
        run: &RunArgs,
        columns: Option<&serde_json::Value>,
        resource: Resource,
    ) -> Result<Resource> {
        let mut resource = run.hint(resource)?;
        if let Some(n) = self.max_table_nesting {
            resource = resource.max_table_nesting(n);
        }
        if let Some(field) = &self.table_name_from {
            resource = resource.table_name_from(field);
        }
        if let Some(nested) = &self.nested_hints {
            let nested: serde_json::Value =
                serde_json::from_str(nested).context("--nested-hints is not valid JSON")?;
            resource = resource.nested_hints_json(&nested)?;
        }
        if let Some(spec) = columns {
            resource = resource.columns_json(spec)?;
        }
        Ok(resource)
    }
}

/// The options every command that loads data has: where to, into which pipeline, and how.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Destination name.
    #[arg(long, default_value = "postgres")]
    pub destination: String,
    /// Connection string (postgres) or database file (sqlite); without it credentials come
    /// from `.dlt/secrets.toml`, `DESTINATION__<NAME>__CREDENTIALS*` variables or `~/.dlt/`.
    #[arg(long)]
    pub credentials: Option<dest_core::Secret>,
    /// Pipeline name (names the working folder and the state).
    #[arg(long)]
    pub pipeline: String,
    /// Where pipelines keep their working folders (default `~/.dlt/pipelines`).
    #[arg(long)]
    pub pipelines_dir: Option<PathBuf>,
    /// Dataset (a PostgreSQL schema, an attached SQLite file); default `<pipeline>_dataset`.
    #[arg(long)]
    pub dataset: Option<String>,
    /// append, replace or merge (default append; for `rest-api` the config's).
    #[arg(long)]
    pub write_disposition: Option<String>,
    /// delete-insert, upsert, insert-only or scd2 (implies merge).
    #[arg(long)]
    pub merge_strategy: Option<String>,
    /// truncate-and-insert, insert-from-staging or staging-optimized.
    #[arg(long)]
    pub replace_strategy: Option<String>,
    /// Primary key columns, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub primary_key: Vec<String>,
    /// Merge key columns, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub merge_key: Vec<String>,
    /// postgres: insert_values (default for JSON and CSV: multi-row INSERTs, as dlt), csv
    /// (COPY, faster) or parquet (binary COPY, fastest; default for Parquet files and for
    /// `sql-database`); sqlite: typed-jsonl or parquet.
    #[arg(long)]
    pub loader_file_format: Option<String>,
    /// dlt's import_schema_path: a folder whose `<pipeline>.schema.yaml` the run takes as its
    /// schema when the file is new or changed (an edited export).
    #[arg(long)]
    pub import_schema_path: Option<PathBuf>,
    /// dlt's export_schema_path: the schema is written there as `<pipeline>.schema.yaml`
    /// whenever it changes.
    #[arg(long)]
    pub export_schema_path: Option<PathBuf>,
    /// dlt's schema contract for this run: evolve, freeze, discard_row or discard_value for
    /// new tables, columns and data types alike, or per entity as a JSON object
    /// ('{"columns": "freeze", "data_type": "discard_row"}'); kept in the stored schema.
    #[arg(long, value_parser = parse_contract)]
    pub schema_contract: Option<dest_core::SchemaContract>,
}

impl RunArgs {
    /// The write disposition and strategy the options give.
    fn disposition(&self) -> Result<(&str, Option<&str>)> {
        let pair = match (&self.merge_strategy, &self.replace_strategy) {
            (Some(_), Some(_)) => {
                bail!("--merge-strategy and --replace-strategy exclude each other")
            }
            (Some(m), None) => ("merge", Some(m.as_str())),
            (None, Some(r)) => (self.write_disposition(), Some(r.as_str())),
            (None, None) => (self.write_disposition(), None),
        };
        if self.replace_strategy.is_some() && pair.0 != "replace" {
            bail!("--replace-strategy needs --write-disposition replace");
        }
        Ok(pair)
    }

    /// `--write-disposition`, default `append`.
    fn write_disposition(&self) -> &str {
        self.write_disposition.as_deref().unwrap_or("append")
    }

    /// `resource` with the disposition and keys the options give, where they give them (a
    /// source whose own hints stand otherwise: `rest-api`).
    fn hint_given(&self, resource: Resource) -> Result<Resource> {
        let given = self.write_disposition.is_some()
            || self.merge_strategy.is_some()
            || self.replace_strategy.is_some();
        let mut resource = resource;
        if given {
            let (disposition, strategy) = self.disposition()?;
            resource = resource.write_disposition(disposition, strategy)?;
        }
        self.keys(resource)
    }

    /// `resource` with the disposition and keys of the options (keys only where given).
    fn hint(&self, resource: Resource) -> Result<Resource> {
        let (disposition, strategy) = self.disposition()?;
        let resource = resource.write_disposition(disposition, strategy)?;
        self.keys(resource)
    }

    /// `resource` with the keys the options give.
    fn keys(&self, mut resource: Resource) -> Result<Resource> {
        let given = |keys: &[String]| -> Vec<String> {
            keys.iter().filter(|s| !s.is_empty()).cloned().collect()
        };
        let primary_key = given(&self.primary_key);
        if !primary_key.is_empty() {
            resource = resource.primary_key(primary_key);
        }
        let merge_key = given(&self.merge_key);
        if !merge_key.is_empty() {
            resource = resource.merge_key(merge_key);
        }
        Ok(resource)
    }

    /// The pipeline the options name.
    fn pipeline(&self) -> Result<Pipeline> {
        self.pipeline_with_format(self.loader_file_format.as_deref().unwrap_or_default())
    }

    /// [`Self::pipeline`] with loader file format `format` (`""`: the destination's default).
    fn pipeline_with_format(&self, format: &str) -> Result<Pipeline> {
        let mut builder = Pipeline::builder(&self.pipeline).destination(&self.destination);
        if let Some(d) = &self.dataset {
            builder = builder.dataset_name(d);
        }
        if let Some(d) = &self.import_schema_path {
            builder = builder.import_schema_path(d);
        }
        if let Some(d) = &self.export_schema_path {
            builder = builder.export_schema_path(d);
        }
        if let Some(c) = &self.schema_contract {
            builder = builder.schema_contract(c.clone());
        }
        if let Some(d) = &self.pipelines_dir {
            builder = builder.pipelines_dir(d);
        }
        if let Some(c) = &self.credentials {
            builder = builder.credentials(c.expose());
        }
        if !format.is_empty() {
            builder = builder.loader_file_format(format);
        }
        Ok(builder.build()?)
    }

    /// The hint after a load failed in the load step: how to load the failed jobs again.
    fn retry_hint(&self) -> String {
        let dir = self
            .pipelines_dir
            .as_ref()
            .map(|d| format!(" --pipelines-dir {}", d.display()))
            .unwrap_or_default();
        format!(
            "after fixing the cause, `dlt-rs pipeline {}{dir} retry <load id>` loads the failed \
             jobs again; `dlt-rs pipeline {}{dir} info` lists the packages",
            self.pipeline, self.pipeline
        )
    }
}

fn parse_contract(s: &str) -> std::result::Result<dest_core::SchemaContract, String> {
    dest_core::SchemaContract::parse(s).map_err(|e| e.to_string())
}

fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(format!(
            "`{s}` is not a one-character delimiter (use `tab` for a tab; not `\"` or a line end)"
        )),
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Load(args) => load(args, cli.quiet).await,
        Command::SqlDatabase(args) => sql_source::run(args, cli.quiet).await,
        Command::Filesystem(args) => filesystem::run(args, cli.quiet).await,
        Command::RestApi(args) => rest_api::run(args, cli.quiet).await,
        Command::Pipeline(args) => pipeline_cmd::run(args, cli.verbose > 0).await,
        Command::Init(args) => init_command(&args),
        Command::Dbt(DbtArgs {
            action:
                DbtAction::Run {
                    project_dir,
                    pipeline,
                    pipelines_dir,
                    destination,
                    venv,
                    command,
                    select,
                    exclude,
                    full_refresh,
                    vars,
                },
        }) => {
            let vars = match vars {
                None => serde_json::Map::new(),
                Some(text) => match serde_json::from_str(&text) {
                    Ok(serde_json::Value::Object(m)) => m,
                    _ => bail!("--vars must be a JSON object, e.g. '{{\"min_qty\": 2}}'"),
                },
            };
            let options = dlt_dbt::DbtOptions {
                command,
                venv,
                select,
                exclude,
                full_refresh,
                vars,
                echo: !cli.quiet,
                ..Default::default()
            };
            let result = dlt_dbt::run_for_cli(
                &pipeline,
                pipelines_dir.as_deref(),
                &project_dir,
                &destination.overrides(),
                &options,
            )
            .await?;
            if !cli.quiet {
                println!("{result}");
            }
            Ok(())
        }
        Command::Dashboard(args) => dashboard(args.pipelines_dir, args.port, None).await,
        Command::Destinations => {
            for name in dest_core::registry::names() {
                let d = dest_core::registry::find(name)?;
                println!("{name}\t{}", d.description);
            }
            Ok(())
        }
    }
}

fn init_command(args: &InitArgs) -> Result<()> {
    let (Some(source), Some(destination)) = (&args.source, &args.destination) else {
        print!("{}", init::list());
        return Ok(());
    };
    if args.list {
        print!("{}", init::list());
        return Ok(());
    }
    let dir = std::env::current_dir().context("reading the current folder")?;
    let files = init::init(source, destination, &dir, args.dlt_rs_path.as_deref())?;
    println!(
        "made a {source} → {destination} project in {}:",
        dir.display()
    );
    for f in files {
        println!("  {}", f.strip_prefix(&dir).unwrap_or(&f).display());
    }
    println!("next: put the credentials into .dlt/secrets.toml (see README.md), then `cargo run`");
    Ok(())
}

/// The columns `--columns` gives a data type, with dlt's names (CSV input keeps their text).
fn hinted_columns(spec: Option<&serde_json::Value>) -> std::collections::HashSet<String> {
    spec.and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, hint)| hint.get("data_type").is_some())
                .map(|(name, _)| normalize::naming::normalize_key(name, usize::MAX))
                .collect()
        })
        .unwrap_or_default()
}

/// Identifies a load command's input: the files (canonical path, size, modification time)
/// and every option that shapes the rows. Running the same command again after a crash
/// finishes the pending package instead of loading the files a second time. Standard input
/// (and anything else that is not a regular file, such as a pipe) cannot be recognised
/// again: such a run gets an id of its own, so it never takes another run's pending package
/// for its input.
fn input_id(a: &LoadArgs, inputs: &[PathBuf]) -> Result<String> {
    use sha3::Digest;
    let mut files = Vec::with_capacity(inputs.len());
    let mut unique = false;
    for f in inputs {
        if input::is_stdin(f) {
            unique = true;
            files.push(serde_json::json!([input::STDIN]));
            continue;
        }
        let meta = std::fs::metadata(f).with_context(|| format!("reading {}", f.display()))?;
        unique |= !meta.is_file();
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default();
        let path = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        files.push(serde_json::json!([
            path.to_string_lossy(),
            meta.len(),
            modified
        ]));
    }
    let mut id = serde_json::json!({
        "files": files,
        "destination": a.run.destination,
        "dataset": a.run.dataset,
        "table": a.table,
        "write_disposition": a.run.write_disposition(),
        "merge_strategy": a.run.merge_strategy,
        "replace_strategy": a.run.replace_strategy,
        "primary_key": a.run.primary_key,
        "merge_key": a.run.merge_key,
        "max_table_nesting": a.read.max_table_nesting,
        "table_name_from": a.read.table_name_from,
        "nested_hints": a.read.nested_hints,
        "columns": a.read.columns,
        "loader_file_format": a.run.loader_file_format,
    });
    if unique {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        id["run"] = serde_json::json!(format!("{}-{now}", std::process::id()));
    }
    let digest = sha3::Sha3_256::digest(id.to_string().as_bytes());
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The message of a load that failed on a row, with where the row's item is in the input
/// (`...; the row came from resource `t`, item 2: in.jsonl, line 2`), found by reading the
/// input `files` again. Only for an item of this command's resource `resource` in a package
/// extracted from this input (`input_id`): a package an earlier run left came from another.
fn with_input_position(
    e: &pipeline::PipelineError,
    resource: &str,
    input_id: &str,
    files: &[PathBuf],
    csv: &input::CsvOptions,
) -> String {
    let text = e.to_string();
    let Some(item) = e.item() else {
        return text;
    };
    if item.resource != resource || item.input_id.as_deref() != Some(input_id) {
        return text;
    }
    let position = if item.first == item.last {
        input::locate(files, item.first, csv).map(|(file, at)| format!("{file}, {at}"))
    } else {
        match (
            input::locate(files, item.first, csv),
            input::locate(files, item.last, csv),
        ) {
            (Some((f1, a1)), Some((f2, a2))) if f1 == f2 => {
                match (a1.strip_prefix("line "), a2.strip_prefix("line ")) {
                    (Some(l1), Some(l2)) => Some(format!("{f1}, lines {l1}-{l2}")),
                    _ => Some(format!("{f1}, {a1} to {a2}")),
                }
            }
            (Some((f1, a1)), Some((f2, a2))) => Some(format!("{f1}, {a1} to {f2}, {a2}")),
            _ => None,
        }
    };
    let Some(position) = position else {
        return text;
    };
    let anchor = format!("the row came from {item}");
    text.replacen(&anchor, &format!("{anchor}: {position}"), 1)
}

/// Opens local files counting the bytes read into `progress` (its percentage and ETA).
fn counting_open(progress: std::sync::Arc<pipeline::Progress>) -> input::RawOpen {
    std::sync::Arc::new(move |path: &std::path::Path| {
        let file = std::fs::File::open(path)?;
        Ok(Box::new(CountingRead {
            inner: file,
            progress: progress.clone(),
        }) as Box<dyn std::io::Read + Send>)
    })
}

/// A reader that counts what it reads into the run's progress.
struct CountingRead<R> {
    inner: R,
    progress: std::sync::Arc<pipeline::Progress>,
}

impl<R: std::io::Read> std::io::Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.input_read(n as u64);
        Ok(n)
    }
}

/// The signal that stopped a `load`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

/// Runs `work` (a pipeline run) under the progress display of `progress`, stopping at a
/// signal: the run's `LoadInfo`, or its error (an aborted load with the command that
/// retries it). Shared by the commands that load a source.
pub(crate) async fn drive(
    progress: std::sync::Arc<pipeline::Progress>,
    work: impl std::future::Future<Output = Result<pipeline::LoadInfo, pipeline::PipelineError>>,
    signals: &mut Signals,
    run: &RunArgs,
    quiet: bool,
) -> Result<pipeline::LoadInfo> {
    let display = crate::progress::Display::start(
        progress,
        crate::progress::Mode::detect(quiet),
        &run.pipeline,
    );
    let result = tokio::select! {
        result = work => Ok(result),
        signal = signals.recv() => Err(Interrupted { signal, from_stdin: false, pipeline: run.pipeline.clone() }),
    };
    display.finish().await;
    match result? {
        Ok(info) => Ok(info),
        Err(e @ pipeline::PipelineError::LoadAborted { .. }) => {
            bail!("{e}\n{}", run.retry_hint())
        }
        Err(e) => Err(e.into()),
    }
}

/// A `load` stopped by a signal. The load protocol is crash-safe: what committed stays,
/// and the next run finishes what was left pending. `main` prints it and exits with
/// [`Interrupted::exit_code`].
#[derive(Debug)]
pub struct Interrupted {
    pub signal: Signal,
    /// The input was (partly) standard input, which a next run cannot read again.
    pub from_stdin: bool,
    /// The pipeline's name.
    pub pipeline: String,
}

impl Interrupted {
    /// 128 + the signal's number, as a shell reports a process the signal killed.
    pub fn exit_code(&self) -> i32 {
        match self.signal {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.signal {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        };
        write!(
            f,
            "interrupted ({name}): what this run had committed stays loaded; "
        )?;
        if self.from_stdin {
            write!(
                f,
                "the next run of pipeline {0} finishes what this one left pending, but it \
                 cannot read this standard input again (`dlt-rs pipeline {0} info` shows \
                 what is pending)",
                self.pipeline
            )
        } else {
            f.write_str("run the same command again to finish the rest")
        }
    }
}

impl std::error::Error for Interrupted {}

/// SIGINT and SIGTERM, caught from [`Signals::listen`] on (they no longer kill the process).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt()).context("catching SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("catching SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal.
    async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.interrupt.recv() => Signal::Interrupt,
                Some(()) = self.terminate.recv() => Signal::Terminate,
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Signal::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

async fn load(a: LoadArgs, quiet: bool) -> Result<()> {
    // from here on Ctrl-C and SIGTERM end the run with a message instead of silently
    let mut signals = Signals::listen()?;
    a.run.disposition()?;
    // directories and patterns name files before the input is identified
    let all = input::expand(&a.files)?;
    let from_stdin = all.iter().any(|f| input::is_stdin(f));
    // Parquet files load as Arrow data (dlt's Arrow semantics), the others as items; both
    // into the one table
    let (parquet, files): (Vec<PathBuf>, Vec<PathBuf>) =
        all.into_iter().partition(|f| input::is_parquet(f));
    let columns = a.read.columns()?;
    let hinted = |resource| a.read.hint(&a.run, columns.as_ref(), resource);
    let csv = a.read.csv_options(columns.as_ref());
    let mut p = a.run.pipeline()?;
    let progress = p.progress();
    // the input's size, for a percentage and an ETA (not with standard input or Parquet
    // files, whose reading is not counted)
    if !from_stdin && parquet.is_empty() && !files.is_empty() {
        let sizes: std::io::Result<Vec<u64>> = files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()))
            .collect();
        if let Ok(sizes) = sizes {
            progress.set_input_total(sizes.iter().sum());
        }
    }
    let mut resources = Vec::new();
    if !files.is_empty() || parquet.is_empty() {
        let open = counting_open(progress.clone());
        let csv = csv.clone();
        let items = files
            .clone()
            .into_iter()
            .flat_map(move |f| input::read_file_with(f, &csv, &open, false));
        resources.push(hinted(Resource::from_json_lines(&a.table, items))?);
    }
    if !parquet.is_empty() {
        resources.push(hinted(Resource::from_parquet_files(
            &a.table,
            parquet.clone(),
        ))?);
    }

    let id = input_id(&a, &[files.as_slice(), parquet.as_slice()].concat())?;
    let display =
        progress::Display::start(p.progress(), progress::Mode::detect(quiet), &a.run.pipeline);
    // a signal drops the run where it is: as a crash at that moment, which the next run
    // recovers from (the caller exits at once, not waiting for the run's threads)
    let result = tokio::select! {
        result = p.run_input(resources, &id) => Ok(result),
        signal = signals.recv() => Err(Interrupted { signal, from_stdin, pipeline: a.run.pipeline.clone() }),
    };
    display.finish().await;
    let info = match result? {
        Ok(info) => info,
        Err(e @ pipeline::PipelineError::LoadAborted { .. }) => {
            bail!(
                "{}\n{}",
                with_input_position(&e, &a.table, &id, &files, &csv),
                a.run.retry_hint()
            );
        }
        Err(e) if e.item().is_some() => {
            bail!("{}", with_input_position(&e, &a.table, &id, &files, &csv))
        }
        Err(e) => return Err(e.into()),
    };
    if !quiet {
        println!("{info}");
    }
    Ok(())
}
