//! Bound execution of `insert_values` job files (`insert_values_execution = "bound"`).
//!
//! PostgreSQL spends most of the time of a literal `INSERT ... VALUES (...), (...)` parsing
//! the literals. Here the loader parses the job file back instead, row by row (the file
//! layout is described in [`crate::insert_values`]), and inserts the rows with ONE prepared
//! statement per file,
//!
//! ```text
//! INSERT INTO "ds"."t"("a","b") SELECT u.c0::"pg_catalog"."int8", u.c1
//! FROM unnest($1::text[], $2::text[]) AS u(c0, c1)
//! ```
//!
//! executed once per batch of about `batch_bytes` of file rows, every column bound as a text
//! array in binary. Each value reaches the column through the text input function of the
//! column's type, as the literal does (an unknown-typed literal is read by the same function),
//! and the column's typmod (`varchar(n)`, `numeric(p,s)`, `timestamp(p)`) is applied by the
//! INSERT's assignment, as for the literal: a value too long for a `varchar(3)` fails instead
//! of being cut. Two batches are kept in flight on the connection (tokio-postgres pipelines
//! them), so the server never waits for the client to parse the next one.
//!
//! The rows of a file run inside a savepoint, released at the end. When a batch fails with a
//! data exception (SQLSTATE class 22: a value the column cannot take), the savepoint is rolled
//! back and the batch's rows are read again from the file to find the first row and column
//! that fail (a cheap cast of one column's array per query), so the error names the column
//! and the file's line; PostgreSQL's own message for a cast inside `unnest` names neither.
//!
//! Differences from the literal statements, none of which dlt's values reach: `-0.0` stays a
//! negative zero in a `double precision` column (the literal, a `numeric` constant, loses the
//! sign; `csv` keeps it too), and a number with a fraction is not rounded into an integer
//! column (it fails, as in `csv`).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::Poll;

use bytes::{BufMut, BytesMut};
use dest_core::{Error, Result};
use postgres_types::{to_sql_checked, IsNull, ToSql, Type};
use tokio::io::AsyncBufReadExt;
use tokio_postgres::{Client, Statement};

use crate::client::db_err;

/// Batches executing on the connection at once (sent, result not yet read).
const MAX_IN_FLIGHT: usize = 2;

use crate::sql::bound::{
    cardinality_as, insert_from_unnest, longer_than, RELEASE_SAVEPOINT, ROLLBACK_TO_SAVEPOINT,
    SAVEPOINT,
};

/// The job file is read in chunks of this size.
const READ_BUFFER: usize = 256 * 1024;

/// A statement header longer than this is a malformed file (the names are short).
const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// How a statement header starts; `{}` is [`crate::insert_values::TABLE_PLACEHOLDER`].
const HEADER_PREFIX: &[u8] = b"INSERT INTO {}(";

/// Executes the `insert_values` job `file` into `target` (a quoted, qualified table name)
/// with bound parameters; returns the rows inserted. `ctx` starts every error message.
///
/// # Errors
/// [`Error::Internal`] naming the file and line for a malformed file, [`Error::Io`] when it
/// cannot be read, and the server's error through [`db_err`]; a data exception names the
/// column and the line of the first value that fails when it can be found.
pub(crate) async fn execute_bound(
    tx: &Client,
    target: &str,
    file: &Path,
    ctx: &str,
    batch_bytes: usize,
) -> Result<u64> {
    let batch_bytes = batch_bytes.max(1);
    let mut reader = JobReader::open(file).await?;
    let Some(first) = reader.next_batch(batch_bytes).await? else {
        return Ok(0);
    };
    let names = reader.columns.clone().unwrap_or_default();
    let columns = column_types(tx, target, &names, ctx).await?;
    let statement = tx
        .prepare(&insert_sql(target, &columns))
        .await
        .map_err(|e| db_err(ctx, e))?;
    tx.batch_execute(SAVEPOINT)
        .await
        .map_err(|e| db_err(ctx, e))?;

    let mut in_flight: VecDeque<(Exec<'_>, Lines)> = VecDeque::with_capacity(MAX_IN_FLIGHT);
    let mut rows = 0u64;
    let mut next = Some(first);
    while let Some(batch) = next {
        let lines = batch.lines;
        in_flight.push_back((send(tx, &statement, batch.columns).await, lines));
        if in_flight.len() >= MAX_IN_FLIGHT {
            if let Some((exec, lines)) = in_flight.pop_front() {
                rows += finish(tx, exec, lines, &mut in_flight, file, &columns, ctx).await?;
            }
        }
        // the next batch is parsed while the last one executes
        next = reader.next_batch(batch_bytes).await?;
    }
    while let Some((exec, lines)) = in_flight.pop_front() {
        rows += finish(tx, exec, lines, &mut in_flight, file, &columns, ctx).await?;
    }
    tx.batch_execute(RELEASE_SAVEPOINT)
        .await
        .map_err(|e| db_err(ctx, e))?;
    Ok(rows)
}

/// The job-file lines of a batch's rows (1-based, inclusive), how many rows it has, and
/// the index of its first row among the file's rows (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lines {
    first: u64,
    last: u64,
    rows: u64,
    first_row: u64,
}

type ExecFuture<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<u64, tokio_postgres::Error>> + Send + 'a>>;

/// An execution sent to the server.
enum Exec<'a> {
    Pending(ExecFuture<'a>),
    Done(std::result::Result<u64, tokio_postgres::Error>),
}

