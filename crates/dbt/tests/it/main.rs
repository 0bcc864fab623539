//! The integration tests of `dlt-dbt`, one test binary (`cargo test -p dlt-dbt --test it`):
//! each former test file is a module here (`postgres`: dbt against the test server,
//! `profile`: no database, no dbt). The dbt project they use is `tests/fixtures/`.

mod postgres;
mod profile;
