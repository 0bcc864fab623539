//! The `RESTAPIConfig` document: dlt's dict shape read from a JSON, YAML or TOML file,
//! validated as dlt validates it (unknown keys are errors, as dlt's `validate_dict` makes
//! them), resources expanded (a string is a name and a path, a string endpoint a path, no
//! path the name) and merged with `resource_defaults` (endpoint keys replaced, `params` and
//! `json` merged one level deep, resource keys replaced), as dlt's `config_setup` does.
//!
//! Pure: no IO but reading the file, no requests. The secrets an auth needs and the file
//! leaves out are looked up in the dlt configuration ([`RestApiConfig::resolve_secrets`]).

use std::path::Path;

use serde_json::{Map, Value as Json};

use crate::request::Method;
use crate::ConfigError;

/// A `RESTAPIConfig`, its resources expanded and merged with the defaults, in file order.
#[derive(Clone, PartialEq)]
pub struct RestApiConfig {
    pub(crate) client: ClientConfig,
    pub(crate) resources: Vec<ResourceConfig>,
}

impl std::fmt::Debug for RestApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // auth and headers may hold secrets
        f.debug_struct("RestApiConfig")
            .field("base_url", &crate::http::redact_url(&self.client.base_url))
            .field(
                "resources",
                &self.resources.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// `client`: where the API is and how to talk to it.
#[derive(Clone, PartialEq)]
pub(crate) struct ClientConfig {
    pub(crate) base_url: String,
    pub(crate) headers: Map<String, Json>,
    pub(crate) auth: Option<Json>,
    pub(crate) paginator: Option<Json>,
}

/// One resource of `resources`, expanded and merged with `resource_defaults`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceConfig {
    pub(crate) name: String,
    /// Where in the document it came from (`resources[2]`), for errors.
    pub(crate) at: String,
    pub(crate) endpoint: EndpointConfig,
    pub(crate) include_from_parent: Vec<String>,
    pub(crate) hints: Hints,
}

/// The table hints of a resource (dlt's `TResourceHintsBase` and `ResourceBase`).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Hints {
    pub(crate) table_name: Option<String>,
    pub(crate) write_disposition: Option<Json>,
    pub(crate) primary_key: Option<Json>,
    pub(crate) merge_key: Option<Json>,
    pub(crate) columns: Option<Json>,
    pub(crate) max_table_nesting: Option<u32>,
    /// dlt's `schema_contract` of the resource.
    pub(crate) schema_contract: Option<dest_core::SchemaContract>,
    /// dlt's `nested_hints`, as given.
    pub(crate) nested_hints: Option<Json>,
    /// `selected: false`: not loaded (its items may still feed dependent resources).
    pub(crate) selected: bool,
    pub(crate) parallelized: bool,
}

/// `endpoint`: one request template and how to page through it.
#[derive(Clone, PartialEq)]
pub(crate) struct EndpointConfig {
    pub(crate) path: String,
    pub(crate) method: Method,
    pub(crate) params: Map<String, Json>,
    pub(crate) json: Option<Json>,
    pub(crate) data: Option<Json>,
    pub(crate) headers: Option<Map<String, Json>>,
    pub(crate) paginator: Option<Json>,
    pub(crate) data_selector: Option<String>,
    pub(crate) response_actions: Vec<ResponseAction>,
    pub(crate) incremental: Option<Map<String, Json>>,
    pub(crate) auth: Option<Json>,
}

/// Header names only, and whether there is an auth: their values may be secrets.
fn secret_free(headers: Option<&Map<String, Json>>, auth: Option<&Json>) -> (Vec<String>, bool) {
    (
        headers
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default(),
        auth.is_some(),
    )
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (headers, auth) = secret_free(Some(&self.headers), self.auth.as_ref());
        f.debug_struct("ClientConfig")
            .field("base_url", &crate::http::redact_url(&self.base_url))
            .field("headers", &headers)
            .field("auth", &auth)
            .field("paginator", &self.paginator)
            .finish()
    }
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (headers, auth) = secret_free(self.headers.as_ref(), self.auth.as_ref());
        f.debug_struct("EndpointConfig")
            .field("path", &self.path)
            .field("method", &self.method)
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .field("headers", &headers)
            .field("auth", &auth)
            .field("paginator", &self.paginator)
            .field("data_selector", &self.data_selector)
            .field("incremental", &self.incremental.is_some())
            .finish_non_exhaustive()
    }
}

