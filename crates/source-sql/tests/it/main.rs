//! Integration tests of the `sql_database` source against a real PostgreSQL
//! (`DLT_RS_TEST_PG_URL`, default `postgresql://postgres@127.0.0.1:5432/postgres`), which
//! serves as source and destination, and a real MySQL/MariaDB (`DLT_RS_TEST_MYSQL_URL`,
//! default `mysql://root@127.0.0.1:3306`) as a source; every test has its own schemas and pipelines dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod key_range;
mod mysql;
mod postgres;
mod sqlite;

use std::path::Path;

use pipeline::Pipeline;

use dest_postgres as _;

/// A pipeline into PostgreSQL (`DLT_RS_TEST_PG_URL`) with its folder and config in `dir`.
fn pipeline(name: &str, dataset: &str, dir: &Path) -> Pipeline {
    let config = dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(Vec::<(String, String)>::new());
    Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(&test_support::pg_url())
        .config(config)
        .build()
        .expect("pipeline builds")
}

/// A row of expected values as `query_rows` gives them: `"NULL"` is SQL NULL.
fn text(v: &[&str]) -> Vec<Option<String>> {
    v.iter()
        .map(|s| (*s != "NULL").then(|| s.to_string()))
        .collect()
}
