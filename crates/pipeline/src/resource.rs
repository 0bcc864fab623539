//! Resources: items plus dlt's resource hints.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use dest_core::{parse_write_disposition, Column, WriteDisposition};
use futures_util::Stream;
use normalize::ResourceHints;
use serde::Serialize;
use serde_json::Value as Json;

use columnar::arrow_array::RecordBatch;

use crate::incremental::Incremental;
use crate::PipelineError;

/// An item a source could not produce (a malformed line, a failed request...), with
/// where it happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{source_name}, {position}: {message}")]
pub struct ItemError {
    /// File name or source name.
    pub source_name: String,
    /// Where in the source (`line 12`, `item 3`).
    pub position: String,
    pub message: String,
}

pub(crate) enum Items {
    Iter(Box<dyn Iterator<Item = Result<Json, ItemError>> + Send>),
    /// Items as JSON text, one document per element (no line breaks inside).
    Lines(Box<dyn Iterator<Item = Result<Vec<u8>, ItemError>> + Send>),
    Stream(Pin<Box<dyn Stream<Item = Result<Json, ItemError>> + Send>>),
    /// Items as JSON text (as `Lines`) from an async stream.
    LineStream(Pin<Box<dyn Stream<Item = Result<Vec<u8>, ItemError>> + Send>>),
    /// Items made when extraction begins, from the incremental cursor's start value.
    Deferred(Box<dyn FnOnce(Option<Json>) -> Items + Send>),
    /// Arrow record batches: columnar data, loaded with dlt's Arrow semantics.
    Arrow(Box<dyn Iterator<Item = Result<RecordBatch, ItemError>> + Send>),
}

/// Who chose a resource's write strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrategySource {
    /// The resource (a disposition given as a type, or a strategy by name).
    Resource,
    /// Nobody yet: the destination's configured strategy applies (`replace_strategy`).
    Destination,
}

/// A named source of JSON items that load into one root table, with dlt's hints.
pub struct Resource {
    pub(crate) hints: ResourceHints,
    pub(crate) items: Items,
    /// Who chose the strategy: replace without a strategy of the resource's own takes the
    /// destination's `replace_strategy`.
    pub(crate) strategy: StrategySource,
    pub(crate) incremental: Option<Incremental>,
    /// Arrow data: add `_dlt_load_id` / `_dlt_id` whatever the pipeline's settings say.
    pub(crate) dlt_columns: bool,
    /// Extracted on a thread of its own, at the same time as other resources.
    pub(crate) parallelized: bool,
    /// Called with every item extracted (see [`Resource::on_extracted`]).
    pub(crate) observer: Option<Observer>,
}

/// A function called with each item a resource extracts.
pub(crate) type Observer = Arc<dyn Fn(&Json) + Send + Sync>;

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("hints", &self.hints)
            .finish_non_exhaustive()
    }
}

fn to_json<T: Serialize>(name: &str, idx: usize, item: T) -> Result<Json, ItemError> {
    serde_json::to_value(item).map_err(|e| ItemError {
        source_name: name.to_string(),
        position: format!("item {}", idx + 1),
        message: format!("cannot be turned into JSON: {e}"),
    })
}