/// `response_actions`: a response that matches (status and/or body text) is ignored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResponseAction {
    pub(crate) status_code: Option<u16>,
    pub(crate) content: Option<String>,
}

const CONFIG_KEYS: &[&str] = &["client", "resources", "resource_defaults"];
const CLIENT_KEYS: &[&str] = &["base_url", "headers", "auth", "paginator", "session"];
const ENDPOINT_KEYS: &[&str] = &[
    "path",
    "method",
    "params",
    "json",
    "data",
    "paginator",
    "data_selector",
    "response_actions",
    "incremental",
    "auth",
    "headers",
];
/// Keys of a resource (and of `resource_defaults`, which has no `name`).
const RESOURCE_KEYS: &[&str] = &[
    "name",
    "endpoint",
    "include_from_parent",
    "processing_steps",
    "max_table_nesting",
    "selected",
    "parallelized",
    "table_name",
    "nested_hints",
    "parent_table_name",
    "write_disposition",
    "primary_key",
    "columns",
    "schema_contract",
    "table_format",
    "file_format",
    "merge_key",
    "references",
];
/// Resource keys dlt accepts that dlt-rs does not implement here: a warning each.
const UNSUPPORTED_RESOURCE_KEYS: &[&str] = &[
    "parent_table_name",
    "table_format",
    "file_format",
    "references",
];
const INCREMENTAL_KEYS: &[&str] = &[
    "cursor_path",
    "initial_value",
    "end_value",
    "last_value_func",
    "primary_key",
    "allow_external_schedulers",
    "on_cursor_value_missing",
    "lag",
    "range_start",
    "range_end",
    "row_order",
    "start_param",
    "end_param",
    "convert",
    "transform",
];

/// Fails on a key of `obj` that is not in `known`, naming it and the closest valid one.
fn check_keys(obj: &Map<String, Json>, known: &[&str], at: &str) -> Result<(), ConfigError> {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            let hint = match dlt_config::closest(key, known) {
                Some(k) => format!(" (did you mean `{k}`?)"),
                None => format!(" (valid: {})", known.join(", ")),
            };
            return Err(ConfigError::new(
                join(at, key),
                format!("unknown key{hint}"),
            ));
        }
    }
    Ok(())
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

fn expect_object<'a>(v: &'a Json, at: &str) -> Result<&'a Map<String, Json>, ConfigError> {
    v.as_object()
        .ok_or_else(|| ConfigError::new(at, format!("expected an object, got {}", type_name(v))))
}

fn expect_string(v: &Json, at: &str) -> Result<String, ConfigError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| ConfigError::new(at, format!("expected a string, got {}", type_name(v))))
}

fn expect_bool(v: &Json, at: &str) -> Result<bool, ConfigError> {
    v.as_bool().ok_or_else(|| {
        ConfigError::new(at, format!("expected true or false, got {}", type_name(v)))
    })
}

/// A value of `obj` that is absent or null: `None`.
fn get<'a>(obj: &'a Map<String, Json>, key: &str) -> Option<&'a Json> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Reads a config file into JSON: by its extension `.json`, `.yaml` / `.yml` or `.toml`.
pub(crate) fn read_document(path: &Path) -> Result<Json, ConfigError> {
    let at = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&at, format!("cannot be read: {e}")))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    parse_document(&text, &ext).map_err(|message| ConfigError::new(at, message))
}

/// Parses config text in format `ext` (`json`, `yaml`, `yml`, `toml`).
pub(crate) fn parse_document(text: &str, ext: &str) -> Result<Json, String> {
    match ext {
        "json" => serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}")),
        "yaml" | "yml" => yaml_serde::from_str(text).map_err(|e| format!("not valid YAML: {e}")),
        "toml" => toml::from_str(text).map_err(|e| format!("not valid TOML: {e}")),
        _ => Err("unknown config format: name the file .json, .yaml, .yml or .toml".into()),
    }
}

impl RestApiConfig {
    /// Reads and validates a config file (`.json`, `.yaml`, `.yml`, `.toml`).
    ///
    /// # Errors
    /// The file cannot be read or parsed, or the document is not a valid `RESTAPIConfig`
    /// (the error names the key path).
    pub fn from_file(path: impl AsRef<Path>) -> Result<RestApiConfig, ConfigError> {
        RestApiConfig::from_json(&read_document(path.as_ref())?)
    }

