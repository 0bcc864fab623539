//! Configuration like dlt's: `.dlt/` TOML files, environment variables and values from code,
//! read and merged through [figment].
//!
//! [`Config`] implements [`dest_core::config::ConfigSource`]: a list of providers in precedence
//! order, each one a [`figment::Figment`] reduced to a tree of lowercase keys:
//!
//! 0. values set in code ([`ConfigBuilder::set`]);
//! 1. environment variables, dlt's convention: `DESTINATION__POSTGRES__CREDENTIALS__PASSWORD`
//!    is the key `destination.postgres.credentials.password`. Values are kept verbatim as
//!    strings (a password `0012` stays `"0012"`); typed readers such as
//!    [`dest_core::config::Found::as_u64`] parse them when a number is wanted;
//! 2. `secrets.toml`: the project's `<project>/.dlt/secrets.toml` merged over the global
//!    `<global>/secrets.toml` (the project wins on conflicts);
//! 3. `config.toml`: likewise `<project>/.dlt/config.toml` over `<global>/config.toml`.
//!
//! This is dlt's own provider layout (environment, `secrets.toml`, `config.toml`, each TOML
//! provider merging the global file under the project file). The project directory defaults to
//! `$DLT_PROJECT_DIR` or the current directory; the global directory to `$DLT_DATA_DIR` or
//! `$HOME/.dlt`.
//!
//! Lookups never print values: [`Config`]'s `Debug` lists providers only, and errors name files
//! and keys, never what they contain.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use dest_core::config::{ConfigSource, Resolver};
use dest_core::Error;
use figment::providers::{Format, Toml};
use figment::value::{Dict, Empty, Map, Num, Tag, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde_json::Value as Json;

/// Where a key holds both a value and sub-keys (possible with environment variables and code
/// values, e.g. `DESTINATION__POSTGRES__CREDENTIALS` and `..__CREDENTIALS__PASSWORD`), the
/// value is kept in the table under this key. It cannot come from an environment variable name.
const SCALAR_KEY: &str = "\u{0}value";

/// How toml (through serde) represents a date-time; turned into its text.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

/// Name of the provider of values set in code.
pub const CODE_PROVIDER: &str = "values set in code";
/// Name of the environment variables provider.
pub const ENV_PROVIDER: &str = "environment variables";

/// Where environment variables come from.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum EnvSource {
    /// The process environment (the default).
    #[default]
    Process,
    /// No environment variables provider (directories are still discovered from the process
    /// environment unless set explicitly).
    Disabled,
    /// These variables instead of the process environment (for tests); they are also used to
    /// discover `DLT_PROJECT_DIR`, `DLT_DATA_DIR` and `HOME`.
    Vars(BTreeMap<String, String>),
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvSource::Process => f.write_str("Process"),
            EnvSource::Disabled => f.write_str("Disabled"),
            // names only: values may be secrets
            EnvSource::Vars(vars) => f.debug_tuple("Vars").field(&vars.keys()).finish(),
        }
    }
}

impl From<bool> for EnvSource {
    /// `true`: the process environment; `false`: no environment variables.
    fn from(enabled: bool) -> Self {
        if enabled {
            EnvSource::Process
        } else {
            EnvSource::Disabled
        }
    }
}

impl From<BTreeMap<String, String>> for EnvSource {
    fn from(vars: BTreeMap<String, String>) -> Self {
        EnvSource::Vars(vars)
    }
}

impl From<HashMap<String, String>> for EnvSource {
    fn from(vars: HashMap<String, String>) -> Self {
        EnvSource::Vars(vars.into_iter().collect())
    }
}

