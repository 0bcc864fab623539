//! The integration tests of `source-chess`, one test binary (`cargo test -p source-chess
//! --test it`): each former test file is a module here (`config`: no server, `postgres`:
//! the fixture server and the test PostgreSQL).

mod config;
mod postgres;
