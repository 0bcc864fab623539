//! Load: run a normalized package's jobs against the destination.
//!
//! Per package: create the dataset, migrate the schema for the tables that have jobs,
//! run the chains' plans (truncate for replace), load the job files concurrently (each in
//! one transaction, up to `workers` at once, transient failures retried with backoff),
//! run follow-ups (staging to dataset), record the load in `_dlt_loads`, and move the
//! package to `load/loaded`. A job's state is its folder: `new_jobs` → `started_jobs` →
//! `completed_jobs` | `failed_jobs`.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dest_core::{
    parse_write_disposition, ChainPlan, FollowUpJob, LoadClient, LoadJob, LoadTarget, Schema,
    StagingLock, STATE_TABLE,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::normalize::{
    JobOrigin, PACKAGE_CHAINS, PACKAGE_CREATED, PACKAGE_INPUT_ID, PACKAGE_ORIGINS, PACKAGE_ROWS,
    PACKAGE_SCHEMA,
};
use crate::progress::Progress;
use crate::storage::{
    io_err, list_names, rename, write_atomic, JobFileName, Storage, COMPLETED_JOBS, FAILED_JOBS,
    LOADED, NEW_JOBS, NORMALIZED, STARTED_JOBS,
};
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
    streamed: crate::stream::Streamed,
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

