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
