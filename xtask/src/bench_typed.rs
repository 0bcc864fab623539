//! The benchmark's `typed` data set: a Parquet file of typed columns, and the same rows as CSV
//! for the PostgreSQL `COPY` floor.
//!
//! Columns (Arrow types; every column but `id` nullable):
//!
//! | column | Arrow type | values |
//! | --- | --- | --- |
//! | `id` | `Int64`, not null | 1, 2, 3, ... |
//! | `small` | `Int16` | the whole range, the extremes now and then; 2% NULL |
//! | `medium` | `Int32` | likewise |
//! | `big` | `Int64` | likewise |
//! | `price` | `Decimal128(12, 2)` | mostly ±10,000,000.00, sometimes ±9,999,999,999.99, 0, ±0.01; 2% NULL |
//! | `score` | `Float64` | random doubles of full precision, and 0, -0, 1e-300, -1.5e300, 0.1, 1/3 ...; 10% NULL |
//! | `flag` | `Boolean` | 2% NULL |
//! | `name` | `Utf8` | 1–4 hostile pieces (quotes, commas, line breaks, backslashes, `\N`, `NULL`, unicode, control characters), 1% of them ~2,000 characters; 5% empty strings, 3% NULL |
//! | `created` | `Timestamp(Microsecond, "UTC")` | 1900–2099, microseconds; 2% NULL |
//! | `local_ts` | `Timestamp(Microsecond)`, no zone | likewise |
//! | `day` | `Date32` | 1900–2099; 2% NULL |
//!
//! The same `(rows, seed)` always gives the same rows (SplitMix64). The Parquet file is written
//! as pyarrow writes one by default (snappy, row groups of up to 1,048,576 rows).
//!
//! The CSV is `psql \copy ... (FORMAT csv)` input: NULL is an unquoted empty field, strings are
//! always quoted (`""` is the empty string, quotes doubled), booleans `t`/`f`, decimals as their
//! exact text, doubles as the shortest text that reads back to the same double, timestamps
//! `YYYY-MM-DD HH:MM:SS.ffffff+00` (the naive ones too: a zone is ignored by a `timestamp`
//! column and makes a `timestamptz` column read them as UTC, as dlt loads naive timestamps).
//! No string holds a line `\.` (psql's `\copy` would take it for the end of the data).

use anyhow::{Context, Result};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int16Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use crate::bench_gen::{civil, csv_str, Out, Written};

/// The seed of the typed rows.
pub(crate) const TYPED_SEED: u64 = 14;
/// Rows per Arrow record batch written.
const BATCH_ROWS: usize = 65_536;

/// 1900-01-01T00:00:00Z and 2100-01-01T00:00:00Z, in seconds since 1970.
const FIRST_SECOND: i64 = -2_208_988_800;
const END_SECOND: i64 = 4_102_444_800;

/// The pieces `name` is made of.
const NAME_PIECES: &[&str] = &[
    "Ana",
    "O'Brien",
    "Müller",
    "\"quoted\"",
    "say \"hi\", then leave",
    "a,b,c",
    "comma, inc.",
    "line1\nline2",
    "crlf\r\nend",
    "cr\ronly",
    "back\\slash",
    "C:\\temp\\new",
    "trailing\\",
    "\\N",
    "NULL",
    "null",
    "tab\there",
    " leading space",
    "trailing space ",
    "日本語",
    "Ελληνικά",
    "Ñandú",
    "emoji 🚀🔥",
    "𝄞 clef",
    "e\u{301} combining",
    "zw\u{200d}j",
    "مرحبا",
    "semi;colon",
    "pipe|bar",
    "''single''",
    "%s %d {}",
    "<tag>&amp;",
    "{\"json\": [1, 2]}",
    "bell\u{7}",
    "del\u{7f}",
];

