//! dlt's paginators (`dlt.sources.helpers.rest_client.paginators`) and their configuration
//! (`rest_api.config_setup.create_paginator`).
//!
//! A paginator is driven as dlt's `RESTClient.paginate` drives it: `init_request` on the
//! first request, then for every response `update_state` (from the response, its JSON and
//! the records selected from it), `update_request` (the next request), and the next page
//! is requested while `has_next_page`. `box_clone` copies a paginator as dlt deep-copies the
//! configured one for every `paginate` call (every parent item of a dependent resource).
//!
//! Values put in query parameters are those dlt puts in `request.params`: numbers, and the
//! cursor found in the response as is; except that a boolean or a float cursor becomes the
//! text Python's `str()` gives it (`True`, `1e+16`), which is what `requests` sends.

use serde_json::{Map, Value as Json};

use crate::jsonpath::{set_value_at_path, JsonPath, JsonPathError};
use crate::request::{Request, Response};
use crate::ConfigError;

/// A paginator: the lifecycle of dlt's `BasePaginator`.
pub trait Paginator: Send + std::fmt::Debug {
    /// Sets up the first request (dlt's `init_request`; most paginators leave it as is).
    fn init_request(&mut self, req: &mut Request) {
        let _ = req;
    }

    /// Reads the pagination state from a response: `body` is its parsed JSON (`None` when
    /// it is empty or not JSON), `data` the records selected from it.
    fn update_state(
        &mut self,
        response: &Response,
        body: Option<&Json>,
        data: Option<&[Json]>,
    ) -> Result<(), PaginatorError>;

    /// Turns `req` into the request of the next page.
    fn update_request(&mut self, req: &mut Request);

    /// Whether there is a page after the last one read.
    fn has_next_page(&self) -> bool;

    /// A copy (dlt deep-copies the configured paginator for each `paginate` call).
    fn box_clone(&self) -> Box<dyn Paginator>;

    /// The paginator's type name in a config (`page_number`, `json_link`...).
    fn kind(&self) -> &'static str;

    /// The paginator and its settings and state, for logs (dlt's `str(paginator)`).
    fn describe(&self) -> String {
        self.kind().to_string()
    }
}

impl Clone for Box<dyn Paginator> {
    fn clone(&self) -> Box<dyn Paginator> {
        self.box_clone()
    }
}

/// A response a paginator cannot read (dlt raises `ValueError`): each names the paginator's
/// type and the JSON path it read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaginatorError {
    /// The paginator reads the response's JSON but the response is not JSON.
    #[error("`{kind}` paginator: the response is not JSON, cannot read `{path}`")]
    NotJson { kind: &'static str, path: String },
    /// `total_path` selects nothing (or null) in the response.
    #[error(
        "`{kind}` paginator: total {} not found in the response: expected a value at \
         `{path}` (set `total_path` to null when the API does not return one), got `{response}`",
        total_of(kind)
    )]
    MissingTotal {
        kind: &'static str,
        path: String,
        /// the response's JSON (shortened)
        response: String,
    },
    /// The value at `total_path` is not an integer.
    #[error("`{kind}` paginator: `{path}` is not an integer in the response: got `{value}`")]
    InvalidTotal {
        kind: &'static str,
        path: String,
        value: String,
    },
    /// `has_more_path` selects nothing (or null) in the response.
    #[error(
        "`{kind}` paginator: has-more value not found in the response: expected a value at \
         `{path}`, got `{response}`"
    )]
    MissingHasMore {
        kind: &'static str,
        path: String,
        response: String,
    },
    /// The value at `has_more_path` is not a boolean (nor a string such as `true`/`no`).
    #[error("`{kind}` paginator: `{path}` is not a boolean in the response: got `{value}`")]
    InvalidHasMore {
        kind: &'static str,
        path: String,
        value: String,
    },
    /// The value at `next_url_path` is not a string.
    #[error("`{kind}` paginator: the next page URL at `{path}` is not a string: got `{value}`")]
    InvalidNextUrl {
        kind: &'static str,
        path: String,
        value: String,
    },
}

/// What the total of a paginator counts (`pages` or `items`).
fn total_of(kind: &str) -> &'static str {
    if kind == "page_number" {
        "pages"
    } else {
        "items"
    }
}

/// Invalid paginator arguments (dlt's constructors raise `ValueError`/`TypeError`): the
/// argument it is about, if one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ParamError {
    pub(crate) key: Option<&'static str>,
    pub(crate) message: String,
}

impl ParamError {
    fn new(message: impl Into<String>) -> ParamError {
        ParamError {
            key: None,
            message: message.into(),
        }
    }

    fn path(key: &'static str, e: JsonPathError) -> ParamError {
        ParamError {
            key: Some(key),
            message: e.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// shared pieces

/// Where a paginator puts a value in the request: a query parameter or a dotted path of
/// the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Query(String),
    Body(String),
}

impl Target {
    fn set(&self, req: &mut Request, value: Json) {
        match self {
            Target::Query(name) => req.set_query(name, value),
            Target::Body(path) => {
                let body = match &mut req.json {
                    Some(body) if !body.is_null() => body,
                    slot => slot.insert(Json::Object(Map::new())),
                };
                set_value_at_path(body, path, value);
            }
        }
    }

    fn describe(&self, param: &str, body_path: &str) -> String {
        match self {
            Target::Query(name) => format!("{param}: {name}"),
            Target::Body(path) => format!("{body_path}: {path}"),
        }
    }
}

fn truthy_str(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

fn no_data(data: Option<&[Json]>) -> bool {
    data.is_none_or(<[Json]>::is_empty)
}

/// Python's truthiness of a JSON value.
fn truthy(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
    }
}

/// `value` as shown in an error: compact JSON, shortened.
fn excerpt(value: &Json) -> String {
    const MAX: usize = 300;
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

fn python_opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "None".to_string(), T::to_string)
}

/// Python's `int(value)` of a JSON value, or `None` where it raises (a string that is
/// not an integer, a list, an object, null). Saturates beyond `i128`.
pub(crate) fn python_int(value: &Json) -> Option<i128> {
    match value {
        Json::Bool(b) => Some(i128::from(*b)),
        Json::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                let f: f64 = text.parse().ok()?;
                // `as` truncates toward zero and saturates, as `int()` (unbounded) compares
                f.is_finite().then_some(f.trunc() as i128)
            } else {
                parse_int_digits(&text)
            }
        }
        Json::String(s) => {
            let s = s.trim();
            let (neg, digits) = match s.as_bytes().first() {
                Some(b'-') => (true, &s[1..]),
                Some(b'+') => (false, &s[1..]),
                _ => (false, s),
            };
            // digits, single underscores between them (Python's integer literal rules)
            if digits.is_empty()
                || digits.starts_with('_')
                || digits.ends_with('_')
                || digits.contains("__")
                || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
            {
                return None;
            }
            let n = parse_int_digits(&digits.replace('_', ""))?;
            Some(if neg { -n } else { n })
        }
        _ => None,
    }
}

fn parse_int_digits(text: &str) -> Option<i128> {
    match text.parse::<i128>() {
        Ok(n) => Some(n),
        Err(_) => {
            let digits = text.trim_start_matches('-');
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                Some(if text.starts_with('-') {
                    i128::MIN
                } else {
                    i128::MAX
                })
            } else {
                None
            }
        }
    }
}

/// dlt's `str2bool`.
fn str2bool(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "yes" | "true" | "t" | "y" | "1" => Some(true),
        "no" | "false" | "f" | "n" | "0" => Some(false),
        _ => None,
    }
}

fn read_has_more(kind: &'static str, path: &JsonPath, body: &Json) -> Result<bool, PaginatorError> {
    match path.find_first(body) {
        None | Some(Json::Null) => Err(PaginatorError::MissingHasMore {
            kind,
            path: path.to_string(),
            response: excerpt(body),
        }),
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::String(s)) => str2bool(s).ok_or_else(|| PaginatorError::InvalidHasMore {
            kind,
            path: path.to_string(),
            value: s.clone(),
        }),
        Some(other) => Err(PaginatorError::InvalidHasMore {
            kind,
            path: path.to_string(),
            value: excerpt(other),
        }),
    }
}

/// A value from a response as `requests` sends it in a query parameter: Python's `str()`
/// of a boolean (`True`) or a float (`1.5`, `1e+16`); other values as they are.
fn query_value(value: &Json) -> Json {
    match value {
        Json::Bool(b) => Json::String(if *b { "True" } else { "False" }.to_string()),
        Json::Number(n) => {
            let text = n.to_string();
            if text.contains(['.', 'e', 'E']) {
                match text.parse::<f64>() {
                    Ok(f) => Json::String(python_float_repr(f)),
                    Err(_) => value.clone(),
                }
            } else {
                value.clone()
            }
        }
        _ => value.clone(),
    }
}

/// Python's `repr(float)`.
fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let sci = format!("{:e}", f.abs()); // shortest round-trip digits: `d.ddde-x`
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1; // value = 0.DIGITS x 10^decpt
    if -4 < decpt && decpt <= 16 {
        let n = digits.len() as i32;
        let body = if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (a, b) = digits.split_at(decpt as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{body}")
    } else {
        let exp_sign = if exp < 0 { "-" } else { "+" };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
    }
}

