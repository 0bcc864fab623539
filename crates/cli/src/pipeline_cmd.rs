//! `dlt-rs pipeline`: dlt's `dlt pipeline` commands. Inspect a pipeline's working folder
//! (`--list`, `info`, `trace`, `load-package`, `failed-jobs`), look at its dataset (`show`),
//! repair it (`drop-pending-packages`, `retry`), drop resources (`drop`) and restore the
//! local state from the destination (`sync`).
//!
//! The commands that reach the destination build a [`Pipeline`] with the destination and
//! dataset the working folder remembers (its state, else its last trace), unless given, and
//! credentials from the usual places (`--credentials`, `.dlt/` files, environment).

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use pipeline::{
    state_destination, JobInfo, JobState, PackageDetail, PackageStage, Pipeline, PipelineFolder,
    PipelineOverrides, PipelineState,
};
use serde_json::Value as Json;

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Pipeline name (not with --list).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// List the pipelines that have a working folder in the pipelines dir.
    #[arg(
        long,
        short = 'l',
        visible_alias = "list-pipelines",
        conflicts_with = "name"
    )]
    pub list: bool,
    /// Where pipelines keep their working folders (default `~/.dlt/pipelines`).
    #[arg(long, global = true)]
    pub pipelines_dir: Option<PathBuf>,
    /// What to do (default: info).
    #[command(subcommand)]
    pub action: Option<PipelineAction>,
}

#[derive(Debug, Subcommand)]
pub enum PipelineAction {
    /// The working folder: destination, dataset, schema tables, resource state (incremental
    /// cursors) and packages: pending, loaded and aborted (with their failed jobs' errors);
    /// with `-v` also the tables' columns.
    Info,
    /// The dataset's tables with their row counts and the last loads (asks the destination).
    Show {
        #[command(flatten)]
        destination: DestinationArgs,
        /// How many of the last loads to list.
        #[arg(long, default_value_t = 10)]
        loads: usize,
        /// Serve the dashboard (`dlt-rs dashboard`) on 127.0.0.1 with this pipeline's view
        /// instead of printing.
        #[arg(long)]
        web: bool,
        /// The dashboard's port with `--web` (0: any free port).
        #[arg(long, default_value_t = crate::DASHBOARD_PORT, requires = "web")]
        port: u16,
    },
    /// The last run: its steps with their times, the packages it loaded, rows per table.
    Trace,
    /// Run SQL against the pipeline's dataset in a read-only transaction (tables by their
    /// names alone) and print the rows.
    Query {
        /// The query (its last statement's rows are printed).
        sql: String,
        /// table (aligned columns), csv (RFC 4180, a header line, NULL as an empty field)
        /// or json (an array of objects, values as text, NULL as null).
        #[arg(long, value_enum, default_value = "table")]
        format: QueryFormat,
        #[command(flatten)]
        destination: DestinationArgs,
    },
    /// The pipeline's schema as dlt prints it: dlt's schema document in YAML (the default)
    /// or JSON, or a Mermaid ER diagram.
    Schema {
        /// The format.
        #[arg(long, value_enum, default_value = "yaml")]
        format: crate::SchemaFormat,
        /// Leave out the names inside tables and columns (the keys hold them), as dlt's
        /// default; accepted for dlt's command line.
        #[arg(long, default_value_t = true, overrides_with = "keep_defaults")]
        remove_defaults: bool,
        /// Print the whole stored document, names included.
        #[arg(long)]
        keep_defaults: bool,
    },
    /// One package (the most recent by default): its state and jobs, failed jobs' errors;
    /// with `-v` also the schema the package was normalized with and what it added.
    LoadPackage {
        /// The package's load id (`info` lists them).
        load_id: Option<String>,
    },
    /// Every failed job of every package with its table, file and error.
    FailedJobs,
    /// Delete the packages not yet loaded, and the local state (the next run restores the
    /// state of the last completed load from the destination). Rows a partly loaded package
    /// already committed stay in the dataset, as with dlt.
    DropPendingPackages,
    /// Send an aborted package back to be loaded by the next run (after fixing the cause):
    /// its failed jobs run again; the rows of its completed jobs stay loaded.
    Retry {
        /// The package's load id (from `info`).
        load_id: String,
    },
    /// Drop resources: their tables (with their nested tables) from the dataset and the
    /// schema, and their state (incremental cursors), so the next run loads them from
    /// scratch.
    Drop {
        /// Resource names (a resource is named after its root table).
        #[arg(required = true)]
        resources: Vec<String>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        destination: DestinationArgs,
    },
    /// Drop the local state and schema and restore them from the destination.
    Sync {
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        destination: DestinationArgs,
    },
}

