//! The integration tests of the `dlt-rs` command line, one test binary (`cargo test -p cli
//! --test it`, a module's tests with a filter: `cargo test -p cli --test it faults::`). Each
//! former test file is a module here; `common` is what they share. The tests run in parallel
//! in this one process, so none of them changes the process's current directory or
//! environment: commands get theirs explicitly (`docs` runs the Rust examples of the docs,
//! which read both, in a process of their own).

mod cli;
mod common;
mod contracts;
mod dashboard;
mod docs;
mod faults;
mod files;
mod filesystem;
mod init;
mod interop;
mod naming;
mod pipeline_cmd;
mod progress;
mod rest_api;
mod scale_out;
mod sql_database;
mod sqlite;
