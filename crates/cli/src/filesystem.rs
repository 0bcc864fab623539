//! `dlt-rs filesystem`: the files of a folder (or a pattern) loaded as one table, with dlt's
//! `filesystem` + `read_*` semantics, incremental on modification time (`source-fs`).

use std::sync::{Arc, Mutex};

use anyhow::{bail, Result};
use clap::Args;
use pipeline::{PipelineError, Resource};
use source_fs::{Filesystem, Format};

use crate::{ReadArgs, RunArgs, Signals};

#[derive(Debug, Args)]
pub struct FilesystemArgs {
    /// The folder: a path or a `file://` URL (`s3://`, `gs://`, `az://` are not supported
    /// yet). A quoted path with wildcards (`'data/*.jsonl'`) is the folder before the first
    /// wildcard and the rest as the pattern.
    pub url: String,
    /// The files to read below the folder, dlt's `file_glob`: `*` (default: the files
    /// directly in it), `*.csv`, `2024/*.jsonl`, `**/*.jsonl` (any depth).
    #[arg(long)]
    pub glob: Option<String>,
    /// The table (default with --format: dlt's reader name, `read_jsonl`, `read_csv`,
    /// `read_parquet`, `read_json`; required without --format).
    #[arg(long)]
    pub table: Option<String>,
    /// Read every file as jsonl, json, csv or parquet (default: by each file's extension,
    /// `.gz` included; other names by their content).
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

fn parse_format(s: &str) -> std::result::Result<Format, String> {
    Format::parse(s).map_err(|e| e.to_string())
}

/// Runs `dlt-rs filesystem`.
pub(crate) async fn run(a: FilesystemArgs, quiet: bool) -> Result<()> {
    let mut signals = Signals::listen()?;
    a.run.disposition()?;
    let table = match (&a.table, a.format) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => f.reader_name().to_string(),
        (None, None) => bail!(
            "give the table (--table NAME), or --format to load into dlt's default \
             `read_<format>` table"
        ),
    };
    let columns = a.read.columns()?;
    let mut fs = Filesystem::new(&a.url)?.csv_options(a.read.csv_options(columns.as_ref()));
    if let Some(g) = &a.glob {
        fs = fs.glob(g);
    }
    if let Some(f) = a.format {
        fs = fs.format(f);
    }
    // the hints each resource gets; checked once here, so the run fails before reading
    let hint = {
        let (read, run) = (a.read.clone(), a.run.clone());
        move |resource: Resource| read.hint(&run, columns.as_ref(), resource)
    };
    hint(Resource::new(&table, Vec::<serde_json::Value>::new()))?;
    let hint = move |r: Resource| hint(r).map_err(|e| PipelineError::Config(format!("{e:#}")));
    let counted = Arc::new(Mutex::new(None));
    let on_files = {
        let counted = counted.clone();
        move |listed: usize, read: usize| {
            if let Ok(mut c) = counted.lock() {
                *c = Some((listed, read));
            }
        }
    };
    let shown = format!("{} ({})", fs.store().url(), fs.pattern());

    let mut p = a.run.pipeline()?;
    let make = fs.incremental(&table, hint, on_files);
    let progress = p.progress();
    let info = crate::drive(
        progress,
        p.run_with_state(make),
        &mut signals,
        &a.run,
        quiet,
    )
    .await?;
    if !quiet {
        let files = counted.lock().ok().and_then(|c| *c);
        match files {
            Some((0, _)) => println!("{shown}: no files match"),
            Some((listed, 0)) => {
                println!("{shown}: no new or changed files ({listed} already loaded)")
            }
            Some((listed, read)) => {
                println!("{shown}: {read} new or changed of {listed} files")
            }
            None => {}
        }
        println!("{info}");
    }
    Ok(())
}
