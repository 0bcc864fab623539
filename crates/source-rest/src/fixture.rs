//! A deterministic local REST API for the tests of the `rest_api` source, its examples and
//! the reference runs of real dlt (`tests/dlt/run_dlt.py`).
//!
//! [`FixtureApi`] serves JSON on `127.0.0.1` with every pagination style dlt's paginators
//! know, every auth kind of dlt's `rest_api`, an incremental endpoint and failure
//! injection. The data is generated, small (tens of records per collection, several pages
//! each) and the same on every start. Records have nested objects and lists (child
//! tables), nulls, numbers (one beyond 2^53), booleans, ISO timestamps, unicode and text
//! with quotes, backslashes and newlines. No record holds the server's own URL, so loaded
//! data does not depend on the port.
//!
//! Endpoints (`{base}` is [`FixtureApi::url`]; every body is JSON unless said otherwise;
//! a bad parameter is a 400, an unknown path a 404, a wrong method a 405, each with a
//! body `{"error": code, "message": text}`):
//!
//! | endpoint | pagination | response |
//! | --- | --- | --- |
//! | `GET /posts?page=&per_page=&published=` | page number, 1-based (`page` default 1, `per_page` default 5) | `{"data": [...], "page", "per_page", "total", "total_pages", "has_more"}` |
//! | `GET /posts/{id}` | none | one post |
//! | `GET /posts/{id}/comments` | none | a bare list (empty for some posts) |
//! | `GET /users?offset=&limit=` | offset (`offset` default 0, `limit` default 10) | `{"items": [...], "total", "offset", "limit"}` |
//! | `GET /users/{id}` | none | one user |
//! | `GET /users/{id}/profile` | none | a profile; 404 for every third user |
//! | `GET /events?cursor=&limit=&user_id=&type=` | cursor in the body (`limit` default 8) | `{"results": [...], "cursors": {"next": "..." or null}, "count"}` |
//! | `GET /orders?page=&per_page=&link=relative` | next URL in the body (`per_page` default 6) | `{"orders": [...], "next": absolute URL (relative with `link=relative`) or null, "page"}` |
//! | `GET /repos?page=&per_page=` | `Link` header (`rel="next"`, `"prev"`, `"first"`, `"last"`; `per_page` default 5) | a bare list |
//! | `GET /logs?cursor=&limit=` | cursor in the [`NEXT_CURSOR_HEADER`] header (`limit` default 6) | a bare list |
//! | `GET /tags` | single page | `{"tags": [...]}` |
//! | `GET /stats` | single object | `{"posts", "users", "comments", "generated_at", "by_status": {...}}` |
//! | `GET /tickets?updated_since=&updated_until=&page=&per_page=` | page number, 1-based (`per_page` default 5) | `{"tickets": [...], "page", "per_page", "total", "total_pages"}`: tickets with `since <= updated_at < until`, by `updated_at` then `id` |
//! | `POST /search` (JSON body) | in the body: `page`/`paging.page` (1-based) with `page_size`/`paging.size`; or, when the body has `offset`, `offset` with `limit`; or, when it has `cursor` (null at first), `cursor` with `limit` (sizes default 5) | `{"hits": [...], "total"}` plus `page`, `page_size`, `total_pages` (page mode), `offset`, `limit` (offset mode) or `next_cursor` (cursor mode); a `query` string keeps the titles that contain it (any case) |
//! | `POST /search/scroll` (JSON body) | cursor mode of `/search`, the first request without `cursor` | as `/search` |
//! | `GET /secure/bearer` | next URL in the body (4 a page) | `{"data": [accounts], "next"}`; needs `Authorization: Bearer` [`BEARER_TOKEN`] |
//! | `GET /secure/api-key` | same | needs the header [`API_KEY_HEADER`]`: `[`API_KEY`] |
//! | `GET /secure/api-key-query` | same | needs the query parameter [`API_KEY_PARAM`]`=`[`API_KEY`] |
//! | `GET /secure/basic` | same | needs HTTP basic [`BASIC_USERNAME`]`:`[`BASIC_PASSWORD`] |
//! | `GET /secure/oauth` | same | needs `Authorization: Bearer <token>` with a live token of `/oauth/token` |
//! | `POST /oauth/token` (form body) | none | `grant_type=client_credentials`, `client_id`/`client_secret` ([`OAUTH_CLIENT_ID`], [`OAUTH_CLIENT_SECRET`]) in the form or as HTTP basic → `{"access_token", "token_type": "Bearer", "expires_in"}` |
//!
//! A missing or wrong credential is a 401 with `{"error": "unauthorized", "message"}` and a
//! `WWW-Authenticate` header.
//!
//! Tests change the data ([`FixtureApi::upsert`], [`FixtureApi::remove`]), inject faults
//! ([`FixtureApi::inject`]: a status with an optional `Retry-After`, a page that is not
//! JSON, a response cut off mid-body; for the next N matching requests or always) and read
//! the requests received ([`FixtureApi::requests`], with method, path, query, headers and
//! body). A request is logged before its response is written. The same operations are
//! HTTP control endpoints, so a process that only has the URL (the `rest-fixture` binary
//! driven by Python) can use them; they are not logged. [`FixtureApi::control`] runs one
//! in-process, with the same arguments:
//!
//! * `POST /_control/reset`: the initial data, no faults, an empty log, no OAuth tokens;
//! * `POST /_control/fault` `{"path", "query": {name: value}, "times": n, "always": bool,
//!   "kind": "status"|"malformed"|"truncated", "status": n, "retry_after": "s"}` (see
//!   [`Fault::from_json`]); `POST /_control/faults/clear`; `GET /_control/faults`;
//! * `POST /_control/upsert/{collection}` with a record or a list of records (merged into
//!   the record with the same `id`, key by key, or appended);
//!   `POST /_control/delete/{collection}` `{"id": ...}`; `GET /_control/data/{collection}`;
//! * `GET /_control/requests` (`{"requests": [...], "counts": {path: n}}`),
//!   `POST /_control/requests/clear`;
//! * `POST /_control/oauth` `{"expires_in": seconds}`: the lifetime of the next tokens.
//!
//! The server has no dependencies: HTTP/1.1 on a std `TcpListener`, one thread per
//! connection, `Connection: close`. It stops when dropped.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Map, Value as Json};

/// The bearer token `/secure/bearer` accepts.
pub const BEARER_TOKEN: &str = "fixture-bearer-token";
/// The API key `/secure/api-key` and `/secure/api-key-query` accept.
pub const API_KEY: &str = "fixture-api-key";
/// The header `/secure/api-key` reads the key from.
pub const API_KEY_HEADER: &str = "X-API-Key";
/// The query parameter `/secure/api-key-query` reads the key from.
pub const API_KEY_PARAM: &str = "api_key";
/// The HTTP basic user name `/secure/basic` accepts.
pub const BASIC_USERNAME: &str = "fixture-user";
/// The HTTP basic password `/secure/basic` accepts.
pub const BASIC_PASSWORD: &str = "fixture-pass";
/// The OAuth2 client id `/oauth/token` accepts.
pub const OAUTH_CLIENT_ID: &str = "fixture-client";
/// The OAuth2 client secret `/oauth/token` accepts.
pub const OAUTH_CLIENT_SECRET: &str = "fixture-secret";
/// The lifetime of OAuth2 tokens, in seconds, until changed.
pub const DEFAULT_OAUTH_EXPIRES_IN: u64 = 3600;
/// The response header `/logs` gives the next page's cursor in.
pub const NEXT_CURSOR_HEADER: &str = "X-Next-Cursor";

/// The collections of records the fixture serves, by the name the control endpoints use.
pub const COLLECTIONS: [&str; 11] = [
    "accounts", "comments", "docs", "events", "logs", "orders", "posts", "repos", "tags",
    "tickets", "users",
];

/// Longest request head accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Longest request body accepted.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Records per page of the `/secure/...` endpoints.
const SECURE_PAGE_SIZE: usize = 4;

/// One request the fixture received (control requests excepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `POST`...
    pub method: String,
    /// The path, percent-decoded, without the query.
    pub path: String,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers, names in lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body (lossy UTF-8; empty when there was none).
    pub body: String,
    /// The status of the response.
    pub status: u16,
    /// The fault that answered it, if one did.
    pub fault: Option<FaultKind>,
}

impl RequestRecord {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, &name.to_ascii_lowercase())
    }

    /// The body parsed as JSON (`None` when it is not JSON).
    pub fn json_body(&self) -> Option<Json> {
        serde_json::from_str(&self.body).ok()
    }

    fn to_json(&self) -> Json {
        json!({
            "method": self.method,
            "path": self.path,
            "query": pairs_json(&self.query),
            "headers": pairs_json(&self.headers),
            "body": self.body,
            "status": self.status,
            "fault": self.fault.as_ref().map(FaultKind::name),
        })
    }
}

/// What a faulty response is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// This status with an error body (`{"error": "injected", ...}`), and a `Retry-After`
    /// header when given (seconds or an HTTP date, sent as is).
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header's value.
        retry_after: Option<String>,
    },
    /// A 200 with `Content-Type: application/json` and a body that is not JSON.
    Malformed,
    /// The response the request would have had, its `Content-Length` announcing the whole
    /// body, cut off after half the body: the connection closes.
    Truncated,
}

impl FaultKind {
    /// `status`, `malformed` or `truncated` (the `kind` of its JSON form).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Status { .. } => "status",
            FaultKind::Malformed => "malformed",
            FaultKind::Truncated => "truncated",
        }
    }
}

/// A fault: the response requests matching `path` and `query` get instead of theirs.
///
/// Faults are tried in the order they were injected; the first that matches is used and
/// counts down its `times` (gone at 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The request path it applies to, exactly (`/posts`).
    pub path: String,
    /// Query parameters the request must have, with these values (`[("page", "2")]`);
    /// empty: any request of `path`.
    pub query: Vec<(String, String)>,
    /// How many matching requests it answers; `None`: all of them.
    pub times: Option<u32>,
    /// What they get.
    pub kind: FaultKind,
}

