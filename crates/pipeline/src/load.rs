//! Load: run a normalized package's jobs against the destination.
//!
//! Per package: create the dataset, migrate the schema for the tables that have jobs,
//! run the chains' plans (truncate for replace), load the job files concurrently (each in
//! one transaction, up to `workers` at once, transient failures retried with backoff),
//! run follow-ups (staging to dataset), record the load in `_dlt_loads`, and move the
//! package to `load/loaded`. A job's state is its folder ([`JobFolder`]): new → started →
//! completed | failed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use dest_core::{
    ChainPlan, FollowUpJob, LoadClient, LoadJob, LoadTarget, Schema, StagingLock, STATE_TABLE,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::package::{Completion, JobFileName, JobFolder, LoadPackage};
use crate::progress::Progress;
use crate::storage::{rename, Storage, LOADED, NORMALIZED};
use crate::stream::Streamed;
use crate::{ItemRef, PackageInfo, PipelineError};

/// How often a job that failed transiently is tried again before the load stops.
const MAX_ATTEMPTS: u32 = 5;

/// How often a package whose load failed transiently (after its jobs' own retries: the
/// server restarting, the connection lost during the schema migration or the follow-up)
/// is loaded again before the run stops and leaves it for the next run.
const MAX_PACKAGE_ATTEMPTS: u32 = 5;

/// [`load_package`], run again with backoff while it fails transiently. Loading a package
/// again is safe: completed jobs are not run again and the destination's ledger skips the
/// jobs whose commit landed.
pub(crate) async fn load_package_retrying(
    storage: &Storage,
    client: Arc<dyn LoadClient>,
    load_id: &str,
    workers: usize,
    streamed: Streamed,
    progress: &Arc<Progress>,
) -> Result<PackageInfo, PipelineError> {
    let mut attempt = 0;
    loop {
        let attempt_result = load_package(
            storage,
            client.clone(),
            load_id,
            workers,
            streamed.clone(),
            progress,
        )
        .await;
        match attempt_result {
            Err(e) if e.is_transient() && attempt + 1 < MAX_PACKAGE_ATTEMPTS => {
                tracing::warn!(load_id, error = %e, "the load failed transiently, loading the package again");
                tokio::time::sleep(backoff(attempt + 1)).await;
                attempt += 1;
            }
            other => {
                // the package is done (or left for the next run): staging is free again
                if let Err(e) = client.unlock_staging().await {
                    tracing::warn!(load_id, error = %e, "could not release the staging lock");
                }
                return other;
            }
        }
    }
}

struct Chain {
    root: String,
    /// Tables of the chain that exist (have received data), parents first.
    tables: Vec<String>,
    plan: ChainPlan,
    replace: bool,
}

/// A unit of loading: one job file, or all job files of a replace chain loaded in one
/// transaction after emptying the chain.
struct Unit {
    jobs: Vec<JobFileName>,
    target: LoadTarget,
    /// `Some(tables)`: load atomically after truncating `tables`.
    atomic: Option<Vec<String>>,
}

/// What loading a package involves: the chains it touches and the tables that have jobs.
struct LoadPlan {
    schema: Schema,
    chains: Vec<Chain>,
    /// Tables with job files (new or completed).
    job_tables: BTreeSet<String>,
}

