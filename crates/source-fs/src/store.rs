//! Where files are: a [`FileStore`] lists the files under its base that match a pattern
//! (path, size, modification time) and opens one for reading. [`LocalStore`] is the local
//! disk; object stores (S3, GCS, Azure through `object_store`) are meant to implement the
//! same trait. [`store_for`] picks the store a URL or path names.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::glob::matches_relative;
use crate::FsError;

/// A file a [`FileStore`] listed, with dlt's `FileItem` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileItem {
    /// The file's URL (`file:///data/a.jsonl`); identifies the file in the incremental state.
    pub file_url: String,
    /// The last part of its path (`a.jsonl`).
    pub file_name: String,
    /// Its path below the store's base, parts separated by `/` (`2024/a.jsonl`).
    pub relative_path: String,
    /// When it was last modified, in UTC (nanoseconds where the store has them).
    pub modification_date: DateTime<Utc>,
    /// Its size in bytes.
    pub size_in_bytes: u64,
}

impl FileItem {
    /// The modification date as the incremental cursor keeps it: RFC 3339 in UTC with
    /// nine fraction digits (`2024-05-01T10:00:00.123456789Z`).
    pub fn modification_date_text(&self) -> String {
        self.modification_date
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
    }
}

/// A place with files: lists them and opens them. Implementations are cheap to share
/// across threads (the readers run on the extract thread).
pub trait FileStore: Send + Sync + std::fmt::Debug {
    /// The base URL, as errors and messages show it.
    fn url(&self) -> &str;

    /// The regular files under the base whose relative path matches `glob` (parts
    /// separated by `/`; `*`, `?`, `[a-z]` within a part, `**` for any number of folders;
    /// hidden files only when the pattern names them), sorted by relative path.
    fn list(&self, glob: &str) -> Result<Vec<FileItem>, FsError>;

    /// Opens `file` for reading its raw bytes.
    fn open(&self, file: &FileItem) -> std::io::Result<Box<dyn Read + Send>>;

    /// The file's path on the local disk, when it has one: Parquet files are read from it
    /// (a store without local paths would download them to a temporary file first).
    fn local_path(&self, file: &FileItem) -> Option<PathBuf>;
}

/// The URL schemes of object stores that a later version will read.
const OBJECT_STORE_SCHEMES: &[&str] = &[
    "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "azure", "http", "https", "sftp", "hf",
    "memory",
];

/// The store `url` names: a `file://` URL or a plain path (relative to the current
/// folder) is the local disk; `s3://`, `gs://`, `az://` and other schemes are not
/// supported yet ([`FsError::UnsupportedScheme`]).
pub fn store_for(url: &str) -> Result<Arc<dyn FileStore>, FsError> {
    if let Some((scheme, _)) = url.split_once("://") {
        let lower = scheme.to_ascii_lowercase();
        if lower == "file" {
            let parsed = url::Url::parse(url).map_err(|e| FsError::BadUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
            let path = parsed.to_file_path().map_err(|()| FsError::BadUrl {
                url: url.to_string(),
                reason: "not a local file path (a host other than localhost?)".into(),
            })?;
            return Ok(Arc::new(LocalStore::new(&path)?));
        }
        let is_scheme = !lower.is_empty()
            && lower
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme || OBJECT_STORE_SCHEMES.contains(&lower.as_str()) {
            return Err(FsError::UnsupportedScheme { scheme: lower });
        }
    }
    Ok(Arc::new(LocalStore::new(Path::new(url))?))
}

/// Files on the local disk, under a base folder.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    url: String,
}

impl LocalStore {
    /// The store of folder `root` (made absolute; it must exist and be a folder).
    pub fn new(root: &Path) -> Result<LocalStore, FsError> {
        let absolute = std::path::absolute(root).map_err(|e| FsError::Io {
            context: "resolving",
            path: root.to_path_buf(),
            source: e,
        })?;
        let meta = std::fs::metadata(&absolute).map_err(|e| FsError::Io {
            context: "reading",
            path: absolute.clone(),
            source: e,
        })?;
        if !meta.is_dir() {
            return Err(FsError::NotAFolder { path: absolute });
        }
        let url = file_url(&absolute);
        Ok(LocalStore {
            root: absolute,
            url,
        })
    }