    /// Validates a `RESTAPIConfig` document given as JSON.
    ///
    /// # Errors
    /// The document is not a valid `RESTAPIConfig` (the error names the key path).
    pub fn from_json(doc: &Json) -> Result<RestApiConfig, ConfigError> {
        let root = expect_object(doc, "$")?;
        check_keys(root, CONFIG_KEYS, "")?;
        let client =
            parse_client(root.get("client").ok_or_else(|| {
                ConfigError::new("client", "missing (client.base_url is required)")
            })?)?;
        let defaults = match get(root, "resource_defaults") {
            Some(d) => {
                let obj = expect_object(d, "resource_defaults")?;
                check_keys(obj, RESOURCE_KEYS, "resource_defaults")?;
                if obj.contains_key("name") {
                    return Err(ConfigError::new(
                        "resource_defaults.name",
                        "a default cannot name resources",
                    ));
                }
                obj.clone()
            }
            None => Map::new(),
        };
        let list = root
            .get("resources")
            .ok_or_else(|| ConfigError::new("resources", "missing"))?;
        let list = list.as_array().ok_or_else(|| {
            ConfigError::new(
                "resources",
                format!("expected a list, got {}", type_name(list)),
            )
        })?;
        if list.is_empty() {
            return Err(ConfigError::new("resources", "no resources"));
        }
        let mut resources: Vec<ResourceConfig> = Vec::with_capacity(list.len());
        for (i, r) in list.iter().enumerate() {
            let at = format!("resources[{i}]");
            let resource = parse_resource(r, &defaults, &at)?;
            if resources.iter().any(|o| o.name == resource.name) {
                return Err(ConfigError::new(
                    join(&at, "name"),
                    format!("resource `{}` is already defined", resource.name),
                ));
            }
            resources.push(resource);
        }
        Ok(RestApiConfig { client, resources })
    }

    /// The names of the resources, in file order.
    pub fn resource_names(&self) -> Vec<&str> {
        self.resources.iter().map(|r| r.name.as_str()).collect()
    }

    /// Fills the secrets an auth leaves out (`token`, `api_key`, `username`, `password`,
    /// `client_id`, `client_secret`) from the dlt configuration, as dlt resolves an auth's
    /// missing fields: `sources.rest_api.<key>`, then `sources.<key>`, then `<key>`
    /// (`[sources.rest_api] token = ...` in `.dlt/secrets.toml`, or
    /// `SOURCES__REST_API__TOKEN`). An auth given by its type alone (`"auth": "bearer"`)
    /// becomes `{"type": "bearer"}` first.
    pub fn resolve_secrets(&mut self, config: &dlt_config::Config) {
        let resolver = config.resolver(None);
        let fill = |auth: &mut Json| {
            if let Json::String(kind) = auth {
                *auth = serde_json::json!({ "type": kind.clone() });
            }
            let Some(obj) = auth.as_object_mut() else {
                return;
            };
            let kind = obj
                .get("type")
                .and_then(Json::as_str)
                .unwrap_or("bearer")
                .to_string();
            let fields: &[&str] = match kind.as_str() {
                "bearer" => &["token"],
                "api_key" => &["api_key"],
                "http_basic" => &["username", "password"],
                "oauth2_client_credentials" => &["client_id", "client_secret"],
                _ => &[],
            };
            for field in fields {
                if get(obj, field).is_some() {
                    continue;
                }
                // dlt's source lookup: `sources.rest_api.<key>`, `sources.<key>`, `<key>`
                let found = [&["sources", "rest_api"][..], &["sources"], &[]]
                    .iter()
                    .find_map(|section| resolver.find(section, field));
                if let Some(value) = found.and_then(|f| f.as_string().ok()) {
                    obj.insert((*field).to_string(), Json::String(value));
                }
            }
        };
        if let Some(auth) = self.client.auth.as_mut() {
            fill(auth);
        }
        for r in &mut self.resources {
            if let Some(auth) = r.endpoint.auth.as_mut() {
                fill(auth);
            }
        }
    }
}