/// Loads normalized package `load_id`.
pub(crate) async fn load_package(
    storage: &Storage,
    client: Arc<dyn LoadClient>,
    load_id: &str,
    workers: usize,
    streamed: Streamed,
    progress: &Arc<Progress>,
) -> Result<PackageInfo, PipelineError> {
    let package = LoadPackage::of(storage, NORMALIZED, load_id);
    let schema = package.schema()?;
    package.create_job_folders()?;
    recover_jobs(&package, client.as_ref(), load_id).await?;
    let plan = LoadPlan::new(&package, schema)?;
    prepare_destination(&package, client.as_ref(), &plan, &streamed).await?;
    let table_rows = package.table_rows();
    let replaced_empty = replaced_without_rows(client.as_ref(), &plan, table_rows.as_ref()).await?;

    let units = plan.units(&package)?;
    let loaded = run_units(&package, &client, load_id, units, workers, progress).await;
    let rows = match loaded {
        Ok(rows) => streamed.rows + rows,
        Err(e) if package.has_failed_jobs()? => {
            // a terminal failure: the package cannot succeed; mark it aborted
            package.mark_completed(Completion::Aborted)?;
            rename(package.dir(), &storage.package(LOADED, load_id))?;
            return Err(PipelineError::LoadAborted {
                load_id: load_id.to_string(),
                source: Box::new(e),
            });
        }
        Err(e) => return Err(e),
    };

    run_follow_ups(&package, client.as_ref(), load_id, &plan).await?;
    client.complete_load(load_id, &plan.schema).await?;
    crate::fault::point("load-recorded");
    if let Err(e) = client.forget_jobs(load_id).await {
        // harmless: the rows of a complete package are never read again
        tracing::warn!(load_id, error = %e, "could not clean the job ledger");
    }
    package.mark_completed(Completion::Loaded)?;
    let jobs = package.job_file_names(JobFolder::Completed)?.len() as u64;
    rename(package.dir(), &storage.package(LOADED, load_id))?;
    Ok(PackageInfo {
        load_id: load_id.to_string(),
        rows,
        rows_streamed: streamed.rows,
        tables: plan.job_tables.into_iter().collect(),
        jobs,
        table_rows: table_rows.unwrap_or_default(),
        replaced_empty,
    })
}

/// Starts again the jobs a crash interrupted, except those whose rows committed (the
/// destination recorded them in the same transaction): those are completed.
async fn recover_jobs(
    package: &LoadPackage,
    client: &dyn LoadClient,
    load_id: &str,
) -> Result<(), PipelineError> {
    package.move_jobs(JobFolder::Started, JobFolder::New, |_| true)?;
    let committed: HashSet<String> = client.committed_jobs(load_id).await?.into_iter().collect();
    if !committed.is_empty() {
        package.move_jobs(JobFolder::New, JobFolder::Completed, |j| {
            committed.contains(&j.key())
        })?;
    }
    Ok(())
}

impl LoadPlan {
    /// The chains of the package: its resources' root tables and the roots of its jobs.
    fn new(package: &LoadPackage, schema: Schema) -> Result<Self, PipelineError> {
        let mut roots: BTreeSet<String> = package.roots()?.into_iter().collect();
        let mut job_tables: BTreeSet<String> = BTreeSet::new();
        for folder in [JobFolder::New, JobFolder::Completed] {
            job_tables.extend(package.jobs(folder)?.into_iter().map(|j| j.table));
        }
        for t in &job_tables {
            if t != STATE_TABLE {
                roots.insert(schema.root_of(t).to_string());
            }
        }
        let mut chains: Vec<Chain> = Vec::new();
        for root in roots {
            let chain = schema.chain(&root);
            let Some(root_table) = chain.first() else {
                continue;
            };
            let disposition = root_table.disposition.write_disposition()?;
            let plan = disposition.plan(&chain)?;
            let tables = chain
                .iter()
                .filter(|c| c.seen_data && c.complete_columns().next().is_some())
                .map(|c| c.name.clone())
                .collect();
            let replace = disposition.kind() == dest_core::DispositionKind::Replace;
            chains.push(Chain {
                root,
                tables,
                plan,
                replace,
            });
        }
        Ok(LoadPlan {
            schema,
            chains,
            job_tables,
        })
    }

    /// The chain `table` belongs to.
    fn chain_of(&self, table: &str) -> Option<&Chain> {
        let root = self.schema.root_of(table);
        self.chains.iter().find(|c| c.root == root)
    }

