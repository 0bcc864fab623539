//! Follow-up jobs (replace and merge from staging into the dataset) against the test
//! server, through the destination's public API: a load client from `Destination::client`,
//! the dataset's and staging's tables made by `LoadClient::update_schema`, staging emptied
//! by `LoadClient::truncate` and filled with plain `INSERT`s, the follow-up run by
//! `LoadClient::follow_up`; the outcome read back with `tokio_postgres`.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use dest_core::DataType::{Bigint, Bool, Text, Timestamp};
use dest_core::{
    Column, DataType, Error, FollowUp, FollowUpJob, LoadClient, LoadTarget, MergeStrategy,
    ReplaceStrategy, Result, SortOrder, TableDisposition, TableSchema,
};
use test_support::{query_rows, quote_ident};

use crate::support::{create_tables, schema, Dataset};

/// The ledger of completed follow-ups, a table in the staging schema.
const LEDGER_TABLE: &str = "_dlt_rs_follow_ups";

fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

fn col(name: &str, ty: DataType) -> Column {
    Column::new(name, ty)
}

fn with(name: &str, ty: DataType, f: impl FnOnce(&mut Column)) -> Column {
    let mut c = Column::new(name, ty);
    f(&mut c);
    c
}

fn pk(name: &str) -> Column {
    with(name, Bigint, |c| {
        c.primary_key = true;
        c.nullable = false;
    })
}

fn row_id() -> Column {
    with("_dlt_id", Text, |c| {
        c.nullable = false;
        c.unique = true;
        c.row_key = true;
    })
}

/// A root table: `data` columns, then `_dlt_load_id`, `_dlt_id`.
fn root_table(name: &str, data: Vec<Column>) -> TableSchema {
    let mut t = TableSchema::new(name);
    t.disposition = TableDisposition::Merge(MergeStrategy::DeleteInsert);
    t.columns = data;
    t.columns.push(col("_dlt_load_id", Text).not_null());
    t.columns.push(row_id());
    t
}

/// A nested table: `data` columns, then [`_dlt_root_id`], `_dlt_parent_id`,
/// `_dlt_list_idx`, `_dlt_id`.
fn nested_table(name: &str, parent: &str, data: Vec<Column>, with_root_key: bool) -> TableSchema {
    let mut t = TableSchema::new(name);
    t.disposition = TableDisposition::Merge(MergeStrategy::DeleteInsert);
    t.parent = Some(parent.into());
    t.columns = data;
    if with_root_key {
        t.columns.push(with("_dlt_root_id", Text, |c| {
            c.nullable = false;
            c.root_key = true;
        }));
    }
    t.columns.push(with("_dlt_parent_id", Text, |c| {
        c.nullable = false;
        c.parent_key = true;
    }));
    t.columns.push(col("_dlt_list_idx", Bigint).not_null());
    t.columns.push(row_id());
    t
}

/// A dataset and its staging schema with `tables` created in both, and a client.
struct Env {
    admin: tokio_postgres::Client,
    client: Arc<dyn LoadClient>,
    /// The dataset schema.
    dataset: String,
    /// Its staging schema.
    staging: String,
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 123_456_000)
        .single()
        .unwrap()
}

impl Env {
    async fn new(test: &str, tables: &[&TableSchema]) -> Env {
        Env::with_staging_indexes(test, tables, true).await
    }

    /// With `staging_indexes`, the staging tables get the UNIQUE constraints of their
    /// `unique` columns too: the loader makes them only for the chains that
    /// `staging-optimized` swaps into the dataset, so the schema the staging tables are made
    /// from says that strategy for the roots (the tables given to the follow-ups are the
    /// test's own).
    async fn with_staging_indexes(
        test: &str,
        tables: &[&TableSchema],
        staging_indexes: bool,
    ) -> Env {
        let ds = Dataset::new(&format!("follow_up::{test}")).await;
        let client = ds.client(Default::default()).await;
        let tables: Vec<TableSchema> = tables.iter().map(|t| (*t).clone()).collect();
        create_tables(&*client, &schema(&tables), LoadTarget::Dataset).await;
        let staged: Vec<TableSchema> = tables
            .into_iter()
            .map(|mut t| {
                if staging_indexes && t.parent.is_none() {
                    t.disposition = TableDisposition::Replace(ReplaceStrategy::StagingOptimized);
                }
                t
            })
            .collect();
        create_tables(&*client, &schema(&staged), LoadTarget::Staging).await;
        Env {
            admin: ds.admin,
            client,
            dataset: ds.name,
            staging: ds.staging,
        }
    }