/// Sends one batch: tokio-postgres encodes the parameters and queues the request on the
/// connection at the first poll of the execution, so it is polled once here.
async fn send<'a>(tx: &'a Client, statement: &'a Statement, columns: Vec<TextArray>) -> Exec<'a> {
    let mut exec: ExecFuture<'a> = Box::pin(tx.execute_raw(statement, columns));
    match std::future::poll_fn(|cx| Poll::Ready(exec.as_mut().poll(cx))).await {
        Poll::Ready(result) => Exec::Done(result),
        Poll::Pending => Exec::Pending(exec),
    }
}

impl Exec<'_> {
    async fn result(self) -> std::result::Result<u64, tokio_postgres::Error> {
        match self {
            Exec::Pending(exec) => exec.await,
            Exec::Done(result) => result,
        }
    }
}

/// Waits for one batch and checks its row count; on failure waits for the executions still
/// in flight (they fail too) and explains the error.
async fn finish(
    tx: &Client,
    exec: Exec<'_>,
    lines: Lines,
    in_flight: &mut VecDeque<(Exec<'_>, Lines)>,
    file: &Path,
    columns: &[ColumnType],
    ctx: &str,
) -> Result<u64> {
    match exec.result().await {
        Ok(n) if n == lines.rows => Ok(n),
        Ok(n) => Err(Error::Internal(format!(
            "{ctx}: {n} rows inserted for the {} rows on lines {}-{} of the job file",
            lines.rows, lines.first, lines.last
        ))),
        Err(e) => {
            // the requests sent after the failed one fail as the transaction is aborted
            while let Some((later, _)) = in_flight.pop_front() {
                let _ = later.result().await;
            }
            Err(explain(tx, e, lines, file, columns, ctx).await)
        }
    }
}

/// SQLSTATE class 22: a value the column cannot take.
fn is_data_exception(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code().starts_with("22"))
}

/// The error of a failed batch, with the line and column of the failing value when it is a
/// data exception and they can be found, else with the batch's lines for data and
/// constraint errors.
async fn explain(
    tx: &Client,
    e: tokio_postgres::Error,
    lines: Lines,
    file: &Path,
    columns: &[ColumnType],
    ctx: &str,
) -> Error {
    let class = e
        .code()
        .map(|c| c.code().get(..2).unwrap_or("").to_string());
    match class.as_deref() {
        Some("22") => match locate(tx, lines, file, columns).await {
            Some((line, index, column)) => Error::AtRow {
                row: lines.first_row + index,
                source: Box::new(db_err(
                    format!(
                        "{ctx}: line {line} of the job file, column `{}` ({})",
                        column.name,
                        column.full.as_deref().unwrap_or("?")
                    ),
                    e,
                )),
            },
            None => db_err(
                format!(
                    "{ctx}: a row on lines {}-{} of the job file",
                    lines.first, lines.last
                ),
                e,
            ),
        },
        Some("23") => db_err(
            format!(
                "{ctx}: a row on lines {}-{} of the job file",
                lines.first, lines.last
            ),
            e,
        ),
        _ => db_err(ctx, e),
    }
}

/// The line, the row's index within the batch (0-based) and the column of the first value
/// of the failed batch that the column cannot take (rows in order, then columns in order,
/// the order PostgreSQL evaluates them in). `None` when nothing is found or anything goes
/// wrong on the way (the caller then reports the server's error as it is).
async fn locate<'c>(
    tx: &Client,
    lines: Lines,
    file: &Path,
    columns: &'c [ColumnType],
) -> Option<(u64, u64, &'c ColumnType)> {
    tx.batch_execute(ROLLBACK_TO_SAVEPOINT).await.ok()?;
    let rows = read_rows(file, lines.first, lines.last).await.ok()?;
    // the first failing (row, column) found so far
    let mut best: Option<(usize, usize)> = None;
    for (j, column) in columns.iter().enumerate() {
        let end = best.map_or(rows.len(), |(row, _)| row);
        if end == 0 {
            break;
        }
        let values: Vec<Option<&str>> = rows[..end]
            .iter()
            .map(|(_, row)| row.get(j).and_then(|v| v.as_deref()))
            .collect();
        let found = match (&column.cast, column.char_len, &column.full) {
            (_, Some(n), _) => too_long(tx, &values, n).await.ok()?,
            (Some(cast), None, Some(full)) if cast != "\"pg_catalog\".\"text\"" => {
                let sql = cardinality_as(full);
                first_failing(tx, &sql, &values).await.ok()?
            }
            _ => None,
        };
        if let Some(row) = found {
            best = Some((row, j));
        }
    }
    let (row, j) = best?;
    Some((rows.get(row)?.0, u64::try_from(row).ok()?, columns.get(j)?))
}

/// The index of the first value longer than `n` characters but trailing spaces (the values
/// a `varchar(n)` / `char(n)` assignment refuses; an explicit cast would cut them).
async fn too_long(
    tx: &Client,
    values: &[Option<&str>],
    n: i32,
) -> std::result::Result<Option<usize>, tokio_postgres::Error> {
    let sql = longer_than(n);
    let row = tx.query_one(&sql, &[&values]).await?;
    let first: Option<i64> = row.try_get(0)?;
    Ok(first.and_then(|i| usize::try_from(i - 1).ok()))
}