/// The values of header `name` joined by `, ` (as `requests` reads a repeated header).
fn joined_header(response: &Response, name: &str) -> Option<String> {
    let values: Vec<&str> = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// `requests.utils.parse_header_links`: the links of a `Link` header, each its parameters
/// in order (`url` first).
fn parse_header_links(value: &str) -> Vec<Vec<(String, String)>> {
    const REPLACE: &[char] = &[' ', '\'', '"'];
    let value = value.trim_matches(REPLACE);
    if value.is_empty() {
        return Vec::new();
    }
    let mut links = Vec::new();
    for val in split_links(value) {
        let (url, params) = val.split_once(';').unwrap_or((val, ""));
        let mut link: Vec<(String, String)> = vec![(
            "url".to_string(),
            url.trim_matches(&['<', '>', ' ', '\'', '"'][..])
                .to_string(),
        )];
        for param in params.split(';') {
            let mut kv = param.split('=');
            let (Some(k), Some(v), None) = (kv.next(), kv.next(), kv.next()) else {
                break;
            };
            let (k, v) = (k.trim_matches(REPLACE), v.trim_matches(REPLACE));
            match link.iter_mut().find(|(name, _)| name == k) {
                Some((_, old)) => *old = v.to_string(),
                None => link.push((k.to_string(), v.to_string())),
            }
        }
        links.push(link);
    }
    links
}

/// `re.split(", *<", value)`.
fn split_links(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let bytes = value.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b',' {
            let mut j = i + 1;
            while bytes.get(j) == Some(&b' ') {
                j += 1;
            }
            if bytes.get(j) == Some(&b'<') {
                parts.push(&value[start..i]);
                start = j + 1;
                i = start;
                continue;
            }
        }
        i += 1;
    }
    parts.push(&value[start..]);
    parts
}

/// The URL of the link whose relation is `rel` in the response's `Link` header
/// (`response.links.get(rel, {}).get("url")`).
pub(crate) fn link_header_url(response: &Response, rel: &str) -> Option<String> {
    let header = joined_header(response, "link")?;
    let mut found = None;
    for link in parse_header_links(&header) {
        let get = |k: &str| link.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        // `link.get("rel") or link.get("url")`: a later link of the same key wins
        let key = get("rel").filter(|r| !r.is_empty()).or_else(|| get("url"));
        if key == Some(rel) {
            found = get("url").map(str::to_string);
        }
    }
    found
}

/// Whether `url` starts with a scheme as Python's `urlparse` reads one.
fn has_scheme(url: &str) -> bool {
    let url = url.trim_start_matches(|c: char| c <= ' ');
    match url.find(':') {
        Some(i) if i > 0 => {
            let scheme = &url.as_bytes()[..i];
            scheme[0].is_ascii_alphabetic()
                && scheme
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        _ => false,
    }
}

/// `urljoin(base, reference)`.
fn urljoin(base: &str, reference: &str) -> String {
    match url::Url::parse(base).and_then(|b| b.join(reference)) {
        Ok(u) => u.to_string(),
        Err(_) => reference.to_string(),
    }
}

/// dlt's `BaseNextUrlPaginator.update_request`: a relative next URL is joined to the
/// request's URL; the request's query parameters are dropped (the next URL carries them).
fn follow_next_url(next: &mut Option<String>, req: &mut Request) {
    if let Some(n) = next.as_mut() {
        if !n.is_empty() && !has_scheme(n) {
            *n = urljoin(&req.url, n);
        }
        req.url = n.clone();
    }
    req.query.clear();
}

// ---------------------------------------------------------------------------------------
// single_page

/// dlt's `SinglePagePaginator`: one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SinglePagePaginator {
    has_next: bool,
}

impl SinglePagePaginator {
    pub(crate) fn new() -> SinglePagePaginator {
        SinglePagePaginator { has_next: true }
    }
}

impl Paginator for SinglePagePaginator {
    fn update_state(
        &mut self,
        _response: &Response,
        _body: Option<&Json>,
        _data: Option<&[Json]>,
    ) -> Result<(), PaginatorError> {
        self.has_next = false;
        Ok(())
    }

    fn update_request(&mut self, _req: &mut Request) {}

    fn has_next_page(&self) -> bool {
        self.has_next
    }

    fn box_clone(&self) -> Box<dyn Paginator> {
        Box::new(self.clone())
    }

    fn kind(&self) -> &'static str {
        "single_page"
    }

    fn describe(&self) -> String {
        "SinglePagePaginator".to_string()
    }
}

// ---------------------------------------------------------------------------------------
// page_number and offset (dlt's RangePaginator)

/// dlt's `PageNumberPaginator` arguments (defaults as dlt's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageNumberParams {
    pub(crate) base_page: i64,
    pub(crate) page: Option<i64>,
    pub(crate) page_param: Option<String>,
    pub(crate) total_path: Option<String>,
    pub(crate) maximum_page: Option<i64>,
    pub(crate) stop_after_empty_page: bool,
    pub(crate) has_more_path: Option<String>,
    pub(crate) page_body_path: Option<String>,
}

impl Default for PageNumberParams {
    fn default() -> PageNumberParams {
        PageNumberParams {
            base_page: 0,
            page: None,
            page_param: None,
            total_path: Some("total".to_string()),
            maximum_page: None,
            stop_after_empty_page: true,
            has_more_path: None,
            page_body_path: None,
        }
    }
}

/// dlt's `OffsetPaginator` arguments (defaults as dlt's; `limit` has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetParams {
    pub(crate) limit: i64,
    pub(crate) offset: i64,
    pub(crate) offset_param: Option<String>,
    pub(crate) limit_param: Option<String>,
    pub(crate) total_path: Option<String>,
    pub(crate) maximum_offset: Option<i64>,
    pub(crate) stop_after_empty_page: bool,
    pub(crate) has_more_path: Option<String>,
    pub(crate) offset_body_path: Option<String>,
    pub(crate) limit_body_path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    PageNumber,
    Offset,
}

/// dlt's `RangePaginator`: `PageNumberPaginator` and `OffsetPaginator`.
#[derive(Debug, Clone)]
pub(crate) struct RangePaginator {
    range: RangeKind,
    target: Target,
    initial_value: i64,
    current_value: i64,
    value_step: i64,
    base_index: i64,
    maximum_value: Option<i64>,
    total_path: Option<JsonPath>,
    stop_after_empty_page: bool,
    has_more_path: Option<JsonPath>,
    /// offset only: where the limit goes, and the limit
    limit: Option<(Target, i64)>,
    has_next: bool,
}

/// `param` or `body_path`, checked as dlt checks `page_param`/`page_body_path` (both
/// unset: `default`).
fn param_or_body_path(
    param: &Option<String>,
    body_path: &Option<String>,
    default: &str,
    names: (&str, &str),
) -> Result<Target, ParamError> {
    if param.is_none() && body_path.is_none() {
        return Ok(Target::Query(default.to_string()));
    }
    if truthy_str(param) == truthy_str(body_path) {
        return Err(ParamError::new(format!(
            "either `{}` or `{}` must be set, not both",
            names.0, names.1
        )));
    }
    Ok(match (param, body_path) {
        (_, Some(b)) if !b.is_empty() => Target::Body(b.clone()),
        (Some(p), _) => Target::Query(p.clone()),
        // unreachable after the check above; the default keeps it total
        _ => Target::Query(default.to_string()),
    })
}

fn compile_opt(key: &'static str, path: &Option<String>) -> Result<Option<JsonPath>, ParamError> {
    match path.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => JsonPath::compile(p)
            .map(Some)
            .map_err(|e| ParamError::path(key, e)),
    }
}

impl RangePaginator {
    /// dlt's `PageNumberPaginator(...)`.
    pub(crate) fn page_number(p: PageNumberParams) -> Result<RangePaginator, ParamError> {
        let target = param_or_body_path(
            &p.page_param,
            &p.page_body_path,
            "page",
            ("page_param", "page_body_path"),
        )?;
        if p.total_path.is_none()
            && p.maximum_page.is_none()
            && p.has_more_path.is_none()
            && !p.stop_after_empty_page
        {
            return Err(ParamError::new(
                "one of `total_path`, `maximum_page`, `has_more_path` or \
                 `stop_after_empty_page` must be set: the paginator could never stop",
            ));
        }
        let initial = p.page.unwrap_or(p.base_page);
        Ok(RangePaginator {
            range: RangeKind::PageNumber,
            target,
            initial_value: initial,
            current_value: initial,
            value_step: 1,
            base_index: p.base_page,
            maximum_value: p.maximum_page,
            total_path: compile_opt("total_path", &p.total_path)?,
            stop_after_empty_page: p.stop_after_empty_page,
            has_more_path: compile_opt("has_more_path", &p.has_more_path)?,
            limit: None,
            has_next: true,
        })
    }

    /// dlt's `OffsetPaginator(...)`.
    pub(crate) fn offset(p: OffsetParams) -> Result<RangePaginator, ParamError> {
        let target = param_or_body_path(
            &p.offset_param,
            &p.offset_body_path,
            "offset",
            ("offset_param", "offset_body_path"),
        )?;
        let limit_target = param_or_body_path(
            &p.limit_param,
            &p.limit_body_path,
            "limit",
            ("limit_param", "limit_body_path"),
        )?;
        if p.total_path.is_none()
            && p.maximum_offset.is_none()
            && p.has_more_path.is_none()
            && !p.stop_after_empty_page
        {
            return Err(ParamError::new(
                "one of `total_path`, `maximum_offset`, `has_more_path` or \
                 `stop_after_empty_page` must be set: the paginator could never stop",
            ));
        }
        Ok(RangePaginator {
            range: RangeKind::Offset,
            target,
            initial_value: p.offset,
            current_value: p.offset,
            value_step: p.limit,
            base_index: 0,
            maximum_value: p.maximum_offset,
            total_path: compile_opt("total_path", &p.total_path)?,
            stop_after_empty_page: p.stop_after_empty_page,
            has_more_path: compile_opt("has_more_path", &p.has_more_path)?,
            limit: Some((limit_target, p.limit)),
            has_next: true,
        })
    }

