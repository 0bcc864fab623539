//! dlt's schema contracts, against real dlt 1.31: for each case, the same turns (rows, a
//! contract or none, a write disposition) run by dlt (in one Python process, see
//! [`DLT_TURNS`]) on one dataset and by `dlt-rs load` on another, each tool in one working
//! folder. Every turn must succeed or fail as dlt's does, and the datasets must end the
//! same: tables, columns, types, rows, the stored schema (with its contracts) and its
//! version hashes. A run that `freeze` fails names the table, the column and the value,
//! and loads nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};

use crate::common::*;
use crate::interop::{dlt_script, snapshot, url_with_password};
use test_support::{connect, fresh_schema, pg_url};

/// dlt's side: runs the turns of a case file, prints `ok` or `failed` for each.
const DLT_TURNS: &str = r#"
import dlt, json, sys
url, dataset, spec_file = sys.argv[1:4]
results = []
for turn in json.load(open(spec_file)):
    rows = turn["rows"]
    hints = {"primary_key": turn["primary_key"]} if turn.get("primary_key") else {}
    @dlt.resource(name=turn.get("table", "events"), write_disposition=turn.get("disposition", "append"), **hints)
    def res():
        yield rows
    p = dlt.pipeline(pipeline_name="contracts", destination=dlt.destinations.postgres(url),
                     dataset_name=dataset, pipelines_dir="pipelines")
    kwargs = {"schema_contract": turn["contract"]} if turn.get("contract") is not None else {}
    try:
        p.run(res(), **kwargs)
        results.append("ok")
    except Exception as e:
        results.append("failed")
print(json.dumps(results))
"#;

/// The first turn of most cases: a table `events` with a nested table `events__items`.
fn first() -> Value {
    json!({"rows": [
        {"id": 1, "name": "a", "score": 5, "items": [{"sku": "x"}]},
        {"id": 2, "name": "b", "score": 6, "items": [{"sku": "y"}, {"sku": "z"}]}
    ]})
}

/// New columns: on the root (`note`) and on the nested table (`qty`).
fn new_columns(contract: Value) -> Value {
    json!({"contract": contract, "rows": [
        {"id": 3, "name": "c", "score": 7, "note": "new", "items": [{"sku": "w", "qty": 2}]},
        {"id": 4, "name": "d", "score": 8, "items": [{"sku": "v"}]}
    ]})
}

/// A value that does not fit its column (`score` is bigint): a variant column.
fn type_change(contract: Value) -> Value {
    json!({"contract": contract, "rows": [
        {"id": 3, "name": "c", "score": "high", "items": [{"sku": "w"}]},
        {"id": 4, "name": "d", "score": 8}
    ]})
}

/// A new nested table (`parts`).
fn new_nested_table(contract: Value) -> Value {
    json!({"contract": contract, "rows": [
        {"id": 3, "name": "c", "score": 7, "parts": [{"p": 1}, {"p": 2}], "items": [{"sku": "w"}]},
        {"id": 4, "name": "d", "score": 8}
    ]})
}

/// The cases: a name and its turns. Turns that fail are last (a failed package stays
/// pending, in dlt as in dlt-rs).
fn cases() -> Vec<(String, Vec<Value>)> {
    let mut cases = Vec::new();
    for mode in ["evolve", "freeze", "discard_row", "discard_value"] {
        cases.push((
            format!("columns_{mode}"),
            vec![first(), new_columns(json!({ "columns": mode }))],
        ));
        cases.push((
            format!("data_type_{mode}"),
            vec![first(), type_change(json!({ "data_type": mode }))],
        ));
        cases.push((
            format!("tables_{mode}"),
            vec![first(), new_nested_table(json!({ "tables": mode }))],
        ));
    }
    // one mode for all; a new root table under it
    cases.push((
        "all_freeze_new_table".into(),
        vec![{
            let mut t = first();
            t["contract"] = json!("freeze");
            t
        }],
    ));
    cases.push((
        "all_discard_row_new_table".into(),
        vec![first(), {
            let mut t = first();
            t["contract"] = json!("discard_row");
            t["table"] = json!("other");
            t
        }],
    ));
    // a new table takes its first package's columns whatever `columns` says (dlt's
    // evolve-columns-once), then the contract holds
    cases.push((
        "columns_freeze_from_the_start".into(),
        vec![
            {
                let mut t = first();
                t["contract"] = json!({"columns": "freeze"});
                t
            },
            json!({"rows": [{"id": 3, "name": "c", "score": 1}]}),
            new_columns(Value::Null),
        ],
    ));
    // the contract is kept in the stored schema: a later run without one keeps it
    cases.push((
        "stored_contract_holds".into(),
        vec![
            first(),
            new_columns(json!({"columns": "discard_value"})),
            json!({"rows": [{"id": 5, "name": "e", "score": 9, "other": true}]}),
        ],
    ));
    // merge under freeze: known columns merge, a new column fails and changes nothing
    let merge = |rows: Value| json!({"contract": "freeze", "disposition": "merge", "primary_key": "id", "rows": rows});
    cases.push((
        "merge_freeze".into(),
        vec![
            json!({"disposition": "merge", "primary_key": "id", "rows": [
                {"id": 1, "name": "a", "score": 5, "items": [{"sku": "x"}]},
                {"id": 2, "name": "b", "score": 6}
            ]}),
            merge(json!([{"id": 1, "name": "a2", "score": 50, "items": [{"sku": "x2"}]}, {"id": 3, "name": "c", "score": 7}])),
            merge(json!([{"id": 2, "name": "b2", "score": 60, "extra": "no"}])),
        ],
    ));
    cases
}

