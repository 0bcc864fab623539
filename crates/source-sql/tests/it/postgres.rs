//! PostgreSQL as a source: reflection, types and rows as dlt's `sql_database` gives them,
//! merge on the reflected primary key, and the errors a user can cause.

use crate::{pipeline, text};
use source_sql::{SqlDatabase, SqlSourceError};
use test_support::{connect, fresh_schema, pg_url, query_rows, quote_ident};
use tokio_postgres::Client;

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
    for url in ["oracle://scott@127.0.0.1/db", "mssql://sa@127.0.0.1/db"] {
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

/// A pipeline into PostgreSQL with loader file format `format`.
fn pipeline_with_format(
    name: &str,
    dataset: &str,
    dir: &std::path::Path,
    format: &str,
) -> pipeline::Pipeline {
    let config = dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(Vec::<(String, String)>::new());
    pipeline::Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(&pg_url())
        .config(config)
        .loader_file_format(format)
        .build()
        .expect("pipeline builds")
}

/// Every data column of every table of `dataset` as text, rows in `id`/first-column order;
/// `_dlt_id` only as "is set and unique", `_dlt_load_id` as "the same in every row".
async fn contents(client: &Client, dataset: &str) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["items", "order_linesx"] {
        let t = format!("{}.{}", quote_ident(dataset), quote_ident(table));
        let rows = query_rows(
            client,
            &format!(
                "SELECT (to_jsonb(r) - '_dlt_id' - '_dlt_load_id')::text FROM {t} r \
                 ORDER BY 1"
            ),
        )
        .await;
        out.extend(rows.into_iter().flatten().flatten());
        let ids = query_rows(
            client,
            &format!(
                "SELECT (count(DISTINCT _dlt_id) = count(*) AND count(_dlt_id) = count(*) \
                 AND count(DISTINCT _dlt_load_id) = 1)::text FROM {t}"
            ),
        )
        .await;
        out.extend(
            ids.into_iter()
                .flatten()
                .flatten()
                .map(|ok| format!("{table} ids {ok}")),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn columnar_and_row_by_row_reads_load_the_same_tables() {
    let client = connect().await;
    let test = "sql postgres columnar same";
    let source = source_schema(&client, test, TYPES_DDL).await;
    let dir = tempfile::tempdir().unwrap();
    let mut loaded = Vec::new();
    for format in ["parquet", "insert_values"] {
        for columnar in [true, false] {
            let dataset = fresh_schema(&client, &format!("{test} {format} {columnar}")).await;
            let db = SqlDatabase::from_url(&pg_url())
                .unwrap()
                .with_schema(&source)
                .columnar(columnar);
            let tables = db.reflect(&[]).await.unwrap();
            if columnar {
                assert!(
                    db.record_batches(&tables[1]).is_some(),
                    "items reads columnar"
                );
            }
            let resources = tables.iter().map(|t| db.resource(t)).collect();
            let name = format!("sql_same_{format}_{columnar}");
            let info = pipeline_with_format(&name, &dataset, dir.path(), format)
                .run(resources)
                .await
                .expect("load");
            assert_eq!(info.items, 3, "{format} columnar={columnar}");
            loaded.push((
                format!("{format} columnar={columnar}"),
                columns(&client, &dataset).await,
                contents(&client, &dataset).await,
            ));
        }
    }
    let (reference, ref_columns, ref_rows) = &loaded[1];
    assert!(
        ref_rows.contains(&"items ids true".to_string()),
        "{ref_rows:?}"
    );
    assert!(
        ref_columns.contains(&"items|_dlt_id|character varying|NO||".to_string()),
        "{ref_columns:?}"
    );
    for (what, cols, rows) in &loaded {
        assert_eq!(cols, ref_columns, "{what} vs {reference}: columns");
        assert_eq!(rows, ref_rows, "{what} vs {reference}: rows");
    }
    // an empty bytea stays an empty bytea, a float4 keeps its shortest text
    assert!(
        ref_rows.iter().any(|r| r.contains(r#""raw": "\\x""#)),
        "{ref_rows:?}"
    );
    assert!(ref_rows.iter().any(|r| r.contains(r#""ratio": 0.25"#)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_dropped_mid_read_fails_the_run_and_loads_nothing_of_it() {
    let client = connect().await;
    let test = "sql postgres dropped";
    // far more than the reader's channel, one batch and the socket buffers hold: after the
    // first batch the server is still in the middle of the COPY
    let source = source_schema(
        &client,
        test,
        "CREATE TABLE {s}.big (id bigint PRIMARY KEY, pad text); \
         INSERT INTO {s}.big SELECT g, repeat('x', 200) FROM generate_series(1, 400000) g;",
    )
    .await;
    let dataset = fresh_schema(&client, test).await;
    let dir = tempfile::tempdir().unwrap();
    let application = format!("dlt_rs_drop_{}", std::process::id());
    let url = format!(
        "{}{}application_name={application}",
        pg_url(),
        if pg_url().contains('?') { "&" } else { "?" }
    );
    let db = SqlDatabase::from_url(&url).unwrap().with_schema(&source);
    let tables = db.reflect(&["big".to_string()]).await.unwrap();
    let mut batches = db.record_batches(&tables[0]).expect("columnar");
    let (first, mut batches) = tokio::task::spawn_blocking(move || {
        let first = batches.next().expect("a batch").expect("a good batch");
        (first, batches)
    })
    .await
    .unwrap();
    assert!(first.num_rows() > 0);
    // the reading backend (its COPY is waiting for us to read on)
    let killed = query_rows(
        &client,
        &format!(
            "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity \
             WHERE application_name = '{application}' AND query LIKE 'COPY%'"
        ),
    )
    .await;
    assert_eq!(killed, [text(&["true"])]);
    let resource = pipeline::Resource::from_record_batches(
        "big",
        std::iter::once(Ok(first)).chain(std::iter::from_fn(move || batches.next())),
    )
    .dlt_columns(true)
    .primary_key(["id"]);
    let e = pipeline_with_format("sql_dropped", &dataset, dir.path(), "parquet")
        .run(vec![resource])
        .await
        .expect_err("the dropped connection fails the run");
    let message = e.to_string();
    assert!(message.contains("reading failed"), "{message}");
    assert!(
        message.contains(&format!("table `{source}.big`")),
        "{message}"
    );
    let tables = query_rows(
        &client,
        &format!(
            "SELECT count(*)::text FROM information_schema.tables \
             WHERE table_schema = '{dataset}' AND table_name = 'big'"
        ),
    )
    .await;
    assert_eq!(tables, [text(&["0"])], "nothing of the table is loaded");
}
