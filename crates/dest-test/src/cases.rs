//! The cases. Each runs in its own dataset with its own pipeline, loads through the public
//! pipeline API and reads the outcome back with SQL the harness answers. Expected values
//! are dlt's (`dlt-behaviour.md`; section numbers in the comments).

use dest_core::DispositionKind;
use pipeline::{PipelineError, Resource};
use serde_json::{json, Value};

use crate::{naming, Ctx, Harness};

/// Runs the case named `case` (one of [`crate::CASES`]).
pub async fn run(h: &dyn Harness, case: &str) {
    match case {
        "append" => append(h).await,
        "replace_truncate_and_insert" => replace_truncate_and_insert(h).await,
        "replace_insert_from_staging" => replace_insert_from_staging(h).await,
        "replace_staging_optimized" => replace_staging_optimized(h).await,
        "merge_delete_insert" => merge_delete_insert(h).await,
        "merge_dedup_sort" => merge_dedup_sort(h).await,
        "merge_hard_delete" => merge_hard_delete(h).await,
        "merge_key" => merge_key(h).await,
        "merge_without_keys" => merge_without_keys(h).await,
        "upsert" => upsert(h).await,
        "scd2" => scd2(h).await,
        "schema_evolution" => schema_evolution(h).await,
        "variant_columns" => variant_columns(h).await,
        "child_tables" => child_tables(h).await,
        "unicode_and_reserved_names" => unicode_and_reserved_names(h).await,
        "identifiers_at_length_limit" => identifiers_at_length_limit(h).await,
        "table_names_at_length_limit" => table_names_at_length_limit(h).await,
        "rerun" => rerun(h).await,
        "pending_package" => pending_package(h).await,
        "empty_load" => empty_load(h).await,
        "system_tables" => system_tables(h).await,
        "file_formats" => file_formats(h).await,
        other => panic!("no case named {other}; cases: {:?}", crate::CASES),
    }
}

// ---------------------------------------------------------------------------------------
// helpers

/// Rows as the harness renders them, for comparisons.
fn rows(want: &[&[&str]]) -> Vec<Vec<String>> {
    want.iter()
        .map(|r| r.iter().map(|v| v.to_string()).collect())
        .collect()
}

fn names(want: &[&str]) -> Vec<String> {
    want.iter().map(|v| v.to_string()).collect()
}

/// A resource of `items` into `table` with a disposition and strategy by dlt's names.
fn res(table: &str, disposition: &str, strategy: Option<&str>, items: Vec<Value>) -> Resource {
    match Resource::new(table, items).write_disposition(disposition, strategy) {
        Ok(r) => r,
        Err(e) => panic!("disposition {disposition} {strategy:?}: {e}"),
    }
}

fn hints(r: Resource, spec: Value) -> Resource {
    match r.columns_json(&spec) {
        Ok(r) => r,
        Err(e) => panic!("column hints {spec}: {e}"),
    }
}

/// `err` is the destination's clear capability error for `what`, raised before anything
/// was loaded.
async fn assert_unsupported(cx: &Ctx<'_>, err: &PipelineError, what: &str, table: &str) {
    let msg = err.to_string();
    assert!(
        matches!(err, PipelineError::Destination(e)
            if matches!(**e, dest_core::Error::Unsupported { .. })),
        "{}: {what} is not in the capabilities; the run must fail with the capability error, got: {msg}",
        cx.case
    );
    assert!(
        msg.contains(what) && msg.contains("not supported by destination"),
        "{}: the capability error must name {what}: {msg}",
        cx.case
    );
    assert!(
        cx.col_names(table).await.is_empty(),
        "{}: an unsupported disposition must load nothing, but table {table} exists",
        cx.case
    );
}

/// Skips a case whose disposition the destination does not support, after checking that
/// using it fails with the capability error. Returns true when the case goes on.
async fn supported_or_refused(cx: &mut Ctx<'_>, kind: DispositionKind, strategy: &str) -> bool {
    if cx.supports(kind, strategy) {
        return true;
    }
    let r = res(
        "refused",
        kind.as_str(),
        Some(strategy),
        vec![json!({"id": 1})],
    )
    .primary_key(["id"]);
    let err = cx.run_err(vec![r]).await;
    let what = if cx.caps.write_dispositions.contains(&kind) {
        format!("strategy `{strategy}`")
    } else {
        format!("write disposition `{}`", kind.as_str())
    };
    assert_unsupported(cx, &err, &what, "refused").await;
    eprintln!(
        "dest-test: {}: {} `{strategy}` is not supported by {}; checked the capability error instead",
        cx.case,
        kind.as_str(),
        cx.h.destination()
    );
    false
}

// ---------------------------------------------------------------------------------------
// append

/// append (§6.1): two runs of the same rows → the rows twice, each with its own `_dlt_id`,
/// each run's rows with its load id; columns in dlt's order.
pub async fn append(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "append").await;
    let items = || vec![json!({"id": 1, "name": "a"}), json!({"id": 2, "name": "b"})];
    let first = cx.run(vec![Resource::new("items", items())]).await;
    assert_eq!(first.packages.len(), 1, "one package per run");
    cx.run(vec![Resource::new("items", items())]).await;
    let t = cx.t("items");
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {t} ORDER BY {}, {}",
            cx.cols("id, name"),
            cx.q("id"),
            cx.q("_dlt_load_id")
        ))
        .await,
        rows(&[&["1", "a"], &["1", "a"], &["2", "b"], &["2", "b"]])
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT count(DISTINCT {}), count(DISTINCT {}) FROM {t}",
            cx.q("_dlt_id"),
            cx.q("_dlt_load_id")
        ))
        .await,
        rows(&[&["4", "2"]]),
        "every row its own _dlt_id, every run its own load id"
    );
    assert_eq!(
        cx.col_names("items").await,
        names(&["id", "name", "_dlt_load_id", "_dlt_id"])
    );
    cx.check_loads(&["items"]).await;
}

// ---------------------------------------------------------------------------------------
// replace

/// replace / truncate-and-insert (§6.2, §12.15, §12.16).
pub async fn replace_truncate_and_insert(h: &dyn Harness) {
    replace_with(h, "replace_truncate_and_insert", "truncate-and-insert").await;
}

/// replace / insert-from-staging (§6.2, §12.17).
pub async fn replace_insert_from_staging(h: &dyn Harness) {
    replace_with(h, "replace_insert_from_staging", "insert-from-staging").await;
}

/// replace / staging-optimized (§6.2, §12.18).
pub async fn replace_staging_optimized(h: &dyn Harness) {
    replace_with(h, "replace_staging_optimized", "staging-optimized").await;
}