    /// The base folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Adds the files under `dir` (relative path `rel`) matching `glob` to `out`;
    /// `recursive`: descends into folders.
    fn walk(
        &self,
        dir: &Path,
        rel: &str,
        glob: &str,
        recursive: bool,
        out: &mut Vec<FileItem>,
    ) -> Result<(), FsError> {
        let io = |e: std::io::Error| FsError::Io {
            context: "listing",
            path: dir.to_path_buf(),
            source: e,
        };
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tracing::warn!(
                    "{}: skipped a file whose name is not UTF-8",
                    entry.path().display()
                );
                continue;
            };
            let path = entry.path();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            // symbolic links followed, as Python's glob does
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if recursive {
                    self.walk(&path, &child, glob, recursive, out)?;
                }
                continue;
            }
            if !meta.is_file() || !matches_relative(glob, &child) {
                continue;
            }
            let modified = meta.modified().map_err(|e| FsError::Io {
                context: "reading the modification time of",
                path: path.clone(),
                source: e,
            })?;
            out.push(FileItem {
                file_url: file_url(&path),
                file_name: name,
                relative_path: child,
                modification_date: utc(modified),
                size_in_bytes: meta.len(),
            });
        }
        Ok(())
    }

    /// The local path of a file by its relative path.
    fn path_of(&self, file: &FileItem) -> PathBuf {
        file.relative_path
            .split('/')
            .fold(self.root.clone(), |p, part| p.join(part))
    }
}

impl FileStore for LocalStore {
    fn url(&self) -> &str {
        &self.url
    }

    fn list(&self, glob: &str) -> Result<Vec<FileItem>, FsError> {
        let recursive = glob.contains('/');
        let mut out = Vec::new();
        self.walk(&self.root, "", glob, recursive, &mut out)?;
        out.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
        Ok(out)
    }

    fn open(&self, file: &FileItem) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::fs::File::open(self.path_of(file))?))
    }

    fn local_path(&self, file: &FileItem) -> Option<PathBuf> {
        Some(self.path_of(file))
    }
}

/// A `SystemTime` in UTC; times before 1970 (a broken clock) clamp to the epoch.
fn utc(t: SystemTime) -> DateTime<Utc> {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    DateTime::from_timestamp(secs, d.subsec_nanos()).unwrap_or_default()
}

/// The `file://` URL of an absolute local path (percent-encoded as needed).
fn file_url(path: &Path) -> String {
    url::Url::from_file_path(path)
        .map(String::from)
        .unwrap_or_else(|()| format!("file://{}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_and_paths_pick_the_local_store_other_schemes_fail() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_file_path(dir.path()).unwrap().to_string();
        let by_url = store_for(&url).unwrap();
        let by_path = store_for(&dir.path().to_string_lossy()).unwrap();
        assert_eq!(by_url.url(), by_path.url());
        for (url, scheme) in [
            ("s3://bucket/data", "s3"),
            ("gs://bucket", "gs"),
            ("az://container/x", "az"),
            ("HTTPS://example.com/x", "https"),
        ] {
            let e = store_for(url).unwrap_err().to_string();
            assert!(e.contains(&format!("`{scheme}://`")), "{e}");
            assert!(e.contains("not supported yet"), "{e}");
        }
        let missing = store_for("/nonexistent/folder").unwrap_err().to_string();
        assert!(missing.contains("/nonexistent/folder"), "{missing}");
    }

    #[test]
    fn listing_matches_the_glob_below_the_base() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        for f in [
            "a.jsonl",
            "b.csv",
            ".hidden.jsonl",
            "sub/c.jsonl",
            "sub/deeper/d.jsonl",
        ] {
            std::fs::write(dir.path().join(f), "{}\n").unwrap();
        }
        let store = LocalStore::new(dir.path()).unwrap();
        let names = |glob: &str| -> Vec<String> {
            store
                .list(glob)
                .unwrap()
                .into_iter()
                .map(|f| f.relative_path)
                .collect()
        };
        assert_eq!(names("*"), ["a.jsonl", "b.csv"]);
        assert_eq!(names("*.jsonl"), ["a.jsonl"]);
        assert_eq!(
            names("**/*.jsonl"),
            ["a.jsonl", "sub/c.jsonl", "sub/deeper/d.jsonl"]
        );
        assert_eq!(names("sub/*"), ["sub/c.jsonl"]);
        let a = &store.list("a.jsonl").unwrap()[0];
        assert_eq!(a.file_name, "a.jsonl");
        assert_eq!(a.size_in_bytes, 3);
        assert!(a.file_url.starts_with("file:///"), "{}", a.file_url);
        assert!(a.file_url.ends_with("/a.jsonl"), "{}", a.file_url);
        let mut text = String::new();
        store.open(a).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "{}\n");
        assert!(a.modification_date_text().ends_with('Z'));
    }
}
