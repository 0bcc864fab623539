//! The load protocol of every SQL destination, written once over a [`Driver`].
//!
//! A SQL destination is its configuration and connection, its [`Dialect`](crate::Dialect)
//! and its file formats. It implements [`Driver`] (connections that run SQL text and load
//! one job file, a lock that spans transactions) and gets [`SqlClient`], the
//! [`LoadClient`](dest_core::LoadClient) that does the rest the same way on every database:
//!
//! * schema migration, idempotent by version hash: the dataset's transaction lock
//!   ([`Dialect::xact_lock`](crate::Dialect::xact_lock)), `CREATE TABLE` / `ADD COLUMN` of
//!   what is missing, the database's column limit, the `_dlt_version` row, and a second
//!   attempt when a concurrent load session took a table name first;
//! * job files in one transaction each, recorded in the job ledger in that transaction,
//!   and chains of jobs in one transaction (replace with `truncate-and-insert`);
//! * follow-ups (replace and merge from staging) at most once per load and chain, recorded
//!   in the follow-up ledger in their own transaction;
//! * `_dlt_loads`, the stored schema and state, dropping tables, row counts, recent loads;
//! * load sessions ([`dest_core::LoadSession`]): one connection and one open transaction
//!   per table chain.

mod client;
mod driver;
mod read;
mod session;

pub use client::SqlClient;
pub use driver::{Connection, DbError, Driver, Param, Row, SqlValue};