/// Each run replaces the whole chain: the root and the nested tables, also nested tables
/// the new rows have nothing for, and a run of no rows empties them all.
async fn replace_with(h: &dyn Harness, case: &str, strategy: &str) {
    let mut cx = Ctx::new(h, case).await;
    if !supported_or_refused(&mut cx, DispositionKind::Replace, strategy).await {
        return;
    }
    let rep = |items: Vec<Value>| res("rep", "replace", Some(strategy), items);
    let (t, items_t) = (cx.t("rep"), cx.t("rep__items"));
    let ids = format!("SELECT {} FROM {t} ORDER BY {}", cx.q("id"), cx.q("id"));
    let values = format!(
        "SELECT {} FROM {items_t} ORDER BY {}",
        cx.q("value"),
        cx.q("value")
    );

    cx.run(vec![rep(vec![
        json!({"id": 1, "items": [1, 2]}),
        json!({"id": 2}),
    ])])
    .await;
    assert_eq!(cx.rows(&ids).await, rows(&[&["1"], &["2"]]));
    assert_eq!(cx.rows(&values).await, rows(&[&["1"], &["2"]]));

    cx.run(vec![rep(vec![json!({"id": 3})])]).await;
    assert_eq!(cx.rows(&ids).await, rows(&[&["3"]]));
    assert_eq!(
        cx.rows(&values).await,
        rows(&[]),
        "the nested table is part of the replaced chain though this load has no rows for it"
    );

    let info = cx.run(vec![rep(vec![])]).await;
    assert_eq!(
        info.packages.len(),
        1,
        "a resource without items still makes a load"
    );
    assert_eq!(
        cx.rows(&ids).await,
        rows(&[]),
        "replacing with nothing empties the table"
    );
    assert_eq!(cx.rows(&values).await, rows(&[]));

    cx.run(vec![rep(vec![json!({"id": 4, "items": [7]})])])
        .await;
    assert_eq!(cx.rows(&ids).await, rows(&[&["4"]]));
    assert_eq!(
        cx.rows(&format!(
            "SELECT i.{v}, r.{id} FROM {items_t} i JOIN {t} r ON r.{rid} = i.{pid}",
            v = cx.q("value"),
            id = cx.q("id"),
            rid = cx.q("_dlt_id"),
            pid = cx.q("_dlt_parent_id"),
        ))
        .await,
        rows(&[&["7", "4"]])
    );
    assert_eq!(
        cx.col_names("rep").await,
        names(&["id", "_dlt_load_id", "_dlt_id"])
    );

    // a replacing load that brings a new column and a new nested table
    cx.run(vec![rep(vec![
        json!({"id": 5, "extra": "e", "items": [8], "more": [{"m": 1}]}),
    ])])
    .await;
    assert_eq!(
        cx.rows(&format!("SELECT {} FROM {t}", cx.cols("id, extra")))
            .await,
        rows(&[&["5", "e"]])
    );
    assert_eq!(cx.rows(&values).await, rows(&[&["8"]]));
    assert_eq!(cx.count("rep__more", "").await, 1);
    cx.run(vec![rep(vec![json!({"id": 6})])]).await;
    assert_eq!(cx.rows(&ids).await, rows(&[&["6"]]));
    assert_eq!(cx.count("rep__items", "").await, 0);
    assert_eq!(
        cx.count("rep__more", "").await,
        0,
        "a nested table added by a later load is part of the chain too"
    );
    cx.check_loads(&["rep"]).await;
}

// ---------------------------------------------------------------------------------------
// merge

/// merge / delete-insert with a primary key and nested tables (§6.3, §12.19, §12.21):
/// duplicates in a batch are deduplicated, existing keys are replaced with their nested
/// rows, new keys inserted, the same batch again changes nothing.
pub async fn merge_delete_insert(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "merge_delete_insert").await;
    if !supported_or_refused(&mut cx, DispositionKind::Merge, "delete-insert").await {
        return;
    }
    let di =
        |items: Vec<Value>| res("di", "merge", Some("delete-insert"), items).primary_key(["id"]);
    let (t, child) = (cx.t("di"), cx.t("di__child"));
    let root_rows = format!(
        "SELECT {} FROM {t} ORDER BY {}",
        cx.cols("id, name"),
        cx.q("id")
    );
    let child_rows = format!(
        "SELECT r.{id}, c.{v} FROM {child} c JOIN {t} r ON r.{rid} = c.{root} \
         ORDER BY r.{id}, c.{idx}",
        id = cx.q("id"),
        v = cx.q("value"),
        rid = cx.q("_dlt_id"),
        root = cx.q("_dlt_root_id"),
        idx = cx.q("_dlt_list_idx"),
    );

    cx.run(vec![di(vec![
        json!({"id": 1, "name": "row1", "child": [1, 2, 3]}),
        json!({"id": 1, "name": "row2", "child": [4, 5, 6]}),
        json!({"id": 2, "name": "x", "child": [7]}),
    ])])
    .await;
    let got = cx.rows(&root_rows).await;
    assert_eq!(got.len(), 2, "one row per primary key: {got:?}");
    let survivor = got[0][1].clone();
    let want_children: &[&[&str]] = match survivor.as_str() {
        "row1" => &[&["1", "1"], &["1", "2"], &["1", "3"], &["2", "7"]],
        "row2" => &[&["1", "4"], &["1", "5"], &["1", "6"], &["2", "7"]],
        other => panic!("unexpected survivor {other}"),
    };
    assert_eq!(
        cx.rows(&child_rows).await,
        rows(want_children),
        "the nested rows are those of the surviving duplicate"
    );
    assert_eq!(
        cx.col_names("di__child").await,
        names(&[
            "value",
            "_dlt_root_id",
            "_dlt_parent_id",
            "_dlt_list_idx",
            "_dlt_id"
        ]),
        "nested tables of delete-insert carry _dlt_root_id (§3.4)"
    );

    let update = || {
        di(vec![
            json!({"id": 1, "name": "new", "child": [9]}),
            json!({"id": 3, "name": "c"}),
        ])
    };
    cx.run(vec![update()]).await;
    let want_root = rows(&[&["1", "new"], &["2", "x"], &["3", "c"]]);
    let want_child = rows(&[&["1", "9"], &["2", "7"]]);
    assert_eq!(cx.rows(&root_rows).await, want_root);
    assert_eq!(
        cx.rows(&child_rows).await,
        want_child,
        "old nested rows of a replaced key are deleted"
    );

    cx.run(vec![update()]).await;
    assert_eq!(
        cx.rows(&root_rows).await,
        want_root,
        "the same batch again changes nothing"
    );
    assert_eq!(cx.rows(&child_rows).await, want_child);
    assert_eq!(
        cx.count(
            "di__child",
            &format!(
                "{} NOT IN (SELECT {} FROM {t})",
                cx.q("_dlt_root_id"),
                cx.q("_dlt_id")
            )
        )
        .await,
        0,
        "no orphaned nested rows"
    );
    cx.check_loads(&["di"]).await;
}

/// merge / delete-insert with `dedup_sort` (§6.3, §12.20): within a batch the row that
/// sorts first by the hint survives (`desc`: the largest, `asc`: the smallest).
pub async fn merge_dedup_sort(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "merge_dedup_sort").await;
    if !supported_or_refused(&mut cx, DispositionKind::Merge, "delete-insert").await {
        return;
    }
    let batch = || {
        vec![
            json!({"id": 1, "v": "a", "ts": 1}),
            json!({"id": 2, "v": "b", "ts": 1}),
            json!({"id": 1, "v": "a2", "ts": 2}),
        ]
    };
    let sorted = |table: &str, order: &str, items: Vec<Value>| {
        hints(
            res(table, "merge", None, items).primary_key(["id"]),
            json!({"ts": {"dedup_sort": order}}),
        )
    };
    cx.run(vec![
        sorted("dd_desc", "desc", batch()),
        sorted("dd_asc", "asc", batch()),
    ])
    .await;
    let q = |cx: &Ctx<'_>, table: &str| {
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            cx.cols("id, v"),
            cx.t(table),
            cx.q("id")
        )
    };
    assert_eq!(
        cx.rows(&q(&cx, "dd_desc")).await,
        rows(&[&["1", "a2"], &["2", "b"]])
    );
    assert_eq!(
        cx.rows(&q(&cx, "dd_asc")).await,
        rows(&[&["1", "a"], &["2", "b"]])
    );

    cx.run(vec![sorted(
        "dd_desc",
        "desc",
        vec![
            json!({"id": 1, "v": "newest", "ts": 9}),
            json!({"id": 1, "v": "older", "ts": 0}),
        ],
    )])
    .await;
    assert_eq!(
        cx.rows(&q(&cx, "dd_desc")).await,
        rows(&[&["1", "newest"], &["2", "b"]])
    );
    cx.check_loads(&["dd_desc", "dd_asc"]).await;
}

