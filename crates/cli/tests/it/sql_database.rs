//! `dlt-rs sql-database URL [TABLE...]`: a PostgreSQL schema's tables loaded without code,
//! merged on their reflected primary keys; an unknown table is named and nothing loads; a
//! MySQL database's tables with every value kept (`bigint unsigned` past 2^63).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use test_support::{connect, fresh_schema, pg_url, quote_ident};

use crate::common::{contents, dlt_rs};

#[tokio::test(flavor = "multi_thread")]
async fn sql_database_loads_a_schema_and_merges_on_its_primary_keys() {
    let db = connect().await;
    let test = "cli sql_database";
    let source = fresh_schema(&db, &format!("{test} source")).await;
    let dataset = fresh_schema(&db, test).await;
    let s = quote_ident(&source);
    db.batch_execute(&format!(
        "CREATE SCHEMA {s}; \
         CREATE TABLE {s}.users (id int PRIMARY KEY, name text NOT NULL, paid numeric(8,2)); \
         INSERT INTO {s}.users VALUES (1, 'ann', 1.50), (2, 'bob', NULL); \
         CREATE TABLE {s}.notes (body text); INSERT INTO {s}.notes VALUES ('x');"
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pipes = dir.path().join("pipes").to_string_lossy().to_string();
    let url = pg_url();
    let run = |tables: &[&str]| {
        let mut args = vec!["sql-database", url.as_str()];
        args.extend_from_slice(tables);
        args.extend_from_slice(&[
            "--schema",
            &source,
            "--credentials",
            &url,
            "--pipeline",
            "cli_sql",
            "--pipelines-dir",
            &pipes,
            "--dataset",
            &dataset,
            "--write-disposition",
            "merge",
        ]);
        dlt_rs(&args, dir.path())
    };
    let out = run(&[]);
    assert!(out.status.success(), "{out:?}");
    db.batch_execute(&format!(
        "UPDATE {s}.users SET paid = 2.00 WHERE id = 2; INSERT INTO {s}.users VALUES (3, 'cy', 0);"
    ))
    .await
    .unwrap();
    let out = run(&["users", "--incremental", "users.id"]);
    assert!(out.status.success(), "{out:?}");
    let d = quote_ident(&dataset);
    assert_eq!(
        contents(
            &db,
            &format!("SELECT id, name, paid FROM {d}.users ORDER BY id")
        )
        .await,
        ["1|ann|1.50", "2|bob|2.00", "3|cy|0.00"]
    );
    assert_eq!(
        contents(&db, &format!("SELECT body FROM {d}.notes")).await,
        ["x"]
    );
    assert_eq!(
        contents(
            &db,
            &format!(
                "SELECT column_name, is_nullable, data_type FROM information_schema.columns \
                 WHERE table_schema = '{dataset}' AND table_name = 'users' ORDER BY ordinal_position"
            )
        )
        .await[..3],
        ["id|NO|bigint", "name|NO|character varying", "paid|YES|numeric"]
    );

    // an unknown table, or a cursor on a table not loaded: named, and nothing loads
    let out = run(&["users", "--incremental", "notes.body"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`notes`"));
    let out = run(&["users", "nope"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`nope`"), "{err}");
    assert_eq!(
        contents(&db, &format!("SELECT count(*) FROM {d}.users")).await,
        ["3"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_database_copies_a_mysql_database_keeping_unsigned_bigints() {
    let db = connect().await;
    let test = "cli sql_database mysql";
    let source = test_support::mysql::fresh_mysql_database(
        test,
        "CREATE TABLE accounts (id bigint unsigned PRIMARY KEY, balance decimal(20,4), \
           opened datetime(6), note text); \
         INSERT INTO accounts VALUES (18446744073709551615, 12.5, '2024-01-02 03:04:05.5', \
           'max'), (1, NULL, NULL, 'line\\nbreak');",
    )
    .await;
    let dataset = fresh_schema(&db, test).await;
    let dir = tempfile::tempdir().unwrap();
    let pipes = dir.path().join("pipes").to_string_lossy().to_string();
    let source_url = format!("{}/{source}", test_support::mysql::mysql_url());
    let url = pg_url();
    let out = dlt_rs(
        &[
            "sql-database",
            &source_url,
            "--credentials",
            &url,
            "--pipeline",
            "cli_sql_mysql",
            "--pipelines-dir",
            &pipes,
            "--dataset",
            &dataset,
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let d = quote_ident(&dataset);
    assert_eq!(
        contents(
            &db,
            &format!("SELECT id, balance, opened, note FROM {d}.accounts ORDER BY id")
        )
        .await,
        [
            "1|||line\nbreak",
            "18446744073709551615|12.5000|2024-01-02 03:04:05.5|max"
        ]
    );
}