    /// The chains that load through the staging dataset.
    fn staged_chains(&self) -> impl Iterator<Item = &Chain> {
        self.chains
            .iter()
            .filter(|c| c.plan.target == LoadTarget::Staging)
    }

    /// The tables to migrate in the dataset: those with jobs and those of the chains.
    fn tables(&self) -> Vec<String> {
        let mut tables: BTreeSet<String> = self.job_tables.clone();
        tables.extend(self.chains.iter().flat_map(|c| c.tables.iter().cloned()));
        tables.into_iter().collect()
    }

    /// The units of work for the new jobs: a replace chain's jobs together (unless some
    /// already completed: the chain was emptied then), every other job alone.
    fn units(&self, package: &LoadPackage) -> Result<Vec<Unit>, PipelineError> {
        let mut jobs: Vec<JobFileName> = Vec::new();
        for name in package.job_file_names(JobFolder::New)? {
            jobs.push(JobFileName::parse(&name).ok_or_else(|| {
                PipelineError::Internal(format!(
                    "unexpected file {name} in {}",
                    package.dir().display()
                ))
            })?);
        }
        let completed = package.jobs(JobFolder::Completed)?;
        let mut units: Vec<Unit> = Vec::new();
        for chain in self.chains.iter().filter(|c| c.plan.truncate_before) {
            let in_chain = |j: &JobFileName| {
                self.chain_of(&j.table)
                    .is_some_and(|c| c.root == chain.root)
            };
            let (mine, rest): (Vec<_>, Vec<_>) = jobs.into_iter().partition(in_chain);
            jobs = rest;
            if !completed.iter().any(in_chain) {
                units.push(Unit {
                    jobs: mine,
                    target: LoadTarget::Dataset,
                    atomic: Some(chain.tables.clone()),
                });
            }
        }
        for job in jobs {
            let target = self
                .chain_of(&job.table)
                .map(|c| c.plan.target)
                .unwrap_or(LoadTarget::Dataset);
            units.push(Unit {
                jobs: vec![job],
                target,
                atomic: None,
            });
        }
        Ok(units)
    }
}

/// Creates the dataset (and staging) and migrates the schema of the package's tables.
/// Staged chains take the staging schema until their follow-ups are done (another
/// pipeline's staged load into it waits).
async fn prepare_destination(
    package: &LoadPackage,
    client: &dyn LoadClient,
    plan: &LoadPlan,
    streamed: &Streamed,
) -> Result<(), PipelineError> {
    let staged: Vec<String> = plan
        .staged_chains()
        .flat_map(|c| c.tables.iter().cloned())
        .collect();
    client.initialize(!staged.is_empty()).await?;
    // a lock taken anew means what the sessions loaded into staging may be gone, so it is
    // loaded again
    let mut streamed_roots = streamed.staged_roots.clone();
    if !staged.is_empty() && client.lock_staging(true).await? != StagingLock::Held {
        streamed_roots.clear();
    }
    client
        .update_schema(&plan.schema, &plan.tables(), LoadTarget::Dataset)
        .await?;
    if !staged.is_empty() {
        client
            .update_schema(&plan.schema, &staged, LoadTarget::Staging)
            .await?;
        prepare_staging(package, client, plan, &streamed_roots).await?;
    }
    Ok(())
}