/// merge / delete-insert with a `hard_delete` column (§6.3, §12.23): a flagged row deletes
/// its key (and the key's nested rows) and is not inserted itself; `false` or NULL in a
/// bool column is no delete; any value in a column of another type is one.
pub async fn merge_hard_delete(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "merge_hard_delete").await;
    if !supported_or_refused(&mut cx, DispositionKind::Merge, "delete-insert").await {
        return;
    }
    let hd = |items: Vec<Value>| {
        hints(
            res("hd", "merge", None, items).primary_key(["id"]),
            json!({"deleted": {"hard_delete": true}}),
        )
    };
    let hd_text = |items: Vec<Value>| {
        hints(
            res("hd_text", "merge", None, items).primary_key(["id"]),
            json!({"deleted_by": {"hard_delete": true}}),
        )
    };
    let (t, items_t) = (cx.t("hd"), cx.t("hd__items"));
    let root_rows = format!(
        "SELECT {} FROM {t} ORDER BY {}",
        cx.cols("id, val"),
        cx.q("id")
    );
    let child_rows = format!(
        "SELECT {} FROM {items_t} ORDER BY {}",
        cx.q("value"),
        cx.q("value")
    );

    cx.run(vec![
        hd(vec![
            json!({"id": 1, "val": "foo", "items": [1]}),
            json!({"id": 2, "val": "bar", "items": [2]}),
            json!({"id": 3, "val": "baz"}),
        ]),
        hd_text(vec![json!({"id": 1}), json!({"id": 2})]),
    ])
    .await;
    assert_eq!(
        cx.rows(&root_rows).await,
        rows(&[&["1", "foo"], &["2", "bar"], &["3", "baz"]])
    );

    cx.run(vec![
        hd(vec![
            json!({"id": 1, "deleted": true}),
            json!({"id": 4, "val": "never", "deleted": true}),
        ]),
        hd_text(vec![json!({"id": 1, "deleted_by": "admin"})]),
    ])
    .await;
    assert_eq!(
        cx.rows(&root_rows).await,
        rows(&[&["2", "bar"], &["3", "baz"]]),
        "a flagged row deletes its key and is not inserted itself"
    );
    assert_eq!(
        cx.rows(&child_rows).await,
        rows(&[&["2"]]),
        "the nested rows of a deleted key go too"
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            cx.q("id"),
            cx.t("hd_text"),
            cx.q("id")
        ))
        .await,
        rows(&[&["2"]]),
        "any value in a hard_delete column that is not bool deletes"
    );

    cx.run(vec![hd(vec![
        json!({"id": 2, "val": "bar2", "deleted": null}),
        json!({"id": 3, "val": "kept", "deleted": false}),
    ])])
    .await;
    assert_eq!(
        cx.rows(&root_rows).await,
        rows(&[&["2", "bar2"], &["3", "kept"]]),
        "NULL and false are not deletes"
    );
    assert_eq!(
        cx.count("hd", &format!("{} IS NULL", cx.q("deleted")))
            .await,
        1
    );
    cx.check_loads(&["hd", "hd_text"]).await;
}

/// merge / delete-insert with a `merge_key` and no primary key (§6.3, §12.22): every row
/// whose key is in the batch is deleted, all rows of the batch are inserted (no dedup).
pub async fn merge_key(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "merge_key").await;
    if !supported_or_refused(&mut cx, DispositionKind::Merge, "delete-insert").await {
        return;
    }
    let mk = |items: Vec<Value>| res("mk", "merge", None, items).merge_key(["day"]);
    let all = format!(
        "SELECT {} FROM {} ORDER BY {}, {}",
        cx.cols("day, v"),
        cx.t("mk"),
        cx.q("day"),
        cx.q("v")
    );
    cx.run(vec![mk(vec![
        json!({"day": 1, "v": 1}),
        json!({"day": 1, "v": 2}),
        json!({"day": 2, "v": 9}),
    ])])
    .await;
    assert_eq!(
        cx.rows(&all).await,
        rows(&[&["1", "1"], &["1", "2"], &["2", "9"]]),
        "no dedup by merge key"
    );
    cx.run(vec![mk(vec![json!({"day": 1, "v": 3})])]).await;
    assert_eq!(
        cx.rows(&all).await,
        rows(&[&["1", "3"], &["2", "9"]]),
        "the day in the batch is replaced, the other one kept"
    );
    cx.check_loads(&["mk"]).await;
}

/// merge without any key (§6.3 (c), §12.24): behaves like append.
pub async fn merge_without_keys(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "merge_without_keys").await;
    if !supported_or_refused(&mut cx, DispositionKind::Merge, "delete-insert").await {
        return;
    }
    let nk = || res("nk", "merge", None, vec![json!({"a": 1, "l": ["x"]})]);
    cx.run(vec![nk()]).await;
    cx.run(vec![nk()]).await;
    assert_eq!(cx.count("nk", "").await, 2, "two identical loads, two rows");
    assert_eq!(cx.count("nk__l", "").await, 2);
    cx.check_loads(&["nk"]).await;
}

/// merge / upsert (§6.4, §12.25, §12.26): the key-hash `_dlt_id`s of dlt, updates and
/// inserts by primary key, nested rows merged on `_dlt_id` and removed when a list
/// shrinks, hard deletes, columns missing from an update set to NULL; no primary key is
/// an error before anything loads.
pub async fn upsert(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "upsert").await;
    if !supported_or_refused(&mut cx, DispositionKind::Merge, "upsert").await {
        return;
    }
    let up = |items: Vec<Value>| {
        hints(
            res("up", "merge", Some("upsert"), items).primary_key(["id"]),
            json!({"deleted": {"hard_delete": true}}),
        )
    };
    let (t, items_t) = (cx.t("up"), cx.t("up__items"));
    let root_rows = format!(
        "SELECT {} FROM {t} ORDER BY {}",
        cx.cols("id, v, _dlt_id"),
        cx.q("id")
    );
    let child_rows = format!(
        "SELECT r.{id}, c.{v}, c.{cid} FROM {items_t} c JOIN {t} r ON r.{rid} = c.{root} \
         ORDER BY r.{id}, c.{idx}",
        id = cx.q("id"),
        v = cx.q("value"),
        cid = cx.q("_dlt_id"),
        rid = cx.q("_dlt_id"),
        root = cx.q("_dlt_root_id"),
        idx = cx.q("_dlt_list_idx"),
    );

    cx.run(vec![up(vec![
        json!({"id": 1, "v": "a", "items": [1, 2]}),
        json!({"id": 2, "v": "b", "items": [3]}),
    ])])
    .await;
    assert_eq!(
        cx.rows(&root_rows).await,
        rows(&[&["1", "a", "z5jIxXIbUnmbKw"], &["2", "b", "M6/KlLzJ2FeV/w"]]),
        "root _dlt_id is dlt's key hash"
    );
    assert_eq!(cx.count("up__items", "").await, 3);

    cx.run(vec![up(vec![
        json!({"id": 1, "v": "a2", "items": [5]}),
        json!({"id": 2, "deleted": true}),
        json!({"id": 3, "v": "c"}),
    ])])
    .await;
    assert_eq!(
        cx.rows(&root_rows).await,
        rows(&[
            &["1", "a2", "z5jIxXIbUnmbKw"],
            &["3", "c", "hKdQ/VhGat+Pgw"]
        ]),
        "key 1 updated, key 2 hard-deleted, key 3 inserted"
    );
    assert_eq!(
        cx.rows(&child_rows).await,
        rows(&[&["1", "5", "s3RohhotJhngsw"]]),
        "the list of key 1 shrank to one element (dlt's nested _dlt_id), key 2's went with it"
    );
    assert_eq!(
        cx.count("up__items", "").await,
        1,
        "no orphaned nested rows"
    );

    cx.run(vec![up(vec![json!({"id": 3})])]).await;
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {t} WHERE {} = 3",
            cx.cols("id, v"),
            cx.q("id")
        ))
        .await,
        rows(&[&["3", "NULL"]]),
        "an upsert writes every column: one missing from the item becomes NULL (§6.4)"
    );

    let err = cx
        .run_err(vec![res(
            "up_no_key",
            "merge",
            Some("upsert"),
            vec![json!({"id": 1})],
        )])
        .await;
    assert!(
        err.to_string().contains("primary key"),
        "upsert without a primary key: {err}"
    );
    assert!(cx.col_names("up_no_key").await.is_empty());
    cx.check_loads(&["up"]).await;
}

