//! Extract: evaluate resources and write their items into a new package on disk.
//!
//! The package is written under `normalize/new/<load_id>` and renamed to
//! `normalize/extracted/<load_id>` only when every item was written, so a source error or a
//! crash leaves nothing half-extracted behind. The pipeline state extracted with the data
//! travels in the same package.

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};

use dest_core::{Merge, MergeStrategy, TableDisposition, WriteDisposition};
use futures_util::StreamExt;
use normalize::ResourceHints;

use crate::incremental::{state_path, IncrementalRun};
use crate::package::{ItemsFormat, LoadPackage, Manifest, ResourceSpec};
use crate::progress::Progress as RunProgress;
use crate::resource::{Items, Resource};
use crate::state::PipelineState;
use crate::storage::{io_err, rename, Storage, EXTRACTED, EXTRACT_NEW};
use crate::PipelineError;

/// The package to extract into, and what it records besides the items.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExtractTarget<'a> {
    pub load_id: &'a str,
    /// When extraction started (RFC 3339).
    pub created_at: &'a str,
    /// The source (schema) whose resources' state the incremental cursors read and write.
    pub source: &'a str,
    /// Identifies the input the package is extracted from ([`crate::Pipeline::run_input`]).
    pub input_id: Option<&'a str>,
}

impl ResourceSpec {
    /// The write disposition the resource was extracted with.
    pub(crate) fn disposition(&self) -> Result<Arc<dyn WriteDisposition>, PipelineError> {
        if let (Some(opts), TableDisposition::Merge(_)) = (&self.scd2, self.disposition) {
            return Ok(Arc::new(Merge {
                strategy: MergeStrategy::Scd2,
                scd2: opts.clone(),
            }));
        }
        Ok(self.disposition.write_disposition()?)
    }

    /// The hints to normalize this resource's items with.
    pub(crate) fn hints(&self) -> Result<ResourceHints, PipelineError> {
        Ok(ResourceHints {
            table_name: self.table_name.clone(),
            disposition: self.disposition()?,
            primary_key: self.primary_key.clone(),
            merge_key: self.merge_key.clone(),
            columns: self.columns.clone(),
            max_table_nesting: self.max_table_nesting,
        })
    }
}

fn cursor_error(table: &str, item: u64, e: &crate::incremental::IncrementalError) -> PipelineError {
    PipelineError::Extract(crate::ItemError {
        source_name: format!("resource `{table}`"),
        position: if item == 0 {
            "incremental cursor".into()
        } else {
            format!("item {item}")
        },
        message: e.to_string(),
    })
}

/// What extract hands to a normalizer that runs at the same time.
pub(crate) enum Live {
    /// A resource whose items file is being written; the reader follows the writer.
    Resource(Box<ResourceSpec>, ItemsReader),
    /// A resource of Arrow items: its Parquet files come through the receiver as each is
    /// complete (opened: the package folder is renamed when extraction completes).
    Arrow(Box<ResourceSpec>, mpsc::Receiver<ArrowFile>),
    /// Extraction is complete and the package is in `normalize/extracted/`.
    Done(Box<Manifest>),
}

/// A Parquet items file of an Arrow resource, handed to a live normalizer.
pub(crate) enum ArrowFile {
    /// A complete file (opened) and its path.
    File(fs::File, std::path::PathBuf),
    /// The resource's last file was sent; a channel that closes without it means the
    /// extraction failed.
    End,
}

/// The sending side of a live extraction.
#[derive(Clone)]
pub(crate) struct LiveSink {
    pub tx: mpsc::Sender<Live>,
    /// Set when extraction stopped because the normalizer stopped reading.
    pub cancelled: Arc<AtomicBool>,
}

/// How far an items file has been written.
#[derive(Default)]
struct Progress {
    written: u64,
    /// `Some(true)` once complete, `Some(false)` when extraction failed.
    end: Option<bool>,
    reader_gone: bool,
}

