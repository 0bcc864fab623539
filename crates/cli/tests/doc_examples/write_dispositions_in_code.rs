//! docs/write-dispositions.md, "In Rust".

// doc:start
use std::sync::Arc;

use dest_core::{Merge, MergeStrategy, Scd2Options};
use pipeline::{Pipeline, Resource};
use serde_json::json;

use dest_postgres as _; // links the destination: the registry then knows `postgres`

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut pipeline = Pipeline::builder("shop_code")
        .dataset_name("shop_code")
        .build()?;

    // replace, with a strategy
    let products = Resource::new("products", vec![json!({"sku": "a-1", "price": 10.5})])
        .write_disposition("replace", Some("insert-from-staging"))?;

    // merge (delete-insert): the newest row per `id` wins, `deleted: true` deletes
    let customers = Resource::new(
        "customers",
        vec![
            json!({"id": 1, "name": "ann", "updated": 1}),
            json!({"id": 1, "name": "ann b", "updated": 2}),
            json!({"id": 2, "deleted": true}),
        ],
    )
    .write_disposition("merge", None)?
    .primary_key(["id"])
    .columns_json(&json!({
        "updated": {"dedup_sort": "desc"},
        "deleted": {"hard_delete": true}
    }))?;

    // merge (upsert) on a compound primary key
    let stock = Resource::new("stock", vec![json!({"sku": "a-1", "store": 7, "count": 3})])
        .write_disposition("merge", Some("upsert"))?
        .primary_key(["sku", "store"]);

    // merge (scd2) with dlt's options: validity column names, the active records' valid-to
    let prices = Resource::new("prices", vec![json!({"sku": "a-1", "price": 10.5})]).disposition(
        Arc::new(Merge {
            strategy: MergeStrategy::Scd2,
            scd2: Scd2Options {
                valid_from: "valid_from".into(),
                valid_to: "valid_to".into(),
                active_record_timestamp: Some("9999-12-31T00:00:00Z".into()),
            },
        }),
    );

    let info = pipeline
        .run(vec![products, customers, stock, prices])
        .await?;
    println!("{info}");
    Ok(())
}
// doc:end

/// Runs the example.
pub(crate) fn run() -> anyhow::Result<()> {
    main()
}