/// Doubles that are easy to get wrong.
const SPECIAL_SCORES: &[f64] = &[
    0.0,
    -0.0,
    1e-300,
    -1.5e300,
    0.1,
    1.0 / 3.0,
    2.5,
    1e15 + 0.3,
    -123_456.789,
    9_007_199_254_740_992.0,
];

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; the bias of the modulo is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent` times in a hundred.
    fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low) as u64) as i64
    }
}

/// One row (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TypedRow {
    pub id: i64,
    pub small: Option<i16>,
    pub medium: Option<i32>,
    pub big: Option<i64>,
    /// In cents (scale 2).
    pub price: Option<i128>,
    pub score: Option<f64>,
    pub flag: Option<bool>,
    pub name: Option<String>,
    /// Microseconds since 1970-01-01T00:00:00Z.
    pub created: Option<i64>,
    /// Microseconds since 1970-01-01T00:00:00 (no zone).
    pub local_ts: Option<i64>,
    /// Days since 1970-01-01.
    pub day: Option<i32>,
}

/// The rows `1..=rows` of the seed.
pub(crate) struct TypedRows {
    rng: Rng,
    next_id: i64,
    end: i64,
}

impl TypedRows {
    pub(crate) fn new(rows: u64, seed: u64) -> Self {
        Self {
            rng: Rng(seed),
            next_id: 1,
            end: i64::try_from(rows).unwrap_or(i64::MAX - 1) + 1,
        }
    }
}

/// `Some(value())` but NULL `percent` times in a hundred.
fn maybe<T>(rng: &mut Rng, percent: u64, value: impl FnOnce(&mut Rng) -> T) -> Option<T> {
    if rng.percent(percent) {
        None
    } else {
        Some(value(rng))
    }
}

/// A value of the whole range of an integer type, its extremes 5% of the time.
fn int(rng: &mut Rng, min: i64, max: i64) -> i64 {
    if rng.percent(5) {
        [min, max, 0, -1][rng.below(4) as usize]
    } else {
        let span = (max as i128 - min as i128 + 1) as u128;
        (min as i128 + (u128::from(rng.next()) % span) as i128) as i64
    }
}

fn timestamp(rng: &mut Rng) -> i64 {
    let second = rng.range(FIRST_SECOND, END_SECOND);
    let micros = if rng.percent(10) {
        0
    } else {
        rng.below(1_000_000) as i64
    };
    second * 1_000_000 + micros
}

fn name(rng: &mut Rng) -> Option<String> {
    let roll = rng.below(100);
    if roll < 3 {
        return None;
    }
    if roll < 8 {
        return Some(String::new());
    }
    let pieces = 1 + rng.below(4);
    let mut s = String::new();
    for i in 0..pieces {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(NAME_PIECES[rng.below(NAME_PIECES.len() as u64) as usize]);
    }
    if rng.below(100) == 0 {
        let piece = s.clone();
        while s.len() < 2_000 {
            s.push('|');
            s.push_str(&piece);
        }
    }
    Some(s)
}

impl Iterator for TypedRows {
    type Item = TypedRow;

    fn next(&mut self) -> Option<TypedRow> {
        if self.next_id >= self.end {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let r = &mut self.rng;
        Some(TypedRow {
            id,
            small: maybe(r, 2, |r| int(r, i16::MIN.into(), i16::MAX.into()) as i16),
            medium: maybe(r, 2, |r| int(r, i32::MIN.into(), i32::MAX.into()) as i32),
            big: maybe(r, 2, |r| int(r, i64::MIN, i64::MAX)),
            price: maybe(r, 2, |r| {
                if r.percent(10) {
                    [999_999_999_999, -999_999_999_999, 0, 1, -1][r.below(5) as usize]
                } else {
                    i128::from(r.range(-1_000_000_000, 1_000_000_000))
                }
            }),
            score: maybe(r, 10, |r| {
                if r.percent(5) {
                    SPECIAL_SCORES[r.below(SPECIAL_SCORES.len() as u64) as usize]
                } else {
                    // 53 random bits over ±1e6
                    (r.next() >> 11) as f64 / (1u64 << 53) as f64 * 2e6 - 1e6
                }
            }),
            flag: maybe(r, 2, |r| r.below(2) == 1),
            name: name(r),
            created: maybe(r, 2, timestamp),
            local_ts: maybe(r, 2, timestamp),
            day: maybe(r, 2, |r| {
                r.range(FIRST_SECOND / 86_400, END_SECOND / 86_400) as i32
            }),
        })
    }
}

/// The Arrow schema of the Parquet file.
pub(crate) fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("small", DataType::Int16, true),
        Field::new("medium", DataType::Int32, true),
        Field::new("big", DataType::Int64, true),
        Field::new("price", DataType::Decimal128(12, 2), true),
        Field::new("score", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("name", DataType::Utf8, true),
        Field::new(
            "created",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new(
            "local_ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("day", DataType::Date32, true),
    ]))
}

/// The columns, comma separated, in the file's order (for the floor's `\copy`).
pub(crate) const COLUMNS: &str =
    "id, small, medium, big, price, score, flag, name, created, local_ts, day";

fn batch(schema: &Arc<Schema>, rows: &[TypedRow]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(rows.iter().map(|r| r.small).collect::<Int16Array>()),
        Arc::new(rows.iter().map(|r| r.medium).collect::<Int32Array>()),
        Arc::new(rows.iter().map(|r| r.big).collect::<Int64Array>()),
        Arc::new(
            rows.iter()
                .map(|r| r.price)
                .collect::<Decimal128Array>()
                .with_precision_and_scale(12, 2)?,
        ),
        Arc::new(rows.iter().map(|r| r.score).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.flag).collect::<BooleanArray>()),
        Arc::new(
            rows.iter()
                .map(|r| r.name.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.created)
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.local_ts)
                .collect::<TimestampMicrosecondArray>(),
        ),
        Arc::new(rows.iter().map(|r| r.day).collect::<Date32Array>()),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn csv_timestamp(micros: i64, out: &mut String) {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let (y, m, d) = civil(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{fraction:06}+00",
        s / 3_600,
        s % 3_600 / 60,
        s % 60
    );
}

fn csv_decimal(cents: i128, out: &mut String) {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:02}", abs / 100, abs % 100);
}

impl TypedRow {
    /// The row as a line of the floor's CSV (see the module docs).
    pub(crate) fn csv(&self, out: &mut String) {
        let _ = write!(out, "{},", self.id);
        if let Some(v) = self.small {
            let _ = write!(out, "{v}");
        }
        out.push(',');
        if let Some(v) = self.medium {
            let _ = write!(out, "{v}");
        }
        out.push(',');
        if let Some(v) = self.big {
            let _ = write!(out, "{v}");
        }
        out.push(',');
        if let Some(v) = self.price {
            csv_decimal(v, out);
        }
        out.push(',');
        if let Some(v) = self.score {
            // `{:?}`: the shortest text that reads back to the same double, exponent form
            // for very large and small ones (PostgreSQL's float8 input reads both)
            let _ = write!(out, "{v:?}");
        }
        out.push(',');
        if let Some(v) = self.flag {
            out.push(if v { 't' } else { 'f' });
        }
        out.push(',');
        if let Some(v) = &self.name {
            csv_str(v, out);
        }
        out.push(',');
        if let Some(v) = self.created {
            csv_timestamp(v, out);
        }
        out.push(',');
        if let Some(v) = self.local_ts {
            csv_timestamp(v, out);
        }
        out.push(',');
        if let Some(v) = self.day {
            let (y, m, d) = civil(v.into());
            let _ = write!(out, "{y:04}-{m:02}-{d:02}");
        }
        out.push('\n');
    }
}

/// Writes `rows` typed rows to the Parquet file `parquet` and, when given, the same rows as
/// the floor's CSV `csv`. `bytes` is the Parquet file's size.
pub(crate) fn write_typed(
    parquet: &Path,
    csv: Option<&Path>,
    rows: u64,
    seed: u64,
) -> Result<Written> {
    let schema = schema();
    let file = std::fs::File::create(parquet)
        .with_context(|| format!("could not create {}", parquet.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
        .with_context(|| format!("could not write {}", parquet.display()))?;
    let mut csv_out = csv.map(Out::create).transpose()?;
    let mut line = String::new();
    let mut buffer: Vec<TypedRow> = Vec::with_capacity(BATCH_ROWS);
    let mut flush = |buffer: &mut Vec<TypedRow>| -> Result<()> {
        if buffer.is_empty() {
            return Ok(());
        }
        writer
            .write(&batch(&schema, buffer)?)
            .with_context(|| format!("could not write {}", parquet.display()))?;
        buffer.clear();
        Ok(())
    };
    for row in TypedRows::new(rows, seed) {
        if let Some(out) = csv_out.as_mut() {
            line.clear();
            row.csv(&mut line);
            out.put(&line)?;
        }
        buffer.push(row);
        if buffer.len() == BATCH_ROWS {
            flush(&mut buffer)?;
        }
    }
    flush(&mut buffer)?;
    let file = writer
        .into_inner()
        .with_context(|| format!("could not finish {}", parquet.display()))?;
    file.sync_all()
        .with_context(|| format!("could not sync {}", parquet.display()))?;
    if let Some(out) = csv_out {
        out.finish()?;
    }
    let bytes = std::fs::metadata(parquet).map_or(0, |m| m.len());
    Ok(Written { rows, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_of(row: &TypedRow) -> String {
        let mut s = String::new();
        row.csv(&mut s);
        s
    }

    #[test]
    fn rows_are_deterministic_and_varied() {
        let a: Vec<TypedRow> = TypedRows::new(2_000, TYPED_SEED).collect();
        let b: Vec<TypedRow> = TypedRows::new(2_000, TYPED_SEED).collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2_000);
        assert_eq!((a[0].id, a[1_999].id), (1, 2_000));
        let nulls = a.iter().filter(|r| r.score.is_none()).count();
        assert!((100..300).contains(&nulls), "{nulls} NULL scores");
        assert!(a.iter().any(|r| r.name.as_deref() == Some("")));
        assert!(a.iter().any(|r| r.name.is_none()));
        assert!(a.iter().any(|r| r.small == Some(i16::MIN)));
        assert!(a.iter().any(|r| r.created.is_some_and(|t| t < 0)));
        // no line `\.` inside a value (psql's \copy would stop there)
        assert!(a
            .iter()
            .filter_map(|r| r.name.as_deref())
            .all(|n| !n.lines().any(|l| l.starts_with("\\."))));
    }

    #[test]
    fn csv_lines() {
        let row = TypedRow {
            id: 7,
            small: Some(-32_768),
            medium: None,
            big: Some(i64::MAX),
            price: Some(-5),
            score: Some(1e-300),
            flag: Some(false),
            name: Some("say \"hi\"\n,".into()),
            created: Some(-1),
            local_ts: Some(1_000_000 * 86_400 + 5),
            day: Some(-1),
        };
        assert_eq!(
            csv_of(&row),
            "7,-32768,,9223372036854775807,-0.05,1e-300,f,\"say \"\"hi\"\"\n,\",\
             1969-12-31 23:59:59.999999+00,1970-01-02 00:00:00.000005+00,1969-12-31\n"
        );
        let empty = TypedRow {
            id: 8,
            small: None,
            medium: None,
            big: None,
            price: Some(999_999_999_999),
            score: Some(-0.0),
            flag: None,
            name: Some(String::new()),
            created: None,
            local_ts: None,
            day: None,
        };
        assert_eq!(csv_of(&empty), "8,,,,9999999999.99,-0.0,,\"\",,,\n");
    }

    #[test]
    fn writes_a_readable_parquet_file() {
        let dir = std::env::temp_dir().join(format!("xtask-typed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pq, csv) = (dir.join("t.parquet"), dir.join("t.csv"));
        let w = write_typed(&pq, Some(&csv), 100_000, TYPED_SEED).unwrap();
        assert_eq!(w.rows, 100_000);
        let file = std::fs::File::open(&pq).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(reader.schema().as_ref(), schema().as_ref());
        let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 100_000);
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(text.starts_with("1,"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