impl Fault {
    /// The next request of `path` answers `status`.
    pub fn status(path: &str, status: u16) -> Fault {
        Fault {
            path: path.to_string(),
            query: Vec::new(),
            times: Some(1),
            kind: FaultKind::Status {
                status,
                retry_after: None,
            },
        }
    }

    /// The next request of `path` gets a body that is not JSON.
    pub fn malformed(path: &str) -> Fault {
        Fault {
            kind: FaultKind::Malformed,
            ..Fault::status(path, 200)
        }
    }

    /// The next request of `path` gets half its response, then the connection closes.
    pub fn truncated(path: &str) -> Fault {
        Fault {
            kind: FaultKind::Truncated,
            ..Fault::status(path, 200)
        }
    }

    /// Only requests with query parameter `name` equal to `value`.
    pub fn when(mut self, name: &str, value: &str) -> Fault {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// For the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }

    /// For every matching request.
    pub fn always(mut self) -> Fault {
        self.times = None;
        self
    }

    /// With a `Retry-After` header (a [`FaultKind::Status`] fault only).
    pub fn retry_after(mut self, value: &str) -> Fault {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(value.to_string());
        }
        self
    }

    /// A fault from its JSON form (the body of `POST /_control/fault`):
    /// `{"path": "/posts", "query": {"page": 2}, "times": 1, "always": false,
    /// "kind": "status", "status": 503, "retry_after": "1"}`. Only `path` is required;
    /// `kind` defaults to `status`, `status` to 500, `times` to 1; `query` values may be
    /// strings or numbers; `retry_after` a string or a number.
    pub fn from_json(v: &Json) -> Result<Fault, ControlError> {
        let bad = |m: &str| ControlError::new(400, format!("fault: {m}"));
        let obj = v.as_object().ok_or_else(|| bad("expected a JSON object"))?;
        let path = obj
            .get("path")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("`path` (a string) is required"))?;
        let mut query = Vec::new();
        match obj.get("query") {
            None | Some(Json::Null) => {}
            Some(Json::Object(q)) => {
                for (k, val) in q {
                    let s = scalar_string(val)
                        .ok_or_else(|| bad("`query` values must be strings or numbers"))?;
                    query.push((k.clone(), s));
                }
            }
            Some(_) => return Err(bad("`query` must be an object")),
        }
        let times = if obj.get("always").and_then(Json::as_bool) == Some(true) {
            None
        } else {
            match obj.get("times") {
                None | Some(Json::Null) => Some(1),
                Some(t) => Some(
                    t.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| bad("`times` must be a non-negative integer"))?,
                ),
            }
        };
        let kind = match obj.get("kind").and_then(Json::as_str).unwrap_or("status") {
            "status" => {
                let status = match obj.get("status") {
                    None | Some(Json::Null) => 500,
                    Some(s) => s
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .filter(|n| (100..=599).contains(n))
                        .ok_or_else(|| bad("`status` must be an HTTP status"))?,
                };
                let retry_after = match obj.get("retry_after") {
                    None | Some(Json::Null) => None,
                    Some(r) => Some(
                        scalar_string(r)
                            .ok_or_else(|| bad("`retry_after` must be a string or a number"))?,
                    ),
                };
                FaultKind::Status {
                    status,
                    retry_after,
                }
            }
            "malformed" => FaultKind::Malformed,
            "truncated" => FaultKind::Truncated,
            other => {
                return Err(bad(&format!(
                    "unknown `kind` `{other}` (status, malformed, truncated)"
                )))
            }
        };
        Ok(Fault {
            path: path.to_string(),
            query,
            times,
            kind,
        })
    }

    /// The JSON form [`Fault::from_json`] reads.
    pub fn to_json(&self) -> Json {
        let mut v = json!({
            "path": self.path,
            "query": self.query.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
            "times": self.times,
            "always": self.times.is_none(),
        });
        match &self.kind {
            FaultKind::Status {
                status,
                retry_after,
            } => {
                v["kind"] = json!("status");
                v["status"] = json!(status);
                v["retry_after"] = json!(retry_after);
            }
            FaultKind::Malformed => v["kind"] = json!("malformed"),
            FaultKind::Truncated => v["kind"] = json!("truncated"),
        }
        v
    }

    fn matches(&self, req: &Req) -> bool {
        self.times != Some(0)
            && self.path == req.path
            && self
                .query
                .iter()
                .all(|(k, v)| first(&req.query, k) == Some(v.as_str()))
    }
}

/// A control operation that cannot be done: the HTTP status its endpoint answers and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fixture control: {message} (HTTP {status})")]
pub struct ControlError {
    /// 400 (a bad argument), 404 (no such operation or collection) or 405.
    pub status: u16,
    /// What is wrong.
    pub message: String,
}

impl ControlError {
    fn new(status: u16, message: impl Into<String>) -> ControlError {
        ControlError {
            status,
            message: message.into(),
        }
    }
}

#[derive(Debug)]
struct Token {
    value: String,
    expires: Instant,
}

#[derive(Debug)]
struct State {
    base_url: String,
    data: BTreeMap<String, Vec<Json>>,
    faults: Vec<Fault>,
    log: Vec<RequestRecord>,
    oauth_expires_in: u64,
    tokens: Vec<Token>,
    tokens_issued: u64,
}

impl State {
    fn new(base_url: String) -> State {
        State {
            base_url,
            data: seed(),
            faults: Vec::new(),
            log: Vec::new(),
            oauth_expires_in: DEFAULT_OAUTH_EXPIRES_IN,
            tokens: Vec::new(),
            tokens_issued: 0,
        }
    }

    fn reset(&mut self) {
        let base = std::mem::take(&mut self.base_url);
        *self = State::new(base);
    }

    fn coll(&self, name: &str) -> &[Json] {
        self.data.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    fn coll_mut(&mut self, name: &str) -> Result<&mut Vec<Json>, ControlError> {
        self.data
            .get_mut(name)
            .ok_or_else(|| ControlError::new(404, format!("no collection `{name}`")))
    }

    fn upsert(&mut self, collection: &str, record: Json) -> Result<(), ControlError> {
        let Json::Object(fields) = record else {
            return Err(ControlError::new(400, "a record must be a JSON object"));
        };
        let Some(id) = fields.get("id").cloned() else {
            return Err(ControlError::new(400, "a record needs an `id`"));
        };
        let records = self.coll_mut(collection)?;
        match records.iter_mut().find(|r| r.get("id") == Some(&id)) {
            Some(Json::Object(existing)) => {
                for (k, v) in fields {
                    existing.insert(k, v);
                }
            }
            _ => records.push(Json::Object(fields)),
        }
        Ok(())
    }

    fn remove(&mut self, collection: &str, id: &Json) -> Result<bool, ControlError> {
        let records = self.coll_mut(collection)?;
        let before = records.len();
        records.retain(|r| r.get("id") != Some(id));
        Ok(records.len() != before)
    }
}

/// The fixture API server; see the module documentation.
#[derive(Debug)]
pub struct FixtureApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FixtureApi {
    /// Serves the initial data on a free port of 127.0.0.1.
    pub fn start() -> io::Result<FixtureApi> {
        Self::start_on(0)
    }