/// Loads normalized package `load_id`.
pub(crate) async fn load_package(
    storage: &Storage,
    client: Arc<dyn LoadClient>,
    load_id: &str,
    workers: usize,
    streamed: crate::stream::Streamed,
    progress: &Arc<Progress>,
) -> Result<PackageInfo, PipelineError> {
    let dir = storage.package(NORMALIZED, load_id);
    let schema = package_schema(&dir)?;
    for d in [NEW_JOBS, STARTED_JOBS, COMPLETED_JOBS, FAILED_JOBS] {
        let p = dir.join(d);
        fs::create_dir_all(&p).map_err(io_err("creating a package folder", &p))?;
    }
    // jobs interrupted by a crash are started again, except those whose rows committed
    // (the destination recorded them in the same transaction)
    move_all(&dir, STARTED_JOBS, NEW_JOBS, |_| true)?;
    let committed: HashSet<String> = client.committed_jobs(load_id).await?.into_iter().collect();
    if !committed.is_empty() {
        move_all(&dir, NEW_JOBS, COMPLETED_JOBS, |j| {
            committed.contains(&j.key())
        })?;
    }

    // the chains of this package: its resources' root tables and the roots of its jobs
    let mut roots: BTreeSet<String> = package_roots(&dir)?.into_iter().collect();
    let mut job_tables: BTreeSet<String> = BTreeSet::new();
    for folder in [NEW_JOBS, COMPLETED_JOBS] {
        for name in list_names(&dir.join(folder), false)? {
            if let Some(j) = JobFileName::parse(&name) {
                job_tables.insert(j.table);
            }
        }
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
        let disposition = parse_write_disposition(
            &root_table.write_disposition,
            root_table.strategy.as_deref(),
        )?;
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
    let chain_of = |table: &str| -> Option<&Chain> {
        let root = schema.root_of(table);
        chains.iter().find(|c| c.root == root)
    };

    let staged: Vec<String> = chains
        .iter()
        .filter(|c| c.plan.target == LoadTarget::Staging)
        .flat_map(|c| c.tables.iter().cloned())
        .collect();
    let mut tables: BTreeSet<String> = job_tables.clone();
    tables.extend(chains.iter().flat_map(|c| c.tables.iter().cloned()));
    let tables: Vec<String> = tables.into_iter().collect();

    client.initialize(!staged.is_empty()).await?;
    // staged chains take the staging schema until their follow-ups are done (another
    // pipeline's staged load into it waits); a lock taken anew means what the sessions
    // loaded into staging may be gone, so it is loaded again
    let mut streamed_roots = streamed.staged_roots.clone();
    if !staged.is_empty() && client.lock_staging(true).await? != StagingLock::Held {
        streamed_roots.clear();
    }
    client
        .update_schema(&schema, &tables, LoadTarget::Dataset)
        .await?;
    if !staged.is_empty() {
        client
            .update_schema(&schema, &staged, LoadTarget::Staging)
            .await?;
        // staging is emptied at every attempt, so every job of a staged chain loads again
        // (except chains whose staging tables were just loaded while normalizing); the
        // follow-up runs at most once per load (the destination keeps a ledger)
        let reload: Vec<String> = chains
            .iter()
            .filter(|c| c.plan.target == LoadTarget::Staging && !streamed_roots.contains(&c.root))
            .flat_map(|c| c.tables.iter().cloned())
            .collect();
        move_all(&dir, COMPLETED_JOBS, NEW_JOBS, |j| {
            reload.contains(&j.table)
        })?;
        // a streamed chain's tables that got no rows in this package still hold an
        // earlier load's rows in staging: empty them too
        let mut loaded_tables: BTreeSet<String> = BTreeSet::new();
        for name in list_names(&dir.join(COMPLETED_JOBS), false)? {
            if let Some(j) = JobFileName::parse(&name) {
                loaded_tables.insert(j.table);
            }
        }
        let mut empty = reload;
        empty.extend(
            chains
                .iter()
                .filter(|c| streamed_roots.contains(&c.root))
                .flat_map(|c| c.tables.iter())
                .filter(|t| !loaded_tables.contains(*t))
                .cloned(),
        );
        client.truncate(&empty, LoadTarget::Staging).await?;
    }

    // a replace that brings no rows empties its tables (as in dlt): count what goes, to say so
    let mut replaced_empty = std::collections::BTreeMap::new();
    let package_rows = package_rows(&dir);
    // (packages of older versions have no row counts: nothing to say about them)
    let counted = dir.join(PACKAGE_ROWS).exists();
    for chain in chains
        .iter()
        .filter(|c| counted && c.replace && !c.tables.is_empty())
    {
        let rows: u64 = chain
            .tables
            .iter()
            .filter_map(|t| package_rows.get(t))
            .sum();
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

    // units of work
    let mut jobs: Vec<JobFileName> = Vec::new();
    for name in list_names(&dir.join(NEW_JOBS), false)? {
        jobs.push(JobFileName::parse(&name).ok_or_else(|| {
            PipelineError::Internal(format!("unexpected file {name} in {}", dir.display()))
        })?);
    }
    let mut units: Vec<Unit> = Vec::new();
    for chain in chains.iter().filter(|c| c.plan.truncate_before) {
        let (mine, rest): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .partition(|j| chain_of(&j.table).is_some_and(|c| c.root == chain.root));
        jobs = rest;
        let done = list_names(&dir.join(COMPLETED_JOBS), false)?
            .iter()
            .filter_map(|n| JobFileName::parse(n))
            .any(|j| chain_of(&j.table).is_some_and(|c| c.root == chain.root));
        if !done {
            units.push(Unit {
                jobs: mine,
                target: LoadTarget::Dataset,
                atomic: Some(chain.tables.clone()),
            });
        }
    }
    for job in jobs {
        let target = chain_of(&job.table)
            .map(|c| c.plan.target)
            .unwrap_or(LoadTarget::Dataset);
        units.push(Unit {
            jobs: vec![job],
            target,
            atomic: None,
        });
    }

    let semaphore = Arc::new(Semaphore::new(workers.max(1)));
    let mut set: JoinSet<Result<u64, PipelineError>> = JoinSet::new();
    for unit in units {
        let permits = semaphore.clone();
        let client = client.clone();
        let dir = dir.clone();
        let load_id = load_id.to_string();
        let progress = progress.clone();
        set.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|_| PipelineError::Internal("load worker pool closed".into()))?;
            let jobs = unit.jobs.len() as u64;
            let rows = run_unit(&dir, client.as_ref(), &load_id, unit).await?;
            progress.loaded(jobs, rows);
            Ok(rows)
        });
    }
    let rows_streamed = streamed.rows;
    let mut rows = rows_streamed;
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
                schema_name: &schema.name,
            };
            if !job.chain.is_empty() {
                client.follow_up(&job).await?;
            }
        }
    }
    client.complete_load(load_id, &schema).await?;
    crate::fault::point("load-recorded");
    if let Err(e) = client.forget_jobs(load_id).await {
        // harmless: the rows of a complete package are never read again
        tracing::warn!(load_id, error = %e, "could not clean the job ledger");
    }
    write_atomic(&dir.join("package_completed.json"), b"\"loaded\"")?;
    let jobs = list_names(&dir.join(COMPLETED_JOBS), false)?.len() as u64;
    rename(&dir, &storage.package(LOADED, load_id))?;
    Ok(PackageInfo {
        load_id: load_id.to_string(),
        rows,
        rows_streamed,
        tables: job_tables.into_iter().collect(),
        jobs,
        table_rows: package_rows,
        replaced_empty,
    })
}

