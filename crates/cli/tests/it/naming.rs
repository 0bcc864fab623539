//! dlt's naming conventions (`[schema] naming`), against real dlt 1.31: every convention
//! names keys with case, spaces, Unicode, SQL keywords, `__`, quotes, line ends and long
//! names as dlt's module of the same name does, and a load of nested data with the
//! convention set in `.dlt/config.toml` makes the tables, columns, rows and stored schema
//! (with its version hashes) that dlt makes from the same file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use normalize::naming::Naming;
use serde_json::{json, Value};

use crate::common::*;
use crate::interop::{dlt_script, snapshot, url_with_password};
use test_support::{connect, fresh_schema, pg_url};

/// dlt's names of each identifier of the JSON list in `argv[1]`, by convention:
/// `[normalize_identifier, normalize_path]`, `null` where dlt fails or makes an empty name.
const DLT_NAMES: &str = r#"
import json, sys
from dlt.common.normalizers.naming import snake_case, sql_cs_v1, sql_ci_v1, direct, duck_case
idents = json.load(open(sys.argv[1], encoding="utf-8"))
out = {}
for mod in [snake_case, sql_cs_v1, sql_ci_v1, direct, duck_case]:
    n = mod.NamingConvention(63)
    def safe(f, i):
        try:
            return f(i) or None
        except Exception:
            return None
    out[mod.__name__.split(".")[-1]] = {i: [safe(n.normalize_identifier, i), safe(n.normalize_path, i)] for i in idents}
print(json.dumps(out))
"#;

fn identifiers() -> Vec<String> {
    let mut ids: Vec<String> = [
        "UserId",
        "First Name",
        "select",
        "ünïcödé",
        "a__b",
        "__x",
        "x__",
        "123abc",
        "   padded  ",
        "CamelCaseHTTPServer",
        "with-dash+plus*star@at|bar",
        "日本語",
        "emoji😀key",
        "quote\"d",
        "single'q",
        "new\nline",
        "tab\tkey",
        "___",
        "_",
        "a▶b",
        "Ⅻ roman",
        "٣٤digits",
        "Ünï__Çödé",
        "x y z",
        "_dlt_id",
        "value",
        "HTTPResponse2XX",
        "aBC__dEf",
        "trailing__",
        "lead__ing__",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    ids.push("a".repeat(100));
    ids.push("Löng Ñame ".repeat(10));
    ids.push(format!("{}__{}", "A".repeat(40), "B".repeat(40)));
    ids
}

#[test]
fn naming_conventions_name_as_dlt_does() {
    let dir = tempfile::tempdir().unwrap();
    let ids = identifiers();
    let file = dir.path().join("ids.json");
    std::fs::write(&file, serde_json::to_string(&ids).unwrap()).unwrap();
    let file = file.to_string_lossy().to_string();
    let out = dlt_script(dir.path(), DLT_NAMES, &[&file], "dlt's names");
    let theirs: Value = serde_json::from_str(&out).unwrap();
    let mut differ = Vec::new();
    for naming in Naming::ALL {
        for id in &ids {
            let want = &theirs[naming.as_str()][id];
            let got = json!([
                naming.normalize_identifier(id, 63).ok(),
                naming.normalize_path(id, 63).ok()
            ]);
            if &got != want {
                differ.push(format!("{naming} {id:?}: {got}, dlt's {want}"));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// One load of real dlt: `rows.jsonl` into table `MyTable`, in the current folder (whose
/// `.dlt/config.toml` sets the convention).
const DLT_LOAD: &str = r#"
import dlt, json, sys
url, dataset = sys.argv[1:3]
rows = [json.loads(line) for line in open("rows.jsonl", encoding="utf-8")]
p = dlt.pipeline(pipeline_name="naming", destination=dlt.destinations.postgres(url),
                 dataset_name=dataset, pipelines_dir="pipelines")
p.run(rows, table_name="MyTable")
"#;

/// Keys with case, spaces, Unicode, a keyword, `__`, a nested object and lists; two keys of
/// the second row differ from the first's only in case.
const ROWS: &str = r#"{"UserId": 1, "First Name": "Ann", "select": true, "ünï": "u", "a__b": 3, "Nested": {"InnerKey": 1, "deep": {"X": 2}}, "Items": [{"Sku": "x", "Qty": 2}, {"Sku": "y"}], "Tags": ["a", "b"], "123start": 4, "emoji😀": "e"}
{"UserId": 2, "userid": 22, "First Name": "Bob", "select": false, "Items": [{"Sku": "z", "Sub Items": [{"N": 1}]}], "trailing__": "t"}
"#;

#[tokio::test]
async fn naming_conventions_load_the_tables_dlt_makes() {
    let db = connect().await;
    let mut failures = Vec::new();
    for naming in Naming::ALL {
        let mut runs = Vec::new();
        for tool in ["dlt", "rs"] {
            let ds = fresh_schema(&db, &format!("naming_{tool}_{naming}")).await;
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
            std::fs::write(
                dir.path().join(".dlt/config.toml"),
                format!("[schema]\nnaming = \"{naming}\"\n"),
            )
            .unwrap();
            std::fs::write(dir.path().join("rows.jsonl"), ROWS).unwrap();
            if tool == "dlt" {
                let url = url_with_password(&pg_url());
                dlt_script(dir.path(), DLT_LOAD, &[&url, &ds], naming.as_str());
            } else {
                let pipes = dir.path().join("pipelines").to_string_lossy().to_string();
                let url = pg_url();
                let args = load_into("rows.jsonl", &url, &pipes, "naming", &ds, "MyTable");
                let out = dlt_rs(&args, dir.path());
                assert!(
                    out.status.success(),
                    "{naming}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let rows: Vec<String> = snapshot(&db, &ds)
                .await
                .into_iter()
                .map(|l| l.replace(&ds, "DS"))
                .collect();
            runs.push(rows);
        }
        if runs[0] != runs[1] {
            let diff: Vec<String> = runs[0]
                .iter()
                .zip(runs[1].iter())
                .filter(|(a, b)| a != b)
                .map(|(a, b)| format!("  dlt:    {a}\n  dlt-rs: {b}"))
                .collect();
            failures.push(format!(
                "{naming}:\n{}\n(lengths {} / {})",
                diff.join("\n"),
                runs[0].len(),
                runs[1].len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