/// Runs `turns` with dlt-rs on `dataset` in `dir`: `ok` or `failed` for each, and the
/// standard error of the failed ones.
fn dlt_rs_turns(dir: &std::path::Path, dataset: &str, turns: &[Value]) -> (Vec<String>, String) {
    let url = pg_url();
    let pipes = dir.join("pipelines").to_string_lossy().to_string();
    let mut results = Vec::new();
    let mut errors = String::new();
    for (n, turn) in turns.iter().enumerate() {
        let rows = dir.join(format!("turn{n}.jsonl"));
        let lines: Vec<String> = turn["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        std::fs::write(&rows, lines.join("\n")).unwrap();
        let rows = rows.to_string_lossy().to_string();
        let table = turn["table"].as_str().unwrap_or("events");
        let disposition = turn["disposition"].as_str().unwrap_or("append");
        let mut args = load_into(&rows, &url, &pipes, "contracts", dataset, table);
        args.extend(["--write-disposition", disposition]);
        if let Some(pk) = turn["primary_key"].as_str() {
            args.extend(["--primary-key", pk]);
        }
        let contract = match &turn["contract"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        if let Some(c) = &contract {
            args.extend(["--schema-contract", c]);
        }
        let out = dlt_rs(&args, dir);
        if out.status.success() {
            results.push("ok".to_string());
        } else {
            results.push("failed".to_string());
            errors.push_str(&String::from_utf8_lossy(&out.stderr));
        }
    }
    (results, errors)
}

#[tokio::test]
async fn schema_contracts_hold_as_in_dlt() {
    let db = connect().await;
    let mut failures = Vec::new();
    for (name, turns) in cases() {
        let theirs = fresh_schema(&db, &format!("contract_dlt_{name}")).await;
        let ours = fresh_schema(&db, &format!("contract_rs_{name}")).await;

        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("turns.json");
        std::fs::write(&spec, Value::Array(turns.clone()).to_string()).unwrap();
        let url = url_with_password(&pg_url());
        let spec = spec.to_string_lossy().to_string();
        let stdout = dlt_script(dir.path(), DLT_TURNS, &[&url, &theirs, &spec], &name);
        let want: Vec<String> =
            serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();

        let mine = tempfile::tempdir().unwrap();
        let (got, errors) = dlt_rs_turns(mine.path(), &ours, &turns);
        if got != want {
            failures.push(format!("{name}: runs {got:?}, dlt's {want:?}\n{errors}"));
            continue;
        }
        // a `freeze` failure names the table, the column and the value
        if name == "columns_freeze" {
            assert!(
                errors.contains("`events`")
                    && errors.contains("`note`")
                    && errors.contains("\"new\""),
                "{errors}"
            );
        }
        // a run that failed before anything loaded leaves no tables
        let tables = |ds: String| {
            let db = &db;
            async move {
                contents(
                    db,
                    &format!(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = '{ds}' \
                         ORDER BY table_name"
                    ),
                )
                .await
            }
        };
        let (ta, tb) = (tables(theirs.clone()).await, tables(ours.clone()).await);
        if ta != tb || !ta.iter().any(|t| t == "_dlt_version") {
            if ta != tb {
                failures.push(format!("{name}: tables {tb:?}, dlt's {ta:?}"));
            }
            continue;
        }
        let (a, b) = (snapshot(&db, &theirs).await, snapshot(&db, &ours).await);
        let strip = |s: Vec<String>, ds: &str| -> Vec<String> {
            s.into_iter().map(|l| l.replace(ds, "DS")).collect()
        };
        let (a, b) = (strip(a, &theirs), strip(b, &ours));
        if a != b {
            let diff: Vec<String> = a
                .iter()
                .zip(b.iter())
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("  dlt:    {x}\n  dlt-rs: {y}"))
                .collect();
            failures.push(format!(
                "{name}:\n{}\n(lengths {} / {})",
                diff.join("\n"),
                a.len(),
                b.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
