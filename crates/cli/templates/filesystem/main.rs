//! Loads the files of a folder into PostgreSQL, as dlt's `filesystem` source with its
//! `read_*` readers and an incremental cursor on `modification_date` does: JSON Lines,
//! JSON, CSV (gzip or not) and Parquet files into one table; each run loads only the files
//! that are new or changed since the last one. Made by `dlt-rs init filesystem postgres`.
//!
//! The folder, the pattern and the table come from `.dlt/config.toml`
//! (`[sources.filesystem]`), the credentials from `.dlt/secrets.toml`; environment
//! variables such as `SOURCES__FILESYSTEM__BUCKET_URL` or `DESTINATION__POSTGRES__CREDENTIALS`
//! override both.

use pipeline::Pipeline;
use source_fs::Filesystem;

// Links the PostgreSQL destination into the binary: without a `use`, the linker drops the
// crate and its registration under the name "postgres".
use dest_postgres as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut pipeline = Pipeline::builder("filesystem")
        .destination("postgres")
        .dataset_name("filesystem_data")
        .build()?;
    let (bucket_url, file_glob, table) = {
        let config = pipeline.config().resolver(Some(pipeline.name()));
        let section = ["sources", "filesystem"];
        let text = |field: &str, default: &str| {
            config
                .find(&section, field)
                .and_then(|found| found.value.as_str().map(str::to_string))
                .unwrap_or_else(|| default.to_string())
        };
        (
            text("bucket_url", "data"),
            text("file_glob", "*"),
            text("table_name", "items"),
        )
    };
    let files = Filesystem::new(&bucket_url)?.glob(&file_glob);
    // on a new machine, restore the state (which files were loaded) from the dataset first
    pipeline.sync_destination().await?;
    let source = files.incremental(&table, Ok, |listed, read| {
        println!("{read} new or changed of {listed} files");
    });
    let info = pipeline.run_with_state(source).await?;
    println!("{info}");
    Ok(())
}