impl<K: Into<String>, V: Into<String>> From<Vec<(K, V)>> for EnvSource {
    fn from(vars: Vec<(K, V)>) -> Self {
        EnvSource::Vars(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for EnvSource {
    fn from(vars: [(K, V); N]) -> Self {
        EnvSource::Vars(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl EnvSource {
    /// One variable, from the map or the process environment (even when `Disabled`).
    fn var(&self, name: &str) -> Option<String> {
        match self {
            EnvSource::Vars(vars) => vars.get(name).cloned(),
            EnvSource::Process | EnvSource::Disabled => std::env::var(name).ok(),
        }
        .filter(|v| !v.is_empty())
    }
}

/// Builder of a [`Config`]; see [`Config::builder`].
#[derive(Default)]
pub struct ConfigBuilder {
    project_dir: Option<PathBuf>,
    global_dir: Option<Option<PathBuf>>,
    env: EnvSource,
    code: Vec<(Vec<String>, Json)>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self.code.iter().map(|(p, _)| p.join(".")).collect();
        f.debug_struct("ConfigBuilder")
            .field("project_dir", &self.project_dir)
            .field("global_dir", &self.global_dir)
            .field("env", &self.env)
            .field("code_keys", &keys)
            .finish()
    }
}

impl ConfigBuilder {
    /// The project directory whose `.dlt/` folder holds `secrets.toml` and `config.toml`
    /// (default: `$DLT_PROJECT_DIR`, else the current directory).
    pub fn project_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.project_dir = Some(dir.into());
        self
    }

    /// The global directory holding `secrets.toml` and `config.toml` (default:
    /// `$DLT_DATA_DIR`, else `$HOME/.dlt`).
    pub fn global_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.global_dir = Some(Some(dir.into()));
        self
    }

    /// Reads no global files.
    pub fn no_global_dir(mut self) -> Self {
        self.global_dir = Some(None);
        self
    }

    /// Environment variables: `true` (the process environment, the default), `false` (none),
    /// or a map / list of pairs used instead of the process environment.
    pub fn env(mut self, env: impl Into<EnvSource>) -> Self {
        self.env = env.into();
        self
    }

    /// Sets a value in code, the highest precedence. `path` is dotted (`destination.postgres.
    /// credentials.password`), keys are lowercased; a JSON object sets a table. Setting the same
    /// path again replaces the value.
    pub fn set(mut self, path: &str, value: impl Into<Json>) -> Self {
        let segs = path
            .split('.')
            .map(|s| s.trim().to_lowercase())
            .collect::<Vec<_>>();
        self.code.push((segs, value.into()));
        self
    }

    /// Reads the files and the environment.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file (and line) when a TOML file cannot be read or parsed,
    /// or an empty key segment in a path given to [`ConfigBuilder::set`].
    pub fn build(self) -> Result<Config, Error> {
        let mut layers = Vec::new();

        // 0. values set in code
        let mut code = Dict::new();
        for (path, value) in &self.code {
            if path.iter().any(String::is_empty) {
                return Err(Error::Config(format!(
                    "invalid configuration key `{}` set in code: empty key segment",
                    path.join(".")
                )));
            }
            insert(&mut code, path, json_to_value(value));
        }
        layers.push(Layer {
            name: CODE_PROVIDER.to_string(),
            files: Vec::new(),
            data: from_figment(Figment::from(TreeProvider::new(CODE_PROVIDER, code)), None)?,
        });

        // 1. environment variables
        let env_pairs: Option<Vec<(String, String)>> = match &self.env {
            EnvSource::Disabled => None,
            EnvSource::Process => Some(
                std::env::vars_os()
                    .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                    .collect(),
            ),
            EnvSource::Vars(vars) => Some(vars.clone().into_iter().collect()),
        };
        if let Some(pairs) = env_pairs {
            layers.push(Layer {
                name: ENV_PROVIDER.to_string(),
                files: Vec::new(),
                data: from_figment(
                    Figment::from(TreeProvider::new(ENV_PROVIDER, env_tree(pairs))),
                    None,
                )?,
            });
        }

        // 2., 3. TOML files, the global file merged under the project one
        let project_dir = self
            .project_dir
            .clone()
            .or_else(|| self.env.var("DLT_PROJECT_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."));
        let settings_dir = project_dir.join(".dlt");
        let global_dir = match &self.global_dir {
            Some(dir) => dir.clone(),
            None => self.env.var("DLT_DATA_DIR").map(PathBuf::from).or_else(|| {
                self.env
                    .var("HOME")
                    .or_else(|| self.env.var("USERPROFILE"))
                    .map(|home| PathBuf::from(home).join(".dlt"))
            }),
        };
        for file_name in ["secrets.toml", "config.toml"] {
            let mut files = Vec::new();
            if let Some(global) = &global_dir {
                files.push(global.join(file_name));
            }
            files.push(settings_dir.join(file_name));
            files.dedup();
            // a missing file is no error (an unreadable one is)
            files.retain(|f| f.exists());
            // lowest precedence first: later files are merged over earlier ones
            let mut figment = Figment::new();
            for file in &files {
                figment = figment.merge(Toml::file_exact(file));
            }
            let data = from_figment(figment, Some(file_name))?;
            let existing: Vec<PathBuf> = files.into_iter().rev().collect();
            layers.push(Layer {
                name: file_name.to_string(),
                files: existing,
                data,
            });
        }

        Ok(Config {
            layers,
            project_dir,
            global_dir,
        })
    }
}

/// One provider: a name, the files it read (highest precedence first), and its values.
#[derive(Clone)]
struct Layer {
    name: String,
    files: Vec<PathBuf>,
    data: Dict,
}

impl Layer {
    fn display_name(&self) -> String {
        if self.files.is_empty() {
            self.name.clone()
        } else {
            let files: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
            format!("{} ({})", self.name, files.join(", "))
        }
    }
}

/// Layered configuration like dlt's; see the crate documentation.
#[derive(Clone)]
pub struct Config {
    layers: Vec<Layer>,
    project_dir: PathBuf,
    global_dir: Option<PathBuf>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // providers only: values may be secrets
        let providers: Vec<String> = self.layers.iter().map(Layer::display_name).collect();
        f.debug_struct("Config")
            .field("providers", &providers)
            .field("project_dir", &self.project_dir)
            .field("global_dir", &self.global_dir)
            .finish()
    }
}

impl Config {
    /// A builder with the defaults of [`Config::load`].
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The configuration of the current directory, the process environment and the home
    /// directory.
    ///
    /// # Errors
    /// See [`ConfigBuilder::build`].
    pub fn load() -> Result<Config, Error> {
        ConfigBuilder::default().build()
    }

    /// Same as [`Config::load`].
    ///
    /// # Errors
    /// See [`ConfigBuilder::build`].
    pub fn from_env() -> Result<Config, Error> {
        Config::load()
    }

    /// A configuration with no values at all (everything resolves to defaults).
    pub fn empty() -> Config {
        Config {
            layers: Vec::new(),
            project_dir: PathBuf::from("."),
            global_dir: None,
        }
    }

    /// dlt's key search over this configuration for `pipeline_name`.
    pub fn resolver<'a>(&'a self, pipeline_name: Option<&'a str>) -> Resolver<'a> {
        Resolver::new(self, pipeline_name)
    }

    /// The project directory (its `.dlt/` folder holds the project files).
    pub fn project_dir(&self) -> &Path {
        &self.project_dir
    }

    /// The global directory, when there is one.
    pub fn global_dir(&self) -> Option<&Path> {
        self.global_dir.as_deref()
    }

    /// Every key that holds a value (lowercase, sections first: `["load", "workers"]`) with
    /// the provider that gives it, in provider order; never the values (they may be
    /// secrets). For checking keys against the ones a program reads.
    pub fn keys(&self) -> Vec<(Vec<String>, String)> {
        fn walk(
            dict: &Dict,
            path: &mut Vec<String>,
            provider: &str,
            out: &mut Vec<(Vec<String>, String)>,
        ) {
            for (k, v) in dict {
                if k == SCALAR_KEY {
                    out.push((path.clone(), provider.to_string()));
                    continue;
                }
                path.push(k.clone());
                match v {
                    Value::Dict(_, child) if !child.contains_key(TOML_DATETIME_KEY) => {
                        walk(child, path, provider, out)
                    }
                    _ => out.push((path.clone(), provider.to_string())),
                }
                path.pop();
            }
        }
        let mut out = Vec::new();
        for layer in &self.layers {
            walk(
                &layer.data,
                &mut Vec::new(),
                &layer.display_name(),
                &mut out,
            );
        }
        out
    }

    /// The TOML files that were found and read, highest precedence first.
    pub fn files(&self) -> Vec<&Path> {
        self.layers
            .iter()
            .flat_map(|l| l.files.iter().map(PathBuf::as_path))
            .collect()
    }
}

impl ConfigSource for Config {
    fn provider_count(&self) -> usize {
        self.layers.len()
    }

    fn provider_name(&self, index: usize) -> String {
        self.layers
            .get(index)
            .map(Layer::display_name)
            .unwrap_or_default()
    }

    fn value(&self, index: usize, path: &[&str]) -> Option<Json> {
        let layer = self.layers.get(index)?;
        let (last, parents) = path.split_last()?;
        let mut dict = &layer.data;
        for seg in parents {
            match dict.get(seg.to_lowercase().as_str())? {
                Value::Dict(_, child) => dict = child,
                _ => return None,
            }
        }
        match dict.get(last.to_lowercase().as_str())? {
            Value::Dict(_, child) => match child.get(SCALAR_KEY) {
                // both a value and sub-keys: the key itself names the value
                Some(scalar) => Some(value_to_json(scalar)),
                None => Some(dict_to_json(child)),
            },
            other => Some(value_to_json(other)),
        }
    }
}

/// A figment provider of a prepared tree (values set in code, environment variables).
struct TreeProvider {
    name: &'static str,
    tree: Dict,
}

impl TreeProvider {
    fn new(name: &'static str, tree: Dict) -> Self {
        TreeProvider { name, tree }
    }
}

impl Provider for TreeProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut map = Map::new();
        map.insert(Profile::Default, self.tree.clone());
        Ok(map)
    }
}

