//! Reading a dataset back ([`dest_core::LoadClient::read`]): a [`ReadRequest`] as one
//! query of the dialect (identifiers quoted, every value a bound parameter), run by the
//! driver's read cursor on a connection the [`EngineCursor`] holds until the end.

use std::sync::Arc;

use async_trait::async_trait;
use dest_core::{
    Comparison, DataType, Error, Filter, ReadColumn, ReadRequest, Result, RowCursor, SortOrder,
    TableRead, Value,
};

use super::client::db;
use super::driver::{Connection, Driver};
use crate::Dialect;

/// The most rows one batch of a read asks the database for (a larger request gets batches
/// of this size).
const MAX_BATCH_ROWS: usize = 1 << 20;

/// The query of a request: its text, its parameters, and the types its result columns
/// have (one per column of a table read; none for the user's query, whose columns the
/// driver reads off the result).
pub(crate) struct ReadQuery {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
    pub(crate) types: Vec<Option<DataType>>,
}

/// Builds the query of `request` against `dataset`.
pub(crate) fn read_query(dialect: &dyn Dialect, dataset: &str, request: &ReadRequest) -> ReadQuery {
    match request {
        ReadRequest::Sql { sql, params } => ReadQuery {
            sql: sql.clone(),
            params: params.clone(),
            types: Vec::new(),
        },
        ReadRequest::Count(read) => {
            let mut q = ReadQuery {
                sql: format!(
                    "SELECT count(*) AS {} FROM {}",
                    dialect.quote_ident("count"),
                    dialect.qualified(dataset, &read.table)
                ),
                params: Vec::new(),
                types: vec![Some(DataType::Bigint)],
            };
            where_clause(dialect, read, &mut q);
            q
        }
        ReadRequest::Table(read) => {
            let columns: Vec<String> = read
                .columns
                .iter()
                .map(|c| dialect.quote_ident(&c.name))
                .collect();
            let mut q = ReadQuery {
                sql: format!(
                    "SELECT {} FROM {}",
                    columns.join(", "),
                    dialect.qualified(dataset, &read.table)
                ),
                params: Vec::new(),
                types: read.columns.iter().map(|c| c.data_type).collect(),
            };
            where_clause(dialect, read, &mut q);
            if !read.order_by.is_empty() {
                let keys: Vec<String> = read
                    .order_by
                    .iter()
                    .map(|(c, order)| {
                        let dir = match order {
                            SortOrder::Asc => "ASC",
                            SortOrder::Desc => "DESC",
                        };
                        format!("{} {dir}", dialect.quote_ident(c))
                    })
                    .collect();
                q.sql.push_str(" ORDER BY ");
                q.sql.push_str(&keys.join(", "));
            }
            // an offset alone still needs a LIMIT in some databases (SQLite)
            if read.limit.is_some() || read.offset.is_some() {
                let limit = read.limit.map_or(i64::MAX, saturating_i64);
                let p = push_param(dialect, &mut q, Value::Int(limit));
                q.sql.push_str(&format!(" LIMIT {p}"));
            }
            if let Some(offset) = read.offset {
                let p = push_param(dialect, &mut q, Value::Int(saturating_i64(offset)));
                q.sql.push_str(&format!(" OFFSET {p}"));
            }
            q
        }
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds `value` as the next parameter; its placeholder.
fn push_param(dialect: &dyn Dialect, q: &mut ReadQuery, value: Value) -> String {
    q.params.push(value);
    dialect.param(q.params.len())
}

fn where_clause(dialect: &dyn Dialect, read: &TableRead, q: &mut ReadQuery) {
    let mut conditions = Vec::with_capacity(read.filters.len());
    for f in &read.filters {
        let column = dialect.quote_ident(f.column());
        conditions.push(match f {
            Filter::Compare { op, value, .. } => {
                let op = match op {
                    Comparison::Eq => "=",
                    Comparison::Ne => "<>",
                    Comparison::Lt => "<",
                    Comparison::Le => "<=",
                    Comparison::Gt => ">",
                    Comparison::Ge => ">=",
                };
                let p = push_param(dialect, q, value.clone());
                format!("{column} {op} {p}")
            }
            Filter::In { values, .. } if values.is_empty() => "1 = 0".to_string(),
            Filter::In { values, .. } => {
                let ps: Vec<String> = values
                    .iter()
                    .map(|v| push_param(dialect, q, v.clone()))
                    .collect();
                format!("{column} IN ({})", ps.join(", "))
            }
            Filter::IsNull { .. } => format!("{column} IS NULL"),
            Filter::IsNotNull { .. } => format!("{column} IS NOT NULL"),
        });
    }
    if !conditions.is_empty() {
        q.sql.push_str(" WHERE ");
        q.sql.push_str(&conditions.join(" AND "));
    }
}

/// The rows of an open read: the connection stays out of the pool until the read ends
/// (then it goes back) or fails or is dropped (then it is closed, and with it the read's
/// transaction).
pub(crate) struct EngineCursor<D: Driver> {
    pub(crate) driver: Arc<D>,
    pub(crate) conn: Option<D::Conn>,
    pub(crate) columns: Vec<ReadColumn>,
    pub(crate) context: String,
}

#[async_trait]
impl<D: Driver> RowCursor for EngineCursor<D> {
    fn columns(&self) -> &[ReadColumn] {
        &self.columns
    }

    async fn next_batch(&mut self, max_rows: usize) -> Result<Vec<Vec<Value>>> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(Vec::new());
        };
        let rows = match conn.read_next(max_rows.clamp(1, MAX_BATCH_ROWS)).await {
            Ok(rows) => rows,
            Err(e) => {
                self.conn = None;
                return Err(db(&self.context)(e));
            }
        };
        if rows.is_empty() {
            if let Some(mut conn) = self.conn.take() {
                conn.read_close().await.map_err(db(&self.context))?;
                self.driver.release(conn);
            }
        }
        Ok(rows)
    }
}