fn parse_client(v: &Json) -> Result<ClientConfig, ConfigError> {
    let obj = expect_object(v, "client")?;
    check_keys(obj, CLIENT_KEYS, "client")?;
    if obj.contains_key("session") {
        return Err(ConfigError::new(
            "client.session",
            "a requests session is Python code; dlt-rs makes its own client",
        ));
    }
    let base_url = expect_string(
        get(obj, "base_url").ok_or_else(|| ConfigError::new("client.base_url", "missing"))?,
        "client.base_url",
    )?;
    url::Url::parse(&base_url)
        .map_err(|e| ConfigError::new("client.base_url", format!("not an absolute URL: {e}")))?;
    let headers = match get(obj, "headers") {
        Some(h) => expect_object(h, "client.headers")?.clone(),
        None => Map::new(),
    };
    Ok(ClientConfig {
        base_url,
        headers,
        auth: get(obj, "auth").cloned(),
        paginator: get(obj, "paginator").cloned(),
    })
}

/// dlt's `_make_endpoint_resource` and `_merge_resource_endpoints`.
fn parse_resource(
    v: &Json,
    defaults: &Map<String, Json>,
    at: &str,
) -> Result<ResourceConfig, ConfigError> {
    let mut resource = match v {
        Json::String(name) => {
            let mut r = Map::new();
            r.insert("name".into(), Json::String(name.clone()));
            r
        }
        Json::Object(obj) => {
            check_keys(obj, RESOURCE_KEYS, at)?;
            obj.clone()
        }
        other => {
            return Err(ConfigError::new(
                at,
                format!("expected a name or an object, got {}", type_name(other)),
            ))
        }
    };
    let name = expect_string(
        get(&resource, "name").ok_or_else(|| ConfigError::new(join(at, "name"), "missing"))?,
        &join(at, "name"),
    )?;
    if name.is_empty() {
        return Err(ConfigError::new(join(at, "name"), "empty"));
    }
    let endpoint_at = join(at, "endpoint");
    let mut endpoint = match get(&resource, "endpoint") {
        Some(Json::String(path)) => {
            let mut e = Map::new();
            e.insert("path".into(), Json::String(path.clone()));
            e
        }
        Some(e) => {
            let obj = expect_object(e, &endpoint_at)?;
            check_keys(obj, ENDPOINT_KEYS, &endpoint_at)?;
            obj.clone()
        }
        None => Map::new(),
    };
    if get(&endpoint, "path").is_none() {
        endpoint.insert("path".into(), Json::String(name.clone()));
    }
    // the defaults' endpoint, replaced key by key; params and json merged one level
    let mut merged = match get(defaults, "endpoint") {
        Some(Json::Object(d)) => {
            check_keys(d, ENDPOINT_KEYS, "resource_defaults.endpoint")?;
            d.clone()
        }
        Some(Json::String(_)) => {
            return Err(ConfigError::new(
                "resource_defaults.endpoint",
                "a default endpoint must be an object (a path cannot be a default)",
            ))
        }
        Some(other) => {
            return Err(ConfigError::new(
                "resource_defaults.endpoint",
                format!("expected an object, got {}", type_name(other)),
            ))
        }
        None => Map::new(),
    };
    for (k, v) in &endpoint {
        if k == "json" || k == "params" {
            continue;
        }
        merged.insert(k.clone(), v.clone());
    }
    for key in ["json", "params"] {
        if let Some(own) = endpoint.get(key) {
            let own = expect_object(own, &join(&endpoint_at, key))?;
            let mut both = match merged.get(key) {
                Some(Json::Object(d)) => d.clone(),
                _ => Map::new(),
            };
            for (k, v) in own {
                both.insert(k.clone(), v.clone());
            }
            merged.insert(key.into(), Json::Object(both));
        }
    }
    // resource keys: the resource's own win over the defaults (columns merged by name)
    for (k, v) in defaults {
        if k == "endpoint" {
            continue;
        }
        match (k.as_str(), resource.get(k)) {
            ("columns", Some(own)) => {
                let both = merge_columns(v, own);
                resource.insert(k.clone(), both);
            }
            (_, Some(_)) => {}
            (_, None) => {
                resource.insert(k.clone(), v.clone());
            }
        }
    }
    for key in UNSUPPORTED_RESOURCE_KEYS {
        if get(&resource, key).is_some() {
            tracing::warn!(
                "rest_api config `{}`: `{key}` is not supported by dlt-rs yet and is ignored",
                join(at, key)
            );
        }
    }
    if get(&resource, "processing_steps").is_some() {
        return Err(ConfigError::new(
            join(at, "processing_steps"),
            "filter and map steps are Python functions, which a config file cannot hold; \
             transform the loaded tables instead (e.g. with dbt)",
        ));
    }
    let include_from_parent = match get(&resource, "include_from_parent") {
        Some(Json::Array(fields)) => fields
            .iter()
            .enumerate()
            .map(|(i, f)| expect_string(f, &format!("{at}.include_from_parent[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ConfigError::new(
                join(at, "include_from_parent"),
                format!("expected a list of field names, got {}", type_name(other)),
            ))
        }
        None => Vec::new(),
    };
    let hints = parse_hints(&resource, at)?;
    let endpoint = parse_endpoint(&merged, &endpoint_at)?;
    Ok(ResourceConfig {
        name,
        at: at.to_string(),
        endpoint,
        include_from_parent,
        hints,
    })
}