/// The index of the first value `sql` (a cast of the array `$1`) fails on: one query for the
/// whole array, then a bisection over its prefixes.
async fn first_failing(
    tx: &Client,
    sql: &str,
    values: &[Option<&str>],
) -> std::result::Result<Option<usize>, ()> {
    if !cast_fails(tx, sql, values).await? {
        return Ok(None);
    }
    // values[..ok] pass, values[..bad] fail
    let (mut ok, mut bad) = (0, values.len());
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if cast_fails(tx, sql, &values[..mid]).await? {
            bad = mid;
        } else {
            ok = mid;
        }
    }
    Ok(Some(bad - 1))
}

/// Whether `sql` fails on `values` with a data exception (the savepoint is rolled back
/// then, so the transaction goes on); any other failure is `Err`.
async fn cast_fails(
    tx: &Client,
    sql: &str,
    values: &[Option<&str>],
) -> std::result::Result<bool, ()> {
    match tx.query_one(sql, &[&values]).await {
        Ok(_) => Ok(false),
        Err(e) if is_data_exception(&e) => {
            tx.batch_execute(ROLLBACK_TO_SAVEPOINT)
                .await
                .map_err(|_| ())?;
            Ok(true)
        }
        Err(_) => Err(()),
    }
}

/// A column of the job file and its type in the target table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ColumnType {
    name: String,
    /// The type without typmod, as a qualified type name (`"pg_catalog"."int8"`); `None`
    /// when the table has no such column (the INSERT then fails with the server's error).
    cast: Option<String>,
    /// The type with its typmod, for messages and checks (`numeric(38,9)`).
    full: Option<String>,
    /// The length limit of a `varchar(n)` / `char(n)`.
    char_len: Option<i32>,
}

/// Reads the types of `names` in `target` from the catalog.
async fn column_types(
    tx: &Client,
    target: &str,
    names: &[String],
    ctx: &str,
) -> Result<Vec<ColumnType>> {
    let rows = tx
        .query(
            "SELECT a.attname::text, quote_ident(n.nspname) || '.' || quote_ident(t.typname), \
                    format_type(a.atttypid, a.atttypmod), \
                    CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod >= 4 \
                         THEN a.atttypmod - 4 END \
             FROM pg_attribute a \
             JOIN pg_type t ON t.oid = a.atttypid \
             JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE a.attrelid = ($1::text)::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            &[&target],
        )
        .await
        .map_err(|e| db_err(ctx, e))?;
    let mut found: HashMap<String, (String, String, Option<i32>)> = HashMap::new();
    for r in rows {
        let name: String = r.try_get(0).map_err(|e| db_err(ctx, e))?;
        let cast: String = r.try_get(1).map_err(|e| db_err(ctx, e))?;
        let full: String = r.try_get(2).map_err(|e| db_err(ctx, e))?;
        let char_len: Option<i32> = r.try_get(3).map_err(|e| db_err(ctx, e))?;
        found.insert(name, (cast, full, char_len));
    }
    Ok(names
        .iter()
        .map(|name| {
            let (cast, full, char_len) = match found.get(name) {
                Some((cast, full, char_len)) => (Some(cast.clone()), Some(full.clone()), *char_len),
                None => (None, None, None),
            };
            ColumnType {
                name: name.clone(),
                cast,
                full,
                char_len,
            }
        })
        .collect())
}

/// The bound `INSERT` of `columns` into `target` (text columns take the text as it is).
fn insert_sql(target: &str, columns: &[ColumnType]) -> String {
    let columns: Vec<(&str, Option<&str>)> = columns
        .iter()
        .map(|c| {
            let cast = c
                .cast
                .as_deref()
                .filter(|t| *t != "\"pg_catalog\".\"text\"");
            (c.name.as_str(), cast)
        })
        .collect();
    insert_from_unnest(target, &columns)
}

/// A `text[]` parameter built row by row, sent in PostgreSQL's binary array format.
#[derive(Debug, Default)]
struct TextArray {
    /// The elements as the binary format has them: each one's length as a big-endian `i32`
    /// (-1 for NULL), then its bytes.
    elements: Vec<u8>,
    len: usize,
    has_null: bool,
}

impl TextArray {
    fn push(&mut self, value: Option<&[u8]>) -> std::result::Result<(), String> {
        match value {
            None => {
                self.elements.extend_from_slice(&(-1i32).to_be_bytes());
                self.has_null = true;
            }
            Some(bytes) => {
                let n = i32::try_from(bytes.len())
                    .map_err(|_| format!("a value of {} bytes is too long", bytes.len()))?;
                self.elements.extend_from_slice(&n.to_be_bytes());
                self.elements.extend_from_slice(bytes);
            }
        }
        self.len += 1;
        Ok(())
    }
}

impl ToSql for TextArray {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let len = i32::try_from(self.len)?;
        out.reserve(20 + self.elements.len());
        if len == 0 {
            // no dimensions
            out.put_i32(0);
            out.put_i32(0);
            out.put_u32(Type::TEXT.oid());
            return Ok(IsNull::No);
        }
        out.put_i32(1); // dimensions
        out.put_i32(i32::from(self.has_null));
        out.put_u32(Type::TEXT.oid());
        out.put_i32(len);
        out.put_i32(1); // lower bound
        out.put_slice(&self.elements);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TEXT_ARRAY
    }

    to_sql_checked!();
}

/// Rows of the job file ready to execute: one text array per column.
struct Batch {
    columns: Vec<TextArray>,
    lines: Lines,
}