    /// Empties the staging tables of `chain` (as the pipeline does at package start),
    /// then runs each `(table, "(cols) VALUES ...")` insert into staging.
    async fn stage(&self, chain: &[&TableSchema], inserts: &[(&str, &str)]) {
        let names: Vec<String> = chain.iter().map(|t| t.name.clone()).collect();
        self.client
            .truncate(&names, LoadTarget::Staging)
            .await
            .unwrap();
        let mut sql = String::new();
        for (table, rows) in inserts {
            sql.push_str(&format!(
                "INSERT INTO {} {rows};\n",
                qualified(&self.staging, table)
            ));
        }
        self.admin.batch_execute(&sql).await.unwrap();
    }

    async fn run(
        &self,
        kind: FollowUp,
        chain: &[&TableSchema],
        load_id: &str,
        created_at: DateTime<Utc>,
    ) -> Result<()> {
        let job = FollowUpJob {
            kind,
            chain: chain.to_vec(),
            load_id,
            created_at,
            schema_name: "test",
        };
        self.client.follow_up(&job).await
    }

    /// `cols` of dataset table `table`, one `a|b|c` string per row (`∅` for NULL), sorted.
    async fn rows(&self, table: &str, cols: &str) -> Vec<String> {
        self.rows_in(&self.dataset, table, cols).await
    }

    async fn rows_in(&self, schema: &str, table: &str, cols: &str) -> Vec<String> {
        let sql = format!("SELECT {cols} FROM {}", qualified(schema, table));
        let mut rows: Vec<String> = query_rows(&self.admin, &sql)
            .await
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| v.unwrap_or_else(|| "∅".into()))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        rows.sort();
        rows
    }

    async fn ledger(&self) -> Vec<String> {
        self.rows_in(&self.staging, LEDGER_TABLE, "load_id, root_table")
            .await
    }
}

fn users() -> TableSchema {
    root_table(
        "users",
        vec![pk("id"), col("name", Text), col("score", Bigint)],
    )
}

fn orders(root_key: bool) -> Vec<TableSchema> {
    vec![
        root_table("orders", vec![pk("id")]),
        nested_table(
            "orders__lines",
            "orders",
            vec![col("sku", Text), col("n", Bigint)],
            root_key,
        ),
    ]
}

const USER_COLS: &str = "(id, name, score, _dlt_load_id, _dlt_id)";
const LINE_COLS: &str = "(sku, n, _dlt_root_id, _dlt_parent_id, _dlt_list_idx, _dlt_id)";

