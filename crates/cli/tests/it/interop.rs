//! dlt and dlt-rs take turns on one dataset, each turn from an empty working folder (as CI
//! runners start): real dlt 1.31 (installed into a venv under the target dir, see
//! `test_support::python`) → dlt-rs → dlt, and dlt-rs → dlt → dlt-rs. A merge with nested
//! tables, a `json` and a `decimal` hint, and new columns (on the root and on a nested table)
//! in between. Each sequence must end with what three turns of dlt alone leave: the same
//! tables, columns, types, nullability, rows, the same stored schema tables (hints, table and
//! column order), the same schema versions with the same version hashes, and as many loads
//! and state rows.
//!
//! At the end, `dlt-rs pipeline NAME schema` (YAML, JSON, Mermaid) prints exactly what
//! dlt's `dlt pipeline NAME schema` prints for the same working folder (dlt-rs').
//!
//! The dlt-rs turns after the first of a sequence give no hints at all (no `--primary-key`,
//! no `--columns`): the merge key and the `json` hint must come from the stored schema, dlt's
//! or dlt-rs'.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use crate::common::*;
use test_support::{connect, fresh_schema, pg_url};

/// The rows of each turn: updates, inserts, a NULL and an empty `json`, a new root column in
/// turn 2 (`region`) and 3 (`extra`), a new nested column (`note`) in turn 2.
const TURNS: [&str; 3] = [
    r#"{"id": 1, "customer": "ann", "amount": "10.50", "meta": {"a": 1}, "items": [{"sku": "x", "qty": 1}], "tags": ["new"]}
{"id": 2, "customer": "bob", "amount": "3.00", "meta": {"b": [1, 2]}, "items": [{"sku": "y", "qty": 2}, {"sku": "z", "qty": 3}], "tags": []}
"#,
    r#"{"id": 2, "customer": "bob2", "amount": "4.00", "meta": {"b": 3}, "items": [{"sku": "y", "qty": 5, "note": "evolved"}], "tags": ["vip", "x"], "region": "eu"}
{"id": 3, "customer": "cy", "amount": "1.25", "meta": null, "items": [], "tags": ["t"]}
"#,
    r#"{"id": 1, "customer": "ann3", "amount": "11.00", "meta": {"c": true}, "items": [{"sku": "w", "qty": 9, "note": "n"}], "tags": [], "region": "us", "extra": 7}
{"id": 4, "customer": "dee", "amount": "2.00", "meta": {}, "items": [{"sku": "v", "qty": 1}], "tags": ["a", "b"]}
"#,
];

/// The hints, as dlt's resource takes them and as `--columns` does.
const COLUMNS: &str = r#"{"meta": {"data_type": "json"}, "amount": {"data_type": "decimal", "precision": 12, "scale": 2}}"#;

/// One turn of real dlt: the resource `orders`, merge on `id`, with [`COLUMNS`].
const DLT_TURN: &str = r#"
import dlt, json, sys
url, dataset, rows_file, columns, strategy = sys.argv[1:6]
# the default strategy as dlt users write it (naming it would store `x-merge-strategy`)
disposition = "merge" if strategy == "delete-insert" else {"disposition": "merge", "strategy": strategy}
rows = [json.loads(line) for line in open(rows_file)]

@dlt.resource(name="orders", primary_key="id", write_disposition=disposition, columns=json.loads(columns))
def orders():
    yield rows

p = dlt.pipeline(pipeline_name="interop", destination=dlt.destinations.postgres(url),
                 dataset_name=dataset, pipelines_dir="pipelines")
p.run(orders())
"#;

#[derive(Clone, Copy, Debug)]
enum Tool {
    Dlt,
    DltRs,
}

/// The test server's URL with a password, which dlt requires (with trust auth any will do).
pub(crate) fn url_with_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some((auth, host)) => (auth.to_string(), host),
        None => ("postgres".to_string(), rest),
    };
    let auth = if auth.contains(':') {
        auth
    } else {
        format!("{auth}:dlt")
    };
    format!("{scheme}://{auth}@{host}")
}

/// `program` of the dlt venv (`python`, `dlt`), run in `dir` (also its `HOME`), without
/// telemetry.
pub(crate) fn dlt(dir: &std::path::Path, program: &str) -> Command {
    let mut cmd = Command::new(test_support::python::dlt_venv().join("bin").join(program));
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("RUNTIME__DLTHUB_TELEMETRY", "false");
    cmd
}