/// Opens the read of `request` on a connection of `driver`.
pub(crate) async fn open<D: Driver>(
    driver: &Arc<D>,
    dataset: &str,
    request: &ReadRequest,
) -> Result<Box<dyn RowCursor>> {
    let context = match request {
        ReadRequest::Table(r) | ReadRequest::Count(r) => {
            format!("reading table `{}` of dataset `{dataset}`", r.table)
        }
        ReadRequest::Sql { .. } => format!("querying dataset `{dataset}`"),
    };
    let q = read_query(driver.dialect(), dataset, request);
    let mut conn = driver.acquire().await?;
    let columns = conn
        .read_open(dataset, &q.sql, &q.params, &q.types)
        .await
        .map_err(db(&context))?;
    if !q.types.is_empty() && q.types.len() != columns.len() {
        return Err(Error::Internal(format!(
            "{context}: {} result columns for {} requested",
            columns.len(),
            q.types.len()
        )));
    }
    Ok(Box::new(EngineCursor {
        driver: driver.clone(),
        conn: Some(conn),
        columns,
        context,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_dialect::Ansi;

    #[test]
    fn table_reads_quote_names_and_bind_values() {
        let read = TableRead {
            table: "ev\"ents".into(),
            columns: vec![
                ReadColumn {
                    name: "id".into(),
                    data_type: Some(DataType::Bigint),
                },
                ReadColumn {
                    name: "na me".into(),
                    data_type: Some(DataType::Text),
                },
            ],
            filters: vec![
                Filter::Compare {
                    column: "na me".into(),
                    op: Comparison::Ge,
                    value: Value::Text("x'; drop table t; --".into()),
                },
                Filter::In {
                    column: "id".into(),
                    values: vec![Value::Int(1), Value::Int(2)],
                },
                Filter::In {
                    column: "id".into(),
                    values: vec![],
                },
                Filter::IsNull {
                    column: "id".into(),
                },
            ],
            order_by: vec![("id".into(), SortOrder::Desc)],
            limit: None,
            offset: Some(5),
        };
        let q = read_query(
            &Ansi { merge: false },
            "ds",
            &ReadRequest::Table(read.clone()),
        );
        assert_eq!(
            q.sql,
            r#"SELECT "id", "na me" FROM "ds"."ev""ents" WHERE "na me" >= ?1 AND "id" IN (?2, ?3) AND 1 = 0 AND "id" IS NULL ORDER BY "id" DESC LIMIT ?4 OFFSET ?5"#
        );
        assert_eq!(q.params.len(), 5);
        assert_eq!(q.params[3], Value::Int(i64::MAX));
        assert_eq!(q.types, vec![Some(DataType::Bigint), Some(DataType::Text)]);
        let c = read_query(&Ansi { merge: false }, "ds", &ReadRequest::Count(read));
        assert!(c
            .sql
            .starts_with(r#"SELECT count(*) AS "count" FROM "ds"."ev""ents" WHERE"#));
        assert!(!c.sql.contains("ORDER BY"));
    }
}
