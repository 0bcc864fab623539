//! Normalize: turn an extracted package into job files of the destination's file format.
//!
//! Rows stream from the items files through the relational normalizer into one writer per
//! table; when a table gains a column after rows were written, its file is closed and a new
//! one started with the wider column list (as dlt does). The package is written under
//! `load/new/<load_id>` and renamed to `load/normalized/<load_id>` when complete.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dest_core::{
    Column, ContractEntity, ContractMode, FileFormat, JobWriter, LoaderFileFormat, MergeStrategy,
    RowIdKind, Schema, TableDisposition, TableSchema, Value, STATE_TABLE,
};
use normalize::{ArrowRule, Normalizer, Row, RowSink};

use crate::extract::{ArrowFile, Live};
use crate::package::{
    ItemsFormat, JobFileName, JobFolder, JobOrigin, LoadPackage, Manifest, OriginSegment,
    ResourceSpec,
};
use crate::progress::Progress;
use crate::state::{PipelineState, STATE_ENGINE_VERSION};
use crate::storage::{io_err, rename, Storage, EXTRACTED, NORMALIZED, NORMALIZE_NEW};
use crate::PipelineError;

/// How packages are normalized.
#[derive(Debug, Clone)]
pub(crate) struct NormalizeOptions {
    pub format: Arc<dyn FileFormat>,
    /// From the destination's capabilities.
    pub max_identifier_length: usize,
    /// A table's job file is closed and the next one started past this size, so several
    /// load workers can load one table (dlt's `data_writer.file_max_bytes`).
    pub file_max_bytes: u64,
    /// The pipeline's live counters (shared by all stages).
    pub progress: Arc<Progress>,
    /// Arrow data: add `_dlt_load_id` / `_dlt_id` (`[normalize.parquet_normalizer]
    /// add_dlt_load_id`, `add_dlt_id`; dlt's default: neither).
    pub arrow_load_id: bool,
    pub arrow_row_id: bool,
    /// Arrow data goes straight into `parquet` jobs: the format chosen, or none chosen and
    /// the destination loads `parquet` (binary COPY is the fastest way in; measured in
    /// docs/performance.md). Otherwise its rows go through `format`.
    pub arrow_parquet: bool,
    /// The destination's identifiers ignore case
    /// ([`dest_core::Capabilities::case_sensitive_identifiers`]).
    pub fold_case: bool,
}

/// Normalizes extracted package `load_id` against `schema`; returns the evolved schema.
pub(crate) fn normalize_package(
    storage: &Storage,
    load_id: &str,
    schema: Schema,
    opts: &NormalizeOptions,
) -> Result<Schema, PipelineError> {
    let src = LoadPackage::of(storage, EXTRACTED, load_id);
    let dst = LoadPackage::of(storage, NORMALIZE_NEW, load_id);
    let schema = normalize_unpublished(
        &src,
        &dst,
        load_id,
        schema,
        opts,
        &mut |_, _| {},
        Input::Package,
    )?;
    publish(storage, load_id)?;
    Ok(schema)
}

/// Normalizes the extracted package in `src` into `dst` (not yet published); removes `dst`
/// on failure. `ready` is called with the names of job files as they are completed (closed
/// and synced) and the schema at that moment.
pub(crate) fn normalize_unpublished(
    src: &LoadPackage,
    dst: &LoadPackage,
    load_id: &str,
    schema: Schema,
    opts: &NormalizeOptions,
    ready: &mut dyn FnMut(&[String], &Schema),
    input: Input,
) -> Result<Schema, PipelineError> {
    let result = normalize_into(src, dst, load_id, schema, opts, ready, input);
    if result.is_err() {
        let _ = fs::remove_dir_all(dst.dir());
    }
    result
}

/// Makes a normalized package durable: `load/new/<id>` becomes `load/normalized/<id>` and
/// the extracted package is removed.
pub(crate) fn publish(storage: &Storage, load_id: &str) -> Result<(), PipelineError> {
    let src = storage.package(EXTRACTED, load_id);
    let dst = storage.package(NORMALIZE_NEW, load_id);
    rename(&dst, &storage.package(NORMALIZED, load_id))?;
    crate::fault::point("normalized-published");
    fs::remove_dir_all(&src).map_err(io_err("removing an extracted package", &src))
}

/// Where normalize reads a package's items from.
pub(crate) enum Input {
    /// A complete extracted package on disk.
    Package,
    /// Items files handed over by an extraction that runs at the same time.
    Live(std::sync::mpsc::Receiver<Live>),
}

