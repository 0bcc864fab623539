//! dlt's stored schema document: how a [`Schema`] is written to `_dlt_version.schema` and
//! `schemas/<name>.schema.json`, read back (dlt's and dlt-rs' earlier shape), and hashed.
//!
//! The document is dlt 1.31's `TStoredSchema` (engine version 11): `tables` and each table's
//! `columns` are objects keyed by name in creation order, column dicts carry `name`,
//! `data_type`, `nullable` and the hints that are set, root tables carry `write_disposition`
//! and `resource`, tables that received rows `x-normalizer.seen-data`. Keys dlt-rs does not
//! act on are kept and written back as read, so dlt and dlt-rs can take turns on a dataset.
//!
//! The version hash is dlt's `generate_version_hash`: base64 of SHA3-256 over the document
//! without `version`, `version_hash`, `imported_version_hash` and `previous_hashes`, dumped
//! compact with sorted keys, then updated with each table name (sorted) followed by its
//! column names in order.

use base64::Engine as _;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value as Json};
use sha3::{Digest, Sha3_256};

use crate::{
    Column, MergeStrategy, ReplaceStrategy, Schema, SortOrder, TableDisposition, TableSchema,
};

/// dlt's default `settings` of a new schema (the relational normalizer's).
pub(crate) fn default_settings() -> Map<String, Json> {
    let Json::Object(m) = json!({
        "detections": ["iso_timestamp"],
        "default_hints": {
            "not_null": ["_dlt_id", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_load_id"],
            "parent_key": ["_dlt_parent_id"],
            "root_key": ["_dlt_root_id"],
            "unique": ["_dlt_id"],
            "row_key": ["_dlt_id"]
        }
    }) else {
        return Map::new();
    };
    m
}

/// dlt's default `normalizers`: snake_case names, the relational JSON normalizer.
pub(crate) fn default_normalizers() -> Map<String, Json> {
    let Json::Object(m) = json!({
        "names": "snake_case",
        "json": {"module": "dlt.common.normalizers.json.relational"}
    }) else {
        return Map::new();
    };
    m
}

// ---------------------------------------------------------------------------------------
// columns

const COLUMN_FLAGS: [&str; 11] = [
    "unique",
    "primary_key",
    "merge_key",
    "row_key",
    "parent_key",
    "root_key",
    "hard_delete",
    "variant",
    "x-valid-from",
    "x-valid-to",
    "x-row-version",
];

fn flag_mut<'a>(c: &'a mut Column, key: &str) -> Option<&'a mut bool> {
    Some(match key {
        "unique" => &mut c.unique,
        "primary_key" => &mut c.primary_key,
        "merge_key" => &mut c.merge_key,
        "row_key" => &mut c.row_key,
        "parent_key" => &mut c.parent_key,
        "root_key" => &mut c.root_key,
        "hard_delete" => &mut c.hard_delete,
        "variant" => &mut c.variant,
        "x-valid-from" => &mut c.valid_from,
        "x-valid-to" => &mut c.valid_to,
        "x-row-version" => &mut c.row_version,
        _ => return None,
    })
}

fn flag(c: &Column, key: &str) -> bool {
    match key {
        "unique" => c.unique,
        "primary_key" => c.primary_key,
        "merge_key" => c.merge_key,
        "row_key" => c.row_key,
        "parent_key" => c.parent_key,
        "root_key" => c.root_key,
        "hard_delete" => c.hard_delete,
        "variant" => c.variant,
        "x-valid-from" => c.valid_from,
        "x-valid-to" => c.valid_to,
        "x-row-version" => c.row_version,
        _ => false,
    }
}

/// The column as dlt's column dict.
pub(crate) fn column_to_json(c: &Column) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("name".into(), c.name.clone().into());
    if let Some(t) = c.data_type {
        m.insert("data_type".into(), t.as_str().into());
    }
    if c.nullable_stated || !c.nullable {
        m.insert("nullable".into(), c.nullable.into());
    }
    if let Some(p) = c.precision {
        m.insert("precision".into(), p.into());
    }
    if let Some(s) = c.scale {
        m.insert("scale".into(), s.into());
    }
    if let Some(tz) = c.timezone {
        m.insert("timezone".into(), tz.into());
    }
    for key in COLUMN_FLAGS {
        if flag(c, key) {
            m.insert(key.into(), true.into());
        }
    }
    if let Some(o) = c.dedup_sort {
        let s = match o {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        };
        m.insert("dedup_sort".into(), s.into());
    }
    for (k, v) in &c.other {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m
}