    /// Serves the initial data on `127.0.0.1:port` (`0`: a free port).
    pub fn start_on(port: u16) -> io::Result<FixtureApi> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::new(format!("http://{addr}"))));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::Builder::new()
                .name("rest-fixture".into())
                .spawn(move || accept_loop(&listener, &state, &stop))?
        };
        Ok(FixtureApi {
            addr,
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// The base URL (`http://127.0.0.1:<port>`, no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Back to the initial data, without faults, requests or OAuth tokens.
    pub fn reset(&self) {
        self.state().reset();
    }

    /// The records of `collection` (one of [`COLLECTIONS`]; empty for another name), in
    /// the order they are stored.
    pub fn records(&self, collection: &str) -> Vec<Json> {
        self.state().coll(collection).to_vec()
    }

    /// Merges `record` (a JSON object with an `id`) into the record of `collection` with
    /// the same `id`, key by key, or appends it.
    pub fn upsert(&self, collection: &str, record: Json) -> Result<(), ControlError> {
        self.state().upsert(collection, record)
    }

    /// Removes the record of `collection` with this `id`; whether there was one.
    pub fn remove(&self, collection: &str, id: &Json) -> Result<bool, ControlError> {
        self.state().remove(collection, id)
    }

    /// Adds a fault, tried after those injected before.
    pub fn inject(&self, fault: Fault) {
        self.state().faults.push(fault);
    }

    /// The next `times` requests of `path` answer `status` (a 429 or a 503 with
    /// `Retry-After: 0`).
    pub fn fail_next(&self, path: &str, status: u16, times: u32) {
        let mut fault = Fault::status(path, status).times(times);
        if status == 429 || status == 503 {
            fault = fault.retry_after("0");
        }
        self.inject(fault);
    }

    /// Every request of `path` with `page=<page>` gets a body that is not JSON.
    pub fn malformed_page(&self, path: &str, page: u32) {
        self.inject(
            Fault::malformed(path)
                .when("page", &page.to_string())
                .always(),
        );
    }

    /// The next `times` requests of `path` are cut off mid-body.
    pub fn truncate_next(&self, path: &str, times: u32) {
        self.inject(Fault::truncated(path).times(times));
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// The lifetime of the OAuth2 tokens issued from now on (`0`: expired at once).
    pub fn set_oauth_expires_in(&self, seconds: u64) {
        self.state().oauth_expires_in = seconds;
    }

    /// How many OAuth2 tokens `/oauth/token` issued.
    pub fn oauth_tokens_issued(&self) -> u64 {
        self.state().tokens_issued
    }

    /// Every request received so far (control requests excepted), in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().log.clone()
    }

    /// Requests of `path` so far.
    pub fn request_count(&self, path: &str) -> usize {
        self.state().log.iter().filter(|r| r.path == path).count()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// Runs the control operation `method path` (`POST /_control/reset`...) with `body`
    /// (`Json::Null`: none), as the control endpoint would; its answer.
    pub fn control(&self, method: &str, path: &str, body: &Json) -> Result<Json, ControlError> {
        control(&mut self.state(), method, path, body)
    }
}

impl Drop for FixtureApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept loop
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    match state.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn pairs_json(pairs: &[(String, String)]) -> Json {
    Json::Array(pairs.iter().map(|(k, v)| json!([k, v])).collect())
}

fn scalar_string(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// HTTP

/// A parsed request.
#[derive(Debug)]
struct Req {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn param(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    fn header(&self, name: &str) -> Option<&str> {
        first(&self.headers, name)
    }

    fn record(&self, status: u16, fault: Option<FaultKind>) -> RequestRecord {
        RequestRecord {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
            status,
            fault,
        }
    }
}

/// A response to write.
#[derive(Debug)]
struct Resp {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    truncate: bool,
}

impl Resp {
    fn json(status: u16, body: &Json) -> Resp {
        Resp {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
            truncate: false,
        }
    }

    fn ok(body: &Json) -> Resp {
        Resp::json(200, body)
    }

    fn error(status: u16, code: &str, message: impl Into<String>) -> Resp {
        Resp::json(status, &json!({"error": code, "message": message.into()}))
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

fn accept_loop(listener: &TcpListener, state: &Arc<Mutex<State>>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let state = state.clone();
        let _ = std::thread::Builder::new()
            .name("rest-fixture-conn".into())
            .spawn(move || {
                let _ = serve(stream, &state);
            });
    }
}

/// Answers one request on `stream`.
fn serve(stream: TcpStream, state: &Mutex<State>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let resp = match read_request(&mut reader, &mut out)? {
        Ok(None) => return Ok(()),
        Ok(Some(req)) => handle(state, &req),
        Err(message) => Resp::error(400, "bad_request", message),
    };
    write_response(&mut out, &resp)
}

/// Reads one request: `Ok(Ok(None))` when the client closed without sending one,
/// `Ok(Err(why))` when it is not HTTP this server reads.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
) -> io::Result<Result<Option<Req>, String>> {
    let mut head_left = MAX_HEAD_BYTES;
    let mut request_line = String::new();
    let n = reader
        .by_ref()
        .take(head_left as u64)
        .read_line(&mut request_line)?;
    if n == 0 {
        return Ok(Ok(None));
    }
    head_left = head_left.saturating_sub(n);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader
            .by_ref()
            .take(head_left as u64)
            .read_line(&mut line)?;
        head_left = head_left.saturating_sub(n);
        if n == 0 || head_left == 0 {
            return Ok(Err("request head too long or incomplete".into()));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(Err("malformed request line".into()));
    };
    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let raw_query = raw_query.split('#').next().unwrap_or("");
    let path = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8_lossy()
        .into_owned();
    let query = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let mut req = Req {
        method: method.to_ascii_uppercase(),
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        match read_chunked(reader)? {
            Ok(body) => req.body = body,
            Err(e) => return Ok(Err(e)),
        }
    } else if let Some(len) = req.header("content-length") {
        let Ok(len) = len.parse::<usize>() else {
            return Ok(Err("bad Content-Length".into()));
        };
        if len > MAX_BODY_BYTES {
            return Ok(Err("request body too large".into()));
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        req.body = body;
    }
    Ok(Ok(Some(req)))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<Result<Vec<u8>, String>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.by_ref().take(1024).read_line(&mut size_line)?;
        let size_hex = size_line.trim().split(';').next().unwrap_or("");
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return Ok(Err("bad chunk size".into()));
        };
        if size == 0 {
            // trailers up to the empty line
            loop {
                let mut line = String::new();
                let n = reader.by_ref().take(1024).read_line(&mut line)?;
                if n == 0 || line.trim().is_empty() {
                    return Ok(Ok(body));
                }
            }
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Ok(Err("request body too large".into()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = String::new();
        reader.by_ref().take(2).read_line(&mut crlf)?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response(out: &mut TcpStream, resp: &Resp) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len()
    );
    for (name, value) in &resp.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if resp.truncate {
        let half = resp.body.len() / 2;
        out.write_all(&resp.body[..half])?;
        out.flush()?;
        return out.shutdown(Shutdown::Both);
    }
    out.write_all(&resp.body)?;
    out.flush()?;
    // the client reads to the end: say that it is here
    let _ = out.shutdown(Shutdown::Write);
    Ok(())
}

/// Answers one request: control, fault or route; logs it (control requests excepted).
fn handle(state: &Mutex<State>, req: &Req) -> Resp {
    let mut st = lock(state);
    if req.path == "/_control" || req.path.starts_with("/_control/") {
        let body = if req.body.iter().all(u8::is_ascii_whitespace) {
            Json::Null
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(e) => return Resp::error(400, "bad_request", format!("body: {e}")),
            }
        };
        return match control(&mut st, &req.method, &req.path, &body) {
            Ok(v) => Resp::ok(&v),
            Err(e) => Resp::error(e.status, "control", e.message),
        };
    }
    let fault = st.faults.iter_mut().find(|f| f.matches(req)).map(|f| {
        if let Some(n) = &mut f.times {
            *n -= 1;
        }
        f.kind.clone()
    });
    st.faults.retain(|f| f.times != Some(0));
    let resp = match fault.clone() {
        Some(FaultKind::Status {
            status,
            retry_after,
        }) => {
            let mut r = Resp::error(
                status,
                "injected",
                format!("fixture: injected HTTP {status}"),
            );
            if let Some(s) = retry_after {
                r = r.header("Retry-After", s);
            }
            r
        }
        Some(FaultKind::Malformed) => Resp {
            status: 200,
            content_type: "application/json",
            headers: Vec::new(),
            body: b"<html><body>upstream error: this page is not JSON</body></html>\n".to_vec(),
            truncate: false,
        },
        Some(FaultKind::Truncated) => Resp {
            truncate: true,
            ..route(&mut st, req)
        },
        None => route(&mut st, req),
    };
    st.log.push(req.record(resp.status, fault));
    resp
}

// ---------------------------------------------------------------------------------------
// control

fn control(st: &mut State, method: &str, path: &str, body: &Json) -> Result<Json, ControlError> {
    let rest = path
        .strip_prefix("/_control")
        .unwrap_or(path)
        .trim_matches('/');
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = method.to_ascii_uppercase();
    let ok = json!({"ok": true});
    let expect = |want: &str| -> Result<(), ControlError> {
        if method == want {
            Ok(())
        } else {
            Err(ControlError::new(
                405,
                format!("{path} takes {want}, not {method}"),
            ))
        }
    };
    match segs.as_slice() {
        ["reset"] => {
            expect("POST")?;
            st.reset();
            Ok(ok)
        }
        ["fault"] => {
            expect("POST")?;
            let fault = Fault::from_json(body)?;
            st.faults.push(fault);
            Ok(ok)
        }
        ["faults"] => {
            expect("GET")?;
            Ok(Json::Array(st.faults.iter().map(Fault::to_json).collect()))
        }
        ["faults", "clear"] => {
            expect("POST")?;
            st.faults.clear();
            Ok(ok)
        }
        ["upsert", coll] => {
            expect("POST")?;
            // check the collection even for an empty list
            st.coll_mut(coll)?;
            match body {
                Json::Array(records) => {
                    for r in records {
                        st.upsert(coll, r.clone())?;
                    }
                }
                other => st.upsert(coll, other.clone())?,
            }
            Ok(ok)
        }
        ["delete", coll] => {
            expect("POST")?;
            let id = body
                .get("id")
                .ok_or_else(|| ControlError::new(400, "body must be {\"id\": ...}"))?;
            let removed = st.remove(coll, id)?;
            Ok(json!({"ok": true, "removed": removed}))
        }
        ["data", coll] => {
            expect("GET")?;
            if !st.data.contains_key(*coll) {
                return Err(ControlError::new(404, format!("no collection `{coll}`")));
            }
            Ok(Json::Array(st.coll(coll).to_vec()))
        }
        ["requests"] => {
            expect("GET")?;
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for r in &st.log {
                *counts.entry(r.path.clone()).or_default() += 1;
            }
            Ok(json!({
                "requests": st.log.iter().map(RequestRecord::to_json).collect::<Vec<_>>(),
                "counts": counts,
            }))
        }
        ["requests", "clear"] => {
            expect("POST")?;
            st.log.clear();
            Ok(ok)
        }
        ["oauth"] => {
            expect("POST")?;
            let secs = body
                .get("expires_in")
                .and_then(Json::as_u64)
                .ok_or_else(|| ControlError::new(400, "body must be {\"expires_in\": n}"))?;
            st.oauth_expires_in = secs;
            Ok(ok)
        }
        _ => Err(ControlError::new(
            404,
            format!("no control operation `{path}`"),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// routes

type Handled = Result<Resp, Resp>;

fn route(st: &mut State, req: &Req) -> Resp {
    let segs: Vec<&str> = req
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method.as_str();
    let get = method == "GET";
    let post = method == "POST";
    let result = match segs.as_slice() {
        ["posts"] if get => posts(st, req),
        ["posts", id] if get => by_id(st, "posts", "post", id),
        ["posts", id, "comments"] if get => comments(st, id),
        ["users"] if get => users(st, req),
        ["users", id] if get => by_id(st, "users", "user", id),
        ["users", id, "profile"] if get => profile(st, id),
        ["events"] if get => events(st, req),
        ["orders"] if get => orders(st, req),
        ["repos"] if get => repos(st, req),
        ["logs"] if get => logs(st, req),
        ["tags"] if get => Ok(Resp::ok(&json!({"tags": st.coll("tags")}))),
        ["stats"] if get => Ok(Resp::ok(&stats(st))),
        ["tickets"] if get => tickets(st, req),
        ["search"] if post => search(st, req, false),
        ["search", "scroll"] if post => search(st, req, true),
        ["oauth", "token"] if post => token(st, req),
        ["secure", kind] if get => secure(st, req, kind),
        ["posts"]
        | ["posts", _]
        | ["posts", _, "comments"]
        | ["users"]
        | ["users", _]
        | ["users", _, "profile"]
        | ["events"]
        | ["orders"]
        | ["repos"]
        | ["logs"]
        | ["tags"]
        | ["stats"]
        | ["tickets"]
        | ["search"]
        | ["search", "scroll"]
        | ["oauth", "token"]
        | ["secure", _] => Err(Resp::error(
            405,
            "method_not_allowed",
            format!("{method} is not allowed on {}", req.path),
        )),
        _ => Err(Resp::error(
            404,
            "not_found",
            format!("no endpoint {}", req.path),
        )),
    };
    match result {
        Ok(r) | Err(r) => r,
    }
}

fn bad_request(message: impl Into<String>) -> Resp {
    Resp::error(400, "bad_request", message)
}

/// Integer query parameter `name` in `min..=max`, `default` when absent.
fn int_param(req: &Req, name: &str, default: usize, min: usize, max: usize) -> Result<usize, Resp> {
    match req.param(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                bad_request(format!(
                    "`{name}` must be an integer from {min} to {max}, not `{v}`"
                ))
            }),
    }
}

/// Integer body field (`min..=max`), `default` when absent or null.
fn int_field(
    v: Option<&Json>,
    name: &str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, Resp> {
    match v {
        None | Some(Json::Null) => Ok(default),
        Some(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| bad_request(format!("`{name}` must be an integer from {min} to {max}"))),
    }
}

fn window(items: &[Json], start: usize, len: usize) -> Vec<Json> {
    items.iter().skip(start).take(len).cloned().collect()
}

fn pages(total: usize, per_page: usize) -> usize {
    total.div_ceil(per_page.max(1))
}

fn parse_id(id: &str) -> Option<Json> {
    id.parse::<i64>().ok().map(Json::from)
}

fn find_by_id(st: &State, collection: &str, id: &str) -> Option<Json> {
    let id = parse_id(id)?;
    st.coll(collection)
        .iter()
        .find(|r| r.get("id") == Some(&id))
        .cloned()
}

fn by_id(st: &State, collection: &str, what: &str, id: &str) -> Handled {
    find_by_id(st, collection, id)
        .map(|r| Resp::ok(&r))
        .ok_or_else(|| Resp::error(404, "not_found", format!("{what} {id} not found")))
}

/// `base` + `path` + the query of `req` with `set` replaced and `drop` left out; only
/// `path` + query when `relative`.
fn link(st: &State, req: &Req, set: &[(&str, String)], drop: &[&str], relative: bool) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &req.query {
        if !drop.contains(&k.as_str()) && !set.iter().any(|(s, _)| s == k) {
            ser.append_pair(k, v);
        }
    }
    for (k, v) in set {
        ser.append_pair(k, v);
    }
    let query = ser.finish();
    let path = &req.path;
    if relative {
        format!("{path}?{query}")
    } else {
        format!("{}{path}?{query}", st.base_url)
    }
}

fn encode_cursor(kind: &str, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{offset}"))
}

fn decode_cursor(kind: &str, cursor: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(cursor.trim().as_bytes()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (k, offset) = text.split_once(':')?;
    if k != kind {
        return None;
    }
    offset.parse().ok()
}

/// The offset a `cursor` query parameter (or body field) stands for (absent or empty: 0).
fn cursor_offset(kind: &str, cursor: Option<&str>) -> Result<usize, Resp> {
    match cursor {
        None | Some("") => Ok(0),
        Some(c) => {
            decode_cursor(kind, c).ok_or_else(|| bad_request(format!("invalid cursor `{c}`")))
        }
    }
}

fn posts(st: &State, req: &Req) -> Handled {
    let page = int_param(req, "page", 1, 1, 100_000)?;
    let per_page = int_param(req, "per_page", 5, 1, 100)?;
    let published = match req.param("published") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => {
            return Err(bad_request(format!(
                "`published` must be true or false, not `{v}`"
            )))
        }
    };
    let items: Vec<Json> = st
        .coll("posts")
        .iter()
        .filter(|p| published.is_none_or(|want| p.get("published") == Some(&Json::Bool(want))))
        .cloned()
        .collect();
    let total = items.len();
    let total_pages = pages(total, per_page);
    Ok(Resp::ok(&json!({
        "data": window(&items, (page - 1) * per_page, per_page),
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_pages": total_pages,
        "has_more": page < total_pages,
    })))
}

fn comments(st: &State, id: &str) -> Handled {
    let post_id = parse_id(id)
        .filter(|pid| st.coll("posts").iter().any(|p| p.get("id") == Some(pid)))
        .ok_or_else(|| Resp::error(404, "not_found", format!("post {id} not found")))?;
    let list: Vec<Json> = st
        .coll("comments")
        .iter()
        .filter(|c| c.get("post_id") == Some(&post_id))
        .cloned()
        .collect();
    Ok(Resp::ok(&Json::Array(list)))
}

fn users(st: &State, req: &Req) -> Handled {
    let offset = int_param(req, "offset", 0, 0, 1_000_000)?;
    let limit = int_param(req, "limit", 10, 1, 100)?;
    let items = st.coll("users");
    Ok(Resp::ok(&json!({
        "items": window(items, offset, limit),
        "total": items.len(),
        "offset": offset,
        "limit": limit,
    })))
}

fn profile(st: &State, id: &str) -> Handled {
    let user = find_by_id(st, "users", id)
        .ok_or_else(|| Resp::error(404, "not_found", format!("user {id} not found")))?;
    let uid = user.get("id").and_then(Json::as_i64).unwrap_or(0);
    if uid % 3 == 0 {
        return Err(Resp::error(
            404,
            "not_found",
            format!("user {uid} has no profile"),
        ));
    }
    Ok(Resp::ok(&json!({
        "user_id": uid,
        "display_name": user.get("name"),
        "theme": if uid % 2 == 0 { "dark" } else { "light" },
        "links": [
            {"kind": "homepage", "url": format!("https://example.com/~user{uid}")},
        ],
        "followers": uid * 11 % 97,
    })))
}

fn events(st: &State, req: &Req) -> Handled {
    let limit = int_param(req, "limit", 8, 1, 100)?;
    let offset = cursor_offset("events", req.param("cursor"))?;
    let user = match req.param("user_id") {
        None => None,
        Some(u) => Some(
            u.parse::<i64>()
                .map_err(|_| bad_request(format!("`user_id` must be an integer, not `{u}`")))?,
        ),
    };
    let kind = req.param("type");
    let items: Vec<Json> = st
        .coll("events")
        .iter()
        .filter(|e| user.is_none_or(|u| e.get("user_id").and_then(Json::as_i64) == Some(u)))
        .filter(|e| kind.is_none_or(|k| e.get("type").and_then(Json::as_str) == Some(k)))
        .cloned()
        .collect();
    let page = window(&items, offset, limit);
    let next = (offset + limit < items.len()).then(|| encode_cursor("events", offset + limit));
    Ok(Resp::ok(&json!({
        "results": page,
        "cursors": {"next": next},
        "count": page.len(),
    })))
}

fn orders(st: &State, req: &Req) -> Handled {
    let page = int_param(req, "page", 1, 1, 100_000)?;
    let per_page = int_param(req, "per_page", 6, 1, 100)?;
    let relative = match req.param("link") {
        None | Some("absolute") => false,
        Some("relative") => true,
        Some(v) => {
            return Err(bad_request(format!(
                "`link` must be absolute or relative, not `{v}`"
            )))
        }
    };
    let items = st.coll("orders");
    let next = (page < pages(items.len(), per_page))
        .then(|| link(st, req, &[("page", (page + 1).to_string())], &[], relative));
    Ok(Resp::ok(&json!({
        "orders": window(items, (page - 1) * per_page, per_page),
        "next": next,
        "page": page,
    })))
}

fn repos(st: &State, req: &Req) -> Handled {
    let page = int_param(req, "page", 1, 1, 100_000)?;
    let per_page = int_param(req, "per_page", 5, 1, 100)?;
    let items = st.coll("repos");
    let last = pages(items.len(), per_page).max(1);
    let at = |p: usize| link(st, req, &[("page", p.to_string())], &[], false);
    let mut links = Vec::new();
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", at(page + 1)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", at(page - 1)));
    }
    links.push(format!("<{}>; rel=\"first\"", at(1)));
    links.push(format!("<{}>; rel=\"last\"", at(last)));
    Ok(
        Resp::ok(&Json::Array(window(items, (page - 1) * per_page, per_page)))
            .header("Link", links.join(", ")),
    )
}

fn logs(st: &State, req: &Req) -> Handled {
    let limit = int_param(req, "limit", 6, 1, 100)?;
    let offset = cursor_offset("logs", req.param("cursor"))?;
    let items = st.coll("logs");
    let mut resp = Resp::ok(&Json::Array(window(items, offset, limit)));
    if offset + limit < items.len() {
        resp = resp.header(NEXT_CURSOR_HEADER, encode_cursor("logs", offset + limit));
    }
    Ok(resp)
}

fn stats(st: &State) -> Json {
    let mut by_status = Map::new();
    for status in ["open", "pending", "solved", "closed"] {
        let n = st
            .coll("tickets")
            .iter()
            .filter(|t| t.get("status").and_then(Json::as_str) == Some(status))
            .count();
        by_status.insert(status.to_string(), json!(n));
    }
    json!({
        "posts": st.coll("posts").len(),
        "users": st.coll("users").len(),
        "comments": st.coll("comments").len(),
        "generated_at": "2024-06-01T12:00:00Z",
        "healthy": true,
        "by_status": by_status,
    })
}

/// An ISO timestamp (RFC 3339, or without offset: UTC, or a date: midnight UTC).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn time_param(req: &Req, name: &str) -> Result<Option<DateTime<Utc>>, Resp> {
    match req.param(name) {
        None | Some("") => Ok(None),
        Some(v) => parse_time(v).map(Some).ok_or_else(|| {
            bad_request(format!("`{name}` must be an ISO 8601 timestamp, not `{v}`"))
        }),
    }
}

fn tickets(st: &State, req: &Req) -> Handled {
    let since = time_param(req, "updated_since")?;
    let until = time_param(req, "updated_until")?;
    let page = int_param(req, "page", 1, 1, 100_000)?;
    let per_page = int_param(req, "per_page", 5, 1, 100)?;
    let mut items: Vec<(DateTime<Utc>, i64, Json)> = st
        .coll("tickets")
        .iter()
        .filter_map(|t| {
            let at = t
                .get("updated_at")
                .and_then(Json::as_str)
                .and_then(parse_time)?;
            let id = t.get("id").and_then(Json::as_i64).unwrap_or(0);
            Some((at, id, t.clone()))
        })
        .filter(|(at, _, _)| since.is_none_or(|s| *at >= s) && until.is_none_or(|u| *at < u))
        .collect();
    items.sort_by_key(|a| (a.0, a.1));
    let items: Vec<Json> = items.into_iter().map(|(_, _, t)| t).collect();
    Ok(Resp::ok(&json!({
        "tickets": window(&items, (page - 1) * per_page, per_page),
        "page": page,
        "per_page": per_page,
        "total": items.len(),
        "total_pages": pages(items.len(), per_page),
    })))
}

/// `/search` (`scroll`: `/search/scroll`, always in cursor mode, no cursor at first).
fn search(st: &State, req: &Req, scroll: bool) -> Handled {
    let body: Json = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| bad_request(format!("the body must be JSON: {e}")))?
    };
    let Json::Object(body) = body else {
        return Err(bad_request("the body must be a JSON object"));
    };
    let query = match body.get("query") {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(q)) => q.to_lowercase(),
        Some(_) => return Err(bad_request("`query` must be a string")),
    };
    let items: Vec<Json> = st
        .coll("docs")
        .iter()
        .filter(|d| {
            query.is_empty()
                || d.get("title")
                    .and_then(Json::as_str)
                    .is_some_and(|t| t.to_lowercase().contains(&query))
        })
        .cloned()
        .collect();
    let total = items.len();
    let paging = body.get("paging");
    if scroll || body.contains_key("cursor") {
        let limit = int_field(body.get("limit"), "limit", 5, 1, 100)?;
        let cursor = match body.get("cursor") {
            None | Some(Json::Null) => None,
            Some(Json::String(c)) => Some(c.as_str()),
            Some(_) => return Err(bad_request("`cursor` must be a string or null")),
        };
        let offset = cursor_offset("search", cursor)?;
        let next = (offset + limit < total).then(|| encode_cursor("search", offset + limit));
        Ok(Resp::ok(&json!({
            "hits": window(&items, offset, limit),
            "total": total,
            "next_cursor": next,
        })))
    } else if body.contains_key("offset") {
        let offset = int_field(body.get("offset"), "offset", 0, 0, 1_000_000)?;
        let limit = int_field(body.get("limit"), "limit", 5, 1, 100)?;
        Ok(Resp::ok(&json!({
            "hits": window(&items, offset, limit),
            "total": total,
            "offset": offset,
            "limit": limit,
        })))
    } else {
        let page_v = body
            .get("page")
            .or_else(|| paging.and_then(|p| p.get("page")));
        let size_v = body
            .get("page_size")
            .or_else(|| paging.and_then(|p| p.get("size")));
        let page = int_field(page_v, "page", 1, 1, 100_000)?;
        let size = int_field(size_v, "page_size", 5, 1, 100)?;
        Ok(Resp::ok(&json!({
            "hits": window(&items, (page - 1) * size, size),
            "total": total,
            "page": page,
            "page_size": size,
            "total_pages": pages(total, size),
        })))
    }
}

