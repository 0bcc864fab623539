//! Normalize and load at once: job files are loaded while the package is still being
//! normalized.
//!
//! Normalize runs on a blocking thread and reports each job file it completes. Each table
//! gets one [`LoadSession`] of its own (a replaced chain, a root table and its nested
//! tables, shares one, so the chain is swapped atomically): one connection, one transaction
//! that creates or widens the table as the files need it (schema changes are transactional
//! in PostgreSQL) and loads the files in order. No two sessions touch the same table, so
//! they never wait for each other. The sessions commit
//! only after the package is normalized completely and published (durable on disk): a
//! normalize error or a crash before that loads nothing. A chain whose session fails is
//! rolled back and its files are loaded by the regular load step afterwards (which retries
//! and reports errors).
//!
//! Which chains stream: every plan works the same way inside its session — append loads
//! into the dataset; `truncate-and-insert` empties the chain's tables inside the session
//! first (readers see the old rows until the commit); staged plans (merge, replace from
//! staging) empty and load their staging tables, and the follow-up runs in the load step.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use dest_core::{
    ChainPlan, LoadClient, LoadJob, LoadSession, LoadTarget, Schema, StagingLock, STATE_TABLE,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::normalize::{normalize_unpublished, publish, Input, NormalizeOptions};
use crate::package::{JobFileName, JobFolder, LoadPackage};
use crate::progress::Progress;
use crate::storage::{Storage, EXTRACTED, NORMALIZED, NORMALIZE_NEW};
use crate::PipelineError;

/// What the sessions of one package loaded and committed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Streamed {
    /// Roots of staged chains whose staging tables hold all of the package's rows.
    pub staged_roots: HashSet<String>,
    /// Rows committed.
    pub rows: u64,
}

/// A job file ready to load, with the schema as it was when the file was completed.
struct Ready {
    file: String,
    table: String,
    schema: Arc<Schema>,
}

struct ChainOutcome {
    root: String,
    plan: ChainPlan,
    session: Option<Box<dyn LoadSession>>,
    /// Job files loaded in the session.
    files: Vec<String>,
    rows: u64,
    /// Tables created or widened in the session, with their complete column count.
    prepared: HashMap<String, usize>,
    truncated: HashSet<String>,
    failed: bool,
}