fn normalize_into(
    src: &LoadPackage,
    dst: &LoadPackage,
    load_id: &str,
    schema: Schema,
    opts: &NormalizeOptions,
    ready: &mut dyn FnMut(&[String], &Schema),
    input: Input,
) -> Result<Schema, PipelineError> {
    dst.create_job_folder(JobFolder::New)?;

    let start = schema.clone();
    let mut normalizer = Normalizer::new(schema, load_id, opts.max_identifier_length);
    let mut sink = JobFiles::new(
        dst.job_folder(JobFolder::New),
        opts.format.clone(),
        opts.file_max_bytes,
        opts.progress.clone(),
    );
    sink.batches_as_parquet = opts.arrow_parquet;
    // root tables that items named (`table_name_from`): as named, and normalized
    let mut named: Vec<(String, String)> = Vec::new();
    let manifest = match input {
        Input::Package => {
            let manifest = src.manifest()?;
            for spec in &manifest.resources {
                if spec.items_format == ItemsFormat::Arrow {
                    let files = arrow_files(src, spec)
                        .map(|path| {
                            fs::File::open(&path)
                                .map(|f| (f, path.clone()))
                                .map_err(io_err("opening an items file", &path))
                        })
                        .collect::<Result<Vec<_>, _>>()?
                        .into_iter()
                        .map(Ok);
                    normalize_arrow(
                        &mut normalizer,
                        &mut sink,
                        spec,
                        files,
                        load_id,
                        opts,
                        ready,
                    )?;
                    continue;
                }
                let path = src.path_of(&spec.items_file);
                let file = fs::File::open(&path).map_err(io_err("opening an items file", &path))?;
                let items = BufReader::with_capacity(1 << 20, file);
                normalize_items(
                    &mut normalizer,
                    &mut sink,
                    spec,
                    &path,
                    items,
                    ready,
                    &mut named,
                )?;
            }
            manifest
        }
        Input::Live(rx) => loop {
            match rx.recv() {
                Ok(Live::Resource(spec, items)) => {
                    let path = src.path_of(&spec.items_file);
                    let items = BufReader::with_capacity(1 << 20, items);
                    normalize_items(
                        &mut normalizer,
                        &mut sink,
                        &spec,
                        &path,
                        items,
                        ready,
                        &mut named,
                    )?;
                }
                Ok(Live::Arrow(spec, opened)) => {
                    // each file as extract completes it; a closed channel: extract failed
                    let files = std::iter::from_fn(|| match opened.recv() {
                        Ok(ArrowFile::File(file, path)) => Some(Ok((file, path))),
                        Ok(ArrowFile::End) => None,
                        Err(_) => Some(Err(PipelineError::Internal("extraction stopped".into()))),
                    });
                    normalize_arrow(
                        &mut normalizer,
                        &mut sink,
                        &spec,
                        files,
                        load_id,
                        opts,
                        ready,
                    )?;
                }
                Ok(Live::Done(manifest)) => break *manifest,
                Err(_) => return Err(PipelineError::Internal("extraction stopped".into())),
            }
        },
    };
    // dlt drops a package without items (but for a replace's, which empties its table) and
    // without a state change: nothing of it is loaded, no load is recorded
    let mut empty = manifest.state.is_none();
    for r in &manifest.resources {
        let root = normalizer.table_name(&r.table_name)?;
        let replace = matches!(r.disposition, TableDisposition::Replace(_));
        let kept_out = r.table_name_from.is_none() && normalizer.kept_out(&root);
        empty &= kept_out || (r.items == 0 && !replace);
    }
    if empty {
        dst.mark_empty()?;
    }
    // the chains this package touches, also those whose resource yielded nothing (replace
    // must still empty them)
    let roots: Vec<String> = manifest
        .resources
        .iter()
        .filter(|r| r.table_name_from.is_none())
        .map(|r| normalizer.table_name(&r.table_name))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .chain(named.iter().map(|(_, root)| root.clone()))
        // a table a contract kept out is not made
        .filter(|r| normalizer.schema().table(r).is_some())
        .collect();
    dst.write_roots(&roots)?;
    let naming = normalizer.naming();
    let mut schema = normalizer.into_schema();
    if opts.fold_case && naming.is_case_sensitive() {
        check_case_collisions(&schema, naming)?;
    }
    // dlt's `clean_x_normalizer`: a table that received rows has had its one evolution
    for name in sink.table_rows.keys() {
        if let Some(t) = schema.table_mut(name) {
            t.evolve_columns_once = false;
        }
    }
    verify_tables(&schema, &roots, &sink.table_rows)?;
    if let Some(state) = &manifest.state {
        let created: DateTime<Utc> = DateTime::parse_from_rfc3339(&manifest.created_at)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        let table = schema
            .table_mut(STATE_TABLE)
            .ok_or_else(|| PipelineError::Internal("the schema has no state table".into()))?;
        table.seen_data = true;
        let row = [
            Value::Int(state.state_version),
            Value::Int(STATE_ENGINE_VERSION),
            Value::Text(state.pipeline_name.clone()),
            Value::Text(state.encoded()),
            Value::Timestamp(created),
            Value::Text(state.version_hash.clone()),
            Value::Text(load_id.to_string()),
            Value::Text(normalize::ids::random_row_id()),
        ];
        sink.write_values(table, &row)?;
    }
    sink.finish()?;
    if !sink.ready.is_empty() {
        ready(&sink.ready, &schema);
    }
    dst.write_table_rows(&sink.table_rows)?;
    dst.write_job_rows(&sink.job_rows)?;
    dst.write_origins(&sink.origins)?;
    extract_version(&mut schema, start, &manifest, &named, opts)?;
    schema.bump_version();
    finish_package(dst, schema, &manifest)
}

/// On a destination whose identifiers ignore case, names of a case sensitive convention
/// that differ only in case would be one table or column (dlt's
/// `SchemaIdentifierNormalizationCollision`): an error naming both, before anything loads.
fn check_case_collisions(
    schema: &Schema,
    naming: ::normalize::naming::Naming,
) -> Result<(), PipelineError> {
    let collision = |names: &mut dyn Iterator<Item = &str>| -> Option<(String, String)> {
        let mut seen: HashMap<String, &str> = HashMap::new();
        for name in names {
            if let Some(first) = seen.insert(name.to_lowercase(), name) {
                return Some((first.to_string(), name.to_string()));
            }
        }
        None
    };
    let fail = |what: String| {
        PipelineError::Config(format!(
            "{what} differ only in case: the naming convention `{naming}` keeps them apart, but \
             the destination's identifiers ignore case (use `sql_ci_v1` or `snake_case`, or \
             rename at the source); nothing of this package was loaded"
        ))
    };
    if let Some((a, b)) = collision(&mut schema.tables.iter().map(|t| t.name.as_str())) {
        return Err(fail(format!("tables `{a}` and `{b}`")));
    }
    for t in &schema.tables {
        if let Some((a, b)) = collision(&mut t.columns.iter().map(|c| c.name.as_str())) {
            return Err(fail(format!(
                "columns `{a}` and `{b}` of table `{}`",
                t.name
            )));
        }
    }
    Ok(())
}