fn unauthorized(scheme: &str, message: &str) -> Resp {
    Resp::error(401, "unauthorized", message)
        .header("WWW-Authenticate", format!("{scheme} realm=\"fixture\""))
}

/// The credentials of `Authorization: <scheme> <credentials>` (scheme in any case).
fn authorization<'a>(req: &'a Req, scheme: &str) -> Option<&'a str> {
    let value = req.header("authorization")?.trim();
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let encoded = authorization(req, "Basic")?;
    let decoded = STANDARD.decode(encoded.as_bytes()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn secure(st: &mut State, req: &Req, kind: &str) -> Handled {
    match kind {
        "bearer" => {
            if authorization(req, "Bearer") != Some(BEARER_TOKEN) {
                return Err(unauthorized("Bearer", "missing or invalid bearer token"));
            }
        }
        "api-key" => {
            if req.header(&API_KEY_HEADER.to_ascii_lowercase()) != Some(API_KEY) {
                return Err(unauthorized(
                    "ApiKey",
                    &format!("missing or invalid {API_KEY_HEADER} header"),
                ));
            }
        }
        "api-key-query" => {
            if req.param(API_KEY_PARAM) != Some(API_KEY) {
                return Err(unauthorized(
                    "ApiKey",
                    &format!("missing or invalid `{API_KEY_PARAM}` query parameter"),
                ));
            }
        }
        "basic" => {
            let ok = basic_credentials(req)
                .is_some_and(|(u, p)| u == BASIC_USERNAME && p == BASIC_PASSWORD);
            if !ok {
                return Err(unauthorized(
                    "Basic",
                    "missing or invalid basic credentials",
                ));
            }
        }
        "oauth" => {
            let now = Instant::now();
            st.tokens.retain(|t| t.expires > now);
            let token = authorization(req, "Bearer");
            if !token.is_some_and(|tok| st.tokens.iter().any(|t| t.value == tok)) {
                return Err(unauthorized(
                    "Bearer",
                    "missing, unknown or expired access token",
                ));
            }
        }
        other => {
            return Err(Resp::error(
                404,
                "not_found",
                format!("no endpoint /secure/{other}"),
            ))
        }
    }
    let page = int_param(req, "page", 1, 1, 100_000)?;
    let items = st.coll("accounts");
    let next = (page < pages(items.len(), SECURE_PAGE_SIZE)).then(|| {
        link(
            st,
            req,
            &[("page", (page + 1).to_string())],
            &[API_KEY_PARAM],
            false,
        )
    });
    Ok(Resp::ok(&json!({
        "data": window(items, (page - 1) * SECURE_PAGE_SIZE, SECURE_PAGE_SIZE),
        "next": next,
    })))
}

fn token(st: &mut State, req: &Req) -> Handled {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let (id, secret) = match basic_credentials(req) {
        Some(creds) => creds,
        None => (
            first(&form, "client_id").unwrap_or("").to_string(),
            first(&form, "client_secret").unwrap_or("").to_string(),
        ),
    };
    if first(&form, "grant_type") != Some("client_credentials") {
        return Err(Resp::json(
            400,
            &json!({"error": "unsupported_grant_type", "message": "grant_type must be client_credentials"}),
        ));
    }
    if id != OAUTH_CLIENT_ID || secret != OAUTH_CLIENT_SECRET {
        return Err(Resp::json(
            401,
            &json!({"error": "invalid_client", "message": "unknown client or wrong secret"}),
        ));
    }
    st.tokens_issued += 1;
    let value = format!("fixture-oauth-token-{}", st.tokens_issued);
    st.tokens.push(Token {
        value: value.clone(),
        expires: Instant::now() + Duration::from_secs(st.oauth_expires_in),
    });
    Ok(Resp::ok(&json!({
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": st.oauth_expires_in,
    })))
}

// ---------------------------------------------------------------------------------------
// data

/// `2024-01-01T00:00:00Z` plus `minutes`, as `YYYY-MM-DDTHH:MM:SSZ`.
fn ts(minutes: i64) -> String {
    DateTime::from_timestamp(1_704_067_200 + minutes * 60, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn seed() -> BTreeMap<String, Vec<Json>> {
    let mut data = BTreeMap::new();
    data.insert("accounts".to_string(), accounts());
    data.insert("comments".to_string(), comments_data());
    data.insert("docs".to_string(), docs());
    data.insert("events".to_string(), events_data());
    data.insert("logs".to_string(), logs_data());
    data.insert("orders".to_string(), orders_data());
    data.insert("posts".to_string(), posts_data());
    data.insert("repos".to_string(), repos_data());
    data.insert("tags".to_string(), tags_data());
    data.insert("tickets".to_string(), tickets_data());
    data.insert("users".to_string(), users_data());
    data
}

const TAG_NAMES: [&str; 8] = [
    "rust",
    "python",
    "data",
    "postgres",
    "http",
    "json",
    "testing",
    "ünïcode",
];

/// 23 posts: nested `author` and `meta.flags`, a `tags` list (empty for some), a
/// `revisions` list of objects with an `editors` list (two levels of child tables), an
/// always-null `archived_at`, a `views` beyond 2^53 on post 23.
fn posts_data() -> Vec<Json> {
    const TITLES: [&str; 8] = [
        "Hello, world",
        "Ownership & borrowing explained",
        "Ünïcödé handling: naïve café",
        "Why \"zero-cost\" abstractions?",
        "日本語のタイトル",
        "Emoji 🚀 in titles",
        "Back\\slashes and 'quotes'",
        "Пост на русском",
    ];
    const AUTHORS: [(&str, &str); 5] = [
        ("Ada Lovelace", "@ada"),
        ("Zoë Ångström", "@zoe"),
        ("李雷", "@lilei"),
        ("Seán O'Brien", "@sean"),
        ("José Álvarez", "@jose"),
    ];
    (1..=23usize)
        .map(|i| {
            let n = i as i64;
            let (name, handle) = AUTHORS[i % 5];
            let tags: Vec<&str> = (0..i % 4).map(|k| TAG_NAMES[(i + k * 3) % 8]).collect();
            let body = match i % 5 {
                0 => Json::Null,
                1 => json!(format!(
                    "Line one of post {i}.\nLine two with \"double\" and 'single' quotes."
                )),
                2 => json!("Tabs\tand back\\slashes, then a trailing newline\n"),
                3 => json!(format!("Short post {i}")),
                _ => json!("Ünïcödé ✓ — em dash, “curly quotes”, emoji 🎉"),
            };
            let revisions = if i % 6 == 1 {
                json!([
                    {"rev": 1, "at": ts(n * 1440 + 120), "editors": ["ada", "zoe"]},
                    {"rev": 2, "at": ts(n * 1440 + 360), "editors": ["lilei"], "note": null},
                ])
            } else {
                json!([])
            };
            json!({
                "id": i,
                "title": format!("{} #{i}", TITLES[i % 8]),
                "body": body,
                "author": {"id": i % 5 + 1, "name": name, "handle": handle},
                "tags": tags,
                "published": i % 3 != 0,
                "rating": if i % 7 == 0 { Json::Null } else { json!(1.0 + (i % 9) as f64 * 0.5) },
                "views": if i == 23 { json!(9_007_199_254_740_993_u64) } else { json!(i * 137 % 1000) },
                "created_at": ts(n * 1440 + n * 37),
                "meta": {
                    "lang": (["en", "de", "ja"][i % 3]),
                    "word_count": 100 + i * 13,
                    "flags": {"pinned": i == 1, "featured": i % 5 == 0},
                },
                "revisions": revisions,
                "archived_at": null,
            })
        })
        .collect()
}

/// Comments of the posts: 0 to 3 a post (none for posts 1, 5, 9, 13, 17, 21); a
/// camelCase key (`likeCount`), `reply_to` null on the first comment of a post.
fn comments_data() -> Vec<Json> {
    const WHO: [&str; 6] = ["Zoë", "Seán O'Brien", "李雷", "Ngozi", "Björn", "anonymous"];
    const TEXTS: [&str; 6] = [
        "Great post!",
        "I disagree:\nsee \"RFC 9110\", section 15.",
        "👍👍",
        "Merci beaucoup — très utile",
        "SELECT * FROM \"users\"; -- not an injection",
        "Windows line\r\nendings",
    ];
    let mut out = Vec::new();
    let mut id = 1usize;
    for post in 1..=23usize {
        for k in 0..(post * 5 + 3) % 4 {
            out.push(json!({
                "id": id,
                "post_id": post,
                "author": WHO[id % 6],
                "text": TEXTS[(id * 5) % 6],
                "likeCount": (id * 3) % 11,
                "created_at": ts(post as i64 * 1440 + 60 * (k as i64 + 1)),
                "edited": id.is_multiple_of(4),
                "reply_to": if k > 0 { json!(id - 1) } else { Json::Null },
            }));
            id += 1;
        }
    }
    out
}

/// 27 users: nested `address.geo` (null for users 10 and 20), a `roles` list, a date
/// string, nullable `last_login` and `bio` (also an empty string), `external_id` beyond
/// 2^53 on user 27.
fn users_data() -> Vec<Json> {
    const FIRST: [&str; 9] = [
        "Ada",
        "Zoë",
        "Lei",
        "Дмитрий",
        "Seán",
        "José",
        "Ngozi",
        "Björn",
        "Émilie",
    ];
    const LAST: [&str; 3] = ["Ångström", "O'Brien", "李"];
    const CITIES: [(&str, &str); 5] = [
        ("Oslo", "NO"),
        ("Zürich", "CH"),
        ("São Paulo", "BR"),
        ("東京", "JP"),
        ("New York", "US"),
    ];
    (1..=27usize)
        .map(|i| {
            let (city, country) = CITIES[i % 5];
            let mut roles = vec!["user"];
            if i % 5 == 0 {
                roles.push("admin");
            }
            if i % 3 == 0 {
                roles.push("editor");
            }
            let address = if i % 10 == 0 {
                Json::Null
            } else {
                json!({
                    "street": format!("{} Fixture Street", i * 3),
                    "city": city,
                    "country": country,
                    "geo": {"lat": 40.5 + i as f64 * 0.25, "lng": -3.75 + i as f64 * 0.5},
                })
            };
            let bio = match i % 4 {
                0 => Json::Null,
                1 => json!("Loves \"Rust\".\nAlso: coffee ☕"),
                2 => json!(""),
                _ => json!("C:\\Users\\fixture\\bio.txt"),
            };
            json!({
                "id": i,
                "name": format!("{} {}", FIRST[(i - 1) % 9], LAST[(i - 1) / 9]),
                "email": format!("user{i}@example.com"),
                "active": i % 4 != 0,
                "score": (i * 37 % 100) as f64 / 4.0,
                "signup_date": format!("2023-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
                "address": address,
                "roles": roles,
                "last_login": if i % 3 == 0 { Json::Null } else { json!(ts(i as i64 * 500)) },
                "bio": bio,
                "external_id": if i == 27 { json!(9_007_199_254_740_993_u64) } else { json!(1_000_000 + i) },
            })
        })
        .collect()
}

/// 31 events: string ids, `value` only on purchases, nested `properties`.
fn events_data() -> Vec<Json> {
    const TYPES: [&str; 4] = ["click", "view", "purchase", "signup"];
    (1..=31usize)
        .map(|i| {
            let kind = TYPES[i % 4];
            json!({
                "id": format!("evt_{i:04}"),
                "type": kind,
                "user_id": (i * 7) % 27 + 1,
                "occurred_at": ts(i as i64 * 95),
                "value": if kind == "purchase" { json!(9.75 * (i % 5 + 1) as f64) } else { Json::Null },
                "properties": {
                    "path": format!("/p/{}", i % 6),
                    "referrer": if i % 3 == 0 { Json::Null } else { json!("https://example.com/?q=a&b=c") },
                    "mobile": i % 2 == 0,
                },
            })
        })
        .collect()
}

/// 19 orders: a list of line items (a child table), nested `shipping.address` (null on
/// every fourth order), prices in quarters so totals are exact.
fn orders_data() -> Vec<Json> {
    const STATUS: [&str; 4] = ["pending", "paid", "shipped", "cancelled"];
    const PRODUCTS: [&str; 5] = [
        "Widget",
        "Gadget “Pro”",
        "Ünïcorn plush",
        "Cable, 2 m",
        "Mug",
    ];
    (1..=19usize)
        .map(|i| {
            let items: Vec<Json> = (0..i % 3 + 1)
                .map(|k| {
                    json!({
                        "sku": format!("SKU-{:03}", (i * 7 + k * 11) % 50),
                        "name": PRODUCTS[(i + k) % 5],
                        "qty": k + 1,
                        "price": 2.25 * ((i + k) % 7 + 1) as f64,
                    })
                })
                .collect();
            let total: f64 = (0..i % 3 + 1)
                .map(|k| (k + 1) as f64 * 2.25 * ((i + k) % 7 + 1) as f64)
                .sum();
            let address = if i % 4 == 0 {
                Json::Null
            } else {
                json!({"city": (["Berlin", "Kraków", "Lyon"][i % 3]), "zip": format!("{:05}", i * 137)})
            };
            let note = match i % 5 {
                0 => json!("Leave at the door, \"please\""),
                1 | 3 => Json::Null,
                2 => json!("Gift wrap\nwith a card"),
                _ => json!("Ünïcode note ✓"),
            };
            json!({
                "id": 1000 + i,
                "customer_id": (i * 5) % 27 + 1,
                "status": STATUS[i % 4],
                "placed_at": ts(i as i64 * 300),
                "currency": (["EUR", "USD", "JPY"][i % 3]),
                "items": items,
                "total": total,
                "shipping": {"method": if i % 2 == 0 { "express" } else { "standard" }, "address": address},
                "note": note,
                "gift": i % 6 == 0,
            })
        })
        .collect()
}

/// 14 repositories (GitHub-like): nested `owner`, a `topics` list, nullable `language`.
fn repos_data() -> Vec<Json> {
    const LANGS: [Option<&str>; 4] = [Some("Rust"), Some("Python"), None, Some("Go")];
    (1..=14usize)
        .map(|i| {
            let topics: Vec<&str> = (0..i % 3).map(|k| TAG_NAMES[(i + k) % 8]).collect();
            json!({
                "id": 500 + i,
                "name": format!("repo-{i:02}"),
                "full_name": format!("fixture-org/repo-{i:02}"),
                "private": i % 4 == 0,
                "stars": i * i * 3,
                "language": LANGS[i % 4],
                "topics": topics,
                "owner": {"login": "fixture-org", "id": 42, "type": "Organization"},
                "created_at": ts(-(i as i64) * 10_000),
                "description": if i % 5 == 0 { Json::Null } else { json!(format!("Repo {i}: «quoted» and \"escaped\"")) },
            })
        })
        .collect()
}

/// 17 log lines: messages with newlines, tabs, quotes and backslashes, nested `context`.
fn logs_data() -> Vec<Json> {
    const LEVELS: [&str; 4] = ["DEBUG", "INFO", "WARN", "ERROR"];
    const MESSAGES: [&str; 5] = [
        "started",
        "request failed:\n  status=500\n  body=\"oops\"",
        "path C:\\temp\\x.log\tnot found",
        "user 'zoë' logged in ✓",
        "",
    ];
    (1..=17usize)
        .map(|i| {
            json!({
                "id": i,
                "level": LEVELS[i % 4],
                "message": MESSAGES[i % 5],
                "ts": ts(10_000 + i as i64 * 3),
                "context": {
                    "service": (["api", "worker", "db"][i % 3]),
                    "request_id": format!("req-{:06x}", i * 7919),
                    "duration_ms": 0.5 * (i * 13 % 40) as f64,
                },
            })
        })
        .collect()
}

/// 8 tags, a single page.
fn tags_data() -> Vec<Json> {
    TAG_NAMES
        .iter()
        .enumerate()
        .map(|(k, name)| {
            json!({
                "name": name,
                "count": (k + 1) * 7,
                "color": if k % 3 == 2 { Json::Null } else { json!(format!("#{:06x}", k * 0x1f2e3d)) },
                "description": format!("Posts about {name}"),
            })
        })
        .collect()
}

/// Minutes after 2024-01-01 of the `updated_at` of tickets 1 to 12: not in id order,
/// tickets 1 and 3 before 2024.
const TICKET_UPDATED: [i64; 12] = [
    -3_000, 5_000, -1_000, 7_000, 12_000, 9_000, 15_000, 20_000, 18_000, 26_000, 24_000, 30_000,
];

/// 12 tickets for the incremental endpoint: distinct `updated_at`, nullable `assignee`
/// and `priority`, a `labels` list, nested `custom_fields`.
fn tickets_data() -> Vec<Json> {
    const SUBJECTS: [&str; 6] = [
        "Login fails with \"invalid token\"",
        "Export to CSV broken",
        "Ümlauts garbled in PDF",
        "Feature request: dark mode 🌙",
        "Timeout on /api/v2/search",
        "Billing: charged twice\n(see attachment)",
    ];
    const AGENTS: [&str; 4] = ["Ana", "Bo", "Chen", "Dagný"];
    const LABELS: [&str; 5] = ["bug", "ui", "billing", "p1", "customer"];
    TICKET_UPDATED
        .iter()
        .enumerate()
        .map(|(k, updated)| {
            let i = k + 1;
            let labels: Vec<&str> = (0..i % 3).map(|j| LABELS[(i + j) % 5]).collect();
            json!({
                "id": i,
                "subject": SUBJECTS[i % 6],
                "status": (["open", "pending", "solved", "closed"][i % 4]),
                "priority": if i % 5 == 0 { Json::Null } else { json!(["low", "normal", "high", "urgent"][i % 4]) },
                "created_at": ts(updated - 2_000 - i as i64 * 10),
                "updated_at": ts(*updated),
                "assignee": if i % 3 == 0 { Json::Null } else { json!({"id": i % 4 + 1, "name": AGENTS[i % 4]}) },
                "labels": labels,
                "custom_fields": {"sla_hours": 24 * (i % 3 + 1), "vip": i % 5 == 0},
            })
        })
        .collect()
}

/// 16 documents for `/search`: a list of author objects (empty on doc 16).
fn docs() -> Vec<Json> {
    const TITLES: [&str; 8] = [
        "Paginating REST APIs",
        "JSON path in practice",
        "Incremental loading",
        "Ünïcode normalization",
        "Rate limits and Retry-After",
        "OAuth2 client credentials",
        "Schema evolution",
        "Merge vs append",
    ];
    const NAMES: [&str; 5] = [
        "A. Turing",
        "G. Hopper",
        "K. Gödel",
        "E. Noether",
        "S. Ramanujan",
    ];
    (1..=16usize)
        .map(|i| {
            let authors: Vec<Json> = if i == 16 {
                Vec::new()
            } else {
                (0..i % 3 + 1)
                    .map(|k| {
                        json!({
                            "name": NAMES[(i + k) % 5],
                            "affiliation": if (i + k) % 4 == 0 { Json::Null } else { json!(format!("Institute {}", (i + k) % 4)) },
                        })
                    })
                    .collect()
            };
            json!({
                "id": i,
                "title": format!("{} (part {})", TITLES[i % 8], i / 8 + 1),
                "kind": (["paper", "note", "book"][i % 3]),
                "score": 0.25 * (i * 7 % 17) as f64,
                "published_on": format!("2022-{:02}-15", i % 12 + 1),
                "authors": authors,
                "abstract": if i % 4 == 0 { Json::Null } else { json!(format!("Abstract {i}:\n\"quoted\" text")) },
            })
        })
        .collect()
}

/// 7 accounts behind the `/secure/...` endpoints.
fn accounts() -> Vec<Json> {
    const NAMES: [&str; 7] = [
        "Acme Corp",
        "Globex",
        "Initech",
        "Umbrella «EU»",
        "Stark Industries",
        "Wayne Enterprises",
        "Cyberdyne",
    ];
    NAMES
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let i = k + 1;
            json!({
                "id": i,
                "name": name,
                "plan": (["free", "pro", "enterprise"][i % 3]),
                "balance": 125.5 * i as f64 - 300.0,
                "currency": "EUR",
                "owner": {"email": format!("owner{i}@example.com"), "verified": i % 2 == 1},
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// GET `url`: status, headers (lowercase name, value) and body.
    fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
        let mut req = agent().get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.call().unwrap();
        let status = resp.status().as_u16();
        let hs = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let body = resp.body_mut().read_to_string().unwrap();
        (status, hs, body)
    }

    fn get_json(url: &str) -> Json {
        let (status, _, body) = get(url, &[]);
        assert_eq!(status, 200, "{url}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn post(url: &str, content_type: &str, body: &str) -> (u16, Json) {
        let mut resp = agent()
            .post(url)
            .header("Content-Type", content_type)
            .send(body)
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    fn ids(v: &Json) -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    }

    #[test]
    fn page_number_offset_and_cursor_pagination() {
        let api = FixtureApi::start().unwrap();
        let base = api.url();
        let p1 = get_json(&format!("{base}/posts"));
        assert_eq!(ids(&p1["data"]), vec![1, 2, 3, 4, 5]);
        assert_eq!(p1["total"], json!(23));
        assert_eq!(p1["total_pages"], json!(5));
        assert_eq!(p1["has_more"], json!(true));
        let p5 = get_json(&format!("{base}/posts?page=5&per_page=5"));
        assert_eq!(ids(&p5["data"]), vec![21, 22, 23]);
        assert_eq!(p5["has_more"], json!(false));
        let p6 = get_json(&format!("{base}/posts?page=6"));
        assert_eq!(ids(&p6["data"]), Vec::<i64>::new());
        let (status, _, body) = get(&format!("{base}/posts?page=0"), &[]);
        assert_eq!(status, 400, "{body}");

        let u = get_json(&format!("{base}/users?offset=20&limit=10"));
        assert_eq!(ids(&u["items"]), (21..=27).collect::<Vec<_>>());
        assert_eq!(u["total"], json!(27));

        // walk the events cursor to its end
        let mut seen = Vec::new();
        let mut url = format!("{base}/events");
        loop {
            let page = get_json(&url);
            for e in page["results"].as_array().unwrap() {
                seen.push(e["id"].as_str().unwrap().to_string());
            }
            match page["cursors"]["next"].as_str() {
                Some(c) => url = format!("{base}/events?cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 31);
        assert_eq!(seen[0], "evt_0001");
        assert_eq!(api.request_count("/events"), 4);
        let log = api.requests();
        assert_eq!(log.last().unwrap().param("cursor"), Some("ZXZlbnRzOjI0"));
    }

    #[test]
    fn link_header_json_link_and_header_cursor() {
        let api = FixtureApi::start().unwrap();
        let base = api.url();
        let (status, headers, body) = get(&format!("{base}/repos?per_page=5"), &[]);
        assert_eq!(status, 200);
        assert_eq!(ids(&serde_json::from_str(&body).unwrap()).len(), 5);
        let link = &headers.iter().find(|(k, _)| k == "link").unwrap().1;
        assert!(
            link.contains(&format!("<{base}/repos?per_page=5&page=2>; rel=\"next\"")),
            "{link}"
        );
        assert!(link.contains("page=3>; rel=\"last\""), "{link}");
        let (_, headers, _) = get(&format!("{base}/repos?per_page=5&page=3"), &[]);
        let link = &headers.iter().find(|(k, _)| k == "link").unwrap().1;
        assert!(!link.contains("rel=\"next\""), "{link}");

        let o1 = get_json(&format!("{base}/orders"));
        assert_eq!(o1["next"], json!(format!("{base}/orders?page=2")));
        let o4 = get_json(&format!("{base}/orders?page=4"));
        assert_eq!(o4["next"], Json::Null);
        assert_eq!(ids(&o4["orders"]), vec![1019]);
        let rel = get_json(&format!("{base}/orders?link=relative"));
        assert_eq!(rel["next"], json!("/orders?link=relative&page=2"));

        let (_, headers, body) = get(&format!("{base}/logs"), &[]);
        let cursor = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(NEXT_CURSOR_HEADER))
            .map(|(_, v)| v.clone())
            .unwrap();
        assert_eq!(
            ids(&serde_json::from_str(&body).unwrap()),
            (1..=6).collect::<Vec<_>>()
        );
        let (_, headers, body) = get(&format!("{base}/logs?cursor={cursor}&limit=20"), &[]);
        assert_eq!(
            ids(&serde_json::from_str(&body).unwrap()),
            (7..=17).collect::<Vec<_>>()
        );
        assert!(!headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(NEXT_CURSOR_HEADER)));
    }

    #[test]
    fn search_body_paging() {
        let api = FixtureApi::start().unwrap();
        let url = format!("{}/search", api.url());
        let (s, v) = post(
            &url,
            "application/json",
            r#"{"paging": {"page": 4, "size": 5}}"#,
        );
        assert_eq!(s, 200);
        assert_eq!(ids(&v["hits"]), vec![16]);
        assert_eq!(v["total_pages"], json!(4));
        let (_, v) = post(&url, "application/json", r#"{"offset": 12, "limit": 3}"#);
        assert_eq!(ids(&v["hits"]), vec![13, 14, 15]);
        let (_, v) = post(&url, "application/json", r#"{"cursor": null, "limit": 10}"#);
        let next = v["next_cursor"].as_str().unwrap().to_string();
        let (_, v) = post(
            &url,
            "application/json",
            &json!({"cursor": next, "limit": 10}).to_string(),
        );
        assert_eq!(ids(&v["hits"]), (11..=16).collect::<Vec<_>>());
        assert_eq!(v["next_cursor"], Json::Null);
        let (s, _) = post(&url, "application/json", "[1]");
        assert_eq!(s, 400);
        assert_eq!(
            api.requests()[0].json_body(),
            Some(json!({"paging": {"page": 4, "size": 5}}))
        );
    }

    #[test]
    fn tickets_since_and_mutation() {
        let api = FixtureApi::start().unwrap();
        let base = api.url();
        let all = get_json(&format!("{base}/tickets?per_page=100"));
        assert_eq!(
            ids(&all["tickets"]),
            vec![1, 3, 2, 4, 6, 5, 7, 9, 8, 11, 10, 12]
        );
        let since = get_json(&format!(
            "{base}/tickets?updated_since=2024-01-01T00:00:00Z&per_page=100"
        ));
        assert_eq!(since["total"], json!(10));
        api.upsert(
            "tickets",
            json!({"id": 3, "status": "solved", "updated_at": "2024-03-01T09:00:00Z"}),
        )
        .unwrap();
        let later = get_json(&format!(
            "{base}/tickets?updated_since=2024-01-21T20:00:00%2B00:00"
        ));
        assert_eq!(ids(&later["tickets"]), vec![12, 3]);
        assert_eq!(
            later["tickets"][1]["subject"],
            json!("Feature request: dark mode 🌙")
        );
        let (status, _, _) = get(&format!("{base}/tickets?updated_since=yesterday"), &[]);
        assert_eq!(status, 400);
        // a control call over HTTP restores the initial data
        let (s, _) = post(&format!("{base}/_control/reset"), "application/json", "");
        assert_eq!(s, 200);
        assert_eq!(api.records("tickets")[2]["status"], json!("closed"));
        assert!(api
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/_control")));
    }

    #[test]
    fn failure_injection() {
        let api = FixtureApi::start().unwrap();
        let base = api.url();
        api.inject(Fault::status("/posts", 503).times(2).retry_after("1"));
        for _ in 0..2 {
            let (status, headers, body) = get(&format!("{base}/posts"), &[]);
            assert_eq!(status, 503);
            assert!(headers.iter().any(|(k, v)| k == "retry-after" && v == "1"));
            assert!(body.contains("injected"));
        }
        assert_eq!(get(&format!("{base}/posts"), &[]).0, 200);

        api.malformed_page("/posts", 2);
        let (status, _, body) = get(&format!("{base}/posts?page=2"), &[]);
        assert_eq!(status, 200);
        assert!(serde_json::from_str::<Json>(&body).is_err());
        get_json(&format!("{base}/posts?page=3"));
        let (_, _, body) = get(&format!("{base}/posts?page=2"), &[]);
        assert!(serde_json::from_str::<Json>(&body).is_err(), "always");

        api.truncate_next("/users", 1);
        let cut = agent()
            .get(&format!("{base}/users"))
            .call()
            .and_then(|mut r| r.body_mut().read_to_string());
        assert!(cut.is_err(), "{cut:?}");
        get_json(&format!("{base}/users"));

        // a fault injected over HTTP
        let (s, _) = post(
            &format!("{base}/_control/fault"),
            "application/json",
            r#"{"path": "/tags", "status": 429, "retry_after": 0}"#,
        );
        assert_eq!(s, 200);
        assert_eq!(get(&format!("{base}/tags"), &[]).0, 429);
        assert_eq!(get(&format!("{base}/tags"), &[]).0, 200);
        let statuses: Vec<u16> = api.requests().iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![503, 503, 200, 200, 200, 200, 200, 200, 429, 200]
        );
        let faults: Vec<&str> = api
            .requests()
            .iter()
            .map(|r| r.fault.as_ref().map_or("-", FaultKind::name))
            .collect();
        assert_eq!(
            faults,
            [
                "status",
                "status",
                "-",
                "malformed",
                "-",
                "malformed",
                "truncated",
                "-",
                "status",
                "-"
            ]
        );
        assert!(Fault::from_json(&json!({"path": "/x", "kind": "nope"})).is_err());
    }

    #[test]
    fn auth_kinds() {
        let api = FixtureApi::start().unwrap();
        let base = api.url();
        let bearer = format!("Bearer {BEARER_TOKEN}");
        let (s, h, body) = get(&format!("{base}/secure/bearer"), &[]);
        assert_eq!(s, 401);
        assert!(h.iter().any(|(k, _)| k == "www-authenticate"));
        assert_eq!(
            serde_json::from_str::<Json>(&body).unwrap()["error"],
            json!("unauthorized")
        );
        let (s, _, body) = get(
            &format!("{base}/secure/bearer"),
            &[("Authorization", bearer.as_str())],
        );
        assert_eq!(s, 200);
        let v: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(ids(&v["data"]), vec![1, 2, 3, 4]);
        assert_eq!(v["next"], json!(format!("{base}/secure/bearer?page=2")));

        assert_eq!(
            get(
                &format!("{base}/secure/api-key"),
                &[(API_KEY_HEADER, API_KEY)]
            )
            .0,
            200
        );
        assert_eq!(
            get(
                &format!("{base}/secure/api-key"),
                &[(API_KEY_HEADER, "nope")]
            )
            .0,
            401
        );
        let v = get_json(&format!("{base}/secure/api-key-query?api_key={API_KEY}"));
        assert_eq!(
            v["next"],
            json!(format!("{base}/secure/api-key-query?page=2"))
        );

        let basic = format!(
            "Basic {}",
            STANDARD.encode(format!("{BASIC_USERNAME}:{BASIC_PASSWORD}"))
        );
        assert_eq!(
            get(
                &format!("{base}/secure/basic"),
                &[("Authorization", basic.as_str())]
            )
            .0,
            200
        );
        assert_eq!(
            get(
                &format!("{base}/secure/basic"),
                &[("Authorization", bearer.as_str())]
            )
            .0,
            401
        );

        let token_url = format!("{base}/oauth/token");
        let form = "application/x-www-form-urlencoded";
        let (s, v) = post(
            &token_url,
            form,
            "grant_type=client_credentials&client_id=fixture-client&client_secret=wrong",
        );
        assert_eq!((s, v["error"].clone()), (401, json!("invalid_client")));
        let (s, v) = post(
            &token_url,
            form,
            "grant_type=client_credentials&client_id=fixture-client&client_secret=fixture-secret",
        );
        assert_eq!(s, 200);
        assert_eq!(v["expires_in"], json!(3600));
        let token = format!("Bearer {}", v["access_token"].as_str().unwrap());
        assert_eq!(
            get(
                &format!("{base}/secure/oauth"),
                &[("Authorization", token.as_str())]
            )
            .0,
            200
        );
        assert_eq!(
            get(
                &format!("{base}/secure/oauth"),
                &[("Authorization", bearer.as_str())]
            )
            .0,
            401
        );
        api.set_oauth_expires_in(0);
        let (_, v) = post(
            &token_url,
            form,
            "grant_type=client_credentials&client_id=fixture-client&client_secret=fixture-secret",
        );
        let expired = format!("Bearer {}", v["access_token"].as_str().unwrap());
        assert_eq!(
            get(
                &format!("{base}/secure/oauth"),
                &[("Authorization", expired.as_str())]
            )
            .0,
            401
        );
        assert_eq!(api.oauth_tokens_issued(), 2);
    }

    #[test]
    fn data_shapes_and_control() {
        let api = FixtureApi::start().unwrap();
        let base = api.url();
        let comments = get_json(&format!("{base}/posts/1/comments"));
        assert_eq!(comments, json!([]));
        let comments = get_json(&format!("{base}/posts/4/comments"));
        assert_eq!(comments.as_array().unwrap().len(), 3);
        assert_eq!(get(&format!("{base}/posts/99"), &[]).0, 404);
        assert_eq!(get(&format!("{base}/users/3/profile"), &[]).0, 404);
        assert_eq!(
            get_json(&format!("{base}/users/4/profile"))["user_id"],
            json!(4)
        );
        assert_eq!(get(&format!("{base}/nope"), &[]).0, 404);
        assert_eq!(
            post(&format!("{base}/posts"), "application/json", "{}").0,
            405
        );
        let post23 = get_json(&format!("{base}/posts/23"));
        assert_eq!(post23["views"].to_string(), "9007199254740993");
        let stats = get_json(&format!("{base}/stats"));
        assert_eq!(stats["posts"], json!(23));
        // every record of every collection has an id but the tags
        for c in COLLECTIONS {
            let recs = api.records(c);
            assert!(!recs.is_empty(), "{c}");
            assert!(
                c == "tags" || recs.iter().all(|r| r.get("id").is_some()),
                "{c}"
            );
        }
        assert!(!get_json(&format!("{base}/posts?per_page=100"))["data"]
            .to_string()
            .contains(&base));
        assert_eq!(
            api.control("POST", "/_control/upsert/nope", &json!({"id": 1}))
                .unwrap_err()
                .status,
            404
        );
        api.control(
            "POST",
            "/_control/upsert/users",
            &json!([{"id": 28, "name": "New"}, {"id": 5, "name": "Renamed"}]),
        )
        .unwrap();
        let users = api.records("users");
        assert_eq!(users.len(), 28);
        assert_eq!(users[4]["name"], json!("Renamed"));
        assert_eq!(users[4]["email"], json!("user5@example.com"));
        assert!(api.remove("users", &json!(28)).unwrap());
        let counted = api
            .control("GET", "/_control/requests", &Json::Null)
            .unwrap();
        assert_eq!(counted["counts"]["/posts/4/comments"], json!(1));
    }
}
