//! docs/extending.md, "Use it".

// doc:start
use pipeline::{Pipeline, Resource};
use serde_json::json;

use dest_sqlite as _; // links the destination: the registry then knows `sqlite`

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut pipeline = Pipeline::builder("ext_lib")
        .destination("sqlite") // by registry name: the pipeline names no destination crate
        .credentials("library.db")
        .dataset_name("ext_lib")
        .build()?;
    let orders = vec![
        json!({"id": 1, "lines": [{"sku": "a"}, {"sku": "b"}]}),
        json!({"id": 2, "lines": [{"sku": "c"}]}),
    ];
    let info = pipeline.run(vec![Resource::new("orders", orders)]).await?;
    println!("{info}");

    // the dataset is the attached file library__ext_lib.db
    let db = rusqlite::Connection::open("library__ext_lib.db")?;
    let lines: i64 = db.query_row("SELECT count(*) FROM orders__lines", [], |r| r.get(0))?;
    assert_eq!(lines, 3);
    Ok(())
}
// doc:end

/// Runs the example.
pub(crate) fn run() -> anyhow::Result<()> {
    main()
}
