//! dlt's `RESTClient.paginate`: the pages of one endpoint. The request is built from the
//! base URL and the path (a path that is a whole URL is used as is), the client's headers
//! under the endpoint's; the paginator sets up the first request and, after each response,
//! reads it and changes the request into the next page's; the page's items are selected
//! with the `data_selector` (detected from the first response when not given, as dlt
//! detects it) and a paginator is detected from the first response when none is given. A
//! response that matches a `response_actions` entry ends the pages without error; any
//! other status >= 400 fails them, naming the URL (secrets redacted).

use std::sync::Arc;

use serde_json::Value as Json;

use crate::auth::Auth;
use crate::config::ResponseAction;
use crate::detect;
use crate::http::{Http, HttpError};
use crate::jsonpath::JsonPath;
use crate::paginate::{Paginator, PaginatorError};
use crate::request::{Method, Request, Response};

/// Why the pages of an endpoint ended early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error(transparent)]
    Http(#[from] HttpError),

    /// A page that cannot be read: not JSON, or a `data_selector` that does not compile.
    #[error("{method} {url} (page {page}): {message}")]
    Page {
        method: &'static str,
        url: String,
        page: usize,
        message: String,
    },

    #[error("{method} {url} (page {page}): {source}")]
    Paginator {
        method: &'static str,
        url: String,
        page: usize,
        #[source]
        source: PaginatorError,
    },

    #[error("{method} {url}: no paginator was given and none could be detected from the first response; set `paginator` in the endpoint or the client")]
    NoPaginator { method: &'static str, url: String },
}

/// What every request of a source shares.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) http: Arc<Http>,
    pub(crate) base_url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) auth: Option<Arc<Auth>>,
}

/// One endpoint call to page through (the placeholders already expanded).
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) params: Vec<(String, Json)>,
    pub(crate) json: Option<Json>,
    pub(crate) data: Option<Json>,
    pub(crate) headers: Vec<(String, String)>,
    /// `None`: detected from the first response.
    pub(crate) paginator: Option<Box<dyn Paginator>>,
    pub(crate) data_selector: Option<String>,
    pub(crate) response_actions: Vec<ResponseAction>,
    /// The endpoint's own auth, else the client's.
    pub(crate) auth: Option<Arc<Auth>>,
}

