//! The pipeline's working folder: where its packages are in each stage, its state and
//! schemas. What is inside a package is [`crate::package`]'s.
//!
//! ```text
//! <pipelines_dir>/<pipeline_name>/
//!   state.json                          local pipeline state
//!   schemas/<schema>.schema.json        the newest local schema
//!   normalize/new/<load_id>/            a package being extracted (discarded after a crash)
//!   normalize/extracted/<load_id>/      extracted, waiting to be normalized
//!   load/new/<load_id>/                 a package being normalized (discarded after a crash)
//!   load/normalized/<load_id>/          ready to load (or partly loaded)
//!   load/loaded/<load_id>/              done: loaded or aborted
//! ```
//!
//! Every state change of a package or a job is an atomic rename; files are synced before
//! they are renamed into place.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::PipelineError;

pub(crate) const EXTRACTED: &str = "normalize/extracted";
pub(crate) const EXTRACT_NEW: &str = "normalize/new";
pub(crate) const NORMALIZED: &str = "load/normalized";
pub(crate) const NORMALIZE_NEW: &str = "load/new";
pub(crate) const LOADED: &str = "load/loaded";

pub(crate) fn io_err(
    context: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> PipelineError {
    let path = path.to_path_buf();
    move |source| PipelineError::Io {
        context,
        path,
        source,
    }
}

/// The working folder of one pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    pub root: PathBuf,
}

impl Storage {
    pub(crate) fn open(root: PathBuf) -> Result<Self, PipelineError> {
        for d in [
            EXTRACTED,
            EXTRACT_NEW,
            NORMALIZED,
            NORMALIZE_NEW,
            LOADED,
            "schemas",
        ] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err("creating the pipeline folder", &p))?;
        }
        Ok(Storage { root })
    }

    /// The local pipeline state (`state.json`).
    pub(crate) fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The working folder's lock file (one run of a pipeline at a time).
    pub(crate) fn lock_path(&self) -> PathBuf {
        self.root.join(".lock")
    }

    /// [`Storage::lock_path`], opened, not locked.
    pub(crate) fn lock_file(&self) -> Result<fs::File, PipelineError> {
        let path = self.lock_path();
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening the pipeline lock", &path))
    }

    pub(crate) fn dir(&self, stage: &str) -> PathBuf {
        self.root.join(stage)
    }

    pub(crate) fn package(&self, stage: &str, load_id: &str) -> PathBuf {
        self.root.join(stage).join(load_id)
    }

    /// Load ids of the packages in `stage`, oldest first.
    pub(crate) fn packages(&self, stage: &str) -> Result<Vec<String>, PipelineError> {
        list_names(&self.dir(stage), true)
    }

    /// Removes half-written packages left by a crash (their sources are re-read).
    pub(crate) fn discard_incomplete(&self) -> Result<(), PipelineError> {
        for stage in [EXTRACT_NEW, NORMALIZE_NEW] {
            for id in self.packages(stage)? {
                let p = self.package(stage, &id);
                fs::remove_dir_all(&p).map_err(io_err("removing an incomplete package", &p))?;
            }
        }
        // an extracted package whose normalized one was published is what a crash left
        // while removing it (whole or in part): normalizing it again would load it twice
        for id in self.packages(EXTRACTED)? {
            if self.package(NORMALIZED, &id).exists() || self.package(LOADED, &id).exists() {
                let p = self.package(EXTRACTED, &id);
                fs::remove_dir_all(&p)
                    .map_err(io_err("removing an already normalized package", &p))?;
            }
        }
        Ok(())
    }
}

impl Storage {
    /// Removes all but the newest `keep` loaded packages (`[load] keep_loaded_packages`).
    pub(crate) fn prune_loaded(&self, keep: usize) -> Result<(), PipelineError> {
        let loaded = self.packages(LOADED)?;
        let old = loaded.len().saturating_sub(keep);
        for id in &loaded[..old] {
            let p = self.package(LOADED, id);
            fs::remove_dir_all(&p).map_err(io_err("removing an old loaded package", &p))?;
        }
        Ok(())
    }
}

/// Names of the entries of `dir`, sorted; only directories when `dirs`, else only files.
pub(crate) fn list_names(dir: &Path, dirs: bool) -> Result<Vec<String>, PipelineError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("listing", dir)(e)),
    };
    for entry in rd {
        let entry = entry.map_err(io_err("listing", dir))?;
        let is_dir = entry.file_type().map_err(io_err("listing", dir))?.is_dir();
        if is_dir == dirs {
            if let Some(name) = entry.file_name().to_str() {
                if !name.starts_with('.') {
                    out.push(name.to_string());
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes a file atomically: temp file, sync, rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp).map_err(io_err("writing", &tmp))?;
        f.write_all(bytes).map_err(io_err("writing", &tmp))?;
        f.sync_all().map_err(io_err("syncing", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err("renaming", path))?;
    Ok(())
}

/// Renames (moves) within the working folder and syncs the parent of the target.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), PipelineError> {
    fs::rename(from, to).map_err(io_err("moving", from))?;
    if let Some(parent) = to.parent() {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
