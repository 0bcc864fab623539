//! Load: run a normalized package's jobs against the destination.
//!
//! Per package: create the dataset, migrate the schema for the tables that have jobs,
//! run the chains' plans (truncate for replace), load the job files concurrently (each in
//! one transaction, up to `workers` at once, transient failures retried with backoff),
//! run follow-ups (staging to dataset), record the load in `_dlt_loads`, and move the
//! package to `load/loaded`. A job's state is its folder: `new_jobs` → `started_jobs` →
//! `completed_jobs` | `failed_jobs`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dest_core::{
    parse_write_disposition, ChainPlan, FollowUpJob, LoadClient, LoadJob, LoadTarget, Schema,
    STATE_TABLE,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::normalize::{PACKAGE_CREATED, PACKAGE_SCHEMA};
use crate::storage::{
    io_err, list_names, rename, write_atomic, JobFileName, Storage, COMPLETED_JOBS, FAILED_JOBS,
    LOADED, NEW_JOBS, NORMALIZED, STARTED_JOBS,
};
use crate::{PackageInfo, PipelineError};

/// How often a job that failed transiently is tried again before the load stops.
const MAX_ATTEMPTS: u32 = 5;

/// Reads the schema stored in a normalized package.
pub(crate) fn package_schema(dir: &Path) -> Result<Schema, PipelineError> {
    let p = dir.join(PACKAGE_SCHEMA);
    let bytes = fs::read(&p).map_err(io_err("reading a package schema", &p))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| PipelineError::Internal(format!("{}: {e}", p.display())))
}

/// When the package was created (the scd2 validity boundary).
fn package_created_at(dir: &Path) -> Result<chrono::DateTime<chrono::Utc>, PipelineError> {
    let p = dir.join(PACKAGE_CREATED);
    let text = fs::read_to_string(&p).map_err(io_err("reading the package creation time", &p))?;
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| PipelineError::Internal(format!("{}: {e}", p.display())))
}

struct Chain {
    tables: Vec<String>,
    plan: ChainPlan,
}