/// merge / scd2 (§6.6, §12.27): dlt's row hashes as `_dlt_id`, validity columns first,
/// a changed record retires its old version at the boundary where the new one starts,
/// a missing record is retired, unchanged records stay; nested tables without
/// `_dlt_root_id`.
pub async fn scd2(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "scd2").await;
    if !supported_or_refused(&mut cx, DispositionKind::Merge, "scd2").await {
        return;
    }
    let dim = |table: &str, items: Vec<Value>| res(table, "merge", Some("scd2"), items);
    let t = cx.t("scd");
    let versions = format!(
        "SELECT {nk}, {id}, CASE WHEN {to} IS NULL THEN 'active' ELSE 'retired' END \
         FROM {t} ORDER BY {nk}, {from}, {id}",
        nk = cx.q("nk"),
        id = cx.q("_dlt_id"),
        to = cx.q("_dlt_valid_to"),
        from = cx.q("_dlt_valid_from"),
    );

    cx.run(vec![
        dim(
            "scd",
            vec![
                json!({"nk": 1, "c1": "foo", "c2": {"nc1": "foo"}}),
                json!({"nk": 2, "c1": "bar", "c2": {"nc1": "bar"}}),
            ],
        ),
        dim("dim", vec![json!({"c1": "foo", "l": [{"a": 1}], "nk": 1})]),
    ])
    .await;
    assert_eq!(
        cx.rows(&versions).await,
        rows(&[
            &["1", "OTPbGyxWlJzmpA", "active"],
            &["2", "S41QIpRa9Fwh0w", "active"]
        ])
    );
    assert_eq!(
        cx.count("scd", &format!("{} IS NULL", cx.q("_dlt_valid_from")))
            .await,
        0,
        "valid_from is set"
    );
    assert_eq!(
        cx.col_names("scd").await,
        names(&[
            "_dlt_valid_from",
            "_dlt_valid_to",
            "nk",
            "c1",
            "c2__nc1",
            "_dlt_load_id",
            "_dlt_id"
        ]),
        "validity columns first (§3.12)"
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT r.{id}, c.{id}, c.{a} FROM {c} c JOIN {r} r ON r.{id} = c.{pid}",
            id = cx.q("_dlt_id"),
            a = cx.q("a"),
            pid = cx.q("_dlt_parent_id"),
            c = cx.t("dim__l"),
            r = cx.t("dim"),
        ))
        .await,
        rows(&[&["b5nmCsxYNyddmw", "VXFFE3ae2lSSFA", "1"]]),
        "dlt's row hash and nested id"
    );
    assert_eq!(
        cx.col_names("dim__l").await,
        names(&["a", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]),
        "no _dlt_root_id in nested tables of scd2"
    );

    cx.run(vec![dim(
        "scd",
        vec![
            json!({"nk": 1, "c1": "foo", "c2": {"nc1": "foo_🚀updated"}}),
            json!({"nk": 2, "c1": "bar", "c2": {"nc1": "bar"}}),
        ],
    )])
    .await;
    assert_eq!(
        cx.rows(&versions).await,
        rows(&[
            &["1", "OTPbGyxWlJzmpA", "retired"],
            &["1", "Z/zzrOzuLRhhWw", "active"],
            &["2", "S41QIpRa9Fwh0w", "active"]
        ]),
        "a changed record retires its old version"
    );
    assert_eq!(
        cx.value(&format!(
            "SELECT count(*) FROM {t} a JOIN {t} b ON a.{to} = b.{from} \
             WHERE a.{id} = 'OTPbGyxWlJzmpA' AND b.{id} = 'Z/zzrOzuLRhhWw' AND a.{from} < b.{from}",
            to = cx.q("_dlt_valid_to"),
            from = cx.q("_dlt_valid_from"),
            id = cx.q("_dlt_id"),
        ))
        .await,
        "1",
        "the old version ends where the new one starts, after it began"
    );
    assert_eq!(
        cx.value(&format!(
            "SELECT {} FROM {t} WHERE {} = 'Z/zzrOzuLRhhWw'",
            cx.q("c2__nc1"),
            cx.q("_dlt_id")
        ))
        .await,
        "foo_🚀updated"
    );

    cx.run(vec![dim(
        "scd",
        vec![json!({"nk": 1, "c1": "foo", "c2": {"nc1": "foo_🚀updated"}})],
    )])
    .await;
    assert_eq!(
        cx.rows(&versions).await,
        rows(&[
            &["1", "OTPbGyxWlJzmpA", "retired"],
            &["1", "Z/zzrOzuLRhhWw", "active"],
            &["2", "S41QIpRa9Fwh0w", "retired"]
        ]),
        "a record missing from the snapshot is retired"
    );
    cx.check_loads(&["scd", "dim"]).await;
}

// ---------------------------------------------------------------------------------------
// schema

/// Schema evolution (§4.4, §12.2, §12.10): new columns and a new nested table in later
/// runs are added (old rows NULL), with the types of like columns; a column that only
/// ever had NULL is not created; the same shape again stores no new schema version.
pub async fn schema_evolution(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "schema_evolution").await;
    let people = |items: Vec<Value>| Resource::new("people", items);
    cx.run(vec![people(vec![
        json!({"id": 1, "name": "a", "later": null}),
    ])])
    .await;
    assert_eq!(
        cx.col_names("people").await,
        names(&["id", "name", "_dlt_load_id", "_dlt_id"]),
        "a column with only NULL values is not created"
    );
    cx.run(vec![people(vec![json!({
        "id": 2, "name": "b", "email": "x@y.z", "age": 30, "meta": {"k": "v"}, "later": "now"
    })])])
    .await;
    let cols = cx.col_names("people").await;
    assert_eq!(
        cols[..4],
        names(&["id", "name", "_dlt_load_id", "_dlt_id"]),
        "new columns are appended"
    );
    let mut added = cols[4..].to_vec();
    added.sort();
    assert_eq!(added, names(&["age", "email", "later", "meta__k"]));
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            cx.cols("id, name, email, age, later, meta__k"),
            cx.t("people"),
            cx.q("id")
        ))
        .await,
        rows(&[
            &["1", "a", "NULL", "NULL", "NULL", "NULL"],
            &["2", "b", "x@y.z", "30", "now", "v"]
        ])
    );
    assert_eq!(
        cx.col_type("people", "email").await,
        cx.col_type("people", "name").await
    );
    assert_eq!(
        cx.col_type("people", "age").await,
        cx.col_type("people", "id").await
    );

    cx.run(vec![people(vec![json!({"id": 3, "tags": ["t1", "t2"]})])])
        .await;
    assert_eq!(cx.count("people__tags", "").await, 2, "a new nested table");
    let versions = cx.count("_dlt_version", "").await;
    assert_eq!(versions, 3, "one stored schema version per change");

    cx.run(vec![people(vec![
        json!({"id": 4, "name": "d", "tags": ["t3"]}),
    ])])
    .await;
    assert_eq!(
        cx.count("_dlt_version", "").await,
        versions,
        "the same shape again stores no new schema version"
    );
    assert_eq!(cx.count("people", "").await, 4);

    // a staged (merge) chain that gains a column and a nested table (§12.32)
    if cx.supports(DispositionKind::Merge, "delete-insert") {
        let m = |items: Vec<Value>| res("evo_merge", "merge", None, items).primary_key(["id"]);
        cx.run(vec![m(vec![
            json!({"id": 1, "a": "x"}),
            json!({"id": 2, "a": "y"}),
        ])])
        .await;
        cx.run(vec![m(vec![
            json!({"id": 1, "a": "x2", "b": 5, "l": [1, 2]}),
        ])])
        .await;
        cx.run(vec![m(vec![
            json!({"id": 2, "a": "y2", "c": "new", "l": [3]}),
        ])])
        .await;
        assert_eq!(
            cx.rows(&format!(
                "SELECT {} FROM {} ORDER BY {}",
                cx.cols("id, a, b, c"),
                cx.t("evo_merge"),
                cx.q("id")
            ))
            .await,
            rows(&[&["1", "x2", "5", "NULL"], &["2", "y2", "NULL", "new"]])
        );
        assert_eq!(cx.count("evo_merge__l", "").await, 3);
    }
    cx.check_loads(&["people"]).await;
}