/// dlt's column merge of a default and a resource's `columns` (a list or a name-keyed
/// object each): the resource's hints of a column win key by key.
fn merge_columns(default: &Json, own: &Json) -> Json {
    let by_name = |v: &Json| -> Vec<(String, Map<String, Json>)> {
        match v {
            Json::Object(m) => m
                .iter()
                .map(|(k, h)| (k.clone(), h.as_object().cloned().unwrap_or_default()))
                .collect(),
            Json::Array(list) => list
                .iter()
                .filter_map(|c| {
                    let obj = c.as_object()?;
                    Some((obj.get("name")?.as_str()?.to_string(), obj.clone()))
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut out: Vec<(String, Map<String, Json>)> = by_name(default);
    for (name, hints) in by_name(own) {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, h)) => {
                for (k, v) in hints {
                    h.insert(k, v);
                }
            }
            None => out.push((name, hints)),
        }
    }
    Json::Object(
        out.into_iter()
            .map(|(n, mut h)| {
                h.remove("name");
                (n, Json::Object(h))
            })
            .collect(),
    )
}

fn parse_hints(r: &Map<String, Json>, at: &str) -> Result<Hints, ConfigError> {
    let key = |k: &str| join(at, k);
    Ok(Hints {
        table_name: get(r, "table_name")
            .map(|v| expect_string(v, &key("table_name")))
            .transpose()?,
        write_disposition: get(r, "write_disposition").cloned(),
        primary_key: get(r, "primary_key").cloned(),
        merge_key: get(r, "merge_key").cloned(),
        columns: get(r, "columns").cloned(),
        max_table_nesting: get(r, "max_table_nesting")
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        ConfigError::new(key("max_table_nesting"), "expected a whole number >= 0")
                    })
            })
            .transpose()?,
        nested_hints: get(r, "nested_hints").cloned(),
        schema_contract: get(r, "schema_contract")
            .map(|v| {
                dest_core::SchemaContract::from_json(v)
                    .map_err(|e| ConfigError::new(key("schema_contract"), e.to_string()))
            })
            .transpose()?,
        selected: get(r, "selected")
            .map(|v| expect_bool(v, &key("selected")))
            .transpose()?
            .unwrap_or(true),
        parallelized: get(r, "parallelized")
            .map(|v| expect_bool(v, &key("parallelized")))
            .transpose()?
            .unwrap_or(false),
    })
}

