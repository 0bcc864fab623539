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
            schema_contract: self.schema_contract.clone(),
            table_name_from: self.table_name_from.clone(),
            resource: None,
            nested: self.nested_hints.clone(),
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
/// Parallelized resources are extracted on threads of their own, at most `workers` at once:
/// call this on a thread that may block (not a runtime's worker), as the pipeline does.
pub(crate) async fn extract(
    storage: &Storage,
    target: &ExtractTarget<'_>,
    resources: Vec<Resource>,
    state: &mut PipelineState,
    live: Option<&LiveSink>,
    progress: &RunProgress,
    workers: usize,
) -> Result<u64, PipelineError> {
    let package = LoadPackage::of(storage, EXTRACT_NEW, target.load_id);
    let run = Run {
        package: &package,
        live,
        progress,
        stop: AtomicBool::new(false),
    };
    let result = extract_into(&run, target, resources, state, workers).await;
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

/// What every resource's extraction shares.
struct Run<'a> {
    package: &'a LoadPackage,
    live: Option<&'a LiveSink>,
    progress: &'a RunProgress,
    /// Set when a resource failed: the others stop at their next item.
    stop: AtomicBool,
}

impl Run<'_> {
    fn stopped(&self) -> Result<(), PipelineError> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(PipelineError::Internal(STOPPED.into()));
        }
        Ok(())
    }

    fn normalizer_stopped(&self) -> PipelineError {
        if let Some(live) = self.live {
            live.cancelled.store(true, Ordering::SeqCst);
        }
        PipelineError::Internal("normalizing stopped".into())
    }
}

/// The error of a resource that stopped because another one failed.
const STOPPED: &str = "extraction stopped: another resource failed";

/// One resource ready to extract: its items, cursor and output (opened, and announced to a
/// live normalizer, in the order of the resources).
struct Job<'a> {
    index: usize,
    resource: Resource,
    cursor: Option<IncrementalRun>,
    out: Output<'a>,
}

enum Output<'a> {
    Json {
        rel: String,
        path: std::path::PathBuf,
        writer: ItemsWriter<'a>,
    },
    /// A live normalizer receives the Parquet files through this channel.
    Arrow(Option<mpsc::Sender<ArrowFile>>),
}

/// What extracting one resource gives: its manifest entry and its cursor's new state.
type Extracted = (ResourceSpec, Option<IncrementalRun>);

async fn extract_into(
    run: &Run<'_>,
    target: &ExtractTarget<'_>,
    resources: Vec<Resource>,
    state: &mut PipelineState,
    workers: usize,
) -> Result<(u64, Manifest), PipelineError> {
    let source = target.source;
    run.package.create_items_folder()?;
    let mut jobs = Vec::with_capacity(resources.len());
    let mut cursor_paths = Vec::with_capacity(resources.len());
    for (index, mut r) in resources.into_iter().enumerate() {
        let table = r.hints.table_name.clone();
        let cursor_path = r
            .incremental
            .as_ref()
            .map(|inc| state_path(&table, inc.cursor_path()));
        let cursor = match (&r.incremental, &cursor_path) {
            (Some(inc), Some(path)) => Some(
                inc.begin(state.resource_value(source, path))
                    .map_err(|e| cursor_error(&table, 0, &e))?,
            ),
            _ => None,
        };
        if let Items::Deferred(make) = r.items {
            r.items = make(cursor.as_ref().and_then(|c| c.start_value().cloned()));
        }
        let out = open_output(run, index, &r)?;
        cursor_paths.push(cursor_path);
        jobs.push(Job {
            index,
            resource: r,
            cursor,
            out,
        });
    }
    let extracted = run_jobs(run, jobs, workers).await?;
    let mut specs = Vec::with_capacity(extracted.len());
    let mut total = 0u64;
    for ((spec, cursor), path) in extracted.into_iter().zip(cursor_paths) {
        if let (Some(c), Some(p)) = (cursor, &path) {
            if c.saves_state() {
                state.set_resource_value(source, p, c.into_state());
            }
        }
        total += spec.items;
        specs.push(spec);
    }
    state.bump();
    let manifest = Manifest {
        load_id: target.load_id.to_string(),
        created_at: target.created_at.to_string(),
        resources: specs,
        state: state.needs_extract().then(|| state.clone()),
        input_id: target.input_id.map(str::to_string),
    };
    run.package.write_manifest(&manifest)?;
    Ok((total, manifest))
}