/// Variant columns (§3.8, §12.11): a value that cannot be coerced into the column's type
/// goes to `<col>__v_<type>`; one that can is coerced (an int into a text column, `"7"` into
/// a double, `2.0` into a bigint) and makes no variant. Across runs and within one batch.
pub async fn variant_columns(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "variant_columns").await;
    let v = |items: Vec<Value>| Resource::new("var", items);
    cx.run(vec![v(vec![
        json!({"id": 1, "n": 1, "s": "abc", "f": true, "d": 1.5}),
    ])])
    .await;
    cx.run(vec![v(vec![
        json!({"id": 2, "n": "not-an-int", "s": 5, "f": "abc", "d": "7"}),
        json!({"id": 3, "n": 2.0, "m": 1}),
        json!({"id": 4, "m": "x"}),
        json!({"id": 5, "n": 2.5}),
    ])])
    .await;
    let cols = cx.col_names("var").await;
    for want in ["n__v_text", "f__v_text", "m__v_text", "n__v_double"] {
        assert!(
            cols.contains(&want.to_string()),
            "variant column {want} missing: {cols:?}"
        );
    }
    for unwanted in ["s__v_bigint", "d__v_text", "n__v_bigint"] {
        assert!(
            !cols.contains(&unwanted.to_string()),
            "{unwanted}: the value coerces, dlt makes no variant: {cols:?}"
        );
    }
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            cx.cols("id, n, n__v_text, s, f__v_text, m, m__v_text"),
            cx.t("var"),
            cx.q("id")
        ))
        .await,
        rows(&[
            &["1", "1", "NULL", "abc", "NULL", "NULL", "NULL"],
            &["2", "NULL", "not-an-int", "5", "abc", "NULL", "NULL"],
            &["3", "2", "NULL", "NULL", "NULL", "1", "NULL"],
            &["4", "NULL", "NULL", "NULL", "NULL", "NULL", "x"],
            &["5", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"],
        ])
    );
    let t = cx.t("var");
    assert_eq!(
        cx.value(&format!(
            "SELECT {} FROM {t} WHERE {} = 2.5",
            cx.q("id"),
            cx.q("n__v_double")
        ))
        .await,
        "5"
    );
    assert_eq!(
        cx.value(&format!(
            "SELECT {} FROM {t} WHERE {} = 7",
            cx.q("id"),
            cx.q("d")
        ))
        .await,
        "2",
        "\"7\" into a double column is 7"
    );
    assert_eq!(
        cx.count("var", &format!("{} IS NULL", cx.q("f"))).await,
        4,
        "f keeps its bool values only"
    );
    let text = cx.col_type("var", "s").await;
    for variant in ["n__v_text", "f__v_text", "m__v_text"] {
        assert_eq!(
            cx.col_type("var", variant).await,
            text,
            "{variant} has the text type"
        );
    }
    assert_eq!(
        cx.col_type("var", "n__v_double").await,
        cx.col_type("var", "d").await,
        "n__v_double has the double type"
    );

    // a variant in a staged (merge) chain
    if cx.supports(DispositionKind::Merge, "delete-insert") {
        let m = |items: Vec<Value>| res("var_merge", "merge", None, items).primary_key(["id"]);
        cx.run(vec![m(vec![json!({"id": 1, "n": 1})])]).await;
        cx.run(vec![m(vec![json!({"id": 1, "n": "x"})])]).await;
        assert_eq!(
            cx.rows(&format!(
                "SELECT {} FROM {}",
                cx.cols("id, n, n__v_text"),
                cx.t("var_merge")
            ))
            .await,
            rows(&[&["1", "NULL", "x"]])
        );
    }
    cx.check_loads(&["var"]).await;
}

/// Child tables (§3.3, §3.4, §12.4–6): lists become `parent__field` tables linked by
/// `_dlt_parent_id` and ordered by `_dlt_list_idx`, each row with its own `_dlt_id`; lists
/// of lists, lists of dicts with lists, mixed lists; empty lists make no table.
pub async fn child_tables(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "child_tables").await;
    cx.run(vec![
        Resource::new(
            "ev",
            vec![
                json!({"id": 1, "user": {"name": "ann"}, "tags": ["a", "b"],
                       "orders": [{"sku": "x", "lines": [{"qty": 2}, {"qty": 3}]}, {"sku": "y"}],
                       "matrix": [[1, 2], [3]], "mixed": [1, "a", null, {"x": 1}]}),
                json!({"id": 2, "user": {"name": "bob"}, "tags": [], "orders": []}),
            ],
        ),
        Resource::new("only_empty", vec![json!({"id": 1, "e": []})]),
    ])
    .await;
    let q = |c: &str| cx.q(c);
    assert_eq!(
        cx.col_names("ev").await,
        names(&["id", "user__name", "_dlt_load_id", "_dlt_id"])
    );
    for (table, data) in [
        ("ev__tags", vec!["value"]),
        ("ev__orders", vec!["sku"]),
        ("ev__orders__lines", vec!["qty"]),
        ("ev__matrix", vec![]),
        ("ev__matrix__list", vec!["value"]),
    ] {
        let mut want = names(&data);
        want.extend(names(&["_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]));
        assert_eq!(cx.col_names(table).await, want, "columns of {table}");
    }
    assert_eq!(
        cx.rows(&format!(
            "SELECT e.{id}, t.{v}, t.{idx} FROM {tags} t JOIN {ev} e ON e.{rid} = t.{pid} \
             ORDER BY t.{idx}",
            id = q("id"),
            v = q("value"),
            idx = q("_dlt_list_idx"),
            rid = q("_dlt_id"),
            pid = q("_dlt_parent_id"),
            tags = cx.t("ev__tags"),
            ev = cx.t("ev"),
        ))
        .await,
        rows(&[&["1", "a", "0"], &["1", "b", "1"]])
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT o.{sku}, l.{qty}, l.{idx} FROM {lines} l JOIN {orders} o ON o.{rid} = l.{pid} \
             JOIN {ev} e ON e.{rid} = o.{pid} ORDER BY l.{idx}",
            sku = q("sku"),
            qty = q("qty"),
            idx = q("_dlt_list_idx"),
            rid = q("_dlt_id"),
            pid = q("_dlt_parent_id"),
            lines = cx.t("ev__orders__lines"),
            orders = cx.t("ev__orders"),
            ev = cx.t("ev"),
        ))
        .await,
        rows(&[&["x", "2", "0"], &["x", "3", "1"]])
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT m.{idx}, l.{v}, l.{idx} FROM {list} l JOIN {matrix} m ON m.{rid} = l.{pid} \
             ORDER BY m.{idx}, l.{idx}",
            v = q("value"),
            idx = q("_dlt_list_idx"),
            rid = q("_dlt_id"),
            pid = q("_dlt_parent_id"),
            list = cx.t("ev__matrix__list"),
            matrix = cx.t("ev__matrix"),
        ))
        .await,
        rows(&[&["0", "1", "0"], &["0", "2", "1"], &["1", "3", "0"]]),
        "a list of lists: an intermediate table and its `list` table"
    );
    assert_eq!(cx.count("ev__mixed", "").await, 4, "mixed list");
    let mixed = cx.col_names("ev__mixed").await;
    for c in ["value", "value__v_text", "x"] {
        assert!(mixed.contains(&c.to_string()), "ev__mixed.{c}: {mixed:?}");
    }
    let all_ids = format!(
        "SELECT count(DISTINCT {id}) FROM (SELECT {id} FROM {a} UNION ALL SELECT {id} FROM {b} \
         UNION ALL SELECT {id} FROM {c}) x",
        id = q("_dlt_id"),
        a = cx.t("ev"),
        b = cx.t("ev__tags"),
        c = cx.t("ev__orders"),
    );
    assert_eq!(cx.value(&all_ids).await, "6", "every row its own _dlt_id");
    assert!(
        cx.col_names("only_empty__e").await.is_empty(),
        "an empty list makes no table"
    );
    cx.check_loads(&["ev", "only_empty"]).await;
}