#[derive(Default)]
struct Tail {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Tail {
    fn update(&self, f: impl FnOnce(&mut Progress)) {
        if let Ok(mut p) = self.progress.lock() {
            f(&mut p);
        }
        self.changed.notify_all();
    }
}

/// Reads an items file while extract writes it: only bytes already written, waiting for
/// more until the writer ends. An extraction that failed reads as an error.
pub(crate) struct ItemsReader {
    file: fs::File,
    pos: u64,
    tail: Arc<Tail>,
}

impl Read for ItemsReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let (written, end) = {
            let lost = || std::io::Error::other("the items file's writer is gone");
            let mut p = self.tail.progress.lock().map_err(|_| lost())?;
            while p.written <= self.pos && p.end.is_none() {
                p = self.tail.changed.wait(p).map_err(|_| lost())?;
            }
            (p.written, p.end)
        };
        if written > self.pos {
            let want = usize::try_from(written - self.pos)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = self.file.read(&mut buf[..want])?;
            self.pos += n as u64;
            return Ok(n);
        }
        match end {
            Some(true) => Ok(0),
            _ => Err(std::io::Error::other("extraction failed")),
        }
    }
}

impl Drop for ItemsReader {
    fn drop(&mut self) {
        self.tail.update(|p| p.reader_gone = true);
    }
}

/// The items file's writer; with a live reader it publishes its progress, and it refuses
/// to go on once the reader is gone (the normalizer failed).
struct ItemsWriter<'a> {
    file: fs::File,
    live: Option<(Arc<Tail>, Arc<AtomicBool>)>,
    /// The run's counters: the bytes written.
    progress: &'a RunProgress,
}

impl Write for ItemsWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some((tail, cancelled)) = &self.live {
            if tail.progress.lock().map(|p| p.reader_gone).unwrap_or(true) {
                cancelled.store(true, Ordering::SeqCst);
                return Err(std::io::Error::other("normalizing stopped"));
            }
        }
        let n = self.file.write(buf)?;
        self.progress.bytes(n as u64);
        if let Some((tail, _)) = &self.live {
            tail.update(|p| p.written += n as u64);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for ItemsWriter<'_> {
    fn drop(&mut self) {
        // not ended as complete: the reader sees a failed extraction
        if let Some((tail, _)) = &self.live {
            tail.update(|p| {
                p.end.get_or_insert(false);
            });
        }
    }
}

/// Extracts `resources` into package `target.load_id`. On any error the package is
/// removed. With `live`, every items file is handed to a normalizer while it is written.
pub(crate) async fn extract(
    storage: &Storage,
    target: &ExtractTarget<'_>,
    resources: Vec<Resource>,
    state: &mut PipelineState,
    live: Option<&LiveSink>,
    progress: &RunProgress,
) -> Result<u64, PipelineError> {
    let package = LoadPackage::of(storage, EXTRACT_NEW, target.load_id);
    let result = extract_into(&package, target, resources, state, live, progress).await;
    match result {
        Ok((n, manifest)) => {
            rename(package.dir(), &storage.package(EXTRACTED, target.load_id))?;
            crate::fault::point("extracted-published");
            if let Some(live) = live {
                let _ = live.tx.send(Live::Done(Box::new(manifest)));
            }
            Ok(n)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(package.dir());
            Err(e)
        }
    }
}