/// Opens resource `index`'s items file (JSON) and announces it to a live normalizer.
fn open_output<'a>(run: &Run<'a>, index: usize, r: &Resource) -> Result<Output<'a>, PipelineError> {
    if matches!(r.items, Items::Arrow(_)) {
        let Some(live) = run.live else {
            return Ok(Output::Arrow(None));
        };
        let (tx, rx) = mpsc::channel();
        let mut spec = spec_of(&r.hints, String::new(), 0);
        spec.items_format = ItemsFormat::Arrow;
        spec.dlt_columns = r.dlt_columns;
        live.tx
            .send(Live::Arrow(Box::new(spec), rx))
            .map_err(|_| run.normalizer_stopped())?;
        return Ok(Output::Arrow(Some(tx)));
    }
    let (rel, path) = run.package.items_file(index);
    let file = fs::File::create(&path).map_err(io_err("creating an items file", &path))?;
    let tail = match run.live {
        Some(live) => {
            let reader = fs::File::open(&path).map_err(io_err("opening an items file", &path))?;
            let tail = Arc::new(Tail::default());
            let spec = spec_of(&r.hints, rel.clone(), 0);
            let items = ItemsReader {
                file: reader,
                pos: 0,
                tail: tail.clone(),
            };
            live.tx
                .send(Live::Resource(Box::new(spec), items))
                .map_err(|_| run.normalizer_stopped())?;
            Some((tail, live.cancelled.clone()))
        }
        None => None,
    };
    Ok(Output::Json {
        rel,
        path,
        writer: ItemsWriter {
            file,
            live: tail,
            progress: run.progress,
        },
    })
}