/// Empties the staging tables of the staged chains. Staging is emptied at every attempt, so
/// every job of a staged chain loads again (except chains whose staging tables were just
/// loaded while normalizing, `streamed_roots`); the follow-up runs at most once per load
/// (the destination keeps a ledger).
async fn prepare_staging(
    package: &LoadPackage,
    client: &dyn LoadClient,
    plan: &LoadPlan,
    streamed_roots: &HashSet<String>,
) -> Result<(), PipelineError> {
    let reload: Vec<String> = plan
        .staged_chains()
        .filter(|c| !streamed_roots.contains(&c.root))
        .flat_map(|c| c.tables.iter().cloned())
        .collect();
    package.move_jobs(JobFolder::Completed, JobFolder::New, |j| {
        reload.contains(&j.table)
    })?;
    // a streamed chain's tables that got no rows in this package still hold an earlier
    // load's rows in staging: empty them too
    let loaded_tables: BTreeSet<String> = package
        .jobs(JobFolder::Completed)?
        .into_iter()
        .map(|j| j.table)
        .collect();
    let mut empty = reload;
    empty.extend(
        plan.chains
            .iter()
            .filter(|c| streamed_roots.contains(&c.root))
            .flat_map(|c| c.tables.iter())
            .filter(|t| !loaded_tables.contains(*t))
            .cloned(),
    );
    client.truncate(&empty, LoadTarget::Staging).await?;
    Ok(())
}

/// The tables of replaced chains that this package brings no rows for, with the rows they
/// hold now: a replace without rows empties its tables (as in dlt), which is worth saying.
/// Packages of older versions have no row counts (`table_rows` is `None`): nothing is said.
async fn replaced_without_rows(
    client: &dyn LoadClient,
    plan: &LoadPlan,
    table_rows: Option<&BTreeMap<String, u64>>,
) -> Result<BTreeMap<String, u64>, PipelineError> {
    let mut replaced_empty = BTreeMap::new();
    let Some(table_rows) = table_rows else {
        return Ok(replaced_empty);
    };
    for chain in plan
        .chains
        .iter()
        .filter(|c| c.replace && !c.tables.is_empty())
    {
        let rows: u64 = chain.tables.iter().filter_map(|t| table_rows.get(t)).sum();
        if rows == 0 {
            let before = client.table_row_counts(&chain.tables).await?;
            let removed: Vec<String> = before
                .iter()
                .map(|(t, n)| format!("{t}: {}", n.unwrap_or(0)))
                .collect();
            tracing::warn!(
                "table `{}` is replaced by a load without rows, which empties it, as dlt does \
                 (rows removed: {}); use append or merge to keep rows when a source yields nothing",
                chain.root,
                removed.join(", ")
            );
            replaced_empty.extend(before.into_iter().map(|(t, n)| (t, n.unwrap_or(0))));
        }
    }
    Ok(replaced_empty)
}

/// Runs `units`, up to `workers` at once, until all are done; returns the rows they
/// loaded, or the first error once all are done.
async fn run_units(
    package: &LoadPackage,
    client: &Arc<dyn LoadClient>,
    load_id: &str,
    units: Vec<Unit>,
    workers: usize,
    progress: &Arc<Progress>,
) -> Result<u64, PipelineError> {
    let semaphore = Arc::new(Semaphore::new(workers.max(1)));
    let mut set: JoinSet<Result<u64, PipelineError>> = JoinSet::new();
    for unit in units {
        let permits = semaphore.clone();
        let client = client.clone();
        let package = package.clone();
        let load_id = load_id.to_string();
        let progress = progress.clone();
        set.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|_| PipelineError::Internal("load worker pool closed".into()))?;
            let jobs = unit.jobs.len() as u64;
            let rows = run_unit(&package, client.as_ref(), &load_id, unit).await?;
            progress.loaded(jobs, rows);
            Ok(rows)
        });
    }
    let mut rows = 0;
    let mut first_error: Option<PipelineError> = None;
    while let Some(res) = set.join_next().await {
        let err = match res {
            Ok(Ok(n)) => {
                rows += n;
                continue;
            }
            Ok(Err(e)) => e,
            Err(e) => PipelineError::Internal(format!("a load worker failed: {e}")),
        };
        first_error.get_or_insert(err);
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(rows),
    }
}

