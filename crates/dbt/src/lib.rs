//! Runs dbt on a pipeline's dataset, as dlt's dbt runner (`dlt.dbt.package(pipeline,
//! "path/to/project").run_all()`) does.
//!
//! ```no_run
//! # async fn demo(pipeline: &pipeline::Pipeline) -> Result<(), dlt_dbt::DbtError> {
//! let options = dlt_dbt::DbtOptions::default()
//!     .venv("/opt/dbt-venv")
//!     .var("min_qty", 2)
//!     .exclude("experimental");
//! let result = dlt_dbt::run(pipeline, "transform/dbt_project", &options).await?;
//! for node in &result.nodes {
//!     println!("{node}");
//! }
//! # Ok(()) }
//! ```
//!
//! For each run a `profiles.yml` is written to a temporary directory from the destination's
//! [`dest_core::DbtProfile`] ([`dest_core::Destination::dbt_profile`]): dbt works in the
//! pipeline's dataset (its target `schema`) with the destination's credentials. Secrets
//! (the password) never reach the disk: the profile reads them with
//! `{{ env_var('DLT_RS_DBT_PASSWORD') }}` and only the dbt process gets that variable; they
//! are also masked in the output dbt prints. dbt is called as
//! `dbt <command> --project-dir P --profiles-dir TMP --profile dlt_rs --target dlt_rs
//! [--target-path P/target] [--select ...] [--exclude ...] [--full-refresh] --vars {...}
//! [extra args]`; `--vars` always holds `source_dataset_name` (the pipeline's dataset, as
//! dlt passes it, for the project's `sources.yml`) besides the caller's variables. dbt
//! itself comes from a given virtual environment (`<venv>/bin/dbt`) or from `PATH`
//! ([`find_dbt`]). After the run, `run_results.json` is read ([`parse_run_results`]) into a
//! [`DbtResult`]; a run that failed is a [`DbtError::Failed`] naming the failed nodes, with
//! the tail of dbt's output.
//!
//! The crate knows no destination: it reaches them through the pipeline and the registry.