/// dlt's `join_url`: the base URL with one `/` before the path.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    if base.is_empty() {
        return path.to_string();
    }
    if path.is_empty() {
        return base.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

impl Client {
    /// The pages of `call`, each its items, read as they are asked for.
    pub(crate) fn paginate(&self, call: Call) -> Pages {
        let url = if call.path.starts_with("http://") || call.path.starts_with("https://") {
            call.path.clone()
        } else {
            join_url(&self.base_url, &call.path)
        };
        let mut request = Request::new(call.method, url);
        request.query = call.params;
        for (name, value) in self.headers.iter().chain(&call.headers) {
            request.set_header(name, value.clone());
        }
        request.json = call.json;
        request.data = call.data;
        let mut paginator = call.paginator;
        if let Some(p) = paginator.as_mut() {
            p.init_request(&mut request);
        }
        Pages {
            http: self.http.clone(),
            auth: call.auth.or_else(|| self.auth.clone()),
            request,
            paginator,
            data_selector: call.data_selector,
            response_actions: call.response_actions,
            page: 0,
            done: false,
        }
    }
}

/// The pages of one endpoint call (an iterator; each page one request).
#[derive(Debug)]
pub(crate) struct Pages {
    http: Arc<Http>,
    auth: Option<Arc<Auth>>,
    request: Request,
    paginator: Option<Box<dyn Paginator>>,
    data_selector: Option<String>,
    response_actions: Vec<ResponseAction>,
    /// Pages read so far.
    page: usize,
    done: bool,
}

impl Pages {
    fn next_page(&mut self) -> Result<Option<Vec<Json>>, ClientError> {
        let method = self.request.method.as_str();
        let mut request = self.request.clone();
        if let Some(auth) = &self.auth {
            auth.apply(&mut request, &self.http)?;
        }
        let response = self.http.send(&request)?;
        self.page += 1;
        let page = self.page;
        let url = self.http.redact_url(&response.url);
        if self.ignored(&response) {
            tracing::info!(
                "{method} {url}: ignored (status {}) by a response action",
                response.status
            );
            return Ok(None);
        }
        self.http.check_status(&response, self.request.method)?;
        let body: Json = serde_json::from_slice(&response.body).map_err(|e| ClientError::Page {
            method,
            url: url.clone(),
            page,
            message: format!("the response is not JSON: {e}"),
        })?;
        let selector = match &self.data_selector {
            Some(s) => s.clone(),
            None => {
                let (path, _) = detect::find_response_page_data(&body);
                let detected = crate::jsonpath::join_path(&path);
                self.data_selector = Some(detected.clone());
                detected
            }
        };
        let data = select(&body, &selector).map_err(|message| ClientError::Page {
            method,
            url: url.clone(),
            page,
            message,
        })?;
        if self.paginator.is_none() {
            let (detected, _score) = detect::create_paginator(&response, Some(&body));
            match detected {
                Some(p) => {
                    tracing::info!("{method} {url}: detected paginator `{}`", p.kind());
                    self.paginator = Some(p);
                }
                None => return Err(ClientError::NoPaginator { method, url }),
            }
        }
        if let Some(p) = self.paginator.as_mut() {
            p.update_state(&response, Some(&body), Some(&data))
                .map_err(|source| ClientError::Paginator {
                    method,
                    url: url.clone(),
                    page,
                    source,
                })?;
            p.update_request(&mut self.request);
            if !p.has_next_page() {
                self.done = true;
            }
        }
        Ok(Some(data))
    }

    /// Whether a response action matches `response` (dlt: status and content both when
    /// both are given, else the one given).
    fn ignored(&self, response: &Response) -> bool {
        let text = || String::from_utf8_lossy(&response.body);
        self.response_actions
            .iter()
            .any(|a| match (a.status_code, &a.content) {
                (Some(s), Some(c)) => response.status == s && text().contains(c.as_str()),
                (Some(s), None) => response.status == s,
                (None, Some(c)) => text().contains(c.as_str()),
                (None, None) => false,
            })
    }
}

impl Iterator for Pages {
    type Item = Result<Vec<Json>, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_page() {
            Ok(Some(items)) => Some(Ok(items)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// dlt's `extract_response`: the values `selector` finds; one match is the page (a list, or
/// one item), several are the items; nothing or `null` is an empty page.
fn select(body: &Json, selector: &str) -> Result<Vec<Json>, String> {
    let path = JsonPath::compile(selector)
        .map_err(|e| format!("data_selector `{selector}` is not a JSON path: {e}"))?;
    let found = path.find_values(body);
    let data: Json = match found.as_slice() {
        [one] => (*one).clone(),
        many => Json::Array(many.iter().map(|v| (*v).clone()).collect()),
    };
    Ok(match data {
        Json::Null => Vec::new(),
        Json::Array(items) => items,
        one => vec![one],
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn urls_join_as_dlt_joins_them() {
        assert_eq!(join_url("https://x/api/", "/posts"), "https://x/api/posts");
        assert_eq!(join_url("https://x/api", "posts"), "https://x/api/posts");
        assert_eq!(
            join_url("https://x/api//", "posts/1"),
            "https://x/api/posts/1"
        );
        assert_eq!(join_url("https://x/api", ""), "https://x/api");
    }

    #[test]
    fn selected_data_is_a_list_of_items() {
        let body = json!({"data": [{"id": 1}, {"id": 2}], "one": {"id": 3}, "none": null});
        assert_eq!(
            select(&body, "data").unwrap(),
            [json!({"id": 1}), json!({"id": 2})]
        );
        assert_eq!(select(&body, "$.one").unwrap(), [json!({"id": 3})]);
        assert_eq!(select(&body, "none").unwrap(), Vec::<Json>::new());
        assert_eq!(select(&body, "missing").unwrap(), Vec::<Json>::new());
        assert_eq!(select(&body, "data[*].id").unwrap(), [json!(1), json!(2)]);
        assert_eq!(select(&json!([1, 2]), "$").unwrap(), [json!(1), json!(2)]);
    }
}