/// What the next line of a job file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// a statement header (or a blank line, or the end of the file)
    Header,
    /// `VALUES`
    Values,
    /// a row, ending in `,` or (the last of its statement) `;`
    Row,
}

/// A row read by [`JobReader::next_row`]: its line and its length in bytes.
#[derive(Debug, Clone, Copy)]
struct RowInfo {
    line: u64,
    bytes: usize,
}

/// Reads the statements of a job file back, streaming, one line at a time.
struct JobReader {
    path: PathBuf,
    reader: tokio::io::BufReader<tokio::fs::File>,
    /// the current line, without its line break
    line: Vec<u8>,
    line_no: u64,
    scratch: Vec<u8>,
    expect: Expect,
    /// the columns of the first statement (every statement of a file has the same)
    columns: Option<Vec<String>>,
    /// the rows handed out by [`JobReader::next_batch`] so far
    rows: u64,
}

impl JobReader {
    async fn open(path: &Path) -> Result<Self> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::io("opening a job file", path, e))?;
        Ok(JobReader {
            path: path.to_path_buf(),
            reader: tokio::io::BufReader::with_capacity(READ_BUFFER, file),
            line: Vec::new(),
            line_no: 0,
            scratch: Vec::new(),
            expect: Expect::Header,
            columns: None,
            rows: 0,
        })
    }

    fn malformed(&self, line: u64, what: impl std::fmt::Display) -> Error {
        Error::Internal(format!(
            "malformed insert_values job file {}, line {line}: {what}",
            self.path.display()
        ))
    }

    /// Reads the next line into `self.line`; `false` at the end of the file.
    async fn read_line(&mut self) -> Result<bool> {
        self.line.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .await
            .map_err(|e| Error::io("reading a job file", &self.path, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        while matches!(self.line.last(), Some(b'\n' | b'\r')) {
            self.line.pop();
        }
        Ok(true)
    }

    /// Reads a statement header that starts on the current line (a column name may hold a
    /// line break, so it can go on over further lines).
    async fn read_header(&mut self) -> Result<Vec<String>> {
        let first = self.line_no;
        let mut text = self.line.clone();
        loop {
            match parse_header(&text) {
                Ok(Some(columns)) => return Ok(columns),
                Ok(None) => {
                    if text.len() > MAX_HEADER_BYTES || !self.read_line().await? {
                        return Err(self.malformed(first, "unterminated statement header"));
                    }
                    text.push(b'\n');
                    text.extend_from_slice(&self.line);
                }
                Err(e) => return Err(self.malformed(first, e)),
            }
        }
    }

    /// Reads up to the next row and hands its values to `emit` (column index, text or
    /// `None` for NULL); `None` at the end of the file.
    async fn next_row<F>(&mut self, mut emit: F) -> Result<Option<RowInfo>>
    where
        F: FnMut(usize, Option<&[u8]>) -> std::result::Result<(), String>,
    {
        loop {
            if !self.read_line().await? {
                if self.expect != Expect::Header {
                    return Err(self.malformed(self.line_no, "the file ends inside a statement"));
                }
                return Ok(None);
            }
            let line_no = self.line_no;
            match self.expect {
                Expect::Header => {
                    if self.line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let columns = self.read_header().await?;
                    match &self.columns {
                        None => self.columns = Some(columns),
                        Some(first) if *first == columns => {}
                        Some(_) => {
                            return Err(self.malformed(
                                line_no,
                                "the statement's columns differ from the first statement's",
                            ))
                        }
                    }
                    self.expect = Expect::Values;
                }
                Expect::Values => {
                    if self.line != b"VALUES" {
                        return Err(self.malformed(line_no, "expected `VALUES`"));
                    }
                    self.expect = Expect::Row;
                }
                Expect::Row => {
                    if std::str::from_utf8(&self.line).is_err() {
                        return Err(self.malformed(line_no, "the row is not UTF-8"));
                    }
                    let ncols = self.columns.as_ref().map_or(0, Vec::len);
                    let end = parse_row(&self.line, ncols, &mut self.scratch, &mut emit)
                        .map_err(|e| self.malformed(line_no, e))?;
                    if end == RowEnd::Last {
                        self.expect = Expect::Header;
                    }
                    return Ok(Some(RowInfo {
                        line: line_no,
                        bytes: self.line.len(),
                    }));
                }
            }
        }
    }

    /// Reads rows until about `limit` bytes of them; `None` at the end of the file.
    async fn next_batch(&mut self, limit: usize) -> Result<Option<Batch>> {
        let mut columns: Vec<TextArray> = Vec::new();
        let mut lines = Lines {
            first: 0,
            last: 0,
            rows: 0,
            first_row: self.rows,
        };
        let mut bytes = 0;
        while bytes < limit {
            let row = self
                .next_row(|i, value| {
                    if i >= columns.len() {
                        columns.resize_with(i + 1, TextArray::default);
                    }
                    columns[i].push(value)
                })
                .await?;
            let Some(row) = row else {
                break;
            };
            if lines.rows == 0 {
                lines.first = row.line;
            }
            lines.last = row.line;
            lines.rows += 1;
            bytes += row.bytes;
        }
        self.rows += lines.rows;
        Ok((lines.rows > 0).then_some(Batch { columns, lines }))
    }
}

/// The rows on lines `first..=last` of a job file, each with its line, values as text.
async fn read_rows(path: &Path, first: u64, last: u64) -> Result<Vec<(u64, Vec<Option<String>>)>> {
    let mut reader = JobReader::open(path).await?;
    let mut rows = Vec::new();
    loop {
        let mut values: Vec<Option<String>> = Vec::new();
        let row = reader
            .next_row(|_, value| {
                values.push(value.map(|v| String::from_utf8_lossy(v).into_owned()));
                Ok(())
            })
            .await?;
        match row {
            Some(row) if row.line > last => break,
            Some(row) if row.line >= first => rows.push((row.line, values)),
            Some(_) => {}
            None => break,
        }
    }
    Ok(rows)
}

/// Parses a statement header `INSERT INTO {}("a","b")` into its column names; `Ok(None)`
/// when it ends inside a quoted name (the name holds a line break: read on).
fn parse_header(text: &[u8]) -> std::result::Result<Option<Vec<String>>, String> {
    let Some(mut rest) = text.strip_prefix(HEADER_PREFIX) else {
        return Err("expected a statement header `INSERT INTO {}(...)`".into());
    };
    let mut columns = Vec::new();
    loop {
        let Some(quoted) = rest.strip_prefix(b"\"") else {
            return Err("expected a quoted column name".into());
        };
        let mut name = Vec::new();
        let mut i = 0;
        loop {
            let Some(at) = quoted[i..].iter().position(|&b| b == b'"') else {
                return Ok(None);
            };
            let j = i + at;
            name.extend_from_slice(&quoted[i..j]);
            if quoted.get(j + 1) == Some(&b'"') {
                name.push(b'"');
                i = j + 2;
            } else {
                rest = &quoted[j + 1..];
                break;
            }
        }
        columns.push(String::from_utf8(name).map_err(|_| "a column name is not UTF-8")?);
        match rest {
            [b',', more @ ..] => rest = more,
            [b')'] => return Ok(Some(columns)),
            _ => return Err("expected `,` or `)` after a column name".into()),
        }
    }
}

/// How a row line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowEnd {
    /// `,`: more rows follow in the statement
    More,
    /// `;`: the last row of the statement
    Last,
}

