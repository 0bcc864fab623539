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
