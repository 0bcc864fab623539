//! The resources of a `RESTAPIConfig`, as dlt's `rest_api_resources` makes them: single
//! entity endpoints get the `$` selector and one page, literal params bound into the path,
//! resolve params and `{resources.<parent>.<field>}` placeholders make a resource dependent
//! on its parent (one request per parent item, `include_from_parent` fields added to each
//! child item as `_<parent>_<field>`), an incremental param or `endpoint.incremental` sends
//! the cursor's start value (and end value) and filters the items, and `{incremental.*}`
//! placeholders expand in path, params, headers and body.
//!
//! A dependent resource learns its parent's items from the parent's extraction
//! ([`pipeline::Resource::on_extracted`]: the items the parent's incremental cursor kept,
//! as dlt's transformer gets them); both are extracted one after another on one lane, the
//! parent first. A parent with `selected: false` is not loaded: its child reads its pages.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pipeline::{Incremental, ItemError, OnMissing, RangeBound, Resource, RowOrder};
use serde_json::{Map, Value as Json};

use crate::auth::Auth;
use crate::client::{Call, Client, ClientError};
use crate::config::{EndpointConfig, ResourceConfig, RestApiConfig};
use crate::http::{Http, HttpOptions};
use crate::jsonpath::JsonPath;
use crate::{detect, paginate, ConfigError};

/// A REST API source: a validated config and the HTTP client its resources share.
#[derive(Debug)]
pub struct RestApiSource {
    config: RestApiConfig,
    http: Arc<Http>,
}

/// One piece of a `str.format` template.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Field(String),
}

/// Python's `str.format` template syntax: `{name}` fields, `{{` and `}}` for braces. A
/// conversion or format spec (`{x!r}`, `{x:>5}`) is not supported (an error naming it).
fn parse_template(s: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("`{s}`: a `{{` is not closed")),
                    }
                }
                if name.contains(['!', ':', '{']) {
                    return Err(format!(
                        "`{s}`: placeholder `{{{name}}}` has a conversion or format spec, which dlt-rs does not support"
                    ));
                }
                if !text.is_empty() {
                    out.push(Segment::Text(std::mem::take(&mut text)));
                }
                out.push(Segment::Field(name));
            }
            '}' => return Err(format!("`{s}`: a single `}}` (write `}}}}` for a brace)")),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    Ok(out)
}

/// The placeholder names of a template.
fn template_fields(s: &str) -> Result<Vec<String>, String> {
    Ok(parse_template(s)?
        .into_iter()
        .filter_map(|seg| match seg {
            Segment::Field(f) => Some(f),
            Segment::Text(_) => None,
        })
        .collect())
}

