//! Reading a pipeline's dataset back (dlt's `pipeline.dataset()`): its tables from the
//! schema, a table as a [`Relation`] (select, filter, order, limit), the user's SQL with
//! bound parameters as a [`Query`], and their rows as `serde_json` objects, as values of the
//! user's types (`serde::Deserialize`), or as Arrow record batches, streamed a batch at a
//! time ([`Rows`]). Every read goes through the destination contract
//! ([`dest_core::LoadClient::read`]) in a read-only transaction; values are bound, never
//! written into SQL text.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use columnar::arrow_array::RecordBatch;
use columnar::RowBatchBuilder;
use dest_core::{
    Column, Comparison, DataType, Filter, LoadClient, ReadColumn, ReadRequest, RowCursor, Schema,
    SortOrder, TableRead, TableSchema, Value,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::{Pipeline, PipelineError};

/// Rows per batch of the convenience readers ([`Relation::rows`] and friends).
pub const DEFAULT_BATCH_ROWS: usize = 10_000;

/// A row as a JSON object: column name to value (see [`json_value`]).
pub type JsonRow = Map<String, Json>;

impl Pipeline {
    /// The pipeline's dataset, to read back what was loaded: its tables are those of the
    /// pipeline's schema (the local one, else the one stored in the destination).
    ///
    /// # Errors
    /// When the destination cannot be reached, or the pipeline has no schema yet (nothing
    /// was loaded).
    pub async fn dataset(&self) -> Result<Dataset<'_>, PipelineError> {
        let client = self.client(&mut None).await?;
        let (schema, _) = self.dataset_schema(client.as_ref()).await?;
        let schema = schema.ok_or_else(|| {
            PipelineError::Config(format!(
                "pipeline `{}` has no schema: nothing was loaded into dataset `{}` yet",
                self.name, self.dataset_name
            ))
        })?;
        Ok(Dataset {
            pipeline: self,
            schema,
            client,
            reading: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A pipeline's dataset, read back ([`Pipeline::dataset`]).
pub struct Dataset<'p> {
    pipeline: &'p Pipeline,
    schema: Schema,
    client: Arc<dyn LoadClient>,
    /// Whether a read of `client` is open: a second read at the same time gets a client
    /// of its own (a destination with one connection per client would wait for the first).
    reading: Arc<AtomicBool>,
}

impl std::fmt::Debug for Dataset<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("name", &self.pipeline.dataset_name)
            .field("destination", &self.pipeline.destination.name())
            .finish_non_exhaustive()
    }
}

impl<'p> Dataset<'p> {
    /// The dataset's name in the destination.
    pub fn dataset_name(&self) -> &str {
        &self.pipeline.dataset_name
    }

    /// The schema the dataset's tables are read by.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The data tables (dlt's system tables `_dlt_*` left out; [`Dataset::table`] reads
    /// them too), parents before their nested tables.
    pub fn tables(&self) -> Vec<&str> {
        self.schema
            .tables
            .iter()
            .filter(|t| !t.is_system() && t.complete_columns().next().is_some())
            .map(|t| t.name.as_str())
            .collect()
    }

    /// Table `name` (its name in the destination), to read: every column, in the schema's
    /// order, until [`Relation::select`] says otherwise.
    ///
    /// # Errors
    /// When the schema has no such table (the error lists those it has).
    pub fn table(&self, name: &str) -> Result<Relation<'_, 'p>, PipelineError> {
        let table = self
            .schema
            .table(name)
            .filter(|t| t.complete_columns().next().is_some())
            .ok_or_else(|| {
                PipelineError::Read(format!(
                    "dataset `{}` has no table `{name}`; its tables: {}",
                    self.dataset_name(),
                    self.tables().join(", ")
                ))
            })?;
        Ok(Relation {
            dataset: self,
            table,
            select: None,
            filters: Vec::new(),
            order_by: Vec::new(),
            limit: None,
            offset: None,
        })
    }

    /// The user's query `sql` in the destination's SQL, with positional parameters
    /// (`$1`… on PostgreSQL, `?1`… on SQLite) bound to `params`; the dataset's tables are
    /// found by their names alone. It runs read-only.
    pub fn query(&self, sql: &str, params: Vec<Value>) -> Query<'_, 'p> {
        Query {
            dataset: self,
            sql: sql.to_string(),
            params,
        }
    }

    /// The number of rows of each data table ([`Dataset::tables`]).
    ///
    /// # Errors
    /// When the destination fails.
    pub async fn row_counts(&self) -> Result<Vec<(String, u64)>, PipelineError> {
        let mut out = Vec::new();
        for t in self.tables() {
            out.push((t.to_string(), self.table(t)?.count().await?));
        }
        Ok(out)
    }

    /// Opens a read on the dataset's client, or on a client of its own while another read
    /// is open.
    async fn open(&self, request: ReadRequest, what: String) -> Result<Rows, PipelineError> {
        let (client, flag) = if self.reading.swap(true, Ordering::AcqRel) {
            let p = self.pipeline;
            (p.client(&mut None).await?, None)
        } else {
            (self.client.clone(), Some(self.reading.clone()))
        };
        let guard = ReadingFlag(flag);
        let cursor = client
            .read(&request)
            .await
            .map_err(|e| self.pipeline.named(e))?;
        let columns = cursor.columns().to_vec();
        Ok(Rows {
            cursor,
            columns,
            what,
            batch: None,
            _client: client,
            _reading: guard,
        })
    }
}

/// Clears the dataset's "a read is open" flag when the read ends.
struct ReadingFlag(Option<Arc<AtomicBool>>);

impl Drop for ReadingFlag {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(false, Ordering::Release);
        }
    }
}