mod error;
mod find;
mod profile;
mod results;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use dest_core::{DbtProfile, Destination};
use pipeline::Pipeline;
use serde_json::{Map, Value as Json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

pub use crate::error::{DbtError, OUTPUT_TAIL_LINES};
pub use crate::find::find_dbt;
pub use crate::profile::{render_profiles_yml, PROFILE_NAME, TARGET_NAME};
pub use crate::results::{parse_run_results, NodeResult, NodeStatus, RunResults};

/// dbt threads when none are given (dlt's default).
pub const DEFAULT_THREADS: u32 = 4;

/// The dbt commands that take `--target-path` and write `run_results.json` there.
const RESULTS_COMMANDS: &[&str] = &[
    "run", "build", "test", "seed", "snapshot", "compile", "docs", "source", "retry", "clone",
    "show",
];

/// Environment defaults for the dbt process, unless the caller's environment sets them:
/// no usage statistics, no version check over the network, no colors in the output.
const ENV_DEFAULTS: &[(&str, &str)] = &[
    ("DBT_SEND_ANONYMOUS_USAGE_STATS", "false"),
    ("DBT_VERSION_CHECK", "false"),
    ("DBT_USE_COLORS", "false"),
];

/// Secrets shorter than this are not masked in dbt's output (masking every `a` would make
/// it unreadable); such passwords are not worth the name anyway.
const MIN_MASKED_SECRET: usize = 4;

/// How to run dbt.
#[derive(Debug, Clone)]
pub struct DbtOptions {
    /// The dbt command, possibly of several words (`run`, `build`, `test`, `seed`,
    /// `docs generate`...); default `run`.
    pub command: String,
    /// A virtual environment with dbt installed: `<venv>/bin/dbt` is run. Default: `dbt` on
    /// `PATH`.
    pub venv: Option<PathBuf>,
    /// `--select` selectors.
    pub select: Vec<String>,
    /// `--exclude` selectors.
    pub exclude: Vec<String>,
    /// `--full-refresh`.
    pub full_refresh: bool,
    /// `--vars` (dlt's `additional_vars`); `source_dataset_name` is added unless given.
    pub vars: Map<String, Json>,
    /// More arguments, after all others (`--fail-fast`, `--debug`...).
    pub extra_args: Vec<String>,
    /// The profile's `threads` (default 4).
    pub threads: u32,
    /// The schema dbt builds models in, instead of the pipeline's dataset (dlt's
    /// `destination_dataset_name`); the vars then also hold `destination_dataset_name`.
    pub schema: Option<String>,
    /// `--target-path`: where dbt writes its artifacts (default `<project>/target`).
    pub target_path: Option<PathBuf>,
    /// Copy dbt's output, line by line, to this process' stderr as it comes.
    pub echo: bool,
}

impl Default for DbtOptions {
    fn default() -> Self {
        DbtOptions {
            command: "run".into(),
            venv: None,
            select: Vec::new(),
            exclude: Vec::new(),
            full_refresh: false,
            vars: Map::new(),
            extra_args: Vec::new(),
            threads: DEFAULT_THREADS,
            schema: None,
            target_path: None,
            echo: false,
        }
    }
}

impl DbtOptions {
    /// The dbt command (`run`, `build`, `test`...).
    pub fn command(mut self, command: &str) -> Self {
        self.command = command.to_string();
        self
    }

    /// Runs `<venv>/bin/dbt`.
    pub fn venv(mut self, venv: impl Into<PathBuf>) -> Self {
        self.venv = Some(venv.into());
        self
    }

    /// Adds a `--select` selector.
    pub fn select(mut self, selector: &str) -> Self {
        self.select.push(selector.to_string());
        self
    }

    /// Adds an `--exclude` selector.
    pub fn exclude(mut self, selector: &str) -> Self {
        self.exclude.push(selector.to_string());
        self
    }

    /// `--full-refresh`.
    pub fn full_refresh(mut self, yes: bool) -> Self {
        self.full_refresh = yes;
        self
    }

    /// Sets a dbt variable (`--vars`).
    pub fn var(mut self, name: &str, value: impl Into<Json>) -> Self {
        self.vars.insert(name.to_string(), value.into());
        self
    }

    /// Adds an argument passed to dbt after all others.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.to_string());
        self
    }

    /// The profile's `threads`.
    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Builds the models in `schema` instead of the pipeline's dataset.
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_string());
        self
    }

    /// Where dbt writes its artifacts.
    pub fn target_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.target_path = Some(path.into());
        self
    }

    /// Copies dbt's output to stderr as it comes.
    pub fn echo(mut self, yes: bool) -> Self {
        self.echo = yes;
        self
    }
}

/// What a dbt run did.
#[derive(Debug, Clone)]
pub struct DbtResult {
    /// `dbt run` (the executable's name and the command).
    pub command: String,
    /// The dbt executable run.
    pub program: PathBuf,
    /// The schema dbt built in.
    pub schema: String,
    /// dbt's exit code (0 success, 1 failed nodes, 2 dbt could not run); `None` when a
    /// signal ended it.
    pub exit_code: Option<i32>,
    /// Exit code 0 and no failed node.
    pub success: bool,
    /// Each node's result, from `run_results.json` (empty when dbt wrote none).
    pub nodes: Vec<NodeResult>,
    /// Seconds dbt reports the invocation took.
    pub elapsed_time: Option<f64>,
    pub dbt_version: Option<String>,
    /// The `run_results.json` read, if any.
    pub run_results: Option<PathBuf>,
    /// dbt's output (stdout and stderr, in the order read), secrets masked.
    pub output: Vec<String>,
}

impl DbtResult {
    /// The nodes that failed.
    pub fn failed(&self) -> impl Iterator<Item = &NodeResult> {
        self.nodes.iter().filter(|n| n.status.is_failure())
    }

    /// The node with unique id `unique_id`, or else the first named `name`.
    pub fn node(&self, unique_id_or_name: &str) -> Option<&NodeResult> {
        self.nodes
            .iter()
            .find(|n| n.unique_id == unique_id_or_name)
            .or_else(|| self.nodes.iter().find(|n| n.name() == unique_id_or_name))
    }

    /// The last `n` lines of dbt's output.
    pub fn output_tail(&self, n: usize) -> &[String] {
        &self.output[self.output.len().saturating_sub(n)..]
    }
}

impl fmt::Display for DbtResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = if self.success { "succeeded" } else { "failed" };
        write!(
            f,
            "`{}` in schema {} {outcome}: {} node(s)",
            self.command,
            self.schema,
            self.nodes.len()
        )?;
        if let Some(t) = self.elapsed_time {
            write!(f, " in {t:.2} s")?;
        }
        for n in &self.nodes {
            write!(f, "\n  {n}")?;
        }
        Ok(())
    }
}

