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
//!
//! Lanes: one `COPY` keeps one server process busy, and a wide table can keep it busier
//! than normalizing keeps us (PostgreSQL forms and TOASTs every wide row). A table appended
//! to the dataset therefore loads in
//! [`lanes`] sessions at once, each taking the next file as it is free. Other sessions cannot
//! see a table that one session created and has not committed, so a laned table is created
//! or widened first, in a transaction of its own that commits at once (dlt and our load
//! step migrate before loading too). When the package fails, the tables created so are
//! dropped again (columns added to an existing table stay: nullable and empty, the next
//! load uses them). Its files wait until its columns look complete (`file_max_bytes` of
//! files came without a new column: a first file cut for its size, where new columns cut
//! the first files of wide data short); a
//! table that never gets there is loaded by
//! one session after normalizing, creating it inside that session as before. A file that
//! needs a column added after the lanes began is left to the load step (the lanes hold
//! the table, so no transaction could add it before they commit).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use dest_core::{
    ChainPlan, LoadClient, LoadJob, LoadSession, LoadTarget, Prepared, Schema, StagingLock,
    STATE_TABLE,
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

/// The files of one table as the sessions loading it take them (one session, or the lanes
/// of a laned table).
type Feed = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Ready>>>;

/// Sessions that load one laned table at once: the local cores, at least 2, at most 4.
fn lanes() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