    fn set_params(&self, req: &mut Request) {
        self.target.set(req, Json::from(self.current_value));
        if let Some((target, limit)) = &self.limit {
            target.set(req, Json::from(*limit));
        }
    }
}

impl Paginator for RangePaginator {
    fn init_request(&mut self, req: &mut Request) {
        self.has_next = true;
        self.current_value = self.initial_value;
        self.set_params(req);
    }

    fn update_state(
        &mut self,
        _response: &Response,
        body: Option<&Json>,
        data: Option<&[Json]>,
    ) -> Result<(), PaginatorError> {
        let kind = self.kind();
        if self.stop_after_empty_page && no_data(data) {
            self.has_next = false;
            return Ok(());
        }
        let mut total = None;
        if let Some(path) = &self.total_path {
            let body = body.ok_or_else(|| PaginatorError::NotJson {
                kind,
                path: path.to_string(),
            })?;
            let value = match path.find_first(body) {
                None | Some(Json::Null) => {
                    return Err(PaginatorError::MissingTotal {
                        kind,
                        path: path.to_string(),
                        response: excerpt(body),
                    })
                }
                Some(v) => v,
            };
            total = Some(
                python_int(value).ok_or_else(|| PaginatorError::InvalidTotal {
                    kind,
                    path: path.to_string(),
                    value: excerpt(value),
                })?,
            );
        }
        self.current_value = self.current_value.saturating_add(self.value_step);
        let current = i128::from(self.current_value);
        if total.is_some_and(|t| current >= t.saturating_add(i128::from(self.base_index)))
            || self.maximum_value.is_some_and(|m| self.current_value >= m)
        {
            self.has_next = false;
        }
        if let Some(path) = &self.has_more_path {
            let body = body.ok_or_else(|| PaginatorError::NotJson {
                kind,
                path: path.to_string(),
            })?;
            let has_more = read_has_more(kind, path, body)?;
            self.has_next = self.has_next && has_more;
        }
        Ok(())
    }

    fn update_request(&mut self, req: &mut Request) {
        self.set_params(req);
    }

    fn has_next_page(&self) -> bool {
        self.has_next
    }

    fn box_clone(&self) -> Box<dyn Paginator> {
        Box::new(self.clone())
    }

    fn kind(&self) -> &'static str {
        match self.range {
            RangeKind::PageNumber => "page_number",
            RangeKind::Offset => "offset",
        }
    }

    fn describe(&self) -> String {
        let common = format!(
            "total_path: {} maximum_value: {} has_more_path: {}",
            python_opt(&self.total_path),
            python_opt(&self.maximum_value),
            python_opt(&self.has_more_path)
        );
        match (self.range, &self.limit) {
            (RangeKind::Offset, Some((limit_target, limit))) => format!(
                "OffsetPaginator: current offset: {} {} limit: {} {} {common}",
                self.current_value,
                self.target.describe("offset_param", "offset_body_path"),
                limit,
                limit_target.describe("limit_param", "limit_body_path"),
            ),
            _ => format!(
                "PageNumberPaginator: current page: {} {} {common}",
                self.current_value,
                self.target.describe("page_param", "page_body_path"),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// json_link and header_link (dlt's BaseNextUrlPaginator)

/// dlt's `JSONLinkPaginator`: the next page's URL at `next_url_path` in the response.
#[derive(Debug, Clone)]
pub(crate) struct JsonLinkPaginator {
    next_url_path: JsonPath,
    next: Option<String>,
    has_next: bool,
}

impl JsonLinkPaginator {
    /// `JSONLinkPaginator(next_url_path)` (dlt's default path: `next`).
    pub(crate) fn new(next_url_path: &str) -> Result<JsonLinkPaginator, ParamError> {
        Ok(JsonLinkPaginator {
            next_url_path: JsonPath::compile(next_url_path)
                .map_err(|e| ParamError::path("next_url_path", e))?,
            next: None,
            has_next: true,
        })
    }
}

impl Paginator for JsonLinkPaginator {
    fn update_state(
        &mut self,
        _response: &Response,
        body: Option<&Json>,
        _data: Option<&[Json]>,
    ) -> Result<(), PaginatorError> {
        let kind = self.kind();
        let body = body.ok_or_else(|| PaginatorError::NotJson {
            kind,
            path: self.next_url_path.to_string(),
        })?;
        self.next = match self.next_url_path.find_first(body) {
            None | Some(Json::Null) => None,
            Some(Json::String(url)) => Some(url.clone()),
            Some(other) => {
                return Err(PaginatorError::InvalidNextUrl {
                    kind,
                    path: self.next_url_path.to_string(),
                    value: excerpt(other),
                })
            }
        };
        self.has_next = self.next.is_some();
        Ok(())
    }

    fn update_request(&mut self, req: &mut Request) {
        follow_next_url(&mut self.next, req);
    }

    fn has_next_page(&self) -> bool {
        self.has_next
    }

    fn box_clone(&self) -> Box<dyn Paginator> {
        Box::new(self.clone())
    }

    fn kind(&self) -> &'static str {
        "json_link"
    }

    fn describe(&self) -> String {
        format!("JSONLinkPaginator: next_url_path: {}", self.next_url_path)
    }
}

/// dlt's `HeaderLinkPaginator`: the next page's URL in the `Link` header, the link whose
/// `rel` is `links_next_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderLinkPaginator {
    /// `None` (set to null in a config) finds no link, as dlt.
    links_next_key: Option<String>,
    next: Option<String>,
    has_next: bool,
}

impl HeaderLinkPaginator {
    /// `HeaderLinkPaginator(links_next_key)` (dlt's default: `next`).
    pub(crate) fn new(links_next_key: Option<String>) -> HeaderLinkPaginator {
        HeaderLinkPaginator {
            links_next_key,
            next: None,
            has_next: true,
        }
    }
}

impl Paginator for HeaderLinkPaginator {
    fn update_state(
        &mut self,
        response: &Response,
        _body: Option<&Json>,
        _data: Option<&[Json]>,
    ) -> Result<(), PaginatorError> {
        self.next = self
            .links_next_key
            .as_deref()
            .and_then(|key| link_header_url(response, key));
        self.has_next = self.next.is_some();
        Ok(())
    }

    fn update_request(&mut self, req: &mut Request) {
        follow_next_url(&mut self.next, req);
    }

    fn has_next_page(&self) -> bool {
        self.has_next
    }

    fn box_clone(&self) -> Box<dyn Paginator> {
        Box::new(self.clone())
    }

    fn kind(&self) -> &'static str {
        "header_link"
    }

    fn describe(&self) -> String {
        format!(
            "HeaderLinkPaginator: links_next_key: {}",
            python_opt(&self.links_next_key)
        )
    }
}

// ---------------------------------------------------------------------------------------
// header_cursor and cursor (dlt's BaseReferencePaginator)

/// dlt's `HeaderCursorPaginator`: the cursor in response header `cursor_key`, sent in
/// query parameter `cursor_param`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderCursorPaginator {
    /// `None` (set to null in a config) finds no cursor, as dlt.
    cursor_key: Option<String>,
    cursor_param: String,
    next: Option<String>,
    has_next: bool,
}

impl HeaderCursorPaginator {
    /// `HeaderCursorPaginator(cursor_key, cursor_param)` (dlt's defaults: `next`, `cursor`).
    pub(crate) fn new(cursor_key: Option<String>, cursor_param: String) -> HeaderCursorPaginator {
        HeaderCursorPaginator {
            cursor_key,
            cursor_param,
            next: None,
            has_next: true,
        }
    }
}

impl Paginator for HeaderCursorPaginator {
    fn update_state(
        &mut self,
        response: &Response,
        _body: Option<&Json>,
        _data: Option<&[Json]>,
    ) -> Result<(), PaginatorError> {
        // an empty header is a cursor (dlt checks `is not None`)
        self.next = self
            .cursor_key
            .as_deref()
            .and_then(|key| joined_header(response, key));
        self.has_next = self.next.is_some();
        Ok(())
    }

    fn update_request(&mut self, req: &mut Request) {
        let value = self.next.clone().map_or(Json::Null, Json::String);
        req.set_query(&self.cursor_param, value);
    }

    fn has_next_page(&self) -> bool {
        self.has_next
    }

    fn box_clone(&self) -> Box<dyn Paginator> {
        Box::new(self.clone())
    }

    fn kind(&self) -> &'static str {
        "header_cursor"
    }

    fn describe(&self) -> String {
        format!(
            "HeaderCursorPaginator: cursor_value: {} cursor_param: {}",
            python_opt(&self.next),
            self.cursor_param
        )
    }
}

/// dlt's `JSONResponseCursorPaginator` arguments (defaults as dlt's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CursorParams {
    pub(crate) cursor_path: String,
    pub(crate) cursor_param: Option<String>,
    pub(crate) cursor_body_path: Option<String>,
    pub(crate) stop_after_empty_page: bool,
    pub(crate) has_more_path: Option<String>,
}

impl Default for CursorParams {
    fn default() -> CursorParams {
        CursorParams {
            cursor_path: "cursors.next".to_string(),
            cursor_param: None,
            cursor_body_path: None,
            stop_after_empty_page: false,
            has_more_path: None,
        }
    }
}