/// Runs dbt on the project in `project_dir` against `pipeline`'s destination and dataset.
///
/// # Errors
/// See [`run_with_destination`].
pub async fn run(
    pipeline: &Pipeline,
    project_dir: impl AsRef<Path>,
    options: &DbtOptions,
) -> Result<DbtResult, DbtError> {
    run_with_destination(
        pipeline.destination(),
        pipeline.dataset_name(),
        project_dir.as_ref(),
        options,
    )
    .await
}

pub use pipeline::PipelineOverrides;

/// `dlt-rs dbt run PROJECT_DIR --pipeline NAME`: opens the pipeline
/// ([`Pipeline::open_existing`]) and
/// runs dbt on its dataset ([`run`]).
///
/// # Errors
/// See [`Pipeline::open_existing`] and [`run_with_destination`].
pub async fn run_for_cli(
    pipeline_name: &str,
    pipelines_dir: Option<&Path>,
    project_dir: &Path,
    overrides: &PipelineOverrides,
    options: &DbtOptions,
) -> Result<DbtResult, DbtError> {
    let pipeline = Pipeline::open_existing(pipeline_name, pipelines_dir, overrides)?;
    run(&pipeline, project_dir, options).await
}

/// Runs dbt on the project in `project_dir` with `destination`'s profile for `dataset`.
///
/// # Errors
/// [`DbtError::NotAProject`], [`DbtError::Destination`] (a destination without dbt
/// support, invalid credentials), [`DbtError::NotFound`] (no dbt), [`DbtError::Spawn`],
/// [`DbtError::Io`], [`DbtError::RunResults`], and [`DbtError::Failed`] when dbt ran and
/// failed (its [`DbtResult`] inside).
pub async fn run_with_destination(
    destination: &dyn Destination,
    dataset: &str,
    project_dir: &Path,
    options: &DbtOptions,
) -> Result<DbtResult, DbtError> {
    let project_dir = std::path::absolute(project_dir).map_err(|e| DbtError::Io {
        context: "resolving the dbt project directory",
        path: project_dir.to_path_buf(),
        source: e,
    })?;
    if !project_dir.join("dbt_project.yml").is_file() {
        return Err(DbtError::NotAProject { path: project_dir });
    }
    let schema = options.schema.as_deref().unwrap_or(dataset);
    let profile = destination.dbt_profile(schema)?;
    let program = find_dbt(options.venv.as_deref(), &profile.adapter)?;

    let profiles_dir = tempfile::Builder::new()
        .prefix("dlt-rs-dbt-")
        .tempdir()
        .map_err(|e| DbtError::Io {
            context: "creating a directory for profiles.yml",
            path: std::env::temp_dir(),
            source: e,
        })?;
    let profiles_file = profiles_dir.path().join("profiles.yml");
    std::fs::write(
        &profiles_file,
        render_profiles_yml(&profile, options.threads.max(1)),
    )
    .map_err(|e| DbtError::Io {
        context: "writing profiles.yml",
        path: profiles_file.clone(),
        source: e,
    })?;

    let words: Vec<&str> = options.command.split_whitespace().collect();
    let first = words.first().copied().unwrap_or("run");
    let words = if words.is_empty() { vec!["run"] } else { words };
    let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    args.extend([
        "--project-dir".into(),
        project_dir.display().to_string(),
        "--profiles-dir".into(),
        profiles_dir.path().display().to_string(),
        "--profile".into(),
        PROFILE_NAME.into(),
        "--target".into(),
        TARGET_NAME.into(),
    ]);
    let results_file = if RESULTS_COMMANDS.contains(&first) {
        let target = match &options.target_path {
            Some(t) => std::path::absolute(t).unwrap_or_else(|_| t.clone()),
            None => project_dir.join("target"),
        };
        args.push("--target-path".into());
        args.push(target.display().to_string());
        let file = target.join("run_results.json");
        // a stale file must not pass for this run's results
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DbtError::Io {
                    context: "removing the run results of an earlier dbt run",
                    path: file,
                    source: e,
                })
            }
        }
        Some(file)
    } else {
        None
    };
    for (flag, selectors) in [
        ("--select", &options.select),
        ("--exclude", &options.exclude),
    ] {
        if !selectors.is_empty() {
            args.push(flag.into());
            args.extend(selectors.iter().cloned());
        }
    }
    if options.full_refresh {
        args.push("--full-refresh".into());
    }
    let mut vars = Map::new();
    vars.insert("source_dataset_name".into(), Json::from(dataset));
    if options.schema.is_some() {
        vars.insert("destination_dataset_name".into(), Json::from(schema));
    }
    for (k, v) in &options.vars {
        vars.insert(k.clone(), v.clone());
    }
    args.push("--vars".into());
    args.push(Json::Object(vars).to_string());
    args.extend(options.extra_args.iter().cloned());

    let command = format!("dbt {}", words.join(" "));
    tracing::info!(%command, program = %program.display(), project = %project_dir.display(), schema, "running dbt");
    tracing::debug!(?args, "dbt arguments");

    let (exit_code, output) = spawn(&program, &args, &project_dir, &profile, options.echo).await?;
    drop(profiles_dir);

    let mut result = DbtResult {
        command,
        program,
        schema: schema.to_string(),
        exit_code,
        success: false,
        nodes: Vec::new(),
        elapsed_time: None,
        dbt_version: None,
        run_results: None,
        output,
    };
    if let Some(file) = results_file {
        match std::fs::read_to_string(&file) {
            Ok(text) => match parse_run_results(&text) {
                Ok(r) => {
                    result.nodes = r.nodes;
                    result.elapsed_time = r.elapsed_time;
                    result.dbt_version = r.dbt_version;
                    result.run_results = Some(file);
                }
                Err(e) if exit_code == Some(0) => {
                    return Err(DbtError::RunResults {
                        path: file,
                        reason: e.to_string(),
                    })
                }
                Err(e) => {
                    tracing::warn!(path = %file.display(), error = %e, "dbt failed and its run results cannot be read")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DbtError::Io {
                    context: "reading dbt's run results",
                    path: file,
                    source: e,
                })
            }
        }
    }
    result.success = exit_code == Some(0) && result.failed().next().is_none();
    if result.success {
        tracing::info!(command = %result.command, nodes = result.nodes.len(), "dbt succeeded");
        Ok(result)
    } else {
        Err(DbtError::Failed(Box::new(result)))
    }
}