async fn extract_into(
    package: &LoadPackage,
    target: &ExtractTarget<'_>,
    resources: Vec<Resource>,
    state: &mut PipelineState,
    live: Option<&LiveSink>,
    progress: &RunProgress,
) -> Result<(u64, Manifest), PipelineError> {
    let source = target.source;
    package.create_items_folder()?;
    let mut specs = Vec::with_capacity(resources.len());
    let mut total = 0u64;
    for (i, mut r) in resources.into_iter().enumerate() {
        let table = r.hints.table_name.clone();
        let cursor_path = r
            .incremental
            .as_ref()
            .map(|inc| state_path(&table, inc.cursor_path()));
        let mut cursor = match (&r.incremental, &cursor_path) {
            (Some(inc), Some(path)) => Some(
                inc.begin(state.resource_value(source, path))
                    .map_err(|e| cursor_error(&table, 0, &e))?,
            ),
            _ => None,
        };
        if let Items::Deferred(make) = r.items {
            r.items = make(cursor.as_ref().and_then(|c| c.start_value().cloned()));
        }
        if matches!(r.items, Items::Arrow(_)) {
            let spec = extract_arrow(package, i, r, cursor.as_mut(), live, progress)?;
            if let (Some(run), Some(p)) = (cursor, &cursor_path) {
                if run.saves_state() {
                    state.set_resource_value(source, p, run.into_state());
                }
            }
            total += spec.items;
            specs.push(spec);
            continue;
        }
        let (rel, path) = package.items_file(i);
        let file = fs::File::create(&path).map_err(io_err("creating an items file", &path))?;
        let tail = match live {
            Some(live) => {
                let reader =
                    fs::File::open(&path).map_err(io_err("opening an items file", &path))?;
                let tail = Arc::new(Tail::default());
                let spec = spec_of(&r.hints, rel.clone(), 0);
                let items = ItemsReader {
                    file: reader,
                    pos: 0,
                    tail: tail.clone(),
                };
                if live.tx.send(Live::Resource(Box::new(spec), items)).is_err() {
                    live.cancelled.store(true, Ordering::SeqCst);
                    return Err(PipelineError::Internal("normalizing stopped".into()));
                }
                Some((tail, live.cancelled.clone()))
            }
            None => None,
        };
        let mut out = BufWriter::with_capacity(
            1 << 20,
            ItemsWriter {
                file,
                live: tail.clone(),
                progress,
            },
        );
        let mut count = 0u64;
        let mut seen = 0u64;
        // `raw`: the item's JSON text when the source gave it (written as is)
        let mut write = |item: Option<serde_json::Value>,
                         raw: Option<&[u8]>|
         -> Result<(), PipelineError> {
            seen += 1;
            if let Some(run) = cursor.as_mut() {
                let parsed;
                let value = match (&item, raw) {
                    (Some(v), _) => v,
                    (None, Some(bytes)) => {
                        parsed = serde_json::from_slice(bytes).map_err(|e| {
                            PipelineError::Extract(crate::ItemError {
                                source_name: format!("resource `{table}`"),
                                position: format!("item {seen}"),
                                message: format!("malformed JSON: {e}"),
                            })
                        })?;
                        &parsed
                    }
                    (None, None) => return Ok(()),
                };
                if !run
                    .keep(value)
                    .map_err(|e| cursor_error(&table, seen, &e))?
                {
                    return Ok(());
                }
            }
            match (raw, &item) {
                (Some(bytes), _) => out
                    .write_all(bytes)
                    .map_err(io_err("writing an items file", &path))?,
                (None, Some(v)) => serde_json::to_writer(&mut out, v)
                    .map_err(|e| PipelineError::Internal(format!("serializing an item: {e}")))?,
                (None, None) => return Ok(()),
            }
            progress.item();
            out.write_all(b"\n")
                .map_err(io_err("writing an items file", &path))?;
            count += 1;
            Ok(())
        };
        match r.items {
            Items::Iter(iter) => {
                for item in iter {
                    write(Some(item?), None)?;
                }
            }
            Items::Lines(iter) => {
                for line in iter {
                    write(None, Some(&line?))?;
                }
            }
            Items::Stream(mut s) => {
                while let Some(item) = s.next().await {
                    write(Some(item?), None)?;
                }
            }
            Items::LineStream(mut s) => {
                while let Some(line) = s.next().await {
                    write(None, Some(&line?))?;
                }
            }
            Items::Arrow(_) | Items::Deferred(_) => {
                return Err(PipelineError::Internal(
                    "Arrow or deferred items reached the JSON extractor".into(),
                ))
            }
        }
        if let (Some(run), Some(p)) = (cursor, &cursor_path) {
            if run.saves_state() {
                state.set_resource_value(source, p, run.into_state());
            }
        }
        let writer = out
            .into_inner()
            .map_err(|e| io_err("writing an items file", &path)(e.into_error()))?;
        writer
            .file
            .sync_all()
            .map_err(io_err("syncing an items file", &path))?;
        if let Some((tail, _)) = &tail {
            tail.update(|p| p.end = Some(true));
        }
        total += count;
        specs.push(spec_of(&r.hints, rel, count));
    }
    state.bump();
    let manifest = Manifest {
        load_id: target.load_id.to_string(),
        created_at: target.created_at.to_string(),
        resources: specs,
        state: state.needs_extract().then(|| state.clone()),
        input_id: target.input_id.map(str::to_string),
    };
    package.write_manifest(&manifest)?;
    Ok((total, manifest))
}

