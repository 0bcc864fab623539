//! The workspace-level end-to-end tests, one test binary (`cargo test -p e2e --test it`, a
//! module's tests with a filter: `cargo test -p e2e --test it no_loss::`): pipelines through
//! the library into a real PostgreSQL. Each former test file is a module here; every test
//! loads into schemas and a pipelines dir of its own, so they run in parallel in this one
//! process.

mod arrow;
mod e2e;
mod hostile;
mod no_loss;
mod read_back;