/// The environment as a tree: `A__B__C=v` is `a.b.c = "v"`, the value verbatim as a string.
/// Like dlt, only upper-case names are considered (dlt looks up the upper-cased key).
fn env_tree(pairs: Vec<(String, String)>) -> Dict {
    let mut tree = Dict::new();
    for (name, value) in pairs {
        if name.is_empty() || name.chars().any(char::is_lowercase) {
            continue;
        }
        let path: Vec<String> = name.split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            continue;
        }
        insert(&mut tree, &path, Value::String(Tag::Default, value));
    }
    tree
}

/// Inserts `value` at `path`. A key that gets both a value and sub-keys becomes a table that
/// keeps the value under [`SCALAR_KEY`].
fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match (dict.get_mut(first), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, new)) => {
                for (k, v) in new {
                    insert(existing, &[k], v);
                }
            }
            (Some(Value::Dict(_, existing)), scalar) => {
                existing.insert(SCALAR_KEY.to_string(), scalar);
            }
            (_, value) => {
                dict.insert(first.clone(), value);
            }
        }
        return;
    }
    let entry = dict
        .entry(first.clone())
        .or_insert_with(|| Value::Dict(Tag::Default, Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        let scalar = std::mem::replace(entry, Value::Dict(Tag::Default, Dict::new()));
        if let Value::Dict(_, d) = entry {
            d.insert(SCALAR_KEY.to_string(), scalar);
        }
    }
    if let Value::Dict(_, child) = entry {
        insert(child, rest, value);
    }
}