/// Extracts the jobs: the resources that are not parallelized one after another on one
/// lane, each parallelized one on a lane of its own, at most `workers` lanes at once (each
/// on a thread of its own running the runtime's futures). The results in resource order;
/// the first resource that fails stops the others, and its error is returned.
async fn run_jobs(
    run: &Run<'_>,
    jobs: Vec<Job<'_>>,
    workers: usize,
) -> Result<Vec<Extracted>, PipelineError> {
    let count = jobs.len();
    let mut lanes: Vec<Vec<Job<'_>>> = Vec::new();
    let mut sequential: Vec<Job<'_>> = Vec::new();
    for job in jobs {
        if job.resource.parallelized {
            lanes.push(vec![job]);
        } else {
            sequential.push(job);
        }
    }
    if !sequential.is_empty() {
        // the lane of the first resources starts first
        let first = sequential[0].index;
        let at = lanes
            .iter()
            .position(|l| l[0].index > first)
            .unwrap_or(lanes.len());
        lanes.insert(at, sequential);
    }
    let mut results: Vec<Option<Extracted>> = (0..count).map(|_| None).collect();
    let handle = tokio::runtime::Handle::try_current().ok();
    match handle {
        Some(handle) if lanes.len() > 1 && workers > 1 => {
            let queue = Mutex::new(lanes.into_iter());
            let done = Mutex::new(Vec::with_capacity(count));
            let failed: Mutex<Option<PipelineError>> = Mutex::new(None);
            std::thread::scope(|scope| {
                for _ in 0..workers.min(count) {
                    scope.spawn(|| loop {
                        let lane = match queue.lock() {
                            Ok(mut q) => q.next(),
                            Err(_) => None,
                        };
                        let Some(lane) = lane else { break };
                        match handle.block_on(run_lane(run, lane)) {
                            Ok(mut out) => {
                                if let Ok(mut d) = done.lock() {
                                    d.append(&mut out);
                                }
                            }
                            Err(e) => {
                                run.stop.store(true, Ordering::SeqCst);
                                let is_stop = |e: &PipelineError| {
                                    matches!(e, PipelineError::Internal(m) if m == STOPPED)
                                };
                                if let Ok(mut f) = failed.lock() {
                                    // the first real error, not a resource it stopped
                                    if f.as_ref().is_none_or(|f| is_stop(f) && !is_stop(&e)) {
                                        *f = Some(e);
                                    }
                                }
                            }
                        }
                    });
                }
            });
            if let Some(e) = failed.into_inner().ok().flatten() {
                return Err(e);
            }
            for (index, extracted) in done
                .into_inner()
                .map_err(|_| PipelineError::Internal("an extract thread failed".into()))?
            {
                results[index] = Some(extracted);
            }
        }
        _ => {
            for lane in lanes {
                for (index, extracted) in run_lane(run, lane).await? {
                    results[index] = Some(extracted);
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| PipelineError::Internal("a resource was not extracted".into())))
        .collect()
}

/// Extracts a lane's jobs one after another.
async fn run_lane(
    run: &Run<'_>,
    lane: Vec<Job<'_>>,
) -> Result<Vec<(usize, Extracted)>, PipelineError> {
    let mut out = Vec::with_capacity(lane.len());
    for job in lane {
        let index = job.index;
        let result = extract_resource(run, job).await;
        if result.is_err() {
            run.stop.store(true, Ordering::SeqCst);
        }
        out.push((index, result?));
    }
    Ok(out)
}

async fn extract_resource(run: &Run<'_>, job: Job<'_>) -> Result<Extracted, PipelineError> {
    let Job {
        index,
        resource: r,
        mut cursor,
        out,
    } = job;
    let (rel, path, writer) = match out {
        Output::Arrow(to_normalizer) => {
            let spec = extract_arrow(run, index, r, cursor.as_mut(), to_normalizer)?;
            return Ok((spec, cursor));
        }
        Output::Json { rel, path, writer } => (rel, path, writer),
    };
    run.stopped()?;
    let table = r.hints.table_name.clone();
    let tail = writer.live.clone();
    let observer = r.observer.clone();
    let mut out = BufWriter::with_capacity(1 << 20, writer);
    let mut count = 0u64;
    let mut seen = 0u64;
    // `raw`: the item's JSON text when the source gave it (written as is); `false`: the
    // incremental cursor's row order says no later item is in range (stop reading)
    let mut write =
        |item: Option<serde_json::Value>, raw: Option<&[u8]>| -> Result<bool, PipelineError> {
            seen += 1;
            if seen.is_multiple_of(1024) {
                run.stopped()?;
            }
            if cursor.is_some() || observer.is_some() {
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
                    (None, None) => return Ok(true),
                };
                if let Some(c) = cursor.as_mut() {
                    if !c.keep(value).map_err(|e| cursor_error(&table, seen, &e))? {
                        return Ok(!c.can_close());
                    }
                }
                if let Some(observe) = &observer {
                    observe(value);
                }
            }
            match (raw, &item) {
                (Some(bytes), _) => out
                    .write_all(bytes)
                    .map_err(io_err("writing an items file", &path))?,
                (None, Some(v)) => serde_json::to_writer(&mut out, v)
                    .map_err(|e| PipelineError::Internal(format!("serializing an item: {e}")))?,
                (None, None) => return Ok(true),
            }
            run.progress.item();
            out.write_all(b"\n")
                .map_err(io_err("writing an items file", &path))?;
            count += 1;
            Ok(true)
        };
    match r.items {
        Items::Iter(iter) => {
            for item in iter {
                if !write(Some(item?), None)? {
                    break;
                }
            }
        }
        Items::Lines(iter) => {
            for line in iter {
                if !write(None, Some(&line?))? {
                    break;
                }
            }
        }
        Items::Stream(mut s) => {
            while let Some(item) = s.next().await {
                if !write(Some(item?), None)? {
                    break;
                }
            }
        }
        Items::LineStream(mut s) => {
            while let Some(line) = s.next().await {
                if !write(None, Some(&line?))? {
                    break;
                }
            }
        }
        Items::Arrow(_) | Items::Deferred(_) => {
            return Err(PipelineError::Internal(
                "Arrow or deferred items reached the JSON extractor".into(),
            ))
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
    Ok((spec_of(&r.hints, rel, count), cursor))
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
    run: &Run<'_>,
    n: usize,
    r: Resource,
    mut cursor: Option<&mut IncrementalRun>,
    to_normalizer: Option<mpsc::Sender<ArrowFile>>,
) -> Result<ResourceSpec, PipelineError> {
    let (package, progress) = (run.package, run.progress);
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
    let hand = |path: std::path::PathBuf| -> Result<(), PipelineError> {
        let Some(tx) = &to_normalizer else {
            return Ok(());
        };
        let file = fs::File::open(&path).map_err(io_err("opening an items file", &path))?;
        tx.send(ArrowFile::File(file, path))
            .map_err(|_| run.normalizer_stopped())
    };
    let mut files: Vec<String> = Vec::new();
    let mut current: Option<ArrowItems> = None;
    let mut rows = 0u64;
    let mut seen = 0u64;
    for batch in batches {
        run.stopped()?;
        let mut batch = batch?;
        let mut last_batch = false;
        if let Some(c) = cursor.as_deref_mut() {
            let n = batch.num_rows() as u64;
            batch = keep_rows(c, &batch, &table, seen)?;
            seen += n;
            // the row order says no later row is in range: this batch is the last
            last_batch = c.can_close();
        }
        if batch.num_rows() == 0 {
            if last_batch {
                break;
            }
            continue;
        }
        let same = current
            .as_ref()
            .is_some_and(|c| c.writer.schema() == &batch.schema() && c.rows < ARROW_FILE_ROWS);
        if !same {
            if let Some(done) = current.take() {
                let path = done.finish()?;
                hand(path)?;
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
        if last_batch {
            break;
        }
    }
    if let Some(done) = current.take() {
        let path = done.finish()?;
        hand(path)?;
    }
    let spec = arrow_spec(&files, rows);
    if let Some(tx) = to_normalizer {
        tx.send(ArrowFile::End)
            .map_err(|_| run.normalizer_stopped())?;
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
        schema_contract: h.schema_contract.clone(),
        table_name_from: h.table_name_from.clone(),
        nested_hints: h.nested.clone(),
        scd2: h.disposition.scd2().cloned(),
        items_file,
        more_items_files: Vec::new(),
        items_format: ItemsFormat::Jsonl,
        dlt_columns: false,
        items,
    }
}
