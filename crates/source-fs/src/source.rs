//! dlt's `filesystem` source with its `read_*` transformers as one resource: the files of a
//! [`FileStore`] that match a pattern, read by format (JSON Lines, JSON, CSV as items;
//! Parquet as Arrow data), incremental on their modification time.
//!
//! The file listing goes through dlt's incremental cursor (`pipeline::Incremental` on
//! `modification_date`, deduplicated on `file_url`, as dlt's `filesystem` resource with
//! `incremental=dlt.sources.incremental("modification_date")` and its `primary_key =
//! "file_url"`): a run reads the files modified at or after the last run's newest
//! modification time, except those at exactly that time that the last run read. The
//! cursor's state is set through [`pipeline::SourceState`] inside
//! [`pipeline::Pipeline::run_with_state`], so it goes into the package with the rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pipeline::{Incremental, ItemError, PipelineError, Resource, SourceState};
use serde_json::json;

use crate::csv::CsvOptions;
use crate::read::{is_parquet, read_file_with, RawOpen};
use crate::store::{store_for, FileItem, FileStore};
use crate::FsError;

/// The incremental cursor of the file listing (dlt's `FileItem` field).
pub const CURSOR: &str = "modification_date";

/// A file format of the readers (dlt's `read_jsonl`, `read_csv`, `read_parquet`; `json`:
/// a JSON array or JSON objects one after another, which dlt reads with `read_jsonl` only
/// when they are JSON Lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Json,
    Csv,
    Parquet,
}

impl Format {
    /// `jsonl` (or `ndjson`), `json`, `csv`, `parquet`.
    pub fn parse(name: &str) -> Result<Format, FsError> {
        match name.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "json" => Ok(Format::Json),
            "csv" | "tsv" => Ok(Format::Csv),
            "parquet" | "pq" => Ok(Format::Parquet),
            _ => Err(FsError::UnknownFormat(name.to_string())),
        }
    }

    /// The format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// The name of dlt's reader resource for the format (`read_jsonl`...), which is the
    /// table name dlt gives `filesystem() | read_jsonl()` without `with_name`.
    pub fn reader_name(self) -> &'static str {
        match self {
            Format::Jsonl => "read_jsonl",
            Format::Json => "read_json",
            Format::Csv => "read_csv",
            Format::Parquet => "read_parquet",
        }
    }

    /// The format a file name says (`.jsonl`, `.ndjson`, `.json`, `.csv`, `.tsv`, each
    /// also with `.gz`; `.parquet`, `.pq`); `None` for any other name.
    pub fn of_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
        let ext = stem.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "json" => Some(Format::Json),
            "csv" | "tsv" => Some(Format::Csv),
            "parquet" | "pq" if stem == lower => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// The files of a store that match a pattern, as one resource (see the module docs).
#[derive(Debug, Clone)]
pub struct Filesystem {
    store: Arc<dyn FileStore>,
    glob: String,
    format: Option<Format>,
    csv: CsvOptions,
}

impl Filesystem {
    /// The files at `url`: a folder (a plain path or a `file://` URL; every file directly
    /// in it unless [`Filesystem::glob`] says otherwise), or a path with wildcards in its
    /// parts (`data/*.jsonl`, `data/**/*.csv`): the folder before the first part with a
    /// wildcard, and the rest as the pattern.
    pub fn new(url: &str) -> Result<Filesystem, FsError> {
        let (base, glob) = split_pattern(url);
        let store = store_for(&base)?;
        let mut fs = Filesystem::from_store(store);
        if let Some(glob) = glob {
            fs.glob = glob;
        }
        Ok(fs)
    }

    /// The files of `store` (pattern `*`: the files directly under its base).
    pub fn from_store(store: Arc<dyn FileStore>) -> Filesystem {
        Filesystem {
            store,
            glob: "*".to_string(),
            format: None,
            csv: CsvOptions::default(),
        }
    }

    /// The pattern the files' paths below the base match (dlt's `file_glob`, default `*`).
    /// Combined with a pattern given in the URL, the URL's comes first: `data/*` with
    /// `*.csv` is `*/*.csv` below `data`.
    pub fn glob(mut self, glob: &str) -> Filesystem {
        self.glob = if self.glob == "*" {
            glob.to_string()
        } else {
            format!("{}/{glob}", self.glob)
        };
        self
    }

    /// Reads every file as `format` (default: by each file's extension; a file with
    /// another name as JSON or CSV by its content, or Parquet by its first bytes).
    pub fn format(mut self, format: Format) -> Filesystem {
        self.format = Some(format);
        self
    }

