//! The integration tests of `dest-sqlite`, one test binary (`cargo test -p dest-sqlite --test
//! it`): each former test file is a module here. Every test works in a temporary folder of
//! its own, so they run in parallel in this one process.

mod pipelines;
mod suite;