fn parse_endpoint(e: &Map<String, Json>, at: &str) -> Result<EndpointConfig, ConfigError> {
    let key = |k: &str| join(at, k);
    let path = expect_string(
        get(e, "path").ok_or_else(|| ConfigError::new(key("path"), "missing"))?,
        &key("path"),
    )?;
    let method = match get(e, "method") {
        Some(m) => {
            let name = expect_string(m, &key("method"))?;
            Method::parse(&name).ok_or_else(|| {
                ConfigError::new(
                    key("method"),
                    // tidy: not SQL
                    format!("unknown method `{name}` (valid: GET, POST, PUT, PATCH, DELETE, HEAD)"),
                )
            })?
        }
        None => Method::Get,
    };
    let params = match get(e, "params") {
        Some(p) => expect_object(p, &key("params"))?.clone(),
        None => Map::new(),
    };
    for (name, value) in &params {
        if let Json::Object(bind) = value {
            match bind.get("type").and_then(Json::as_str) {
                Some("incremental") => {
                    check_keys(
                        bind,
                        &[&["type"], INCREMENTAL_KEYS].concat(),
                        &format!("{}.{name}", key("params")),
                    )?;
                }
                Some("resolve") => {
                    check_keys(
                        bind,
                        &["type", "resource", "field"],
                        &format!("{}.{name}", key("params")),
                    )?;
                    for required in ["resource", "field"] {
                        if get(bind, required).and_then(Json::as_str).is_none() {
                            return Err(ConfigError::new(
                                format!("{}.{name}.{required}", key("params")),
                                "missing (a resolve param names a resource and a field)",
                            ));
                        }
                    }
                }
                other => {
                    return Err(ConfigError::new(
                        format!("{}.{name}.type", key("params")),
                        format!(
                            "`{}` is not a param type (valid: incremental, resolve)",
                            other.unwrap_or("(missing)")
                        ),
                    ))
                }
            }
        }
    }
    let headers = match get(e, "headers") {
        Some(h) => Some(expect_object(h, &key("headers"))?.clone()),
        None => None,
    };
    let data_selector = get(e, "data_selector")
        .map(|v| expect_string(v, &key("data_selector")))
        .transpose()?;
    let response_actions = match get(e, "response_actions") {
        Some(Json::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, a)| parse_response_action(a, &format!("{}[{i}]", key("response_actions"))))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ConfigError::new(
                key("response_actions"),
                format!("expected a list, got {}", type_name(other)),
            ))
        }
        None => Vec::new(),
    };
    let incremental = match get(e, "incremental") {
        Some(i) => {
            let obj = expect_object(i, &key("incremental"))?;
            check_keys(obj, INCREMENTAL_KEYS, &key("incremental"))?;
            Some(obj.clone())
        }
        None => None,
    };
    Ok(EndpointConfig {
        path,
        method,
        params,
        json: get(e, "json").cloned(),
        data: get(e, "data").cloned(),
        headers,
        paginator: get(e, "paginator").cloned(),
        data_selector,
        response_actions,
        incremental,
        auth: get(e, "auth").cloned(),
    })
}