fn bad(what: &str, key: &str, v: &Json) -> String {
    format!("{what}: `{key}` cannot be {v}")
}

fn opt_u32(what: &str, key: &str, v: &Json) -> Result<Option<u32>, String> {
    match v {
        Json::Null => Ok(None),
        v => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(what, key, v)),
    }
}

/// A column from dlt's column dict (`name` defaults to `key`, the dict's key).
pub(crate) fn column_from_json(key: &str, m: Map<String, Json>) -> Result<Column, String> {
    let what = format!("column `{key}`");
    let mut c = Column::incomplete(key);
    for (k, v) in m {
        match k.as_str() {
            "name" => match v {
                Json::String(s) => c.name = s,
                v => return Err(bad(&what, "name", &v)),
            },
            "data_type" => match &v {
                Json::Null => c.data_type = None,
                Json::String(s) => {
                    c.data_type = Some(s.parse().map_err(|e| format!("{what}: {e}"))?)
                }
                v => return Err(bad(&what, "data_type", v)),
            },
            "nullable" => match v {
                Json::Bool(b) => {
                    c.nullable = b;
                    c.nullable_stated = true;
                }
                Json::Null => {}
                v => return Err(bad(&what, "nullable", &v)),
            },
            "precision" => c.precision = opt_u32(&what, "precision", &v)?,
            "scale" => c.scale = opt_u32(&what, "scale", &v)?,
            "timezone" => match v {
                Json::Bool(b) => c.timezone = Some(b),
                Json::Null => c.timezone = None,
                v => return Err(bad(&what, "timezone", &v)),
            },
            "dedup_sort" => match v.as_str() {
                Some("asc") => c.dedup_sort = Some(SortOrder::Asc),
                Some("desc") => c.dedup_sort = Some(SortOrder::Desc),
                None if v.is_null() => c.dedup_sort = None,
                _ => return Err(bad(&what, "dedup_sort", &v)),
            },
            key => match (flag_mut(&mut c, key), &v) {
                (Some(f), Json::Bool(b)) => *f = *b,
                (Some(f), Json::Null) => *f = false,
                (Some(_), v) => return Err(bad(&what, key, v)),
                (None, _) => {
                    c.other.insert(k, v);
                }
            },
        }
    }
    Ok(c)
}

/// A column or table from its JSON object, named by its `name` key (dlt's documents key them
/// by name as well; an object read alone has only `name`).
fn from_named_object<'de, D: Deserializer<'de>, T>(
    d: D,
    read: fn(&str, Map<String, Json>) -> Result<T, String>,
) -> Result<T, D::Error> {
    let m = Map::<String, Json>::deserialize(d)?;
    let key = m
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    read(&key, m).map_err(D::Error::custom)
}

