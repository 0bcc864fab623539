//! What a SQL destination implements for the engine: a [`Driver`] that hands out
//! [`Connection`]s. Connections run SQL text (the engine's, from this crate and the
//! destination's [`Dialect`]) and load job files; the engine owns the protocol.

use std::collections::{HashMap, HashSet};
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dest_core::{
    DataType, DestinationError, FollowUp, LoadJob, QueryRows, ReadColumn, Result, StagingLock,
    Value,
};

use crate::Dialect;

/// A driver failure, classified by the driver; the engine adds what it was doing.
pub type DbError = Box<dyn DestinationError>;

/// A statement parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

/// A value of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
    Timestamp(DateTime<Utc>),
}

/// One result row.
pub type Row = Vec<SqlValue>;

/// One connection, used by one task at a time. Transactions are the engine's: it runs the
/// dialect's [`Dialect::begin`] and `COMMIT` with [`Connection::batch`]. A connection
/// dropped inside a transaction must leave nothing of it behind (PostgreSQL: the
/// connection closes, the server rolls back; SQLite: the next user rolls back).
#[async_trait]
pub trait Connection: Send {
    /// Runs statements without parameters (several separated by `;`).
    async fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// Runs one statement; returns the rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError>;
    /// Runs one query; returns its rows.
    async fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, DbError>;
    /// Runs the user's query `sql` in a read-only transaction in which the tables of
    /// `dataset` are found by their names alone; the rows of its last statement, as text.
    async fn read_query(&mut self, dataset: &str, sql: &str) -> Result<QueryRows, DbError>;
    /// Opens a read ([`dest_core::LoadClient::read`]): query `sql` with `params` bound
    /// (positional), in a read-only transaction in which the tables of `dataset` are found
    /// by their names alone. `types` has one dlt type per result column where the engine
    /// knows them (a table read: the driver returns values of those types), or is empty
    /// (the user's query: the driver types the columns as it can). Returns the columns.
    async fn read_open(
        &mut self,
        dataset: &str,
        sql: &str,
        params: &[Value],
        types: &[Option<DataType>],
    ) -> Result<Vec<ReadColumn>, DbError>;
    /// Up to `max_rows` next rows of the open read; empty at its end.
    async fn read_next(&mut self, max_rows: usize) -> Result<Vec<Vec<Value>>, DbError>;
    /// Ends the open read and its transaction (the connection can be used again).
    async fn read_close(&mut self) -> Result<(), DbError>;
    /// The columns that exist of each of `tables` in `dataset` (a table that does not exist
    /// has no entry).
    async fn existing_columns(
        &mut self,
        dataset: &str,
        tables: &[&str],
    ) -> Result<HashMap<String, HashSet<String>>, DbError>;
    /// Runs query `sql` unless a table of `tables` is missing from `dataset` (`None`
    /// then). The default asks [`existing_columns`](Connection::existing_columns) first; a
    /// driver that can tell a missing table by the query's error runs the query alone.
    async fn query_if_exists(
        &mut self,
        dataset: &str,
        tables: &[&str],
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Vec<Row>>, DbError> {
        let found = self.existing_columns(dataset, tables).await?;
        if tables.iter().any(|t| !found.contains_key(*t)) {
            return Ok(None);
        }
        self.query(sql, params).await.map(Some)
    }
    /// Loads one job file into `table` (qualified and quoted) inside the open transaction;
    /// returns the rows inserted. Errors name the file (and the row where known).
    async fn load_job(&mut self, job: &LoadJob, table: &str) -> Result<u64>;
}

/// A SQL database as the engine sees it: connections, its dialect, and what only the
/// driver can do (a lock that spans transactions, checks before a follow-up).
#[async_trait]
pub trait Driver: fmt::Debug + Send + Sync + 'static {
    type Conn: Connection + 'static;

    fn dialect(&self) -> &dyn Dialect;
    /// A connection: an idle one, or a new one.
    async fn acquire(&self) -> Result<Self::Conn>;
    /// Gives back a connection whose work ended well (outside a transaction). A connection
    /// that failed is dropped instead.
    fn release(&self, conn: Self::Conn);
    /// Whether load sessions run on this database ([`dest_core::LoadClient::session`]):
    /// `false` where one connection serves every load (SQLite).
    fn sessions(&self) -> bool {
        true
    }
    /// [`dest_core::LoadClient::lock_staging`] on `staging`.
    async fn lock_staging(&self, _staging: &str, _wait: bool) -> Result<StagingLock> {
        Ok(StagingLock::Acquired)
    }
    /// [`dest_core::LoadClient::unlock_staging`].
    async fn unlock_staging(&self, _staging: &str) -> Result<()> {
        Ok(())
    }
    /// In a follow-up's transaction, just before it commits: fails transiently when the
    /// staging lock taken for it was lost on the way.
    async fn verify_staging_lock(
        &self,
        _conn: &mut Self::Conn,
        _staging: &str,
        _ctx: &str,
    ) -> Result<()> {
        Ok(())
    }
    /// In a follow-up's transaction, before its statements: refuses a follow-up the server
    /// cannot run (PostgreSQL before 15 has no MERGE for upsert).
    async fn check_follow_up(
        &self,
        _conn: &mut Self::Conn,
        _kind: FollowUp,
        _ctx: &str,
    ) -> Result<()> {
        Ok(())
    }
}
