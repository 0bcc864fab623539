//! PostgreSQL as a source: reflection, types and rows as dlt's `sql_database` gives them,
//! merge on the reflected primary key, and the errors a user can cause.

use std::path::Path;

use pipeline::Pipeline;
use source_sql::{SqlDatabase, SqlSourceError};
use test_support::{connect, fresh_schema, pg_url, query_rows, quote_ident};
use tokio_postgres::Client;

use dest_postgres as _;

fn pipeline(name: &str, dataset: &str, dir: &Path) -> Pipeline {
    let config = dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(Vec::<(String, String)>::new());
    Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(&pg_url())
        .config(config)
        .build()
        .expect("pipeline builds")
}

/// A fresh source schema for `test`, made by `ddl` (`{s}` is the quoted schema name).
async fn source_schema(client: &Client, test: &str, ddl: &str) -> String {
    let schema = fresh_schema(client, &format!("{test} source")).await;
    let s = quote_ident(&schema);
    client
        .batch_execute(&format!("CREATE SCHEMA {s}; {}", ddl.replace("{s}", &s)))
        .await
        .expect("source schema");
    schema
}

/// `table_name|column_name|data_type|is_nullable|precision|scale` of a dataset.
async fn columns(client: &Client, dataset: &str) -> Vec<String> {
    query_rows(
        client,
        &format!(
            "SELECT table_name, column_name, data_type, is_nullable, \
             coalesce(numeric_precision::text, ''), coalesce(numeric_scale::text, '') \
             FROM information_schema.columns WHERE table_schema = '{dataset}' \
             AND table_name NOT LIKE '\\_dlt%' ORDER BY table_name, ordinal_position"
        ),
    )
    .await
    .into_iter()
    .map(|r| {
        r.into_iter()
            .map(Option::unwrap_or_default)
            .collect::<Vec<_>>()
            .join("|")
    })
    .collect()
}

const TYPES_DDL: &str = r#"
CREATE TABLE {s}.items (
  id serial PRIMARY KEY, price numeric(12,2) NOT NULL, amount numeric, score double precision,
  ratio real, small smallint, ok boolean, born date, at_local timestamp, at_zone timestamptz,
  clock time, note text, code char(3), doc jsonb, plain json, raw bytea, tags text[],
  uid uuid, "Hostile ""Name"" ; --" varchar(20));