/// Unicode and reserved names (§3.10): SQL keywords as table and column names, keys with
/// non-ASCII letters and quotes normalized as dlt does, values with emoji, quotes,
/// backslashes, newlines and other scripts read back unchanged.
pub async fn unicode_and_reserved_names(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "unicode_and_reserved_names").await;
    let tricky = "O'Neil \"dq\" back\\slash new\nline\ttab ; -- /* */ %s $1 ?";
    cx.run(vec![
        Resource::new(
            "order",
            vec![json!({
                "select": 1,
                "from": "😀 emoji ✓",
                "ÄÖÜ": "umlaut key",
                "Über": "Ünïcödé 中文 العربية",
                "\"quoted\"": tricky,
                "CustomerID": 7,
                "user": "u",
                "group": {"by": 2},
                "table": ["x", "🚀"],
            })],
        ),
        Resource::new("Übersicht Ä", vec![json!({"where": "ok"})]),
    ])
    .await;
    assert_eq!(
        cx.col_names("order").await,
        names(&[
            "select",
            "from",
            "x",
            "_ber",
            "_quotedx",
            "customer_id",
            "user",
            "group__by",
            "_dlt_load_id",
            "_dlt_id",
        ]),
        "dlt's snake_case: ÄÖÜ → x, Über → _ber, \"quoted\" → _quotedx, CustomerID → customer_id"
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {}",
            cx.cols("select, from, x, _ber, _quotedx, customer_id, user, group__by"),
            cx.t("order")
        ))
        .await,
        rows(&[&[
            "1",
            "😀 emoji ✓",
            "umlaut key",
            "Ünïcödé 中文 العربية",
            tricky,
            "7",
            "u",
            "2"
        ]])
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            cx.q("value"),
            cx.t("order__table"),
            cx.q("_dlt_list_idx")
        ))
        .await,
        rows(&[&["x"], &["🚀"]])
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {}",
            cx.q("where"),
            cx.t("_bersichtx")
        ))
        .await,
        rows(&[&["ok"]]),
        "table `Übersicht Ä` is `_bersichtx`"
    );
    // a second load into the same names (existing reserved columns, no new ones)
    cx.run(vec![Resource::new(
        "order",
        vec![json!({"select": 2, "from": "again", "group": {"by": 3}})],
    )])
    .await;
    assert_eq!(cx.count("order", "").await, 2);
    assert_eq!(cx.col_names("order").await.len(), 10);

    // merge strategies on a table and keys named with SQL keywords
    for (table, strategy) in [
        ("group", "delete-insert"),
        ("user", "upsert"),
        ("limit", "scd2"),
    ] {
        if !cx.supports(DispositionKind::Merge, strategy) {
            continue;
        }
        let r = |items: Vec<Value>| {
            let r = res(table, "merge", Some(strategy), items);
            if strategy == "scd2" {
                r
            } else {
                r.primary_key(["select"])
            }
        };
        cx.run(vec![r(vec![
            json!({"select": "😀", "order": "a", "from": ["x"]}),
            json!({"select": "ü", "order": "b"}),
        ])])
        .await;
        let second = if strategy == "scd2" {
            vec![
                json!({"select": "😀", "order": "a2", "from": ["y"]}),
                json!({"select": "ü", "order": "b"}),
            ]
        } else {
            vec![json!({"select": "😀", "order": "a2", "from": ["y"]})]
        };
        cx.run(vec![r(second)]).await;
        let mut filter = String::new();
        if strategy == "scd2" {
            filter = format!(" WHERE {} IS NULL", cx.q("_dlt_valid_to"));
        }
        assert_eq!(
            cx.rows(&format!(
                "SELECT {} FROM {}{filter} ORDER BY {}",
                cx.cols("select, order"),
                cx.t(table),
                cx.q("order")
            ))
            .await,
            rows(&[&["😀", "a2"], &["ü", "b"]]),
            "{strategy} into `{table}` keyed by `select`"
        );
        if strategy != "scd2" {
            assert_eq!(
                cx.rows(&format!(
                    "SELECT {} FROM {}",
                    cx.q("value"),
                    cx.t(&format!("{table}__from"))
                ))
                .await,
                rows(&[&["y"]])
            );
        }
    }
    cx.check_loads(&["order", "_bersichtx"]).await;
}

/// Column names at the destination's length limit (§3.11, §12.8): a key of exactly the
/// limit stays, longer keys, flattened paths and variant columns are shortened as dlt does
/// (a primary key too, in every merge strategy), load, read back, and load again into the
/// same columns.
pub async fn identifiers_at_length_limit(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "identifiers_at_length_limit").await;
    let max = cx.caps.max_identifier_length;
    assert!(
        max >= 30,
        "the suite assumes identifiers of 30 bytes or more"
    );
    let exact = "k".repeat(max);
    let long = "a".repeat(max + 7);
    let var = "v".repeat(max - 3);
    let (outer, inner) = (
        "outer_object_with_quite_a_long_name",
        "inner_field_with_another_long_name",
    );
    let want_long = naming::shorten(&long, &long, max);
    let want_flat = naming::path(&[outer, inner], max);
    let want_variant = naming::path(&[&var, "v_text"], max);
    if max == 63 {
        // dlt's own vector
        assert_eq!(
            want_long,
            format!("{}mo6cba{}", "a".repeat(29), "a".repeat(28))
        );
    }
    for n in [&want_long, &want_variant] {
        assert_eq!(n.len(), max, "{n} is shortened to the limit");
    }
    assert!(want_flat.len() <= max);

    let lim = |i: i64, v: Value| {
        Resource::new(
            "lim",
            vec![
                json!({"id": i, exact.as_str(): "exact", long.as_str(): "long",
                        outer: {inner: "flat"}, var.as_str(): v}),
            ],
        )
    };
    cx.run(vec![lim(1, json!(1))]).await;
    cx.run(vec![lim(2, json!("text"))]).await;
    let cols = cx.col_names("lim").await;
    for c in [&exact, &want_long, &want_flat, &var, &want_variant] {
        assert!(cols.contains(c), "column {c} missing: {cols:?}");
    }
    assert_eq!(
        cx.rows(&format!(
            "SELECT {}, {}, {}, {}, {} FROM {} ORDER BY {}",
            cx.q("id"),
            cx.q(&exact),
            cx.q(&want_long),
            cx.q(&want_flat),
            cx.q(&want_variant),
            cx.t("lim"),
            cx.q("id")
        ))
        .await,
        rows(&[
            &["1", "exact", "long", "flat", "NULL"],
            &["2", "exact", "long", "flat", "text"]
        ])
    );
    cx.run(vec![lim(3, json!("more"))]).await;
    assert_eq!(
        cx.col_names("lim").await.len(),
        cols.len(),
        "the same long keys load into the same columns"
    );

    // a primary (or natural) key at the limit in staged chains
    let long_key = "p".repeat(max + 4);
    let want_key = naming::shorten(&long_key, &long_key, max);
    for (table, strategy) in [
        ("lk_merge", "delete-insert"),
        ("lk_upsert", "upsert"),
        ("lk_scd2", "scd2"),
    ] {
        if !cx.supports(DispositionKind::Merge, strategy) {
            continue;
        }
        let r = |items: Vec<Value>| {
            let r = res(table, "merge", Some(strategy), items);
            if strategy == "scd2" {
                r
            } else {
                r.primary_key([long_key.as_str()])
            }
        };
        let first = vec![
            json!({long_key.as_str(): 1, "v": "a", "items": [1, 2]}),
            json!({long_key.as_str(): 2, "v": "b"}),
        ];
        let mut second = vec![json!({long_key.as_str(): 1, "v": "a2", "items": [3]})];
        if strategy == "scd2" {
            second.push(json!({long_key.as_str(): 2, "v": "b"}));
        }
        cx.run(vec![r(first)]).await;
        cx.run(vec![r(second)]).await;
        check_merged(&cx, strategy, table, &format!("{table}__items"), &want_key).await;
    }
    cx.check_loads(&["lim"]).await;
}

