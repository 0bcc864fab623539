//! The destination conformance suite (`dest-test`) against PostgreSQL: one test per case,
//! each in its own schema of the test server (`DLT_RS_TEST_PG_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dest_postgres as _; // registers `postgres`
use dest_test::{async_trait, Harness};
use test_support::{connect, pg_url, query_rows, quote_ident};

struct Pg(tokio_postgres::Client);

#[async_trait]
impl Harness for Pg {
    fn destination(&self) -> &str {
        "postgres"
    }

    fn credentials(&self) -> String {
        pg_url()
    }

    fn unreachable_credentials(&self) -> Option<String> {
        Some("postgresql://postgres@127.0.0.1:1/postgres".into())
    }

    async fn fresh_dataset(&self, name: &str) -> String {
        let sql = format!(
            "DROP SCHEMA IF EXISTS {} CASCADE; DROP SCHEMA IF EXISTS {} CASCADE",
            quote_ident(name),
            quote_ident(&format!("{name}_staging"))
        );
        self.0.batch_execute(&sql).await.unwrap();
        name.to_string()
    }

    async fn query(&self, _dataset: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        query_rows(&self.0, sql).await
    }

    fn quote(&self, ident: &str) -> String {
        quote_ident(ident)
    }

    async fn columns(&self, dataset: &str, table: &str) -> Vec<(String, String)> {
        let rows = self
            .0
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                &[&dataset, &table],
            )
            .await
            .unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }
}

dest_test::suite!(Pg(connect().await));

/// Another loader's load session creates a table in its own transaction, without the
/// migration lock: a migration that wants the same table waits for that commit, fails on
/// the name (`relation already exists`, or the catalog's unique index on type names), and
/// is run again, which sees the table. (Two pipelines' first loads into one dataset failed
/// this way now and then.)
#[tokio::test]
async fn a_migration_that_loses_a_race_for_a_table_is_run_again() {
    use dest_core::{Column, DataType, DatasetRef, Destination, LoadTarget, Schema, TableSchema};
    let admin = connect().await;
    let ds = Pg(connect().await).fresh_dataset("suite_pg_ddl_race").await;
    admin
        .batch_execute(&format!("CREATE SCHEMA {}", quote_ident(&ds)))
        .await
        .unwrap();
    // the other loader's open transaction has created the table
    admin
        .batch_execute(&format!(
            "BEGIN; CREATE TABLE {}.items (id bigint)",
            quote_ident(&ds)
        ))
        .await
        .unwrap();

    let credentials = dest_postgres::PostgresCredentials::parse_url(&pg_url()).unwrap();
    let destination =
        dest_postgres::Postgres::new(credentials, dest_postgres::PostgresSettings::default());
    let client = destination
        .client(&DatasetRef {
            name: ds.clone(),
            staging: format!("{ds}_staging"),
        })
        .await
        .unwrap();
    let mut schema = Schema::new("race");
    let mut items = TableSchema::new("items");
    items.columns = vec![
        Column::new("id", DataType::Bigint),
        Column::new("v", DataType::Text),
    ];
    schema.tables.push(items);
    let migration = tokio::spawn(async move {
        client
            .update_schema(&schema, &["items".into()], LoadTarget::Dataset)
            .await
    });
    // once the migration waits for the other transaction, that one commits
    let waiting = "SELECT count(*)::text FROM pg_stat_activity \
                   WHERE (SELECT pg_backend_pid()) = ANY(pg_blocking_pids(pid))";
    let mut waited = false;
    for _ in 0..6000 {
        if query_rows(&admin, waiting).await != [[Some("0".to_string())]] {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        waited,
        "the migration never waited for the other transaction"
    );
    admin.batch_execute("COMMIT").await.unwrap();
    let statements = migration.await.unwrap().unwrap();
    assert!(
        statements.iter().any(|s| s.contains("ADD COLUMN")),
        "the second attempt widens the table: {statements:?}"
    );
    let columns = query_rows(
        &admin,
        &format!(
            "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM \
             information_schema.columns WHERE table_schema = '{ds}' AND table_name = 'items'"
        ),
    )
    .await;
    assert_eq!(columns, [[Some("id,v".to_string())]]);
}