/// dlt's `JSONResponseCursorPaginator`: the cursor at `cursor_path` in the response, sent
/// in query parameter `cursor_param` or at `cursor_body_path` of the JSON body.
#[derive(Debug, Clone)]
pub(crate) struct CursorPaginator {
    cursor_path: JsonPath,
    target: Target,
    stop_after_empty_page: bool,
    has_more_path: Option<JsonPath>,
    next: Option<Json>,
    has_next: bool,
}

impl CursorPaginator {
    /// `JSONResponseCursorPaginator(...)`.
    pub(crate) fn new(p: CursorParams) -> Result<CursorPaginator, ParamError> {
        let target = match (&p.cursor_param, &p.cursor_body_path) {
            (None, None) => Target::Query("cursor".to_string()),
            (Some(_), Some(_)) => {
                return Err(ParamError::new(
                    "either `cursor_param` or `cursor_body_path` must be set, not both",
                ))
            }
            (_, Some(b)) if !b.is_empty() => Target::Body(b.clone()),
            (Some(param), _) => Target::Query(param.clone()),
            (None, Some(_)) => {
                // dlt would send the cursor in a query parameter named `None`
                return Err(ParamError {
                    key: Some("cursor_body_path"),
                    message: "must not be empty".to_string(),
                });
            }
        };
        Ok(CursorPaginator {
            cursor_path: JsonPath::compile(&p.cursor_path)
                .map_err(|e| ParamError::path("cursor_path", e))?,
            target,
            stop_after_empty_page: p.stop_after_empty_page,
            has_more_path: compile_opt("has_more_path", &p.has_more_path)?,
            next: None,
            has_next: true,
        })
    }
}

impl Paginator for CursorPaginator {
    fn update_state(
        &mut self,
        _response: &Response,
        body: Option<&Json>,
        data: Option<&[Json]>,
    ) -> Result<(), PaginatorError> {
        let kind = self.kind();
        let body = body.ok_or_else(|| PaginatorError::NotJson {
            kind,
            path: self.cursor_path.to_string(),
        })?;
        // a falsy cursor (null, "", 0, false, [], {}) ends the pagination
        self.next = self
            .cursor_path
            .find_first(body)
            .filter(|v| truthy(v))
            .cloned();
        self.has_next = self.next.is_some();
        if self.stop_after_empty_page && no_data(data) {
            self.has_next = false;
            return Ok(());
        }
        if let Some(path) = &self.has_more_path {
            let has_more = read_has_more(kind, path, body)?;
            self.has_next = self.has_next && has_more;
        }
        Ok(())
    }

    fn update_request(&mut self, req: &mut Request) {
        match &self.target {
            Target::Body(_) => {
                let value = self.next.clone().unwrap_or(Json::Null);
                self.target.set(req, value);
            }
            Target::Query(_) => {
                let value = self.next.as_ref().map_or(Json::Null, query_value);
                self.target.set(req, value);
            }
        }
    }

    fn has_next_page(&self) -> bool {
        self.has_next
    }

    fn box_clone(&self) -> Box<dyn Paginator> {
        Box::new(self.clone())
    }

    fn kind(&self) -> &'static str {
        "cursor"
    }

    fn describe(&self) -> String {
        format!(
            "JSONResponseCursorPaginator: cursor_path: {} {}",
            self.cursor_path,
            self.target.describe("cursor_param", "cursor_body_path")
        )
    }
}

// ---------------------------------------------------------------------------------------
// configuration: dlt's `create_paginator`

/// The paginator type names of a config, in dlt's order (`PAGINATOR_MAP`).
pub(crate) const PAGINATOR_TYPES: &[&str] = &[
    "json_link",
    "json_response",
    "header_link",
    "header_cursor",
    "auto",
    "single_page",
    "cursor",
    "offset",
    "page_number",
];

const PAGE_NUMBER_KEYS: &[&str] = &[
    "base_page",
    "page",
    "page_param",
    "total_path",
    "maximum_page",
    "stop_after_empty_page",
    "has_more_path",
    "page_body_path",
];
const OFFSET_KEYS: &[&str] = &[
    "limit",
    "offset",
    "offset_param",
    "offset_body_path",
    "limit_param",
    "limit_body_path",
    "total_path",
    "maximum_offset",
    "stop_after_empty_page",
    "has_more_path",
];
const HEADER_LINK_KEYS: &[&str] = &["links_next_key"];
const JSON_LINK_KEYS: &[&str] = &["next_url_path"];
const CURSOR_KEYS: &[&str] = &[
    "cursor_path",
    "cursor_param",
    "cursor_body_path",
    "stop_after_empty_page",
    "has_more_path",
];
const HEADER_CURSOR_KEYS: &[&str] = &["cursor_key", "cursor_param"];

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// The parameters of a paginator object in a config, read as dlt passes them to the
/// paginator's constructor.
struct Params<'a> {
    map: &'a Map<String, Json>,
    path: &'a str,
}