/// A table of a [`Dataset`] with a selection, conditions, an order and a window; read it
/// with [`count`](Relation::count), [`rows`](Relation::rows),
/// [`fetch`](Relation::fetch), [`arrow`](Relation::arrow) or [`cursor`](Relation::cursor).
/// Column names are the destination's; a name the table does not have is an error when
/// the relation is read.
#[derive(Debug, Clone)]
pub struct Relation<'d, 'p> {
    dataset: &'d Dataset<'p>,
    table: &'d TableSchema,
    select: Option<Vec<String>>,
    filters: Vec<Filter>,
    order_by: Vec<(String, SortOrder)>,
    limit: Option<u64>,
    offset: Option<u64>,
}

impl<'d, 'p> Relation<'d, 'p> {
    /// Only these columns, in this order.
    #[must_use]
    pub fn select(mut self, columns: &[&str]) -> Self {
        self.select = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Rows where `column <op> value` (conditions add up: all must hold).
    #[must_use]
    pub fn filter(mut self, column: &str, op: Comparison, value: impl Into<Value>) -> Self {
        self.filters.push(Filter::Compare {
            column: column.to_string(),
            op,
            value: value.into(),
        });
        self
    }

    /// Rows where `column` is one of `values`.
    #[must_use]
    pub fn is_in(mut self, column: &str, values: Vec<Value>) -> Self {
        self.filters.push(Filter::In {
            column: column.to_string(),
            values,
        });
        self
    }

    /// Rows where `column` is NULL.
    #[must_use]
    pub fn is_null(mut self, column: &str) -> Self {
        self.filters.push(Filter::IsNull {
            column: column.to_string(),
        });
        self
    }

    /// Rows where `column` is not NULL.
    #[must_use]
    pub fn is_not_null(mut self, column: &str) -> Self {
        self.filters.push(Filter::IsNotNull {
            column: column.to_string(),
        });
        self
    }

    /// Ordered by `column` (then by the next `order_by`).
    #[must_use]
    pub fn order_by(mut self, column: &str, order: SortOrder) -> Self {
        self.order_by.push((column.to_string(), order));
        self
    }

    /// At most `n` rows.
    #[must_use]
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skipping the first `n` rows (with [`order_by`](Relation::order_by) for a stable page).
    #[must_use]
    pub fn offset(mut self, n: u64) -> Self {
        self.offset = Some(n);
        self
    }

    /// The table's column `name`, or an error naming the table's columns.
    fn column(&self, name: &str) -> Result<&'d Column, PipelineError> {
        self.table
            .complete_columns()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .table
                    .complete_columns()
                    .map(|c| c.name.as_str())
                    .collect();
                PipelineError::Read(format!(
                    "table `{}` has no column `{name}`; its columns: {}",
                    self.table.name,
                    known.join(", ")
                ))
            })
    }

    /// The read, every name checked against the table.
    fn read(&self) -> Result<TableRead, PipelineError> {
        let columns: Vec<&Column> = match &self.select {
            Some(names) => names
                .iter()
                .map(|n| self.column(n))
                .collect::<Result<_, _>>()?,
            None => self.table.complete_columns().collect(),
        };
        for f in &self.filters {
            self.column(f.column())?;
        }
        for (c, _) in &self.order_by {
            self.column(c)?;
        }
        Ok(TableRead {
            table: self.table.name.clone(),
            columns: columns
                .into_iter()
                .map(|c| ReadColumn {
                    name: c.name.clone(),
                    data_type: c.data_type,
                })
                .collect(),
            filters: self.filters.clone(),
            order_by: self.order_by.clone(),
            limit: self.limit,
            offset: self.offset,
        })
    }

    /// The number of rows that meet the conditions (selection, order and window aside).
    ///
    /// # Errors
    /// An unknown column, or the destination's error.
    pub async fn count(&self) -> Result<u64, PipelineError> {
        let what = format!("counting table `{}`", self.table.name);
        let mut rows = self
            .dataset
            .open(ReadRequest::Count(self.read()?), what.clone())
            .await?;
        let batch = rows.next_values(1).await?.unwrap_or_default();
        match batch.first().and_then(|r| r.first()) {
            Some(Value::Int(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
            other => Err(PipelineError::Read(format!(
                "{what}: the destination answered {other:?}, not a count"
            ))),
        }
    }

    /// The rows, read a batch at a time.
    ///
    /// # Errors
    /// An unknown column, or the destination's error.
    pub async fn cursor(&self) -> Result<Rows, PipelineError> {
        let what = format!("table `{}`", self.table.name);
        self.dataset
            .open(ReadRequest::Table(self.read()?), what)
            .await
    }

    /// Every row, as a JSON object ([`json_value`]).
    ///
    /// # Errors
    /// As [`cursor`](Relation::cursor).
    pub async fn rows(&self) -> Result<Vec<JsonRow>, PipelineError> {
        self.cursor().await?.all_json().await
    }

    /// Every row, as a `T` (deserialized from the row's JSON object).
    ///
    /// # Errors
    /// As [`cursor`](Relation::cursor), and a row that is not a `T`.
    pub async fn fetch<T: DeserializeOwned>(&self) -> Result<Vec<T>, PipelineError> {
        self.cursor().await?.all().await
    }

    /// The rows as Arrow record batches of up to `batch_rows` rows, read one batch at a
    /// time ([`Rows::next_arrow`]).
    ///
    /// # Errors
    /// As [`cursor`](Relation::cursor).
    pub async fn arrow(&self, batch_rows: usize) -> Result<ArrowBatches, PipelineError> {
        Ok(ArrowBatches {
            rows: self.cursor().await?,
            batch_rows,
        })
    }
}

/// The user's SQL against a [`Dataset`] ([`Dataset::query`]).
#[derive(Debug, Clone)]
pub struct Query<'d, 'p> {
    dataset: &'d Dataset<'p>,
    sql: String,
    params: Vec<Value>,
}

impl Query<'_, '_> {
    /// The rows, read a batch at a time.
    ///
    /// # Errors
    /// The destination's error (the query's, or a parameter its column cannot take).
    pub async fn cursor(&self) -> Result<Rows, PipelineError> {
        let request = ReadRequest::Sql {
            sql: self.sql.clone(),
            params: self.params.clone(),
        };
        self.dataset.open(request, "the query".into()).await
    }

    /// Every row, as a JSON object ([`json_value`]).
    ///
    /// # Errors
    /// As [`cursor`](Query::cursor).
    pub async fn rows(&self) -> Result<Vec<JsonRow>, PipelineError> {
        self.cursor().await?.all_json().await
    }

    /// Every row, as a `T`.
    ///
    /// # Errors
    /// As [`cursor`](Query::cursor), and a row that is not a `T`.
    pub async fn fetch<T: DeserializeOwned>(&self) -> Result<Vec<T>, PipelineError> {
        self.cursor().await?.all().await
    }

    /// The rows as Arrow record batches of up to `batch_rows` rows.
    ///
    /// # Errors
    /// As [`cursor`](Query::cursor).
    pub async fn arrow(&self, batch_rows: usize) -> Result<ArrowBatches, PipelineError> {
        Ok(ArrowBatches {
            rows: self.cursor().await?,
            batch_rows,
        })
    }
}

/// The rows of an open read, a batch at a time (one read-only transaction of the
/// destination, open until the last batch or until dropped).
pub struct Rows {
    cursor: Box<dyn RowCursor>,
    columns: Vec<ReadColumn>,
    what: String,
    /// The Arrow builder, once the first Arrow batch fixed the columns' types.
    batch: Option<RowBatchBuilder>,
    _client: Arc<dyn LoadClient>,
    _reading: ReadingFlag,
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("what", &self.what)
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl Rows {
    /// The result's columns (name and dlt type, where known).
    pub fn columns(&self) -> &[ReadColumn] {
        &self.columns
    }

    /// Up to `max_rows` next rows as typed values (one per column); `None` at the end.
    ///
    /// # Errors
    /// The destination's error.
    pub async fn next_values(
        &mut self,
        max_rows: usize,
    ) -> Result<Option<Vec<Vec<Value>>>, PipelineError> {
        let rows = self.cursor.next_batch(max_rows.max(1)).await?;
        Ok((!rows.is_empty()).then_some(rows))
    }

    /// Up to `max_rows` next rows as JSON objects; `None` at the end.
    ///
    /// # Errors
    /// The destination's error.
    pub async fn next_json(
        &mut self,
        max_rows: usize,
    ) -> Result<Option<Vec<JsonRow>>, PipelineError> {
        let Some(rows) = self.next_values(max_rows).await? else {
            return Ok(None);
        };
        Ok(Some(rows.iter().map(|r| self.json_row(r)).collect()))
    }

    /// Up to `max_rows` next rows as one Arrow record batch; `None` at the end. Columns
    /// have the Arrow types of dlt's job types (`columnar`'s table: `decimal` and `json` as
    /// text, timestamps in microseconds, UTC) and their dlt type in the field metadata; a
    /// column of a query whose type the destination cannot tell takes the type of its first
    /// value.
    ///
    /// # Errors
    /// The destination's error, or a query column whose values change type.
    pub async fn next_arrow(
        &mut self,
        max_rows: usize,
    ) -> Result<Option<RecordBatch>, PipelineError> {
        let Some(rows) = self.next_values(max_rows).await? else {
            return Ok(None);
        };
        let builder = match &mut self.batch {
            Some(b) => b,
            None => {
                let columns: Vec<Column> = self
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let t = c
                            .data_type
                            .or_else(|| rows.iter().find_map(|r| r.get(i).and_then(value_type)));
                        let mut column = Column::new(&c.name, t.unwrap_or(DataType::Text));
                        if t.is_none() {
                            column.data_type = None;
                        }
                        column
                    })
                    .collect();
                self.batch.insert(RowBatchBuilder::new(&columns))
            }
        };
        for row in &rows {
            builder
                .append_row(row)
                .map_err(|e| PipelineError::Read(format!("{}: {e}", self.what)))?;
        }
        builder
            .finish()
            .map(Some)
            .map_err(|e| PipelineError::Read(format!("{}: {e}", self.what)))
    }

    /// The remaining rows as JSON objects.
    ///
    /// # Errors
    /// The destination's error.
    pub async fn all_json(mut self) -> Result<Vec<JsonRow>, PipelineError> {
        let mut out = Vec::new();
        while let Some(rows) = self.next_json(DEFAULT_BATCH_ROWS).await? {
            out.extend(rows);
        }
        Ok(out)
    }

    /// The remaining rows as `T`s.
    ///
    /// # Errors
    /// The destination's error, or a row that is not a `T` (the error names the row).
    pub async fn all<T: DeserializeOwned>(mut self) -> Result<Vec<T>, PipelineError> {
        let mut out = Vec::new();
        while let Some(rows) = self.next_json(DEFAULT_BATCH_ROWS).await? {
            for row in rows {
                let n = out.len() + 1;
                out.push(serde_json::from_value(Json::Object(row)).map_err(|e| {
                    PipelineError::Read(format!(
                        "{}, row {n}: not a {}: {e}",
                        self.what,
                        std::any::type_name::<T>()
                    ))
                })?);
            }
        }
        Ok(out)
    }

    fn json_row(&self, row: &[Value]) -> JsonRow {
        self.columns
            .iter()
            .zip(row)
            .map(|(c, v)| (c.name.clone(), json_value(v)))
            .collect()
    }
}