    /// How CSV files are read (delimiter; columns that keep their text).
    pub fn csv_options(mut self, csv: CsvOptions) -> Filesystem {
        self.csv = csv;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn FileStore> {
        &self.store
    }

    /// The pattern.
    pub fn pattern(&self) -> &str {
        &self.glob
    }

    /// Every file the store has under the pattern, sorted by relative path.
    pub fn list(&self) -> Result<Vec<FileItem>, FsError> {
        self.store.list(&self.glob)
    }

    /// The files of `listed` that are new or changed since the run whose cursor state
    /// `state` holds for resource `table`, and sets the cursor to them (dlt's
    /// `incremental("modification_date")` on the listing, with `file_url` as the key).
    pub fn select(
        &self,
        table: &str,
        listed: Vec<FileItem>,
        state: &mut SourceState<'_>,
    ) -> Result<Vec<FileItem>, FsError> {
        let cursor = Incremental::new(CURSOR).primary_key(["file_url"]);
        let path = pipeline::incremental_state_path(table, CURSOR);
        let mut run = cursor.begin(state.get(&path))?;
        let mut kept = Vec::new();
        for file in listed {
            let item = json!({
                "file_url": file.file_url,
                CURSOR: file.modification_date_text(),
            });
            if run.keep(&item)? {
                kept.push(file);
            }
        }
        if !kept.is_empty() {
            state.set(&path, run.into_state());
        }
        Ok(kept)
    }

    /// The resources that read `files` into `table`: one of items (JSON and CSV files) and
    /// one of Arrow data (Parquet files), each only when it has files.
    pub fn resources(&self, table: &str, files: &[FileItem]) -> Result<Vec<Resource>, FsError> {
        let mut items = Vec::new();
        let mut parquet = Vec::new();
        for file in files {
            let local = self.store.local_path(file);
            let format = self
                .format
                .or_else(|| Format::of_name(&file.file_name))
                .or_else(|| {
                    local
                        .as_deref()
                        .filter(|p| is_parquet(p))
                        .map(|_| Format::Parquet)
                });
            if format == Some(Format::Parquet) {
                let path = local.ok_or_else(|| FsError::NoLocalPath {
                    url: file.file_url.clone(),
                })?;
                parquet.push(path);
            } else {
                items.push(file.clone());
            }
        }
        let mut out = Vec::new();
        if !items.is_empty() {
            let store = self.store.clone();
            let csv = self.csv.clone();
            let forced_csv = self.format == Some(Format::Csv);
            let named: Vec<(PathBuf, FileItem)> = items
                .into_iter()
                .map(|f| (self.shown_path(&f), f))
                .collect();
            let lines = named.into_iter().flat_map(move |(shown, file)| {
                let store = store.clone();
                let raw: RawOpen = Arc::new(move |_: &Path| store.open(&file));
                read_file_with(shown, &csv, &raw, forced_csv)
            });
            out.push(Resource::from_json_lines(table, lines));
        }
        if !parquet.is_empty() {
            out.push(Resource::from_parquet_files(table, parquet));
        }
        Ok(out)
    }

    /// How errors name a file: its local path, else its URL.
    fn shown_path(&self, file: &FileItem) -> PathBuf {
        self.store
            .local_path(file)
            .unwrap_or_else(|| PathBuf::from(&file.file_url))
    }

    /// What [`pipeline::Pipeline::run_with_state`] takes: the resources of the files new or
    /// changed since the last run, each passed through `hint` (write disposition, keys,
    /// column hints), with the cursor set in the state; `on_files` hears how many files
    /// were listed and how many are read. No new files: no resources, nothing extracted.
    pub fn incremental<H, O>(
        self,
        table: &str,
        hint: H,
        on_files: O,
    ) -> impl FnOnce(&mut SourceState<'_>) -> Result<Vec<Resource>, PipelineError> + Send + 'static
    where
        H: Fn(Resource) -> Result<Resource, PipelineError> + Send + 'static,
        O: FnOnce(usize, usize) + Send + 'static,
    {
        let table = table.to_string();
        move |state: &mut SourceState<'_>| {
            let listed = self.list().map_err(|e| self.error(e))?;
            let count = listed.len();
            let files = self
                .select(&table, listed, state)
                .map_err(|e| self.error(e))?;
            on_files(count, files.len());
            self.resources(&table, &files)
                .map_err(|e| self.error(e))?
                .into_iter()
                .map(hint)
                .collect()
        }
    }

    /// A listing error as an extract error naming the store.
    fn error(&self, e: FsError) -> PipelineError {
        PipelineError::Extract(ItemError {
            source_name: self.store.url().to_string(),
            position: format!("files matching `{}`", self.glob),
            message: e.to_string(),
        })
    }
}

/// Splits a path with wildcards (`data/**/*.csv`) into the folder before its first part
/// with a wildcard and the rest, a pattern; a URL with a scheme or a path without
/// wildcards is all base.
fn split_pattern(url: &str) -> (String, Option<String>) {
    if url.contains("://") || Path::new(url).exists() {
        return (url.to_string(), None);
    }
    let parts: Vec<&str> = url.split('/').collect();
    let Some(first) = parts.iter().position(|p| p.contains(['*', '?', '['])) else {
        return (url.to_string(), None);
    };
    let base = parts[..first].join("/");
    let base = match (base.is_empty(), url.starts_with('/')) {
        (true, true) => "/".to_string(),
        (true, false) => ".".to_string(),
        _ => base,
    };
    (base, Some(parts[first..].join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name() {
        assert_eq!(Format::of_name("a.jsonl"), Some(Format::Jsonl));
        assert_eq!(Format::of_name("a.JSONL.gz"), Some(Format::Jsonl));
        assert_eq!(Format::of_name("a.json"), Some(Format::Json));
        assert_eq!(Format::of_name("b.csv.gz"), Some(Format::Csv));
        assert_eq!(Format::of_name("c.parquet"), Some(Format::Parquet));
        assert_eq!(Format::of_name("c.parquet.gz"), None);
        assert_eq!(Format::of_name("README"), None);
        assert!(Format::parse("xml").is_err());
        assert_eq!(Format::Csv.reader_name(), "read_csv");
    }

    #[test]
    fn patterns_split_at_the_first_wildcard() {
        assert_eq!(
            split_pattern("data/in/*.jsonl"),
            ("data/in".into(), Some("*.jsonl".into()))
        );
        assert_eq!(
            split_pattern("/d/**/x/*.csv"),
            ("/d".into(), Some("**/x/*.csv".into()))
        );
        assert_eq!(split_pattern("*.csv"), (".".into(), Some("*.csv".into())));
        assert_eq!(split_pattern("s3://b/*.csv"), ("s3://b/*.csv".into(), None));
        assert_eq!(split_pattern("data"), ("data".into(), None));
    }
}
