//! Snapshot tests of the relational normalizer: items in, schema and rows out.

use std::fmt::Write as _;
use std::sync::Arc;

use dest_core::{Merge, MergeStrategy, Schema, TableSchema, Value};
use expect_test::{expect, Expect};
use serde_json::json;

use super::*;

#[derive(Default)]
struct Collect(Vec<(String, Row)>);

impl RowSink for Collect {
    fn row(
        &mut self,
        table: &TableSchema,
        row: Row,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.push((table.name.clone(), row));
        Ok(())
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("{s:?}"),
        Value::Int(i) => i.to_string(),
        Value::Double(f) => format!("{f:?}"),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("n{n}"),
        Value::Json(j) => format!("json{j}"),
        Value::Timestamp(t) => t.to_rfc3339(),
        other => format!("{other:?}"),
    }
}

/// Normalizes `items` into table `t` and renders the data tables and rows.
fn check(hints: ResourceHints, items: Vec<Json>, expect: Expect) {
    let mut n = Normalizer::new(Schema::new("s"), "1700000000.000001", 63);
    let root = n.apply_hints(&hints).unwrap();
    let mut sink = Collect::default();
    for item in items {
        n.normalize_item(&root, item, &mut sink).unwrap();
    }
    let schema = n.schema();
    let mut out = String::new();
    for t in schema.tables.iter().filter(|t| !t.is_system()) {
        let cols: Vec<String> = t
            .complete_columns()
            .map(|c| {
                let mut s = format!(
                    "{} {}",
                    c.name,
                    c.data_type.map(|d| d.as_str()).unwrap_or("?")
                );
                if !c.nullable {
                    s.push_str(" not-null");
                }
                if c.unique {
                    s.push_str(" unique");
                }
                if c.variant {
                    s.push_str(" variant");
                }
                s
            })
            .collect();
        let _ = writeln!(out, "{} [{}]", t.name, cols.join(", "));
        for (table, row) in sink.0.iter().filter(|(name, _)| *name == t.name) {
            let _ = table;
            let cells: Vec<String> = row
                .values
                .iter()
                .map(|(i, v)| format!("{}={}", t.columns[*i].name, show(v)))
                .collect();
            let _ = writeln!(out, "  {}", cells.join(" "));
        }
    }
    expect.assert_eq(&out);
}

