//! Reading a dataset back: what the pipeline asks a destination for ([`ReadRequest`]: a
//! table with a selection, conditions, an order and a window, its row count, or the user's
//! SQL with bound parameters) and what it gets ([`RowCursor`]: typed rows, a bounded batch
//! at a time). Values travel as [`Value`]s, never as SQL text: a destination binds them.

use async_trait::async_trait;

use crate::{DataType, Result, SortOrder, Value};

/// A column of read rows: its name and, where known, its dlt type (the stored schema's for
/// a table; the destination's reading of a query's result column otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadColumn {
    pub name: String,
    pub data_type: Option<DataType>,
}

/// A comparison of a [`Filter::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// One condition on a table's rows (conditions of a read all hold: `AND`).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `column <op> value` (a NULL value matches nothing, as in SQL).
    Compare {
        column: String,
        op: Comparison,
        value: Value,
    },
    /// `column IN (values)` (no values: no row).
    In {
        column: String,
        values: Vec<Value>,
    },
    IsNull {
        column: String,
    },
    IsNotNull {
        column: String,
    },
}

impl Filter {
    /// The column the condition is on.
    pub fn column(&self) -> &str {
        match self {
            Filter::Compare { column, .. }
            | Filter::In { column, .. }
            | Filter::IsNull { column }
            | Filter::IsNotNull { column } => column,
        }
    }
}

/// A read of one table of the dataset: the columns (with their types, in result order),
/// the conditions, the order and the window. Names are the destination's (normalized).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableRead {
    pub table: String,
    pub columns: Vec<ReadColumn>,
    pub filters: Vec<Filter>,
    pub order_by: Vec<(String, SortOrder)>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// What [`crate::LoadClient::read`] reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadRequest {
    /// The rows of a table.
    Table(TableRead),
    /// The number of rows of a table that meet its conditions (one row, one `bigint`
    /// column `count`; the read's columns, order and window are ignored).
    Count(TableRead),
    /// The user's query, in the destination's SQL, with positional parameters bound to
    /// `params` (`$1` on PostgreSQL, `?1` on SQLite); the dataset's tables are found by
    /// their names alone. Read-only.
    Sql { sql: String, params: Vec<Value> },
}

/// The rows of a [`ReadRequest`], read a batch at a time from one read-only transaction
/// (one snapshot). Dropping a cursor before its end ends the read.
#[async_trait]
pub trait RowCursor: Send {
    /// The result's columns.
    fn columns(&self) -> &[ReadColumn];
    /// Up to `max_rows` next rows (each value of its column's type where the column has
    /// one); empty at the end, after which the read is over.
    async fn next_batch(&mut self, max_rows: usize) -> Result<Vec<Vec<Value>>>;
}
