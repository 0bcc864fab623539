//! Unit tests of the stored schema: dlt 1.31's document read and written back, version hashes
//! as dlt computes them, dlt-rs' earlier shape read.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value as Json};

use crate::{Column, DataType, MergeStrategy, Schema, TableDisposition, TableSchema};

/// What dlt 1.31 stored in `_dlt_version.schema` for a merge resource with nested lists,
/// declared hints (json, decimal with precision, primary key) and an append resource.
const DLT_SCHEMA: &str = include_str!("dlt_1_31.schema.json");

#[test]
fn dlt_document_reads_hashes_and_writes_back_unchanged() {
    let doc: Json = serde_json::from_str(DLT_SCHEMA).unwrap();
    let schema: Schema = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(schema.version, 2);
    assert_eq!(schema.content_hash(), doc["version_hash"].as_str().unwrap());
    assert_eq!(serde_json::to_value(&schema).unwrap(), doc);

    let orders = schema.table("orders").unwrap();
    assert_eq!(
        orders.disposition,
        TableDisposition::Merge(MergeStrategy::DeleteInsert)
    );
    assert!(orders.seen_data);
    assert!(orders.column("id").unwrap().primary_key);
    assert_eq!(
        orders.column("meta").unwrap().data_type,
        Some(DataType::Json)
    );
    // a nested table follows its root's disposition
    let items = schema.table("orders__items").unwrap();
    assert_eq!(items.parent.as_deref(), Some("orders"));
    assert_eq!(items.disposition, orders.disposition);
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names[..3], ["_dlt_version", "_dlt_loads", "orders"]);
}

#[test]
fn system_tables_match_dlt() {
    let doc: Json = serde_json::from_str(DLT_SCHEMA).unwrap();
    for t in [
        crate::version_table(),
        crate::loads_table(),
        crate::state_table(),
    ] {
        let mut ours = serde_json::to_value(&t).unwrap();
        let mut theirs = doc["tables"][&t.name].clone();
        // dlt marks the state table once a state row was normalized
        theirs.as_object_mut().unwrap().remove("x-normalizer");
        ours.as_object_mut().unwrap().remove("x-normalizer");
        assert_eq!(ours, theirs, "{}", t.name);
    }
}

#[test]
fn earlier_dlt_rs_shape_is_read() {
    let old = json!({
        "name": "p", "version": 3, "version_hash": "x", "engine_version": 11,
        "tables": [
            {"name": "t", "columns": [{"name": "id", "data_type": "bigint", "nullable": false}],
             "write_disposition": "merge", "strategy": "upsert", "resource": "t", "x-seen-data": true,
             "x-max-nesting": 1},
            {"name": "t__c", "columns": [], "write_disposition": "merge", "strategy": "upsert", "parent": "t"}
        ]
    });
    let s: Schema = serde_json::from_value(old).unwrap();
    let t = s.table("t").unwrap();
    assert_eq!(
        t.disposition,
        TableDisposition::Merge(MergeStrategy::Upsert)
    );
    assert!(t.seen_data);
    assert_eq!(t.max_nesting, Some(1));
    assert!(!t.column("id").unwrap().nullable);
    assert_eq!(s.table("t__c").unwrap().disposition, t.disposition);
    // written in dlt's shape
    let doc = serde_json::to_value(&s).unwrap();
    assert!(doc["tables"]["t"]["columns"]["id"].is_object());
    assert_eq!(doc["tables"]["t"]["x-merge-strategy"], "upsert");
    assert_eq!(
        doc["tables"]["t"]["x-normalizer"],
        json!({"seen-data": true, "max_nesting": 1})
    );
    assert!(doc["tables"]["t__c"].get("write_disposition").is_none());
    assert_eq!(
        doc["normalizers"]["json"]["config"]["propagation"]["tables"],
        json!({"t": {"_dlt_id": "_dlt_root_id"}})
    );
}

#[test]
fn unknown_hints_round_trip_and_change_the_hash() {
    let mut s = Schema::new("p");
    let mut t = TableSchema::new("t");
    let mut c = Column::new("a", DataType::Text);
    c.other.insert("x-postgres-collation".into(), json!("C"));
    t.columns.push(c);
    t.other.insert("description".into(), json!("a table"));
    s.tables.push(t);
    let before = s.content_hash();
    let back: Schema = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    s.table_mut("t").unwrap().other.clear();
    assert_ne!(s.content_hash(), before);
}

#[test]
fn column_order_changes_the_hash() {
    let mut s = Schema::new("p");
    let mut t = TableSchema::new("t");
    t.columns = vec![
        Column::new("a", DataType::Text),
        Column::new("b", DataType::Text),
    ];
    s.tables.push(t);
    let h = s.content_hash();
    s.table_mut("t").unwrap().columns.reverse();
    assert_ne!(s.content_hash(), h);
}

#[test]
fn declared_column_without_nullable_stays_without() {
    let c: Column = serde_json::from_value(json!({"name": "m", "data_type": "json"})).unwrap();
    assert!(c.nullable && !c.nullable_stated);
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        json!({"name": "m", "data_type": "json"})
    );
    let bad = serde_json::from_value::<Column>(json!({"name": "m", "nullable": "yes"}));
    assert!(bad.unwrap_err().to_string().contains("nullable"));
}
