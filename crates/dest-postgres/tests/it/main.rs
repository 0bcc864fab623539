//! The integration tests of `dest-postgres`, one test binary (`cargo test -p dest-postgres
//! --test it`): everything that needs a live PostgreSQL (`DLT_RS_TEST_PG_URL`, default
//! `postgresql://postgres@127.0.0.1:5432/postgres`), through the crate's public API only.
//! The unit tests in `src/` need no server. Every test works in a schema of its own
//! (`test_support::fresh_schema`), so they run in parallel against one database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary_copy;
mod bound;
mod csv;
mod follow_up;
mod literals;
mod suite;
mod support;
mod tls;