/// Where the files of a table appended to the dataset go.
enum Appended {
    /// Waiting until the table's columns look complete: `file_max_bytes` of files
    /// (`stable` bytes) came without a new column (of `columns`).
    Waiting {
        files: Vec<Ready>,
        stable: u64,
        columns: usize,
    },
    /// To its lanes, created or widened to `columns` complete columns.
    Laned {
        feed: mpsc::UnboundedSender<Ready>,
        columns: usize,
    },
    /// To the one session of the table.
    Single(mpsc::UnboundedSender<Ready>),
    /// Nowhere: no session was free, the load step loads them.
    Left,
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
    let mut appended: HashMap<String, Appended> = HashMap::new();
    // tables created for lanes (dropped again, if still empty, when the package fails)
    let mut created: Vec<String> = Vec::new();
    let mut tasks: Vec<JoinHandle<ChainOutcome>> = Vec::new();
    let mut initialized: Option<bool> = None;
    // roots of chains with a table that got no session
    let mut capped: HashSet<String> = HashSet::new();
    let spawn = |tasks: &mut Vec<JoinHandle<ChainOutcome>>,
                 root: &str,
                 plan: ChainPlan,
                 feed: &Feed,
                 prepared: HashMap<String, usize>| {
        let start = ChainOutcome {
            root: root.to_string(),
            plan,
            session: None,
            files: Vec::new(),
            rows: 0,
            prepared,
            truncated: HashSet::new(),
            failed: false,
        };
        tasks.push(tokio::spawn(load_chain(
            client.clone(),
            jobs_dir.clone(),
            load_id.to_string(),
            start,
            feed.clone(),
            opts.progress.clone(),
        )));
    };
    // one session for `files` and those that follow
    let single = |tasks: &mut Vec<JoinHandle<ChainOutcome>>,
                  root: &str,
                  plan: ChainPlan,
                  files: Vec<Ready>| {
        let (tx, rx) = mpsc::unbounded_channel();
        spawn(
            tasks,
            root,
            plan,
            &Arc::new(tokio::sync::Mutex::new(rx)),
            HashMap::new(),
        );
        for f in files {
            let _ = tx.send(f);
        }
        tx
    };
    let max_sessions = max_sessions.max(1);
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
        if plan.target == LoadTarget::Dataset && !plan.truncate_before {
            let table = ready.table.clone();
            let state = appended.entry(table.clone()).or_insert(Appended::Waiting {
                files: Vec::new(),
                stable: 0,
                columns: 0,
            });
            match state {
                Appended::Laned { feed, columns } => {
                    if complete_columns(&ready.schema, &table) > *columns {
                        tracing::debug!(file = %ready.file, "a column came after the lanes began: left to the load step");
                    } else {
                        let _ = feed.send(ready);
                    }
                }
                Appended::Single(tx) => {
                    let _ = tx.send(ready);
                }
                Appended::Left => {}
                Appended::Waiting {
                    files,
                    stable,
                    columns,
                } => {
                    let now = complete_columns(&ready.schema, &table);
                    if now > *columns {
                        *columns = now;
                        *stable = 0;
                    }
                    *stable += std::fs::metadata(jobs_dir.join(&ready.file)).map_or(0, |m| m.len());
                    files.push(ready);
                    if *stable < opts.file_max_bytes {
                        continue;
                    }
                    let files = std::mem::take(files);
                    let free = max_sessions.saturating_sub(tasks.len());
                    if free == 0 {
                        capped.insert(root);
                        *state = Appended::Left;
                        continue;
                    }
                    *state = match prepare_lanes(client.as_ref(), &files, &table).await {
                        Some((columns, prepared)) => {
                            if prepared == Prepared::Created {
                                created.push(table.clone());
                            }
                            let (tx, rx) = mpsc::unbounded_channel();
                            let feed: Feed = Arc::new(tokio::sync::Mutex::new(rx));
                            for _ in 0..lanes().min(free) {
                                let prepared = HashMap::from([(table.clone(), columns)]);
                                spawn(&mut tasks, &root, plan, &feed, prepared);
                            }
                            for f in files {
                                let _ = tx.send(f);
                            }
                            Appended::Laned { feed: tx, columns }
                        }
                        None => Appended::Single(single(&mut tasks, &root, plan, files)),
                    };
                }
            }
            continue;
        }
        // a replaced chain is emptied and loaded in one transaction; other tables load in
        // a session each (they run in parallel)
        let key = match plan.truncate_before {
            true => root.clone(),
            false => ready.table.clone(),
        };
        // at most `max_sessions` connections (a hundred nested tables would take a hundred
        // and exhaust the server's); the other tables' chains load after normalizing
        if !sessions.contains_key(&key) && tasks.len() >= max_sessions {
            capped.insert(root.clone());
            continue;
        }
        let session = sessions
            .entry(key)
            .or_insert_with(|| single(&mut tasks, &root, plan, Vec::new()));
        let _ = session.send(ready);
    }
    // tables whose files stayed below the size for lanes: one session each, now
    for (table, state) in appended.drain() {
        let Appended::Waiting { files, .. } = state else {
            continue;
        };
        let Some(first) = files.first() else { continue };
        let root = first.schema.root_of(&table).to_string();
        let Some(Some(plan)) = plans.get(&root).copied() else {
            continue;
        };
        if tasks.len() >= max_sessions {
            capped.insert(root);
            continue;
        }
        single(&mut tasks, &root, plan, files);
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
            undo(client.as_ref(), tasks, &created).await;
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

    if let Err(e) = publish(storage, load_id) {
        undo(client.as_ref(), Vec::new(), &created).await;
        return Err(e);
    }

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

/// Loads files of one chain in one session, in the order it takes them from `files`
/// (`o` as it starts: its `prepared` lists the tables created or widened already).
async fn load_chain(
    client: Arc<dyn LoadClient>,
    jobs_dir: PathBuf,
    load_id: String,
    mut o: ChainOutcome,
    files: Feed,
    progress: Arc<Progress>,
) -> ChainOutcome {
    loop {
        // the lock is held while waiting, so the next file goes to a free session
        let Some(ready) = files.lock().await.recv().await else {
            break;
        };
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

/// The complete columns of `table` in `schema`.
fn complete_columns(schema: &Schema, table: &str) -> usize {
    schema
        .table(table)
        .map_or(0, |t| t.complete_columns().count())
}

/// Creates or widens `table` for the lanes, as the last of `files` needs it, in a
/// transaction of its own; returns its complete column count and whether it was created,
/// or `None` when that fails (the table is then loaded by one session, which migrates it
/// inside its transaction).
async fn prepare_lanes(
    client: &dyn LoadClient,
    files: &[Ready],
    table: &str,
) -> Option<(usize, Prepared)> {
    let schema = &files.last()?.schema;
    let columns = complete_columns(schema, table);
    let migrated = async {
        let mut session = client.session().await?.ok_or_else(|| {
            dest_core::Error::Internal("the destination has no load sessions".into())
        })?;
        let prepared = session.prepare(schema, table, LoadTarget::Dataset).await?;
        session.commit().await?;
        Ok::<_, dest_core::Error>(prepared)
    };
    match migrated.await {
        Ok(prepared) => Some((columns, prepared)),
        Err(e) => {
            tracing::debug!(table, error = %e, "no lanes: the table cannot be prepared now");
            None
        }
    }
}

/// A failed package: ends the sessions of `tasks` (rolling them back) and drops the tables
/// created for lanes that are still empty, so the package leaves nothing behind.
async fn undo(client: &dyn LoadClient, tasks: Vec<JoinHandle<ChainOutcome>>, created: &[String]) {
    for task in &tasks {
        task.abort();
    }
    // the connections close as the tasks end, which releases the tables
    for task in tasks {
        let _ = task.await;
    }
    if !created.is_empty() {
        if let Err(e) = client.drop_empty_tables(created).await {
            tracing::warn!(tables = ?created, error = %e, "could not drop the empty tables of a failed load");
        }
    }
}

/// Creates or widens `table` unless the session already did for as many columns or more.
async fn prepare(
    session: &mut dyn LoadSession,
    prepared: &mut HashMap<String, usize>,
    schema: &Schema,
    table: &str,
    target: LoadTarget,
) -> Result<(), dest_core::Error> {
    let columns = complete_columns(schema, table);
    if prepared.get(table).is_none_or(|&done| done < columns) {
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