/// dlt saves the schema after extract (with the tables, hints and contracts the resources
/// declare) and again after normalize, and each save that changes it takes a version: the
/// schema `start` as extract of `manifest` would have left it becomes a version of `schema`
/// of its own when it differs from the stored one. The first extract of a pipeline makes
/// the schema: its version is the first.
fn extract_version(
    schema: &mut Schema,
    start: Schema,
    manifest: &Manifest,
    named: &[(String, String)],
    opts: &NormalizeOptions,
) -> Result<(), PipelineError> {
    let fresh = start.version == 1 && start.previous_hashes.is_empty();
    let mut extract = Normalizer::new(start, "", opts.max_identifier_length);
    for spec in &manifest.resources {
        let hints = spec.hints()?;
        if hints.table_name_from.is_none() {
            extract.apply_hints(&hints)?;
            continue;
        }
        // the tables its items named (in this package: one resource names them)
        for (name, _) in named {
            let mut table_hints = hints.clone();
            table_hints.table_name = name.clone();
            table_hints.resource = Some(spec.table_name.clone());
            extract.apply_hints(&table_hints)?;
        }
    }
    let hash = extract.into_schema().content_hash();
    if fresh {
        schema.version_hash = hash;
    } else if hash != schema.version_hash {
        let old = std::mem::replace(&mut schema.version_hash, hash);
        if !old.is_empty() {
            schema.previous_hashes.insert(0, old);
            schema.previous_hashes.truncate(10);
            schema.version += 1;
        }
    }
    Ok(())
}

/// dlt's checks of the tables that received rows (`verify_normalized_table`): a key column
/// no item had a value for is an error (dlt: `UnboundColumnException`; without it a merge on
/// a misspelled key would silently append), a hinted nullable column without data a
/// warning; and a `delete-insert` merge without any key appends, which is worth a warning.
fn verify_tables(
    schema: &Schema,
    roots: &[String],
    table_rows: &BTreeMap<String, u64>,
) -> Result<(), PipelineError> {
    for name in table_rows.keys() {
        let Some(table) = schema.table(name) else {
            continue;
        };
        let unbound = ::normalize::check_unbound_columns(table)
            .map_err(|e| PipelineError::Schema(Box::new(e)))?;
        if !unbound.is_empty() {
            tracing::warn!(
                "table `{name}`: column(s) {} have hints but no item of this load had a value \
                 for them; they are not created until data arrives",
                unbound.join(", ")
            );
        }
    }
    for root in roots {
        let Some(table) = schema.table(root) else {
            continue;
        };
        let delete_insert =
            table.disposition == TableDisposition::Merge(MergeStrategy::DeleteInsert);
        let keyed = table.columns.iter().any(|c| c.primary_key || c.merge_key);
        if delete_insert && !keyed {
            tracing::warn!(
                "table `{root}`: write disposition merge without a primary key or merge key: \
                 its rows are appended, as dlt does (give --primary-key or --merge-key to merge)"
            );
        }
    }
    Ok(())
}

/// Normalizes the items of one resource (one JSON document per line) into `sink`.
fn normalize_items(
    normalizer: &mut Normalizer,
    sink: &mut JobFiles,
    spec: &ResourceSpec,
    path: &Path,
    items: impl BufRead,
    ready: &mut dyn FnMut(&[String], &Schema),
    named: &mut Vec<(String, String)>,
) -> Result<(), PipelineError> {
    let hints = spec.hints()?;
    // dlt's `table_name` function: the root of each item is the table its field names
    let mut by_name: HashMap<String, String> = HashMap::new();
    let fixed = match &hints.table_name_from {
        None => Some(normalizer.apply_hints(&hints)?),
        Some(_) => None,
    };
    let resource = sink.resources.len();
    sink.resources.push(spec.table_name.clone());
    for (n, line) in items.lines().enumerate() {
        let line = line.map_err(io_err("reading an items file", path))?;
        sink.item = Some((resource, n as u64 + 1));
        let item_err = |message: String| {
            PipelineError::Extract(crate::ItemError {
                source_name: format!("resource `{}`", spec.table_name),
                position: format!("item {}", n + 1),
                message,
            })
        };
        let item =
            ::normalize::parse_item(&line).map_err(|e| item_err(format!("malformed JSON: {e}")))?;
        let named_root;
        let root: &str = match (&fixed, &hints.table_name_from) {
            (Some(root), _) => root,
            (None, Some(field)) => {
                let name = table_name_of(&item, field).ok_or_else(|| {
                    item_err(format!(
                        "the table name field `{field}` is missing, null or not a string or a \
                         number"
                    ))
                })?;
                named_root = match by_name.get(&name) {
                    Some(root) => root.clone(),
                    None => {
                        let mut table_hints = hints.clone();
                        table_hints.table_name = name.clone();
                        table_hints.resource = Some(spec.table_name.clone());
                        let root = normalizer.apply_hints(&table_hints)?;
                        named.push((name.clone(), root.clone()));
                        by_name.insert(name, root.clone());
                        root
                    }
                };
                &named_root
            }
            (None, None) => return Err(PipelineError::Internal("no root table".into())),
        };
        normalizer
            .normalize_item(root, item, sink)
            .map_err(|e| PipelineError::Normalize {
                resource: spec.table_name.clone(),
                item: n as u64 + 1,
                source: Box::new(e),
            })?;
        if !sink.ready.is_empty() {
            ready(&sink.ready, normalizer.schema());
            sink.ready.clear();
        }
    }
    sink.item = None;
    for c in normalizer.take_collisions() {
        tracing::warn!(
            "resource `{}`: several keys of one item became `{}` of table `{}`; the last \
             value was kept, as dlt does (rename the keys at the source to keep both)",
            spec.table_name,
            c.column,
            c.table
        );
    }
    report_discards(normalizer, spec);
    Ok(())
}

