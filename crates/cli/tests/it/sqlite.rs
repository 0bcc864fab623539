//! `dlt-rs load ... --destination sqlite --credentials PATH`: the binary links the SQLite
//! destination next to PostgreSQL (nothing in `pipeline` knows either).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::dlt_rs;

#[test]
fn sqlite_is_registered_and_loads_merges_and_shows_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dlt_rs(&["destinations"], dir.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("sqlite"));

    let db = dir.path().join("cli.db");
    let pipelines = dir.path().join("pipelines");
    let input = dir.path().join("users.jsonl");
    let (db_s, pipes_s, input_s) = (
        db.to_string_lossy().to_string(),
        pipelines.to_string_lossy().to_string(),
        input.to_string_lossy().to_string(),
    );
    let load = |extra: &[&str]| {
        let mut args = vec![
            "load",
            &input_s,
            "--destination",
            "sqlite",
            "--credentials",
            &db_s,
            "--pipelines-dir",
            &pipes_s,
        ];
        args.extend_from_slice(extra);
        dlt_rs(&args, dir.path())
    };
    let users = [
        "--pipeline",
        "users",
        "--dataset",
        "crm",
        "--table",
        "users",
        "--merge-strategy",
        "upsert",
        "--primary-key",
        "id",
    ];
    std::fs::write(
        &input,
        "{\"id\": 1, \"name\": \"ann\", \"tags\": [\"a\"]}\n{\"id\": 2, \"name\": \"bob\"}\n",
    )
    .unwrap();
    let out = load(&users);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        &input,
        "{\"id\": 2, \"name\": \"bobby\"}\n{\"id\": 3, \"name\": \"cy\"}\n",
    )
    .unwrap();
    let out = load(&users);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "ATTACH DATABASE ?1 AS crm",
        [dir.path().join("cli__crm.db").to_str().unwrap()],
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT id, name FROM crm.users ORDER BY id")
        .unwrap();
    let rows: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [(1, "ann".into()), (2, "bobby".into()), (3, "cy".into())]
    );
    let loads: i64 = conn
        .query_row(
            "SELECT count(*) FROM crm._dlt_loads WHERE status = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(loads, 2);

    // inspection goes through the same client
    let out = dlt_rs(
        &[
            "pipeline",
            "users",
            "--pipelines-dir",
            &pipes_s,
            "show",
            "--credentials",
            &db_s,
        ],
        dir.path(),
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("users") && shown.contains("3 row(s)"),
        "{shown}"
    );

    // a strategy SQLite cannot do: the capability error, nothing loaded
    let out = load(&[
        "--pipeline",
        "swap",
        "--table",
        "snap",
        "--write-disposition",
        "replace",
        "--replace-strategy",
        "staging-optimized",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "replace strategy `staging-optimized` is not supported by destination `sqlite`"
        ),
        "{err}"
    );
}

/// SQLite's identifiers ignore case: a case sensitive naming convention whose names differ
/// only in case fails the load naming both, and nothing loads; `sql_ci_v1` folds them into
/// one column and loads.
#[test]
fn a_case_sensitive_naming_fails_on_names_sqlite_cannot_tell_apart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".dlt")).unwrap();
    std::fs::write(dir.path().join("rows.jsonl"), "{\"Id\": 1, \"id\": 2}\n").unwrap();
    let db = dir.path().join("case.db").to_string_lossy().to_string();
    let load = |naming: &str| {
        std::fs::write(
            dir.path().join(".dlt/config.toml"),
            format!("[schema]\nnaming = \"{naming}\"\n"),
        )
        .unwrap();
        let pipes = dir.path().join(format!("pipes_{naming}"));
        dlt_rs(
            &[
                "load",
                "rows.jsonl",
                "--destination",
                "sqlite",
                "--credentials",
                &db,
                "--pipelines-dir",
                &pipes.to_string_lossy(),
                "--pipeline",
                "case",
                "--dataset",
                naming,
                "--table",
                "t",
            ],
            dir.path(),
        )
    };
    let out = load("sql_cs_v1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("`Id` and `id`"), "{err}");
    let out = load("sql_ci_v1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the dataset of the failed load holds no table; the other one the folded column
    let tables = |dataset: &str| -> i64 {
        let path = dir.path().join(format!("case__{dataset}.db"));
        if !path.exists() {
            return 0;
        }
        rusqlite::Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(tables("sql_cs_v1"), 0);
    assert_eq!(tables("sql_ci_v1"), 1);
}