/// Runs the follow-ups of the chains (staging to dataset, scd2, ...).
async fn run_follow_ups(
    package: &LoadPackage,
    client: &dyn LoadClient,
    load_id: &str,
    plan: &LoadPlan,
) -> Result<(), PipelineError> {
    let created_at = package.created_at()?;
    for chain in &plan.chains {
        if let Some(kind) = chain.plan.follow_up {
            let job = FollowUpJob {
                kind,
                chain: chain
                    .tables
                    .iter()
                    .filter_map(|t| plan.schema.table(t))
                    .collect(),
                load_id,
                created_at,
                schema_name: &plan.schema.name,
            };
            if !job.chain.is_empty() {
                client.follow_up(&job).await?;
            }
        }
    }
    Ok(())
}

/// Runs one unit, retrying transient failures with backoff; moves its job files through
/// the started jobs to the completed or failed ones.
async fn run_unit(
    package: &LoadPackage,
    client: &dyn LoadClient,
    load_id: &str,
    mut unit: Unit,
) -> Result<u64, PipelineError> {
    loop {
        let mut specs = Vec::with_capacity(unit.jobs.len());
        for job in &unit.jobs {
            let name = job.file_name();
            package.move_job(&name, JobFolder::New, JobFolder::Started)?;
            specs.push(LoadJob {
                load_id: load_id.to_string(),
                table: job.table.clone(),
                file: package.job_path(JobFolder::Started, &name),
                format: job.format.parse()?,
                target: unit.target,
                key: job.key(),
            });
        }
        let result = match (&unit.atomic, specs.as_slice()) {
            (Some(truncate), _) => client.run_jobs_atomically(truncate, &specs).await,
            (None, [one]) => client.run_job(one).await.map(|o| o.rows),
            (None, _) => Err(dest_core::Error::Internal("a unit without jobs".into())),
        };
        let retry = unit.jobs.first().map(|j| j.retry).unwrap_or(0);
        let label = unit
            .jobs
            .iter()
            .map(JobFileName::file_name)
            .collect::<Vec<_>>()
            .join(", ");
        let table = unit
            .atomic
            .as_ref()
            .and_then(|t| t.first().cloned())
            .or_else(|| unit.jobs.first().map(|j| j.table.clone()))
            .unwrap_or_default();
        match result {
            Ok(rows) => {
                crate::fault::point("job-committed");
                for job in &unit.jobs {
                    package.move_job(&job.file_name(), JobFolder::Started, JobFolder::Completed)?;
                }
                return Ok(rows);
            }
            Err(e) if e.is_transient() && retry + 1 < MAX_ATTEMPTS => {
                tracing::warn!(jobs = %label, error = %e, "transient failure, retrying");
                for job in unit.jobs.iter_mut() {
                    package.requeue_started(job)?;
                }
                tokio::time::sleep(backoff(retry)).await;
            }
            Err(e) => {
                // transient: leave the jobs pending for the next run; terminal: failed
                let (folder, item) = if e.is_transient() {
                    (JobFolder::New, None)
                } else {
                    (JobFolder::Failed, failed_item(package, &unit.jobs, &e))
                };
                for job in &unit.jobs {
                    let name = job.file_name();
                    package.move_job(&name, JobFolder::Started, folder)?;
                    if folder == JobFolder::Failed {
                        let text = match &item {
                            Some(item) => format!("{e}; the row came from {item}"),
                            None => e.to_string(),
                        };
                        package.record_job_error(&name, &text)?;
                    }
                }
                return Err(PipelineError::Load {
                    table,
                    job: label,
                    source: Box::new(e),
                    item,
                });
            }
        }
    }
}

/// The row of a job file a destination error names ([`dest_core::Error::AtRow`]).
fn failed_row(e: &dest_core::Error) -> Option<u64> {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    loop {
        if let Some(dest_core::Error::AtRow { row, .. }) = cause.downcast_ref::<dest_core::Error>()
        {
            return Some(*row);
        }
        cause = cause.source()?;
    }
}

