//! `parquet` job files against the test server, through the destination's public API: files
//! written with `columnar`'s Parquet writers, loaded with binary `COPY` by
//! `LoadClient::run_job` (each job one transaction), read back as PostgreSQL's text.
//!
//! The property test covers every pair of a job type (Arrow) and a column type binary COPY
//! writes: random values (NULLs, extremes, hostile text, long decimals, times before 2000
//! and far ahead) loaded through the file, compared with what PostgreSQL makes of the same
//! values written as text by the test (an independent rendering, cast by the server).

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
    Float64Array, Int64Array, NullArray, RecordBatch, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::i256;
use arrow_schema::{DataType as Arrow, TimeUnit};
use columnar::ParquetBatchWriter;
use dest_core::{Column, DataType, Error, LoadClient, LoadTarget, Result, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use test_support::query_rows;

use crate::csv::{all_types_rows, all_types_table};
use crate::support::{create_tables, job, schema, write_job, Dataset};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Writes `batches` into `dir/<name>.parquet` with the columnar batch writer.
fn write_parquet(dir: &Path, name: &str, batches: &[RecordBatch]) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.parquet"));
    let schema = batches[0].schema();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = ParquetBatchWriter::new(name, schema, Box::new(file)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap().flush().unwrap();
    path
}

/// Loads `batches` (written as `dir/<name>.parquet`) into dataset table `table`.
async fn load(
    client: &dyn LoadClient,
    dir: &Path,
    table: &str,
    batches: &[RecordBatch],
    name: &str,
) -> Result<u64> {
    let path = write_parquet(dir, name, batches);
    let result = client
        .run_job(&job(table, &path, "parquet", name))
        .await
        .map(|outcome| outcome.rows);
    std::fs::remove_file(&path).unwrap();
    result
}

/// A batch of nullable columns (as job files have them).
fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Values, their arrays and their text.

/// PostgreSQL's first instant and first day, in Arrow's units (since 1970-01-01).
const MIN_TIMESTAMP: i64 = -210_866_803_200_000_000;
const MIN_DATE: i32 = -2_440_588;
/// PostgreSQL's last day (5874897-12-31).
const MAX_DATE: i32 = 2_145_042_905;
const DAY_US: i64 = 86_400_000_000;

#[derive(Debug, Clone)]
enum V {
    I(i64),
    F(f64),
    B(bool),
    S(String),
    D128(i128),
    D256(i256),
    /// Microseconds since 1970-01-01, days since 1970-01-01, microseconds since midnight.
    Ts(i64),
    Date(i32),
    Time(i64),
    Bin(Vec<u8>),
}

/// A column of the property test: its type in the table, its Arrow type in the file, its
/// values, and how the expected text is made: `None` the test's text itself, `Some(cast)`
/// PostgreSQL's text of `text::cast`.
struct Spec {
    name: &'static str,
    sql_type: &'static str,
    arrow: Arrow,
    values: fn() -> BoxedStrategy<V>,
    expect: Option<&'static str>,
}

fn utc() -> Option<Arc<str>> {
    Some(Arc::from("UTC"))
}

fn specs() -> Vec<Spec> {
    let ts = |tz| Arrow::Timestamp(TimeUnit::Microsecond, tz);
    let s = |name, sql_type, arrow, values, expect| Spec {
        name,
        sql_type,
        arrow,
        values,
        expect,
    };
    vec![
        s("i8", "bigint", Arrow::Int64, ints, None),
        s("i4", "integer", Arrow::Int64, ints_i32, None),
        s("i2", "smallint", Arrow::Int64, ints_i16, None),
        s(
            "i_f8",
            "double precision",
            Arrow::Int64,
            ints,
            Some("int8::float8"),
        ),
        s("i_num", "numeric", Arrow::Int64, ints, None),
        s(
            "f8",
            "double precision",
            Arrow::Float64,
            doubles,
            Some("float8"),
        ),
        s("f4", "real", Arrow::Float64, reals, Some("float8::float4")),
        s("b", "boolean", Arrow::Boolean, bools, None),
        s("t", "text", Arrow::Utf8, texts, None),
        s("vc", "varchar", Arrow::Utf8, texts, None),
        s(
            "bp",
            "character(12)",
            Arrow::Utf8,
            short_texts,
            Some("character(12)"),
        ),
        s("j", "json", Arrow::Utf8, json_texts, Some("json")),
        s("jb", "jsonb", Arrow::Utf8, json_texts, Some("jsonb")),
        s("n", "numeric", Arrow::Utf8, decimal_texts, Some("numeric")),
        s(
            "n38",
            "numeric(38,9)",
            Arrow::Utf8,
            decimal_texts_38,
            Some("numeric(38,9)"),
        ),
        s(
            "d128",
            "numeric",
            Arrow::Decimal128(38, 9),
            decimals_38,
            Some("numeric"),
        ),
        s(
            "d128_18",
            "numeric(20,2)",
            Arrow::Decimal128(18, 0),
            decimals_18,
            Some("numeric(20,2)"),
        ),
        s(
            "d256",
            "numeric",
            Arrow::Decimal256(76, 20),
            decimals_76,
            Some("numeric"),
        ),
        s(
            "tstz",
            "timestamp with time zone",
            ts(utc()),
            timestamps,
            Some("timestamptz"),
        ),
        s("ts", "timestamp", ts(None), timestamps, Some("timestamp")),
        s(
            "tz_naive",
            "timestamp",
            ts(utc()),
            timestamps,
            Some("timestamp"),
        ),
        s(
            "naive_tz",
            "timestamptz",
            ts(None),
            timestamps,
            Some("timestamptz"),
        ),
        s(
            "ts3",
            "timestamp(3) with time zone",
            ts(utc()),
            timestamps,
            Some("timestamptz(3)"),
        ),
        s("dt", "date", Arrow::Date32, dates, Some("date")),
        s(
            "tm",
            "time",
            Arrow::Time64(TimeUnit::Microsecond),
            times,
            Some("time"),
        ),
        s(
            "tm0",
            "time(0)",
            Arrow::Time64(TimeUnit::Microsecond),
            times,
            Some("time(0)"),
        ),
        s("bin", "bytea", Arrow::Binary, bytes, None),
        s("nul_t", "text", Arrow::Null, nothing, None),
        s("nul_i", "integer", Arrow::Null, nothing, None),
    ]
}

fn ints() -> BoxedStrategy<V> {
    prop_oneof![
        any::<i64>(),
        -1000i64..1000,
        Just(i64::MIN),
        Just(i64::MAX),
        Just((1 << 53) + 1),
    ]
    .prop_map(V::I)
    .boxed()
}

fn ints_i32() -> BoxedStrategy<V> {
    prop_oneof![
        any::<i32>().prop_map(i64::from),
        Just(i64::from(i32::MIN)),
        Just(i64::from(i32::MAX)),
    ]
    .prop_map(V::I)
    .boxed()
}

fn ints_i16() -> BoxedStrategy<V> {
    prop_oneof![
        any::<i16>().prop_map(i64::from),
        Just(i64::from(i16::MIN)),
        Just(i64::from(i16::MAX)),
    ]
    .prop_map(V::I)
    .boxed()
}

fn doubles() -> BoxedStrategy<V> {
    prop_oneof![
        any::<f64>(),
        -1e6f64..1e6,
        Just(f64::NAN),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(0.1 + 0.2),
    ]
    .prop_map(V::F)
    .boxed()
}

/// Doubles a `real` can take (PostgreSQL refuses the others, as does the encoder).
fn reals() -> BoxedStrategy<V> {
    prop_oneof![
        any::<f32>().prop_map(f64::from),
        (any::<bool>(), -37.0f64..38.0).prop_map(|(neg, e)| {
            let v = 10f64.powf(e);
            if neg {
                -v
            } else {
                v
            }
        }),
        Just(f64::NAN),
        Just(0.0),
        Just(f64::from(f32::MAX)),
        Just(0.1),
    ]
    .prop_map(V::F)
    .boxed()
}

fn bools() -> BoxedStrategy<V> {
    any::<bool>().prop_map(V::B).boxed()
}

/// Text without NUL: any, hostile to COPY's text formats, unicode.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "[\\\\\"',\r\n\t .N\u{7f}\u{a0}\u{feff}]{0,8}",
        "\\PC{0,12}",
        Just("\\N".to_string()),
        Just("NULL".to_string()),
        Just(String::new()),
        Just("\\.".to_string()),
        Just("😀\u{10ffff}\u{fffd} ".to_string()),
    ]
    .prop_map(|s| s.replace('\0', ""))
    .boxed()
}