/// Extracts the (default profile) tree of a figment with lowercase keys. Errors name the file
/// and keep figment's line and column but drop the quoted source line (it may hold a secret).
fn from_figment(figment: Figment, what: Option<&str>) -> Result<Dict, Error> {
    match figment.extract::<Dict>() {
        Ok(dict) => Ok(lowercase_keys(dict)),
        Err(err) => {
            let file = err
                .metadata
                .as_ref()
                .and_then(|md| md.source.as_ref())
                .map(|s| s.to_string())
                .or_else(|| what.map(str::to_string))
                .unwrap_or_else(|| "configuration".to_string());
            let message = match &err.kind {
                figment::error::Kind::Message(msg) => sanitize_parse_error(msg),
                // never a value: it may be a secret
                _ => "invalid data".to_string(),
            };
            Err(Error::Config(format!("cannot read {file}: {message}")))
        }
    }
}

/// Keeps the first line (`TOML parse error at line 3, column 12`) and the explanation of a
/// toml error, dropping the excerpt of the file (`3 | password = "...`).
fn sanitize_parse_error(msg: &str) -> String {
    let kept: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter(|line| {
            let excerpt = line.starts_with('|')
                || line
                    .split_once('|')
                    .is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit()));
            !excerpt
        })
        .collect();
    if kept.is_empty() {
        "invalid TOML".to_string()
    } else {
        kept.join(": ")
    }
}