#[tokio::test]
async fn delete_insert_dedups_and_updates_by_primary_key() {
    let t = users();
    let env = Env::new("merge_pk", &[&t]).await;
    env.stage(
        &[&t],
        &[(
            "users",
            &format!(
                "{USER_COLS} VALUES (1,'u1',10,'1','a1'),(2,'u2',20,'1','a2'),\
                 (3,'u3',30,'1','a3'),(4,'u4',40,'1','a4')"
            ),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&t], "1", at(0))
        .await
        .unwrap();
    env.stage(
        &[&t],
        &[(
            "users",
            &format!(
                "{USER_COLS} VALUES (3,'u3-new',33,'2','b3'),(5,'u5',50,'2','b5'),\
                 (6,'u6',60,'2','b6'),(6,'u6',60,'2','b7')"
            ),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&t], "2", at(1))
        .await
        .unwrap();
    assert_eq!(
        env.rows("users", "id, name, score, _dlt_load_id").await,
        [
            "1|u1|10|1",
            "2|u2|20|1",
            "3|u3-new|33|2",
            "4|u4|40|1",
            "5|u5|50|2",
            "6|u6|60|2"
        ]
    );
    assert_eq!(env.ledger().await, ["1|test.users", "2|test.users"]);
}

#[tokio::test]
async fn delete_insert_dedup_sort_and_hard_delete_with_nested_rows() {
    // dlt's documented example: dedup_sort ts desc, then a hard delete of id 2
    let chain = [
        root_table(
            "di",
            vec![
                pk("id"),
                col("v", Text),
                with("ts", Bigint, |c| c.dedup_sort = Some(SortOrder::Desc)),
                with("deleted", Bool, |c| c.hard_delete = true),
            ],
        ),
        nested_table("di__tags", "di", vec![col("value", Text)], true),
    ];
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("dedup_sort_hard_delete", &chain).await;
    let tags = "(value, _dlt_root_id, _dlt_parent_id, _dlt_list_idx, _dlt_id)";
    let cols = "(id, v, ts, deleted, _dlt_load_id, _dlt_id)";
    env.stage(
        &chain,
        &[
            (
                "di",
                &format!(
                    "{cols} VALUES (1,'a',1,NULL,'1','r1'),(2,'b',1,NULL,'1','r2'),(1,'a2',2,NULL,'1','r3')"
                ),
            ),
            (
                "di__tags",
                &format!(
                    "{tags} VALUES ('x','r1','r1',0,'t1'),('y','r2','r2',0,'t2'),('z','r3','r3',0,'t3')"
                ),
            ),
        ],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &chain, "1", at(0))
        .await
        .unwrap();
    assert_eq!(env.rows("di", "id, v").await, ["1|a2", "2|b"]);
    assert_eq!(
        env.rows("di__tags", "value, _dlt_root_id").await,
        ["y|r2", "z|r3"]
    );

    env.stage(
        &chain,
        &[(
            "di",
            &format!("{cols} VALUES (2,NULL,NULL,TRUE,'2','s2'),(3,'c',NULL,FALSE,'2','s3')"),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &chain, "2", at(1))
        .await
        .unwrap();
    assert_eq!(env.rows("di", "id, v").await, ["1|a2", "3|c"]);
    assert_eq!(env.rows("di__tags", "value, _dlt_root_id").await, ["z|r3"]);

    // dedup_sort asc keeps the first version
    let mut asc = chain[0].clone();
    asc.columns[2].dedup_sort = Some(SortOrder::Asc);
    let asc_chain = [&asc, chain[1]];
    env.stage(
        &asc_chain,
        &[(
            "di",
            &format!("{cols} VALUES (5,'first',1,NULL,'3','u1'),(5,'second',2,NULL,'3','u2')"),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &asc_chain, "3", at(2))
        .await
        .unwrap();
    assert_eq!(env.rows("di", "id, v").await, ["1|a2", "3|c", "5|first"]);
}

#[tokio::test]
async fn delete_insert_replaces_nested_rows() {
    let chain = orders(true);
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("merge_children", &chain).await;
    let root = "(id, _dlt_load_id, _dlt_id)";
    env.stage(
        &chain,
        &[
            ("orders", &format!("{root} VALUES (1,'1','o1'),(2,'1','o2')")),
            (
                "orders__lines",
                &format!(
                    "{LINE_COLS} VALUES ('a',1,'o1','o1',0,'l1'),('b',2,'o1','o1',1,'l2'),('c',1,'o2','o2',0,'l3')"
                ),
            ),
        ],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &chain, "1", at(0))
        .await
        .unwrap();
    // the second package has no rows for the nested table: its staging table is empty
    env.stage(
        &chain,
        &[
            (
                "orders",
                &format!("{root} VALUES (1,'2','o1b'),(3,'2','o3')"),
            ),
            (
                "orders__lines",
                &format!("{LINE_COLS} VALUES ('a',5,'o1b','o1b',0,'l4')"),
            ),
        ],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &chain, "2", at(1))
        .await
        .unwrap();
    assert_eq!(
        env.rows("orders", "id, _dlt_id").await,
        ["1|o1b", "2|o2", "3|o3"]
    );
    assert_eq!(
        env.rows("orders__lines", "sku, n, _dlt_parent_id").await,
        ["a|5|o1b", "c|1|o2"]
    );
}

#[tokio::test]
async fn delete_insert_hard_delete_bool_and_not_bool() {
    let items = root_table(
        "items",
        vec![
            pk("id"),
            col("v", Text),
            with("deleted", Bool, |c| c.hard_delete = true),
        ],
    );
    let stamps = root_table(
        "stamps",
        vec![
            pk("id"),
            with("deleted_at", Timestamp, |c| c.hard_delete = true),
        ],
    );
    let env = Env::new("merge_hard_delete", &[&items, &stamps]).await;
    let cols = "(id, v, deleted, _dlt_load_id, _dlt_id)";
    env.stage(
        &[&items],
        &[(
            "items",
            &format!(
                "{cols} VALUES (1,'a',FALSE,'1','a1'),(2,'b',FALSE,'1','a2'),(3,'c',FALSE,'1','a3')"
            ),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&items], "1", at(0))
        .await
        .unwrap();
    env.stage(
        &[&items],
        &[(
            "items",
            &format!(
                "{cols} VALUES (2,'b',TRUE,'2','b2'),(3,'c2',FALSE,'2','b3'),(4,'d',FALSE,'2','b4')"
            ),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&items], "2", at(1))
        .await
        .unwrap();
    assert_eq!(
        env.rows("items", "id, v, deleted").await,
        ["1|a|f", "3|c2|f", "4|d|f"]
    );

    let cols = "(id, deleted_at, _dlt_load_id, _dlt_id)";
    env.stage(
        &[&stamps],
        &[(
            "stamps",
            &format!("{cols} VALUES (1,NULL,'1','a1'),(2,NULL,'1','a2')"),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&stamps], "1", at(0))
        .await
        .unwrap();
    env.stage(
        &[&stamps],
        &[(
            "stamps",
            &format!("{cols} VALUES (1,'2024-01-01T00:00:00Z','2','b1'),(3,NULL,'2','b3')"),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&stamps], "2", at(1))
        .await
        .unwrap();
    assert_eq!(env.rows("stamps", "id").await, ["2", "3"]);
}

#[tokio::test]
async fn delete_insert_merge_key_replaces_partitions() {
    let t = root_table(
        "events",
        vec![with("day", Text, |c| c.merge_key = true), col("v", Bigint)],
    );
    let env = Env::new("merge_key", &[&t]).await;
    let cols = "(day, v, _dlt_load_id, _dlt_id)";
    env.stage(
        &[&t],
        &[(
            "events",
            &format!("{cols} VALUES ('d1',1,'1','a1'),('d1',2,'1','a2'),('d2',3,'1','a3')"),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&t], "1", at(0))
        .await
        .unwrap();
    env.stage(
        &[&t],
        &[(
            "events",
            &format!("{cols} VALUES ('d1',10,'2','b1'),('d1',10,'2','b2'),('d3',4,'2','b3')"),
        )],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&t], "2", at(1))
        .await
        .unwrap();
    // all rows of the batch kept (no primary key, no dedup)
    assert_eq!(
        env.rows("events", "day, v").await,
        ["d1|10", "d1|10", "d2|3", "d3|4"]
    );
}

#[tokio::test]
async fn delete_insert_without_keys_is_a_staged_append() {
    let mut chain = orders(true);
    chain[0].columns[0].primary_key = false;
    let chain: Vec<&TableSchema> = chain.iter().collect();
    // no UNIQUE in staging, so a nested row loaded twice can be there twice
    let env = Env::with_staging_indexes("staged_append", &chain, false).await;
    let root = "(id, _dlt_load_id, _dlt_id)";
    for load in ["1", "2"] {
        env.stage(
            &chain,
            &[
                ("orders", &format!("{root} VALUES (1,'{load}','o{load}')")),
                (
                    "orders__lines",
                    &format!(
                        "{LINE_COLS} VALUES ('a',1,'o{load}','o{load}',0,'l{load}'),\
                         ('a',1,'o{load}','o{load}',0,'l{load}')"
                    ),
                ),
            ],
        )
        .await;
        env.run(FollowUp::DeleteInsert, &chain, load, at(0))
            .await
            .unwrap();
    }
    assert_eq!(env.rows("orders", "id, _dlt_id").await, ["1|o1", "1|o2"]);
    assert_eq!(env.rows("orders__lines", "_dlt_id").await, ["l1", "l2"]);
}

#[tokio::test]
async fn upsert_updates_shrinks_lists_and_hard_deletes() {
    let chain = [
        root_table(
            "items",
            vec![
                pk("id"),
                col("v", Text),
                with("deleted", Bool, |c| c.hard_delete = true),
            ],
        ),
        nested_table("items__kids", "items", vec![col("value", Bigint)], true),
    ];
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("merge_upsert", &chain).await;
    let root = "(id, v, deleted, _dlt_load_id, _dlt_id)";
    let kids = "(value, _dlt_root_id, _dlt_parent_id, _dlt_list_idx, _dlt_id)";
    env.stage(
        &chain,
        &[
            (
                "items",
                &format!("{root} VALUES (1,'a',NULL,'1','k1'),(2,'b',NULL,'1','k2')"),
            ),
            (
                "items__kids",
                &format!(
                    "{kids} VALUES (1,'k1','k1',0,'k1_0'),(2,'k1','k1',1,'k1_1'),(3,'k2','k2',0,'k2_0')"
                ),
            ),
        ],
    )
    .await;
    env.run(FollowUp::Upsert, &chain, "1", at(0)).await.unwrap();
    env.stage(
        &chain,
        &[
            (
                "items",
                &format!("{root} VALUES (2,'b2',NULL,'2','k2'),(3,'c',NULL,'2','k3')"),
            ),
            (
                "items__kids",
                &format!("{kids} VALUES (4,'k2','k2',0,'k2_0'),(5,'k2','k2',1,'k2_1')"),
            ),
        ],
    )
    .await;
    env.run(FollowUp::Upsert, &chain, "2", at(1)).await.unwrap();
    assert_eq!(
        env.rows("items", "id, v, _dlt_load_id").await,
        ["1|a|1", "2|b2|2", "3|c|2"]
    );
    assert_eq!(
        env.rows("items__kids", "_dlt_parent_id, _dlt_list_idx, value")
            .await,
        ["k1|0|1", "k1|1|2", "k2|0|4", "k2|1|5"]
    );

    // the list of 2 shrinks, 1 is deleted
    env.stage(
        &chain,
        &[
            (
                "items",
                &format!("{root} VALUES (1,NULL,TRUE,'3','k1'),(2,'b3',FALSE,'3','k2')"),
            ),
            (
                "items__kids",
                &format!("{kids} VALUES (6,'k2','k2',0,'k2_0')"),
            ),
        ],
    )
    .await;
    env.run(FollowUp::Upsert, &chain, "3", at(2)).await.unwrap();
    assert_eq!(env.rows("items", "id, v").await, ["2|b3", "3|c"]);
    assert_eq!(
        env.rows("items__kids", "_dlt_parent_id, _dlt_list_idx, value")
            .await,
        ["k2|0|6"]
    );
}

#[tokio::test]
async fn upsert_keeps_one_row_per_key_of_a_batch() {
    let chain = [
        root_table(
            "items",
            vec![
                pk("id"),
                col("v", Text),
                with("ts", Bigint, |c| c.dedup_sort = Some(SortOrder::Desc)),
            ],
        ),
        nested_table("items__kids", "items", vec![col("value", Bigint)], true),
    ];
    let chain: Vec<&TableSchema> = chain.iter().collect();
    // without UNIQUE in staging a key can come twice (same key hash, same nested ids)
    let env = Env::with_staging_indexes("upsert_dup_keys", &chain, false).await;
    let root = "(id, v, ts, _dlt_load_id, _dlt_id)";
    let kids = "(value, _dlt_root_id, _dlt_parent_id, _dlt_list_idx, _dlt_id)";
    env.stage(
        &chain,
        &[
            (
                "items",
                &format!(
                    "{root} VALUES (1,'old',1,'1','k1'),(1,'new',2,'1','k1'),(2,'b',1,'1','k2')"
                ),
            ),
            (
                "items__kids",
                &format!("{kids} VALUES (1,'k1','k1',0,'k1_0'),(1,'k1','k1',0,'k1_0')"),
            ),
        ],
    )
    .await;
    env.run(FollowUp::Upsert, &chain, "1", at(0)).await.unwrap();
    assert_eq!(env.rows("items", "id, v").await, ["1|new", "2|b"]);
    assert_eq!(env.rows("items__kids", "_dlt_id").await, ["k1_0"]);
}

fn dim(merge_key: bool, active: Option<&str>) -> Vec<TableSchema> {
    let mut root = root_table(
        "dim",
        vec![
            with("_dlt_valid_from", Timestamp, |c| c.valid_from = true),
            with("_dlt_valid_to", Timestamp, |c| c.valid_to = true),
            with("id", Bigint, |c| c.merge_key = merge_key),
            col("v", Text),
        ],
    );
    if let Some(id) = root.column_mut("_dlt_id") {
        id.unique = false;
        id.row_key = false;
        id.row_version = true;
    }
    root.active_record_timestamp = active.map(str::to_string);
    vec![
        root,
        nested_table("dim__l", "dim", vec![col("a", Bigint)], false),
    ]
}

/// Renders `ts` as the server prints a timestamptz in UTC.
fn pg_ts(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

#[tokio::test]
async fn scd2_retires_inserts_and_reinserts() {
    let chain = dim(false, None);
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("merge_scd2", &chain).await;
    env.admin
        .batch_execute("SET TIME ZONE 'UTC'")
        .await
        .unwrap();
    let root = "(id, v, _dlt_load_id, _dlt_id)";
    let l = "(a, _dlt_parent_id, _dlt_list_idx, _dlt_id)";
    env.stage(
        &chain,
        &[
            (
                "dim",
                &format!("{root} VALUES (1,'a','1','h1'),(2,'b','1','h2'),(3,'c','1','h3')"),
            ),
            ("dim__l", &format!("{l} VALUES (7,'h1',0,'n1')")),
        ],
    )
    .await;
    env.run(FollowUp::Scd2, &chain, "1", at(0)).await.unwrap();
    env.stage(
        &chain,
        &[
            (
                "dim",
                &format!("{root} VALUES (1,'a','2','h1'),(2,'b2','2','h2b'),(4,'d','2','h4')"),
            ),
            ("dim__l", &format!("{l} VALUES (7,'h1',0,'n1')")),
        ],
    )
    .await;
    env.run(FollowUp::Scd2, &chain, "2", at(10)).await.unwrap();
    let (t0, t1) = (pg_ts(at(0)), pg_ts(at(10)));
    let cols = "id, v, _dlt_valid_from, _dlt_valid_to";
    assert_eq!(
        env.rows("dim", cols).await,
        [
            format!("1|a|{t0}|∅"),
            format!("2|b2|{t1}|∅"),
            format!("2|b|{t0}|{t1}"),
            format!("3|c|{t0}|{t1}"),
            format!("4|d|{t1}|∅"),
        ]
    );
    assert_eq!(env.rows("dim__l", "a, _dlt_id").await, ["7|n1"]);

    // 3 reappears with the same hash: a new active version
    env.stage(
        &chain,
        &[(
            "dim",
            &format!(
                "{root} VALUES (1,'a','3','h1'),(2,'b2','3','h2b'),(3,'c','3','h3'),(4,'d','3','h4')"
            ),
        )],
    )
    .await;
    env.run(FollowUp::Scd2, &chain, "3", at(20)).await.unwrap();
    let t2 = pg_ts(at(20));
    assert_eq!(
        env.rows("dim", cols).await,
        [
            format!("1|a|{t0}|∅"),
            format!("2|b2|{t1}|∅"),
            format!("2|b|{t0}|{t1}"),
            format!("3|c|{t0}|{t1}"),
            format!("3|c|{t2}|∅"),
            format!("4|d|{t1}|∅"),
        ]
    );
}

#[tokio::test]
async fn scd2_merge_key_and_active_record_timestamp() {
    let chain = dim(true, Some("9999-12-31T00:00:00"));
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("scd2_merge_key", &chain).await;
    env.admin
        .batch_execute("SET TIME ZONE 'UTC'")
        .await
        .unwrap();
    let root = "(id, v, _dlt_load_id, _dlt_id)";
    env.stage(
        &chain,
        &[(
            "dim",
            &format!("{root} VALUES (1,'a','1','h1'),(2,'b','1','h2')"),
        )],
    )
    .await;
    env.run(FollowUp::Scd2, &chain, "1", at(0)).await.unwrap();
    // an incremental snapshot with key 1 only: 2 stays active
    env.stage(
        &chain,
        &[("dim", &format!("{root} VALUES (1,'a2','2','h1b')"))],
    )
    .await;
    env.run(FollowUp::Scd2, &chain, "2", at(10)).await.unwrap();
    let (t0, t1) = (pg_ts(at(0)), pg_ts(at(10)));
    let open = "9999-12-31 00:00:00+00";
    assert_eq!(
        env.rows("dim", "id, v, _dlt_valid_from, _dlt_valid_to")
            .await,
        [
            format!("1|a2|{t1}|{open}"),
            format!("1|a|{t0}|{t1}"),
            format!("2|b|{t0}|{open}"),
        ]
    );
}

#[tokio::test]
async fn insert_from_staging_replaces_the_chain() {
    let chain = orders(false);
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("insert_from_staging", &chain).await;
    let root = "(id, _dlt_load_id, _dlt_id)";
    let lines = "(sku, n, _dlt_parent_id, _dlt_list_idx, _dlt_id)";
    env.stage(
        &chain,
        &[
            (
                "orders",
                &format!("{root} VALUES (1,'1','o1'),(2,'1','o2')"),
            ),
            (
                "orders__lines",
                &format!("{lines} VALUES ('a',1,'o1',0,'l1')"),
            ),
        ],
    )
    .await;
    env.run(FollowUp::InsertFromStaging, &chain, "1", at(0))
        .await
        .unwrap();
    env.stage(
        &chain,
        &[("orders", &format!("{root} VALUES (3,'2','o3')"))],
    )
    .await;
    env.run(FollowUp::InsertFromStaging, &chain, "2", at(1))
        .await
        .unwrap();
    assert_eq!(env.rows("orders", "id, _dlt_id").await, ["3|o3"]);
    assert!(env.rows("orders__lines", "sku").await.is_empty());
}

#[tokio::test]
async fn staging_optimized_swaps_tables() {
    let chain = orders(false);
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("staging_optimized", &chain).await;
    let root = "(id, _dlt_load_id, _dlt_id)";
    let lines = "(sku, n, _dlt_parent_id, _dlt_list_idx, _dlt_id)";
    env.admin
        .batch_execute(&format!(
            "INSERT INTO {} {root} VALUES (9,'0','old')",
            qualified(&env.dataset, "orders")
        ))
        .await
        .unwrap();
    env.stage(
        &chain,
        &[
            (
                "orders",
                &format!("{root} VALUES (1,'1','o1'),(2,'1','o2')"),
            ),
            (
                "orders__lines",
                &format!("{lines} VALUES ('a',1,'o1',0,'l1')"),
            ),
        ],
    )
    .await;
    env.run(FollowUp::SwapStaging, &chain, "1", at(0))
        .await
        .unwrap();
    assert_eq!(env.rows("orders", "id").await, ["1", "2"]);
    assert_eq!(env.rows("orders__lines", "sku").await, ["a"]);
    let st = env.staging.clone();
    assert!(env.rows_in(&st, "orders", "id").await.is_empty());
    assert!(env.rows_in(&st, "orders__lines", "sku").await.is_empty());
    // the recreated staging table keeps the constraints (UNIQUE on _dlt_id)
    let constraints = query_rows(
        &env.admin,
        &format!(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = '{}'::regclass AND contype = 'u'",
            qualified(&st, "orders").replace('\'', "''")
        ),
    )
    .await;
    assert_eq!(constraints, vec![vec![Some("1".to_string())]]);
    // the dataset got no extra table (it has the loader's system tables and the chain's);
    // the ledger is in staging
    let tables = query_rows(
        &env.admin,
        &format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' ORDER BY 1",
            env.dataset
        ),
    )
    .await;
    assert_eq!(
        tables,
        vec![
            vec![Some("_dlt_loads".to_string())],
            vec![Some("_dlt_version".to_string())],
            vec![Some("orders".to_string())],
            vec![Some("orders__lines".to_string())]
        ]
    );
    assert_eq!(env.ledger().await, ["1|test.orders"]);
}

#[tokio::test]
async fn a_follow_up_runs_once_per_load() {
    let chain = orders(false);
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("runs_once", &chain).await;
    let root = "(id, _dlt_load_id, _dlt_id)";
    env.stage(
        &chain,
        &[("orders", &format!("{root} VALUES (1,'1','o1')"))],
    )
    .await;
    env.run(FollowUp::SwapStaging, &chain, "1", at(0))
        .await
        .unwrap();
    // again, after a "crash": the (now empty) staging tables must not be swapped in
    env.run(FollowUp::SwapStaging, &chain, "1", at(0))
        .await
        .unwrap();
    assert_eq!(env.rows("orders", "id").await, ["1"]);

    let t = users();
    let env = Env::new("runs_once_merge", &[&t]).await;
    env.stage(
        &[&t],
        &[("users", &format!("{USER_COLS} VALUES (1,'a',1,'1','a1')"))],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&t], "1", at(0))
        .await
        .unwrap();
    env.stage(
        &[&t],
        &[("users", &format!("{USER_COLS} VALUES (2,'b',2,'1','a2')"))],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &[&t], "1", at(0))
        .await
        .unwrap();
    assert_eq!(env.rows("users", "id").await, ["1"]);
    assert_eq!(env.ledger().await, ["1|test.users"]);

    // another pipeline (schema) whose load id happens to be the same merges too
    let job = FollowUpJob {
        kind: FollowUp::DeleteInsert,
        chain: vec![&t],
        load_id: "1",
        created_at: at(0),
        schema_name: "other",
    };
    env.client.follow_up(&job).await.unwrap();
    assert_eq!(env.rows("users", "id").await, ["1", "2"]);
    assert_eq!(env.ledger().await, ["1|other.users", "1|test.users"]);
}

#[tokio::test]
async fn a_failing_follow_up_changes_nothing() {
    let chain = orders(true);
    let chain: Vec<&TableSchema> = chain.iter().collect();
    let env = Env::new("failing", &chain).await;
    let root = "(id, _dlt_load_id, _dlt_id)";
    env.stage(
        &chain,
        &[
            ("orders", &format!("{root} VALUES (1,'1','o1')")),
            (
                "orders__lines",
                &format!("{LINE_COLS} VALUES ('a',1,'o1','o1',0,'l1')"),
            ),
        ],
    )
    .await;
    env.run(FollowUp::DeleteInsert, &chain, "1", at(0))
        .await
        .unwrap();

    // the nested insert fails after the deletes ran
    env.stage(
        &chain,
        &[("orders", &format!("{root} VALUES (1,'2','o1b')"))],
    )
    .await;
    env.admin
        .batch_execute(&format!(
            "ALTER TABLE {} DROP COLUMN n",
            qualified(&env.staging, "orders__lines")
        ))
        .await
        .unwrap();
    let err = env
        .run(FollowUp::DeleteInsert, &chain, "2", at(1))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("merge (delete-insert) follow-up of table chain `orders` (load 2)"),
        "{msg}"
    );
    assert!(msg.contains("\"n\" does not exist"), "{msg}");
    assert!(!err.is_transient());
    assert_eq!(env.rows("orders", "id, _dlt_id").await, ["1|o1"]);
    assert_eq!(env.rows("orders__lines", "sku, _dlt_id").await, ["a|l1"]);
    assert_eq!(env.ledger().await, ["1|test.orders"]);

    // a nested table without root key below level 1 fails before any SQL runs
    let mut deep = orders(true);
    deep.push(nested_table(
        "orders__lines__tags",
        "orders__lines",
        vec![col("value", Text)],
        false,
    ));
    let deep: Vec<&TableSchema> = deep.iter().collect();
    let err = env
        .run(FollowUp::DeleteInsert, &deep, "3", at(2))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSchema(_)), "{err}");
    assert!(err.to_string().contains("`orders__lines__tags`"), "{err}");
    assert_eq!(env.rows("orders", "id, _dlt_id").await, ["1|o1"]);
    assert_eq!(env.ledger().await, ["1|test.orders"]);
}