INSERT INTO {s}.items (price, amount, score, ratio, small, ok, born, at_local, at_zone, clock,
  note, code, doc, plain, raw, tags, uid, "Hostile ""Name"" ; --") VALUES
 (12.50, 12345678901234567890.123456789, 1.5, 0.25, -32768, true, '1900-01-02',
  '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+02', '10:11:12', E'quote '' "dq"\nline\\',
  'ab', '{"b": 1, "a": [1, 2]}', E'{"k":\n  "v"}', '\x00ff10', '{a,"b c"}',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x'),
 (0.01, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, NULL, '\x',
  '{}', NULL, NULL);
CREATE TABLE {s}."Order ""Lines""" (k int, v text);
INSERT INTO {s}."Order ""Lines""" VALUES (1, 'one');
"#;

#[tokio::test(flavor = "multi_thread")]
async fn postgres_tables_load_with_reflected_types_and_rows() {
    let client = connect().await;
    let test = "sql postgres types";
    let source = source_schema(&client, test, TYPES_DDL).await;
    let dataset = fresh_schema(&client, test).await;
    let dir = tempfile::tempdir().unwrap();

    let db = SqlDatabase::from_url(&pg_url())
        .unwrap()
        .with_schema(&source);
    let tables = db.reflect(&[]).await.unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Order \"Lines\"", "items"]);
    assert_eq!(tables[1].primary_key, ["id"]);
    let resources = tables.iter().map(|t| db.resource(t)).collect();
    let mut p = pipeline("sql_types", &dataset, dir.path());
    p.run(resources).await.expect("load");

    // the tables and types dlt 1.31's sql_database makes (SQLAlchemy 2.0 reflection)
    assert_eq!(
        columns(&client, &dataset).await,
        [
            "items|id|bigint|NO|64|0",
            "items|price|numeric|NO|12|2",
            "items|amount|numeric|YES|38|9",
            "items|score|double precision|YES|53|",
            "items|ratio|double precision|YES|53|",
            "items|small|bigint|YES|64|0",
            "items|ok|boolean|YES||",
            "items|born|date|YES||",
            "items|at_local|timestamp without time zone|YES||",
            "items|at_zone|timestamp with time zone|YES||",
            "items|clock|time without time zone|YES||",
            "items|note|character varying|YES||",
            "items|code|character varying|YES||",
            "items|doc|jsonb|YES||",
            "items|plain|jsonb|YES||",
            "items|raw|bytea|YES||",
            "items|tags|jsonb|YES||",
            "items|uid|character varying|YES||",
            "items|hostile_namexxx|character varying|YES||",
            "items|_dlt_load_id|character varying|NO||",
            "items|_dlt_id|character varying|NO||",
            "order_linesx|k|bigint|YES|64|0",
            "order_linesx|v|character varying|YES||",
            "order_linesx|_dlt_load_id|character varying|NO||",
            "order_linesx|_dlt_id|character varying|NO||",
        ]
    );
    let rows = query_rows(
        &client,
        &format!(
            "SELECT id, price, amount, score, ratio, small, ok, born, at_local, at_zone, clock, \
             note, code, doc, plain, raw, tags, uid, hostile_namexxx FROM {}.items ORDER BY id",
            quote_ident(&dataset)
        ),
    )
    .await;
    let text = |v: &[&str]| -> Vec<Option<String>> {
        v.iter()
            .map(|s| (*s != "NULL").then(|| s.to_string()))
            .collect()
    };
    assert_eq!(
        rows,
        [
            text(&[
                "1",
                "12.50",
                "12345678901234567890.123456789",
                "1.5",
                "0.25",
                "-32768",
                "t",
                "1900-01-02",
                "2024-01-02 03:04:05.123456",
                "2024-01-02 01:04:05+00",
                "10:11:12",
                "quote ' \"dq\"\nline\\",
                "ab ",
                "{\"a\": [1, 2], \"b\": 1}",
                "{\"k\": \"v\"}",
                "\\x00ff10",
                "[\"a\", \"b c\"]",
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "x",
            ]),
            text(&[
                "2", "0.01", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL",
                "NULL", "", "NULL", "NULL", "NULL", "\\x", "[]", "NULL", "NULL",
            ]),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn merge_uses_the_reflected_primary_key() {
    let client = connect().await;
    let test = "sql postgres merge";
    let source = source_schema(
        &client,
        test,
        "CREATE TABLE {s}.users (id int PRIMARY KEY, name text); \
         INSERT INTO {s}.users VALUES (1, 'ann'), (2, 'bob');",
    )
    .await;
    let dataset = fresh_schema(&client, test).await;
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDatabase::from_url(&pg_url())
        .unwrap()
        .with_schema(&source);
    let names = ["users".to_string()];
    for update in [
        "",
        "UPDATE {s}.users SET name = 'bo' WHERE id = 2; INSERT INTO {s}.users VALUES (3, 'cy');",
    ] {
        let s = quote_ident(&source);
        client
            .batch_execute(&update.replace("{s}", &s))
            .await
            .unwrap();
        let tables = db.reflect(&names).await.unwrap();
        let resources = tables
            .iter()
            .map(|t| db.resource(t).write_disposition("merge", None).unwrap())
            .collect();
        pipeline("sql_merge", &dataset, dir.path())
            .run(resources)
            .await
            .expect("load");
    }
    let rows = query_rows(
        &client,
        &format!(
            "SELECT id::text || '=' || name FROM {}.users ORDER BY id",
            quote_ident(&dataset)
        ),
    )
    .await;
    let rows: Vec<String> = rows.into_iter().flatten().flatten().collect();
    assert_eq!(rows, ["1=ann", "2=bo", "3=cy"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tables_are_named_and_other_schemes_refused() {
    let client = connect().await;
    let source = source_schema(
        &client,
        "sql postgres unknown",
        "CREATE TABLE {s}.known (a int);",
    )
    .await;
    let db = SqlDatabase::from_url(&pg_url())
        .unwrap()
        .with_schema(&source);
    let e = db
        .reflect(&["nope".into(), "known".into(), "gone".into()])
        .await
        .unwrap_err();
    match &e {
        SqlSourceError::UnknownTables { schema, tables } => {
            assert_eq!(schema, &source);
            assert_eq!(tables, &["nope", "gone"]);
        }
        other => panic!("not UnknownTables: {other:?}"),
    }
    let empty = SqlDatabase::from_url(&pg_url())
        .unwrap()
        .with_schema(format!("{source}_none"));
    assert!(matches!(
        empty.reflect(&[]).await,
        Err(SqlSourceError::NoTables { .. })
    ));
    for url in ["mysql://root@127.0.0.1/db", "sqlite:///tmp/x.db"] {
        assert!(matches!(
            SqlDatabase::from_url(url),
            Err(SqlSourceError::UnsupportedScheme { .. })
        ));
    }
    assert!(matches!(
        SqlDatabase::from_url("host=x dbname=y"),
        Err(SqlSourceError::NotAUrl)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_reads_only_from_the_last_value_on() {
    let client = connect().await;
    let test = "sql postgres incremental";
    let source = source_schema(
        &client,
        test,
        "CREATE TABLE {s}.events (id int PRIMARY KEY, updated timestamptz, v text); \
         INSERT INTO {s}.events VALUES (1, '2024-01-01 00:00:00+00', 'a'), \
           (2, '2024-01-02 00:00:00+00', 'b');",
    )
    .await;
    let s = quote_ident(&source);
    let dataset = fresh_schema(&client, test).await;
    let dir = tempfile::tempdir().unwrap();
    let db = SqlDatabase::from_url(&pg_url())
        .unwrap()
        .with_schema(&source);
    let names = ["events".to_string()];
    let run = || async {
        let tables = db.reflect(&names).await.unwrap();
        let resource = db
            .incremental_resource(&tables[0], "updated", None)
            .unwrap()
            .write_disposition("merge", None)
            .unwrap();
        pipeline("sql_incremental", &dataset, dir.path())
            .run(vec![resource])
            .await
            .expect("load")
    };
    assert_eq!(run().await.items, 2);
    // a changed row, a new row, and a row without a cursor value: the statement asks only
    // for rows from the last value on (the NULL is not read, so the cursor does not fail on
    // it), and the row at the last value, unchanged, is dropped as dlt drops it
    client
        .batch_execute(&format!(
            "UPDATE {s}.events SET updated = '2024-01-03 00:00:00+00', v = 'A' WHERE id = 1; \
             INSERT INTO {s}.events VALUES (3, '2024-01-04 00:00:00+00', 'c'), (4, NULL, 'd');"
        ))
        .await
        .unwrap();
    assert_eq!(run().await.items, 2);
    let rows = query_rows(
        &client,
        &format!(
            "SELECT id::text || '=' || v FROM {}.events ORDER BY id",
            quote_ident(&dataset)
        ),
    )
    .await;
    let rows: Vec<String> = rows.into_iter().flatten().flatten().collect();
    assert_eq!(rows, ["1=A", "2=b", "3=c"]);

    // a cursor the table does not have, or of a type that cannot be one
    let tables = db.reflect(&names).await.unwrap();
    assert!(matches!(
        db.incremental_resource(&tables[0], "nope", None),
        Err(SqlSourceError::UnknownColumn { .. })
    ));
    client
        .batch_execute(&format!("ALTER TABLE {s}.events ADD COLUMN doc jsonb"))
        .await
        .unwrap();
    let tables = db.reflect(&names).await.unwrap();
    assert!(matches!(
        db.incremental_resource(&tables[0], "doc", None),
        Err(SqlSourceError::CursorType { .. })
    ));
}