/// Lowercases table keys recursively; on a collision the key that was lowercase already wins.
fn lowercase_keys(dict: Dict) -> Dict {
    let mut out = Dict::new();
    let (lower, other): (Vec<_>, Vec<_>) =
        dict.into_iter().partition(|(k, _)| k.to_lowercase() == *k);
    for (k, v) in lower.into_iter().chain(other) {
        let v = match v {
            Value::Dict(tag, d) => Value::Dict(tag, lowercase_keys(d)),
            v => v,
        };
        out.entry(k.to_lowercase()).or_insert(v);
    }
    out
}

fn json_to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Empty(Tag::Default, Empty::None),
        Json::Bool(b) => Value::Bool(Tag::Default, *b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::Num(Tag::Default, Num::U64(u))
            } else if let Some(i) = n.as_i64() {
                Value::Num(Tag::Default, Num::I64(i))
            } else if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                Value::Num(Tag::Default, Num::F64(f))
            } else {
                Value::String(Tag::Default, n.to_string())
            }
        }
        Json::String(s) => Value::String(Tag::Default, s.clone()),
        Json::Array(items) => Value::Array(Tag::Default, items.iter().map(json_to_value).collect()),
        Json::Object(map) => {
            let mut dict = Dict::new();
            for (k, v) in map {
                insert(&mut dict, &[k.to_lowercase()], json_to_value(v));
            }
            Value::Dict(Tag::Default, dict)
        }
    }
}

fn value_to_json(value: &Value) -> Json {
    match value {
        Value::String(_, s) => Json::String(s.clone()),
        Value::Char(_, c) => Json::String(c.to_string()),
        Value::Bool(_, b) => Json::Bool(*b),
        Value::Num(_, n) => num_to_json(*n),
        Value::Empty(..) => Json::Null,
        Value::Array(_, items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Dict(_, dict) => dict_to_json(dict),
    }
}

fn dict_to_json(dict: &Dict) -> Json {
    if dict.len() == 1 {
        if let Some(Value::String(_, s)) = dict.get(TOML_DATETIME_KEY) {
            return Json::String(s.clone());
        }
    }
    // a table that also holds a value (see SCALAR_KEY) is shown as the table
    let map = dict
        .iter()
        .filter(|(k, _)| k.as_str() != SCALAR_KEY)
        .map(|(k, v)| (k.clone(), value_to_json(v)))
        .collect();
    Json::Object(map)
}

fn num_to_json(n: Num) -> Json {
    if let Some(u) = n.to_u128() {
        if let Ok(u) = u64::try_from(u) {
            return Json::from(u);
        }
    }
    if let Some(i) = n.to_i128() {
        if let Ok(i) = i64::try_from(i) {
            return Json::from(i);
        }
    }
    if let Some(f) = n.to_f64() {
        if let Some(num) = serde_json::Number::from_f64(f) {
            return Json::Number(num);
        }
        return Json::String(f.to_string());
    }
    // 128-bit integers beyond 64 bits
    match n {
        Num::U128(u) => Json::String(u.to_string()),
        Num::I128(i) => Json::String(i.to_string()),
        _ => Json::Null,
    }
}

#[cfg(test)]
mod tests;

/// The one of `known` closest to `key` when it is close enough to be a typo of it (at most
/// two edits, more for long names), for "did you mean" messages.
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