fn texts() -> BoxedStrategy<V> {
    text().prop_map(V::S).boxed()
}

fn short_texts() -> BoxedStrategy<V> {
    text()
        .prop_map(|s| V::S(s.chars().take(12).collect()))
        .boxed()
}

fn json_texts() -> BoxedStrategy<V> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::from),
        any::<i64>().prop_map(J::from),
        (-1e300f64..1e300).prop_map(|f| serde_json::json!(f)),
        text().prop_map(J::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|kv| J::Object(kv.into_iter().collect())),
        ]
    })
    .prop_flat_map(|j| (Just(j), any::<bool>()))
    .prop_map(|(j, pretty)| {
        V::S(if pretty {
            serde_json::to_string_pretty(&j).unwrap()
        } else {
            j.to_string()
        })
    })
    .boxed()
}

/// Decimal text of every form: signs, no digits on one side of the point, exponents, many
/// digits, wei-sized integers, NaN.
fn decimal_texts() -> BoxedStrategy<V> {
    let sign = || prop_oneof![Just(""), Just("-"), Just("+")];
    prop_oneof![
        8 => (
            sign(),
            "[0-9]{0,40}",
            proptest::option::of("[0-9]{0,40}"),
            proptest::option::of((prop_oneof![Just("e"), Just("E")], sign(), 0u32..60)),
        )
            .prop_filter_map("no digits", |(sign, int, frac, exp)| {
                if int.is_empty() && frac.as_deref().unwrap_or("").is_empty() {
                    return None;
                }
                let mut s = format!("{sign}{int}");
                if let Some(frac) = frac {
                    s.push('.');
                    s.push_str(&frac);
                }
                if let Some((e, sign, n)) = exp {
                    s.push_str(&format!("{e}{sign}{n}"));
                }
                Some(s)
            }),
        1 => (sign(), "[1-9][0-9]{77}").prop_map(|(s, d)| format!("{s}{d}")),
        1 => prop_oneof![Just("NaN".to_string()), Just("nan".to_string()), Just("-0.000".to_string())],
    ]
    .prop_map(V::S)
    .boxed()
}