/// A parsed value: where its text is.
enum Parsed {
    Null,
    Static(&'static [u8]),
    /// a range of the line
    Span(usize, usize),
    /// the scratch buffer (an unescaped string)
    Scratch,
}

/// Parses one row line `(v0,v1,...)` followed by `,` or `;` and hands each of the `ncols`
/// values to `emit` as the text PostgreSQL's input function reads (`None` for NULL). The
/// values are the tokens [`crate::insert_values::render_value`] writes.
fn parse_row<F>(
    line: &[u8],
    ncols: usize,
    scratch: &mut Vec<u8>,
    mut emit: F,
) -> std::result::Result<RowEnd, String>
where
    F: FnMut(usize, Option<&[u8]>) -> std::result::Result<(), String>,
{
    let mut pos = expect(line, 0, b'(')?;
    for col in 0..ncols {
        if col > 0 {
            pos = expect(line, pos, b',')
                .map_err(|e| format!("{e} (the row has {col} values for {ncols} columns)"))?;
        }
        let (value, next) =
            parse_value(line, pos, scratch).map_err(|e| format!("value {}: {e}", col + 1))?;
        let text = match value {
            Parsed::Null => None,
            Parsed::Static(s) => Some(s),
            Parsed::Span(a, b) => Some(&line[a..b]),
            Parsed::Scratch => Some(scratch.as_slice()),
        };
        emit(col, text).map_err(|e| format!("value {}: {e}", col + 1))?;
        pos = next;
    }
    pos = expect(line, pos, b')')
        .map_err(|e| format!("{e} (the row has more than {ncols} values)"))?;
    match &line[pos..] {
        b"," => Ok(RowEnd::More),
        b";" => Ok(RowEnd::Last),
        _ => Err(format!(
            "expected `,` or `;` and the end of the line at byte {}",
            pos + 1
        )),
    }
}

fn expect(line: &[u8], pos: usize, want: u8) -> std::result::Result<usize, String> {
    if line.get(pos) == Some(&want) {
        Ok(pos + 1)
    } else {
        Err(format!(
            "expected `{}` at byte {}",
            char::from(want),
            pos + 1
        ))
    }
}

/// Parses the value at `pos`; returns it and the position after it.
fn parse_value(
    line: &[u8],
    pos: usize,
    scratch: &mut Vec<u8>,
) -> std::result::Result<(Parsed, usize), String> {
    match line.get(pos) {
        None => Err("the line ends inside the row".into()),
        Some(b'\'') => parse_string(line, pos + 1, false, scratch),
        Some(b'E' | b'e') if line.get(pos + 1) == Some(&b'\'') => {
            parse_string(line, pos + 2, true, scratch)
        }
        Some(b'0'..=b'9' | b'-' | b'+' | b'.') => {
            let len = line[pos..]
                .iter()
                .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(line.len() - pos);
            let end = pos + len;
            if !line[pos..end].iter().any(u8::is_ascii_digit) {
                return Err(format!("`{}` is not a number", excerpt(&line[pos..end])));
            }
            Ok((Parsed::Span(pos, end), end))
        }
        Some(_) => {
            let len = line[pos..]
                .iter()
                .position(|b| !b.is_ascii_alphabetic())
                .unwrap_or(line.len() - pos);
            let end = pos + len;
            let word = &line[pos..end];
            let value = if word.eq_ignore_ascii_case(b"NULL") {
                Parsed::Null
            } else if word.eq_ignore_ascii_case(b"TRUE") {
                Parsed::Static(b"true")
            } else if word.eq_ignore_ascii_case(b"FALSE") {
                Parsed::Static(b"false")
            } else {
                let end = (pos + 20).min(line.len());
                return Err(format!("unexpected `{}`", excerpt(&line[pos..end])));
            };
            Ok((value, end))
        }
    }
}

/// Parses a string literal whose text starts at `start` (after the opening quote): `''` is a
/// quote; with `escapes` (an `E'...'` literal) also the backslash escapes `\\`, `\n`, `\r`,
/// `\t`, `\b`, `\f`, `\'`. A `::bytea` after the literal is skipped (the text is the bytea
/// input `\x...`, which the column's input function reads).
fn parse_string(
    line: &[u8],
    start: usize,
    escapes: bool,
    scratch: &mut Vec<u8>,
) -> std::result::Result<(Parsed, usize), String> {
    let mut copied = false;
    let mut segment = start;
    let mut i = start;
    loop {
        let Some(at) = line[i..]
            .iter()
            .position(|&b| b == b'\'' || (escapes && b == b'\\'))
        else {
            return Err("unterminated string literal".into());
        };
        let j = i + at;
        if !copied {
            scratch.clear();
        }
        if line[j] == b'\'' {
            if line.get(j + 1) == Some(&b'\'') {
                // a doubled quote: keep one
                scratch.extend_from_slice(&line[segment..=j]);
                copied = true;
                i = j + 2;
                segment = i;
                continue;
            }
            let value = if copied {
                scratch.extend_from_slice(&line[segment..j]);
                Parsed::Scratch
            } else {
                Parsed::Span(start, j)
            };
            let mut next = j + 1;
            if line[next..].starts_with(b"::bytea") {
                next += b"::bytea".len();
            }
            return Ok((value, next));
        }
        let unescaped = match line.get(j + 1) {
            Some(b'\\') => b'\\',
            Some(b'\'') => b'\'',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(&c) => {
                return Err(format!(
                    "unsupported escape `\\{}` in a string literal",
                    char::from(c)
                ))
            }
            None => return Err("unterminated string literal".into()),
        };
        scratch.extend_from_slice(&line[segment..j]);
        scratch.push(unescaped);
        copied = true;
        i = j + 2;
        segment = i;
    }
}

/// A short, printable piece of a line for messages.
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
    use dest_core::{Column, DataType, FileFormat, Value};
    use proptest::prelude::*;