fn parse_response_action(v: &Json, at: &str) -> Result<ResponseAction, ConfigError> {
    let obj = expect_object(v, at)?;
    check_keys(obj, &["status_code", "content", "action"], at)?;
    match get(obj, "action") {
        Some(Json::String(a)) if a == "ignore" => {}
        Some(Json::String(a)) => {
            return Err(ConfigError::new(
                join(at, "action"),
                format!("unknown action `{a}` (valid: ignore; custom hooks are Python functions)"),
            ))
        }
        Some(other) => {
            return Err(ConfigError::new(
                join(at, "action"),
                format!("expected \"ignore\", got {}", type_name(other)),
            ))
        }
        None => return Err(ConfigError::new(join(at, "action"), "missing")),
    }
    let status_code = match get(obj, "status_code") {
        Some(Json::Number(n)) => Some(
            n.as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| ConfigError::new(join(at, "status_code"), "not an HTTP status"))?,
        ),
        Some(Json::String(s)) => Some(
            s.parse()
                .map_err(|_| ConfigError::new(join(at, "status_code"), "not an HTTP status"))?,
        ),
        Some(other) => {
            return Err(ConfigError::new(
                join(at, "status_code"),
                format!("expected a number, got {}", type_name(other)),
            ))
        }
        None => None,
    };
    let content = get(obj, "content")
        .map(|v| expect_string(v, &join(at, "content")))
        .transpose()?;
    if status_code.is_none() && content.is_none() {
        return Err(ConfigError::new(
            at,
            "a response action needs `status_code` or `content` to match",
        ));
    }
    Ok(ResponseAction {
        status_code,
        content,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn resources_expand_and_merge_with_defaults() {
        let c = RestApiConfig::from_json(&json!({
            "client": {"base_url": "https://api.example.com/v1/"},
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {"params": {"per_page": 100, "state": "open"}, "data_selector": "data"},
                "columns": {"id": {"data_type": "bigint"}, "x": {"nullable": false}}
            },
            "resources": [
                "posts",
                {"name": "issues", "endpoint": "repos/issues", "write_disposition": "append"},
                {"name": "users", "endpoint": {"params": {"state": "all", "q": 1}},
                 "columns": [{"name": "x", "data_type": "text"}]}
            ]
        }))
        .unwrap();
        let posts = &c.resources[0];
        assert_eq!(posts.endpoint.path, "posts");
        assert_eq!(posts.endpoint.data_selector.as_deref(), Some("data"));
        assert_eq!(posts.hints.write_disposition, Some(json!("merge")));
        assert_eq!(
            posts.endpoint.params,
            *json!({"per_page": 100, "state": "open"})
                .as_object()
                .unwrap()
        );
        let issues = &c.resources[1];
        assert_eq!(issues.endpoint.path, "repos/issues");
        assert_eq!(issues.hints.write_disposition, Some(json!("append")));
        assert_eq!(issues.hints.primary_key, Some(json!("id")));
        let users = &c.resources[2];
        assert_eq!(users.endpoint.path, "users");
        assert_eq!(
            users.endpoint.params,
            *json!({"per_page": 100, "state": "all", "q": 1})
                .as_object()
                .unwrap()
        );
        assert_eq!(
            users.hints.columns,
            Some(
                json!({"id": {"data_type": "bigint"}, "x": {"nullable": false, "data_type": "text"}})
            )
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_path() {
        let err = |doc: Json| RestApiConfig::from_json(&doc).unwrap_err();
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "endpoint": {"path": "a", "paginatr": "auto"}}]}));
        assert_eq!(e.path, "resources[0].endpoint.paginatr");
        assert!(e.message.contains("paginator"), "{e}");
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "write_dispositon": "merge"}]}));
        assert_eq!(e.path, "resources[0].write_dispositon");
        let e = err(json!({"client": {"base_url": "not a url"}, "resources": ["a"]}));
        assert_eq!(e.path, "client.base_url");
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": ["a", "a"]}));
        assert!(e.message.contains("already defined"), "{e}");
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "endpoint": {"params": {"p": {"type": "magic"}}}}]}));
        assert_eq!(e.path, "resources[0].endpoint.params.p.type");
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "processing_steps": [{"filter": "x"}]}]}));
        assert_eq!(e.path, "resources[0].processing_steps");
        let e = err(json!({"client": {"base_url": "http://x/"}, "resources": [
            {"name": "a", "endpoint": {"response_actions": [{"status_code": 404, "action": "retry"}]}}]}));
        assert_eq!(e.path, "resources[0].endpoint.response_actions[0].action");
    }

    #[test]
    fn documents_parse_from_every_format() {
        let yaml = "client:\n  base_url: https://x/\nresources:\n  - posts\n  - name: users\n    endpoint:\n      path: u\n";
        let toml = "resources = [\"posts\", { name = \"users\", endpoint = { path = \"u\" } }]\n[client]\nbase_url = \"https://x/\"\n";
        let json = r#"{"client": {"base_url": "https://x/"}, "resources": ["posts", {"name": "users", "endpoint": {"path": "u"}}]}"#;
        let parsed: Vec<RestApiConfig> = [(yaml, "yaml"), (toml, "toml"), (json, "json")]
            .iter()
            .map(|(t, e)| RestApiConfig::from_json(&parse_document(t, e).unwrap()).unwrap())
            .collect();
        assert_eq!(parsed[0], parsed[1]);
        assert_eq!(parsed[1], parsed[2]);
        assert_eq!(parsed[0].resource_names(), ["posts", "users"]);
        assert!(parse_document("{", "json").unwrap_err().contains("JSON"));
        assert!(parse_document("a", "ini").is_err());
    }

    #[test]
    fn missing_secrets_come_from_the_configuration() {
        let mut c = RestApiConfig::from_json(&json!({
            "client": {"base_url": "https://x/", "auth": "bearer"},
            "resources": [{"name": "a", "endpoint": {"auth": {"type": "http_basic", "username": "u"}}}]
        }))
        .unwrap();
        let config = dlt_config::Config::builder()
            .no_global_dir()
            .env(false)
            .set("sources.rest_api.token", "t0k")
            .set("sources.password", "pw")
            .build()
            .unwrap();
        c.resolve_secrets(&config);
        assert_eq!(
            c.client.auth,
            Some(json!({"type": "bearer", "token": "t0k"}))
        );
        assert_eq!(
            c.resources[0].endpoint.auth,
            Some(json!({"type": "http_basic", "username": "u", "password": "pw"}))
        );
        // the Debug forms show no secret
        assert!(!format!("{c:?}").contains("t0k"));
        assert!(!format!("{:?}", c.client).contains("t0k"));
        assert!(!format!("{:?}", c.resources[0]).contains("pw"));
    }
}