#[test]
fn nested_objects_lists_and_lists_of_lists() {
    check(
        ResourceHints::new("Events"),
        vec![
            json!({"_dlt_id": "root1", "id": 1, "actor": {"Login": "ann", "meta": {"x": true}},
                    "labels": ["bug", null], "ll": [[1, 2], []], "empty": {}, "none": null}),
        ],
        expect![[r#"
            events [id bigint, actor__login text, actor__meta__x bool, _dlt_load_id text not-null, _dlt_id text not-null unique]
              id=1 actor__login="ann" actor__meta__x=true _dlt_load_id="1700000000.000001" _dlt_id="root1"
            events__labels [value text, _dlt_parent_id text not-null, _dlt_list_idx bigint not-null, _dlt_id text not-null unique]
              value="bug" _dlt_parent_id="root1" _dlt_list_idx=0 _dlt_id="b0azbb1i4l6lWw"
              _dlt_parent_id="root1" _dlt_list_idx=1 _dlt_id="ExR0aHI3TCzAUQ"
            events__ll [_dlt_parent_id text not-null, _dlt_list_idx bigint not-null, _dlt_id text not-null unique]
              _dlt_parent_id="root1" _dlt_list_idx=0 _dlt_id="WWqBSy68IkbKkQ"
              _dlt_parent_id="root1" _dlt_list_idx=1 _dlt_id="Nhsdmn2MTXpPjw"
            events__ll__list [value bigint, _dlt_parent_id text not-null, _dlt_list_idx bigint not-null, _dlt_id text not-null unique]
              value=1 _dlt_parent_id="WWqBSy68IkbKkQ" _dlt_list_idx=0 _dlt_id="QPti04we3AwUsw"
              value=2 _dlt_parent_id="WWqBSy68IkbKkQ" _dlt_list_idx=1 _dlt_id="18cZE7P2oWHdMg"
        "#]],
    );
}

#[test]
fn type_conflicts_make_variant_columns() {
    check(
        ResourceHints::new("readings"),
        vec![
            json!({"_dlt_id": "a", "v": 1, "ts": "2024-05-01T10:00:00Z", "f": 1.5}),
            json!({"_dlt_id": "b", "v": "high", "ts": "2024-05-02", "f": 2}),
            json!({"_dlt_id": "c", "v": 2.5, "ts": 1700000000, "f": "3"}),
            json!({"_dlt_id": "d", "v": true}),
        ],
        expect![[r#"
            readings [v bigint, ts timestamp, f double, _dlt_load_id text not-null, _dlt_id text not-null unique, v__v_text text variant, v__v_double double variant, v__v_bool bool variant]
              v=1 ts=2024-05-01T10:00:00+00:00 f=1.5 _dlt_load_id="1700000000.000001" _dlt_id="a"
              v__v_text="high" ts=2024-05-02T00:00:00+00:00 f=2.0 _dlt_load_id="1700000000.000001" _dlt_id="b"
              v__v_double=2.5 ts=2023-11-14T22:13:20+00:00 f=3.0 _dlt_load_id="1700000000.000001" _dlt_id="c"
              v__v_bool=true _dlt_load_id="1700000000.000001" _dlt_id="d"
        "#]],
    );
}

#[test]
fn max_nesting_keeps_deeper_data_as_json() {
    let mut hints = ResourceHints::new("tree");
    hints.max_table_nesting = Some(1);
    check(
        hints,
        vec![
            json!({"_dlt_id": "r", "a": {"b": {"c": 1}}, "kids": [{"x": 1, "grand": [{"y": 2}]}]}),
        ],
        expect![[r#"
            tree [a__b json, _dlt_load_id text not-null, _dlt_id text not-null unique]
              a__b=json{"c":1} _dlt_load_id="1700000000.000001" _dlt_id="r"
            tree__kids [x bigint, grand json, _dlt_parent_id text not-null, _dlt_list_idx bigint not-null, _dlt_id text not-null unique]
              x=1 grand=json[{"y":2}] _dlt_parent_id="r" _dlt_list_idx=0 _dlt_id="JV7to5axZOV2zg"
        "#]],
    );
}

#[test]
fn upsert_ids_hash_the_key_and_children_carry_the_root_id() {
    let mut hints = ResourceHints::new("up");
    hints.disposition = Arc::new(Merge::new(MergeStrategy::Upsert));
    hints.primary_key = vec!["id".into()];
    check(
        hints,
        vec![json!({"id": 1, "items": [1]})],
        expect![[r#"
            up [id bigint not-null, _dlt_load_id text not-null, _dlt_id text not-null unique]
              id=1 _dlt_load_id="1700000000.000001" _dlt_id="z5jIxXIbUnmbKw"
            up__items [value bigint, _dlt_root_id text not-null, _dlt_parent_id text not-null, _dlt_list_idx bigint not-null, _dlt_id text not-null unique]
              value=1 _dlt_root_id="z5jIxXIbUnmbKw" _dlt_parent_id="z5jIxXIbUnmbKw" _dlt_list_idx=0 _dlt_id="s3RohhotJhngsw"
        "#]],
    );
}

#[test]
fn null_in_a_primary_key_is_an_error_naming_table_and_column() {
    let mut hints = ResourceHints::new("t");
    hints.primary_key = vec!["Id".into()];
    let mut n = Normalizer::new(Schema::new("s"), "1", 63);
    let root = n.apply_hints(&hints).unwrap();
    let mut sink = Collect::default();
    n.normalize_item(&root, json!({"Id": 1}), &mut sink)
        .unwrap();
    let err = n
        .normalize_item(&root, json!({"Id": null}), &mut sink)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "table `t`: column `id` is not nullable but the item has no value for it"
    );
}

#[test]
fn a_variant_is_named_after_the_json_type_and_typed_by_inference() {
    check(
        ResourceHints::new("t"),
        vec![
            json!({"_dlt_id": "a", "id": 1}),
            json!({"_dlt_id": "b", "id": "2024-01-01T10:00:00Z"}),
        ],
        expect![[r#"
            t [id bigint, _dlt_load_id text not-null, _dlt_id text not-null unique, id__v_text timestamp variant]
              id=1 _dlt_load_id="1700000000.000001" _dlt_id="a"
              id__v_text=2024-01-01T10:00:00+00:00 _dlt_load_id="1700000000.000001" _dlt_id="b"
        "#]],
    );
}

#[test]
fn scd2_adds_validity_columns_and_hashes_the_row() {
    let mut hints = ResourceHints::new("dim");
    hints.disposition = Arc::new(Merge::new(MergeStrategy::Scd2));
    check(
        hints,
        vec![
            json!({"nk": 1, "c1": "foo", "c2": {"nc1": "foo"}}),
            json!({"c1": "foo", "l": [{"a": 1}], "nk": 1}),
        ],
        expect![[r#"
            dim [_dlt_valid_from timestamp, _dlt_valid_to timestamp, nk bigint, c1 text, c2__nc1 text, _dlt_load_id text not-null, _dlt_id text not-null]
              nk=1 c1="foo" c2__nc1="foo" _dlt_load_id="1700000000.000001" _dlt_id="OTPbGyxWlJzmpA"
              c1="foo" nk=1 _dlt_load_id="1700000000.000001" _dlt_id="b5nmCsxYNyddmw"
            dim__l [a bigint, _dlt_parent_id text not-null, _dlt_list_idx bigint not-null, _dlt_id text not-null unique]
              a=1 _dlt_parent_id="b5nmCsxYNyddmw" _dlt_list_idx=0 _dlt_id="VXFFE3ae2lSSFA"
        "#]],
    );
}

#[test]
fn keys_that_become_one_column_are_reported_once() {
    let mut n = Normalizer::new(Schema::new("s"), "1700000000.000001", 63);
    let root = n.apply_hints(&ResourceHints::new("t")).unwrap();
    let mut sink = Collect::default();
    let items = [
        json!({"A b": 1, "a_b": 2, "x": {"y": 1}, "x__y": 2, "l": [1], "L": [2], "ok": 1}),
        json!({"A b": 3, "a_b": 4}),
        // a column and a nested table of one name do not collide; nor does a key alone
        json!({"CamelCase": [1], "camel_case": 1}),
        json!({"Other Key": 1}),
    ];
    for item in items {
        n.normalize_item(&root, item, &mut sink).unwrap();
    }
    let found: Vec<String> = n
        .take_collisions()
        .into_iter()
        .map(|c| format!("{}.{}", c.table, c.column))
        .collect();
    assert_eq!(found, ["t.a_b", "t.l", "t.x__y"]);
    assert!(n.take_collisions().is_empty());
    // the last value wins, as in dlt
    let (_, first) = &sink.0[0];
    assert!(format!("{first:?}").contains("Int(2)"));
}

// schema contracts (`contract.rs`)

/// Loads `first` evolving, then `then` under `contract`: the rows of the second
/// normalizer by table (with their `id`, or `sku` for nested rows), or the error.
fn second_load(first: Json, then: Vec<Json>, contract: &str) -> Result<Vec<String>, String> {
    let mut n = Normalizer::new(Schema::new("s"), "1", 63);
    let root = n.apply_hints(&ResourceHints::new("t")).unwrap();
    n.normalize_item(&root, first, &mut Collect::default())
        .unwrap();
    let mut hints = ResourceHints::new("t");
    hints.schema_contract = Some(SchemaContract::parse(contract).unwrap());
    let mut n = Normalizer::new(n.into_schema(), "2", 63);
    let root = n.apply_hints(&hints).unwrap();
    let mut sink = Collect::default();
    for item in then {
        n.normalize_item(&root, item, &mut sink)
            .map_err(|e| e.to_string())?;
    }
    let schema = n.schema();
    Ok(sink
        .0
        .iter()
        .map(|(table, row)| {
            let t = schema.table(table).unwrap();
            let values: Vec<String> = row
                .values
                .iter()
                .filter(|(i, _)| !t.columns[*i].name.starts_with("_dlt"))
                .map(|(i, v)| match v {
                    Value::Text(s) => format!("{}={s}", t.columns[*i].name),
                    Value::Int(x) => format!("{}={x}", t.columns[*i].name),
                    other => format!("{}={other:?}", t.columns[*i].name),
                })
                .collect();
            format!("{table}: {}", values.join(" "))
        })
        .collect())
}

fn first() -> Json {
    json!({"id": 1, "n": 5, "items": [{"sku": "a"}]})
}

#[test]
fn a_discarded_row_leaves_out_its_nested_rows() {
    let got = second_load(
        first(),
        vec![
            json!({"id": 2, "n": 6, "new": "x", "items": [{"sku": "b"}]}),
            json!({"id": 3, "n": 7, "items": [{"sku": "c", "qty": 1}]}),
        ],
        r#"{"columns": "discard_row"}"#,
    )
    .unwrap();
    // row 3 loads; its nested row with the new `qty` does not
    assert_eq!(got, ["t: id=3 n=7"]);
}

#[test]
fn discard_value_keeps_the_row_without_the_value() {
    let got = second_load(
        first(),
        vec![json!({"id": 2, "n": "many", "new": "x"})],
        r#"{"columns": "discard_value", "data_type": "discard_value"}"#,
    )
    .unwrap();
    assert_eq!(got, ["t: id=2"]);
}

#[test]
fn freeze_names_the_table_column_and_value() {
    let e = second_load(first(), vec![json!({"id": 2, "n": "many"})], "freeze").unwrap_err();
    assert!(
        e.contains("table `t`")
            && e.contains("`n__v_text`")
            && e.contains("\"many\"")
            && e.contains("data_type: freeze"),
        "{e}"
    );
    let e = second_load(first(), vec![json!({"id": 2, "tags": [1]})], "freeze").unwrap_err();
    assert!(e.contains("table `t__tags`: new table"), "{e}");
}

#[test]
fn a_new_nested_table_is_left_out() {
    let got = second_load(
        first(),
        vec![json!({"id": 2, "tags": ["x", "y"], "items": [{"sku": "b"}]})],
        r#"{"tables": "discard_value"}"#,
    )
    .unwrap();
    assert_eq!(got, ["t: id=2", "t__items: sku=b"]);
}
