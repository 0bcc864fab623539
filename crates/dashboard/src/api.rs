//! The JSON the dashboard page reads: answers built from a pipeline's working folder (its
//! packages, schema, state, failed jobs) and, for table rows, from its dataset
//! (`Pipeline::dataset`). An error is `{"error": "..."}` with a 4xx or 5xx status.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use pipeline::{
    json_value, state_destination, PackageStage, Pipeline, PipelineError, PipelineFolder,
    PipelineOverrides,
};
use serde::Deserialize;
use serde_json::{json, Value as JsonValue};

use crate::{Folder, MAX_PAGE_ROWS};

type Answer = Result<Json<JsonValue>, (StatusCode, Json<JsonValue>)>;

fn failed(status: StatusCode, e: impl std::fmt::Display) -> (StatusCode, Json<JsonValue>) {
    (status, Json(json!({ "error": e.to_string() })))
}

fn folder_error(e: PipelineError) -> (StatusCode, Json<JsonValue>) {
    failed(StatusCode::NOT_FOUND, e)
}

fn stage_name(stage: PackageStage) -> &'static str {
    match stage {
        PackageStage::Extracted => "extracted",
        PackageStage::Normalized => "normalized",
        PackageStage::Loaded => "loaded",
        PackageStage::Aborted => "aborted",
    }
}

/// `GET /api/pipelines`.
pub(crate) async fn pipelines(State(folder): State<Arc<Folder>>) -> Answer {
    let dir = folder.pipelines_dir.clone();
    let list = PipelineFolder::list(Some(&dir)).map_err(folder_error)?;
    let mut out = Vec::new();
    for name in &list.names {
        let Ok(f) = PipelineFolder::inspect(name, Some(&dir)) else {
            continue;
        };
        let state = f.state().ok().flatten();
        let packages = f.packages().unwrap_or_default();
        let last = packages
            .iter()
            .filter(|p| matches!(p.stage, PackageStage::Loaded | PackageStage::Aborted))
            .map(|p| p.load_id.clone())
            .max();
        out.push(json!({
            "name": name,
            "destination": state.as_ref().map(|s| state_destination(s).to_string()),
            "dataset": state.as_ref().map(|s| s.dataset_name.clone()),
            "packages": packages.len(),
            "pending": packages.iter().filter(|p| p.stage.is_pending()).count(),
            "failed_jobs": packages.iter().map(|p| p.failed_jobs.len()).sum::<usize>(),
            "last_load": last,
        }));
    }
    Ok(Json(json!({
        "pipelines_dir": dir.display().to_string(),
        "pipelines": out,
    })))
}

/// `GET /api/pipelines/{name}`.
pub(crate) async fn pipeline(
    State(folder): State<Arc<Folder>>,
    Path(name): Path<String>,
) -> Answer {
    let f = PipelineFolder::inspect(&name, Some(&folder.pipelines_dir)).map_err(folder_error)?;
    let state = f
        .state()
        .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let mut loads = Vec::new();
    for p in f
        .packages()
        .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e))?
    {
        let Ok(detail) = f.package(Some(&p.load_id)) else {
            continue;
        };
        loads.push(json!({
            "load_id": p.load_id,
            "status": stage_name(p.stage),
            "created_at": detail.created_at,
            "completed_at": detail.completed_at,
            "rows": detail.table_rows,
            "jobs": detail.jobs.len(),
            "failed_jobs": p.failed_jobs.len(),
        }));
    }
    let failed_jobs: Vec<JsonValue> = f
        .failed_jobs()
        .map_err(|e| failed(StatusCode::INTERNAL_SERVER_ERROR, e))?
        .into_iter()
        .map(|j| {
            json!({
                "load_id": j.load_id,
                "table": j.job.table,
                "job": j.job.file_name,
                "error": j.job.error,
            })
        })
        .collect();
    let schema = f.schemas().ok().and_then(|mut s| {
        let default = state.as_ref().map(|st| st.default_schema_name.clone());
        let at = s
            .iter()
            .position(|sc| Some(&sc.name) == default.as_ref())
            .unwrap_or(0);
        (!s.is_empty()).then(|| s.swap_remove(at))
    });
    let tables: Vec<JsonValue> = schema
        .iter()
        .flat_map(|s| s.tables.iter())
        .filter(|t| t.complete_columns().next().is_some())
        .map(|t| serde_json::to_value(t).unwrap_or(JsonValue::Null))
        .collect();
    let trace = f.trace().ok().flatten().map(|t| {
        json!({
            "started_at": t.started_at,
            "finished_at": t.finished_at,
            "duration_secs": t.duration_secs,
            "items": t.items,
            "error": t.error,
        })
    });
    Ok(Json(json!({
        "name": name,
        "destination": state.as_ref().map(|s| state_destination(s).to_string()),
        "dataset": state.as_ref().map(|s| s.dataset_name.clone()),
        "schema_name": schema.as_ref().map(|s| s.name.clone()),
        "schema_version": schema.as_ref().map(|s| s.version),
        "tables": tables,
        "loads": loads,
        "failed_jobs": failed_jobs,
        "state": state.as_ref().map(|s| JsonValue::Object(s.sources.clone())),
        "last_run": trace,
    })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    offset: Option<u64>,
    limit: Option<u64>,
}

/// `GET /api/pipelines/{name}/tables/{table}?offset=&limit=`: a page of rows (in the
/// table's storage order) with the table's row count.
pub(crate) async fn table_rows(
    State(folder): State<Arc<Folder>>,
    Path((name, table)): Path<(String, String)>,
    Query(page): Query<Page>,
) -> Answer {
    let internal = |e: PipelineError| failed(StatusCode::INTERNAL_SERVER_ERROR, e);
    PipelineFolder::inspect(&name, Some(&folder.pipelines_dir)).map_err(folder_error)?;
    let p = Pipeline::open_existing(
        &name,
        Some(&folder.pipelines_dir),
        &PipelineOverrides::default(),
    )
    .map_err(internal)?;
    let dataset = p.dataset().await.map_err(internal)?;
    let relation = dataset
        .table(&table)
        .map_err(|e| failed(StatusCode::NOT_FOUND, e))?;
    let offset = page.offset.unwrap_or(0);
    let limit = page.limit.unwrap_or(50).clamp(1, MAX_PAGE_ROWS);
    let count = relation.count().await.map_err(internal)?;
    let mut cursor = relation
        .clone()
        .offset(offset)
        .limit(limit)
        .cursor()
        .await
        .map_err(internal)?;
    let columns: Vec<JsonValue> = cursor
        .columns()
        .iter()
        .map(|c| json!({"name": c.name, "data_type": c.data_type.map(|t| t.as_str())}))
        .collect();
    let mut rows = Vec::new();
    while let Some(batch) = cursor.next_values(limit as usize).await.map_err(internal)? {
        rows.extend(
            batch
                .iter()
                .map(|r| JsonValue::Array(r.iter().map(json_value).collect())),
        );
    }
    Ok(Json(json!({
        "table": table,
        "count": count,
        "offset": offset,
        "limit": limit,
        "columns": columns,
        "rows": rows,
    })))
}
