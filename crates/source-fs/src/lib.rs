//! dlt's `filesystem` source and the file readers of `dlt-rs load`.
//!
//! - `read`: JSON Lines, JSON arrays and JSON objects one after another, gzip or not, as
//!   items (JSON text validated line by line; every error names the file and the line);
//! - `csv`: CSV files as items, typed per column in two passes;
//! - `glob`: which files arguments, folders and patterns name (`expand`, shell wildcards,
//!   `**` in a store's listing);
//! - `store`: [`FileStore`], a place with files that lists and opens them, and
//!   [`LocalStore`], the local disk (object stores are meant to implement the same trait);
//! - `source`: [`Filesystem`], the files of a store matching a pattern as one resource,
//!   incremental on their modification time, its state saved with the rows through
//!   [`pipeline::Pipeline::run_with_state`].

mod csv;
mod glob;
mod read;
mod source;
mod store;

pub use crate::csv::CsvOptions;
pub use crate::glob::{expand, ExpandError};
pub use crate::read::{
    is_parquet, is_stdin, locate, read_file, read_file_with, read_files, RawOpen, STDIN,
};
pub use crate::source::{Filesystem, Format, CURSOR};
pub use crate::store::{store_for, FileItem, FileStore, LocalStore};

/// Errors of the filesystem source; each names the URL, path or format it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    #[error(
        "`{scheme}://` is not supported yet: the filesystem source reads local folders (a path \
         or a file:// URL)"
    )]
    UnsupportedScheme { scheme: String },

    #[error("`{url}` is not a usable file URL: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("{} is not a folder (name the folder and select its files with a pattern)", path.display())]
    NotAFolder { path: std::path::PathBuf },

    #[error("{context} {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("unknown file format `{0}` (known: jsonl, json, csv, parquet)")]
    UnknownFormat(String),

    #[error("{url}: Parquet files are read from a local path, which this store does not give")]
    NoLocalPath { url: String },

    #[error(transparent)]
    Incremental(#[from] pipeline::IncrementalError),
}