/// Decimal text that `numeric(38,9)` holds (rounded to 9 places).
fn decimal_texts_38() -> BoxedStrategy<V> {
    prop_oneof![
        9 => (prop_oneof![Just(""), Just("-")], "[0-9]{0,28}", "[0-9]{0,20}")
            .prop_filter_map("no digits", |(sign, int, frac)| {
                if int.is_empty() && frac.is_empty() {
                    None
                } else {
                    Some(format!("{sign}{int}.{frac}"))
                }
            }),
        1 => Just("NaN".to_string()),
    ]
    .prop_map(V::S)
    .boxed()
}

fn decimals_38() -> BoxedStrategy<V> {
    let max = 10i128.pow(38) - 1;
    prop_oneof![-max..=max, -1000i128..1000, Just(max), Just(-max)]
        .prop_map(V::D128)
        .boxed()
}

fn decimals_18() -> BoxedStrategy<V> {
    let max = 10i128.pow(18) - 1;
    prop_oneof![-max..=max, Just(max), Just(-max), Just(0)]
        .prop_map(V::D128)
        .boxed()
}

fn decimals_76() -> BoxedStrategy<V> {
    let half = 10i128.pow(38);
    (-(half - 1)..half, 0..half, any::<bool>())
        .prop_map(move |(high, low, small)| {
            let v = if small {
                i256::from_i128(high)
            } else {
                let low = if high < 0 { -low } else { low };
                i256::from_i128(high)
                    .wrapping_mul(i256::from_i128(half))
                    .wrapping_add(i256::from_i128(low))
            };
            V::D256(v)
        })
        .boxed()
}