/// How `query` prints its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
}

/// Where the commands that reach the destination go.
#[derive(Debug, Args)]
pub struct DestinationArgs {
    /// Destination name (default: the one the pipeline loads to).
    #[arg(long)]
    pub destination: Option<String>,
    /// Dataset (default: the one the pipeline loads to, else `<pipeline>_dataset`).
    #[arg(long, visible_alias = "dataset-name")]
    pub dataset: Option<String>,
    /// Connection string; without it credentials come from `.dlt/secrets.toml`,
    /// `DESTINATION__POSTGRES__CREDENTIALS*` variables or `~/.dlt/`.
    #[arg(long)]
    pub credentials: Option<dest_core::Secret>,
}

impl DestinationArgs {
    /// What the flags override of what the working folder remembers.
    pub fn overrides(&self) -> PipelineOverrides {
        PipelineOverrides {
            destination: self.destination.clone(),
            dataset: self.dataset.clone(),
            credentials: self.credentials.as_ref().map(|c| c.expose().to_string()),
        }
    }
}

/// Runs a `dlt-rs pipeline` command; `verbose` is the global `-v`.
pub async fn run(a: PipelineArgs, verbose: bool) -> Result<()> {
    let dir = a.pipelines_dir.as_deref();
    if a.list {
        if a.action.is_some() {
            bail!("--list takes no operation");
        }
        let list = PipelineFolder::list(dir)?;
        println!(
            "{} pipeline(s) found in {}",
            list.names.len(),
            list.pipelines_dir.display()
        );
        for name in list.names {
            println!("{name}");
        }
        return Ok(());
    }
    let name = a
        .name
        .ok_or_else(|| anyhow!("give a pipeline name, or --list"))?;
    let mut out = String::new();
    match a.action.unwrap_or(PipelineAction::Info) {
        PipelineAction::Info => info(&PipelineFolder::inspect(&name, dir)?, verbose, &mut out)?,
        PipelineAction::Trace => trace(&PipelineFolder::inspect(&name, dir)?, &mut out)?,
        PipelineAction::Schema {
            format,
            remove_defaults,
            keep_defaults,
        } => {
            let folder = PipelineFolder::inspect(&name, dir)?;
            let schema = default_schema(&folder)?;
            eprintln!("Found schema with name {}", schema.name);
            out = crate::schema_export::export(&schema, format, remove_defaults && !keep_defaults)?;
        }
        PipelineAction::LoadPackage { load_id } => load_package(
            &PipelineFolder::inspect(&name, dir)?,
            load_id.as_deref(),
            verbose,
            &mut out,
        )?,
        PipelineAction::FailedJobs => failed_jobs(&PipelineFolder::inspect(&name, dir)?, &mut out)?,
        PipelineAction::DropPendingPackages => {
            let dropped = PipelineFolder::open(&name, dir)?.drop_pending_packages()?;
            let _ = writeln!(
                out,
                "pipeline {name}: dropped {} pending package(s){}",
                dropped.len(),
                match dropped.is_empty() {
                    true => String::new(),
                    false => format!(": {}", dropped.join(", ")),
                }
            );
        }
        PipelineAction::Retry { load_id } => {
            PipelineFolder::open(&name, dir)?.retry(&load_id)?;
            let _ = writeln!(
                out,
                "pipeline {name}: package {load_id} will be loaded again by the next run \
                 (`dlt-rs load` with the same arguments finishes it without reading the files again)"
            );
        }
        PipelineAction::Show {
            web: true, port, ..
        } => {
            PipelineFolder::inspect(&name, dir)?;
            crate::dashboard(a.pipelines_dir.clone(), port, Some(&name)).await?;
        }
        PipelineAction::Show {
            destination, loads, ..
        } => {
            PipelineFolder::inspect(&name, dir)?;
            let p = open_pipeline(&name, a.pipelines_dir, &destination)?;
            show(&p, loads, &mut out).await?
        }
        PipelineAction::Query {
            sql,
            format,
            destination,
        } => {
            PipelineFolder::inspect(&name, dir)?;
            let p = open_pipeline(&name, a.pipelines_dir, &destination)?;
            let rows = p.query(&sql).await?;
            out.push_str(&crate::query_output::render(&rows, format)?);
        }
        PipelineAction::Drop {
            resources,
            yes,
            destination,
        } => {
            PipelineFolder::inspect(&name, dir)?;
            let mut p = open_pipeline(&name, a.pipelines_dir, &destination)?;
            drop_resources(&mut p, &resources, yes, &mut out).await?
        }
        PipelineAction::Sync { yes, destination } => {
            // sync also restores a pipeline whose working folder is gone
            let existed = PipelineFolder::inspect(&name, dir).is_ok();
            let mut p = open_pipeline(&name, a.pipelines_dir, &destination)?;
            let synced = sync(&mut p, yes, &mut out).await;
            if synced.is_err() && !existed {
                // leave no empty working folder behind
                let _ = std::fs::remove_dir_all(p.working_dir());
            }
            synced?
        }
    }
    print!("{out}");
    Ok(())
}

