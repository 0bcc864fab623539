//! The trace of a pipeline's last run, kept in the working folder as `trace.json` (dlt's
//! `pipeline.last_trace`, shown by `dlt-rs pipeline NAME trace`).
//!
//! [`Pipeline::run`], [`Pipeline::run_input`] and [`Pipeline::run_with_state`] go through [`Pipeline::run_traced_with`], which
//! runs the pipeline with a step recorder in a task-local and writes the trace at the end,
//! whether the run succeeded or not. The run marks where its steps begin with [`step`]:
//! `normalize` (packages an earlier run extracted), `extract+normalize` (the new data; with
//! `[load] overlap` the two run at the same time and loading starts too) and `load`. A
//! step ends where the next one begins. Writing the trace never fails a run.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::package::{LoadPackage, PackageStage};
use crate::storage::{write_atomic, Storage, LOADED};
use crate::{LoadInfo, Pipeline, PipelineError, Resource};

/// The trace file in the working folder.
pub(crate) const TRACE_FILE: &str = "trace.json";

/// One run of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTrace {
    pub pipeline_name: String,
    /// The destination's registry name.
    pub destination: String,
    pub dataset_name: String,
    /// RFC 3339, UTC, microseconds.
    pub started_at: String,
    pub finished_at: String,
    pub duration_secs: f64,
    /// Items extracted by the run (0 when it failed).
    #[serde(default)]
    pub items: u64,
    /// Why the run failed; `None` when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The steps in the order they ran.
    #[serde(default)]
    pub steps: Vec<StepTrace>,
    /// The packages the run loaded, or, when it failed, those it left pending or aborted.
    #[serde(default)]
    pub packages: Vec<PackageTrace>,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTrace {
    /// `normalize`, `extract+normalize` or `load`.
    pub step: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_secs: f64,
    /// The run's error, on the step it failed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A package a run handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageTrace {
    pub load_id: String,
    /// `loaded`, `aborted`, `pending (extracted)` or `pending (normalized)`.
    pub state: String,
    /// Rows loaded (all tables), when the package was loaded by the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Tables that had jobs.
    #[serde(default)]
    pub tables: Vec<String>,
}

/// Marks the start of step `name` of the run in progress (nothing outside a traced run, or
/// when that step is already the current one).
pub(crate) fn step(name: &'static str) {
    let _ = RECORDER.try_with(|r| {
        if let Ok(mut r) = r.lock() {
            if r.steps.last().map(|s| s.0) != Some(name) {
                r.steps.push((name, Utc::now()));
            }
        }
    });
}

#[derive(Debug, Default)]
struct Recorder {
    steps: Vec<(&'static str, DateTime<Utc>)>,
}

tokio::task_local! {
    static RECORDER: Arc<Mutex<Recorder>>;
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(0) as f64 / 1e6
}

impl Pipeline {
    /// Runs the pipeline and writes the run's trace.
    pub(crate) async fn run_traced(
        &mut self,
        resources: Vec<Resource>,
        input_id: Option<&str>,
    ) -> Result<LoadInfo, PipelineError> {
        self.run_traced_with(resources, input_id, None).await
    }

    /// [`Pipeline::run_traced`], with resources made from the state when extraction begins.
    pub(crate) async fn run_traced_with(
        &mut self,
        resources: Vec<Resource>,
        input_id: Option<&str>,
        from_state: Option<crate::MakeResources>,
    ) -> Result<LoadInfo, PipelineError> {
        let started = Utc::now();
        let started_sys = SystemTime::now();
        let recorder = Arc::new(Mutex::new(Recorder::default()));
        let mut result = RECORDER
            .scope(
                recorder.clone(),
                self.run_inner(resources, input_id, from_state),
            )
            .await;
        let finished = Utc::now();
        let marks = recorder.lock().map(|r| r.steps.clone()).unwrap_or_default();
        let error = result.as_ref().err().map(|e| e.to_string());
        let mut steps: Vec<StepTrace> = Vec::with_capacity(marks.len());
        for (i, (name, from)) in marks.iter().enumerate() {
            let to = marks.get(i + 1).map(|m| m.1).unwrap_or(finished);
            steps.push(StepTrace {
                step: name.to_string(),
                started_at: timestamp(*from),
                finished_at: timestamp(to),
                duration_secs: seconds(*from, to),
                error: None,
            });
        }
        if let Some(last) = steps.last_mut() {
            last.error = error.clone();
        }
        if let Ok(info) = &mut result {
            info.destination = self.destination.name().to_string();
            info.steps = steps
                .iter()
                .map(|s| (s.step.clone(), s.duration_secs))
                .collect();
        }
        let packages = match &result {
            Ok(info) => info
                .packages
                .iter()
                .map(|p| PackageTrace {
                    load_id: p.load_id.clone(),
                    state: "loaded".into(),
                    rows: Some(p.rows),
                    tables: p.tables.clone(),
                })
                .collect(),
            Err(_) => left_by_failed_run(&self.storage, started_sys),
        };
        let trace = RunTrace {
            pipeline_name: self.name.clone(),
            destination: self.destination.name().to_string(),
            dataset_name: self.dataset_name.clone(),
            started_at: timestamp(started),
            finished_at: timestamp(finished),
            duration_secs: seconds(started, finished),
            items: result.as_ref().map(|i| i.items).unwrap_or(0),
            error,
            steps,
            packages,
        };
        if let Err(e) = write(&self.storage, &trace) {
            tracing::warn!(error = %e, "could not write the run's trace");
        }
        result
    }
}

/// The packages a failed run leaves: pending ones, and those it aborted.
fn left_by_failed_run(storage: &Storage, started: SystemTime) -> Vec<PackageTrace> {
    let Ok(packages) = crate::package::packages(storage) else {
        return Vec::new();
    };
    packages
        .into_iter()
        .filter(|p| match p.stage {
            PackageStage::Extracted | PackageStage::Normalized => true,
            PackageStage::Aborted => LoadPackage::of(storage, LOADED, &p.load_id)
                .completed_at()
                .is_some_and(|t| t >= started),
            PackageStage::Loaded => false,
        })
        .map(|p| PackageTrace {
            state: p.stage.to_string(),
            load_id: p.load_id,
            rows: None,
            tables: Vec::new(),
        })
        .collect()
}

/// Writes `trace` to the working folder.
pub(crate) fn write(storage: &Storage, trace: &RunTrace) -> Result<(), PipelineError> {
    let bytes = serde_json::to_vec_pretty(trace)
        .map_err(|e| PipelineError::Internal(format!("serializing the trace: {e}")))?;
    write_atomic(&storage.root.join(TRACE_FILE), &bytes)
}

/// The trace of the last run, `None` when no run wrote one.
pub(crate) fn read(storage: &Storage) -> Result<Option<RunTrace>, PipelineError> {
    crate::read_json(&storage.root.join(TRACE_FILE))
}
