//! Integration tests of the `sql_database` source against a real PostgreSQL
//! (`DLT_RS_TEST_PG_URL`, default `postgresql://postgres@127.0.0.1:5432/postgres`), which
//! serves as source and destination; every test has its own schemas and pipelines dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres;
