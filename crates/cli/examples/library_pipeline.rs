//! A pipeline through the library, as the README's quick start shows it.
//!
//! `library_pipeline --credentials URL --dataset NAME --pipelines-dir DIR --input FILE.jsonl`
//! loads the JSON Lines file into table `events` of the dataset.

use std::io::BufRead;

use pipeline::{Pipeline, Resource};

// the destination crate must be linked for the registry to know `postgres`
use dest_postgres as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut credentials, mut dataset, mut dir, mut input) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let value = args.next();
        match flag.as_str() {
            "--credentials" => credentials = value,
            "--dataset" => dataset = value,
            "--pipelines-dir" => dir = value,
            "--input" => input = value,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let input = input.ok_or_else(|| anyhow::anyhow!("--input FILE is required"))?;

    let mut builder = Pipeline::builder("library_events")
        .destination("postgres")
        .dataset_name(dataset.as_deref().unwrap_or("library_events"));
    if let Some(c) = &credentials {
        builder = builder.credentials(c);
    }
    if let Some(d) = &dir {
        builder = builder.pipelines_dir(d);
    }
    let mut pipeline = builder.build()?;

    // any iterator of serde_json::Value (or of Serialize items) is a resource
    let file = std::io::BufReader::new(std::fs::File::open(&input)?);
    let items = file
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(&l))
        .collect::<Result<Vec<_>, _>>()?;
    let events = Resource::new("events", items);

    let info = pipeline.run(vec![events]).await?;
    println!("{info}");
    Ok(())
}