/// The item the row a failure of `jobs` names came from, from the package's origins
/// (written by normalize). Of several jobs loaded together (a replace chain), the failing
/// one is the one whose file the error names. `None` when the error names no row or the
/// origin is not known (a package of an older version).
fn failed_item(
    package: &LoadPackage,
    jobs: &[JobFileName],
    e: &dest_core::Error,
) -> Option<ItemRef> {
    let row = failed_row(e)?;
    let job = match jobs {
        [one] => one,
        _ => {
            let text = e.to_string();
            let mut named = jobs.iter().filter(|j| text.contains(&j.file_name()));
            match (named.next(), named.next()) {
                (Some(job), None) => job,
                _ => return None,
            }
        }
    };
    let origins = package.origins()?;
    let (resource, first, last) = origins.get(&job.key())?.item_of(row)?;
    Some(ItemRef {
        resource: resource.to_string(),
        first,
        last,
        input_id: package.input_id().ok().flatten(),
    })
}

/// Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, 4 s.
fn backoff(retry: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << retry.min(6));
    let jitter = rand::random::<u64>() % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::package::{JobOrigin, OriginSegment};
    use std::fs;

    #[test]
    fn a_failed_row_names_its_item() {
        let dir = std::env::temp_dir().join(format!("dlt-rs-item-ref-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let package = LoadPackage::at(dir.clone());
        let root = JobFileName::parse("t.aaaaaaaaaa.1.insert_values").unwrap();
        let nested = JobFileName::parse("t__tags.bbbbbbbbbb.0.insert_values").unwrap();
        let origins: BTreeMap<String, JobOrigin> = [
            (
                root.key(),
                JobOrigin {
                    exact: true,
                    segments: vec![OriginSegment {
                        row: 0,
                        resource: "t".into(),
                        first: 1,
                        last: 3,
                    }],
                },
            ),
            (
                nested.key(),
                JobOrigin {
                    exact: false,
                    segments: vec![OriginSegment {
                        row: 0,
                        resource: "t".into(),
                        first: 2,
                        last: 3,
                    }],
                },
            ),
        ]
        .into_iter()
        .collect();
        package.write_origins(&origins).unwrap();
        package.write_input_id("input-1").unwrap();
        let at = |row: u64, text: &str| dest_core::Error::AtRow {
            row,
            source: Box::new(dest_core::Error::Internal(text.into())),
        };

        let item = failed_item(&package, std::slice::from_ref(&root), &at(1, "x")).unwrap();
        assert_eq!(
            item,
            ItemRef {
                resource: "t".into(),
                first: 2,
                last: 2,
                input_id: Some("input-1".into()),
            }
        );
        assert_eq!(item.to_string(), "resource `t`, item 2");
        // a nested table's row: the items of the file
        let item = failed_item(&package, std::slice::from_ref(&nested), &at(0, "x")).unwrap();
        assert_eq!((item.first, item.last), (2, 3));
        assert_eq!(item.to_string(), "resource `t`, one of items 2-3");
        // jobs loaded together: the one the error names
        let both = [root.clone(), nested.clone()];
        let started =
            LoadPackage::at("/x".into()).job_path(JobFolder::Started, &nested.file_name());
        let text = format!("loading {} into t", started.display());
        let item = failed_item(&package, &both, &at(5, &text)).unwrap();
        assert_eq!((item.first, item.last), (2, 3));
        assert_eq!(failed_item(&package, &both, &at(0, "no file named")), None);
        // no row named, a row past the file, an unknown job
        let plain = dest_core::Error::Internal("x".into());
        assert_eq!(
            failed_item(&package, std::slice::from_ref(&root), &plain),
            None
        );
        assert_eq!(
            failed_item(&package, std::slice::from_ref(&root), &at(3, "x")),
            None
        );
        let other = JobFileName::parse("u.cccccccccc.0.insert_values").unwrap();
        assert_eq!(failed_item(&package, &[other], &at(0, "x")), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