/// Every placeholder in the strings (and keys) of `v`.
fn value_fields(v: &Json, out: &mut Vec<String>) -> Result<(), String> {
    match v {
        Json::String(s) => out.extend(template_fields(s)?),
        Json::Array(items) => {
            for i in items {
                value_fields(i, out)?;
            }
        }
        Json::Object(m) => {
            for (k, v) in m {
                out.extend(template_fields(k)?);
                value_fields(v, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A value as Python's `str()` writes it into a template.
fn python_str(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Null => "None".into(),
        other => other.to_string(),
    }
}

/// Expands a template with `values` (`str.format` with the whole field name as the key).
fn expand_str(s: &str, values: &Map<String, Json>) -> Result<String, String> {
    let mut out = String::new();
    for seg in parse_template(s)? {
        match seg {
            Segment::Text(t) => out.push_str(&t),
            Segment::Field(f) => match values.get(&f) {
                Some(v) => out.push_str(&python_str(v)),
                None => return Err(format!("`{s}`: placeholder `{{{f}}}` has no value")),
            },
        }
    }
    Ok(out)
}

/// dlt's `expand_placeholders`: every string (and key) of `v` expanded; with
/// `preserve_type`, a string that is one placeholder alone becomes the value itself.
fn expand_value(v: &Json, values: &Map<String, Json>, preserve_type: bool) -> Result<Json, String> {
    Ok(match v {
        Json::String(s) => {
            if preserve_type {
                if let Ok(segs) = parse_template(s) {
                    if let [Segment::Field(f)] = segs.as_slice() {
                        if let Some(value) = values.get(f) {
                            return Ok(value.clone());
                        }
                    }
                }
            }
            Json::String(expand_str(s, values)?)
        }
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|i| expand_value(i, values, preserve_type))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| {
                    Ok((
                        expand_str(k, values)?,
                        expand_value(v, values, preserve_type)?,
                    ))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// A parameter bound to a field of the parent's items.
#[derive(Debug, Clone)]
struct ResolvedParam {
    /// The param's name, or the whole placeholder (`resources.posts.id`).
    name: String,
    field: String,
    path: JsonPath,
}

/// The incremental cursor of an endpoint and the params it sets.
#[derive(Debug, Clone)]
struct IncrementalSetup {
    incremental: Incremental,
    start_param: Option<String>,
    end_param: Option<String>,
    initial_value: Option<Json>,
    end_value: Option<Json>,
}

/// A resource ready to become a pipeline resource.
#[derive(Debug)]
struct Plan {
    config: ResourceConfig,
    parent: Option<String>,
    resolved: Vec<ResolvedParam>,
    incremental: Option<IncrementalSetup>,
}

/// The items of a parent as its dependent resources need them: per item, the values of the
/// resolved params and the `include_from_parent` fields, or why they are missing.
#[derive(Debug, Default)]
struct Feed {
    items: std::collections::VecDeque<Result<ParentValues, String>>,
}

/// A parent item's values for a child: the placeholders' values (resolved params) and the
/// fields included in each child item (`_<parent>_<field>`).
type ParentValues = (Map<String, Json>, Map<String, Json>);

/// A parent's children: each one's feed, resolved params and `include_from_parent`.
type Children = Vec<(SharedFeed, Vec<ResolvedParam>, Vec<String>)>;

type SharedFeed = Arc<Mutex<Feed>>;

fn config_err(at: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(at, message)
}

/// dlt's `setup_incremental_object`.
fn incremental_setup(r: &ResourceConfig) -> Result<Option<IncrementalSetup>, ConfigError> {
    let e = &r.endpoint;
    let at = format!("{}.endpoint", r.at);
    let params: Vec<(&String, &Map<String, Json>)> = e
        .params
        .iter()
        .filter_map(|(k, v)| {
            v.as_object()
                .filter(|o| o.get("type").and_then(Json::as_str) == Some("incremental"))
                .map(|o| (k, o))
        })
        .collect();
    if params.len() > 1 {
        return Err(config_err(
            &format!("{at}.params"),
            format!(
                "only one incremental param is allowed per endpoint, found {}",
                params
                    .iter()
                    .map(|(k, _)| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let (spec, start_param, end_param, spec_at) = match (params.first(), &e.incremental) {
        (Some((name, spec)), _) => {
            if spec.get("end_value").is_some_and(|v| !v.is_null())
                || spec.get("end_param").is_some_and(|v| !v.is_null())
            {
                return Err(config_err(
                    &format!("{at}.params.{name}"),
                    "only `initial_value` may be set on an incremental param; set `end_value` in `endpoint.incremental`",
                ));
            }
            (
                (*spec).clone(),
                Some((*name).clone()),
                None,
                format!("{at}.params.{name}"),
            )
        }
        (None, Some(spec)) => {
            let name = |k: &str| spec.get(k).and_then(Json::as_str).map(str::to_string);
            (
                spec.clone(),
                name("start_param"),
                name("end_param"),
                format!("{at}.incremental"),
            )
        }
        (None, None) => return Ok(None),
    };
    let cursor_path = spec
        .get("cursor_path")
        .and_then(Json::as_str)
        .ok_or_else(|| config_err(&format!("{spec_at}.cursor_path"), "missing"))?;
    let mut incremental = Incremental::new(cursor_path);
    let initial_value = spec.get("initial_value").filter(|v| !v.is_null()).cloned();
    let end_value = spec.get("end_value").filter(|v| !v.is_null()).cloned();
    if let Some(v) = &initial_value {
        incremental = incremental.initial_value(v.clone());
    }
    if let Some(v) = &end_value {
        incremental = incremental.end_value(v.clone());
    }
    for (key, value) in &spec {
        let key_at = format!("{spec_at}.{key}");
        match key.as_str() {
            "type" | "cursor_path" | "initial_value" | "end_value" | "start_param"
            | "end_param" => {}
            "primary_key" => {
                let cols: Vec<String> = match value {
                    Json::String(s) => vec![s.clone()],
                    Json::Array(list) => list
                        .iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect(),
                    _ => {
                        return Err(config_err(
                            &key_at,
                            "expected a column name or a list of them",
                        ))
                    }
                };
                incremental = incremental.primary_key(cols);
            }
            "on_cursor_value_missing" => {
                incremental = incremental.on_cursor_value_missing(match value.as_str() {
                    Some("raise") => OnMissing::Raise,
                    Some("include") => OnMissing::Include,
                    Some("exclude") => OnMissing::Exclude,
                    _ => return Err(config_err(&key_at, "expected raise, include or exclude")),
                });
            }
            "lag" => match value.as_f64() {
                Some(lag) => incremental = incremental.lag(lag),
                None if value.is_null() => {}
                None => return Err(config_err(&key_at, "expected a number")),
            },
            "range_start" | "range_end" => {
                let bound = match value.as_str() {
                    Some("open") => RangeBound::Open,
                    Some("closed") => RangeBound::Closed,
                    _ => return Err(config_err(&key_at, "expected open or closed")),
                };
                incremental = match key.as_str() {
                    "range_start" => incremental.range_start(bound),
                    _ => incremental.range_end(bound),
                };
            }
            "row_order" => match value.as_str() {
                Some("asc") => incremental = incremental.row_order(RowOrder::Asc),
                Some("desc") => incremental = incremental.row_order(RowOrder::Desc),
                None if value.is_null() => {}
                _ => return Err(config_err(&key_at, "expected asc or desc")),
            },
            "convert" | "transform" | "last_value_func" => {
                return Err(config_err(
                    &key_at,
                    "is a Python function, which a config file cannot hold",
                ))
            }
            _ => {
                if !value.is_null() {
                    tracing::warn!(
                        "rest_api config `{key_at}`: not supported by dlt-rs yet and ignored"
                    );
                }
            }
        }
    }
    Ok(Some(IncrementalSetup {
        incremental,
        start_param,
        end_param,
        initial_value,
        end_value,
    }))
}

/// dlt's `_setup_single_entity_endpoint` and `_bind_path_params`, and the resolved params
/// of the endpoint (params of type `resolve` and `{resources.<parent>.<field>}`
/// placeholders). Returns the parent's name with them.
fn bind(r: &mut ResourceConfig) -> Result<(Option<String>, Vec<ResolvedParam>), ConfigError> {
    let at = format!("{}.endpoint", r.at);
    let e: &mut EndpointConfig = &mut r.endpoint;
    if detect::single_entity_path(&e.path) {
        if e.data_selector.is_none() {
            e.data_selector = Some("$".into());
        }
        if e.paginator.is_none() {
            e.paginator = Some(Json::String("single_page".into()));
        }
    }
    let contexts: &[&str] = if e.incremental.is_some() {
        &["resources", "incremental"]
    } else {
        &["resources"]
    };
    let in_context = |f: &str| contexts.iter().any(|c| f.starts_with(&format!("{c}.")));
    let mut resolve_names: Vec<String> = e
        .params
        .iter()
        .filter(|(_, v)| v.get("type").and_then(Json::as_str) == Some("resolve"))
        .map(|(k, _)| k.clone())
        .collect();
    let mut resolved: Vec<ResolvedParam> = Vec::new();
    let mut parents: Vec<String> = Vec::new();
    for (name, v) in &e.params {
        if v.get("type").and_then(Json::as_str) == Some("resolve") {
            let resource = v.get("resource").and_then(Json::as_str).unwrap_or_default();
            let field = v.get("field").and_then(Json::as_str).unwrap_or_default();
            let path = JsonPath::compile(field).map_err(|err| {
                config_err(
                    &format!("{at}.params.{name}.field"),
                    format!("not a JSON path: {err}"),
                )
            })?;
            parents.push(resource.to_string());
            resolved.push(ResolvedParam {
                name: name.clone(),
                field: field.to_string(),
                path,
            });
        }
    }
    // the path: literal params bound, contexts and resolve params kept
    let segments = parse_template(&e.path).map_err(|m| config_err(&format!("{at}.path"), m))?;
    let mut path = String::new();
    for seg in segments {
        match seg {
            Segment::Text(t) => path.push_str(&t.replace('{', "{{").replace('}', "}}")),
            Segment::Field(f) if in_context(&f) => path.push_str(&format!("{{{f}}}")),
            Segment::Field(f) if resolve_names.contains(&f) => {
                resolve_names.retain(|n| *n != f);
                path.push_str(&format!("{{{f}}}"));
            }
            Segment::Field(f) => match e.params.get(&f) {
                None if f.contains('.') => {
                    return Err(config_err(
                        &format!("{at}.path"),
                        format!(
                            "placeholder `{{{f}}}` is not a valid name (valid: resources.<resource>.<field>{})",
                            if contexts.len() > 1 { ", incremental.<value>" } else { "" }
                        ),
                    ))
                }
                None => {
                    return Err(config_err(
                        &format!("{at}.path"),
                        format!("placeholder `{{{f}}}` needs a param `{f}` in `endpoint.params`"),
                    ))
                }
                Some(Json::Object(o)) => {
                    return Err(config_err(
                        &format!("{at}.params.{f}"),
                        format!(
                            "a path can bind only literal or resolve params, not `{}`",
                            o.get("type").and_then(Json::as_str).unwrap_or("(no type)")
                        ),
                    ))
                }
                Some(v) => {
                    path.push_str(&python_str(v).replace('{', "{{").replace('}', "}}"));
                    e.params.remove(&f);
                }
            },
        }
    }
    if let Some(name) = resolve_names.first() {
        return Err(config_err(
            &format!("{at}.params.{name}"),
            format!(
                "resolve param `{name}` is not bound in path `{}`; to use a parent's field in query params write `{{resources.<parent>.<field>}}`",
                e.path
            ),
        ));
    }
    e.path = path;
    // placeholders: in the path (contexts only) and anywhere in params, json, data, headers
    let mut found: Vec<(String, &str)> = template_fields(&e.path)
        .map_err(|m| config_err(&format!("{at}.path"), m))?
        .into_iter()
        .filter(|f| in_context(f))
        .map(|f| (f, "path"))
        .collect();
    for (part, value) in [
        ("params", Some(Json::Object(e.params.clone()))),
        ("json", e.json.clone()),
        ("data", e.data.clone()),
        ("headers", e.headers.clone().map(Json::Object)),
    ] {
        let Some(value) = value else { continue };
        let mut fields = Vec::new();
        value_fields(&value, &mut fields).map_err(|m| config_err(&format!("{at}.{part}"), m))?;
        for f in fields {
            if !in_context(&f) {
                return Err(config_err(
                    &format!("{at}.{part}"),
                    format!(
                        "placeholder `{{{f}}}` is not valid: placeholders start with {} (write `{{{{` and `}}}}` for literal braces)",
                        contexts.iter().map(|c| format!("`{c}.`")).collect::<Vec<_>>().join(" or ")
                    ),
                ));
            }
            found.push((f, part));
        }
    }
    for (expression, part) in found {
        if !expression.starts_with("resources.") || resolved.iter().any(|p| p.name == expression) {
            continue;
        }
        let parts: Vec<&str> = expression.splitn(3, '.').collect();
        let [_, resource, field] = parts.as_slice() else {
            return Err(config_err(
                &format!("{at}.{part}"),
                format!("`{{{expression}}}`: expected `{{resources.<resource>.<field>}}`"),
            ));
        };
        let path = JsonPath::compile(field).map_err(|err| {
            config_err(
                &format!("{at}.{part}"),
                format!("`{{{expression}}}`: not a JSON path: {err}"),
            )
        })?;
        parents.push((*resource).to_string());
        resolved.push(ResolvedParam {
            name: expression.clone(),
            field: (*field).to_string(),
            path,
        });
    }
    parents.dedup();
    let mut distinct = parents.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > 1 {
        return Err(config_err(
            &at,
            format!(
                "resource `{}` depends on more than one parent ({})",
                r.name,
                distinct.join(", ")
            ),
        ));
    }
    Ok((distinct.into_iter().next(), resolved))
}

/// Parents before their children; otherwise the order of the file (graphlib's static
/// order, as dlt's).
fn order(plans: Vec<Plan>) -> Result<Vec<Plan>, ConfigError> {
    let mut left = plans;
    let mut out: Vec<Plan> = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready: Vec<usize> = left
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.parent
                    .as_ref()
                    .is_none_or(|parent| out.iter().any(|o| &o.config.name == parent))
            })
            .map(|(i, _)| i)
            .collect();
        if ready.is_empty() {
            let names: Vec<&str> = left.iter().map(|p| p.config.name.as_str()).collect();
            return Err(config_err(
                "resources",
                format!(
                    "resources depend on each other in a cycle: {}",
                    names.join(", ")
                ),
            ));
        }
        // the batch in file order
        let mut batch: Vec<Plan> = ready.into_iter().rev().map(|i| left.remove(i)).collect();
        batch.reverse();
        out.extend(batch);
    }
    Ok(out)
}

impl RestApiSource {
    /// A source of `config`, its requests made with `http`'s settings.
    pub fn new(config: RestApiConfig, http: HttpOptions) -> RestApiSource {
        RestApiSource {
            config,
            http: Arc::new(Http::new(http)),
        }
    }

    /// The config.
    pub fn config(&self) -> &RestApiConfig {
        &self.config
    }

    /// The pipeline resources of the config: one per resource not `selected: false`,
    /// parents before their dependents. Nothing is requested until the pipeline extracts.
    ///
    /// # Errors
    /// A config that cannot be run: an unknown parent, a placeholder that is not valid, an
    /// auth or paginator configuration that is not valid, hints that are not.
    pub fn resources(&self) -> Result<Vec<Resource>, ConfigError> {
        let client_auth = match &self.config.client.auth {
            Some(a) => Some(Arc::new(Auth::from_config(a, "client.auth")?)),
            None => None,
        };
        if let Some(a) = &client_auth {
            for s in a.secrets() {
                self.http.add_secret(&s);
            }
        }
        let headers: Vec<(String, String)> = self
            .config
            .client
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), python_str(v)))
            .collect();
        let client = Client {
            http: self.http.clone(),
            base_url: self.config.client.base_url.clone(),
            headers,
            auth: client_auth,
        };
        // check the client paginator once
        if let Some(p) = &self.config.client.paginator {
            paginate::from_config(p, "client.paginator")?;
        }
        let mut plans = Vec::new();
        for r in &self.config.resources {
            let mut config = r.clone();
            let (parent, resolved) = bind(&mut config)?;
            if let Some(p) = &config.endpoint.paginator {
                paginate::from_config(p, &format!("{}.endpoint.paginator", r.at))?;
            }
            if parent.is_none() && !config.include_from_parent.is_empty() {
                return Err(config_err(
                    &format!("{}.include_from_parent", r.at),
                    format!("resource `{}` is not dependent on another resource", r.name),
                ));
            }
            if let Some(p) = &parent {
                if !self.config.resources.iter().any(|o| &o.name == p) {
                    return Err(config_err(
                        &format!("{}.endpoint", r.at),
                        format!(
                            "resource `{}` refers to a parent resource `{p}` that is not defined",
                            r.name
                        ),
                    ));
                }
            }
            let incremental = incremental_setup(&config)?;
            plans.push(Plan {
                config,
                parent,
                resolved,
                incremental,
            });
        }
        let plans = order(plans)?;
        // the feeds of each parent's children
        let mut feeds: BTreeMap<String, Children> = BTreeMap::new();
        let mut child_feeds: BTreeMap<String, SharedFeed> = BTreeMap::new();
        for p in &plans {
            if let Some(parent) = &p.parent {
                let feed = SharedFeed::default();
                feeds.entry(parent.clone()).or_default().push((
                    feed.clone(),
                    p.resolved.clone(),
                    p.config.include_from_parent.clone(),
                ));
                child_feeds.insert(p.config.name.clone(), feed);
            }
        }
        let by_name: BTreeMap<&str, &Plan> =
            plans.iter().map(|p| (p.config.name.as_str(), p)).collect();
        let mut resources = Vec::new();
        for plan in &plans {
            if !plan.config.hints.selected {
                if plan.incremental.is_some() {
                    tracing::warn!(
                        "rest_api resource `{}` is not selected: its incremental cursor is not applied to the items its dependents read",
                        plan.config.name
                    );
                }
                continue;
            }
            let items = self.items_of(&client, plan, &child_feeds, &by_name)?;
            let name = plan
                .config
                .hints
                .table_name
                .clone()
                .unwrap_or_else(|| plan.config.name.clone());
            let mut resource = Resource::from_cursor_results(&name, items);
            if let Some(inc) = &plan.incremental {
                resource = resource.incremental(inc.incremental.clone());
            }
            resource = hinted(resource, &plan.config)?;
            let parallel = plan.config.hints.parallelized
                && plan.parent.is_none()
                && !feeds.contains_key(&plan.config.name);
            if plan.config.hints.parallelized && !parallel {
                tracing::warn!(
                    "rest_api resource `{}`: parents and dependent resources are extracted one after another (`parallelized` ignored)",
                    plan.config.name
                );
            }
            resource = resource.parallelized(parallel);
            if let Some(children) = feeds.remove(&plan.config.name) {
                let parent_name = plan.config.name.clone();
                resource = resource.on_extracted(move |item| {
                    for (feed, resolved, include) in &children {
                        let entry = project(item, &parent_name, resolved, include);
                        if let Ok(mut f) = feed.lock() {
                            f.items.push_back(entry);
                        }
                    }
                });
            }
            resources.push(resource);
        }
        Ok(resources)
    }

    /// The function that makes a plan's items when extraction begins (given the cursor's
    /// start value).
    fn items_of(
        &self,
        client: &Client,
        plan: &Plan,
        child_feeds: &BTreeMap<String, SharedFeed>,
        by_name: &BTreeMap<&str, &Plan>,
    ) -> Result<impl FnOnce(Option<Json>) -> ItemIter + Send + 'static, ConfigError> {
        let paginator = self.config.client.paginator.as_ref();
        let endpoint = Endpoint::new(client, paginator, plan)?;
        let source = match (&plan.parent, child_feeds.get(&plan.config.name)) {
            (Some(parent), Some(feed)) => {
                let parent_plan = by_name.get(parent.as_str()).copied();
                match parent_plan {
                    // an unselected parent is not extracted: read its pages here
                    Some(pp) if !pp.config.hints.selected => Parent::Pages(
                        Box::new(Endpoint::new(client, paginator, pp)?),
                        pp.config.name.clone(),
                        plan.resolved.clone(),
                        plan.config.include_from_parent.clone(),
                    ),
                    _ => Parent::Feed(feed.clone()),
                }
            }
            _ => Parent::None,
        };
        let incremental = plan.incremental.clone();
        Ok(move |start: Option<Json>| -> ItemIter {
            Box::new(ItemsState::new(endpoint, source, incremental, start))
        })
    }
}

/// A parent item's values for its child: the resolved params and the
/// `include_from_parent` fields (as `_<parent>_<field>`), or why one is missing.
fn project(
    item: &Json,
    parent: &str,
    resolved: &[ResolvedParam],
    include: &[String],
) -> Result<ParentValues, String> {
    let fields = || match item.as_object() {
        Some(o) => o
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        None => "(the item is not an object)".into(),
    };
    let mut values = Map::new();
    for p in resolved {
        match p.path.find_values(item).first() {
            Some(v) => {
                values.insert(p.name.clone(), (*v).clone());
            }
            None => {
                return Err(format!(
                    "an item of `{parent}` has no field `{}` to bind to `{}` (its fields: {})",
                    p.field,
                    p.name,
                    fields()
                ))
            }
        }
    }
    let mut record = Map::new();
    for key in include {
        match item.get(key) {
            Some(v) => {
                record.insert(format!("_{parent}_{key}"), v.clone());
            }
            None => {
                return Err(format!(
                    "an item of `{parent}` has no field `{key}` to include in its children as `_{parent}_{key}` (its fields: {})",
                    fields()
                ))
            }
        }
    }
    Ok((values, record))
}

/// The hints of a resource's config set on the pipeline resource.
fn hinted(mut resource: Resource, r: &ResourceConfig) -> Result<Resource, ConfigError> {
    let at = |k: &str| format!("{}.{k}", r.at);
    let err = |k: &str, e: pipeline::PipelineError| config_err(&at(k), e.to_string());
    let names = |v: &Json, k: &str| -> Result<Vec<String>, ConfigError> {
        match v {
            Json::String(s) => Ok(vec![s.clone()]),
            Json::Array(list) => list
                .iter()
                .map(|c| {
                    c.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| config_err(&at(k), "expected column names"))
                })
                .collect(),
            _ => Err(config_err(
                &at(k),
                "expected a column name or a list of them",
            )),
        }
    };
    let h = &r.hints;
    if let Some(wd) = &h.write_disposition {
        resource = match wd {
            Json::String(d) => resource
                .write_disposition(d, None)
                .map_err(|e| err("write_disposition", e))?,
            Json::Object(o) => {
                let d = o
                    .get("disposition")
                    .and_then(Json::as_str)
                    .ok_or_else(|| config_err(&at("write_disposition.disposition"), "missing"))?;
                for k in o.keys() {
                    if k != "disposition" && k != "strategy" {
                        tracing::warn!(
                            "rest_api config `{}`: not supported by dlt-rs yet and ignored",
                            at(&format!("write_disposition.{k}"))
                        );
                    }
                }
                resource
                    .write_disposition(d, o.get("strategy").and_then(Json::as_str))
                    .map_err(|e| err("write_disposition", e))?
            }
            _ => {
                return Err(config_err(
                    &at("write_disposition"),
                    "expected a name or an object",
                ))
            }
        };
    }
    if let Some(pk) = &h.primary_key {
        resource = resource.primary_key(names(pk, "primary_key")?);
    }
    if let Some(mk) = &h.merge_key {
        resource = resource.merge_key(names(mk, "merge_key")?);
    }
    if let Some(columns) = &h.columns {
        resource = resource
            .columns_json(columns)
            .map_err(|e| err("columns", e))?;
    }
    if let Some(n) = h.max_table_nesting {
        resource = resource.max_table_nesting(n);
    }
    if let Some(c) = &h.schema_contract {
        resource = resource.schema_contract(c.clone());
    }
    if let Some(nested) = &h.nested_hints {
        resource = resource
            .nested_hints_json(nested)
            .map_err(|e| err("nested_hints", e))?;
    }
    Ok(resource)
}

type ItemIter = Box<dyn Iterator<Item = Result<Json, ItemError>> + Send>;

/// An endpoint's request template with what it needs to page through it.
#[derive(Debug, Clone)]
struct Endpoint {
    client: Client,
    name: String,
    config: EndpointConfig,
    /// The client's paginator config, used when the endpoint has none.
    client_paginator: Option<Json>,
    auth: Option<Arc<Auth>>,
}

impl Endpoint {
    fn new(
        client: &Client,
        client_paginator: Option<&Json>,
        plan: &Plan,
    ) -> Result<Endpoint, ConfigError> {
        let at = format!("{}.endpoint.auth", plan.config.at);
        let auth = match &plan.config.endpoint.auth {
            Some(a) => {
                let auth = Auth::from_config(a, &at)?;
                for s in auth.secrets() {
                    client.http.add_secret(&s);
                }
                Some(Arc::new(auth))
            }
            None => None,
        };
        Ok(Endpoint {
            client: client.clone(),
            name: plan.config.name.clone(),
            config: plan.config.endpoint.clone(),
            client_paginator: client_paginator.cloned(),
            auth,
        })
    }

    /// The call for one request template expanded with `values` (params already set).
    fn call(&self, params: &Map<String, Json>, values: &Map<String, Json>) -> Result<Call, String> {
        let e = &self.config;
        let path = expand_str(&e.path, values)?;
        let params = match expand_value(&Json::Object(params.clone()), values, false)? {
            Json::Object(m) => m.into_iter().collect(),
            _ => Vec::new(),
        };
        let headers = match &e.headers {
            Some(h) => match expand_value(&Json::Object(h.clone()), values, false)? {
                Json::Object(m) => m.into_iter().map(|(k, v)| (k, python_str(&v))).collect(),
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        let json = e
            .json
            .as_ref()
            .map(|j| expand_value(j, values, true))
            .transpose()?;
        let data = e
            .data
            .as_ref()
            .map(|d| expand_value(d, values, false))
            .transpose()?;
        let paginator_config = e.paginator.as_ref().or(self.client_paginator.as_ref());
        let paginator = match paginator_config {
            Some(p) => paginate::from_config(p, "paginator").map_err(|e| e.to_string())?,
            None => None,
        };
        Ok(Call {
            method: e.method,
            path,
            params,
            json,
            data,
            headers,
            paginator,
            data_selector: e.data_selector.clone(),
            response_actions: e.response_actions.clone(),
            auth: self.auth.clone(),
        })
    }
}

/// Where a dependent resource's parent items come from.
enum Parent {
    None,
    /// The items the parent's extraction kept.
    Feed(SharedFeed),
    /// An unselected parent: its pages are read here.
    Pages(Box<Endpoint>, String, Vec<ResolvedParam>, Vec<String>),
}

/// The items of a resource, page after page (of each parent item in turn).
struct ItemsState {
    endpoint: Endpoint,
    parent: Parent,
    /// The params with the incremental values set.
    params: Map<String, Json>,
    /// The values placeholders expand to (`incremental.*`).
    values: Map<String, Json>,
    /// Whether the (first) call was made.
    started: bool,
    parent_pages: Option<crate::client::Pages>,
    parent_buffer: std::collections::VecDeque<Json>,
    pages: Option<crate::client::Pages>,
    /// The current parent item's `include_from_parent` fields.
    record: Map<String, Json>,
    buffer: std::collections::VecDeque<Json>,
    page: usize,
    done: bool,
}

impl ItemsState {
    fn new(
        endpoint: Endpoint,
        parent: Parent,
        incremental: Option<IncrementalSetup>,
        start: Option<Json>,
    ) -> ItemsState {
        let mut params: Map<String, Json> = endpoint
            .config
            .params
            .iter()
            .filter(|(_, v)| !v.is_object())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut values = Map::new();
        if let Some(inc) = &incremental {
            if let Some(p) = &inc.start_param {
                params.insert(p.clone(), start.clone().unwrap_or(Json::Null));
            }
            if let Some(p) = &inc.end_param {
                params.insert(p.clone(), inc.end_value.clone().unwrap_or(Json::Null));
            }
            let opt = |v: &Option<Json>| v.clone().unwrap_or(Json::Null);
            values.insert("incremental.initial_value".into(), opt(&inc.initial_value));
            values.insert("incremental.start_value".into(), opt(&start));
            values.insert("incremental.last_value".into(), opt(&start));
            values.insert("incremental.end_value".into(), opt(&inc.end_value));
        }
        ItemsState {
            endpoint,
            parent,
            params,
            values,
            started: false,
            parent_pages: None,
            parent_buffer: Default::default(),
            pages: None,
            record: Map::new(),
            buffer: Default::default(),
            page: 0,
            done: false,
        }
    }

    fn fail(&mut self, message: String) -> Option<Result<Json, ItemError>> {
        self.done = true;
        Some(Err(ItemError {
            source_name: format!("resource `{}`", self.endpoint.name),
            position: if self.page == 0 {
                "request".into()
            } else {
                format!("page {}", self.page)
            },
            message,
        }))
    }

    /// The next parent item's values, `Ok(None)` when the parent has no more.
    fn next_parent_values(&mut self) -> Result<Option<ParentValues>, String> {
        match &mut self.parent {
            Parent::None => Ok(None),
            // the parent was extracted before, on the same lane: its items are all here
            Parent::Feed(feed) => {
                let item = feed
                    .lock()
                    .map_err(|_| "the parent's items were lost".to_string())?
                    .items
                    .pop_front();
                item.transpose()
            }
            Parent::Pages(endpoint, parent, resolved, include) => loop {
                if let Some(item) = self.parent_buffer.pop_front() {
                    return project(&item, parent, resolved, include).map(Some);
                }
                if self.parent_pages.is_none() {
                    let params: Map<String, Json> = endpoint
                        .config
                        .params
                        .iter()
                        .filter(|(_, v)| !v.is_object())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let call = endpoint.call(&params, &Map::new())?;
                    self.parent_pages = Some(endpoint.client.paginate(call));
                }
                match self.parent_pages.as_mut().and_then(Iterator::next) {
                    Some(Ok(items)) => self.parent_buffer.extend(items),
                    Some(Err(e)) => return Err(format!("parent `{parent}`: {e}")),
                    None => return Ok(None),
                }
            },
        }
    }
}

impl Iterator for ItemsState {
    type Item = Result<Json, ItemError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(mut item) = self.buffer.pop_front() {
                if !self.record.is_empty() {
                    if let Json::Object(o) = &mut item {
                        for (k, v) in &self.record {
                            o.insert(k.clone(), v.clone());
                        }
                    }
                }
                return Some(Ok(item));
            }
            if let Some(pages) = self.pages.as_mut() {
                match pages.next() {
                    Some(Ok(items)) => {
                        self.page += 1;
                        self.buffer.extend(items);
                        continue;
                    }
                    Some(Err(e)) => return self.fail(client_message(&e)),
                    None => {
                        self.pages = None;
                        continue;
                    }
                }
            }
            // the next call: the one request template, or the next parent item's
            let values = if matches!(self.parent, Parent::None) {
                if self.started {
                    self.done = true;
                    return None;
                }
                self.started = true;
                self.values.clone()
            } else {
                match self.next_parent_values() {
                    Ok(Some((values, record))) => {
                        self.record = record;
                        let mut all = self.values.clone();
                        all.extend(values);
                        all
                    }
                    Ok(None) => {
                        self.done = true;
                        return None;
                    }
                    Err(message) => return self.fail(message),
                }
            };
            let params = self.params.clone();
            match self.endpoint.call(&params, &values) {
                Ok(call) => self.pages = Some(self.endpoint.client.paginate(call)),
                Err(message) => return self.fail(message),
            }
        }
    }
}

fn client_message(e: &ClientError) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    fn values(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn templates_expand_as_python_format() {
        let v = values(
            json!({"resources.posts.id": 7, "incremental.start_value": "2024-01-01", "b": true}),
        );
        assert_eq!(
            expand_str("posts/{resources.posts.id}/comments?x={{y}}", &v).unwrap(),
            "posts/7/comments?x={y}"
        );
        assert_eq!(expand_str("{b}", &v).unwrap(), "True");
        assert!(expand_str("{nope}", &v).unwrap_err().contains("nope"));
        assert!(parse_template("{a!r}").is_err());
        assert!(parse_template("a}b").is_err());
        assert_eq!(
            expand_value(
                &json!({"id": "{resources.posts.id}", "q": "id={resources.posts.id}"}),
                &v,
                true
            )
            .unwrap(),
            json!({"id": 7, "q": "id=7"})
        );
    }

    fn config(doc: Json) -> RestApiConfig {
        RestApiConfig::from_json(&doc).unwrap()
    }

    #[test]
    fn paths_bind_literal_params_and_find_parents() {
        let c = config(json!({"client": {"base_url": "http://x/"}, "resources": [
            "posts",
            {"name": "comments", "endpoint": {"path": "posts/{post_id}/comments/{lang}",
              "params": {"post_id": {"type": "resolve", "resource": "posts", "field": "id"}, "lang": "en", "q": "{resources.posts.slug}"}}}
        ]}));
        let mut r = c.resources[1].clone();
        let (parent, resolved) = bind(&mut r).unwrap();
        assert_eq!(parent.as_deref(), Some("posts"));
        assert_eq!(r.endpoint.path, "posts/{post_id}/comments/en");
        let names: Vec<&str> = resolved.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["post_id", "resources.posts.slug"]);
        assert!(!r.endpoint.params.contains_key("lang"));
    }

    #[test]
    fn bad_placeholders_and_parents_are_config_errors() {
        let err = |doc: Json| {
            let c = config(doc);
            RestApiSource::new(c, HttpOptions::default())
                .resources()
                .unwrap_err()
        };
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "endpoint": {"path": "a/{id}"}}]}));
        assert!(e.message.contains("needs a param `id`"), "{e}");
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "endpoint": {"path": "a/{resources.nope.id}"}}]}));
        assert!(e.message.contains("`nope`"), "{e}");
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "endpoint": {"params": {"q": "{other.x}"}}}]}));
        assert_eq!(e.path, "resources[0].endpoint.params");
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "include_from_parent": ["id"]}]}));
        assert_eq!(e.path, "resources[0].include_from_parent");
    }
}
