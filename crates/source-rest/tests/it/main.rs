//! Integration tests of the `rest_api` source: every case of `tests/cases/` (a dlt
//! `RESTAPIConfig`, optional steps) run against the local fixture API into PostgreSQL
//! (`DLT_RS_TEST_PG_URL`, default `postgresql://postgres@127.0.0.1:5432/postgres`), the
//! dataset compared with what real dlt 1.31 loaded from the same fixture
//! (`tests/dlt/README.md`); every case has its own schema and pipelines dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cases;
mod errors;