/// The table an item names in its top-level field `field`: a string, or a number as its
/// text.
fn table_name_of(item: &::normalize::Item, field: &str) -> Option<String> {
    let ::normalize::Item::Object(entries) = item else {
        return None;
    };
    match entries
        .iter()
        .rev()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v)
    {
        Some(::normalize::Item::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(::normalize::Item::Int(i)) => Some(i.to_string()),
        Some(::normalize::Item::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Warns of what the schema contract left out of resource `spec`'s data: a contract
/// that discards is asked for, but a load that leaves rows out should say so.
fn report_discards(normalizer: &mut Normalizer, spec: &ResourceSpec) {
    for d in normalizer.take_discards() {
        let what = match (d.entity, d.mode) {
            (ContractEntity::Tables, _) => format!("{} row(s) of new table `{}`", d.count, d.name),
            (_, ContractMode::DiscardRow) => {
                format!(
                    "{} row(s) of table `{}` (for `{}`)",
                    d.count, d.table, d.name
                )
            }
            _ => format!(
                "{} value(s) of `{}` in table `{}`",
                d.count, d.name, d.table
            ),
        };
        tracing::warn!(
            "resource `{}`: the schema contract ({}: {}) left out {what}",
            spec.table_name,
            d.entity,
            d.mode
        );
    }
}

/// Normalizes the Arrow items of one resource (its Parquet items files) into `sink`, with
/// dlt's Arrow semantics: the table's columns from the Arrow schema, each batch cast to the
/// job types, no nested tables.
fn normalize_arrow(
    normalizer: &mut Normalizer,
    sink: &mut JobFiles,
    spec: &ResourceSpec,
    files: impl IntoIterator<Item = Result<(fs::File, PathBuf), PipelineError>>,
    load_id: &str,
    opts: &NormalizeOptions,
    ready: &mut dyn FnMut(&[String], &Schema),
) -> Result<(), PipelineError> {
    let hints = spec.hints()?;
    let root = normalizer.apply_hints(&hints)?;
    let resource = sink.resources.len();
    sink.resources.push(spec.table_name.clone());
    let resource_err = |e: columnar::ColumnarError| PipelineError::Normalize {
        resource: spec.table_name.clone(),
        item: 0,
        source: Box::new(::normalize::NormalizeError::Sink(Box::new(e))),
    };
    let mut item = 0u64;
    let mut row_ids = ::normalize::ids::RowIdSequence::new();
    for file in files {
        let (file, path) = file?;
        let batches = columnar::ParquetBatches::from_file(file, &path).map_err(resource_err)?;
        let normalize_err = |e: ::normalize::NormalizeError| PipelineError::Normalize {
            resource: spec.table_name.clone(),
            item: 0,
            source: Box::new(e),
        };
        if normalizer.kept_out(&root) {
            let mut rows = 0u64;
            for batch in batches {
                rows += batch.map_err(resource_err)?.num_rows() as u64;
            }
            normalizer.admit_root(&root, rows).map_err(normalize_err)?;
            continue;
        }
        let fields = batches.schema().fields().clone();
        let derived = fields
            .iter()
            .map(|f| columnar::column_of(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(resource_err)?;
        // the schema contract: columns it removes, and those whose rows it leaves out
        let rules = normalizer
            .arrow_contract(&root, &derived)
            .map_err(normalize_err)?;
        let kept: Vec<usize> = (0..rules.len())
            .filter(|&i| rules[i] == ArrowRule::Keep)
            .collect();
        let derived: Vec<Column> = kept.iter().map(|&i| derived[i].clone()).collect();
        // a table that has dlt's columns (items loaded into it) gets them filled in
        let has = |name: &str| {
            normalizer
                .schema()
                .table(&root)
                .and_then(|t| t.column(name))
                .is_some_and(|c| c.is_complete())
        };
        let add_load_id = opts.arrow_load_id || spec.dlt_columns || has(C_DLT_LOAD_ID);
        let add_row_id = opts.arrow_row_id || spec.dlt_columns || has(C_DLT_ID);
        // scd2: `_dlt_id` is a hash of the row's values (dlt leaves that to the user)
        let row_hash = hints.disposition.row_id() == RowIdKind::RowHash;
        let targets = normalizer
            .arrow_columns(&root, &derived, add_load_id, add_row_id)
            .map_err(normalize_err)?;
        let table = normalizer
            .schema()
            .table(&root)
            .cloned()
            .ok_or_else(|| PipelineError::Internal(format!("table `{root}` vanished")))?;
        // the columns that load (a column without a type yet holds only NULLs)
        let loaded: Vec<(usize, &Column)> = targets
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_complete())
            .collect();
        let job_columns: Vec<Column> = loaded.iter().map(|(_, c)| (*c).clone()).collect();
        let job_fields = columnar::job_schema(&job_columns).fields().clone();
        for batch in batches {
            let batch = contract_batch(
                normalizer,
                &root,
                &rules,
                &kept,
                batch.map_err(resource_err)?,
            )
            .map_err(resource_err)?;
            let n = batch.num_rows();
            let mut arrays = Vec::with_capacity(loaded.len());
            let mut row_id_at = None;
            for (i, target) in &loaded {
                let array = match batch.columns().get(*i) {
                    Some(a) => columnar::to_job_array(a, target).map_err(resource_err)?,
                    None if target.name == C_DLT_LOAD_ID => {
                        Arc::new(columnar::arrow_array::StringArray::from(vec![load_id; n]))
                            as columnar::arrow_array::ArrayRef
                    }
                    None if row_hash => {
                        // filled in below, from the other columns
                        row_id_at = Some(arrays.len());
                        Arc::new(columnar::arrow_array::NullArray::new(n))
                    }
                    None => Arc::new(columnar::arrow_array::StringArray::from_iter_values(
                        (0..n).map(|_| row_ids.next_id()),
                    )),
                };
                arrays.push(array);
            }
            if let Some(at) = row_id_at {
                let ids = row_hashes(&job_fields, &arrays, n).map_err(resource_err)?;
                arrays[at] = Arc::new(ids);
            }
            let batch = columnar::job_batch(&job_columns, arrays).map_err(resource_err)?;
            sink.write_batch(&table, batch, resource, item)?;
            item += n as u64;
            if !sink.ready.is_empty() {
                ready(&sink.ready, normalizer.schema());
                sink.ready.clear();
            }
        }
    }
    report_discards(normalizer, spec);
    Ok(())
}

/// `batch` as the schema contract lets it load (`rules` per column, from
/// [`Normalizer::arrow_contract`]): without the rows that have a value in a `discard_row`
/// column, with only the `kept` columns; what is left out is noted for the report.
fn contract_batch(
    normalizer: &mut Normalizer,
    root: &str,
    rules: &[ArrowRule],
    kept: &[usize],
    batch: columnar::arrow_array::RecordBatch,
) -> Result<columnar::arrow_array::RecordBatch, columnar::ColumnarError> {
    if kept.len() == rules.len() {
        return Ok(batch);
    }
    let n = batch.num_rows();
    let mut keep = vec![true; n];
    for (rule, array) in rules.iter().zip(batch.columns()) {
        match rule {
            ArrowRule::Keep => {}
            ArrowRule::Drop(entity, mode, name) => {
                let values = (n - array.null_count()) as u64;
                if values > 0 {
                    normalizer.note_discard(root, *entity, name, *mode, values);
                }
            }
            ArrowRule::DropRowsWithValue(entity, mode, name) => {
                let mut rows = 0u64;
                for (row, k) in keep.iter_mut().enumerate() {
                    if *k && !array.is_null(row) {
                        *k = false;
                        rows += 1;
                    }
                }
                if rows > 0 {
                    normalizer.note_discard(root, *entity, name, *mode, rows);
                }
            }
        }
    }
    let batch = if keep.iter().all(|k| *k) {
        batch
    } else {
        columnar::filter_rows(&batch, keep)?
    };
    batch
        .project(kept)
        .map_err(|source| columnar::ColumnarError::Arrow {
            context: "removing the columns the schema contract keeps out".into(),
            source,
        })
}

/// The scd2 row version hashes of `n` rows of job-typed `arrays` (of `fields`): SHAKE-128,
/// as every `_dlt_id`, of the row's non-NULL values with their column names, in name order,
/// leaving out dlt's own columns. A NULL counts as absent, so a column added later does not
/// make every stored row look changed.
fn row_hashes(
    fields: &columnar::arrow_schema::Fields,
    arrays: &[columnar::arrow_array::ArrayRef],
    n: usize,
) -> Result<columnar::arrow_array::StringArray, columnar::ColumnarError> {
    let mut order: Vec<usize> = (0..fields.len().min(arrays.len()))
        .filter(|&i| !fields[i].name().starts_with("_dlt"))
        .collect();
    order.sort_by(|&a, &b| fields[a].name().cmp(fields[b].name()));
    let mut text = Vec::with_capacity(256);
    let mut ids = Vec::with_capacity(n);
    for row in 0..n {
        text.clear();
        for &i in &order {
            let value = columnar::cell(&fields[i], arrays[i].as_ref(), row)?;
            if value.is_null() {
                continue;
            }
            text.extend_from_slice(fields[i].name().as_bytes());
            text.push(0x1f);
            hash_text(&value, &mut text);
            text.push(0x1e);
        }
        ids.push(::normalize::ids::digest128(
            &text,
            ::normalize::ids::DLT_ID_LENGTH_BYTES,
        ));
    }
    Ok(columnar::arrow_array::StringArray::from(ids))
}

/// A value's text in a row hash: stable across versions (no `Debug`), JSON with sorted keys.
fn hash_text(value: &Value, out: &mut Vec<u8>) {
    // writing into a Vec cannot fail
    let _ = match value {
        Value::Null => Ok(()),
        Value::Bool(b) => write!(out, "{b}"),
        Value::Int(i) => write!(out, "{i}"),
        Value::Double(d) => write!(out, "{d:e}"),
        Value::Number(t) | Value::Text(t) => out.write_all(t.as_bytes()),
        Value::Timestamp(t) => write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
        Value::NaiveTimestamp(t) => write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S%.6f")),
        Value::Date(d) => write!(out, "{}", d.format("%Y-%m-%d")),
        Value::Time(t) => write!(out, "{}", t.format("%H:%M:%S%.6f")),
        Value::Binary(b) => {
            b.iter().for_each(|&x| dest_core::push_hex(out, x));
            Ok(())
        }
        Value::Json(j) => out.write_all(::normalize::coerce::to_json_text(j, true).as_bytes()),
    };
}

/// The paths of the Parquet files of an Arrow resource in package `src`.
fn arrow_files<'a>(
    src: &'a LoadPackage,
    spec: &'a ResourceSpec,
) -> impl Iterator<Item = PathBuf> + 'a {
    std::iter::once(&spec.items_file)
        .chain(&spec.more_items_files)
        .filter(|f| !f.is_empty())
        .map(|f| src.path_of(f))
}

/// The names of dlt's load id and row id columns.
const C_DLT_LOAD_ID: &str = "_dlt_load_id";
const C_DLT_ID: &str = "_dlt_id";

/// The input ids of the packages not yet loaded.
pub(crate) fn pending_input_ids(
    storage: &Storage,
) -> Result<std::collections::HashSet<String>, PipelineError> {
    let mut ids = std::collections::HashSet::new();
    for id in storage.packages(EXTRACTED)? {
        ids.extend(
            LoadPackage::of(storage, EXTRACTED, &id)
                .manifest()?
                .input_id,
        );
    }
    for id in storage.packages(NORMALIZED)? {
        ids.extend(LoadPackage::of(storage, NORMALIZED, &id).input_id()?);
    }
    Ok(ids)
}

/// States carried by packages not yet loaded, oldest first, with their load ids.
pub(crate) fn pending_states(
    storage: &Storage,
) -> Result<Vec<(String, PipelineState)>, PipelineError> {
    let mut out = Vec::new();
    for id in storage.packages(EXTRACTED)? {
        if let Some(s) = LoadPackage::of(storage, EXTRACTED, &id).manifest()?.state {
            out.push((id, s));
        }
    }
    for id in storage.packages(NORMALIZED)? {
        if let Some(s) = LoadPackage::of(storage, NORMALIZED, &id).state()? {
            out.push((id, s));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes what the load step reads besides the jobs: the state the package carries, its
/// input, the schema and the creation time.
fn finish_package(
    dst: &LoadPackage,
    schema: Schema,
    manifest: &Manifest,
) -> Result<Schema, PipelineError> {
    if let Some(state) = &manifest.state {
        dst.write_state(state)?;
    }
    if let Some(id) = &manifest.input_id {
        dst.write_input_id(id)?;
    }
    dst.write_schema(&schema)?;
    dst.write_created_at(&manifest.created_at)?;
    Ok(schema)
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    written: Arc<AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A job file's writer: rows through the destination's format, or record batches
/// straight into a `parquet` job.
enum Writer {
    Rows(Box<dyn JobWriter>),
    Batches(Box<columnar::ParquetBatchWriter>),
}

impl Writer {
    fn finish(self) -> dest_core::Result<Box<dyn Write + Send>> {
        match self {
            Writer::Rows(w) => w.finish(),
            Writer::Batches(w) => w.finish(),
        }
    }
}

struct OpenJob {
    writer: Writer,
    written: Arc<AtomicU64>,
    file: fs::File,
    path: PathBuf,
    /// The job's key (`<table>.<file id>`).
    key: String,
    /// table column index -> position in the file's column list
    mapping: Vec<Option<usize>>,
    width: usize,
    /// Where the rows came from.
    origin: Segments,
}

impl OpenJob {
    /// Bytes written to the file and held by its writer, not yet written.
    fn size(&self) -> u64 {
        let buffered = match &self.writer {
            Writer::Rows(w) => w.buffered_bytes(),
            Writer::Batches(_) => 0,
        };
        self.written.load(Ordering::Relaxed) + buffered
    }
}

/// An [`OriginSegment`] while the file is written.
#[derive(Debug, Clone, Copy)]
struct Segment {
    row: u64,
    resource: usize,
    first: u64,
    last: u64,
}

/// Where the rows of a job file come from, noted row by row while it is written: usually
/// one segment per file, so a row costs a comparison or two.
#[derive(Debug)]
struct Segments {
    /// Rows written.
    rows: u64,
    /// A root table's file (one row per item).
    exact: bool,
    /// As [`JobOrigin::segments`], with the resource's index in [`JobFiles::resources`].
    list: Vec<Segment>,
}

impl Segments {
    fn new(exact: bool) -> Self {
        Segments {
            rows: 0,
            exact,
            list: Vec::new(),
        }
    }

    /// Notes the next row, from `item` (resource index, item number) when it came from one:
    /// extends the last segment, or starts one.
    #[inline]
    fn row(&mut self, item: Option<(usize, u64)>) {
        if let Some((resource, item)) = item {
            match self.list.last_mut() {
                Some(s)
                    if s.resource == resource
                        && (!self.exact || s.last.checked_add(1) == Some(item)) =>
                {
                    s.last = s.last.max(item);
                }
                _ => self.list.push(Segment {
                    row: self.rows,
                    resource,
                    first: item,
                    last: item,
                }),
            }
        }
        self.rows += 1;
    }

    /// The origin to store, with resource names for the indexes.
    fn origin(&self, resources: &[String]) -> JobOrigin {
        JobOrigin {
            exact: self.exact,
            segments: self
                .list
                .iter()
                .map(|s| OriginSegment {
                    row: s.row,
                    resource: resources.get(s.resource).cloned().unwrap_or_default(),
                    first: s.first,
                    last: s.last,
                })
                .collect(),
        }
    }
}

/// A job writer's error, with the job file's path when it is the file's IO that failed (the
/// writer knows only the table).
fn on_job_file(path: &Path) -> impl FnOnce(dest_core::Error) -> PipelineError + '_ {
    move |e| match e {
        dest_core::Error::Io { source, .. } => PipelineError::Io {
            context: "writing a job file",
            path: path.to_path_buf(),
            source,
        },
        other => other.into(),
    }
}

/// One open job file per table; implements [`RowSink`].
struct JobFiles {
    dir: PathBuf,
    format: Arc<dyn FileFormat>,
    max_bytes: u64,
    open: HashMap<String, OpenJob>,
    /// Record batches written straight into `parquet` jobs (Arrow data), by table.
    open_batches: HashMap<String, OpenJob>,
    /// Whether record batches go straight into `parquet` jobs.
    batches_as_parquet: bool,
    row: Vec<Value>,
    /// Job files completed since the caller last looked.
    ready: Vec<String>,
    progress: Arc<Progress>,
    /// Rows written per table.
    table_rows: BTreeMap<String, u64>,
    /// Rows written into each closed job file, by job key.
    job_rows: BTreeMap<String, u64>,
    /// The resources normalized so far, in order.
    resources: Vec<String>,
    /// The item being normalized: the index of its resource in `resources` and its number
    /// (1-based); `None` for rows that come from no item (the pipeline state).
    item: Option<(usize, u64)>,
    /// Where the rows of the closed job files came from, by job key.
    origins: BTreeMap<String, JobOrigin>,
}

impl JobFiles {
    fn new(
        dir: PathBuf,
        format: Arc<dyn FileFormat>,
        max_bytes: u64,
        progress: Arc<Progress>,
    ) -> Self {
        JobFiles {
            dir,
            format,
            max_bytes,
            open: HashMap::new(),
            open_batches: HashMap::new(),
            batches_as_parquet: false,
            row: Vec::new(),
            ready: Vec::new(),
            progress,
            table_rows: Default::default(),
            job_rows: Default::default(),
            resources: Vec::new(),
            item: None,
            origins: Default::default(),
        }
    }

    /// Creates the next job file of `table`: its path, key, a handle to sync it, and the
    /// counted writer to write it through.
    #[allow(clippy::type_complexity)]
    fn create(
        &self,
        table: &str,
        format: LoaderFileFormat,
    ) -> Result<
        (
            PathBuf,
            String,
            fs::File,
            Arc<AtomicU64>,
            Box<dyn Write + Send>,
        ),
        PipelineError,
    > {
        let job_name = JobFileName::new(table, format.as_str());
        let path = self.dir.join(job_name.file_name());
        let file = fs::File::create(&path).map_err(io_err("creating a job file", &path))?;
        let sync_handle = file
            .try_clone()
            .map_err(io_err("creating a job file", &path))?;
        let written = Arc::new(AtomicU64::new(0));
        let out = Box::new(Counting {
            inner: BufWriter::with_capacity(1 << 20, file),
            written: written.clone(),
        });
        self.progress.job_file(table);
        Ok((path, job_name.key(), sync_handle, written, out))
    }

    fn start(&self, table: &TableSchema) -> Result<OpenJob, PipelineError> {
        let (path, key, sync_handle, written, out) =
            self.create(&table.name, self.format.format())?;
        let columns: Vec<Column> = table.complete_columns().cloned().collect();
        let mut mapping = vec![None; table.columns.len()];
        let mut pos = 0;
        for (i, c) in table.columns.iter().enumerate() {
            if c.is_complete() {
                mapping[i] = Some(pos);
                pos += 1;
            }
        }
        let writer = Writer::Rows(self.format.writer(&table.name, &columns, out)?);
        Ok(OpenJob {
            writer,
            written,
            file: sync_handle,
            path,
            key,
            mapping,
            width: columns.len(),
            origin: Segments::new(table.parent.is_none()),
        })
    }

    fn close(&mut self, job: OpenJob) -> Result<(), PipelineError> {
        self.job_rows.insert(job.key.clone(), job.origin.rows);
        if !job.origin.list.is_empty() {
            self.origins
                .insert(job.key.clone(), job.origin.origin(&self.resources));
        }
        let mut out = job.writer.finish().map_err(on_job_file(&job.path))?;
        out.flush()
            .map_err(io_err("writing a job file", &job.path))?;
        drop(out);
        job.file
            .sync_all()
            .map_err(io_err("syncing a job file", &job.path))?;
        if let Some(name) = job.path.file_name() {
            self.ready.push(name.to_string_lossy().into_owned());
        }
        Ok(())
    }

    /// Writes a full row (one value per complete column, in schema order).
    fn write_values(&mut self, table: &TableSchema, values: &[Value]) -> Result<(), PipelineError> {
        let row = Row {
            values: table
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_complete())
                .map(|(i, _)| i)
                .zip(values.iter().cloned())
                .collect(),
        };
        self.write_row(table, row)
    }

    fn write_row(&mut self, table: &TableSchema, row: Row) -> Result<(), PipelineError> {
        let fits = |job: &OpenJob| {
            row.values
                .iter()
                .all(|(i, _)| job.mapping.get(*i).copied().flatten().is_some())
        };
        let max = self.max_bytes;
        let needs_new = match self.open.get(&table.name) {
            // a new column, or the file is full: start the next file of this table
            Some(job) => !fits(job) || job.size() >= max,
            None => true,
        };
        if needs_new {
            if let Some(old) = self.open.remove(&table.name) {
                self.close(old)?;
            }
            let job = self.start(table)?;
            self.open.insert(table.name.clone(), job);
        }
        let job = self
            .open
            .get_mut(&table.name)
            .ok_or_else(|| PipelineError::Internal("job file vanished".into()))?;
        self.row.clear();
        self.row.resize(job.width, Value::Null);
        for (i, v) in row.values {
            if let Some(Some(pos)) = job.mapping.get(i) {
                self.row[*pos] = v;
            }
        }
        let Writer::Rows(writer) = &mut job.writer else {
            return Err(PipelineError::Internal("a row for a batch writer".into()));
        };
        writer
            .write_row(&self.row)
            .map_err(on_job_file(&job.path))?;
        job.origin.row(self.item);
        self.progress.row();
        match self.table_rows.get_mut(&table.name) {
            Some(n) => *n += 1,
            None => {
                self.table_rows.insert(table.name.clone(), 1);
            }
        }
        Ok(())
    }

    /// Writes a record batch of job-typed columns of `table` (Arrow data): straight into a
    /// `parquet` job file when that is the format, else row by row through the format's
    /// writer. Its rows are items `first + 1 ..` of resource `resource`.
    fn write_batch(
        &mut self,
        table: &TableSchema,
        batch: columnar::arrow_array::RecordBatch,
        resource: usize,
        first: u64,
    ) -> Result<(), PipelineError> {
        let n = batch.num_rows();
        if !self.batches_as_parquet {
            let fields = batch.schema().fields().clone();
            let positions: Vec<Option<usize>> = fields
                .iter()
                .map(|f| table.columns.iter().position(|c| &c.name == f.name()))
                .collect();
            for r in 0..n {
                self.item = Some((resource, first + r as u64 + 1));
                let mut row = Row::default();
                for ((field, array), pos) in fields.iter().zip(batch.columns()).zip(&positions) {
                    if let Some(pos) = pos {
                        let value = columnar::cell(field, array.as_ref(), r).map_err(|e| {
                            PipelineError::Internal(format!("table `{}`: {e}", table.name))
                        })?;
                        row.values.push((*pos, value));
                    }
                }
                self.write_row(table, row)?;
            }
            self.item = None;
            return Ok(());
        }
        let max = self.max_bytes;
        let needs_new = match self.open_batches.get(&table.name) {
            Some(job) => match &job.writer {
                Writer::Batches(w) => {
                    w.schema() != &batch.schema() || job.written.load(Ordering::Relaxed) >= max
                }
                Writer::Rows(_) => true,
            },
            None => true,
        };
        if needs_new {
            if let Some(old) = self.open_batches.remove(&table.name) {
                self.close(old)?;
            }
            let (path, key, file, written, out) =
                self.create(&table.name, LoaderFileFormat::Parquet)?;
            let writer = columnar::ParquetBatchWriter::new(&table.name, batch.schema(), out)
                .map_err(on_job_file(&path))?;
            self.open_batches.insert(
                table.name.clone(),
                OpenJob {
                    writer: Writer::Batches(Box::new(writer)),
                    written,
                    file,
                    path,
                    key,
                    mapping: Vec::new(),
                    width: 0,
                    origin: Segments::new(table.parent.is_none()),
                },
            );
        }
        let job = self
            .open_batches
            .get_mut(&table.name)
            .ok_or_else(|| PipelineError::Internal("job file vanished".into()))?;
        let Writer::Batches(writer) = &mut job.writer else {
            return Err(PipelineError::Internal("a batch for a row writer".into()));
        };
        writer.write(&batch).map_err(on_job_file(&job.path))?;
        for r in 0..n as u64 {
            job.origin.row(Some((resource, first + r + 1)));
        }
        self.progress.rows(n as u64);
        *self.table_rows.entry(table.name.clone()).or_insert(0) += n as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PipelineError> {
        let mut open: Vec<OpenJob> = self.open.drain().map(|(_, job)| job).collect();
        open.extend(self.open_batches.drain().map(|(_, job)| job));
        for job in open {
            self.close(job)?;
        }
        Ok(())
    }
}

impl RowSink for JobFiles {
    fn row(
        &mut self,
        table: &TableSchema,
        row: Row,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.write_row(table, row).map_err(|e| Box::new(e) as _)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn segment(row: u64, resource: &str, first: u64, last: u64) -> OriginSegment {
        OriginSegment {
            row,
            resource: resource.into(),
            first,
            last,
        }
    }

    #[test]
    fn rows_are_noted_in_segments() {
        let mut root = Segments::new(true);
        let mut nested = Segments::new(false);
        // items 1, 2, 3 of resource 0 (item 2 has two nested rows, item 3 none), then item
        // 5 (item 4 went to another file), then item 1 of resource 1, then a row of no item
        for (resource, item, children) in [(0, 1, 1), (0, 2, 2), (0, 3, 0), (0, 5, 1), (1, 1, 1)] {
            root.row(Some((resource, item)));
            for _ in 0..children {
                nested.row(Some((resource, item)));
            }
        }
        root.row(None);
        let names = vec!["a".to_string(), "b".to_string()];
        let root = root.origin(&names);
        assert_eq!(
            root.segments,
            [
                segment(0, "a", 1, 3),
                segment(3, "a", 5, 5),
                segment(4, "b", 1, 1)
            ]
        );
        assert_eq!(root.item_of(3), Some(("a", 5, 5)));
        assert_eq!(root.item_of(5), None);
        assert_eq!(
            nested.origin(&names).segments,
            [segment(0, "a", 1, 5), segment(4, "b", 1, 1)]
        );
    }
}