/// Table names at the destination's length limit (§3.11): a root table name past the
/// limit, nested table paths past it, and staged chains (merge strategies, replace from
/// staging) of such tables, shortened as dlt does, load and read back.
pub async fn table_names_at_length_limit(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "table_names_at_length_limit").await;
    let max = cx.caps.max_identifier_length;
    assert!(
        max >= 30,
        "the suite assumes identifiers of 30 bytes or more"
    );
    let long_table = "t".repeat(max + 5);
    let (parent, child, grandchild) = (
        "parent_table_with_a_long_name",
        "child_list_with_a_long_name",
        "grandchild_list_long",
    );
    let want_table = naming::shorten(&long_table, &long_table, max);
    let want_child = naming::path(&[parent, child], max);
    let want_grandchild = naming::path(&[parent, child, grandchild], max);
    if max == 63 {
        // dlt's own vector
        assert_eq!(
            want_grandchild,
            "parent_table_with_a_long_name0ux7kqg_name__grandchild_list_long"
        );
    }
    assert_eq!(want_table.len(), max);
    assert!(want_child.len() <= max && want_grandchild.len() <= max);

    let nested = |i: i64| json!({"id": i, child: [{"c": i, grandchild: [{"g": i}]}]});
    for i in 1..=2 {
        cx.run(vec![
            Resource::new(&long_table, vec![json!({"id": i})]),
            Resource::new(parent, vec![nested(i)]),
        ])
        .await;
    }
    assert_eq!(cx.count(&want_table, "").await, 2);
    assert_eq!(cx.count(&want_child, "").await, 2);
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            cx.q("g"),
            cx.t(&want_grandchild),
            cx.q("g")
        ))
        .await,
        rows(&[&["1"], &["2"]])
    );

    // staged chains with table names at the limit: staging tables and the destination's
    // helper objects (temporary tables, constraints, indexes) must fit too
    for (letter, strategy) in [("m", "delete-insert"), ("u", "upsert"), ("s", "scd2")] {
        if !cx.supports(DispositionKind::Merge, strategy) {
            continue;
        }
        let table = letter.repeat(max + 2);
        let want_root = naming::shorten(&table, &table, max);
        let want_nested = naming::path(&[&want_root, "items"], max);
        let r = |items: Vec<Value>| {
            let r = res(&table, "merge", Some(strategy), items);
            if strategy == "scd2" {
                r
            } else {
                r.primary_key(["k"])
            }
        };
        let first = vec![
            json!({"k": 1, "v": "a", "items": [1, 2]}),
            json!({"k": 2, "v": "b"}),
        ];
        let mut second = vec![json!({"k": 1, "v": "a2", "items": [3]})];
        if strategy == "scd2" {
            second.push(json!({"k": 2, "v": "b"}));
        }
        cx.run(vec![r(first)]).await;
        cx.run(vec![r(second)]).await;
        check_merged(&cx, strategy, &want_root, &want_nested, "k").await;
    }
    if cx.supports(DispositionKind::Replace, "insert-from-staging") {
        let table = "r".repeat(max + 2);
        let want_root = naming::shorten(&table, &table, max);
        for i in 1..=2 {
            cx.run(vec![res(
                &table,
                "replace",
                Some("insert-from-staging"),
                vec![json!({"id": i, "items": [i]})],
            )])
            .await;
        }
        assert_eq!(
            cx.rows(&format!("SELECT {} FROM {}", cx.q("id"), cx.t(&want_root)))
                .await,
            rows(&[&["2"]])
        );
    }
    cx.check_loads(&[&want_table, parent]).await;
}

/// After loading `{key: 1, v: a, items: [1, 2]}, {key: 2, v: b}` and then
/// `{key: 1, v: a2, items: [3]}` (plus the unchanged key 2 for scd2): the active rows are
/// keys 1 (`a2`) and 2 (`b`), and the nested rows of the active key 1 are `[3]`.
async fn check_merged(cx: &Ctx<'_>, strategy: &str, root: &str, nested: &str, key: &str) {
    let active = if strategy == "scd2" {
        format!(" WHERE {} IS NULL", cx.q("_dlt_valid_to"))
    } else {
        String::new()
    };
    assert_eq!(
        cx.rows(&format!(
            "SELECT {k}, {v} FROM {}{active} ORDER BY {k}",
            cx.t(root),
            k = cx.q(key),
            v = cx.q("v"),
        ))
        .await,
        rows(&[&["1", "a2"], &["2", "b"]]),
        "{strategy} into {root}"
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT n.{val} FROM {} n JOIN {} r ON r.{id} = n.{pid}{active} ORDER BY n.{val}",
            cx.t(nested),
            cx.t(root),
            val = cx.q("value"),
            id = cx.q("_dlt_id"),
            pid = cx.q("_dlt_parent_id"),
        ))
        .await,
        rows(&[&["3"]]),
        "{strategy}: nested table {nested}"
    );
    if strategy != "scd2" {
        assert_eq!(
            cx.count(nested, "").await,
            1,
            "{strategy}: no nested rows left of replaced versions"
        );
    }
}

// ---------------------------------------------------------------------------------------
// re-runs, pending and empty loads, system tables

/// Re-running (§2.8, §12.2): a run with nothing to do loads nothing and records no load;
/// a merge of the same rows again duplicates nothing.
pub async fn rerun(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "rerun").await;
    let merge_supported = cx.supports(DispositionKind::Merge, "delete-insert");
    let data = || {
        let mut r = vec![Resource::new(
            "app",
            vec![json!({"id": 1, "l": [1, 2]}), json!({"id": 2})],
        )];
        if merge_supported {
            r.push(
                res(
                    "mrg",
                    "merge",
                    None,
                    vec![json!({"id": 1, "l": [1, 2]}), json!({"id": 2})],
                )
                .primary_key(["id"]),
            );
        }
        r
    };
    cx.run(data()).await;
    let nothing = cx.run(vec![]).await;
    assert!(
        nothing.packages.is_empty(),
        "a run without resources and nothing pending loads no package"
    );
    cx.run(data()).await;
    assert_eq!(
        cx.count("app", "").await,
        4,
        "append duplicates a re-run (as dlt)"
    );
    if merge_supported {
        assert_eq!(
            cx.count("mrg", "").await,
            2,
            "merge of the same rows again duplicates nothing"
        );
        assert_eq!(cx.count("mrg__l", "").await, 2);
    }
    cx.run(vec![]).await;
    let v = cx.count("_dlt_version", "").await;
    assert_eq!(v, 1, "one schema version for one shape");
    cx.check_loads(&["app"]).await;
}

/// A package a failed run left (the destination could not be reached while loading) is
/// loaded by the next run, once; the next runs load nothing twice (§2.8).
pub async fn pending_package(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "pending_package").await;
    let Some(bad) = h.unreachable_credentials() else {
        eprintln!(
            "dest-test: pending_package: the harness gives no unreachable credentials; skipped"
        );
        return;
    };
    let t = |i: i64| Resource::new("pend", vec![json!({"id": i, "l": [i]})]);
    cx.run(vec![t(1)]).await;

    let mut failing = cx.pipeline_in(cx.dir(), &bad);
    let err = failing
        .run(vec![t(2)])
        .await
        .expect_err("loading with unreachable credentials fails");
    eprintln!("dest-test: pending_package: the failed run said: {err}");
    drop(failing);
    assert_eq!(
        cx.count("pend", "").await,
        1,
        "nothing of the failed run is loaded"
    );

    let info = cx.run(vec![]).await;
    assert_eq!(
        info.packages.len(),
        1,
        "the next run finishes the pending package"
    );
    let ids = format!(
        "SELECT {} FROM {} ORDER BY {}",
        cx.q("id"),
        cx.t("pend"),
        cx.q("id")
    );
    assert_eq!(cx.rows(&ids).await, rows(&[&["1"], &["2"]]));
    let again = cx.run(vec![]).await;
    assert!(again.packages.is_empty(), "and only once");
    cx.run(vec![t(3)]).await;
    assert_eq!(cx.rows(&ids).await, rows(&[&["1"], &["2"], &["3"]]));
    assert_eq!(cx.count("pend__l", "").await, 3);
    cx.check_loads(&["pend"]).await;
}

