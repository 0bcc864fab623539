//! docs/reading-back.md: a pipeline's dataset read back as JSON rows, typed rows, Arrow
//! batches and SQL with parameters.

// doc:start
use dest_core::{Comparison, SortOrder, Value};
use pipeline::{Pipeline, PipelineOverrides};
use serde::Deserialize;

use dest_postgres as _; // links the destination: the registry then knows `postgres`

#[derive(Debug, Deserialize)]
struct Order {
    id: i64,
    customer: String,
    total: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // the pipeline `dlt-rs load` ran above, with the destination and dataset it remembers
    let pipeline = Pipeline::open_existing("reading_shop", None, &PipelineOverrides::default())?;
    let dataset = pipeline.dataset().await?;
    println!("tables: {:?}", dataset.tables());

    let orders = dataset.table("orders")?;
    println!("{} orders", orders.count().await?);

    // JSON rows: a filter, an order and a limit
    let big = orders
        .clone()
        .select(&["id", "customer", "total"])
        .filter("total", Comparison::Ge, 10)
        .order_by("total", SortOrder::Desc)
        .limit(2)
        .rows()
        .await?;
    for row in &big {
        println!("{}", serde_json::Value::Object(row.clone()));
    }

    // typed rows
    let typed: Vec<Order> = orders
        .clone()
        .order_by("id", SortOrder::Asc)
        .fetch()
        .await?;
    anyhow::ensure!(typed.len() == 3 && typed[0].customer == "ann" && typed[0].total == 10.5);
    println!("first order: {} by {}", typed[0].id, typed[0].customer);

    // Arrow record batches, one batch in memory at a time
    let mut batches = orders.arrow(10_000).await?;
    while let Some(batch) = batches.next().await? {
        println!(
            "a batch of {} rows, {} columns",
            batch.num_rows(),
            batch.num_columns()
        );
    }

    // SQL with a bound parameter ($1 on PostgreSQL): the value is never part of the SQL text
    let lines = dataset
        .query(
            "select o.customer, l.sku from orders o join orders__lines l \
             on l._dlt_parent_id = o._dlt_id where o.customer = $1",
            vec![Value::from("ann")],
        )
        .rows()
        .await?;
    println!("ann bought {} lines", lines.len());
    anyhow::ensure!(lines.len() == 2);
    Ok(())
}
// doc:end

/// Runs the example.
pub(crate) fn run() -> anyhow::Result<()> {
    main()
}