/// The pipeline's default schema: the one its state names, else the one named like the
/// pipeline, else the only one.
fn default_schema(folder: &PipelineFolder) -> Result<dest_core::Schema> {
    let mut schemas = folder.schemas()?;
    let wanted = folder
        .state()?
        .map(|s| s.default_schema_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| folder.name().to_string());
    if let Some(i) = schemas.iter().position(|s| s.name == wanted) {
        return Ok(schemas.swap_remove(i));
    }
    match schemas.len() {
        1 => Ok(schemas.swap_remove(0)),
        0 => bail!(
            "pipeline {} has no schema yet (its first run makes it)",
            folder.name()
        ),
        _ => bail!(
            "pipeline {} has {} schemas and none is named {wanted}",
            folder.name(),
            schemas.len()
        ),
    }
}

/// The destination name a state names (`dlt.destinations.postgres`).
fn open_pipeline(
    name: &str,
    pipelines_dir: Option<PathBuf>,
    d: &DestinationArgs,
) -> Result<Pipeline> {
    Ok(Pipeline::open_existing(
        name,
        pipelines_dir.as_deref(),
        &d.overrides(),
    )?)
}

fn info(folder: &PipelineFolder, verbose: bool, out: &mut String) -> Result<()> {
    let name = folder.name();
    let state = folder.state()?;
    let trace = folder.trace()?;
    let _ = writeln!(out, "pipeline {name}");
    let _ = writeln!(out, "  working dir: {}", folder.working_dir().display());
    let destination = state
        .as_ref()
        .map(|s| state_destination(s).to_string())
        .or_else(|| trace.as_ref().map(|t| t.destination.clone()));
    let dataset = state
        .as_ref()
        .map(|s| s.dataset_name.clone())
        .or_else(|| trace.as_ref().map(|t| t.dataset_name.clone()));
    let unknown = || "unknown".to_string();
    let _ = writeln!(
        out,
        "  destination: {}",
        destination.unwrap_or_else(unknown)
    );
    let _ = writeln!(out, "  dataset: {}", dataset.unwrap_or_else(unknown));
    match &state {
        Some(s) => {
            let _ = writeln!(
                out,
                "  state: version {}{}",
                s.state_version,
                s.local
                    .last_load_id
                    .as_ref()
                    .map(|l| format!(", last load {l}"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  state: none (the next run restores it from the destination)"
            );
        }
    }

    for schema in folder.schemas()? {
        let tables: Vec<_> = schema
            .tables
            .iter()
            .filter(|t| !t.is_system() && t.complete_columns().next().is_some())
            .collect();
        let _ = writeln!(
            out,
            "schema {} (version {}): {} table(s)",
            schema.name,
            schema.version,
            tables.len()
        );
        for t in tables {
            let how = match &t.parent {
                Some(p) => format!("nested in {p}"),
                None => t.disposition.to_string(),
            };
            let _ = writeln!(
                out,
                "  {}: {how}, {} column(s)",
                t.name,
                t.complete_columns().count()
            );
            if verbose {
                for c in t.complete_columns() {
                    let ty = c.data_type.map(|d| d.to_string()).unwrap_or_default();
                    let _ = writeln!(out, "    {} {ty}", c.name);
                }
            }
        }
    }

    if let Some(s) = &state {
        resource_state(s, out);
    }

    let packages = folder.packages()?;
    if packages.is_empty() {
        let _ = writeln!(out, "pipeline {name}: no packages");
    } else {
        let _ = writeln!(out, "packages:");
    }
    for p in &packages {
        let _ = writeln!(out, "{}\t{}", p.load_id, p.stage);
        for (job, error) in &p.failed_jobs {
            let _ = writeln!(out, "  failed job {job}: {}", error.trim());
        }
    }
    let pending = packages.iter().filter(|p| p.stage.is_pending()).count();
    match pending {
        0 => {
            let _ = writeln!(out, "nothing left to load");
        }
        n => {
            let _ = writeln!(
                out,
                "{n} pending package(s): the next run of the pipeline loads them"
            );
        }
    }
    if trace.is_some() {
        let _ = writeln!(
            out,
            "the last run left a trace: `dlt-rs pipeline {name} trace` shows it"
        );
    }
    Ok(())
}

/// The state of the sources' resources: incremental cursors and other values.
fn resource_state(s: &PipelineState, out: &mut String) {
    let mut lines = Vec::new();
    for (source, value) in &s.sources {
        let Some(resources) = value.get("resources").and_then(Json::as_object) else {
            continue;
        };
        for (resource, rs) in resources {
            let Some(rs) = rs.as_object() else {
                lines.push(format!("  {source}.{resource}: {rs}"));
                continue;
            };
            for (key, v) in rs {
                match (key.as_str(), v.as_object()) {
                    ("incremental", Some(cursors)) => {
                        for (cursor, c) in cursors {
                            let last = c.get("last_value").unwrap_or(&Json::Null);
                            let mut line = format!(
                                "  {source}.{resource}: incremental cursor `{cursor}`: last value {last}"
                            );
                            if let Some(init) = c.get("initial_value").filter(|v| !v.is_null()) {
                                let _ = write!(line, " (initial value {init})");
                            }
                            lines.push(line);
                        }
                    }
                    _ => lines.push(format!("  {source}.{resource}: {key} = {v}")),
                }
            }
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "resource state:");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
}

fn trace(folder: &PipelineFolder, out: &mut String) -> Result<()> {
    let Some(t) = folder.trace()? else {
        let _ = writeln!(out, "pipeline {}: no run was traced yet", folder.name());
        return Ok(());
    };
    let outcome = match &t.error {
        None => "COMPLETED".to_string(),
        Some(e) => format!("FAILED: {e}"),
    };
    let _ = writeln!(
        out,
        "run of pipeline {} into dataset {} ({}): started at {}, finished at {} ({:.3} s), {outcome}",
        t.pipeline_name, t.dataset_name, t.destination, t.started_at, t.finished_at, t.duration_secs
    );
    if t.items > 0 {
        let _ = writeln!(out, "  {} item(s) extracted", t.items);
    }
    for s in &t.steps {
        let _ = writeln!(
            out,
            "step {}: {} to {} ({:.3} s){}",
            s.step,
            s.started_at,
            s.finished_at,
            s.duration_secs,
            match &s.error {
                Some(_) => ", FAILED",
                None => "",
            }
        );
    }
    if t.packages.is_empty() {
        let _ = writeln!(out, "no packages");
    }
    for p in &t.packages {
        let rows = p.rows.map(|r| format!(": {r} row(s)")).unwrap_or_default();
        let _ = writeln!(out, "package {} {}{rows}", p.load_id, p.state);
        // rows per table as normalize counted them, when the package is still in the folder
        let (jobs, table_rows) = folder
            .package(Some(&p.load_id))
            .map(|d| (d.jobs, d.table_rows))
            .unwrap_or_default();
        let mut tables: Vec<(String, Option<u64>, usize)> = Vec::new();
        for j in &jobs {
            match tables.iter_mut().find(|t| t.0 == j.table) {
                Some(t) => {
                    t.1 = t.1.zip(j.rows).map(|(a, b)| a + b);
                    t.2 += 1;
                }
                None => tables.push((j.table.clone(), j.rows, 1)),
            }
        }
        if tables.is_empty() {
            for table in &p.tables {
                let _ = writeln!(out, "  {table}");
            }
        }
        for (table, rows, n) in tables {
            let rows = rows
                .or_else(|| table_rows.get(&table).copied())
                .map(|r| format!("{r} row(s)"))
                .unwrap_or("rows unknown".into());
            let _ = writeln!(out, "  {table}: {rows} in {n} job(s)");
        }
    }
    Ok(())
}

fn job_line(j: &JobInfo) -> String {
    let rows = match (j.rows, j.file_deleted) {
        (Some(r), _) => format!("{r} row(s)"),
        (None, true) => "file deleted after loading".into(),
        (None, false) => "rows unknown".into(),
    };
    let retries = match j.retry_count {
        0 => String::new(),
        n => format!(", retried {n}x"),
    };
    format!(
        "  {} {} {}: {rows}, {} bytes{retries}, {}",
        j.table, j.file_format, j.state, j.size_bytes, j.file_name
    )
}

fn load_package(
    folder: &PipelineFolder,
    load_id: Option<&str>,
    verbose: bool,
    out: &mut String,
) -> Result<()> {
    let p: PackageDetail = folder.package(load_id)?;
    let _ = writeln!(out, "package {}: {}", p.load_id, p.stage);
    if let Some(c) = &p.created_at {
        let _ = writeln!(out, "  created at {c}");
    }
    if let Some(c) = &p.completed_at {
        let verb = match p.stage {
            PackageStage::Aborted => "aborted",
            _ => "loaded",
        };
        let _ = writeln!(out, "  {verb} at {c}");
    }
    if p.carries_state {
        let _ = writeln!(out, "  carries a new pipeline state");
    }
    if p.stage == PackageStage::Extracted {
        let _ = writeln!(out, "resources (not normalized yet):");
        for r in &p.resources {
            let _ = writeln!(out, "  {}: {} item(s)", r.table, r.items);
        }
    } else {
        let count = |s: JobState| p.jobs.iter().filter(|j| j.state == s).count();
        let _ = writeln!(
            out,
            "jobs: {} completed, {} failed, {} new, {} started",
            count(JobState::Completed),
            count(JobState::Failed),
            count(JobState::New),
            count(JobState::Started)
        );
        if !p.table_rows.is_empty() {
            let rows: Vec<String> = p
                .table_rows
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            let _ = writeln!(out, "rows: {}", rows.join(", "));
        }
        for j in &p.jobs {
            let _ = writeln!(out, "{}", job_line(j));
            if let Some(e) = &j.error {
                let _ = writeln!(out, "    error: {e}");
            }
        }
    }
    if verbose {
        if let Some(s) = &p.schema {
            let _ = writeln!(
                out,
                "schema {} version {} (hash {})",
                s.name, s.version, s.version_hash
            );
        }
        let updates = folder.schema_updates(&p.load_id)?;
        if updates.is_empty() {
            let _ = writeln!(out, "no schema updates");
        } else {
            let _ = writeln!(out, "schema updates (against the package before it):");
        }
        for u in updates {
            let what = match u.new_table {
                true => "new table",
                false => "new columns",
            };
            let cols: Vec<String> = u.columns.iter().map(|(c, t)| format!("{c} {t}")).collect();
            let _ = writeln!(out, "  {} ({what}): {}", u.table, cols.join(", "));
        }
    }
    Ok(())
}

fn failed_jobs(folder: &PipelineFolder, out: &mut String) -> Result<()> {
    let jobs = folder.failed_jobs()?;
    if jobs.is_empty() {
        let _ = writeln!(out, "pipeline {}: no failed jobs", folder.name());
    }
    for f in jobs {
        let _ = writeln!(
            out,
            "{}\t{}\t{} ({})",
            f.load_id, f.job.table, f.job.file_name, f.job.file_format
        );
        let _ = writeln!(out, "  error: {}", f.job.error.unwrap_or_default());
    }
    Ok(())
}

async fn show(p: &Pipeline, loads: usize, out: &mut String) -> Result<()> {
    let o = p.show_dataset(loads).await?;
    let from = match o.schema_from {
        "local" => "the local schema",
        "destination" => "the schema stored in the destination",
        _ => "no schema",
    };
    let _ = writeln!(
        out,
        "dataset {} of pipeline {} (tables from {from}):",
        p.dataset_name(),
        p.name()
    );
    if o.tables.is_empty() {
        let _ = writeln!(out, "  no tables");
    }
    // one line per table: its name first, the rows in a column
    let indent = |t: &pipeline::TableRows| if t.parent.is_some() { "    " } else { "  " };
    let width = o
        .tables
        .iter()
        .map(|t| indent(t).len() + t.table.len())
        .max()
        .unwrap_or(0);
    for t in &o.tables {
        let rows = match t.rows {
            Some(n) => format!("{n} row(s)"),
            None => "not in the dataset".into(),
        };
        let name = format!("{}{}", indent(t), t.table);
        let _ = writeln!(out, "{name:<width$}  {rows}");
    }
    if o.loads.is_empty() {
        let _ = writeln!(out, "no loads");
    } else {
        let _ = writeln!(out, "last loads:");
    }
    for l in &o.loads {
        let status = match l.status {
            0 => "loaded".to_string(),
            n => format!("status {n}"),
        };
        let _ = writeln!(
            out,
            "  {}\t{status}\t{}",
            l.load_id,
            l.inserted_at.to_rfc3339()
        );
    }
    Ok(())
}

/// Asks `question` on the terminal; `yes` answers for the user. Without a terminal and
/// without `yes`, the answer is no and `refused` is set.
fn confirm(question: &str, yes: bool, refused: &mut bool) -> bool {
    if yes {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        *refused = true;
        return false;
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

fn not_confirmed(refused: bool, command: &str) -> Result<()> {
    if refused {
        bail!(
            "`{command}` needs a confirmation and stdin is not a terminal: \
             run it again with --yes; nothing was changed"
        );
    }
    println!("nothing was changed");
    Ok(())
}

async fn drop_resources(
    p: &mut Pipeline,
    resources: &[String],
    yes: bool,
    out: &mut String,
) -> Result<()> {
    let mut refused = false;
    let done = p
        .drop_resources(resources, |plan| {
            println!(
                "About to drop the following from dataset {} in destination {} (pipeline {}):",
                plan.dataset_name, plan.destination, plan.pipeline_name
            );
            println!("  resources: {}", plan.resources.join(", "));
            println!("  tables to drop: {}", list_or_none(&plan.tables));
            println!(
                "  resource state to reset: {}",
                list_or_none(&plan.state_paths)
            );
            confirm("Proceed?", yes, &mut refused)
        })
        .await?;
    let Some(done) = done else {
        return not_confirmed(refused, "pipeline drop");
    };
    let _ = writeln!(
        out,
        "dropped tables: {}; reset state: {}",
        list_or_none(&done.plan.tables),
        list_or_none(&done.plan.state_paths)
    );
    for l in &done.load.packages {
        let _ = writeln!(
            out,
            "stored the new schema and state in the destination with load {}",
            l.load_id
        );
    }
    let _ = writeln!(
        out,
        "the next run loads {} from scratch",
        done.plan.resources.join(", ")
    );
    Ok(())
}

fn list_or_none(items: &[String]) -> String {
    match items.is_empty() {
        true => "none".into(),
        false => items.join(", "),
    }
}

async fn sync(p: &mut Pipeline, yes: bool, out: &mut String) -> Result<()> {
    let mut refused = false;
    let done = p
        .sync_from_destination(|plan| {
            let local = plan
                .local_state_version
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default();
            let schema = plan
                .schema_version
                .map(|v| format!(", schema version {v}"))
                .unwrap_or_else(|| ", no stored schema".into());
            println!(
                "About to drop the local state{local} and schema of pipeline {} and restore them \
                 from dataset {} in destination {}: state version {} of load {}{schema}. \
                 The destination's data, state and schemas are left intact.",
                plan.pipeline_name,
                plan.dataset_name,
                plan.destination,
                plan.state_version,
                plan.state_load_id
            );
            confirm("Proceed?", yes, &mut refused)
        })
        .await?;
    let Some(done) = done else {
        return not_confirmed(refused, "pipeline sync");
    };
    let _ = write!(
        out,
        "restored the state (version {}, load {})",
        done.state.state_version, done.plan.state_load_id
    );
    match &done.schema {
        Some(s) => {
            let tables = s
                .tables
                .iter()
                .filter(|t| !t.is_system() && t.complete_columns().next().is_some())
                .count();
            let _ = writeln!(
                out,
                " and schema {} (version {}, {tables} table(s))",
                s.name, s.version
            );
        }
        None => {
            let _ = writeln!(out, "; no schema was stored");
        }
    }
    Ok(())
}