impl Serialize for Column {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        column_to_json(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Column {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_named_object(d, column_from_json)
    }
}

// ---------------------------------------------------------------------------------------
// tables

/// The table as dlt's table dict.
pub(crate) fn table_to_json(t: &TableSchema) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("name".into(), t.name.clone().into());
    let mut columns = Map::new();
    for c in &t.columns {
        let mut cj = column_to_json(c);
        if c.valid_to {
            if let Some(ts) = &t.active_record_timestamp {
                cj.insert("x-active-record-timestamp".into(), ts.clone().into());
            }
        }
        columns.insert(c.name.clone(), Json::Object(cj));
    }
    m.insert("columns".into(), Json::Object(columns));
    if let Some(p) = &t.parent {
        m.insert("parent".into(), p.clone().into());
    } else {
        m.insert("write_disposition".into(), t.disposition.name().into());
        match t.disposition {
            TableDisposition::Merge(s) if s != MergeStrategy::default() => {
                m.insert("x-merge-strategy".into(), s.as_str().into());
            }
            // dlt takes the replace strategy from its configuration only; dlt-rs keeps a
            // non-default one with the table (an `x-` key, which dlt's validation ignores) so
            // that a load package knows it
            TableDisposition::Replace(s) if s != ReplaceStrategy::default() => {
                m.insert("x-replace-strategy".into(), s.as_str().into());
            }
            _ => {}
        }
    }
    if let Some(r) = &t.resource {
        m.insert("resource".into(), r.clone().into());
    }
    if let Some(c) = &t.schema_contract {
        m.insert("schema_contract".into(), c.to_json());
    }
    let mut normalizer = match t.other.get("x-normalizer") {
        Some(Json::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    if t.evolve_columns_once {
        normalizer.insert("evolve-columns-once".into(), true.into());
    }
    if t.seen_data {
        normalizer.insert("seen-data".into(), true.into());
    }
    if let Some(n) = t.max_nesting {
        normalizer.insert("max_nesting".into(), n.into());
    }
    if !normalizer.is_empty() {
        m.insert("x-normalizer".into(), Json::Object(normalizer));
    }
    for (k, v) in &t.other {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m
}

/// A table from dlt's table dict, or from dlt-rs' earlier shape (`columns` as an array,
/// `strategy`, `x-seen-data`, `x-max-nesting`, `x-active-record-timestamp` on the table).
pub(crate) fn table_from_json(key: &str, m: Map<String, Json>) -> Result<TableSchema, String> {
    let what = format!("table `{key}`");
    let mut t = TableSchema::new(key);
    let mut disposition: Option<String> = None;
    let mut strategy: Option<String> = None;
    for (k, v) in m {
        match k.as_str() {
            "name" => match v {
                Json::String(s) => t.name = s,
                v => return Err(bad(&what, "name", &v)),
            },
            "columns" => t.columns = columns_from_json(&what, v)?,
            "write_disposition" => disposition = v.as_str().map(str::to_string),
            "x-merge-strategy" | "x-replace-strategy" | "strategy" => {
                strategy = v.as_str().map(str::to_string)
            }
            "parent" => t.parent = v.as_str().map(str::to_string),
            "resource" => t.resource = v.as_str().map(str::to_string),
            "schema_contract" => {
                t.schema_contract = Some(
                    crate::SchemaContract::from_json(&v)
                        .map_err(|e| format!("{what}: schema_contract: {e}"))?,
                )
            }
            "x-seen-data" => t.seen_data = v.as_bool().unwrap_or(false),
            "x-max-nesting" => t.max_nesting = opt_u32(&what, "x-max-nesting", &v)?,
            "x-active-record-timestamp" => {
                t.active_record_timestamp = v.as_str().map(str::to_string)
            }
            "x-normalizer" => {
                let Json::Object(mut o) = v else {
                    return Err(bad(&what, "x-normalizer", &v));
                };
                if let Some(once) = o.shift_remove("evolve-columns-once") {
                    t.evolve_columns_once = once.as_bool().unwrap_or(false);
                }
                if let Some(seen) = o.shift_remove("seen-data") {
                    t.seen_data = seen.as_bool().unwrap_or(false);
                }
                if let Some(n) = o.shift_remove("max_nesting") {
                    t.max_nesting = opt_u32(&what, "x-normalizer.max_nesting", &n)?;
                }
                if !o.is_empty() {
                    t.other.insert(k, Json::Object(o));
                }
            }
            _ => {
                t.other.insert(k, v);
            }
        }
    }
    // dlt keeps the strategy of replace in the configuration; a stored one (dlt-rs' earlier
    // shape) is read, dlt's `x-merge-strategy` only for merge
    let strategy = match disposition.as_deref() {
        Some("merge" | "replace") => strategy,
        _ => None,
    };
    if let Some(d) = disposition {
        t.disposition =
            TableDisposition::parse(&d, strategy.as_deref()).map_err(|e| format!("{what}: {e}"))?;
    }
    for c in &mut t.columns {
        if let Some(ts) = c.other.shift_remove("x-active-record-timestamp") {
            if c.valid_to {
                t.active_record_timestamp = ts.as_str().map(str::to_string);
            }
        }
    }
    Ok(t)
}

fn columns_from_json(what: &str, v: Json) -> Result<Vec<Column>, String> {
    match v {
        Json::Object(cols) => cols
            .into_iter()
            .map(|(name, c)| match c {
                Json::Object(cm) => column_from_json(&name, cm),
                v => Err(bad(what, &name, &v)),
            })
            .collect(),
        Json::Array(cols) => cols
            .into_iter()
            .map(|c| match c {
                Json::Object(cm) => {
                    let name = cm
                        .get("name")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string();
                    column_from_json(&name, cm)
                }
                v => Err(bad(what, "columns", &v)),
            })
            .collect(),
        Json::Null => Ok(Vec::new()),
        v => Err(bad(what, "columns", &v)),
    }
}

impl Serialize for TableSchema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        table_to_json(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for TableSchema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_named_object(d, table_from_json)
    }
}

// ---------------------------------------------------------------------------------------
// the schema

/// dlt's root key propagation (`normalizers.json.config.propagation.tables`): a root table
/// whose merge strategy needs `_dlt_root_id` on its nested tables (delete-insert, upsert), or whose nested tables already have a root key, maps its row key to
/// `_dlt_root_id`. Entries already stored stay while their table exists, as in dlt.
fn normalizers_to_json(schema: &Schema) -> Map<String, Json> {
    let mut n = schema.normalizers.clone();
    let mut entries: Vec<(String, String)> = Vec::new();
    for t in schema
        .tables
        .iter()
        .filter(|t| t.parent.is_none() && !t.is_system())
    {
        let merge_needs = matches!(
            t.disposition,
            TableDisposition::Merge(
                MergeStrategy::DeleteInsert | MergeStrategy::Upsert | MergeStrategy::InsertOnly
            )
        );
        let nested_has = schema
            .chain(&t.name)
            .iter()
            .any(|n| n.parent.is_some() && n.columns.iter().any(|c| c.root_key));
        if merge_needs || nested_has {
            let row_key = t
                .columns
                .iter()
                .find(|c| c.row_key)
                .map_or("_dlt_id", |c| c.name.as_str());
            entries.push((t.name.clone(), row_key.to_string()));
        }
    }
    let json = n
        .entry("json")
        .or_insert_with(|| json!({"module": "dlt.common.normalizers.json.relational"}));
    let Json::Object(json) = json else {
        return n;
    };
    let existing = json
        .get("config")
        .and_then(|c| c.get("propagation"))
        .and_then(|p| p.get("tables"))
        .and_then(Json::as_object)
        .cloned()
        .unwrap_or_default();
    let mut tables = Map::new();
    for (name, v) in existing {
        if schema.table(&name).is_some() {
            tables.insert(name, v);
        }
    }
    for (name, row_key) in entries {
        tables.entry(name).or_insert_with(|| {
            let mut m = Map::new();
            m.insert(row_key, "_dlt_root_id".into());
            Json::Object(m)
        });
    }
    if tables.is_empty() {
        if let Some(Json::Object(cfg)) = json.get_mut("config") {
            if let Some(Json::Object(p)) = cfg.get_mut("propagation") {
                p.shift_remove("tables");
            }
        }
        return n;
    }
    let cfg = json.entry("config").or_insert_with(|| json!({}));
    if let Json::Object(cfg) = cfg {
        let p = cfg.entry("propagation").or_insert_with(|| json!({}));
        if let Json::Object(p) = p {
            p.insert("tables".into(), Json::Object(tables));
        }
    }
    n
}

/// The document without `version_hash` and `previous_hashes` (what the hash covers, plus
/// `version`).
fn body(schema: &Schema) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("version".into(), schema.version.into());
    m.insert("engine_version".into(), schema.engine_version.into());
    m.insert("name".into(), schema.name.clone().into());
    let tables: Map<String, Json> = schema
        .tables
        .iter()
        .map(|t| (t.name.clone(), Json::Object(table_to_json(t))))
        .collect();
    m.insert("tables".into(), Json::Object(tables));
    m.insert("settings".into(), Json::Object(schema.settings.clone()));
    m.insert(
        "normalizers".into(),
        Json::Object(normalizers_to_json(schema)),
    );
    m
}

/// The stored document, in dlt's key order.
pub(crate) fn schema_to_json(schema: &Schema) -> Map<String, Json> {
    let body = body(schema);
    let mut m = Map::new();
    m.insert("version".into(), schema.version.into());
    m.insert("version_hash".into(), schema.version_hash.clone().into());
    for (k, v) in body {
        if k != "version" {
            m.insert(k, v);
        }
    }
    m.insert(
        "previous_hashes".into(),
        schema.previous_hashes.clone().into(),
    );
    if let Some(h) = &schema.imported_version_hash {
        m.insert("imported_version_hash".into(), h.clone().into());
    }
    m
}

/// dlt's `generate_version_hash` of the schema's document.
pub(crate) fn version_hash(schema: &Schema) -> String {
    let mut doc = body(schema);
    doc.remove("version");
    let text = canonical_json(&Json::Object(doc));
    let mut h = Sha3_256::new();
    h.update(text.as_bytes());
    let mut names: Vec<&TableSchema> = schema.tables.iter().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    for t in names {
        h.update(t.name.as_bytes());
        for c in &t.columns {
            h.update(c.name.as_bytes());
        }
    }
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Compact JSON with keys sorted by code point at every level: orjson's `OPT_SORT_KEYS`
/// output, which dlt hashes (schema and state version hashes).
pub fn canonical_json(v: &Json) -> String {
    let mut out = String::new();
    write_sorted(v, &mut out);
    out
}

fn write_sorted(v: &Json, out: &mut String) {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = m.get(k) {
                    write_sorted(v, out);
                }
            }
            out.push('}');
        }
        Json::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted(v, out);
            }
            out.push(']');
        }
        v => out.push_str(&v.to_string()),
    }
}

