//! A pipeline's working folder, for `dlt-rs pipeline NAME ...`: the pipelines of a
//! pipelines dir, the packages and their jobs, the local state, schema and last trace
//! ([`PipelineFolder`], no destination needed); and the operations that need the
//! destination, on [`Pipeline`]: the dataset's tables and loads ([`Pipeline::show_dataset`]),
//! dropping resources ([`Pipeline::drop_resources`]) and restoring the local state and
//! schema from the destination ([`Pipeline::sync_from_destination`]).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use dest_core::{LoadClient, Schema};

use crate::extract::ExtractTarget;
use crate::package::{
    package_detail, package_schema, packages, JobFolder, JobInfo, LoadPackage, PackageDetail,
    PackageStage, PackageStatus,
};
use crate::state::PipelineState;
use crate::storage::{io_err, list_names, rename, Storage, EXTRACTED, LOADED, NORMALIZED};
use crate::trace::RunTrace;
use crate::{LoadInfo, Pipeline, PipelineError};

/// Tables and columns a package's schema has that the schema of the package before it
/// (in the working folder) had not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaUpdate {
    pub table: String,
    /// The table is new (else: new columns of an existing table).
    pub new_table: bool,
    /// `(column, data type)`.
    pub columns: Vec<(String, String)>,
}

/// A failed job with its package.
#[derive(Debug, Clone)]
pub struct FailedJob {
    pub load_id: String,
    pub job: JobInfo,
}

/// The pipelines of a pipelines dir.
#[derive(Debug, Clone)]
pub struct PipelineList {
    pub pipelines_dir: PathBuf,
    /// Sorted by name.
    pub names: Vec<String>,
}

/// A pipeline's working folder (`<pipelines dir>/<name>`).
#[derive(Debug)]
pub struct PipelineFolder {
    name: String,
    storage: Storage,
    /// Held by folders opened to change them ([`PipelineFolder::open`]).
    lock: Option<fs::File>,
}

fn pipelines_dir_or_default(pipelines_dir: Option<&Path>) -> Result<PathBuf, PipelineError> {
    match pipelines_dir {
        Some(d) => Ok(d.to_path_buf()),
        None => crate::default_pipelines_dir(),
    }
}

impl PipelineFolder {
    /// Opens the working folder of pipeline `name`, locked against runs of the pipeline
    /// (to change it).
    ///
    /// # Errors
    /// [`PipelineError::Config`] when the folder does not exist or a run is active.
    pub fn open(name: &str, pipelines_dir: Option<&Path>) -> Result<Self, PipelineError> {
        let mut folder = Self::inspect(name, pipelines_dir)?;
        let lock = folder.storage.lock_file()?;
        fs2::FileExt::try_lock_exclusive(&lock).map_err(|_| {
            PipelineError::Config(format!(
                "a run of pipeline `{name}` is active; try again when it ends"
            ))
        })?;
        folder.lock = Some(lock);
        Ok(folder)
    }

    /// Opens the working folder of pipeline `name` to read it, without locking it: a run
    /// may be active and change it meanwhile.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when the folder does not exist.
    pub fn inspect(name: &str, pipelines_dir: Option<&Path>) -> Result<Self, PipelineError> {
        crate::validate_pipeline_name(name)?;
        let dir = pipelines_dir_or_default(pipelines_dir)?;
        let root = dir.join(name);
        if !root.is_dir() {
            return Err(PipelineError::Config(format!(
                "pipeline `{name}` has no working folder in {}",
                dir.display()
            )));
        }
        Ok(PipelineFolder {
            name: name.to_string(),
            storage: Storage::open(root)?,
            lock: None,
        })
    }