/// Normalizes extracted package `load_id` while loading its job files; publishes it.
/// Returns the evolved schema and what was committed.
pub(crate) async fn normalize_and_load(
    storage: &Storage,
    load_id: &str,
    schema: Schema,
    opts: &NormalizeOptions,
    client: Arc<dyn LoadClient>,
    input: Input,
    max_sessions: usize,
) -> Result<(Schema, Streamed), PipelineError> {
    let src = LoadPackage::of(storage, EXTRACTED, load_id);
    let dst = LoadPackage::of(storage, NORMALIZE_NEW, load_id);
    let jobs_dir = dst.job_folder(JobFolder::New);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Ready>();
    let normalizing = {
        let (opts, id) = (opts.clone(), load_id.to_string());
        tokio::task::spawn_blocking(move || {
            normalize_unpublished(
                &src,
                &dst,
                &id,
                schema,
                &opts,
                &mut |files, schema| {
                    let schema = Arc::new(schema.clone());
                    for file in files {
                        if let Some(job) = JobFileName::parse(file) {
                            let _ = ready_tx.send(Ready {
                                file: file.clone(),
                                table: job.table,
                                schema: schema.clone(),
                            });
                        }
                    }
                },
                input,
            )
        })
    };

    let mut plans: HashMap<String, Option<ChainPlan>> = HashMap::new();
    let mut sessions: HashMap<String, mpsc::UnboundedSender<Ready>> = HashMap::new();
    let mut tasks: Vec<JoinHandle<ChainOutcome>> = Vec::new();
    let mut initialized: Option<bool> = None;
    // roots of chains with a table that got no session
    let mut capped: HashSet<String> = HashSet::new();
    while let Some(ready) = ready_rx.recv().await {
        tracing::debug!(file = %ready.file, "ready");
        if ready.table == STATE_TABLE {
            continue;
        }
        let root = ready.schema.root_of(&ready.table).to_string();
        let plan = match plans.get(&root) {
            Some(plan) => *plan,
            None => {
                let plan = match chain_plan(&ready.schema, &root) {
                    Some(plan) => initialize(client.as_ref(), &mut initialized, plan)
                        .await
                        .then_some(plan),
                    None => None,
                };
                plans.insert(root.clone(), plan);
                plan
            }
        };
        let Some(plan) = plan else { continue };
        // a replaced chain is emptied and loaded in one transaction; other tables load in
        // a session each (they run in parallel)
        let key = match plan.truncate_before {
            true => root.clone(),
            false => ready.table.clone(),
        };
        // at most `max_sessions` connections (a hundred nested tables would take a hundred
        // and exhaust the server's); the other tables' chains load after normalizing
        if !sessions.contains_key(&key) && sessions.len() >= max_sessions.max(1) {
            capped.insert(root.clone());
            continue;
        }
        let session = sessions.entry(key).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let (client, dir, id) = (client.clone(), jobs_dir.clone(), load_id.to_string());
            let progress = opts.progress.clone();
            tasks.push(tokio::spawn(load_chain(
                client, dir, id, root, plan, rx, progress,
            )));
            tx
        });
        let _ = session.send(ready);
    }
    drop(sessions);
    let normalized = normalizing
        .await
        .map_err(|e| PipelineError::Internal(format!("the normalize task failed: {e}")))
        .and_then(|r| r);
    let schema = match normalized {
        Ok(schema) => schema,
        Err(e) => {
            // nothing is committed: the sessions end with their tasks and roll back
            for task in &tasks {
                task.abort();
            }
            return Err(e);
        }
    };

    let mut outcomes = Vec::with_capacity(tasks.len());
    let mut lost_a_session = false;
    for task in tasks {
        match task.await {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                // its table is not known any more: no staging counts as complete below
                tracing::warn!(error = %e, "a load session task failed");
                lost_a_session = true;
            }
        }
    }
    for o in outcomes
        .iter_mut()
        .filter(|o| !o.failed && o.plan.truncate_before)
    {
        // replace: the chain's tables that got no rows in this package are emptied too
        if let Err(e) = truncate_rest(&schema, o).await {
            tracing::debug!(root = %o.root, error = %e, "streamed replace falls back to the load step");
            o.failed = true;
        }
    }

    publish(storage, load_id)?;

    let package = LoadPackage::of(storage, NORMALIZED, load_id);
    package.create_job_folder(JobFolder::Completed)?;
    let mut streamed = Streamed::default();
    let mut incomplete: HashSet<String> = HashSet::new();
    for o in outcomes {
        // rolled back: the load step loads these files again
        let unloaded = (o.files.len() as u64, o.rows);
        let session = match o.session {
            Some(session) if !o.failed => session,
            _ => {
                opts.progress.unloaded(unloaded.0, unloaded.1);
                incomplete.insert(o.root);
                continue;
            }
        };
        if let Err(e) = session.commit().await {
            tracing::debug!(root = %o.root, error = %e, "a streamed chain falls back to the load step");
            opts.progress.unloaded(unloaded.0, unloaded.1);
            incomplete.insert(o.root);
            continue;
        }
        crate::fault::point("session-committed");
        for file in &o.files {
            package.move_job(file, JobFolder::New, JobFolder::Completed)?;
        }
        streamed.rows += o.rows;
        if o.plan.target == LoadTarget::Staging {
            streamed.staged_roots.insert(o.root);
        }
    }
    // staging holds a chain's rows only when every session of the chain committed
    streamed
        .staged_roots
        .retain(|r| !lost_a_session && !incomplete.contains(r) && !capped.contains(r));
    tracing::info!(load_id = %load_id, rows = streamed.rows, "loaded while normalizing");
    Ok((schema, streamed))
}

/// The plan of the chain below `root`, `None` when it cannot be made yet (the load step
/// reports the problem).
fn chain_plan(schema: &Schema, root: &str) -> Option<ChainPlan> {
    let chain = schema.chain(root);
    let root_table = chain.first()?;
    root_table
        .disposition
        .write_disposition()
        .and_then(|d| d.plan(&chain))
        .ok()
}

/// Creates the dataset (and staging, for a staged plan) once; false when that fails.
async fn initialize(client: &dyn LoadClient, done: &mut Option<bool>, plan: ChainPlan) -> bool {
    let staging = plan.target == LoadTarget::Staging;
    if done.is_some_and(|s| s || !staging) {
        return true;
    }
    match client.initialize(staging).await {
        Ok(()) => {
            *done = Some(staging || done.unwrap_or(false));
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "no streamed loading: the dataset cannot be created now");
            false
        }
    }
}

