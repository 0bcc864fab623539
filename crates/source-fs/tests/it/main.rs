//! The integration tests of `source-fs`, one test binary: the filesystem source through
//! `Pipeline::run_with_state` into SQLite (the CLI's tests load into PostgreSQL).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod incremental;