    use super::*;
    use crate::insert_values::{render_value, InsertValues, TABLE_PLACEHOLDER};

    /// A row line as the writer renders it.
    fn row_line(values: &[Value], end: RowEnd) -> Vec<u8> {
        let mut line = vec![b'('];
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            render_value(&mut line, v).unwrap();
        }
        line.extend_from_slice(match end {
            RowEnd::More => b"),",
            RowEnd::Last => b");",
        });
        line
    }

    fn parse(
        line: &[u8],
        ncols: usize,
    ) -> std::result::Result<(Vec<Option<String>>, RowEnd), String> {
        let mut values = Vec::new();
        let mut scratch = Vec::new();
        let end = parse_row(line, ncols, &mut scratch, |i, v| {
            assert_eq!(i, values.len());
            values.push(v.map(|b| String::from_utf8(b.to_vec()).unwrap()));
            Ok(())
        })?;
        Ok((values, end))
    }

    fn ts() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 10, 0, 0).unwrap()
    }

    /// Every kind of value and the text the column's input function must get.
    fn every_value() -> Vec<(Value, Option<String>)> {
        let s = |v: &str| Some(v.to_string());
        let wei = format!("{}.{}", "9".repeat(76), "1".repeat(78));
        let json = serde_json::json!({"b": [1, "x'y\"z\\\n"], "a": null, "n": 1.50});
        vec![
            (Value::Null, None),
            (Value::Bool(true), s("true")),
            (Value::Bool(false), s("false")),
            (Value::Int(0), s("0")),
            (Value::Int(-3), s("-3")),
            (Value::Int(i64::MIN), s("-9223372036854775808")),
            (Value::Int(i64::MAX), s("9223372036854775807")),
            (Value::Double(1.5), s("1.5")),
            (Value::Double(7.0), s("7.0")),
            (Value::Double(1e-7), s("1e-7")),
            (Value::Double(-0.0), s("-0.0")),
            (Value::Double(1.5e300), s("1.5e300")),
            (Value::Double(-f64::MAX), s("-1.7976931348623157e308")),
            (Value::Double(5e-324), s("5e-324")),
            (Value::Double(f64::NAN), None),
            (Value::Double(f64::INFINITY), None),
            (Value::Number(wei.clone()), Some(wei)),
            (Value::Number("-0.000000001".into()), s("-0.000000001")),
            (Value::Number("1e5".into()), s("1e5")),
            (Value::Number("+12".into()), s("+12")),
            (Value::Text("Alice O'Neil".into()), s("Alice O'Neil")),
            (Value::Text("back\\slash\\".into()), s("back\\slash\\")),
            (
                Value::Text("new\nline\r\ncr\r".into()),
                s("new\nline\r\ncr\r"),
            ),
            (
                Value::Text("tab\t🦀 ünïcödé ✓".into()),
                s("tab\t🦀 ünïcödé ✓"),
            ),
            (Value::Text(String::new()), s("")),
            (Value::Text("''".into()), s("''")),
            (Value::Text("\\'),(".into()), s("\\'),(")),
            (Value::Text("NULL".into()), s("NULL")),
            (Value::Text("E'x'::bytea".into()), s("E'x'::bytea")),
            (
                Value::Timestamp(ts() + chrono::Duration::microseconds(500_000)),
                s("2024-01-01T10:00:00.500000+00:00"),
            ),
            (
                Value::NaiveTimestamp(
                    NaiveDate::from_ymd_opt(987, 6, 5)
                        .unwrap()
                        .and_hms_opt(4, 3, 2)
                        .unwrap(),
                ),
                s("0987-06-05T04:03:02"),
            ),
            (
                Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
                s("2024-02-29"),
            ),
            (
                Value::Time(NaiveTime::from_hms_micro_opt(1, 2, 3, 45).unwrap()),
                s("01:02:03.000045"),
            ),
            (Value::Binary(vec![0, 1, b'\'', 0xff]), s("\\x000127ff")),
            (Value::Binary(vec![]), s("\\x")),
            (
                Value::Json(json.clone()),
                Some(serde_json::to_string(&json).unwrap()),
            ),
        ]
    }

    #[test]
    fn rendered_values_parse_back() {
        let cases = every_value();
        // each value alone, then all in one row
        for (value, want) in &cases {
            let line = row_line(std::slice::from_ref(value), RowEnd::More);
            let (got, end) = parse(&line, 1).unwrap();
            assert_eq!(got, vec![want.clone()], "{value:?}");
            assert_eq!(end, RowEnd::More);
        }
        let values: Vec<Value> = cases.iter().map(|(v, _)| v.clone()).collect();
        let wants: Vec<Option<String>> = cases.iter().map(|(_, w)| w.clone()).collect();
        let (got, end) = parse(&row_line(&values, RowEnd::Last), values.len()).unwrap();
        assert_eq!(got, wants);
        assert_eq!(end, RowEnd::Last);
    }

    #[test]
    fn malformed_rows_are_errors() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 1, "expected `(`"),
            (b"(", 1, "ends inside the row"),
            (b"(1", 1, "expected `)`"),
            (b"(1)", 1, "expected `,` or `;`"),
            (b"(1);x", 1, "expected `,` or `;`"),
            (b"(1),;", 1, "expected `,` or `;`"),
            (b"(1,2),", 1, "more than 1 values"),
            (b"(1),", 2, "1 values for 2 columns"),
            (b"(abc),", 1, "unexpected `abc)"),
            (b"(NULLX),", 1, "unexpected `NULLX"),
            (b"(True1),", 1, "expected `)`"),
            (b"(-),", 1, "`-` is not a number"),
            (b"('x),", 1, "unterminated"),
            (b"(E'x\\'),", 1, "unterminated"),
            (b"(E'\\q'),", 1, "unsupported escape `\\q`"),
            (b"(E'x\\", 1, "unterminated"),
            (b"('\\x01'::int),", 1, "expected `)`"),
            (b"(1 ),", 1, "expected `)`"),
            (b"(\xff),", 1, "unexpected"),
        ];
        for (line, ncols, want) in cases {
            let e = parse(line, *ncols).unwrap_err();
            assert!(
                e.contains(want),
                "{:?}: {e:?} lacks {want:?}",
                String::from_utf8_lossy(line)
            );
        }
        // a plain literal keeps its backslashes; an E literal reads its escapes
        let (got, _) = parse(br"('a\nb',E'a\nb\tc\bd\fe\'f'),", 2).unwrap();
        assert_eq!(
            got,
            vec![
                Some(r"a\nb".to_string()),
                Some("a\nb\tc\u{8}d\u{c}e'f".to_string())
            ]
        );
    }

    #[test]
    fn headers() {
        assert_eq!(
            HEADER_PREFIX,
            format!("INSERT INTO {TABLE_PLACEHOLDER}(").as_bytes()
        );
        assert_eq!(
            parse_header(br#"INSERT INTO {}("a","we""ird","")"#),
            Ok(Some(vec!["a".into(), "we\"ird".into(), String::new()]))
        );
        assert_eq!(parse_header(b"INSERT INTO {}(\"a\",\"b"), Ok(None));
        assert_eq!(parse_header(b"INSERT INTO {}(\"a\"\""), Ok(None));
        for bad in [
            &b"INSERT INTO t(\"a\")"[..],
            b"INSERT INTO {}()",
            b"INSERT INTO {}(a)",
            b"INSERT INTO {}(\"a\") ",
            b"INSERT INTO {}(\"a\"",
            b"INSERT INTO {}(\"a\";",
        ] {
            assert!(
                parse_header(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest! {
        #[test]
        fn any_text_survives(texts in prop::collection::vec(any::<String>(), 1..6)) {
            let texts: Vec<String> = texts.into_iter().map(|t| t.replace('\0', "")).collect();
            let values: Vec<Value> = texts.iter().cloned().map(Value::Text).collect();
            let (got, end) = parse(&row_line(&values, RowEnd::More), values.len()).unwrap();
            prop_assert_eq!(got, texts.into_iter().map(Some).collect::<Vec<_>>());
            prop_assert_eq!(end, RowEnd::More);
        }

        #[test]
        fn any_bytes_never_panic(line in prop::collection::vec(any::<u8>(), 0..64), ncols in 0usize..4) {
            let _ = parse_row(&line, ncols, &mut Vec::new(), |_, _| Ok(()));
        }

        #[test]
        fn quote_heavy_bytes_never_panic(line in "[(),;'E\\\\x:a-z0-9]{0,40}") {
            let _ = parse_row(line.as_bytes(), 2, &mut Vec::new(), |_, _| Ok(()));
            let _ = parse_header(line.as_bytes());
        }
    }

    fn temp_file(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dlt-rs-bound-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// Writes a job file with the real `insert_values` writer.
    fn write_job(path: &Path, columns: &[Column], rows: &[Vec<Value>], statement_bytes: usize) {
        let file = std::fs::File::create(path).unwrap();
        let mut w = InsertValues::new(statement_bytes)
            .writer("t", columns, Box::new(std::io::BufWriter::new(file)))
            .unwrap();
        for r in rows {
            w.write_row(r).unwrap();
        }
        w.finish().unwrap().flush().unwrap();
    }

    async fn read_all(path: &Path) -> Result<(Vec<String>, Vec<(u64, Vec<Option<String>>)>)> {
        let rows = read_rows(path, 0, u64::MAX).await?;
        let mut reader = JobReader::open(path).await?;
        while reader.next_row(|_, _| Ok(())).await?.is_some() {}
        Ok((reader.columns.unwrap_or_default(), rows))
    }

    #[tokio::test]
    async fn reads_job_files_back() {
        let columns = vec![
            Column::new("id", DataType::Bigint),
            Column::new("we\"ird\nname, (x)", DataType::Text),
        ];
        let rows: Vec<Vec<Value>> = (0..50)
            .map(|i| vec![Value::Int(i), Value::Text(format!("v'{i}\n"))])
            .collect();
        let path = temp_file("reads_back.insert_values");
        write_job(&path, &columns, &rows, 100);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.matches("INSERT INTO {}(").count() > 5, "{text}");

        let (names, got) = read_all(&path).await.unwrap();
        assert_eq!(names, vec!["id", "we\"ird\nname, (x)"]);
        assert_eq!(got.len(), 50);
        for (i, (_, row)) in got.iter().enumerate() {
            assert_eq!(row, &vec![Some(i.to_string()), Some(format!("v'{i}\n"))]);
        }
        // line numbers are the file's
        for (line, row) in &got {
            let text_line = text
                .lines()
                .nth(usize::try_from(*line).unwrap() - 1)
                .unwrap();
            assert!(
                text_line.starts_with(&format!("({},", row[0].as_deref().unwrap())),
                "{line}: {text_line}"
            );
        }
        // batches cut at about the limit cover every row once
        let mut reader = JobReader::open(&path).await.unwrap();
        let mut batches = Vec::new();
        while let Some(b) = reader.next_batch(60).await.unwrap() {
            assert_eq!(b.columns.len(), 2);
            assert!(b.columns.iter().all(|c| c.len == b.lines.rows as usize));
            batches.push(b.lines);
        }
        assert!(batches.len() > 10, "{batches:?}");
        assert_eq!(batches.iter().map(|b| b.rows).sum::<u64>(), 50);
        assert_eq!(batches[0].first, got[0].0);
        assert_eq!(batches.last().unwrap().last, got[49].0);
        assert_eq!(read_rows(&path, got[3].0, got[5].0).await.unwrap().len(), 3);

        // an empty file has no rows
        std::fs::write(&path, "").unwrap();
        assert!(read_all(&path).await.unwrap().1.is_empty());
        std::fs::remove_file(&path).unwrap();
    }

    #[tokio::test]
    async fn malformed_files_name_file_and_line() {
        let path = temp_file("malformed.insert_values");
        let cases: &[(&str, &str)] = &[
            (
                "INSERT INTO {}(\"a\")\nVALUES\n(1),\n(2)",
                "line 4: expected `,` or `;`",
            ),
            (
                "INSERT INTO {}(\"a\")\nVALUES\n(1),\n",
                "line 3: the file ends inside a statement",
            ),
            ("INSERT INTO {}(\"a\")\n(1);", "line 2: expected `VALUES`"),
            ("(1);", "line 1: expected a statement header"),
            (
                "INSERT INTO {}(\"a\")\nVALUES\n(1);\nINSERT INTO {}(\"b\")\nVALUES\n(1);",
                "line 4: the statement's columns differ",
            ),
            (
                "INSERT INTO {}(\"a\")\nVALUES\n(1,2);",
                "line 3: expected `)`",
            ),
            (
                "INSERT INTO {}(\"a\nVALUES\n(1);",
                "line 1: unterminated statement header",
            ),
        ];
        for (text, want) in cases {
            std::fs::write(&path, text).unwrap();
            let e = read_all(&path).await.unwrap_err();
            assert!(matches!(e, Error::Internal(_)), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(want), "{text:?}: {msg}");
        }
        // blank lines between statements, CRLF line ends and a final line break are fine
        std::fs::write(
            &path,
            "\nINSERT INTO {}(\"a\")\r\nVALUES\r\n(1),\r\n(2);\r\n\r\nINSERT INTO {}(\"a\")\nVALUES\n(NULL);\n",
        )
        .unwrap();
        let (names, rows) = read_all(&path).await.unwrap();
        assert_eq!(names, vec!["a"]);
        assert_eq!(
            rows,
            vec![
                (4, vec![Some("1".into())]),
                (5, vec![Some("2".into())]),
                (9, vec![None])
            ]
        );
        std::fs::remove_file(&path).unwrap();
    }
}