/// A Parquet items file being written.
struct ArrowItems {
    writer: columnar::ParquetBatchWriter,
    sync: fs::File,
    path: std::path::PathBuf,
    /// Bytes of the file counted in the progress display.
    counted: u64,
    /// Rows written.
    rows: usize,
}

impl ArrowItems {
    fn finish(self) -> Result<std::path::PathBuf, PipelineError> {
        let mut out = self.writer.finish()?;
        out.flush()
            .map_err(io_err("writing an items file", &self.path))?;
        drop(out);
        self.sync
            .sync_all()
            .map_err(io_err("syncing an items file", &self.path))?;
        Ok(self.path)
    }
}

/// Rows after which an Arrow resource's items file is closed (and handed to a live
/// normalizer) and the next batch starts the next file, so normalizing and loading overlap
/// reading the source.
const ARROW_FILE_ROWS: usize = 65_536;

/// Extracts an Arrow resource: its record batches into Parquet items files (a batch with
/// other columns than the one before, or past [`ARROW_FILE_ROWS`] rows, starts the next
/// file), each handed to a live normalizer once complete (a Parquet file is readable only
/// when its footer is written).
fn extract_arrow(
    package: &LoadPackage,
    n: usize,
    r: Resource,
    mut cursor: Option<&mut IncrementalRun>,
    live: Option<&LiveSink>,
    progress: &RunProgress,
) -> Result<ResourceSpec, PipelineError> {
    let table = r.hints.table_name.clone();
    let Items::Arrow(batches) = r.items else {
        return Err(PipelineError::Internal("not an Arrow resource".into()));
    };
    let arrow_spec = |files: &[String], rows: u64| {
        let mut files = files.iter().cloned();
        let mut spec = spec_of(&r.hints, files.next().unwrap_or_default(), rows);
        spec.more_items_files = files.collect();
        spec.items_format = ItemsFormat::Arrow;
        spec.dlt_columns = r.dlt_columns;
        spec
    };
    // a live normalizer follows the files as they are completed
    let mut to_normalizer: Option<mpsc::Sender<ArrowFile>> = None;
    let hand = |path: std::path::PathBuf,
                files: &[String],
                to: &mut Option<mpsc::Sender<ArrowFile>>|
     -> Result<(), PipelineError> {
        let Some(live) = live else {
            return Ok(());
        };
        let stopped = || {
            live.cancelled.store(true, Ordering::SeqCst);
            PipelineError::Internal("normalizing stopped".into())
        };
        if to.is_none() {
            let (tx, rx) = mpsc::channel();
            live.tx
                .send(Live::Arrow(Box::new(arrow_spec(files, 0)), rx))
                .map_err(|_| stopped())?;
            *to = Some(tx);
        }
        let file = fs::File::open(&path).map_err(io_err("opening an items file", &path))?;
        if let Some(tx) = to {
            tx.send(ArrowFile::File(file, path))
                .map_err(|_| stopped())?;
        }
        Ok(())
    };
    let mut files: Vec<String> = Vec::new();
    let mut current: Option<ArrowItems> = None;
    let mut rows = 0u64;
    let mut seen = 0u64;
    for batch in batches {
        let mut batch = batch?;
        if let Some(run) = cursor.as_deref_mut() {
            let n = batch.num_rows() as u64;
            batch = keep_rows(run, &batch, &table, seen)?;
            seen += n;
        }
        if batch.num_rows() == 0 {
            continue;
        }
        let same = current
            .as_ref()
            .is_some_and(|c| c.writer.schema() == &batch.schema() && c.rows < ARROW_FILE_ROWS);
        if !same {
            if let Some(done) = current.take() {
                let path = done.finish()?;
                hand(path, &files, &mut to_normalizer)?;
            }
            let (rel, path) = package.arrow_items_file(n, files.len());
            let file = fs::File::create(&path).map_err(io_err("creating an items file", &path))?;
            let sync = file
                .try_clone()
                .map_err(io_err("creating an items file", &path))?;
            let out = Box::new(BufWriter::with_capacity(1 << 20, file));
            let writer = columnar::ParquetBatchWriter::new(&rel, batch.schema(), out)?;
            files.push(rel);
            current = Some(ArrowItems {
                writer,
                sync,
                path,
                counted: 0,
                rows: 0,
            });
        }
        if let Some(c) = current.as_mut() {
            c.writer.write(&batch)?;
            c.rows += batch.num_rows();
            // the bytes written so far (the writer flushes a row group per batch)
            if let Ok(meta) = c.sync.metadata() {
                progress.bytes(meta.len().saturating_sub(c.counted));
                c.counted = meta.len();
            }
        }
        rows += batch.num_rows() as u64;
        progress.items(batch.num_rows() as u64);
    }
    if let Some(done) = current.take() {
        let path = done.finish()?;
        hand(path, &files, &mut to_normalizer)?;
    }
    let spec = arrow_spec(&files, rows);
    match to_normalizer {
        Some(tx) => {
            if tx.send(ArrowFile::End).is_err() {
                if let Some(live) = live {
                    live.cancelled.store(true, Ordering::SeqCst);
                }
                return Err(PipelineError::Internal("normalizing stopped".into()));
            }
        }
        // no file (no rows): the normalizer still learns of the resource
        None => {
            if let Some(live) = live {
                let (tx, rx) = mpsc::channel();
                let _ = tx.send(ArrowFile::End);
                if live
                    .tx
                    .send(Live::Arrow(Box::new(spec.clone()), rx))
                    .is_err()
                {
                    live.cancelled.store(true, Ordering::SeqCst);
                    return Err(PipelineError::Internal("normalizing stopped".into()));
                }
            }
        }
    }
    Ok(spec)
}