fn timestamps() -> BoxedStrategy<V> {
    prop_oneof![
        MIN_TIMESTAMP..=i64::MAX,
        -3_000_000_000_000_000i64..4_000_000_000_000_000,
        Just(MIN_TIMESTAMP),
        Just(i64::MAX),
        Just(0),
        Just(-1),
        Just(946_684_800_000_000),
        Just(946_684_799_999_999),
    ]
    .prop_map(V::Ts)
    .boxed()
}

fn dates() -> BoxedStrategy<V> {
    prop_oneof![
        MIN_DATE..=MAX_DATE,
        -800_000i32..800_000,
        Just(MIN_DATE),
        Just(MAX_DATE),
        Just(0),
        Just(-1),
        Just(10_957),
    ]
    .prop_map(V::Date)
    .boxed()
}

fn times() -> BoxedStrategy<V> {
    prop_oneof![
        0..=DAY_US,
        Just(0),
        Just(DAY_US),
        Just(DAY_US - 1),
        Just(DAY_US - 400_000),
    ]
    .prop_map(V::Time)
    .boxed()
}

fn bytes() -> BoxedStrategy<V> {
    prop::collection::vec(any::<u8>(), 0..24)
        .prop_map(V::Bin)
        .boxed()
}

fn nothing() -> BoxedStrategy<V> {
    Just(V::B(false)).boxed()
}