/// The Arrow batches of a read ([`Relation::arrow`]): [`next`](ArrowBatches::next) until
/// `None`. Memory holds one batch.
#[derive(Debug)]
pub struct ArrowBatches {
    rows: Rows,
    batch_rows: usize,
}

impl ArrowBatches {
    /// The next batch; `None` at the end.
    ///
    /// # Errors
    /// As [`Rows::next_arrow`].
    pub async fn next(&mut self) -> Result<Option<RecordBatch>, PipelineError> {
        self.rows.next_arrow(self.batch_rows).await
    }

    /// The result's columns.
    pub fn columns(&self) -> &[ReadColumn] {
        self.rows.columns()
    }
}

/// The dlt type a value of a query column of unknown type implies.
fn value_type(v: &Value) -> Option<DataType> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(_) => DataType::Bool,
        Value::Int(_) => DataType::Bigint,
        Value::Double(_) => DataType::Double,
        Value::Number(_) => DataType::Decimal,
        Value::Text(_) => DataType::Text,
        Value::Timestamp(_) | Value::NaiveTimestamp(_) => DataType::Timestamp,
        Value::Date(_) => DataType::Date,
        Value::Time(_) => DataType::Time,
        Value::Binary(_) => DataType::Binary,
        Value::Json(_) => DataType::Json,
    })
}