    /// The pipelines that have a working folder in `pipelines_dir` (default
    /// `~/.dlt/pipelines`, or `$DLT_DATA_DIR/pipelines`). A dir that does not exist has none.
    pub fn list(pipelines_dir: Option<&Path>) -> Result<PipelineList, PipelineError> {
        let dir = pipelines_dir_or_default(pipelines_dir)?;
        let names = list_names(&dir, true)?
            .into_iter()
            .filter(|n| {
                let root = dir.join(n);
                ["state.json", "load", "schemas"]
                    .iter()
                    .any(|entry| root.join(entry).exists())
            })
            .collect();
        Ok(PipelineList {
            pipelines_dir: dir,
            names,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn working_dir(&self) -> &Path {
        &self.storage.root
    }

    /// The local state (`None` before the first run, or after `drop-pending-packages`).
    pub fn state(&self) -> Result<Option<PipelineState>, PipelineError> {
        crate::read_json(&self.storage.state_file())
    }

    /// The local schemas (`schemas/*.schema.json`), by name.
    pub fn schemas(&self) -> Result<Vec<Schema>, PipelineError> {
        let dir = self.storage.root.join("schemas");
        let mut out = Vec::new();
        for name in list_names(&dir, false)? {
            if name.ends_with(".schema.json") {
                if let Some(s) = crate::read_json::<Schema>(&dir.join(&name))? {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// The trace of the last run (`None` when no run wrote one).
    pub fn trace(&self) -> Result<Option<RunTrace>, PipelineError> {
        crate::trace::read(&self.storage)
    }

    /// Every package, oldest first within each stage: pending (extracted, normalized),
    /// then loaded and aborted.
    pub fn packages(&self) -> Result<Vec<PackageStatus>, PipelineError> {
        packages(&self.storage)
    }

    /// Package `load_id` with its jobs; the most recent package (the greatest load id)
    /// when `None`.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when there is no such package (or none at all).
    pub fn package(&self, load_id: Option<&str>) -> Result<PackageDetail, PipelineError> {
        let all = self.packages()?;
        let found = match load_id {
            Some(id) => all.iter().find(|p| p.load_id == id),
            None => all.iter().max_by(|a, b| a.load_id.cmp(&b.load_id)),
        };
        let Some(p) = found else {
            return Err(PipelineError::Config(match load_id {
                Some(id) => format!(
                    "pipeline `{}` has no package `{id}` (`dlt-rs pipeline {} info` lists them)",
                    self.name, self.name
                ),
                None => format!("pipeline `{}` has no packages", self.name),
            }));
        };
        package_detail(&self.storage, &p.load_id, p.stage)
    }

    /// The tables and columns package `load_id`'s schema added to the schema of the package
    /// before it in the working folder (all of its tables when it is the first).
    pub fn schema_updates(&self, load_id: &str) -> Result<Vec<SchemaUpdate>, PipelineError> {
        let mut ids: Vec<(String, PackageStage)> = self
            .packages()?
            .into_iter()
            .map(|p| (p.load_id, p.stage))
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        let Some(pos) = ids.iter().position(|(id, _)| id == load_id) else {
            return Ok(Vec::new());
        };
        let schema_of = |(id, stage): &(String, PackageStage)| -> Option<Schema> {
            package_schema(&self.storage, id, *stage).ok().flatten()
        };
        let Some(now) = schema_of(&ids[pos]) else {
            return Ok(Vec::new());
        };
        let before = ids[..pos].iter().rev().find_map(schema_of);
        Ok(schema_diff(before.as_ref(), &now))
    }

    /// Every failed job of every package, oldest package first.
    pub fn failed_jobs(&self) -> Result<Vec<FailedJob>, PipelineError> {
        let mut out = Vec::new();
        for p in self.packages()? {
            if p.failed_jobs.is_empty() {
                continue;
            }
            let package = LoadPackage::listed(&self.storage, &p.load_id, p.stage);
            for job in package.job_infos(&[JobFolder::Failed])? {
                out.push(FailedJob {
                    load_id: p.load_id.clone(),
                    job,
                });
            }
        }
        Ok(out)
    }

    fn require_lock(&self) -> Result<(), PipelineError> {
        match self.lock {
            Some(_) => Ok(()),
            None => Err(PipelineError::Internal(
                "a pipeline folder opened to inspect it cannot be changed".into(),
            )),
        }
    }

    /// Deletes the packages not yet loaded (extracted or normalized) and the local state,
    /// which may have advanced with them: the next run restores the state of the last
    /// completed load from the destination. Rows a partly loaded package already committed
    /// stay in the dataset. Returns the load ids dropped.
    pub fn drop_pending_packages(&self) -> Result<Vec<String>, PipelineError> {
        self.require_lock()?;
        let mut dropped = Vec::new();
        for stage in [EXTRACTED, NORMALIZED] {
            for id in self.storage.packages(stage)? {
                let dir = self.storage.package(stage, &id);
                fs::remove_dir_all(&dir).map_err(io_err("removing a package", &dir))?;
                dropped.push(id);
            }
        }
        if !dropped.is_empty() {
            remove_if_exists(&self.storage.state_file(), "removing the local state")?;
        }
        Ok(dropped)
    }

    /// Sends aborted package `load_id` back to be loaded by the next run: its failed jobs
    /// become new jobs (the rows of its completed jobs stay loaded and are not loaded again).
    ///
    /// # Errors
    /// [`PipelineError::Config`] when there is no such aborted package.
    pub fn retry(&self, load_id: &str) -> Result<(), PipelineError> {
        self.require_lock()?;
        let package = LoadPackage::of(&self.storage, LOADED, load_id);
        if !package.is_aborted() {
            return Err(PipelineError::Config(format!(
                "no aborted package `{load_id}` (see `dlt-rs pipeline NAME info`)"
            )));
        }
        package.requeue_failed_jobs()?;
        rename(package.dir(), &self.storage.package(NORMALIZED, load_id))
    }
}

fn remove_if_exists(path: &Path, context: &'static str) -> Result<(), PipelineError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(context, path)(e)),
    }
}

/// Tables and columns of `now` that `before` has not (every user table when `before` is
/// `None`).
fn schema_diff(before: Option<&Schema>, now: &Schema) -> Vec<SchemaUpdate> {
    let mut out = Vec::new();
    for t in now.tables.iter().filter(|t| !t.is_system()) {
        let old = before.and_then(|b| b.table(&t.name));
        let columns: Vec<(String, String)> = t
            .complete_columns()
            .filter(|c| {
                old.and_then(|o| o.column(&c.name))
                    .is_none_or(|oc| !oc.is_complete())
            })
            .map(|c| {
                let ty = c.data_type.map(|d| d.to_string()).unwrap_or_default();
                (c.name.clone(), ty)
            })
            .collect();
        let new_table = old.is_none_or(|o| o.complete_columns().next().is_none());
        if !columns.is_empty() {
            out.push(SchemaUpdate {
                table: t.name.clone(),
                new_table,
                columns,
            });
        }
    }
    out
}

/// A table of the dataset with its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    pub table: String,
    /// The parent of a nested table.
    pub parent: Option<String>,
    /// `None`: the table is in the schema but not in the dataset.
    pub rows: Option<u64>,
}

/// A completed load recorded in the dataset (`_dlt_loads`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRecord {
    pub load_id: String,
    /// 0: loaded.
    pub status: i64,
    pub inserted_at: DateTime<Utc>,
}

/// What [`Pipeline::show_dataset`] found.
#[derive(Debug, Clone)]
pub struct DatasetOverview {
    /// Where the table list came from: `local` or `destination` (the stored schema), or
    /// `none`.
    pub schema_from: &'static str,
    /// The schema's user tables (parents before their nested tables).
    pub tables: Vec<TableRows>,
    /// The newest loads, newest first.
    pub loads: Vec<LoadRecord>,
}

/// What [`Pipeline::drop_resources`] is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropPlan {
    pub pipeline_name: String,
    pub destination: String,
    pub dataset_name: String,
    pub resources: Vec<String>,
    /// Tables to drop: the resources' root tables and their nested tables, parents first.
    pub tables: Vec<String>,
    /// Paths in the pipeline state to reset (`sources.<source>.resources.<resource>`).
    pub state_paths: Vec<String>,
}

/// What [`Pipeline::drop_resources`] did.
#[derive(Debug, Clone)]
pub struct DropInfo {
    pub plan: DropPlan,
    /// The load that stored the new schema and state in the destination.
    pub load: LoadInfo,
}

/// What [`Pipeline::sync_from_destination`] is about to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPlan {
    pub pipeline_name: String,
    pub destination: String,
    pub dataset_name: String,
    /// The local state's version, when there is one.
    pub local_state_version: Option<i64>,
    /// The stored state's version and the load that stored it.
    pub state_version: i64,
    pub state_load_id: String,
    /// The stored schema's version, when one is stored.
    pub schema_version: Option<i64>,
}

/// What [`Pipeline::sync_from_destination`] restored.
#[derive(Debug, Clone)]
pub struct SyncInfo {
    pub plan: SyncPlan,
    pub state: PipelineState,
    pub schema: Option<Schema>,
}

/// Destination, dataset and credentials to open an existing pipeline with
/// ([`Pipeline::open_existing`]); each defaults to what its working folder remembers.
#[derive(Clone, Default)]
pub struct PipelineOverrides {
    /// Destination name (default: the one the pipeline loads to, else `postgres`).
    pub destination: Option<String>,
    /// Dataset (default: the pipeline's, else `<pipeline>_dataset`).
    pub dataset: Option<String>,
    /// A connection string (default: from `.dlt/secrets.toml`, the environment, `~/.dlt/`).
    pub credentials: Option<String>,
}

impl fmt::Debug for PipelineOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineOverrides")
            .field("destination", &self.destination)
            .field("dataset", &self.dataset)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The destination name a state records (`dlt.destinations.postgres` → `postgres`).
pub fn state_destination(s: &PipelineState) -> &str {
    s.destination_type
        .strip_prefix("dlt.destinations.")
        .unwrap_or(&s.destination_type)
}

impl Pipeline {
    /// Opens pipeline `name` with the destination and dataset its working folder remembers
    /// (its state, else its last trace) unless `overrides` gives them, and the builder's
    /// defaults (postgres, `<pipeline>_dataset`) for a pipeline without a folder. Credentials
    /// come from the configuration (`.dlt/`, environment) unless given.
    ///
    /// # Errors
    /// When the folder's state cannot be read or the destination cannot be configured.
    pub fn open_existing(
        name: &str,
        pipelines_dir: Option<&Path>,
        overrides: &PipelineOverrides,
    ) -> Result<Pipeline, PipelineError> {
        let (mut destination, mut dataset) =
            (overrides.destination.clone(), overrides.dataset.clone());
        if let Ok(folder) = PipelineFolder::inspect(name, pipelines_dir) {
            if let Some(s) = folder.state()? {
                destination.get_or_insert_with(|| state_destination(&s).to_string());
                dataset.get_or_insert(s.dataset_name);
            }
            if let Some(t) = folder.trace()? {
                destination.get_or_insert(t.destination);
                dataset.get_or_insert(t.dataset_name);
            }
        }
        let mut builder = Pipeline::builder(name);
        if let Some(d) = &destination {
            builder = builder.destination(d);
        }
        if let Some(d) = &dataset {
            builder = builder.dataset_name(d);
        }
        if let Some(d) = pipelines_dir {
            builder = builder.pipelines_dir(d);
        }
        if let Some(c) = &overrides.credentials {
            builder = builder.credentials(c);
        }
        builder.build()
    }

    /// Gives an "unsupported" error of a destination client this destination's name.
    pub(crate) fn named(&self, e: dest_core::Error) -> PipelineError {
        match e {
            dest_core::Error::Unsupported {
                destination,
                what,
                hint,
            } if destination.is_empty() => dest_core::Error::Unsupported {
                destination: self.destination.name().to_string(),
                what,
                hint,
            }
            .into(),
            e => e.into(),
        }
    }

    /// Runs `sql` against the pipeline's dataset in a read-only transaction (its tables are
    /// found by their names alone): the columns and rows of its last statement, every
    /// value as the destination prints it (dlt's `pipeline.sql_client()` for reading).
    pub async fn query(&self, sql: &str) -> Result<dest_core::QueryRows, PipelineError> {
        let client = self.client(&mut None).await?;
        client.read_query(sql).await.map_err(|e| self.named(e))
    }

    /// The schema of the dataset: the local one, else the one stored in the destination;
    /// with where it came from (`local`, `destination`, `none`).
    pub(crate) async fn dataset_schema(
        &self,
        client: &dyn LoadClient,
    ) -> Result<(Option<Schema>, &'static str), PipelineError> {
        Ok(match self.schema()? {
            Some(s) => (Some(s), "local"),
            None => match client.stored_schema(&self.schema_name).await? {
                Some(stored) => match serde_json::from_str::<Schema>(&stored.schema) {
                    Ok(s) => (Some(s), "destination"),
                    Err(e) => {
                        return Err(PipelineError::Config(format!(
                            "the schema stored in dataset `{}` cannot be read: {e}",
                            self.dataset_name
                        )))
                    }
                },
                None => (None, "none"),
            },
        })
    }

    /// The dataset's tables (those of the local schema, else of the schema stored in the
    /// destination) with their row counts, and the newest `loads` loads.
    pub async fn show_dataset(&self, loads: usize) -> Result<DatasetOverview, PipelineError> {
        let client = self.client(&mut None).await?;
        let (schema, schema_from) = self.dataset_schema(client.as_ref()).await?;
        let mut tables = Vec::new();
        if let Some(schema) = &schema {
            let names: Vec<String> = schema
                .tables
                .iter()
                .filter(|t| !t.is_system() && t.complete_columns().next().is_some())
                .map(|t| t.name.clone())
                .collect();
            let counts = client
                .table_row_counts(&names)
                .await
                .map_err(|e| self.named(e))?;
            for (table, rows) in counts {
                let parent = schema.table(&table).and_then(|t| t.parent.clone());
                tables.push(TableRows {
                    table,
                    parent,
                    rows,
                });
            }
        }
        let loads = client
            .recent_loads(loads)
            .await
            .map_err(|e| self.named(e))?
            .into_iter()
            .map(|(load_id, status, inserted_at)| LoadRecord {
                load_id,
                status,
                inserted_at,
            })
            .collect();
        Ok(DatasetOverview {
            schema_from,
            tables,
            loads,
        })
    }

    /// Drops `resources` as dlt's `pipeline drop` does: their root tables and nested tables
    /// from the dataset (and staging) and from the schema, and their state (incremental
    /// cursors) from the pipeline state; then loads a package with the new state, which
    /// stores the new schema and state in the destination. The next run loads the
    /// resources from scratch. `confirm` sees the plan first; nothing happens when it says
    /// no (`Ok(None)`).
    ///
    /// # Errors
    /// [`PipelineError::Config`] for an unknown resource or when packages are pending.
    pub async fn drop_resources(
        &mut self,
        resources: &[String],
        confirm: impl FnOnce(&DropPlan) -> bool,
    ) -> Result<Option<DropInfo>, PipelineError> {
        let lock = self.lock().await?;
        self.storage.discard_incomplete()?;
        self.refuse_pending("drop resources")?;
        let mut client = None;
        let mut state = self.current_state(&mut client).await?;
        let mut schema = self.schema()?;
        let plan = self.drop_plan(resources, schema.as_ref(), &state)?;
        if !confirm(&plan) {
            return Ok(None);
        }
        if let Some(schema) = schema.as_mut().filter(|_| !plan.tables.is_empty()) {
            let c = self.client(&mut client).await?;
            c.drop_tables(&plan.tables, &schema.name)
                .await
                .map_err(|e| self.named(e))?;
            schema.tables.retain(|t| !plan.tables.contains(&t.name));
            schema.bump_version();
            self.save_schema(schema)?;
        }
        if let Some(Some(res)) = state
            .sources
            .get_mut(&self.schema_name)
            .map(|s| s.get_mut("resources").and_then(|r| r.as_object_mut()))
        {
            for r in resources {
                res.remove(r);
            }
        }
        state.bump();
        // a package with the new state (and no data): loading it stores the new schema
        // version (dropping deleted the stored ones) and the state in the destination
        let load_id = crate::next_load_id(state.local.last_load_id.as_deref());
        let created_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let target = ExtractTarget {
            load_id: &load_id,
            created_at: &created_at,
            source: &self.schema_name,
            input_id: None,
        };
        crate::extract::extract(
            &self.storage,
            &target,
            Vec::new(),
            &mut state,
            None,
            &self.normalize.progress,
            1,
        )
        .await?;
        state.local.last_load_id = Some(load_id);
        state.local.last_extracted_hash = Some(state.version_hash.clone());
        self.save_state(&state)?;
        drop(lock);
        let load = self.run(Vec::new()).await?;
        Ok(Some(DropInfo { plan, load }))
    }

    fn refuse_pending(&self, what: &str) -> Result<(), PipelineError> {
        let pending: Vec<String> = packages(&self.storage)?
            .into_iter()
            .filter(|p| p.stage.is_pending())
            .map(|p| p.load_id)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        Err(PipelineError::Config(format!(
            "cannot {what}: pipeline `{}` has pending packages ({}); load them first (run the \
             pipeline again) or drop them (`dlt-rs pipeline {} drop-pending-packages`)",
            self.name,
            pending.join(", "),
            self.name
        )))
    }

    fn drop_plan(
        &self,
        resources: &[String],
        schema: Option<&Schema>,
        state: &PipelineState,
    ) -> Result<DropPlan, PipelineError> {
        let state_resources = state
            .sources
            .get(&self.schema_name)
            .and_then(|s| s.get("resources"))
            .and_then(|r| r.as_object());
        let roots: Vec<&dest_core::TableSchema> = schema
            .map(|s| {
                s.tables
                    .iter()
                    .filter(|t| !t.is_system() && t.parent.is_none())
                    .collect()
            })
            .unwrap_or_default();
        let resource_of = |t: &dest_core::TableSchema| -> String {
            t.resource.clone().unwrap_or_else(|| t.name.clone())
        };
        let mut tables = Vec::new();
        let mut state_paths = Vec::new();
        let mut unknown = Vec::new();
        for r in resources {
            let mut found = false;
            for root in roots.iter().filter(|t| &resource_of(t) == r) {
                found = true;
                if let Some(schema) = schema {
                    for t in schema.chain(&root.name) {
                        if !tables.contains(&t.name) {
                            tables.push(t.name.clone());
                        }
                    }
                }
            }
            if state_resources.is_some_and(|m| m.contains_key(r)) {
                found = true;
                state_paths.push(format!("sources.{}.resources.{r}", self.schema_name));
            }
            if !found {
                unknown.push(r.clone());
            }
        }
        if !unknown.is_empty() {
            let mut known: Vec<String> = roots.iter().map(|t| resource_of(t)).collect();
            known.extend(state_resources.into_iter().flat_map(|m| m.keys().cloned()));
            known.sort();
            known.dedup();
            return Err(PipelineError::Config(format!(
                "pipeline `{}` has no resource {}; its resources: {}",
                self.name,
                unknown
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                match known.is_empty() {
                    true => "none".to_string(),
                    false => known.join(", "),
                }
            )));
        }
        Ok(DropPlan {
            pipeline_name: self.name.clone(),
            destination: self.destination.name().to_string(),
            dataset_name: self.dataset_name.clone(),
            resources: resources.to_vec(),
            tables,
            state_paths,
        })
    }

    /// Drops the local state and schema and restores them from the destination (the state
    /// of the newest completed load, the newest stored schema), as dlt's `pipeline sync`.
    /// `confirm` sees what will be restored first; nothing happens when it says no
    /// (`Ok(None)`).
    ///
    /// # Errors
    /// [`PipelineError::Config`] when the destination holds no state of the pipeline (the
    /// local files are kept) or packages are pending.
    pub async fn sync_from_destination(
        &mut self,
        confirm: impl FnOnce(&SyncPlan) -> bool,
    ) -> Result<Option<SyncInfo>, PipelineError> {
        let _lock = self.lock().await?;
        self.storage.discard_incomplete()?;
        self.refuse_pending("sync the pipeline")?;
        let client = self.client(&mut None).await?;
        let stored = client.stored_state(&self.name).await?;
        let Some(stored) = stored.filter(|s| PipelineState::decode(&s.state).is_some()) else {
            return Err(PipelineError::Config(format!(
                "dataset `{}` holds no (readable) state of pipeline `{}`: nothing to restore; \
                 the local state and schema were kept",
                self.dataset_name, self.name
            )));
        };
        let schema_version = client
            .stored_schema(&self.schema_name)
            .await?
            .map(|s| s.version);
        let plan = SyncPlan {
            pipeline_name: self.name.clone(),
            destination: self.destination.name().to_string(),
            dataset_name: self.dataset_name.clone(),
            local_state_version: self.state()?.map(|s| s.state_version),
            state_version: stored.version,
            state_load_id: stored.load_id,
            schema_version,
        };
        if !confirm(&plan) {
            return Ok(None);
        }
        remove_if_exists(&self.storage.state_file(), "removing the local state")?;
        remove_if_exists(&self.schema_path(), "removing the local schema")?;
        let state = restore_or_fail(self, client.as_ref()).await?;
        Ok(Some(SyncInfo {
            plan,
            state,
            schema: self.schema()?,
        }))
    }
}

async fn restore_or_fail(
    p: &Pipeline,
    client: &dyn LoadClient,
) -> Result<PipelineState, PipelineError> {
    p.restore(client).await?.ok_or_else(|| {
        PipelineError::Config(format!(
            "the state of pipeline `{}` could not be restored from dataset `{}`",
            p.name, p.dataset_name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_updates_list_new_tables_and_columns() {
        let mut before = Schema::new("s");
        let mut t = dest_core::TableSchema::new("items");
        t.columns
            .push(dest_core::Column::new("id", dest_core::DataType::Bigint));
        before.tables.push(t.clone());
        let mut now = before.clone();
        if let Some(items) = now.table_mut("items") {
            items
                .columns
                .push(dest_core::Column::new("name", dest_core::DataType::Text));
        }
        let mut child = dest_core::TableSchema::new("items__tags");
        child.parent = Some("items".into());
        child
            .columns
            .push(dest_core::Column::new("value", dest_core::DataType::Text));
        now.tables.push(child);
        assert_eq!(
            schema_diff(Some(&before), &now),
            vec![
                SchemaUpdate {
                    table: "items".into(),
                    new_table: false,
                    columns: vec![("name".into(), "text".into())],
                },
                SchemaUpdate {
                    table: "items__tags".into(),
                    new_table: true,
                    columns: vec![("value".into(), "text".into())],
                },
            ]
        );
        assert_eq!(schema_diff(None, &before).len(), 1);
    }
}