/// Loads the files of one chain in one session, in the order they were completed.
async fn load_chain(
    client: Arc<dyn LoadClient>,
    jobs_dir: PathBuf,
    load_id: String,
    root: String,
    plan: ChainPlan,
    mut files: mpsc::UnboundedReceiver<Ready>,
    progress: Arc<Progress>,
) -> ChainOutcome {
    let mut o = ChainOutcome {
        root,
        plan,
        session: None,
        files: Vec::new(),
        rows: 0,
        prepared: HashMap::new(),
        truncated: HashSet::new(),
        failed: false,
    };
    while let Some(ready) = files.recv().await {
        if o.failed {
            continue;
        }
        let before = o.rows;
        match load_one(client.as_ref(), &jobs_dir, &load_id, &mut o, ready).await {
            Ok(()) => progress.loaded(1, o.rows - before),
            Err(e) => {
                tracing::debug!(root = %o.root, error = %e, "a streamed chain falls back to the load step");
                o.failed = true;
                o.session = None;
            }
        }
    }
    o
}

async fn load_one(
    client: &dyn LoadClient,
    jobs_dir: &std::path::Path,
    load_id: &str,
    o: &mut ChainOutcome,
    ready: Ready,
) -> Result<(), dest_core::Error> {
    if o.session.is_none()
        && o.plan.target == LoadTarget::Staging
        && client.lock_staging(false).await? == StagingLock::Busy
    {
        // another loader is using this staging schema: the load step waits for it
        return Err(dest_core::Error::Transient(format!(
            "the staging schema is in use by another loader; `{}` is loaded after normalizing",
            o.root
        )));
    }
    let session = match &mut o.session {
        Some(s) => s,
        None => o.session.insert(client.session().await?.ok_or_else(|| {
            dest_core::Error::Internal("the destination has no load sessions".into())
        })?),
    };
    let target = o.plan.target;
    prepare(
        session.as_mut(),
        &mut o.prepared,
        &ready.schema,
        &ready.table,
        target,
    )
    .await?;
    if (target == LoadTarget::Staging || o.plan.truncate_before)
        && o.truncated.insert(ready.table.clone())
    {
        session
            .truncate(std::slice::from_ref(&ready.table), target)
            .await?;
    }
    let job = JobFileName::parse(&ready.file).ok_or_else(|| {
        dest_core::Error::Internal(format!("`{}` is not a job file name", ready.file))
    })?;
    let (format, key) = (job.format.parse()?, job.key());
    o.rows += session
        .load(&LoadJob {
            load_id: load_id.to_string(),
            table: ready.table,
            file: jobs_dir.join(&ready.file),
            format,
            target,
            key,
        })
        .await?;
    tracing::debug!(file = %ready.file, "streamed");
    o.files.push(ready.file);
    Ok(())
}

/// Creates or widens `table` unless the session already did for as many columns.
async fn prepare(
    session: &mut dyn LoadSession,
    prepared: &mut HashMap<String, usize>,
    schema: &Schema,
    table: &str,
    target: LoadTarget,
) -> Result<(), dest_core::Error> {
    let columns = schema
        .table(table)
        .map(|t| t.complete_columns().count())
        .unwrap_or(0);
    if prepared.get(table) != Some(&columns) {
        session.prepare(schema, table, target).await?;
        prepared.insert(table.to_string(), columns);
    }
    Ok(())
}

/// Empties the tables of a replaced chain that received no rows in this package.
async fn truncate_rest(schema: &Schema, o: &mut ChainOutcome) -> Result<(), dest_core::Error> {
    let Some(session) = o.session.as_mut() else {
        return Ok(());
    };
    let rest: Vec<String> = schema
        .chain(&o.root)
        .into_iter()
        .filter(|t| t.seen_data && t.complete_columns().next().is_some())
        .map(|t| t.name.clone())
        .filter(|t| !o.truncated.contains(t))
        .collect();
    for t in &rest {
        prepare(
            session.as_mut(),
            &mut o.prepared,
            schema,
            t,
            LoadTarget::Dataset,
        )
        .await?;
    }
    if !rest.is_empty() {
        session.truncate(&rest, LoadTarget::Dataset).await?;
    }
    Ok(())
}