/// The Arrow array of `cells` of type `arrow`.
fn array(arrow: &Arrow, cells: &[Option<V>]) -> ArrayRef {
    macro_rules! pick {
        ($variant:ident) => {
            cells
                .iter()
                .map(|c| match c {
                    Some(V::$variant(v)) => Some(v.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
    }
    match arrow {
        Arrow::Null => Arc::new(NullArray::new(cells.len())),
        Arrow::Int64 => Arc::new(Int64Array::from(pick!(I))),
        Arrow::Float64 => Arc::new(Float64Array::from(pick!(F))),
        Arrow::Boolean => Arc::new(BooleanArray::from(pick!(B))),
        Arrow::Utf8 => Arc::new(StringArray::from(pick!(S))),
        Arrow::Decimal128(p, s) => Arc::new(
            Decimal128Array::from(pick!(D128))
                .with_precision_and_scale(*p, *s)
                .unwrap(),
        ),
        Arrow::Decimal256(p, s) => Arc::new(
            Decimal256Array::from(pick!(D256))
                .with_precision_and_scale(*p, *s)
                .unwrap(),
        ),
        Arrow::Timestamp(_, tz) => {
            Arc::new(TimestampMicrosecondArray::from(pick!(Ts)).with_timezone_opt(tz.clone()))
        }
        Arrow::Date32 => Arc::new(Date32Array::from(pick!(Date))),
        Arrow::Time64(_) => Arc::new(Time64MicrosecondArray::from(pick!(Time))),
        Arrow::Binary => {
            let values = pick!(Bin);
            Arc::new(BinaryArray::from(
                values.iter().map(|v| v.as_deref()).collect::<Vec<_>>(),
            ))
        }
        other => panic!("not a job type: {other}"),
    }
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD` and whether the year is BC (year 0 is 1 BC).
fn date_text(days: i64) -> (String, bool) {
    let (y, m, d) = civil(days);
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    (format!("{year:04}-{m:02}-{d:02}"), bc)
}

fn time_text(us: i64) -> String {
    let (s, frac) = (us / 1_000_000, us % 1_000_000);
    format!("{:02}:{:02}:{:02}.{frac:06}", s / 3600, s / 60 % 60, s % 60)
}

/// The text of a value as this test writes it (PostgreSQL's input syntax); `None` for NULL.
fn text_of(arrow: &Arrow, v: &V) -> Option<String> {
    let with_point = |digits: String, scale: i8| {
        let (sign, abs) = match digits.strip_prefix('-') {
            Some(abs) => ("-", abs.to_string()),
            None => ("", digits),
        };
        let scale = usize::try_from(scale).unwrap();
        if scale == 0 {
            return format!("{sign}{abs}");
        }
        let padded = format!("{abs:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{sign}{int}.{frac}")
    };
    Some(match (v, arrow) {
        (_, Arrow::Null) => return None,
        (V::I(i), _) => i.to_string(),
        // not finite: loaded as they are (dlt's Arrow path keeps them)
        (V::F(f), _) if f.is_nan() => "NaN".to_string(),
        (V::F(f), _) if f.is_infinite() => {
            if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
        }
        (V::F(f), _) => format!("{f:?}"),
        (V::B(b), _) => b.to_string(),
        (V::S(s), _) => s.clone(),
        (V::D128(d), Arrow::Decimal128(_, s)) => with_point(d.to_string(), *s),
        (V::D256(d), Arrow::Decimal256(_, s)) => with_point(d.to_string(), *s),
        (V::Ts(us), Arrow::Timestamp(_, tz)) => {
            let (date, bc) = date_text(us.div_euclid(DAY_US));
            let mut s = format!("{date} {}", time_text(us.rem_euclid(DAY_US)));
            if tz.is_some() {
                s.push_str("+00");
            }
            if bc {
                s.push_str(" BC");
            }
            s
        }
        (V::Date(d), _) => {
            let (date, bc) = date_text(i64::from(*d));
            if bc {
                format!("{date} BC")
            } else {
                date
            }
        }
        (V::Time(us), _) => time_text(*us),
        (V::Bin(b), _) => {
            let mut s = String::from("\\x");
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            s
        }
        (v, a) => panic!("{v:?} in a column of {a}"),
    })
}

#[test]
fn the_date_arithmetic_of_the_test_is_right() {
    assert_eq!(date_text(0), ("1970-01-01".into(), false));
    assert_eq!(date_text(-719_162), ("0001-01-01".into(), false));
    assert_eq!(date_text(-719_163), ("0001-12-31".into(), true));
    assert_eq!(date_text(i64::from(MIN_DATE)), ("4714-11-24".into(), true));
    assert_eq!(
        date_text(i64::from(MAX_DATE)),
        ("5874897-12-31".into(), false)
    );
    assert_eq!(time_text(DAY_US), "24:00:00.000000");
    assert_eq!(
        text_of(&Arrow::Decimal128(10, 3), &V::D128(-5)).unwrap(),
        "-0.005"
    );
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// Every job type into every column type it loads into: what the file holds is what the
/// server makes of the same values written as text.
#[test]
fn values_survive_binary_copy() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let specs = specs();
    let (ds, loader, target) = rt.block_on(async {
        let ds = Dataset::new("binary_copy::values_survive").await;
        let loader = ds.client(Default::default()).await;
        let target = ds.qualified("t");
        let columns: Vec<String> = specs
            .iter()
            .map(|s| format!("{} {}", s.name, s.sql_type))
            .collect();
        ds.admin
            .batch_execute(&format!(
                "SET TIME ZONE 'UTC'; CREATE TABLE {target} (id bigint, {})",
                columns.join(", ")
            ))
            .await
            .unwrap();
        (tokio::sync::Mutex::new(ds), loader, target)
    });
    let row = specs
        .iter()
        .map(|s| {
            if s.arrow == Arrow::Null {
                Just(None).boxed()
            } else {
                proptest::option::weighted(0.85, (s.values)()).boxed()
            }
        })
        .collect::<Vec<_>>();
    let strategy = prop::collection::vec(row, 1..8);
    let select = {
        let cols: Vec<String> = specs.iter().map(|s| format!("{}::text", s.name)).collect();
        format!("SELECT {} FROM {target} ORDER BY id", cols.join(", "))
    };
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let case = std::cell::Cell::new(0);
    runner
        .run(&strategy, |rows| {
            case.set(case.get() + 1);
            let mut columns: Vec<(&str, ArrayRef)> = vec![(
                "id",
                Arc::new(Int64Array::from_iter_values(0..rows.len() as i64)),
            )];
            for (i, s) in specs.iter().enumerate() {
                let cells: Vec<Option<V>> = rows.iter().map(|r| r[i].clone()).collect();
                columns.push((s.name, array(&s.arrow, &cells)));
            }
            let b = batch(columns);
            let (got, want) = rt.block_on(async {
                let ds = ds.lock().await;
                ds.admin
                    .batch_execute(&format!("TRUNCATE {target}"))
                    .await
                    .unwrap();
                let n = load(
                    &*loader,
                    dir.path(),
                    "t",
                    &[b],
                    &format!("case{}", case.get()),
                )
                .await
                .unwrap();
                assert_eq!(n, rows.len() as u64);
                let got = ds.admin.query(select.as_str(), &[]).await.unwrap();
                let got: Vec<Vec<Option<String>>> = got
                    .iter()
                    .map(|r| (0..specs.len()).map(|i| r.get(i)).collect())
                    .collect();
                // the expected text, column by column
                let mut want = vec![Vec::new(); rows.len()];
                for (i, s) in specs.iter().enumerate() {
                    let texts: Vec<Option<String>> = rows
                        .iter()
                        .map(|r| r[i].as_ref().and_then(|v| text_of(&s.arrow, v)))
                        .collect();
                    let column = match s.expect {
                        None => texts,
                        Some(cast) => {
                            let sql = format!(
                                "SELECT (u.v::{cast})::text FROM unnest($1::text[]) \
                                 WITH ORDINALITY AS u(v, i) ORDER BY u.i"
                            );
                            ds.admin
                                .query(sql.as_str(), &[&texts])
                                .await
                                .unwrap_or_else(|e| panic!("{}: {texts:?}: {e}", s.name))
                                .iter()
                                .map(|r| r.get(0))
                                .collect()
                        }
                    };
                    for (w, v) in want.iter_mut().zip(column) {
                        w.push(v);
                    }
                }
                (got, want)
            });
            for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                for (i, s) in specs.iter().enumerate() {
                    prop_assert_eq!(
                        &g[i],
                        &w[i],
                        "row {}, column {} ({} from {}): {:?}",
                        r,
                        s.name,
                        s.sql_type,
                        s.arrow,
                        rows[r][i]
                    );
                }
            }
            prop_assert_eq!(got.len(), rows.len());
            Ok(())
        })
        .unwrap();
    rt.block_on(async { ds.lock().await.remove().await });
}

/// The pipeline's own `parquet` writer, loaded with binary COPY, stores what `insert_values`
/// stores (dlt's type mapping: the tables are made by the client's migration). An empty file
/// loads nothing.
#[tokio::test]
async fn parquet_jobs_store_what_insert_values_stores() {
    let ds = Dataset::new("binary_copy::parquet_matches_insert").await;
    let client = ds.client(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let via_parquet = all_types_table("via_parquet");
    let via_insert = all_types_table("via_insert");
    create_tables(
        &*client,
        &schema(&[via_parquet.clone(), via_insert.clone()]),
        LoadTarget::Dataset,
    )
    .await;
    let rows = all_types_rows();
    let path = dir.path().join("all.parquet");
    write_job(&columnar::Parquet, &path, &via_parquet.columns, &rows);
    let n = client
        .run_job(&job("via_parquet", &path, "parquet", "all"))
        .await
        .unwrap()
        .rows;
    assert_eq!(n, rows.len() as u64);
    let path = dir.path().join("all.insert_values");
    write_job(
        &dest_postgres::InsertValues::new(1 << 20),
        &path,
        &via_insert.columns,
        &rows,
    );
    client
        .run_job(&job("via_insert", &path, "insert_values", "all"))
        .await
        .unwrap();

    let (a, b) = (ds.qualified("via_parquet"), ds.qualified("via_insert"));
    let text = |t: &str| format!("SELECT x::text FROM {t} AS x ORDER BY id");
    let got = query_rows(&ds.admin, &text(&a)).await;
    assert_eq!(got, query_rows(&ds.admin, &text(&b)).await);
    assert_eq!(got.len(), rows.len());

    // a file without rows sends nothing
    let path = dir.path().join("empty.parquet");
    write_job(&columnar::Parquet, &path, &via_parquet.columns, &[]);
    let n = client
        .run_job(&job("via_parquet", &path, "parquet", "empty"))
        .await
        .unwrap()
        .rows;
    assert_eq!(n, 0);
    let count = query_rows(&ds.admin, &format!("SELECT count(*) FROM {a}")).await;
    assert_eq!(count, vec![vec![Some(rows.len().to_string())]]);
    ds.remove().await;
}

/// Values the encoder refuses name the file, the column and the row (across record batches
/// and chunks); so do values only the server refuses; a column type binary COPY cannot write
/// says what to use instead. Nothing is loaded, and the connections go on working.
#[tokio::test]
async fn errors_name_file_column_and_row() {
    let ds = Dataset::new("binary_copy::errors").await;
    let client = ds.client(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let target = ds.qualified("t");
    ds.admin
        .batch_execute(&format!(
            "CREATE TABLE {target} (id bigint, small smallint, s varchar(3), j jsonb)"
        ))
        .await
        .unwrap();
    let rows = |n: i64, small: &dyn Fn(i64) -> i64, s: &dyn Fn(i64) -> String| {
        batch(vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
            ),
            (
                "small",
                Arc::new(Int64Array::from_iter_values((0..n).map(small))),
            ),
            ("s", Arc::new(StringArray::from_iter_values((0..n).map(s)))),
            (
                "j",
                Arc::new(StringArray::from_iter_values((0..n).map(|i| i.to_string()))),
            ),
        ])
    };
    let ok = |_: i64| "ok".to_string();
    let count = || async {
        query_rows(&ds.admin, &format!("SELECT count(*) FROM {target}")).await[0][0].clone()
    };

    // the encoder: a smallint out of range in the second batch of a file of many chunks
    let first = rows(70_000, &|i| i % 1000, &ok);
    let second = rows(70_000, &|i| if i == 12_345 { 99_999 } else { 1 }, &ok);
    let err = load(&*client, dir.path(), "t", &[first.clone(), second], "range")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("range.parquet into "), "{text}");
    assert!(text.contains(&target), "{text}");
    assert!(
        text.contains("column `small`, row 82345: 99999 is out of range for type smallint"),
        "{text}"
    );
    assert!(matches!(err, Error::AtRow { row: 82_345, .. }), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(count().await, Some("0".into()));

    // NUL in text, as the other formats say it
    let nul = rows(3, &|_| 1, &|i| {
        if i == 2 {
            "a\0".into()
        } else {
            "b".into()
        }
    });
    let err = load(&*client, dir.path(), "t", &[nul], "nul")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "column `s`, row 2: {}",
            dest_postgres::NulInText(1)
        )),
        "{text}"
    );
    assert!(matches!(err, Error::AtRow { row: 2, .. }), "{err:?}");

    // the server: a value too long for varchar(3), late in a file of many chunks
    let long = rows(200_000, &|_| 1, &|i| {
        if i == 150_000 {
            "toolong".into()
        } else {
            "ok".into()
        }
    });
    let err = load(&*client, dir.path(), "t", &[long], "long")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("long.parquet into "), "{text}");
    assert!(
        text.contains("value too long for type character varying(3) (22001)"),
        "{text}"
    );
    assert!(text.contains("COPY t, line 150001, column s"), "{text}");
    assert!(matches!(err, Error::AtRow { row: 150_000, .. }), "{err:?}");
    assert!(!err.is_transient());

    // ... and invalid JSON
    let mut bad = rows(2, &|_| 1, &ok);
    let j: ArrayRef = Arc::new(StringArray::from(vec!["{}", "{nope"]));
    bad = RecordBatch::try_new(bad.schema(), {
        let mut c = bad.columns().to_vec();
        c[3] = j;
        c
    })
    .unwrap();
    let err = load(&*client, dir.path(), "t", &[bad], "json")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("invalid input syntax for type json (22P02)"),
        "{text}"
    );
    assert!(text.contains("COPY t, line 2, column j"), "{text}");
    assert!(matches!(err, Error::AtRow { row: 1, .. }), "{err:?}");
    assert_eq!(count().await, Some("0".into()));

    // a column type binary COPY cannot write
    let point = ds.qualified("p");
    ds.admin
        .batch_execute(&format!("CREATE TABLE {point} (id bigint, at point)"))
        .await
        .unwrap();
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("at", Arc::new(StringArray::from(vec!["(1,2)"])) as ArrayRef),
    ]);
    let err = load(&*client, dir.path(), "p", &[b], "point")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("point.parquet into "), "{text}");
    assert!(
        text.contains("column `at` has type `point`")
            && text.contains("use --loader-file-format insert_values"),
        "{text}"
    );
    assert!(!err.is_transient());

    // after all that, a good file loads (whole batches, several chunks)
    let n = load(&*client, dir.path(), "t", &[first.clone(), first], "good")
        .await
        .unwrap();
    assert_eq!(n, 140_000);
    assert_eq!(count().await, Some("140000".into()));
    ds.remove().await;
}

/// A dlt-typed table whose columns come from `Column`s, loaded from a file whose Arrow schema
/// is the columnar crate's for them.
#[tokio::test]
async fn job_schema_files_load() {
    let ds = Dataset::new("binary_copy::job_schema").await;
    let client = ds.client(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut t = dest_core::TableSchema::new("t");
    t.columns = vec![
        Column::new("id", DataType::Bigint),
        Column::new("w", DataType::Wei),
        Column::new("nothing", DataType::Text),
    ];
    create_tables(&*client, &schema(&[t.clone()]), LoadTarget::Dataset).await;
    let rows = vec![
        vec![
            Value::Int(1),
            Value::Number(
                "115792089237316195423570985008687907853269984665640564039457584007913129639935"
                    .into(),
            ),
            Value::Null,
        ],
        vec![Value::Int(2), Value::Number("-1e-5".into()), Value::Null],
    ];
    let path = dir.path().join("w.parquet");
    write_job(&columnar::Parquet, &path, &t.columns, &rows);
    client
        .run_job(&job("t", &path, "parquet", "w"))
        .await
        .unwrap();
    let got = query_rows(
        &ds.admin,
        &format!(
            "SELECT w::text, nothing FROM {} ORDER BY id",
            ds.qualified("t")
        ),
    )
    .await;
    // wei is numeric(156,78)
    let zeros = "0".repeat(78);
    assert_eq!(
        got,
        vec![
            vec![
                Some(format!(
                    "115792089237316195423570985008687907853269984665640564039457584007913129639935.{zeros}"
                )),
                None
            ],
            vec![Some(format!("-0.00001{}", &zeros[5..])), None],
        ]
    );
    ds.remove().await;
}