/// A schema from dlt's stored document or dlt-rs' earlier shape.
pub(crate) fn schema_from_json(m: Map<String, Json>) -> Result<Schema, String> {
    let mut s = Schema::new("");
    s.tables.clear();
    s.engine_version = 0;
    let mut settings = None;
    let mut normalizers = None;
    for (k, v) in m {
        match k.as_str() {
            "name" => s.name = v.as_str().unwrap_or_default().to_string(),
            "version" => s.version = v.as_i64().ok_or_else(|| bad("schema", "version", &v))?,
            "version_hash" => s.version_hash = v.as_str().unwrap_or_default().to_string(),
            "imported_version_hash" => s.imported_version_hash = v.as_str().map(str::to_string),
            "engine_version" => {
                s.engine_version = v
                    .as_i64()
                    .ok_or_else(|| bad("schema", "engine_version", &v))?
            }
            "previous_hashes" => {
                s.previous_hashes = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|h| h.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            "tables" => {
                s.tables = match v {
                    Json::Object(tables) => tables
                        .into_iter()
                        .map(|(name, t)| match t {
                            Json::Object(tm) => table_from_json(&name, tm),
                            v => Err(bad("schema", &name, &v)),
                        })
                        .collect::<Result<_, _>>()?,
                    Json::Array(tables) => tables
                        .into_iter()
                        .map(|t| match t {
                            Json::Object(tm) => {
                                let name = tm
                                    .get("name")
                                    .and_then(Json::as_str)
                                    .unwrap_or("")
                                    .to_string();
                                table_from_json(&name, tm)
                            }
                            v => Err(bad("schema", "tables", &v)),
                        })
                        .collect::<Result<_, _>>()?,
                    v => return Err(bad("schema", "tables", &v)),
                }
            }
            "settings" => settings = v.as_object().cloned(),
            "normalizers" => normalizers = v.as_object().cloned(),
            _ => {}
        }
    }
    s.settings = settings.unwrap_or_else(default_settings);
    s.normalizers = normalizers.unwrap_or_else(default_normalizers);
    // nested tables follow their root's disposition (dlt stores it on the root only)
    let roots: Vec<(String, TableDisposition)> = s
        .tables
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                s.table(s.root_of(&t.name))
                    .map_or(t.disposition, |r| r.disposition),
            )
        })
        .collect();
    for (name, d) in roots {
        if let Some(t) = s.table_mut(&name) {
            if t.parent.is_some() {
                t.disposition = d;
            }
        }
    }
    Ok(s)
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        schema_to_json(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = Map::<String, Json>::deserialize(d)?;
        schema_from_json(m).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests;