/// Runs dbt and collects its output; returns the exit code (`None` after a signal).
async fn spawn(
    program: &Path,
    args: &[String],
    project_dir: &Path,
    profile: &DbtProfile,
    echo: bool,
) -> Result<(Option<i32>, Vec<String>), DbtError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(project_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in ENV_DEFAULTS {
        if std::env::var_os(name).is_none() {
            cmd.env(name, value);
        }
    }
    for (name, value) in &profile.env {
        cmd.env(name, value);
    }
    for secret in &profile.secrets {
        cmd.env(&secret.env_var, &secret.value);
    }
    let mut child = cmd.spawn().map_err(|e| DbtError::Spawn {
        program: program.to_path_buf(),
        source: e,
    })?;
    let sink = Sink {
        lines: Mutex::new(Vec::new()),
        secrets: profile
            .secrets
            .iter()
            .map(|s| s.value.clone())
            .filter(|v| v.len() >= MIN_MASKED_SECRET)
            .collect(),
        echo,
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    tokio::join!(read_lines(stdout, &sink), read_lines(stderr, &sink));
    let status = child.wait().await.map_err(|e| DbtError::Spawn {
        program: program.to_path_buf(),
        source: e,
    })?;
    let lines = sink.lines.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((status.code(), lines))
}

/// Where the lines of dbt's output go.
struct Sink {
    lines: Mutex<Vec<String>>,
    secrets: Vec<String>,
    echo: bool,
}

impl Sink {
    fn push(&self, raw: &[u8]) {
        let mut line = String::from_utf8_lossy(raw)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        for s in &self.secrets {
            if line.contains(s.as_str()) {
                line = line.replace(s.as_str(), "***");
            }
        }
        if self.echo {
            eprintln!("{line}");
        }
        tracing::debug!(target: "dbt", "{line}");
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }
}

async fn read_lines<R: AsyncRead + Unpin>(stream: Option<R>, sink: &Sink) {
    let Some(stream) = stream else { return };
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) => break,
            Ok(_) => sink.push(&buf),
            Err(e) => {
                tracing::warn!(error = %e, "reading dbt's output");
                break;
            }
        }
    }
}