impl Resource {
    /// A resource of any `Serialize` items (`serde_json::Value`, structs, maps...), loaded
    /// into `table` with the `append` disposition.
    pub fn new<I, T>(table: &str, items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: Serialize,
    {
        let name = table.to_string();
        let iter = items
            .into_iter()
            .enumerate()
            .map(move |(i, item)| to_json(&name, i, item));
        Resource {
            hints: ResourceHints::new(table),
            items: Items::Iter(Box::new(iter)),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// A resource whose items may fail (each error names its source and position).
    pub fn from_results<I>(table: &str, items: I) -> Self
    where
        I: IntoIterator<Item = Result<Json, ItemError>>,
        I::IntoIter: Send + 'static,
    {
        Resource {
            hints: ResourceHints::new(table),
            items: Items::Iter(Box::new(items.into_iter())),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// [`Resource::from_results`], the items made when extraction begins from the start
    /// value of the resource's incremental cursor (its saved `last_value`, else its
    /// `initial_value`; `None` without either or without a cursor), so a source can ask only
    /// for items from there on (an API's `since` parameter). The cursor still filters and
    /// deduplicates the items as for any resource.
    pub fn from_cursor_results<F, I>(table: &str, make: F) -> Self
    where
        F: FnOnce(Option<Json>) -> I + Send + 'static,
        I: IntoIterator<Item = Result<Json, ItemError>>,
        I::IntoIter: Send + 'static,
    {
        Resource {
            hints: ResourceHints::new(table),
            items: Items::Deferred(Box::new(move |start| {
                Items::Iter(Box::new(make(start).into_iter()))
            })),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// A resource of items given as JSON text, one complete JSON document per element
    /// without line breaks (JSON Lines): they are stored as they are, without being parsed
    /// and written again at extraction. The caller validates them (the `dlt-rs` reader
    /// does, naming file and line); an invalid one fails normalization, before any load.
    pub fn from_json_lines<I>(table: &str, lines: I) -> Self
    where
        I: IntoIterator<Item = Result<Vec<u8>, ItemError>>,
        I::IntoIter: Send + 'static,
    {
        Resource {
            hints: ResourceHints::new(table),
            items: Items::Lines(Box::new(lines.into_iter())),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// [`Resource::from_json_lines`] from an async stream (a database cursor, a socket).
    pub fn from_json_line_stream<S>(table: &str, lines: S) -> Self
    where
        S: Stream<Item = Result<Vec<u8>, ItemError>> + Send + 'static,
    {
        Resource {
            hints: ResourceHints::new(table),
            items: Items::LineStream(Box::pin(lines)),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// [`Resource::from_json_line_stream`], the stream made when extraction begins from
    /// the start value of the resource's incremental cursor (its saved `last_value`, else
    /// its `initial_value`; `None` without either or without a cursor), so a source can
    /// ask only for items from there on (a `WHERE cursor >= start`). The cursor still
    /// filters and deduplicates the items as for any resource.
    pub fn from_cursor_json_line_stream<F, S>(table: &str, make: F) -> Self
    where
        F: FnOnce(Option<Json>) -> S + Send + 'static,
        S: Stream<Item = Result<Vec<u8>, ItemError>> + Send + 'static,
    {
        Resource {
            hints: ResourceHints::new(table),
            items: Items::Deferred(Box::new(move |start| {
                Items::LineStream(Box::pin(make(start)))
            })),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// A resource of Arrow record batches, loaded with dlt's Arrow semantics: one column per
    /// field (names through the naming convention, types from the Arrow types, struct, list
    /// and map columns as `json`), no nested tables, and no `_dlt_load_id` / `_dlt_id`
    /// columns unless `[normalize.parquet_normalizer] add_dlt_load_id` / `add_dlt_id` say
    /// so. Batches may differ in their columns (a later one may add some).
    pub fn from_record_batches<I>(table: &str, batches: I) -> Self
    where
        I: IntoIterator<Item = Result<RecordBatch, ItemError>>,
        I::IntoIter: Send + 'static,
    {
        Resource {
            hints: ResourceHints::new(table),
            items: Items::Arrow(Box::new(batches.into_iter())),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// [`Resource::from_record_batches`], the batches made when extraction begins from the
    /// start value of the resource's incremental cursor (as
    /// [`Resource::from_cursor_json_line_stream`]), so a source can ask only for rows from
    /// there on. The cursor still filters and deduplicates the rows as for any resource.
    pub fn from_cursor_record_batches<F, I>(table: &str, make: F) -> Self
    where
        F: FnOnce(Option<Json>) -> I + Send + 'static,
        I: IntoIterator<Item = Result<RecordBatch, ItemError>>,
        I::IntoIter: Send + 'static,
    {
        Resource {
            hints: ResourceHints::new(table),
            items: Items::Deferred(Box::new(move |start| {
                Items::Arrow(Box::new(make(start).into_iter()))
            })),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// A resource of the rows of Parquet files, read a bounded number of rows at a time
    /// ([`Resource::from_record_batches`] semantics). A file that cannot be read is an
    /// error naming it.
    pub fn from_parquet_files(table: &str, files: Vec<std::path::PathBuf>) -> Self {
        let batches = files.into_iter().flat_map(|path| {
            let shown = path.display().to_string();
            let opened = columnar::ParquetBatches::open(&path);
            let (first, rest): (Option<Result<RecordBatch, ItemError>>, Option<_>) = match opened {
                Ok(batches) => (None, Some(batches)),
                Err(e) => (
                    Some(Err(ItemError {
                        source_name: shown.clone(),
                        position: "file".into(),
                        message: match e {
                            columnar::ColumnarError::Parquet { source, .. } => {
                                format!("not a readable Parquet file: {source}")
                            }
                            columnar::ColumnarError::Io { source, .. } => source.to_string(),
                            other => other.to_string(),
                        },
                    })),
                    None,
                ),
            };
            first
                .into_iter()
                .chain(rest.into_iter().flatten().map(move |b| {
                    b.map_err(|e| ItemError {
                        source_name: shown.clone(),
                        position: "row group".into(),
                        message: e.to_string(),
                    })
                }))
        });
        Self::from_record_batches(table, batches)
    }

    /// A resource fed by an async stream.
    pub fn from_stream<S, T>(table: &str, stream: S) -> Self
    where
        S: Stream<Item = T> + Send + 'static,
        T: Serialize,
    {
        use futures_util::StreamExt;
        let name = table.to_string();
        let mut idx = 0usize;
        let s = stream.map(move |item| {
            idx += 1;
            to_json(&name, idx - 1, item)
        });
        Resource {
            hints: ResourceHints::new(table),
            items: Items::Stream(Box::pin(s)),
            strategy: StrategySource::Destination,
            incremental: None,
            dlt_columns: false,
            parallelized: false,
            observer: None,
        }
    }

    /// The disposition as a type (`dest_core::Merge::new(MergeStrategy::Upsert)`).
    pub fn disposition(mut self, d: Arc<dyn WriteDisposition>) -> Self {
        self.hints.disposition = d;
        self.strategy = StrategySource::Resource;
        self
    }

    /// The disposition by dlt's names: `append`, `replace`, `merge`, with an optional strategy.
    pub fn write_disposition(
        self,
        disposition: &str,
        strategy: Option<&str>,
    ) -> Result<Self, PipelineError> {
        let d = parse_write_disposition(disposition, strategy)?;
        let mut r = self.disposition(d);
        if strategy.is_none() {
            r.strategy = StrategySource::Destination;
        }
        Ok(r)
    }

    pub fn primary_key<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.hints.primary_key = cols.into_iter().map(Into::into).collect();
        self
    }

    pub fn merge_key<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.hints.merge_key = cols.into_iter().map(Into::into).collect();
        self
    }

    /// Column hints (names as in the data; they are normalized).
    pub fn columns(mut self, cols: Vec<Column>) -> Self {
        self.hints.columns = cols;
        self
    }

    /// Column hints in dlt's dict form: `{"col": {"data_type": "json", "unique": true}}`.
    pub fn columns_json(self, spec: &Json) -> Result<Self, PipelineError> {
        Ok(self.columns(columns_from_json(spec)?))
    }

    /// dlt's `schema_contract`: what the resource's data may change in the schema (new
    /// tables, columns, data types); kept with its table in the stored schema, and ruling
    /// its nested tables too.
    pub fn schema_contract(mut self, contract: dest_core::SchemaContract) -> Self {
        self.hints.schema_contract = Some(contract);
        self
    }

    /// dlt's `table_name` function, as a field: each item loads into the root table its
    /// top-level field `field` names (a string, or a number as its text), normalized as a
    /// table name; the resource's other hints hold for every such table. An item without the
    /// field fails the run, naming it. JSON items only.
    pub fn table_name_from(mut self, field: &str) -> Self {
        self.hints.table_name_from = Some(field.to_string());
        self
    }

    /// dlt's `nested_hints` for one nested table (its path below the root as the data names
    /// it, column hints, a contract).
    pub fn nested_hints(mut self, hints: normalize::NestedHints) -> Self {
        self.hints.nested.push(hints);
        self
    }

    /// dlt's `nested_hints` in its dict form: `{"items": {"columns": {"price": {"data_type":
    /// "decimal"}}}, "items__parts": {...}}`, a key the path below the root (fragments
    /// joined with `__`). `columns` and `schema_contract` are applied; dlt's other nested
    /// hints (`primary_key`, `merge_key`, `references`, ...) are not implemented: a warning
    /// names each.
    pub fn nested_hints_json(mut self, spec: &Json) -> Result<Self, PipelineError> {
        let bad = |what: String| PipelineError::Config(format!("nested hints: {what}"));
        let Json::Object(map) = spec else {
            return Err(bad(
                "expected an object of paths to hints: {\"items\": {\"columns\": {...}}}".into(),
            ));
        };
        for (path, hints) in map {
            let Json::Object(hints) = hints else {
                return Err(bad(format!("the hints of `{path}` must be an object")));
            };
            let mut nested = normalize::NestedHints {
                path: path
                    .split("__")
                    .filter(|p| !p.trim().is_empty())
                    .map(str::to_string)
                    .collect(),
                ..Default::default()
            };
            if nested.path.is_empty() {
                return Err(bad(format!("`{path}` names no nested table")));
            }
            for (key, value) in hints {
                match key.as_str() {
                    "columns" => {
                        nested.columns =
                            columns_from_json(value).map_err(|e| bad(format!("`{path}`: {e}")))?;
                    }
                    "schema_contract" => {
                        nested.schema_contract = Some(
                            dest_core::SchemaContract::from_json(value)
                                .map_err(|e| bad(format!("`{path}`.schema_contract: {e}")))?,
                        );
                    }
                    other => tracing::warn!(
                        "resource `{}`: nested hint `{other}` of `{path}` is not implemented by \
                         dlt-rs yet; ignored",
                        self.hints.table_name
                    ),
                }
            }
            self.hints.nested.push(nested);
        }
        Ok(self)
    }

    /// dlt's `max_table_nesting`: below this depth nested data stays JSON.
    pub fn max_table_nesting(mut self, n: u32) -> Self {
        self.hints.max_table_nesting = Some(n);
        self
    }

    /// dlt's `parallelized=True`: the resource is extracted on a thread of its own while the
    /// run's other resources are (at most `[extract] workers` at once, default 5; resources
    /// that are not parallelized are extracted one after another on one thread). Each
    /// resource still lands in its own items file and is normalized in the order given, so
    /// the tables and their columns come out as a sequential run makes them.
    pub fn parallelized(mut self, yes: bool) -> Self {
        self.parallelized = yes;
        self
    }

    /// Calls `f` with every item the resource extracts, after the incremental cursor kept
    /// it, in order, on the extracting thread: how a dependent resource (dlt's transformer)
    /// learns its parent's items. JSON items only (an Arrow resource's batches are not
    /// offered).
    pub fn on_extracted(mut self, f: impl Fn(&Json) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// An incremental cursor: only items past the last value seen are extracted, and the new
    /// last value is kept in the pipeline state with the load that carries the items.
    pub fn incremental(mut self, incremental: Incremental) -> Self {
        self.incremental = Some(incremental);
        self
    }

    /// Arrow data ([`Resource::from_record_batches`]): give the table `_dlt_load_id` and
    /// `_dlt_id` columns as JSON items get them, whatever `[normalize.parquet_normalizer]
    /// add_dlt_load_id` / `add_dlt_id` say (a source whose columnar read must make the same
    /// table as its row-by-row read, such as `sql_database`). No effect on other items,
    /// which always have them.
    pub fn dlt_columns(mut self, on: bool) -> Self {
        self.dlt_columns = on;
        self
    }

    /// The root table name as given.
    pub fn table_name(&self) -> &str {
        &self.hints.table_name
    }
}

/// Column hints in dlt's dict form: `{"col": {"data_type": "json", "unique": true}}`.
fn columns_from_json(spec: &Json) -> Result<Vec<Column>, PipelineError> {
    let Json::Object(map) = spec else {
        return Err(PipelineError::Config(
            "column hints must be a JSON object: {\"column\": {\"data_type\": \"text\", ...}}"
                .into(),
        ));
    };
    let mut cols = Vec::with_capacity(map.len());
    for (name, hints) in map {
        let mut obj = match hints {
            Json::Object(o) => o.clone(),
            _ => {
                return Err(PipelineError::Config(format!(
                    "hints of column `{name}` must be a JSON object"
                )))
            }
        };
        obj.insert("name".into(), Json::String(name.clone()));
        let col: Column = serde_json::from_value(Json::Object(obj))
            .map_err(|e| PipelineError::Config(format!("hints of column `{name}`: {e}")))?;
        cols.push(col);
    }
    Ok(cols)
}