/// An empty load (§6.2, §12.16): a resource that yields nothing loads without error and
/// records its load; it leaves append and merge tables as they are and empties a replaced
/// chain (default strategy).
pub async fn empty_load(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "empty_load").await;
    let merge = cx.supports(DispositionKind::Merge, "delete-insert");
    let resources = |items: fn() -> Vec<Value>| {
        let mut r = vec![
            Resource::new("e_app", items()),
            res("e_rep", "replace", None, items()),
        ];
        if merge {
            r.push(res("e_mrg", "merge", None, items()).primary_key(["id"]));
        }
        r
    };
    let info = cx
        .run(vec![Resource::new("e_first", Vec::<Value>::new())])
        .await;
    assert_eq!(
        info.packages.len(),
        1,
        "a first run of no items still loads a package"
    );
    cx.run(resources(|| vec![json!({"id": 1, "l": ["a"]})]))
        .await;
    let info = cx.run(resources(Vec::new)).await;
    assert_eq!(info.packages.len(), 1);
    assert_eq!(cx.count("e_app", "").await, 1, "append keeps its rows");
    assert_eq!(cx.count("e_app__l", "").await, 1);
    assert_eq!(
        cx.count("e_rep", "").await,
        0,
        "replace with nothing empties the table"
    );
    assert_eq!(cx.count("e_rep__l", "").await, 0, "and its nested tables");
    if merge {
        assert_eq!(
            cx.count("e_mrg", "").await,
            1,
            "merge of nothing keeps rows"
        );
        assert_eq!(cx.count("e_mrg__l", "").await, 1);
    }
    cx.check_loads(&["e_app"]).await;
}

/// The system tables (§5, §12.1, §12.2, §12.31): `_dlt_loads`, `_dlt_version`,
/// `_dlt_pipeline_state` with dlt's columns; one state row while the state does not change;
/// a pipeline with a new working folder restores state and schema from the destination
/// (no new state or schema rows).
pub async fn system_tables(h: &dyn Harness) {
    let mut cx = Ctx::new(h, "system_tables").await;
    let users = || Resource::new("users", vec![json!({"id": 1, "name": "a"})]);
    let first = cx.run(vec![users()]).await;
    assert_eq!(
        cx.col_names("_dlt_loads").await,
        names(&[
            "load_id",
            "schema_name",
            "status",
            "inserted_at",
            "schema_version_hash"
        ])
    );
    assert_eq!(
        cx.col_names("_dlt_version").await,
        names(&[
            "version",
            "engine_version",
            "inserted_at",
            "schema_name",
            "version_hash",
            "schema"
        ])
    );
    assert_eq!(
        cx.col_names("_dlt_pipeline_state").await,
        names(&[
            "version",
            "engine_version",
            "pipeline_name",
            "state",
            "created_at",
            "version_hash",
            "_dlt_load_id",
            "_dlt_id"
        ])
    );
    let load_id = first.packages[0].load_id.clone();
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {}",
            cx.cols("pipeline_name, _dlt_load_id"),
            cx.t("_dlt_pipeline_state")
        ))
        .await,
        rows(&[&[cx.case.as_str(), load_id.as_str()]])
    );
    assert_eq!(
        cx.rows(&format!(
            "SELECT {} FROM {}",
            cx.cols("schema_name, engine_version"),
            cx.t("_dlt_version")
        ))
        .await,
        rows(&[&[cx.case.as_str(), "11"]])
    );
    assert_eq!(
        cx.value(&format!(
            "SELECT count(*) FROM {l} JOIN {v} ON {v}.{vh} = {l}.{lh}",
            l = cx.t("_dlt_loads"),
            v = cx.t("_dlt_version"),
            vh = cx.q("version_hash"),
            lh = cx.q("schema_version_hash"),
        ))
        .await,
        "1",
        "the load names the stored schema version"
    );
    assert_eq!(
        cx.count("_dlt_loads", &format!("{} IS NULL", cx.q("inserted_at")))
            .await,
        0
    );

    cx.run(vec![users()]).await;
    assert_eq!(
        cx.count("_dlt_pipeline_state", "").await,
        1,
        "state unchanged"
    );
    assert_eq!(cx.count("_dlt_version", "").await, 1, "schema unchanged");

    let elsewhere = tempfile::tempdir().expect("a second working folder");
    let mut p = cx.pipeline_in(elsewhere.path(), &h.credentials());
    cx.run_pipeline(&mut p, vec![users()]).await;
    let state = p.state().ok().flatten().expect("the restored state");
    assert_eq!(state.pipeline_name, cx.case);
    assert_eq!(
        cx.count("_dlt_pipeline_state", "").await,
        1,
        "a restored, unchanged state is not stored again"
    );
    assert_eq!(
        cx.count("_dlt_version", "").await,
        1,
        "the restored schema knew the table: no new version"
    );
    assert_eq!(cx.count("users", "").await, 3);
    cx.check_loads(&["users"]).await;
}

/// Every file format the destination lists loads the same values: text with quotes,
/// separators, newlines, backslashes, emoji and the empty string (not NULL), NULLs,
/// integers past 2^53, doubles, bools, timestamps, flattened and nested data.
pub async fn file_formats(h: &dyn Harness) {
    let formats: Vec<&str> = Ctx::new(h, "file_formats")
        .await
        .caps
        .file_formats
        .iter()
        .map(|f| f.as_str())
        .collect();
    assert!(!formats.is_empty(), "the destination lists no file format");
    for format in formats {
        // the case name is the pipeline name, which is also the schema name: snake_case
        let case = format!(
            "file_formats_{}",
            format.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let mut cx = Ctx::new(h, &case).await.with_format(format);
        let tricky = "a,b;\"c\" 'd' \\ e\nf\r\tg 😀 NULL \\N";
        cx.run(vec![Resource::new(
            "ff",
            vec![
                json!({"id": 1, "s": tricky, "empty": "", "big": 9007199254740993_i64,
                       "neg": -42, "d": 1.5, "b": true, "ts": "2024-01-01T10:00:00Z",
                       "obj": {"k": "v"}, "l": ["x", "y"]}),
                json!({"id": 2, "s": null, "empty": null, "big": null, "neg": null,
                       "d": null, "b": false, "ts": null, "obj": {"k": null}, "l": []}),
            ],
        )])
        .await;
        let t = cx.t("ff");
        assert_eq!(
            cx.rows(&format!(
                "SELECT {}, CASE WHEN {b} THEN 'true' ELSE 'false' END, \
                 CASE WHEN {d} = 1.5 THEN 'd' ELSE 'NULL' END, \
                 CASE WHEN {ts} IS NULL THEN 'NULL' ELSE 'ts' END FROM {t} ORDER BY {}",
                cx.cols("id, s, empty, big, neg, obj__k"),
                cx.q("id"),
                b = cx.q("b"),
                d = cx.q("d"),
                ts = cx.q("ts"),
            ))
            .await,
            rows(&[
                &[
                    "1",
                    tricky,
                    "",
                    "9007199254740993",
                    "-42",
                    "v",
                    "true",
                    "d",
                    "ts"
                ],
                &["2", "NULL", "NULL", "NULL", "NULL", "NULL", "false", "NULL", "NULL"],
            ]),
            "{format}: values read back unchanged (the empty string stays empty)"
        );
        assert_eq!(
            cx.rows(&format!(
                "SELECT {} FROM {} ORDER BY {}",
                cx.q("value"),
                cx.t("ff__l"),
                cx.q("_dlt_list_idx")
            ))
            .await,
            rows(&[&["x"], &["y"]])
        );
        cx.check_loads(&["ff"]).await;
    }
}