/// A read value as JSON: numbers as numbers (decimals exactly), timestamps as RFC 3339
/// text in UTC (`2024-01-02T03:04:05.123456Z`), dates and times as ISO text, binary as
/// lower-case hex text, JSON as itself, a double that is not finite as NULL.
pub fn json_value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Double(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Number(s) => s
            .parse::<serde_json::Number>()
            .map_or_else(|_| Json::String(s.clone()), Json::Number),
        Value::Text(s) => Json::String(s.clone()),
        Value::Timestamp(ts) => {
            Json::String(ts.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
        Value::NaiveTimestamp(ts) => Json::String(ts.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        Value::Date(d) => Json::String(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => Json::String(t.format("%H:%M:%S%.f").to_string()),
        Value::Binary(b) => Json::String(dest_core::hex_text(b)),
        Value::Json(j) => j.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn values_read_as_json_as_documented() {
        let ts = chrono::Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            json_value(&Value::Timestamp(ts)),
            Json::from("2024-01-02T03:04:05Z")
        );
        assert_eq!(
            json_value(&Value::Number("12345678901234567890.000000001".into())).to_string(),
            "12345678901234567890.000000001"
        );
        assert_eq!(json_value(&Value::Binary(vec![0, 255])), Json::from("00ff"));
        assert_eq!(json_value(&Value::Double(f64::NAN)), Json::Null);
        assert_eq!(value_type(&Value::Null), None);
    }
}
