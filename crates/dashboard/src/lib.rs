//! The dlt-rs dashboard (`dlt-rs dashboard`, `dlt-rs pipeline NAME show --web`): a local,
//! read-only web page of the pipelines of a pipelines folder, as dlt's dashboard shows them.
//!
//! [`router`] serves the page (one HTML file with its script and styles, embedded in the
//! binary: nothing is fetched from the internet) and the JSON it reads:
//!
//! | path | what |
//! | --- | --- |
//! | `/api/pipelines` | the pipelines of the folder: destination, dataset, packages, last load |
//! | `/api/pipelines/{name}` | one pipeline: its loads (rows per table, times, status), schema, failed jobs, state |
//! | `/api/pipelines/{name}/tables/{table}?offset=&limit=` | a page of a table's rows and its row count, read through `Pipeline::dataset` |
//!
//! Only `GET`s: nothing changes anything. Credentials come from the configuration as for any
//! command and are never part of an answer. [`serve`] runs the router on a listener (the
//! command line binds `127.0.0.1` only).

mod api;

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;

/// The page and its assets, embedded.
const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The most rows a page of the table browser may ask for.
pub const MAX_PAGE_ROWS: u64 = 500;

/// What the dashboard cannot do.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("the dashboard server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// What every handler shares: the folder of the pipelines.
#[derive(Debug)]
pub(crate) struct Folder {
    pub(crate) pipelines_dir: PathBuf,
}

/// The dashboard's routes over the pipelines of `pipelines_dir`.
pub fn router(pipelines_dir: PathBuf) -> Router {
    let folder = Arc::new(Folder { pipelines_dir });
    Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route(
            "/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    APP_JS,
                )
            }),
        )
        .route(
            "/app.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT.into_response() }),
        )
        .route("/api/pipelines", get(api::pipelines))
        .route("/api/pipelines/{name}", get(api::pipeline))
        .route("/api/pipelines/{name}/tables/{table}", get(api::table_rows))
        .with_state(folder)
}

/// Serves the dashboard of `pipelines_dir` on `listener` until the process ends.
///
/// # Errors
/// When the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    pipelines_dir: PathBuf,
) -> Result<(), DashboardError> {
    axum::serve(listener, router(pipelines_dir))
        .await
        .map_err(DashboardError::Serve)
}
