//! docs/destinations/postgres.md, "Arrow and Parquet data": record batches loaded from Rust,
//! and the same rows written to a Parquet file that `dlt-rs load` then takes.

// doc:start
use std::sync::Arc;

use pipeline::arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use pipeline::{Pipeline, Resource};

use dest_postgres as _; // links the destination: the registry then knows `postgres`

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // record batches, as a query engine or a file reader hands them over
    let trip_id: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
    let vendor: ArrayRef = Arc::new(StringArray::from(vec![Some("CMT"), Some(""), None]));
    let fare: ArrayRef = Arc::new(Float64Array::from(vec![Some(12.5), None, Some(7.25)]));
    let pickup_at: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from(vec![
            1_704_103_200_000_000, // 2024-01-01 10:00:00 UTC
            1_704_106_800_000_000,
            1_704_110_400_000_000,
        ])
        .with_timezone("UTC"),
    );
    let trips = RecordBatch::try_from_iter([
        ("trip_id", trip_id),
        ("vendor", vendor),
        ("fare", fare),
        ("pickup_at", pickup_at),
    ])?;

    // the same rows as a Parquet file (the `parquet` crate), for `dlt-rs load trips.parquet`
    let file = std::fs::File::create("trips.parquet")?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, trips.schema(), None)?;
    writer.write(&trips)?;
    writer.close()?;

    // credentials from .dlt/secrets.toml
    let mut pipeline = Pipeline::builder("taxi")
        .destination("postgres")
        .dataset_name("taxi")
        .build()?;
    let batches = vec![Ok(trips)];
    let info = pipeline
        .run(vec![Resource::from_record_batches("trips", batches)])
        .await?;
    println!("{info}");
    Ok(())
}
// doc:end

/// Runs the example.
pub(crate) fn run() -> anyhow::Result<()> {
    main()
}