/// Runs Python `script` of the dlt venv in `dir` with `args`; returns its standard output
/// (a script that fails fails the test, with its standard error and `what`).
pub(crate) fn dlt_script(dir: &std::path::Path, script: &str, args: &[&str], what: &str) -> String {
    let path = dir.join("dlt_script.py");
    std::fs::write(&path, script).unwrap();
    let out = dlt(dir, "python").arg(&path).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs turn `n` (0-based) of `tool` on `dataset` in a fresh working folder, merging with
/// `strategy`; dlt-rs gives the key and the column hints only `with_hints` (and a strategy
/// other than the default on every turn).
fn turn(
    tool: Tool,
    dataset: &str,
    n: usize,
    with_hints: bool,
    strategy: &str,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("orders.jsonl");
    std::fs::write(&rows, TURNS[n]).unwrap();
    let rows = rows.to_string_lossy().to_string();
    let url = pg_url();
    let out = match tool {
        Tool::Dlt => {
            let script = dir.path().join("turn.py");
            std::fs::write(&script, DLT_TURN).unwrap();
            dlt(dir.path(), "python")
                .arg(&script)
                .args([&url_with_password(&url), dataset, &rows, COLUMNS, strategy])
                .output()
                .unwrap()
        }
        Tool::DltRs => {
            let pipes = dir.path().join("pipelines").to_string_lossy().to_string();
            let mut args = load_into(&rows, &url, &pipes, "interop", dataset, "orders");
            args.extend(["--write-disposition", "merge"]);
            if with_hints {
                args.extend(["--primary-key", "id", "--columns", COLUMNS]);
            }
            if strategy != "delete-insert" {
                args.extend(["--merge-strategy", strategy]);
            }
            dlt_rs(&args, dir.path())
        }
    };
    assert!(
        out.status.success(),
        "turn {} of {tool:?} on {dataset} failed:\n{}{}",
        n + 1,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Runs the three turns, one tool each; dlt-rs gives the hints only on the first turn.
/// Returns the working folder of the last turn.
fn sequence(dataset: &str, tools: [Tool; 3]) -> tempfile::TempDir {
    sequence_merging(dataset, tools, "delete-insert")
}

/// [`sequence`] with merge strategy `strategy`.
fn sequence_merging(dataset: &str, tools: [Tool; 3], strategy: &str) -> tempfile::TempDir {
    let mut last = None;
    for (n, tool) in tools.into_iter().enumerate() {
        last = Some(turn(tool, dataset, n, n == 0, strategy));
    }
    last.unwrap()
}

/// What a dataset holds, for comparison: columns with type and nullability, every table's
/// rows without dlt's random ids, the stored schema's tables (newest version), and the
/// number of schema versions, loads and state rows.
pub(crate) async fn snapshot(db: &tokio_postgres::Client, ds: &str) -> Vec<String> {
    let columns = contents(
        db,
        &format!(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = '{ds}' AND table_name NOT LIKE '\\_dlt%' \
             ORDER BY table_name, ordinal_position"
        ),
    )
    .await;
    let mut out = columns.clone();
    let mut tables: Vec<&str> = columns.iter().filter_map(|l| l.split('|').next()).collect();
    tables.dedup();
    for table in tables {
        let select: Vec<String> = columns
            .iter()
            .filter_map(|l| {
                let mut parts = l.split('|');
                (parts.next() == Some(table)).then(|| parts.next().unwrap_or_default())
            })
            .filter(|c| {
                !matches!(
                    *c,
                    "_dlt_load_id" | "_dlt_id" | "_dlt_parent_id" | "_dlt_root_id"
                )
            })
            .map(|c| format!("\"{c}\""))
            .collect();
        let mut rows = contents(
            db,
            &format!("SELECT {} FROM \"{ds}\".\"{table}\"", select.join(", ")),
        )
        .await;
        rows.sort();
        out.push(format!("{table}: {rows:?}"));
    }
    let schema = contents(
        db,
        &format!("SELECT schema FROM \"{ds}\"._dlt_version ORDER BY version DESC, inserted_at DESC LIMIT 1"),
    )
    .await
    .concat();
    let schema: serde_json::Value = serde_json::from_str(&schema).unwrap();
    // the order of tables and columns counts, that of the keys of a table or column does not
    // (dlt's dicts keep the order their keys were set in)
    if let Some(tables) = schema["tables"].as_object() {
        for (name, table) in tables {
            let columns: Vec<&String> = table["columns"]
                .as_object()
                .map(|c| c.keys().collect())
                .unwrap_or_default();
            out.push(format!("stored table {name}: {columns:?}"));
        }
    }
    out.push(format!("stored tables: {}", sorted_keys(&schema["tables"])));
    // one schema name (the pipeline's) everywhere: the same content has the same version
    // and hash, whoever wrote it
    out.extend(
        contents(
            db,
            &format!(
                "SELECT schema_name, version, version_hash FROM \"{ds}\"._dlt_version \
                 ORDER BY inserted_at"
            ),
        )
        .await,
    );
    for system in ["_dlt_version", "_dlt_loads", "_dlt_pipeline_state"] {
        let n = contents(db, &format!("SELECT count(*) FROM \"{ds}\".{system}")).await;
        out.push(format!("{system}: {}", n.concat()));
    }
    out
}

#[tokio::test]
async fn dlt_and_dlt_rs_take_turns_on_one_dataset() {
    let db = connect().await;
    let alone = fresh_schema(&db, "interop_dlt_alone").await;
    let dlt_first = fresh_schema(&db, "interop_dlt_first").await;
    let rs_first = fresh_schema(&db, "interop_rs_first").await;

    sequence(&alone, [Tool::Dlt, Tool::Dlt, Tool::Dlt]);
    let want = snapshot(&db, &alone).await;
    // the loads of the expected end: the merge happened and the hints held
    assert!(
        want.iter()
            .any(|l| l.starts_with("orders: ") && l.contains("bob2|eu")),
        "{want:#?}"
    );
    assert!(
        want.iter().any(|l| l == "orders|meta|jsonb|YES"),
        "{want:#?}"
    );

    sequence(&dlt_first, [Tool::Dlt, Tool::DltRs, Tool::Dlt]);
    assert_eq!(snapshot(&db, &dlt_first).await, want, "dlt → dlt-rs → dlt");

    let folder = sequence(&rs_first, [Tool::DltRs, Tool::Dlt, Tool::DltRs]);
    assert_eq!(
        snapshot(&db, &rs_first).await,
        want,
        "dlt-rs → dlt → dlt-rs"
    );

    // `pipeline NAME schema` prints what dlt's prints, dlt reading dlt-rs' working folder
    let pipes = folder
        .path()
        .join("pipelines")
        .to_string_lossy()
        .to_string();
    for format in ["yaml", "json", "mermaid", "dbml"] {
        let args = [
            "pipeline",
            "--pipelines-dir",
            &pipes,
            "interop",
            "schema",
            "--format",
            format,
        ];
        let ours = dlt_rs(&args, folder.path());
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let theirs = dlt(folder.path(), "dlt").args(args).output().unwrap();
        assert!(
            theirs.status.success(),
            "{}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        // dlt prints what it found on stdout before the schema, and may end with a blank line
        let theirs = String::from_utf8_lossy(&theirs.stdout);
        let theirs: Vec<&str> = theirs
            .trim_end()
            .lines()
            .skip_while(|l| l.starts_with("Found "))
            .collect();
        let ours = String::from_utf8_lossy(&ours.stdout);
        let ours: Vec<&str> = ours.trim_end().lines().collect();
        assert_eq!(ours, theirs, "--format {format}");
    }
}

/// `v` with the keys of every object in sorted order.
fn sorted_keys(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted_keys(&m[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(sorted_keys).collect())
        }
        other => other.clone(),
    }
}

/// dlt's `insert-only` merge strategy: rows whose primary key is new are inserted, rows
/// already loaded never change (the updates of turns 2 and 3 are dropped); nested rows with a
/// new row key are inserted, as dlt's `MERGE ... WHEN NOT MATCHED` does. Three turns of
/// dlt-rs end exactly as three turns of dlt.
#[tokio::test]
async fn insert_only_merges_as_dlt_does() {
    let db = connect().await;
    let theirs = fresh_schema(&db, "interop_insert_only_dlt").await;
    let ours = fresh_schema(&db, "interop_insert_only_rs").await;
    sequence_merging(&theirs, [Tool::Dlt, Tool::Dlt, Tool::Dlt], "insert-only");
    let want = snapshot(&db, &theirs).await;
    assert!(
        want.iter()
            .any(|l| l.starts_with("orders: ") && l.contains("|bob|")),
        "{want:#?}"
    );
    sequence_merging(
        &ours,
        [Tool::DltRs, Tool::DltRs, Tool::DltRs],
        "insert-only",
    );
    assert_eq!(snapshot(&db, &ours).await, want);
}

/// dlt's schema files: `--export-schema-path` writes `<pipeline>.schema.yaml`; a user edits
/// it (a `json` type for a column no item had yet) and the next run with
/// `--import-schema-path` takes it: the new column is `jsonb`, not flattened. Real dlt
/// imports the same edited file into a dataset of its own and makes the same table.
#[tokio::test]
async fn an_edited_exported_schema_is_imported_by_the_next_run() {
    let db = connect().await;
    let ours = fresh_schema(&db, "interop_import_schema").await;
    let theirs = fresh_schema(&db, "interop_import_schema_dlt").await;
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &str| dir.path().join(p).to_string_lossy().to_string();
    let (url, pipes, exported, rows) = (
        pg_url(),
        path("pipelines"),
        path("schemas"),
        path("rows.jsonl"),
    );
    let run = |rows_text: &str, schema_flag: &str| {
        std::fs::write(dir.path().join("rows.jsonl"), rows_text).unwrap();
        let args = [
            "load",
            &rows,
            "--destination",
            "postgres",
            "--credentials",
            &url,
            "--pipeline",
            "importer",
            "--pipelines-dir",
            &pipes,
            "--dataset",
            &ours,
            "--table",
            "events",
            schema_flag,
            &exported,
        ];
        let out = dlt_rs(&args, dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("{\"id\": 1}\n", "--export-schema-path");
    let file = dir.path().join("schemas").join("importer.schema.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let doc: serde_json::Value = yaml_serde::from_str(&text).unwrap();
    assert!(
        doc["tables"]["events"]["columns"]["id"].is_object(),
        "{text}"
    );
    // the edit a user makes in the file
    let table = "  events:\n    columns:\n";
    assert!(text.contains(table), "{text}");
    let edited = text.replace(
        table,
        &format!("{table}      payload:\n        data_type: json\n"),
    );
    std::fs::write(&file, edited).unwrap();

    run(
        "{\"id\": 2, \"payload\": {\"a\": [1, 2]}}\n",
        "--import-schema-path",
    );
    let column = |ds: String| {
        let db = &db;
        async move {
            contents(
                db,
                &format!(
                    "SELECT column_name || ':' || data_type FROM information_schema.columns \
                     WHERE table_schema = '{ds}' AND table_name LIKE 'events%' \
                     AND column_name LIKE 'payload%' ORDER BY 1"
                ),
            )
            .await
        }
    };
    assert_eq!(column(ours.clone()).await, ["payload:jsonb"]);
    let rows = contents(
        &db,
        &format!(
            "SELECT id || ':' || coalesce(payload::text, '') FROM \"{ours}\".events ORDER BY id"
        ),
    )
    .await;
    assert_eq!(rows, ["1:", "2:{\"a\": [1, 2]}"]);

    // real dlt takes the same edited file
    let script = dir.path().join("import.py");
    std::fs::write(
        &script,
        r#"
import dlt, sys
url, dataset, schemas = sys.argv[1:4]
p = dlt.pipeline(pipeline_name="importer", destination=dlt.destinations.postgres(url),
                 dataset_name=dataset, pipelines_dir="dlt_pipelines", import_schema_path=schemas)
p.run([{"id": 2, "payload": {"a": [1, 2]}}], table_name="events")
"#,
    )
    .unwrap();
    let out = dlt(dir.path(), "python")
        .arg(&script)
        .args([&url_with_password(&url), &theirs, &exported])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(column(theirs).await, ["payload:jsonb"]);
}

/// The two sides of a comparison with real dlt.
struct Side<'a> {
    /// A Python script run with the dlt venv: argv `url dataset` then `script_args`.
    script: &'a str,
    script_args: &'a [&'a str],
    /// `dlt-rs load rows.jsonl` into pipeline `pipeline`, table `table`, with `load_args`.
    pipeline: &'a str,
    table: &'a str,
    load_args: &'a [&'a str],
}

/// Runs `runs` (each written to `rows.jsonl` in turn, one run each) with dlt into one fresh
/// dataset and with dlt-rs into another (each in a working folder of its own); returns
/// both [`snapshot`]s with the dataset names replaced by `DS`, and with the rows of `sql`
/// (`{ds}` standing for the dataset) appended.
async fn dlt_and_dlt_rs(
    db: &tokio_postgres::Client,
    name: &str,
    runs: &[&str],
    side: &Side<'_>,
    sql: Option<&str>,
) -> [Vec<String>; 2] {
    let mut out: [Vec<String>; 2] = Default::default();
    for (i, tool) in ["dlt", "rs"].into_iter().enumerate() {
        let ds = fresh_schema(db, &format!("interop_{name}_{tool}")).await;
        let dir = tempfile::tempdir().unwrap();
        for rows in runs {
            std::fs::write(dir.path().join("rows.jsonl"), rows).unwrap();
            if tool == "dlt" {
                let url = url_with_password(&pg_url());
                let mut args = vec![url.as_str(), ds.as_str()];
                args.extend_from_slice(side.script_args);
                dlt_script(dir.path(), side.script, &args, name);
            } else {
                let pipes = dir.path().join("pipelines").to_string_lossy().to_string();
                let url = pg_url();
                let mut args =
                    load_into("rows.jsonl", &url, &pipes, side.pipeline, &ds, side.table);
                args.extend_from_slice(side.load_args);
                let run = dlt_rs(&args, dir.path());
                assert!(
                    run.status.success(),
                    "{name}: {}",
                    String::from_utf8_lossy(&run.stderr)
                );
            }
        }
        let mut snap = snapshot(db, &ds).await;
        if let Some(sql) = sql {
            snap.extend(contents(db, &sql.replace("{ds}", &ds)).await);
        }
        out[i] = snap.into_iter().map(|l| l.replace(&ds, "DS")).collect();
    }
    out
}

/// dlt's `table_name` function as `--table-name-from FIELD`: each item goes to the table
/// its `type` names (normalized as a table name), with the resource's hints; a second run
/// adds a table. Two runs of dlt-rs end as two runs of dlt: tables, rows, the stored schema
/// (tables keep the resource's name) and its versions.
#[tokio::test]
async fn table_names_from_a_field_as_dlt_does() {
    const RUNS: [&str; 2] = [
        r#"{"id": 1, "type": "click", "x": 1, "tags": ["a"]}
{"id": 2, "type": "Page View", "url": "/"}
{"id": 3, "type": "click", "x": 2}
"#,
        r#"{"id": 4, "type": "purchase", "amount": 9.5}
{"id": 5, "type": "click", "x": 3, "extra": true}
"#,
    ];
    const DLT: &str = r#"
import dlt, json, sys
url, dataset = sys.argv[1:3]
rows = [json.loads(line) for line in open("rows.jsonl")]
events = dlt.resource(rows, name="events", primary_key="id", write_disposition="merge",
                      table_name=lambda item: item["type"])
p = dlt.pipeline(pipeline_name="named", destination=dlt.destinations.postgres(url),
                 dataset_name=dataset, pipelines_dir="pipelines")
p.run(events)
"#;
    let db = connect().await;
    let side = Side {
        script: DLT,
        script_args: &[],
        pipeline: "named",
        table: "events",
        load_args: &[
            "--table-name-from",
            "type",
            "--primary-key",
            "id",
            "--write-disposition",
            "merge",
        ],
    };
    let [theirs, ours] = dlt_and_dlt_rs(&db, "named", &RUNS, &side, None).await;
    assert!(
        theirs.iter().any(|l| l.starts_with("page_view|")),
        "{theirs:#?}"
    );
    assert_eq!(ours, theirs);
}

/// dlt's `nested_hints` as `--nested-hints`: column hints for a nested table (a decimal, a
/// `json` column) and for one below it. dlt-rs makes the tables, types, rows and stored
/// schema (with its versions) that dlt makes, on a first run and a second one.
#[tokio::test]
async fn nested_hints_type_nested_tables_as_dlt_does() {
    const ROWS: &str = r#"{"id": 1, "items": [{"sku": "a", "price": "10.50", "meta": {"k": [1, 2]}, "parts": [{"n": "1"}]}]}
{"id": 2, "items": [{"sku": "b", "price": 3, "meta": {"k": []}}]}
"#;
    const HINTS: &str = r#"{"items": {"columns": {"price": {"data_type": "decimal", "precision": 12, "scale": 2}, "meta": {"data_type": "json"}}}, "items__parts": {"columns": {"n": {"data_type": "bigint"}}}}"#;
    const DLT: &str = r#"
import dlt, json, sys
url, dataset, hints = sys.argv[1:4]
rows = [json.loads(line) for line in open("rows.jsonl")]
nested = {tuple(k.split("__")): dlt.mark.make_nested_hints(**v) for k, v in json.loads(hints).items()}
orders = dlt.resource(rows, name="orders", nested_hints=nested)
p = dlt.pipeline(pipeline_name="nested", destination=dlt.destinations.postgres(url),
                 dataset_name=dataset, pipelines_dir="pipelines")
p.run(orders)
"#;
    let db = connect().await;
    let side = Side {
        script: DLT,
        script_args: &[HINTS],
        pipeline: "nested",
        table: "orders",
        load_args: &["--nested-hints", HINTS],
    };
    let [theirs, ours] = dlt_and_dlt_rs(&db, "nested", &[ROWS, ROWS], &side, None).await;
    assert!(
        theirs
            .iter()
            .any(|l| l == "orders__items|price|numeric|YES"),
        "{theirs:#?}"
    );
    assert_eq!(ours, theirs);
}

/// dlt's PostgreSQL geometry hints (`x-postgres-geometry`, `x-postgres-srid`): the column is
/// PostGIS' `geometry(Geometry, <srid>)` and takes WKT, EWKT and hex WKB text, with
/// `insert_values` and `csv` alike. dlt-rs makes the table, type, geometries and stored
/// schema dlt makes from the same hints (as dlt's `postgres_adapter` sets them). PostGIS is
/// installed from Debian's packages where the server lacks it.
#[tokio::test]
async fn geometry_columns_load_as_dlt_loads_them() {
    const ROWS: &str = r#"{"id": 1, "loc": "POINT(1 2)", "area": "POLYGON((0 0, 1 0, 1 1, 0 0))"}
{"id": 2, "loc": "SRID=4326;POINT(3 4)"}
{"id": 3, "loc": "0101000000000000000000F03F0000000000000040"}
"#;
    const COLUMNS: &str = r#"{"loc": {"x-postgres-geometry": true}, "area": {"x-postgres-geometry": true, "x-postgres-srid": 3857}}"#;
    const DLT: &str = r#"
import dlt, json, sys
url, dataset, columns = sys.argv[1:4]
rows = [json.loads(line) for line in open("rows.jsonl")]
places = dlt.resource(rows, name="places", columns=json.loads(columns))
p = dlt.pipeline(pipeline_name="geo", destination=dlt.destinations.postgres(url),
                 dataset_name=dataset, pipelines_dir="pipelines")
p.run(places)
"#;
    const GEOMETRIES: &str = "SELECT id, ST_AsText(loc), ST_SRID(loc), ST_SRID(area), \
        format_type(a.atttypid, a.atttypmod) FROM \"{ds}\".places, pg_attribute a \
        WHERE a.attrelid = '\"{ds}\".places'::regclass AND a.attname = 'area' ORDER BY id";
    let db = connect().await;
    test_support::postgis::ensure_postgis(&db).await;
    for format in ["insert_values", "csv"] {
        let load_args = ["--columns", COLUMNS, "--loader-file-format", format];
        let side = Side {
            script: DLT,
            script_args: &[COLUMNS],
            pipeline: "geo",
            table: "places",
            load_args: &load_args,
        };
        let [theirs, ours] = dlt_and_dlt_rs(
            &db,
            &format!("geo_{format}"),
            &[ROWS],
            &side,
            Some(GEOMETRIES),
        )
        .await;
        assert!(
            theirs
                .iter()
                .any(|l| l == "1|POINT(1 2)|4326|3857|geometry(Geometry,3857)"),
            "{theirs:#?}"
        );
        assert_eq!(ours, theirs, "{format}");
    }
}