/// The rows per table normalize counted (empty for packages of older versions).
fn package_rows(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    fs::read(dir.join(PACKAGE_ROWS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The root tables of the package's resources (absent in packages of older versions).
fn package_roots(dir: &Path) -> Result<Vec<String>, PipelineError> {
    let p = dir.join(PACKAGE_CHAINS);
    match fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| PipelineError::Internal(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("reading", &p)(e)),
    }
}

/// Moves the job files of `from` that match `pick` to `to`.
fn move_all(
    dir: &Path,
    from: &str,
    to: &str,
    pick: impl Fn(&JobFileName) -> bool,
) -> Result<(), PipelineError> {
    for name in list_names(&dir.join(from), false)? {
        if JobFileName::parse(&name).is_some_and(|j| pick(&j)) {
            rename(&dir.join(from).join(&name), &dir.join(to).join(&name))?;
        }
    }
    Ok(())
}

/// Runs one unit, retrying transient failures with backoff; moves its job files through
/// `started_jobs` to `completed_jobs` or `failed_jobs`.
async fn run_unit(
    dir: &Path,
    client: &dyn LoadClient,
    load_id: &str,
    mut unit: Unit,
) -> Result<u64, PipelineError> {
    loop {
        let mut specs = Vec::with_capacity(unit.jobs.len());
        for job in &unit.jobs {
            let name = job.file_name();
            let started = dir.join(STARTED_JOBS).join(&name);
            rename(&dir.join(NEW_JOBS).join(&name), &started)?;
            specs.push(LoadJob {
                load_id: load_id.to_string(),
                table: job.table.clone(),
                file: started,
                format: job.format.clone(),
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
                    let name = job.file_name();
                    rename(
                        &dir.join(STARTED_JOBS).join(&name),
                        &dir.join(COMPLETED_JOBS).join(&name),
                    )?;
                }
                return Ok(rows);
            }
            Err(e) if e.is_transient() && retry + 1 < MAX_ATTEMPTS => {
                tracing::warn!(jobs = %label, error = %e, "transient failure, retrying");
                for job in unit.jobs.iter_mut() {
                    let old = dir.join(STARTED_JOBS).join(job.file_name());
                    job.retry += 1;
                    rename(&old, &dir.join(NEW_JOBS).join(job.file_name()))?;
                }
                tokio::time::sleep(backoff(retry)).await;
            }
            Err(e) => {
                // transient: leave the jobs pending for the next run; terminal: failed
                let (folder, item) = if e.is_transient() {
                    (NEW_JOBS, None)
                } else {
                    (FAILED_JOBS, failed_item(dir, &unit.jobs, &e))
                };
                for job in &unit.jobs {
                    let name = job.file_name();
                    let to = dir.join(folder).join(&name);
                    rename(&dir.join(STARTED_JOBS).join(&name), &to)?;
                    if folder == FAILED_JOBS {
                        let text = match &item {
                            Some(item) => format!("{e}; the row came from {item}"),
                            None => e.to_string(),
                        };
                        write_atomic(&to.with_extension("exception"), text.as_bytes())?;
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
fn failed_item(dir: &Path, jobs: &[JobFileName], e: &dest_core::Error) -> Option<ItemRef> {
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
    let bytes = fs::read(dir.join(PACKAGE_ORIGINS)).ok()?;
    let origins: std::collections::BTreeMap<String, JobOrigin> =
        serde_json::from_slice(&bytes).ok()?;
    item_ref(origins.get(&job.key())?, row, dir)
}

/// The [`ItemRef`] of row `row` of a job file of origin `origin` in package `dir`.
fn item_ref(origin: &JobOrigin, row: u64, dir: &Path) -> Option<ItemRef> {
    let (resource, first, last) = origin.item_of(row)?;
    Some(ItemRef {
        resource: resource.to_string(),
        first,
        last,
        input_id: fs::read_to_string(dir.join(PACKAGE_INPUT_ID)).ok(),
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
    use crate::normalize::OriginSegment;

    #[test]
    fn a_failed_row_names_its_item() {
        let dir = std::env::temp_dir().join(format!("dlt-rs-item-ref-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let root = JobFileName::parse("t.aaaaaaaaaa.1.insert_values").unwrap();
        let nested = JobFileName::parse("t__tags.bbbbbbbbbb.0.insert_values").unwrap();
        let origins: std::collections::BTreeMap<String, JobOrigin> = [
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
        fs::write(
            dir.join(PACKAGE_ORIGINS),
            serde_json::to_vec(&origins).unwrap(),
        )
        .unwrap();
        fs::write(dir.join(PACKAGE_INPUT_ID), "input-1").unwrap();
        let at = |row: u64, text: &str| dest_core::Error::AtRow {
            row,
            source: Box::new(dest_core::Error::Internal(text.into())),
        };

        let item = failed_item(&dir, std::slice::from_ref(&root), &at(1, "x")).unwrap();
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
        let item = failed_item(&dir, std::slice::from_ref(&nested), &at(0, "x")).unwrap();
        assert_eq!((item.first, item.last), (2, 3));
        assert_eq!(item.to_string(), "resource `t`, one of items 2-3");
        // jobs loaded together: the one the error names
        let both = [root.clone(), nested.clone()];
        let text = format!("loading /x/started_jobs/{} into t", nested.file_name());
        let item = failed_item(&dir, &both, &at(5, &text)).unwrap();
        assert_eq!((item.first, item.last), (2, 3));
        assert_eq!(failed_item(&dir, &both, &at(0, "no file named")), None);
        // no row named, a row past the file, an unknown job
        let plain = dest_core::Error::Internal("x".into());
        assert_eq!(failed_item(&dir, std::slice::from_ref(&root), &plain), None);
        assert_eq!(
            failed_item(&dir, std::slice::from_ref(&root), &at(3, "x")),
            None
        );
        let other = JobFileName::parse("u.cccccccccc.0.insert_values").unwrap();
        assert_eq!(failed_item(&dir, &[other], &at(0, "x")), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