/// The rows of an Arrow `batch` the incremental cursor keeps, in order: each row is offered
/// to [`IncrementalRun::keep`] as a JSON object of the fields it reads (the cursor must be a
/// column name). `seen`: rows of the resource before this batch, for error messages.
fn keep_rows(
    run: &mut IncrementalRun,
    batch: &columnar::arrow_array::RecordBatch,
    table: &str,
    seen: u64,
) -> Result<columnar::arrow_array::RecordBatch, PipelineError> {
    let schema = batch.schema();
    let fields = run.item_fields();
    let columns: Vec<(&String, &columnar::arrow_array::ArrayRef)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| {
            fields
                .as_ref()
                .is_none_or(|w| w.contains(&f.name().as_str()))
        })
        .map(|(f, a)| (f.name(), a))
        .collect();
    let mut keep = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut item = serde_json::Map::with_capacity(columns.len());
        for (name, array) in &columns {
            let value = columnar::json_value(array.as_ref(), row, name).map_err(|e| {
                PipelineError::Extract(crate::ItemError {
                    source_name: format!("resource `{table}`"),
                    position: format!("item {}", seen + row as u64 + 1),
                    message: e.to_string(),
                })
            })?;
            item.insert((*name).clone(), value);
        }
        let item = serde_json::Value::Object(item);
        keep.push(
            run.keep(&item)
                .map_err(|e| cursor_error(table, seen + row as u64 + 1, &e))?,
        );
    }
    if keep.iter().all(|k| *k) {
        return Ok(batch.clone());
    }
    Ok(columnar::filter_rows(batch, keep).map_err(dest_core::Error::from)?)
}

fn spec_of(h: &ResourceHints, items_file: String, items: u64) -> ResourceSpec {
    ResourceSpec {
        table_name: h.table_name.clone(),
        disposition: h.disposition.disposition(),
        primary_key: h.primary_key.clone(),
        merge_key: h.merge_key.clone(),
        columns: h.columns.clone(),
        max_table_nesting: h.max_table_nesting,
        scd2: h.disposition.scd2().cloned(),
        items_file,
        more_items_files: Vec::new(),
        items_format: ItemsFormat::Jsonl,
        dlt_columns: false,
        items,
    }
}