/// Loads normalized package `load_id`.
pub(crate) async fn load_package(
    storage: &Storage,
    client: Arc<dyn LoadClient>,
    load_id: &str,
    workers: usize,
) -> Result<PackageInfo, PipelineError> {
    let dir = storage.package(NORMALIZED, load_id);
    let schema = package_schema(&dir)?;
    for d in [NEW_JOBS, STARTED_JOBS, COMPLETED_JOBS, FAILED_JOBS] {
        let p = dir.join(d);
        fs::create_dir_all(&p).map_err(io_err("creating a package folder", &p))?;
    }
    // jobs interrupted by a crash are started again (their transaction did not commit,
    // or committed; see docs/ARCHITECTURE.md on exactly-once)
    for name in list_names(&dir.join(STARTED_JOBS), false)? {
        rename(
            &dir.join(STARTED_JOBS).join(&name),
            &dir.join(NEW_JOBS).join(&name),
        )?;
    }
    let mut jobs: Vec<JobFileName> = Vec::new();
    for name in list_names(&dir.join(NEW_JOBS), false)? {
        let job = JobFileName::parse(&name).ok_or_else(|| {
            PipelineError::Internal(format!("unexpected file {name} in {}", dir.display()))
        })?;
        jobs.push(job);
    }
    let mut job_tables: BTreeSet<String> = jobs.iter().map(|j| j.table.clone()).collect();
    for name in list_names(&dir.join(COMPLETED_JOBS), false)? {
        if let Some(j) = JobFileName::parse(&name) {
            job_tables.insert(j.table);
        }
    }

    // plan every chain that has jobs
    let mut chains: Vec<Chain> = Vec::new();
    for t in &job_tables {
        if t == STATE_TABLE {
            continue;
        }
        let root = schema.root_of(t).to_string();
        if chains.iter().any(|c| c.tables.first() == Some(&root)) {
            continue;
        }
        let chain = schema.chain(&root);
        let root_table = chain
            .first()
            .ok_or_else(|| PipelineError::Internal(format!("table `{t}` has no root")))?;
        let disposition = parse_write_disposition(
            &root_table.write_disposition,
            root_table.strategy.as_deref(),
        )?;
        let plan = disposition.plan(&chain)?;
        chains.push(Chain {
            tables: chain
                .iter()
                .filter(|c| c.seen_data)
                .map(|c| c.name.clone())
                .collect(),
            plan,
        });
    }
    let staging = chains.iter().any(|c| c.plan.target == LoadTarget::Staging);
    let tables: Vec<String> = job_tables.iter().cloned().collect();

    client.initialize(staging).await?;
    client
        .update_schema(&schema, &tables, LoadTarget::Dataset)
        .await?;
    if staging {
        let staged: Vec<String> = chains
            .iter()
            .filter(|c| c.plan.target == LoadTarget::Staging)
            .flat_map(|c| c.tables.iter().cloned())
            .collect();
        client
            .update_schema(&schema, &staged, LoadTarget::Staging)
            .await?;
        client.truncate(&staged, LoadTarget::Staging).await?;
    }
    let truncate: Vec<String> = chains
        .iter()
        .filter(|c| c.plan.truncate_before)
        .flat_map(|c| c.tables.iter().cloned())
        .collect();
    client.truncate(&truncate, LoadTarget::Dataset).await?;

    // data jobs
    let semaphore = Arc::new(Semaphore::new(workers.max(1)));
    let mut set: JoinSet<Result<u64, PipelineError>> = JoinSet::new();
    for job in jobs {
        let target = chains
            .iter()
            .find(|c| c.tables.contains(&job.table))
            .map(|c| c.plan.target)
            .unwrap_or(LoadTarget::Dataset);
        let permit_source = semaphore.clone();
        let client = client.clone();
        let dir = dir.clone();
        let load_id = load_id.to_string();
        set.spawn(async move {
            let _permit = permit_source
                .acquire_owned()
                .await
                .map_err(|_| PipelineError::Internal("load worker pool closed".into()))?;
            run_job(&dir, client.as_ref(), &load_id, job, target).await
        });
    }
    let mut rows = 0u64;
    let mut first_error: Option<PipelineError> = None;
    while let Some(res) = set.join_next().await {
        match res {
            Ok(Ok(n)) => rows += n,
            Ok(Err(e)) => {
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(PipelineError::Internal(format!(
                        "a load worker failed: {e}"
                    )));
                }
            }
        }
    }
    if let Some(e) = first_error {
        let failed = !list_names(&dir.join(FAILED_JOBS), false)?.is_empty();
        if failed {
            // a terminal failure: the package cannot succeed; mark it aborted
            write_atomic(&dir.join("package_completed.json"), b"\"aborted\"")?;
            rename(&dir, &storage.package(LOADED, load_id))?;
            return Err(PipelineError::LoadAborted {
                load_id: load_id.to_string(),
                source: Box::new(e),
            });
        }
        return Err(e);
    }

    let created_at = package_created_at(&dir)?;
    for chain in &chains {
        if let Some(kind) = chain.plan.follow_up {
            let job = FollowUpJob {
                kind,
                chain: chain
                    .tables
                    .iter()
                    .filter_map(|t| schema.table(t))
                    .collect(),
                load_id,
                created_at,
            };
            client.follow_up(&job).await?;
        }
    }
    client.complete_load(load_id, &schema).await?;
    write_atomic(&dir.join("package_completed.json"), b"\"loaded\"")?;
    rename(&dir, &storage.package(LOADED, load_id))?;
    Ok(PackageInfo {
        load_id: load_id.to_string(),
        rows,
        tables,
    })
}

async fn run_job(
    dir: &Path,
    client: &dyn LoadClient,
    load_id: &str,
    mut job: JobFileName,
    target: LoadTarget,
) -> Result<u64, PipelineError> {
    loop {
        let name = job.file_name();
        let started = dir.join(STARTED_JOBS).join(&name);
        rename(&dir.join(NEW_JOBS).join(&name), &started)?;
        let spec = LoadJob {
            load_id: load_id.to_string(),
            table: job.table.clone(),
            file: started.clone(),
            format: job.format.clone(),
            target,
        };
        match client.run_job(&spec).await {
            Ok(outcome) => {
                rename(&started, &dir.join(COMPLETED_JOBS).join(&name))?;
                return Ok(outcome.rows);
            }
            Err(e) if e.is_transient() && job.retry + 1 < MAX_ATTEMPTS => {
                tracing::warn!(job = %name, error = %e, "transient failure, retrying");
                let wait = backoff(job.retry);
                job.retry += 1;
                rename(&started, &dir.join(NEW_JOBS).join(job.file_name()))?;
                tokio::time::sleep(wait).await;
            }
            Err(e) if e.is_transient() => {
                // leave the job pending: the next run retries it
                rename(&started, &dir.join(NEW_JOBS).join(&name))?;
                return Err(PipelineError::Load {
                    table: job.table,
                    job: name,
                    source: Box::new(e),
                });
            }
            Err(e) => {
                let failed = dir.join(FAILED_JOBS).join(&name);
                rename(&started, &failed)?;
                write_atomic(
                    &failed.with_extension("exception"),
                    e.to_string().as_bytes(),
                )?;
                return Err(PipelineError::Load {
                    table: job.table,
                    job: name,
                    source: Box::new(e),
                });
            }
        }
    }
}

/// Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, 4 s.
fn backoff(retry: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << retry.min(6));
    let jitter = rand::random::<u64>() % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}