impl Params<'_> {
    fn key_path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn wrong_type(&self, key: &str, expected: &str, got: &Json) -> ConfigError {
        ConfigError::new(
            self.key_path(key),
            format!("expected {expected}, got {}", json_type(got)),
        )
    }

    /// Rejects the keys that are not parameters of `kind` (dlt: "unexpected keyword
    /// argument").
    fn check_keys(&self, kind: &str, allowed: &[&str]) -> Result<(), ConfigError> {
        for key in self.map.keys() {
            if key != "type" && !allowed.contains(&key.as_str()) {
                let message = if allowed.is_empty() {
                    format!("unknown parameter `{key}`: the `{kind}` paginator takes no parameters")
                } else {
                    format!(
                        "unknown parameter `{key}` of the `{kind}` paginator; its parameters are: {}",
                        allowed.join(", ")
                    )
                };
                return Err(ConfigError::new(self.key_path(key), message));
            }
        }
        Ok(())
    }

    fn int_value(&self, key: &str, v: &Json) -> Result<i64, ConfigError> {
        match v {
            Json::Number(n) => n.as_i64().ok_or_else(|| {
                ConfigError::new(
                    self.key_path(key),
                    format!("expected an integer, got `{n}`"),
                )
            }),
            other => Err(self.wrong_type(key, "an integer", other)),
        }
    }

    /// An integer that may be null (absent or null: `None`).
    fn opt_int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.map.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => self.int_value(key, v).map(Some),
        }
    }

    /// An integer that cannot be null: absent means `default` (required without one).
    fn int(&self, key: &str, default: Option<i64>, kind: &str) -> Result<i64, ConfigError> {
        match self.map.get(key) {
            None => default.ok_or_else(|| {
                ConfigError::new(
                    self.key_path(key),
                    format!("required by the `{kind}` paginator (an integer)"),
                )
            }),
            Some(Json::Null) => Err(ConfigError::new(
                self.key_path(key),
                "expected an integer, got null",
            )),
            Some(v) => self.int_value(key, v),
        }
    }

    /// A string that may be null: absent means `default`, null means `None`.
    fn opt_str(&self, key: &str, default: Option<&str>) -> Result<Option<String>, ConfigError> {
        match self.map.get(key) {
            None => Ok(default.map(str::to_string)),
            Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// A string that cannot be null: absent means `default`.
    fn str(&self, key: &str, default: &str) -> Result<String, ConfigError> {
        match self.map.get(key) {
            None => Ok(default.to_string()),
            Some(Json::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// A boolean: absent means `default`; null is false (dlt tests its truth).
    fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.map.get(key) {
            None => Ok(default),
            Some(Json::Null) => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(self.wrong_type(key, "a boolean", other)),
        }
    }

    fn param_error(&self, e: ParamError) -> ConfigError {
        match e.key {
            Some(key) => ConfigError::new(self.key_path(key), e.message),
            None => ConfigError::new(self.path, e.message),
        }
    }
}

fn unknown_type(path: String, name: &str) -> ConfigError {
    ConfigError::new(
        path,
        format!(
            "unknown paginator type `{name}`; valid types are: {}",
            PAGINATOR_TYPES.join(", ")
        ),
    )
}

/// dlt's `create_paginator`: the paginator of an endpoint's (or the client's) `paginator`
/// at `path`. `Ok(None)`: detect the paginator from the first response (no paginator,
/// `"auto"`, or `{"type": "auto"}`).
///
/// A config is a type name (`"json_link"`, `"single_page"`...; a type that needs
/// arguments, `"offset"`, is an error) or an object with `type` (default `auto`) and the
/// paginator's arguments.
pub(crate) fn from_config(
    value: &Json,
    path: &str,
) -> Result<Option<Box<dyn Paginator>>, ConfigError> {
    let empty = Map::new();
    let (kind, map) = match value {
        Json::Null => return Ok(None),
        Json::String(name) => {
            if !PAGINATOR_TYPES.contains(&name.as_str()) {
                return Err(unknown_type(path.to_string(), name));
            }
            if name == "offset" {
                return Err(ConfigError::new(
                    path,
                    "paginator `offset` requires arguments (`limit`): use an object such as \
                     {\"type\": \"offset\", \"limit\": 100}",
                ));
            }
            (name.as_str(), &empty)
        }
        Json::Object(map) => {
            let kind = match map.get("type") {
                None => "auto",
                Some(Json::String(name)) if PAGINATOR_TYPES.contains(&name.as_str()) => {
                    name.as_str()
                }
                Some(Json::String(name)) => return Err(unknown_type(format!("{path}.type"), name)),
                Some(other) => {
                    return Err(ConfigError::new(
                        format!("{path}.type"),
                        format!(
                            "expected a paginator type name ({}), got {}",
                            PAGINATOR_TYPES.join(", "),
                            json_type(other)
                        ),
                    ))
                }
            };
            (kind, map)
        }
        other => {
            return Err(ConfigError::new(
                path,
                format!(
                    "expected a paginator type name ({}) or an object with `type` and the \
                     paginator's parameters, got {}",
                    PAGINATOR_TYPES.join(", "),
                    json_type(other)
                ),
            ))
        }
    };
    let p = Params { map, path };
    let paginator: Box<dyn Paginator> = match kind {
        "auto" => {
            // dlt ignores the other keys, but only keys some paginator takes pass its
            // config validation
            let all: Vec<&str> = [
                PAGE_NUMBER_KEYS,
                OFFSET_KEYS,
                HEADER_LINK_KEYS,
                JSON_LINK_KEYS,
                CURSOR_KEYS,
                HEADER_CURSOR_KEYS,
            ]
            .concat();
            p.check_keys("auto", &all)?;
            if map.keys().any(|k| k != "type") {
                tracing::warn!(
                    "{path}: the parameters of an `auto` paginator are ignored (the paginator \
                     is detected from the first response)"
                );
            }
            return Ok(None);
        }
        "single_page" => {
            p.check_keys(kind, &[])?;
            Box::new(SinglePagePaginator::new())
        }
        "page_number" => {
            p.check_keys(kind, PAGE_NUMBER_KEYS)?;
            let params = PageNumberParams {
                base_page: p.int("base_page", Some(0), kind)?,
                page: p.opt_int("page")?,
                page_param: p.opt_str("page_param", None)?,
                total_path: p.opt_str("total_path", Some("total"))?,
                maximum_page: p.opt_int("maximum_page")?,
                stop_after_empty_page: p.bool("stop_after_empty_page", true)?,
                has_more_path: p.opt_str("has_more_path", None)?,
                page_body_path: p.opt_str("page_body_path", None)?,
            };
            Box::new(RangePaginator::page_number(params).map_err(|e| p.param_error(e))?)
        }
        "offset" => {
            p.check_keys(kind, OFFSET_KEYS)?;
            let params = OffsetParams {
                limit: p.int("limit", None, kind)?,
                offset: p.int("offset", Some(0), kind)?,
                offset_param: p.opt_str("offset_param", None)?,
                limit_param: p.opt_str("limit_param", None)?,
                total_path: p.opt_str("total_path", Some("total"))?,
                maximum_offset: p.opt_int("maximum_offset")?,
                stop_after_empty_page: p.bool("stop_after_empty_page", true)?,
                has_more_path: p.opt_str("has_more_path", None)?,
                offset_body_path: p.opt_str("offset_body_path", None)?,
                limit_body_path: p.opt_str("limit_body_path", None)?,
            };
            Box::new(RangePaginator::offset(params).map_err(|e| p.param_error(e))?)
        }
        "json_link" | "json_response" => {
            p.check_keys(kind, JSON_LINK_KEYS)?;
            if kind == "json_response" {
                tracing::warn!(
                    "{path}: paginator type `json_response` is deprecated, use `json_link`"
                );
            }
            let next_url_path = p.str("next_url_path", "next")?;
            Box::new(JsonLinkPaginator::new(&next_url_path).map_err(|e| p.param_error(e))?)
        }
        "header_link" => {
            p.check_keys(kind, HEADER_LINK_KEYS)?;
            Box::new(HeaderLinkPaginator::new(
                p.opt_str("links_next_key", Some("next"))?,
            ))
        }
        "header_cursor" => {
            p.check_keys(kind, HEADER_CURSOR_KEYS)?;
            Box::new(HeaderCursorPaginator::new(
                p.opt_str("cursor_key", Some("next"))?,
                p.str("cursor_param", "cursor")?,
            ))
        }
        "cursor" => {
            p.check_keys(kind, CURSOR_KEYS)?;
            let params = CursorParams {
                cursor_path: p.str("cursor_path", "cursors.next")?,
                cursor_param: p.opt_str("cursor_param", None)?,
                cursor_body_path: p.opt_str("cursor_body_path", None)?,
                stop_after_empty_page: p.bool("stop_after_empty_page", false)?,
                has_more_path: p.opt_str("has_more_path", None)?,
            };
            Box::new(CursorPaginator::new(params).map_err(|e| p.param_error(e))?)
        }
        other => return Err(unknown_type(path.to_string(), other)),
    };
    Ok(Some(paginator))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::request::Method;
    use serde_json::json;

    fn request() -> Request {
        Request::new(Method::Get, "https://api.example.com/v1/items")
    }

    fn response(body: &Json) -> Response {
        Response {
            url: "https://api.example.com/v1/items".to_string(),
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn with_headers(headers: &[(&str, &str)]) -> Response {
        Response {
            url: "https://api.example.com/v1/items".to_string(),
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_lowercase(), v.to_string()))
                .collect(),
            body: b"[]".to_vec(),
        }
    }

    fn cfg(v: Json) -> Box<dyn Paginator> {
        from_config(&v, "p").unwrap().expect("a paginator")
    }

    fn cfg_err(v: Json) -> ConfigError {
        from_config(&v, "resources[0].endpoint.paginator").unwrap_err()
    }

    /// Drives `p` as `RESTClient.paginate` does over `pages` (body, records): the query
    /// and body of every request sent, and the error if one stops it.
    fn drive(
        p: &mut dyn Paginator,
        req: &mut Request,
        pages: &[Json],
        data_key: &str,
    ) -> (Vec<Request>, Option<PaginatorError>) {
        p.init_request(req);
        let mut sent = Vec::new();
        for page in pages {
            sent.push(req.clone());
            let data: Vec<Json> = page
                .get(data_key)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            if let Err(e) = p.update_state(&response(page), Some(page), Some(&data)) {
                return (sent, Some(e));
            }
            p.update_request(req);
            if !p.has_next_page() {
                return (sent, None);
            }
        }
        panic!("the paginator did not stop after {} pages", pages.len());
    }

    fn q(req: &Request, name: &str) -> Option<Json> {
        req.query_value(name).cloned()
    }

    #[test]
    fn single_page_stops_after_the_first() {
        let mut p = cfg(json!("single_page"));
        assert_eq!(p.kind(), "single_page");
        let mut req = request();
        p.init_request(&mut req);
        assert!(p.has_next_page());
        p.update_state(&response(&json!([1])), Some(&json!([1])), None)
            .unwrap();
        p.update_request(&mut req);
        assert!(!p.has_next_page());
        assert_eq!(req, request());
        assert!(cfg(json!({"type": "single_page"})).has_next_page());
    }

    #[test]
    fn page_number_with_total_pages() {
        let mut p = cfg(json!({"type": "page_number", "base_page": 1, "total_path": "meta.pages"}));
        let pages: Vec<Json> = (1..=3)
            .map(|i| json!({"items": [i], "meta": {"pages": 3}}))
            .collect();
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        let nums: Vec<_> = sent.iter().map(|r| q(r, "page")).collect();
        assert_eq!(nums, vec![Some(json!(1)), Some(json!(2)), Some(json!(3))]);
        assert_eq!(sent[0].url, "https://api.example.com/v1/items");
        assert!(p.describe().contains("current page: 4"), "{}", p.describe());
    }

    #[test]
    fn page_number_defaults_and_zero_base() {
        // dlt's defaults: base_page 0, page param `page`, total_path `total`
        let mut p = cfg(json!("page_number"));
        let pages: Vec<Json> = (0..2).map(|i| json!({"items": [i], "total": 2})).collect();
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(
            sent.iter().map(|r| q(r, "page")).collect::<Vec<_>>(),
            vec![Some(json!(0)), Some(json!(1))]
        );
        // the first page can differ from the base page; a string total is read as int()
        let mut p = cfg(json!({"type": "page_number", "base_page": 1, "page": 2}));
        let pages = vec![
            json!({"items": [1], "total": " 3 "}),
            json!({"items": [1], "total": "3"}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent.len(), 2);
        assert_eq!(q(&sent[0], "page"), Some(json!(2)));
    }

    #[test]
    fn page_number_missing_or_invalid_total_is_an_error() {
        // total_path is `total` by default: a response without it fails, as in dlt
        let mut p = cfg(json!("page_number"));
        let (_, err) = drive(
            p.as_mut(),
            &mut request(),
            &[json!({"items": [1]})],
            "items",
        );
        let err = err.unwrap();
        assert!(
            matches!(&err, PaginatorError::MissingTotal { kind: "page_number", path, .. } if path == "total"),
            "{err:?}"
        );
        assert!(err.to_string().contains("`total`"), "{err}");
        assert!(err.to_string().contains("total pages"), "{err}");
        // small enough to be a field of the client's errors (clippy's result_large_err)
        assert!(std::mem::size_of::<PaginatorError>() <= 72);
        // ... even with maximum_page set
        let mut p = cfg(json!({"type": "page_number", "maximum_page": 5}));
        let (_, err) = drive(
            p.as_mut(),
            &mut request(),
            &[json!({"items": [1], "total": null})],
            "items",
        );
        assert!(matches!(err, Some(PaginatorError::MissingTotal { .. })));
        for bad in [json!("many"), json!([3]), json!({"n": 3}), json!("3.5")] {
            let mut p = cfg(json!({"type": "page_number"}));
            let (_, err) = drive(
                p.as_mut(),
                &mut request(),
                &[json!({"items": [1], "total": bad})],
                "items",
            );
            assert!(
                matches!(&err, Some(PaginatorError::InvalidTotal { kind: "page_number", path, .. }) if path == "total"),
                "{bad}: {err:?}"
            );
        }
        // a float total is truncated, a boolean is 0/1 (Python's int())
        let mut p = cfg(json!({"type": "page_number", "base_page": 1}));
        let pages = vec![
            json!({"items": [1], "total": 2.9}),
            json!({"items": [1], "total": 2.9}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent.len(), 2);
        let mut p = cfg(json!({"type": "page_number", "base_page": 1}));
        let (sent, _) = drive(
            p.as_mut(),
            &mut request(),
            &[json!({"items": [1], "total": true})],
            "items",
        );
        assert_eq!(sent.len(), 1);
        // no JSON body
        let mut p = cfg(json!("page_number"));
        let mut req = request();
        p.init_request(&mut req);
        let err = p
            .update_state(&with_headers(&[]), None, Some(&[json!(1)]))
            .unwrap_err();
        assert!(matches!(
            err,
            PaginatorError::NotJson {
                kind: "page_number",
                ..
            }
        ));
    }

    #[test]
    fn page_number_stops_after_an_empty_page() {
        let mut p = cfg(json!({"type": "page_number", "total_path": null}));
        let pages = vec![
            json!({"items": [1]}),
            json!({"items": [2]}),
            json!({"items": []}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent.len(), 3);
        // an empty page stops before the total is read
        let mut p = cfg(json!({"type": "page_number"}));
        let (sent, err) = drive(p.as_mut(), &mut request(), &[json!({"items": []})], "items");
        assert!(err.is_none());
        assert_eq!(sent.len(), 1);
        // without stop_after_empty_page, an empty page goes on (up to maximum_page)
        let mut p = cfg(json!({
            "type": "page_number", "total_path": null, "stop_after_empty_page": false,
            "maximum_page": 3, "base_page": 1
        }));
        let pages = vec![
            json!({"items": []}),
            json!({"items": []}),
            json!({"items": []}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent.len(), 2); // pages 1 and 2: page 3 reaches maximum_page
    }

    #[test]
    fn page_number_has_more() {
        let mut p = cfg(
            json!({"type": "page_number", "total_path": null, "has_more_path": "meta.has_more"}),
        );
        let pages = vec![
            json!({"items": [1], "meta": {"has_more": true}}),
            json!({"items": [2], "meta": {"has_more": "yes"}}),
            json!({"items": [3], "meta": {"has_more": "False"}}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent.len(), 3);
        let mut p =
            cfg(json!({"type": "page_number", "total_path": null, "has_more_path": "more"}));
        let (_, err) = drive(
            p.as_mut(),
            &mut request(),
            &[json!({"items": [1]})],
            "items",
        );
        assert!(
            matches!(&err, Some(PaginatorError::MissingHasMore { kind: "page_number", path, .. }) if path == "more"),
            "{err:?}"
        );
        for bad in [json!(1), json!("maybe"), json!([true])] {
            let mut p =
                cfg(json!({"type": "page_number", "total_path": null, "has_more_path": "more"}));
            let (_, err) = drive(
                p.as_mut(),
                &mut request(),
                &[json!({"items": [1], "more": bad})],
                "items",
            );
            assert!(
                matches!(err, Some(PaginatorError::InvalidHasMore { .. })),
                "{bad}"
            );
        }
        // has_more cannot turn a stop (total reached) into a next page
        let mut p = cfg(json!({"type": "page_number", "has_more_path": "more", "base_page": 1}));
        let (sent, _) = drive(
            p.as_mut(),
            &mut request(),
            &[json!({"items": [1], "more": true, "total": 1})],
            "items",
        );
        assert_eq!(sent.len(), 1);
    }

    #[test]
    fn page_number_in_the_body() {
        let mut p = cfg(
            json!({"type": "page_number", "page_body_path": "paging.page", "base_page": 1, "maximum_page": 3, "total_path": null}),
        );
        let mut req = request();
        req.method = Method::Post;
        req.json = Some(json!({"query": "x"}));
        let pages = vec![
            json!({"items": [1]}),
            json!({"items": [1]}),
            json!({"items": [1]}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut req, &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[0].json,
            Some(json!({"query": "x", "paging": {"page": 1}}))
        );
        assert_eq!(
            sent[1].json,
            Some(json!({"query": "x", "paging": {"page": 2}}))
        );
        assert!(sent[0].query.is_empty());
        // a request without a body gets one
        let mut p = cfg(json!({"type": "page_number", "page_body_path": "page"}));
        let mut req = request();
        p.init_request(&mut req);
        assert_eq!(req.json, Some(json!({"page": 0})));
    }

    #[test]
    fn offset_paginates_with_limit_and_total() {
        let mut p = cfg(json!({"type": "offset", "limit": 2}));
        let pages: Vec<Json> = (0..3)
            .map(|_| json!({"items": [1, 2], "total": 5}))
            .collect();
        let mut req = request();
        req.set_query("sort", json!("id"));
        let (sent, err) = drive(p.as_mut(), &mut req, &pages, "items");
        assert!(err.is_none());
        let got: Vec<_> = sent
            .iter()
            .map(|r| (q(r, "offset"), q(r, "limit"), q(r, "sort")))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(json!(0)), Some(json!(2)), Some(json!("id"))),
                (Some(json!(2)), Some(json!(2)), Some(json!("id"))),
                (Some(json!(4)), Some(json!(2)), Some(json!("id"))),
            ]
        );
        assert_eq!(sent[0].query[0].0, "sort");
        assert_eq!(p.kind(), "offset");
        assert!(
            p.describe().contains("current offset: 6"),
            "{}",
            p.describe()
        );
    }

    #[test]
    fn offset_maximum_custom_params_and_body() {
        let mut p = cfg(json!({
            "type": "offset", "limit": 10, "offset": 5, "offset_param": "skip",
            "limit_param": "take", "total_path": null, "maximum_offset": 25
        }));
        let pages: Vec<Json> = (0..3).map(|_| json!({"items": [1]})).collect();
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(
            sent.iter()
                .map(|r| (q(r, "skip"), q(r, "take")))
                .collect::<Vec<_>>(),
            vec![
                (Some(json!(5)), Some(json!(10))),
                (Some(json!(15)), Some(json!(10)))
            ]
        );
        let mut p = cfg(json!({
            "type": "offset", "limit": 2, "offset_body_path": "page.from",
            "limit_body_path": "page.size", "total_path": "hits.total"
        }));
        let mut req = request();
        req.json = Some(json!({"q": 1}));
        let pages: Vec<Json> = (0..2)
            .map(|_| json!({"items": [1, 2], "hits": {"total": 4}}))
            .collect();
        let (sent, err) = drive(p.as_mut(), &mut req, &pages, "items");
        assert!(err.is_none());
        assert_eq!(
            sent[1].json,
            Some(json!({"q": 1, "page": {"from": 2, "size": 2}}))
        );
        assert!(sent[1].query.is_empty());
        let err = {
            let mut p = cfg(json!({"type": "offset", "limit": 2}));
            drive(
                p.as_mut(),
                &mut request(),
                &[json!({"items": [1]})],
                "items",
            )
            .1
        };
        assert!(matches!(
            err,
            Some(PaginatorError::MissingTotal { kind: "offset", .. })
        ));
    }

    #[test]
    fn init_request_restarts_a_range_paginator() {
        let mut p = cfg(json!({"type": "offset", "limit": 3, "total_path": null}));
        let mut req = request();
        p.init_request(&mut req);
        p.update_state(&response(&json!([1])), Some(&json!([1])), Some(&[json!(1)]))
            .unwrap();
        p.update_request(&mut req);
        assert_eq!(q(&req, "offset"), Some(json!(3)));
        let mut copy = p.box_clone();
        let mut req2 = request();
        copy.init_request(&mut req2);
        assert_eq!(q(&req2, "offset"), Some(json!(0)));
        p.update_state(&response(&json!([])), Some(&json!([])), Some(&[]))
            .unwrap();
        assert!(!p.has_next_page());
        p.init_request(&mut req);
        assert!(p.has_next_page());
        assert_eq!(q(&req, "offset"), Some(json!(0)));
    }

    #[test]
    fn json_link_follows_absolute_and_relative_urls() {
        let mut p = cfg(json!({"type": "json_link", "next_url_path": "pagination.next"}));
        let mut req = request();
        req.set_query("limit", json!(2));
        let pages = vec![
            json!({"items": [1], "pagination": {"next": "https://api.example.com/v1/items?page=2&limit=2"}}),
            json!({"items": [2], "pagination": {"next": "/v1/items?page=3&limit=2"}}),
            json!({"items": [3], "pagination": {"next": "items?page=4"}}),
            json!({"items": [4], "pagination": {"next": "?page=5"}}),
            json!({"items": [5], "pagination": {"next": null}}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut req, &pages, "items");
        assert!(err.is_none());
        let urls: Vec<_> = sent.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            vec![
                "https://api.example.com/v1/items",
                "https://api.example.com/v1/items?page=2&limit=2",
                "https://api.example.com/v1/items?page=3&limit=2",
                "https://api.example.com/v1/items?page=4",
                "https://api.example.com/v1/items?page=5",
            ]
        );
        // the query parameters of the first request are dropped: the next URL has them
        assert_eq!(q(&sent[0], "limit"), Some(json!(2)));
        assert!(sent[1..].iter().all(|r| r.query.is_empty()));
        // default path `next`; a missing key ends the pagination
        let mut p = cfg(json!("json_link"));
        let pages = vec![
            json!({"items": [1], "next": "https://x.test/2"}),
            json!({"items": [2]}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent[1].url, "https://x.test/2");
        // the deprecated alias
        assert_eq!(cfg(json!("json_response")).kind(), "json_link");
        assert_eq!(
            cfg(json!({"type": "json_response", "next_url_path": "a.b"})).kind(),
            "json_link"
        );
    }

    #[test]
    fn json_link_errors_and_empty_next() {
        let mut p = cfg(json!("json_link"));
        let (_, err) = drive(
            p.as_mut(),
            &mut request(),
            &[json!({"items": [1], "next": 2})],
            "items",
        );
        assert!(
            matches!(&err, Some(PaginatorError::InvalidNextUrl { kind: "json_link", path, value }) if path == "next" && value == "2"),
            "{err:?}"
        );
        let mut p = cfg(json!("json_link"));
        assert!(matches!(
            p.update_state(&with_headers(&[]), None, None),
            Err(PaginatorError::NotJson { .. })
        ));
        // an empty string is a next page in dlt (`is not None`); the request URL becomes
        // empty and sending it fails, as in dlt
        let mut p = cfg(json!("json_link"));
        let mut req = request();
        p.update_state(
            &response(&json!({"next": ""})),
            Some(&json!({"next": ""})),
            None,
        )
        .unwrap();
        assert!(p.has_next_page());
        p.update_request(&mut req);
        assert_eq!(req.url, "");
    }

    #[test]
    fn header_link_reads_the_link_header() {
        let mut p = cfg(json!("header_link"));
        let mut req = request();
        req.set_query("per_page", json!(10));
        p.init_request(&mut req);
        let r = with_headers(&[(
            "Link",
            "<https://api.github.com/repos?page=2>; rel=\"next\", <https://api.github.com/repos?page=5>; rel=\"last\"",
        )]);
        p.update_state(&r, None, Some(&[])).unwrap();
        assert!(p.has_next_page());
        p.update_request(&mut req);
        assert_eq!(req.url, "https://api.github.com/repos?page=2");
        assert!(req.query.is_empty());
        // relative link, custom rel, second Link header
        let mut p = cfg(json!({"type": "header_link", "links_next_key": "after"}));
        let mut req = request();
        let r = with_headers(&[
            ("link", "</v1/items?page=1>; rel=prev"),
            ("link", "</v1/items?c=abc>; rel=after"),
        ]);
        p.update_state(&r, None, None).unwrap();
        p.update_request(&mut req);
        assert_eq!(req.url, "https://api.example.com/v1/items?c=abc");
        // no header, or no next link: stop
        let mut p = cfg(json!("header_link"));
        p.update_state(&with_headers(&[]), None, None).unwrap();
        assert!(!p.has_next_page());
        p.update_state(
            &with_headers(&[("link", "<https://x/1>; rel=\"prev\"")]),
            None,
            None,
        )
        .unwrap();
        assert!(!p.has_next_page());
        // a null key finds nothing (as dlt)
        let mut p = cfg(json!({"type": "header_link", "links_next_key": null}));
        p.update_state(
            &with_headers(&[("link", "<https://x/2>; rel=next")]),
            None,
            None,
        )
        .unwrap();
        assert!(!p.has_next_page());
    }

    #[test]
    fn parses_link_headers_as_requests() {
        let links = parse_header_links(
            "<http:/.../front.jpeg>; rel=front; type=\"image/jpeg\",<http://.../back.jpeg>; rel=back;type=\"image/jpeg\"",
        );
        assert_eq!(
            links,
            vec![
                vec![
                    ("url".to_string(), "http:/.../front.jpeg".to_string()),
                    ("rel".to_string(), "front".to_string()),
                    ("type".to_string(), "image/jpeg".to_string())
                ],
                vec![
                    ("url".to_string(), "http://.../back.jpeg".to_string()),
                    ("rel".to_string(), "back".to_string()),
                    ("type".to_string(), "image/jpeg".to_string())
                ],
            ]
        );
        assert!(parse_header_links(" '' ").is_empty());
        // a parameter without `=` ends the parameters of its link
        assert_eq!(
            parse_header_links("<a>; x; rel=next"),
            vec![vec![("url".to_string(), "a".to_string())]]
        );
        // the last link of a rel wins; a link without rel is keyed by its URL
        let r = with_headers(&[(
            "link",
            "<https://a/1>; rel=next, <https://a/2>; rel=next, <https://a/3>",
        )]);
        assert_eq!(link_header_url(&r, "next").as_deref(), Some("https://a/2"));
        assert_eq!(
            link_header_url(&r, "https://a/3").as_deref(),
            Some("https://a/3")
        );
        // commas inside a URL do not split links
        let r = with_headers(&[("link", "<https://a/?ids=1,2>; rel=\"next\"")]);
        assert_eq!(
            link_header_url(&r, "next").as_deref(),
            Some("https://a/?ids=1,2")
        );
    }

    #[test]
    fn header_cursor() {
        let mut p = cfg(
            json!({"type": "header_cursor", "cursor_key": "X-Next-Token", "cursor_param": "token"}),
        );
        let mut req = request();
        p.init_request(&mut req);
        p.update_state(&with_headers(&[("x-next-token", "abc")]), None, None)
            .unwrap();
        assert!(p.has_next_page());
        p.update_request(&mut req);
        assert_eq!(q(&req, "token"), Some(json!("abc")));
        assert_eq!(req.url, "https://api.example.com/v1/items");
        p.update_state(&with_headers(&[]), None, None).unwrap();
        assert!(!p.has_next_page());
        p.update_request(&mut req);
        assert_eq!(q(&req, "token"), Some(Json::Null)); // null: not sent
                                                        // defaults `next` and `cursor`; an empty header is a cursor (dlt: `is not None`)
        let mut p = cfg(json!("header_cursor"));
        let mut req = request();
        p.update_state(&with_headers(&[("next", "")]), None, None)
            .unwrap();
        assert!(p.has_next_page());
        p.update_request(&mut req);
        assert_eq!(q(&req, "cursor"), Some(json!("")));
        assert_eq!(p.kind(), "header_cursor");
    }

    #[test]
    fn cursor_in_query() {
        let mut p = cfg(json!("cursor"));
        let mut req = request();
        req.set_query("limit", json!(10));
        let pages = vec![
            json!({"items": [1], "cursors": {"next": "aW1w"}}),
            json!({"items": [2], "cursors": {"next": 17}}),
            json!({"items": [3], "cursors": {"next": ""}}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut req, &pages, "items");
        assert!(err.is_none());
        assert_eq!(
            sent.iter()
                .map(|r| (q(r, "cursor"), q(r, "limit")))
                .collect::<Vec<_>>(),
            vec![
                (None, Some(json!(10))),
                (Some(json!("aW1w")), Some(json!(10))),
                (Some(json!(17)), Some(json!(10))),
            ]
        );
        // the URL is kept
        assert!(sent
            .iter()
            .all(|r| r.url == "https://api.example.com/v1/items"));
        // falsy cursors end it
        for falsy in [json!(null), json!(0), json!(false), json!([]), json!({})] {
            let mut p = cfg(json!({"type": "cursor", "cursor_path": "next"}));
            let body = json!({"next": falsy});
            p.update_state(&response(&body), Some(&body), Some(&[json!(1)]))
                .unwrap();
            assert!(!p.has_next_page(), "{falsy}");
        }
    }

    #[test]
    fn cursor_values_as_requests_sends_them() {
        let cases = [
            (json!(true), json!("True")),
            (json!(1.5), json!("1.5")),
            (json!(100.0), json!("100.0")),
            (json!(1e16), json!("1e+16")),
            (json!(0.00001), json!("1e-05")),
            (
                json!(12345678901234567890u64),
                json!(12345678901234567890u64),
            ),
            (json!("x y"), json!("x y")),
        ];
        for (cursor, sent) in cases {
            let mut p = cfg(json!({"type": "cursor", "cursor_path": "c"}));
            let mut req = request();
            let body = json!({"c": cursor});
            p.update_state(&response(&body), Some(&body), None).unwrap();
            p.update_request(&mut req);
            assert_eq!(q(&req, "cursor"), Some(sent), "{cursor}");
        }
        assert_eq!(python_float_repr(0.1), "0.1");
        assert_eq!(python_float_repr(-2.5e-7), "-2.5e-07");
        assert_eq!(python_float_repr(1234.5), "1234.5");
        assert_eq!(python_float_repr(1e15), "1000000000000000.0");
        assert_eq!(python_float_repr(1.25e22), "1.25e+22");
        assert_eq!(python_float_repr(0.0001), "0.0001");
        assert_eq!(python_float_repr(0.0), "0.0");
    }

    #[test]
    fn cursor_in_body_stop_after_empty_page_and_has_more() {
        let mut p = cfg(
            json!({"type": "cursor", "cursor_path": "nextPageToken", "cursor_body_path": "page.token"}),
        );
        let mut req = request();
        req.method = Method::Post;
        req.json = Some(json!({"query": "q"}));
        let pages = vec![
            json!({"items": [1], "nextPageToken": 5}),
            json!({"items": [2]}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut req, &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent[0].json, Some(json!({"query": "q"})));
        assert_eq!(
            sent[1].json,
            Some(json!({"query": "q", "page": {"token": 5}}))
        );
        assert!(sent.iter().all(|r| r.query.is_empty()));

        // stop_after_empty_page: an empty page stops even with a cursor
        let mut p =
            cfg(json!({"type": "cursor", "cursor_path": "next", "stop_after_empty_page": true}));
        let pages = vec![
            json!({"items": [1], "next": "a"}),
            json!({"items": [], "next": "b"}),
        ];
        let (sent, _) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert_eq!(sent.len(), 2);
        // by default (false) it goes on
        let mut p = cfg(json!({"type": "cursor", "cursor_path": "next"}));
        let pages = vec![
            json!({"items": [], "next": "a"}),
            json!({"items": [], "next": null}),
        ];
        let (sent, _) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert_eq!(sent.len(), 2);

        let mut p = cfg(json!({"type": "cursor", "cursor_path": "next", "has_more_path": "more"}));
        let pages = vec![
            json!({"items": [1], "next": "a", "more": true}),
            json!({"items": [1], "next": "b", "more": "n"}),
        ];
        let (sent, err) = drive(p.as_mut(), &mut request(), &pages, "items");
        assert!(err.is_none());
        assert_eq!(sent.len(), 2);
        let mut p = cfg(json!({"type": "cursor", "cursor_path": "next", "has_more_path": "more"}));
        let (_, err) = drive(
            p.as_mut(),
            &mut request(),
            &[json!({"items": [1], "next": "a"})],
            "items",
        );
        assert!(matches!(
            err,
            Some(PaginatorError::MissingHasMore { kind: "cursor", .. })
        ));
        let mut p = cfg(json!({"type": "cursor"}));
        assert!(matches!(
            p.update_state(&with_headers(&[]), None, None),
            Err(PaginatorError::NotJson { kind: "cursor", .. })
        ));
    }

    #[test]
    fn config_forms() {
        assert!(from_config(&json!(null), "p").unwrap().is_none());
        assert!(from_config(&json!("auto"), "p").unwrap().is_none());
        assert!(from_config(&json!({"type": "auto"}), "p")
            .unwrap()
            .is_none());
        assert!(from_config(&json!({}), "p").unwrap().is_none());
        // dlt ignores the parameters of `auto` (if some paginator takes them)
        assert!(from_config(&json!({"type": "auto", "limit": 10}), "p")
            .unwrap()
            .is_none());
        for (config, kind) in [
            (json!("json_link"), "json_link"),
            (json!("json_response"), "json_link"),
            (json!("header_link"), "header_link"),
            (json!("header_cursor"), "header_cursor"),
            (json!("single_page"), "single_page"),
            (json!("cursor"), "cursor"),
            (json!("page_number"), "page_number"),
            (json!({"type": "offset", "limit": 1}), "offset"),
            (
                json!({"type": "page_number", "total_path": null, "has_more_path": "m"}),
                "page_number",
            ),
        ] {
            assert_eq!(cfg(config.clone()).kind(), kind, "{config}");
        }
        let p = cfg(json!("cursor"));
        let copy = p.clone();
        assert_eq!(copy.kind(), "cursor");
        assert!(
            copy.describe().contains("cursors.next"),
            "{}",
            copy.describe()
        );
    }

    #[test]
    fn config_errors() {
        let e = cfg_err(json!("nope"));
        assert_eq!(e.path, "resources[0].endpoint.paginator");
        assert!(
            e.message.contains("`nope`")
                && e.message.contains("json_link, json_response, header_link"),
            "{e}"
        );
        let e = cfg_err(json!({"type": "nope"}));
        assert_eq!(e.path, "resources[0].endpoint.paginator.type");
        let e = cfg_err(json!({"type": null}));
        assert_eq!(e.path, "resources[0].endpoint.paginator.type");
        let e = cfg_err(json!("offset"));
        assert!(e.message.contains("limit"), "{e}");
        let e = cfg_err(json!({"type": "offset"}));
        assert_eq!(e.path, "resources[0].endpoint.paginator.limit");
        let e = cfg_err(json!({"type": "offset", "limit": 10, "bogus": 1}));
        assert_eq!(e.path, "resources[0].endpoint.paginator.bogus");
        assert!(
            e.message.contains("`bogus`") && e.message.contains("offset_param"),
            "{e}"
        );
        let e = cfg_err(json!({"type": "single_page", "x": 1}));
        assert_eq!(e.path, "resources[0].endpoint.paginator.x");
        let e = cfg_err(json!({"type": "auto", "foo": 1}));
        assert_eq!(e.path, "resources[0].endpoint.paginator.foo");
        let e = cfg_err(json!({"foo": 1}));
        assert_eq!(e.path, "resources[0].endpoint.paginator.foo");
        let e = cfg_err(json!(5));
        assert_eq!(e.path, "resources[0].endpoint.paginator");
        let e = cfg_err(json!(["offset"]));
        assert!(e.message.contains("a list"), "{e}");
        for (config, key) in [
            (json!({"type": "offset", "limit": "10"}), "limit"),
            (json!({"type": "offset", "limit": 10.5}), "limit"),
            (json!({"type": "offset", "limit": true}), "limit"),
            (json!({"type": "offset", "limit": null}), "limit"),
            (
                json!({"type": "offset", "limit": 1, "offset": null}),
                "offset",
            ),
            (
                json!({"type": "page_number", "base_page": "1"}),
                "base_page",
            ),
            (
                json!({"type": "page_number", "base_page": null}),
                "base_page",
            ),
            (
                json!({"type": "page_number", "maximum_page": "3"}),
                "maximum_page",
            ),
            (
                json!({"type": "page_number", "stop_after_empty_page": "no"}),
                "stop_after_empty_page",
            ),
            (
                json!({"type": "page_number", "total_path": 5}),
                "total_path",
            ),
            (
                json!({"type": "json_link", "next_url_path": 5}),
                "next_url_path",
            ),
            (
                json!({"type": "json_link", "next_url_path": null}),
                "next_url_path",
            ),
            (
                json!({"type": "json_link", "next_url_path": "a b"}),
                "next_url_path",
            ),
            (
                json!({"type": "page_number", "total_path": "a[", "maximum_page": 1}),
                "total_path",
            ),
            (
                json!({"type": "cursor", "cursor_path": null}),
                "cursor_path",
            ),
            (
                json!({"type": "cursor", "has_more_path": "$$"}),
                "has_more_path",
            ),
            (
                json!({"type": "header_cursor", "cursor_param": null}),
                "cursor_param",
            ),
            (
                json!({"type": "header_link", "links_next_key": 1}),
                "links_next_key",
            ),
        ] {
            let e = cfg_err(config.clone());
            assert_eq!(
                e.path,
                format!("resources[0].endpoint.paginator.{key}"),
                "{config}: {e}"
            );
        }
        // dlt's constructor checks
        for (config, words) in [
            (
                json!({"type": "page_number", "total_path": null, "stop_after_empty_page": false}),
                "maximum_page",
            ),
            (
                json!({"type": "page_number", "total_path": null, "stop_after_empty_page": null}),
                "maximum_page",
            ),
            (
                json!({"type": "offset", "limit": 5, "total_path": null, "stop_after_empty_page": false}),
                "maximum_offset",
            ),
            (
                json!({"type": "page_number", "page_param": "", "page_body_path": null}),
                "page_body_path",
            ),
            (
                json!({"type": "page_number", "page_param": "p", "page_body_path": "b"}),
                "page_body_path",
            ),
            (
                json!({"type": "offset", "limit": 1, "offset_param": "o", "offset_body_path": "b"}),
                "offset_body_path",
            ),
            (
                json!({"type": "offset", "limit": 1, "limit_param": "", }),
                "limit_body_path",
            ),
            (
                json!({"type": "cursor", "cursor_param": "a", "cursor_body_path": "b"}),
                "cursor_body_path",
            ),
        ] {
            let e = cfg_err(config.clone());
            assert_eq!(e.path, "resources[0].endpoint.paginator", "{config}");
            assert!(e.message.contains(words), "{config}: {e}");
        }
        // accepted by dlt
        for ok in [
            json!({"type": "page_number", "total_path": null}),
            json!({"type": "page_number", "page_param": "p", "page_body_path": ""}),
            json!({"type": "page_number", "total_path": "", "stop_after_empty_page": false}),
            json!({"type": "offset", "limit": 0, "maximum_offset": 10}),
            json!({"type": "cursor", "cursor_param": null, "cursor_body_path": "a.b"}),
            json!({"type": "header_link", "links_next_key": null}),
        ] {
            assert!(from_config(&ok, "p").is_ok(), "{ok}");
        }
    }

    #[test]
    fn python_ints() {
        assert_eq!(python_int(&json!(5)), Some(5));
        assert_eq!(python_int(&json!(-5)), Some(-5));
        assert_eq!(python_int(&json!(5.9)), Some(5));
        assert_eq!(python_int(&json!(-5.9)), Some(-5));
        assert_eq!(python_int(&json!("1_000")), Some(1000));
        assert_eq!(python_int(&json!(" +7\n")), Some(7));
        assert_eq!(python_int(&json!("007")), Some(7));
        assert_eq!(python_int(&json!("1__0")), None);
        assert_eq!(python_int(&json!("_1")), None);
        assert_eq!(python_int(&json!("1.0")), None);
        assert_eq!(python_int(&json!("")), None);
        assert_eq!(python_int(&json!(null)), None);
        assert_eq!(python_int(&json!(false)), Some(0));
        let big: Json = serde_json::from_str("123456789012345678901234567890123456789012").unwrap();
        assert_eq!(python_int(&big), Some(i128::MAX));
    }

    #[test]
    fn next_url_scheme_detection() {
        assert!(has_scheme("https://x"));
        assert!(has_scheme("HTTP://x"));
        assert!(has_scheme("localhost:8080/x")); // as Python's urlparse
        assert!(!has_scheme("/x:y"));
        assert!(!has_scheme("//host/x"));
        assert!(!has_scheme("?a=b:c"));
        assert!(!has_scheme("1a:b"));
        assert_eq!(
            urljoin("https://a.test/v1/items?x=1", "//b.test/y"),
            "https://b.test/y"
        );
        assert_eq!(
            urljoin("https://a.test/v1/items", "../z"),
            "https://a.test/z"
        );
    }
}
