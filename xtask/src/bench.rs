//! `cargo xtask bench`: dlt-rs side by side with real dlt and with the PostgreSQL `COPY` floor.
//!
//! The method is the reference harness's (`../shared/bench`), ported so the command stands on
//! its own:
//!
//! 1. find or start PostgreSQL ([`crate::pg`]);
//! 2. generate the input (untimed):
//!    - `target/bench/flat.jsonl` and `nested.jsonl` ([`crate::bench_gen`], the same bytes as
//!      the harness's `gen.py --seed 42`) and the same rows as CSV for the floor;
//!    - `typed.parquet` ([`crate::bench_typed`]: 11 typed columns, integers of three widths,
//!      a decimal, a double with NULLs, hostile strings, zoned and naive timestamps, dates)
//!      and the same rows as `floor-typed.csv`;
//!    - `events.jsonl` ([`crate::bench_events`]: dlt's test page of 100 GitHub events, 20
//!      times; a 596-column root table and six child tables), when the page is there;
//!    - the `sql` data set: a PostgreSQL table `xbench_source.orders` ([`SQL_TABLE_DDL`]:
//!      bigint key, text, `numeric(12,2)`, double with NULLs, boolean, timestamptz, date, text
//!      with quotes, commas and empty strings), made by the server from `generate_series`;
//!      the methods copy it into a dataset: `dlt-rs sql-database`, dlt's `sql_database(...,
//!      backend="pyarrow")` (`xtask/bench/dlt_sql_load.py`) and, as the floor, the psql pipe
//!      `psql -c '\copy (SELECT ...) TO STDOUT' | psql -c '\copy t FROM STDIN'` into a table
//!      of the source's columns (no `_dlt` columns, no index);
//! 3. `cargo build --release -p cli` once; set up real dlt in `target/bench/dltvenv`
//!    (`pip install 'dlt[postgres]==1.31.0' pyarrow`) unless it is there, `--no-dlt` is given or pip
//!    fails; for the events floor, load the events once with `dlt-rs` (csv, job files kept)
//!    and keep its CSV job files and its tables' DDL (untimed);
//! 4. run every method `--rounds` times in alternation (A B C … A B C …), each run cold: its
//!    schema and `<schema>_staging` dropped, its pipelines folder removed, `CHECKPOINT` + `sync`
//!    before it. Timed: the whole `dlt-rs` process (wall clock); dlt's `pipeline.run()` (as the
//!    harness does, `xtask/bench/dlt_load.py`; for Arrow, `xtask/bench/dlt_arrow_load.py`,
//!    reading the Parquet file with pyarrow + `pipeline.run(table)`); the floor's `psql \copy`
//!    process. Peak RSS of the client process comes from `/usr/bin/time -f %M`;
//! 5. extra runs at 5x the flat rows (dlt-rs `insert_values`) and 5x the typed rows (dlt-rs,
//!    Parquet), one round each, for memory scaling;
//! 6. a content check: every method that loaded the same data holds the same content (per
//!    table an order-independent digest of the data columns; children keyed by their parent's
//!    `id`); dlt's csv (also its path for Arrow data) loads empty strings as NULL, so a dlt
//!    csv load that differs only in that passes, with the strict difference in the report;
//! 7. a table of medians and the performance targets, printed and written to
//!    `target/bench/results.md`.
//!
//! Missed targets do not fail the command; failed runs, failed content checks and errors do.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::bench_events;
use crate::bench_gen;
use crate::bench_typed;
use crate::pg;

const DEFAULT_FLAT_ROWS: u64 = 200_000;
const DEFAULT_NESTED_ROWS: u64 = 50_000;
const DEFAULT_TYPED_ROWS: u64 = 1_000_000;
const DEFAULT_ROUNDS: u32 = 3;
/// Every schema this command makes starts with this (and only these are dropped).
const SCHEMA_PREFIX: &str = "xbench_";
const TIME_BIN: &str = "/usr/bin/time";
/// The dlt runner, relative to the workspace root.
const DLT_SCRIPT: &str = "xtask/bench/dlt_load.py";
/// The dlt runner for Arrow data (a Parquet file read with pyarrow), relative to the root.
const DLT_ARROW_SCRIPT: &str = "xtask/bench/dlt_arrow_load.py";
/// The dlt runner of `sql_database` (a PostgreSQL table), relative to the root.
const DLT_SQL_SCRIPT: &str = "xtask/bench/dlt_sql_load.py";
const DEFAULT_SQL_ROWS: u64 = 500_000;
/// The schema of the `sql` data set's source tables.
const SQL_SOURCE_SCHEMA: &str = "xbench_source";
/// The `sql` data set's source table: `{t}` is its qualified name, `{n}` the rows (then
/// `VACUUM ANALYZE`d, as a table that has been there a while).
const SQL_TABLE_DDL: &str = "CREATE TABLE {t} (id bigint PRIMARY KEY, customer text NOT NULL, \
    amount numeric(12,2), score double precision, active boolean, created_at timestamptz, \
    day date, note text); \
    INSERT INTO {t} SELECT g, 'customer ' || (g * 7919 % 100003), \
    CASE WHEN g % 50 = 0 THEN NULL ELSE ((g * 104729) % 2000000000 - 1000000000) / 100.0 END, \
    CASE WHEN g % 10 = 0 THEN NULL ELSE (g * 0.618033988749895) % 1000 - 500 END, \
    CASE WHEN g % 7 = 0 THEN NULL ELSE g % 3 = 0 END, \
    timestamptz '2020-01-01 00:00:00+00' + (g * 7919 % 157680000) * interval '1 second' \
      + (g % 1000000) * interval '1 microsecond', \
    date '2000-01-01' + (g * 31 % 10000)::int, \
    CASE WHEN g % 20 = 0 THEN '' WHEN g % 13 = 0 THEN NULL \
      ELSE 'note \"' || g || '\", with, commas; and ''quotes''' END \
    FROM generate_series(1::bigint, {n}) g";
const SCALE_FACTOR: u64 = 5;

const USAGE: &str = "\
cargo xtask bench [--flat-rows N] [--nested-rows N] [--typed-rows N] [--sql-rows N] [--rounds N]
                  [--only REGEX] [--no-dlt] [--no-scale] [--no-build] [--keep] [--gen-only]

  --flat-rows N    flat rows (default 200000, ~445 bytes each)
  --nested-rows N  nested records (default 50000; ~5 child rows each in 2 child tables)
  --typed-rows N   rows of the typed Parquet file (default 1000000, 11 typed columns)
  --sql-rows N     rows of the PostgreSQL source table (default 500000, 8 typed columns)
  --rounds N       alternating rounds per method (default 3); the table shows medians
  --only REGEX     run the methods whose key matches (grep -E), keys being
                   floor|flat, dlt-rs-insert_values|flat, dlt-rs-csv|flat,
                   dlt-rs-parquet|flat, dlt-rs-merge|flat, dlt-insert_values|flat,
                   dlt-csv|flat, dlt-merge|flat, the same |nested (no merge),
                   floor|typed, dlt-rs|typed, dlt-arrow|typed,
                   floor|events, dlt-rs-insert_values|events, dlt-rs-csv|events,
                   dlt-rs-parquet|events, dlt-insert_values|events,
                   floor|sql, dlt-rs|sql, dlt-rs-insert_values|sql, dlt-arrow|sql,
                   and the scaling runs dlt-rs-insert_values|flat-5x, dlt-rs|typed-5x,
                   dlt-rs|sql-5x
  --no-dlt         skip real dlt (no venv, no pip)
  --no-scale       skip the extra runs at 5x the flat, the typed and the sql rows
  --no-build       use target/release/dlt-rs as it is
  --keep           keep the generated files and the loaded schemas (xbench_*)
  --gen-only       write target/bench/{flat,nested}.jsonl, typed.parquet, events.jsonl and the
                   floor's CSV (not the events', which needs dlt-rs), then stop (the JSONL is
                   byte for byte the harness's `gen.py --seed 42` output)

The events data set is dlt's test page of GitHub events (dlt's
tests/normalize/cases/github.events.load_page_1_duck.json, Apache-2.0), shipped gzip'ed in
xtask/bench/data/ and repeated 20 times.";

#[derive(Debug, Clone)]
struct Options {
    flat_rows: u64,
    nested_rows: u64,
    typed_rows: u64,
    sql_rows: u64,
    rounds: u32,
    only: Option<String>,
    dlt: bool,
    scale: bool,
    build: bool,
    keep: bool,
    gen_only: bool,
}

fn parse(args: &[OsString]) -> Result<Options> {
    let mut o = Options {
        flat_rows: DEFAULT_FLAT_ROWS,
        nested_rows: DEFAULT_NESTED_ROWS,
        typed_rows: DEFAULT_TYPED_ROWS,
        sql_rows: DEFAULT_SQL_ROWS,
        rounds: DEFAULT_ROUNDS,
        only: None,
        dlt: true,
        scale: true,
        build: true,
        keep: false,
        gen_only: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .to_str()
            .ok_or_else(|| anyhow!("argument {arg:?} is not UTF-8"))?;
        match arg {
            "--no-dlt" => o.dlt = false,
            "--no-scale" => o.scale = false,
            "--no-build" => o.build = false,
            "--keep" => o.keep = true,
            "--gen-only" => o.gen_only = true,
            "-h" | "--help" => bail!("usage:\n{USAGE}"),
            _ => {
                let (flag, inline) = match arg.split_once('=') {
                    Some((f, v)) => (f, Some(v.to_string())),
                    None => (arg, None),
                };
                let mut value = || -> Result<String> {
                    match inline.clone() {
                        Some(v) => Ok(v),
                        None => args
                            .next()
                            .and_then(|v| v.to_str())
                            .map(str::to_string)
                            .ok_or_else(|| anyhow!("{flag} needs a value")),
                    }
                };
                let number = |text: String| -> Result<u64> {
                    text.parse()
                        .with_context(|| format!("{flag} needs a number, got {text:?}"))
                };
                match flag {
                    "--flat-rows" => o.flat_rows = number(value()?)?,
                    "--nested-rows" => o.nested_rows = number(value()?)?,
                    "--typed-rows" => o.typed_rows = number(value()?)?,
                    "--sql-rows" => o.sql_rows = number(value()?)?,
                    "--rounds" => {
                        o.rounds = u32::try_from(number(value()?)?).context("--rounds is huge")?
                    }
                    "--only" => o.only = Some(value()?),
                    _ => bail!("unknown bench option {arg:?}\n\nusage:\n{USAGE}"),
                }
            }
        }
    }
    if o.flat_rows == 0
        || o.nested_rows == 0
        || o.typed_rows == 0
        || o.sql_rows == 0
        || o.rounds == 0
    {
        bail!(
            "--flat-rows, --nested-rows, --typed-rows, --sql-rows and --rounds must be at least 1"
        );
    }
    Ok(o)
}

// ------------------------------------------------------------------------------------------
// methods

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Data {
    Flat,
    Nested,
    /// The flat data at [`SCALE_FACTOR`] times the rows (memory scaling run).
    FlatScaled,
    /// The typed Parquet file ([`crate::bench_typed`]).
    Typed,
    /// The typed data at [`SCALE_FACTOR`] times the rows (memory scaling run).
    TypedScaled,
    /// dlt's GitHub events page, repeated ([`crate::bench_events`]).
    Events,
    /// A PostgreSQL table copied into a dataset ([`SQL_TABLE_DDL`]).
    Sql,
    /// The PostgreSQL table at [`SCALE_FACTOR`] times the rows (memory scaling run).
    SqlScaled,
}

impl Data {
    /// The data sets of the alternating rounds (the scaled ones run apart).
    const ROUNDS: [Data; 5] = [
        Data::Flat,
        Data::Nested,
        Data::Typed,
        Data::Events,
        Data::Sql,
    ];

    fn name(self) -> &'static str {
        match self {
            Data::Flat => "flat",
            Data::Nested => "nested",
            Data::FlatScaled => "flat-5x",
            Data::Typed => "typed",
            Data::TypedScaled => "typed-5x",
            Data::Events => "events",
            Data::Sql => "sql",
            Data::SqlScaled => "sql-5x",
        }
    }

    /// The root table every method loads into.
    fn table(self) -> &'static str {
        match self {
            Data::Flat | Data::FlatScaled => "flat",
            Data::Nested => "nested",
            Data::Typed | Data::TypedScaled => "typed",
            Data::Events => "events",
            Data::Sql => "orders",
            Data::SqlScaled => "orders5x",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `dlt-rs load --loader-file-format <format>`.
    Rs(&'static str),
    /// `dlt-rs load` with its default format (Parquet input: `parquet`, binary `COPY`).
    RsDefault,
    /// `dlt-rs load` twice with merge on `id`; the second is timed.
    RsMerge,
    /// `dlt_load.py --format <format>`.
    Dlt(&'static str),
    /// `dlt_load.py --merge` (insert_values), second run timed.
    DltMerge,
    /// `dlt_arrow_load.py`: the Parquet file read with pyarrow, `pipeline.run(table)`.
    DltArrow,
    /// `psql \copy` of the pre-converted CSV into dlt-shaped tables.
    Floor,
}

#[derive(Debug, Clone)]
struct Method {
    kind: Kind,
    data: Data,
}

impl Method {
    fn new(kind: Kind, data: Data) -> Self {
        Self { kind, data }
    }

    /// The key `--only` matches: `<method>|<data>`.
    fn key(&self) -> String {
        let m = match self.kind {
            Kind::Rs(f) => format!("dlt-rs-{f}"),
            Kind::RsDefault => "dlt-rs".into(),
            Kind::RsMerge => "dlt-rs-merge".into(),
            Kind::Dlt(f) => format!("dlt-{f}"),
            Kind::DltMerge => "dlt-merge".into(),
            Kind::DltArrow => "dlt-arrow".into(),
            Kind::Floor => "floor".into(),
        };
        format!("{m}|{}", self.data.name())
    }

    /// The name in the results table.
    fn label(&self) -> String {
        if matches!(self.data, Data::Sql | Data::SqlScaled) {
            return match self.kind {
                Kind::RsDefault => "dlt-rs sql-database (default: columnar, parquet)".into(),
                Kind::Rs(f) => format!("dlt-rs sql-database {f}"),
                Kind::DltArrow => "dlt sql_database(backend=\"pyarrow\")".into(),
                Kind::Floor => "floor: psql pipe (\\copy out → \\copy in)".into(),
                _ => format!("{:?}", self.kind),
            };
        }
        match self.kind {
            Kind::Rs(f) => format!("dlt-rs {f}"),
            Kind::RsDefault => "dlt-rs (default: parquet, binary COPY)".into(),
            Kind::RsMerge => "dlt-rs merge 2nd run (insert_values)".into(),
            Kind::Dlt(f) => format!("dlt {f}"),
            Kind::DltMerge => "dlt merge 2nd run (insert_values)".into(),
            Kind::DltArrow => "dlt arrow (pyarrow table)".into(),
            Kind::Floor => "floor: psql \\copy, dlt's tables".into(),
        }
    }

    fn schema(&self) -> String {
        let m = match self.kind {
            Kind::Rs("insert_values") => "rs_iv".to_string(),
            Kind::Rs(f) => format!("rs_{f}"),
            Kind::RsDefault => "rs".into(),
            Kind::RsMerge => "rs_merge".into(),
            Kind::Dlt("insert_values") => "dlt_iv".into(),
            Kind::Dlt(f) => format!("dlt_{f}"),
            Kind::DltMerge => "dlt_merge".into(),
            Kind::DltArrow => "dlt_arrow".into(),
            Kind::Floor => "floor".into(),
        };
        let d = match self.data {
            Data::Flat => "flat",
            Data::Nested => "nested",
            Data::FlatScaled => "flat5x",
            Data::Typed => "typed",
            Data::TypedScaled => "typed5x",
            Data::Events => "events",
            Data::Sql => "sql",
            Data::SqlScaled => "sql5x",
        };
        format!("{SCHEMA_PREFIX}{m}_{d}")
    }

    fn is_rs(&self) -> bool {
        matches!(self.kind, Kind::Rs(_) | Kind::RsDefault | Kind::RsMerge)
    }

    fn is_dlt(&self) -> bool {
        matches!(self.kind, Kind::Dlt(_) | Kind::DltMerge | Kind::DltArrow)
    }

    /// The dlt run this one is compared with (same format, same data).
    fn dlt_peer(&self) -> Option<Method> {
        match self.kind {
            _ if matches!(
                self.data,
                Data::FlatScaled | Data::TypedScaled | Data::SqlScaled
            ) =>
            {
                None
            }
            Kind::Rs(f) | Kind::Dlt(f) => Some(Method::new(Kind::Dlt(f), self.data)),
            Kind::RsMerge | Kind::DltMerge => Some(Method::new(Kind::DltMerge, self.data)),
            Kind::RsDefault | Kind::DltArrow => Some(Method::new(Kind::DltArrow, self.data)),
            Kind::Floor => None,
        }
    }
}

/// Every method of the alternating rounds, in the order they run.
fn all_methods() -> Vec<Method> {
    use Data::{Events, Flat, Nested, Sql, Typed};
    use Kind::{Dlt, DltArrow, DltMerge, Floor, Rs, RsDefault, RsMerge};
    vec![
        Method::new(Floor, Flat),
        Method::new(Rs("insert_values"), Flat),
        Method::new(Rs("csv"), Flat),
        Method::new(Rs("parquet"), Flat),
        Method::new(RsMerge, Flat),
        Method::new(Dlt("insert_values"), Flat),
        Method::new(Dlt("csv"), Flat),
        Method::new(DltMerge, Flat),
        Method::new(Floor, Nested),
        Method::new(Rs("insert_values"), Nested),
        Method::new(Rs("csv"), Nested),
        Method::new(Rs("parquet"), Nested),
        Method::new(Dlt("insert_values"), Nested),
        Method::new(Dlt("csv"), Nested),
        Method::new(Floor, Typed),
        Method::new(RsDefault, Typed),
        Method::new(DltArrow, Typed),
        Method::new(Floor, Events),
        Method::new(Rs("insert_values"), Events),
        Method::new(Rs("csv"), Events),
        Method::new(Rs("parquet"), Events),
        Method::new(Dlt("insert_values"), Events),
        Method::new(Floor, Sql),
        Method::new(RsDefault, Sql),
        Method::new(Rs("insert_values"), Sql),
        Method::new(DltArrow, Sql),
    ]
}

/// The memory scaling runs (one round each, after the rounds).
fn scale_methods() -> Vec<Method> {
    vec![
        Method::new(Kind::Rs("insert_values"), Data::FlatScaled),
        Method::new(Kind::RsDefault, Data::TypedScaled),
        Method::new(Kind::RsDefault, Data::SqlScaled),
    ]
}

/// The keys `regex` (`grep -E`) matches.
fn matching(regex: &str, keys: &[String]) -> Result<Vec<bool>> {
    let mut child = Command::new("grep")
        .args(["-E", "-n", "--", regex])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not run grep for --only")?;
    {
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("grep has no stdin"))?;
        stdin.write_all(keys.join("\n").as_bytes())?;
        stdin.write_all(b"\n")?;
    }
    let out = child.wait_with_output()?;
    if out.status.code() == Some(2) {
        bail!(
            "--only {regex:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut hits = vec![false; keys.len()];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(n) = line.split(':').next().and_then(|n| n.parse::<usize>().ok()) {
            if let Some(hit) = hits.get_mut(n.wrapping_sub(1)) {
                *hit = true;
            }
        }
    }
    Ok(hits)
}

// ------------------------------------------------------------------------------------------
// the input files

fn input_path(work: &Path, data: Data) -> PathBuf {
    work.join(match data {
        Data::Flat => "flat.jsonl",
        Data::Nested => "nested.jsonl",
        Data::FlatScaled => "flat5x.jsonl",
        Data::Typed => "typed.parquet",
        Data::TypedScaled => "typed5x.parquet",
        Data::Events => "events.jsonl",
        // not files: tables of the source schema
        Data::Sql | Data::SqlScaled => "-",
    })
}

fn floor_csv_path(work: &Path, name: &str) -> PathBuf {
    work.join(format!("floor-{name}.csv"))
}

/// The folder of the events floor's CSV files (dlt-rs's csv job files).
fn events_floor_dir(work: &Path) -> PathBuf {
    work.join("floor-events")
}

/// What [`generate`] writes: per data set, (the input, the floor's CSV too).
#[derive(Debug, Clone, Copy, Default)]
struct Wanted {
    flat: (bool, bool),
    nested: (bool, bool),
    typed: (bool, bool),
    events: bool,
}

/// Writes the input files `want` names; returns the number of events written, if any.
fn generate(root: &Path, work: &Path, o: &Options, want: Wanted) -> Result<Option<u64>> {
    let started = Instant::now();
    let (flat, flat_floor) = want.flat;
    let (nested, nested_floor) = want.nested;
    let (typed, typed_floor) = want.typed;
    if flat {
        let csv = floor_csv_path(work, "flat");
        let w = bench_gen::write_flat(
            &input_path(work, Data::Flat),
            flat_floor.then_some(csv.as_path()),
            o.flat_rows,
            bench_gen::SEED,
        )?;
        eprintln!(
            "bench: wrote {} flat rows ({:.1} MB)",
            w.rows,
            w.bytes as f64 / 1e6
        );
    }
    if nested {
        let (root_csv, commits, labels) = (
            floor_csv_path(work, "nested"),
            floor_csv_path(work, "nested-commits"),
            floor_csv_path(work, "nested-labels"),
        );
        let csv = bench_gen::NestedCsv {
            root: &root_csv,
            commits: &commits,
            labels: &labels,
        };
        let w = bench_gen::write_nested(
            &input_path(work, Data::Nested),
            nested_floor.then_some(&csv),
            o.nested_rows,
            bench_gen::SEED,
        )?;
        eprintln!(
            "bench: wrote {} nested records ({:.1} MB)",
            w.rows,
            w.bytes as f64 / 1e6
        );
    }
    if typed {
        let csv = floor_csv_path(work, "typed");
        let w = bench_typed::write_typed(
            &input_path(work, Data::Typed),
            typed_floor.then_some(csv.as_path()),
            o.typed_rows,
            bench_typed::TYPED_SEED,
        )?;
        eprintln!(
            "bench: wrote {} typed rows ({:.1} MB of Parquet{})",
            w.rows,
            w.bytes as f64 / 1e6,
            if typed_floor {
                format!(
                    ", {:.1} MB of CSV",
                    std::fs::metadata(&csv).map_or(0, |m| m.len()) as f64 / 1e6
                )
            } else {
                String::new()
            }
        );
    }
    let mut events_rows = None;
    if want.events {
        let w = bench_events::write_events(
            &bench_events::source_path(root),
            &input_path(work, Data::Events),
        )?;
        eprintln!(
            "bench: wrote {} events ({:.1} MB; dlt's page of GitHub events {} times)",
            w.rows,
            w.bytes as f64 / 1e6,
            bench_events::REPEAT
        );
        events_rows = Some(w.rows);
    }
    eprintln!(
        "bench: data generated in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(events_rows)
}

// ------------------------------------------------------------------------------------------
// the environment of a run

struct Env {
    root: PathBuf,
    work: PathBuf,
    logs: PathBuf,
    url: String,
    psql: PathBuf,
    dlt_rs: PathBuf,
    /// The venv's python, when real dlt is available.
    dlt_python: Option<PathBuf>,
    time_bin: Option<PathBuf>,
    checkpoint_warned: std::cell::Cell<bool>,
    /// The events floor's tables and CSV files, once prepared ([`prepare_events_floor`]).
    events_floor: Option<EventsFloor>,
}

impl Env {
    fn sql(&self, sql: &str) -> Result<String> {
        pg::psql(&self.psql, &self.url, sql)
    }

    fn input(&self, data: Data) -> PathBuf {
        input_path(&self.work, data)
    }

    fn floor_csv(&self, name: &str) -> PathBuf {
        floor_csv_path(&self.work, name)
    }

    fn pipelines(&self, schema: &str) -> PathBuf {
        self.work.join("pipelines").join(schema)
    }

    fn drop_schema(&self, schema: &str) -> Result<()> {
        self.sql(&format!(
            "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {} CASCADE; \
             DROP SCHEMA IF EXISTS {} CASCADE",
            ident(schema),
            ident(&format!("{schema}_staging"))
        ))
        .map(drop)
    }

    /// `CHECKPOINT` (best effort: it needs superuser or `pg_checkpoint`) and `sync`.
    fn checkpoint(&self) {
        if let Err(e) = self.sql("CHECKPOINT") {
            if !self.checkpoint_warned.replace(true) {
                eprintln!("bench: note: CHECKPOINT failed, runs are not flushed between ({e:#})");
            }
        }
        let _ = Command::new("sync").status();
    }

    /// Makes `schema` cold: dropped with its staging schema, its pipelines folder removed.
    fn cold(&self, schema: &str) -> Result<()> {
        self.drop_schema(schema)?;
        let dir = self.pipelines(schema);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("could not delete {}", dir.display()))?;
        }
        Ok(())
    }
}

/// A child process's outcome.
struct Measured {
    wall: Duration,
    rss_kb: Option<u64>,
    ok: bool,
    status: String,
    /// Its stdout and stderr (also in the log file).
    output: String,
}

/// Runs `cmd` (stdout and stderr to `log`) under `/usr/bin/time -f %M` when there is one.
fn measure(env: &Env, cmd: &Command, log: &Path) -> Result<Measured> {
    let rss_file = log.with_extension("rss");
    let _ = std::fs::remove_file(&rss_file);
    let mut run = match &env.time_bin {
        Some(time) => {
            let mut c = Command::new(time);
            c.args(["-f", "%M", "-o"])
                .arg(&rss_file)
                .arg(cmd.get_program())
                .args(cmd.get_args());
            c
        }
        None => {
            let mut c = Command::new(cmd.get_program());
            c.args(cmd.get_args());
            c
        }
    };
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => run.env(k, v),
            None => run.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        run.current_dir(dir);
    }
    let out = File::create(log).with_context(|| format!("could not create {}", log.display()))?;
    let err = out.try_clone()?;
    writeln!(&out, "$ {}", crate::show(cmd))?;
    run.stdin(Stdio::null()).stdout(out).stderr(err);
    let started = Instant::now();
    let status = run
        .status()
        .with_context(|| format!("could not run {}", crate::show(cmd)))?;
    let wall = started.elapsed();
    let rss_kb = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|t| t.lines().rev().find_map(|l| l.trim().parse::<u64>().ok()));
    let output = std::fs::read_to_string(log).unwrap_or_default();
    Ok(Measured {
        wall,
        rss_kb,
        ok: status.success(),
        status: status.to_string(),
        output,
    })
}

/// The last few non-empty lines of a run's output, for messages.
fn tail(output: &str, n: usize) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n    | ")
}

/// The lines of a failed run's output that say why (errors, exceptions), else its tail.
fn why_failed(output: &str) -> String {
    let errors: Vec<&str> = output
        .lines()
        .filter(|l| {
            let l = l.to_lowercase();
            (l.contains("error") || l.contains("exception") || l.contains("failed"))
                && !l.starts_with("warning")
        })
        .collect();
    if errors.is_empty() {
        tail(output, 6)
    } else {
        errors[errors.len().saturating_sub(3)..].join("\n    | ")
    }
}

// ------------------------------------------------------------------------------------------
// one run of one method

/// One run's result.
#[derive(Debug, Clone)]
struct Sample {
    seconds: f64,
    rss_kb: Option<u64>,
    ok: bool,
    note: String,
}

fn rs_load(env: &Env, m: &Method, schema: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(&env.dlt_rs);
    cmd.arg("load")
        .arg(env.input(m.data))
        .args(["--destination", "postgres", "--credentials", &env.url])
        .args(["--pipeline", schema])
        .arg("--pipelines-dir")
        .arg(env.pipelines(schema))
        .args(["--dataset", schema, "--table", m.data.table()])
        .args(extra)
        .current_dir(&env.work);
    cmd
}

fn run_once(env: &Env, m: &Method, round: u32) -> Result<Sample> {
    let schema = m.schema();
    env.cold(&schema)?;
    let log = env.logs.join(format!(
        "r{round}-{}.log",
        m.key().replace('|', "-").replace('_', "")
    ));
    if matches!(m.data, Data::Sql | Data::SqlScaled) {
        return run_sql_once(env, m, &schema, &log);
    }
    match m.kind {
        Kind::Rs(_) | Kind::RsDefault => {
            let flags = match m.kind {
                Kind::Rs(format) => vec!["--loader-file-format", format],
                _ => Vec::new(),
            };
            let cmd = rs_load(env, m, &schema, &flags);
            env.checkpoint();
            let r = measure(env, &cmd, &log)?;
            Ok(sample_from(&r, r.wall.as_secs_f64(), &log))
        }
        Kind::RsMerge => {
            let flags = [
                "--loader-file-format",
                "insert_values",
                "--write-disposition",
                "merge",
                "--primary-key",
                "id",
            ];
            let cmd = rs_load(env, m, &schema, &flags);
            env.checkpoint();
            // The first load is not timed; like the harness, the second follows it directly.
            let first = measure(env, &cmd, &log.with_extension("first.log"))?;
            if !first.ok {
                return Ok(sample_from(&first, 0.0, &log.with_extension("first.log")));
            }
            let r = measure(env, &cmd, &log)?;
            Ok(sample_from(&r, r.wall.as_secs_f64(), &log))
        }
        Kind::Dlt(_) | Kind::DltMerge | Kind::DltArrow => {
            let python = env
                .dlt_python
                .as_ref()
                .ok_or_else(|| anyhow!("internal: dlt is not set up"))?;
            let script = if m.kind == Kind::DltArrow {
                DLT_ARROW_SCRIPT
            } else {
                DLT_SCRIPT
            };
            let mut cmd = Command::new(python);
            cmd.arg(env.root.join(script))
                .arg(env.input(m.data))
                .arg(&schema)
                .args(["--dsn", &with_password(&env.url)])
                .arg("--pipelines-dir")
                .arg(env.pipelines(&schema))
                .args(["--table", m.data.table()])
                .env("DLT_DATA_DIR", env.work.join("dlt-home"))
                .env("RUNTIME__DLTHUB_TELEMETRY", "false")
                .current_dir(&env.work);
            match m.kind {
                Kind::Dlt(format) => {
                    cmd.args(["--format", format]);
                }
                Kind::DltMerge => {
                    cmd.args(["--format", "insert_values", "--merge"]);
                }
                _ => {}
            }
            env.checkpoint();
            let r = measure(env, &cmd, &log)?;
            let seconds = result_seconds(&r.output);
            match seconds {
                Some(s) if r.ok => Ok(sample_from(&r, s, &log)),
                _ => {
                    let mut s = sample_from(&r, 0.0, &log);
                    s.ok = false;
                    if s.note.is_empty() {
                        s.note = format!("no RESULT line; see {}", log.display());
                    }
                    Ok(s)
                }
            }
        }
        Kind::Floor => {
            let (ddl, copies) = floor_sql(env, m.data, &schema)?;
            env.sql(&format!(
                "SET client_min_messages = warning; CREATE SCHEMA {}; {ddl}",
                ident(&schema)
            ))?;
            let mut cmd = Command::new(&env.psql);
            cmd.arg(&env.url)
                .args(["-X", "-q", "-w", "-v", "ON_ERROR_STOP=1"])
                .current_dir(&env.work);
            for copy in &copies {
                cmd.arg("-c").arg(copy);
            }
            env.checkpoint();
            let r = measure(env, &cmd, &log)?;
            Ok(sample_from(&r, r.wall.as_secs_f64(), &log))
        }
    }
}

fn sample_from(r: &Measured, seconds: f64, log: &Path) -> Sample {
    Sample {
        seconds,
        rss_kb: r.rss_kb,
        ok: r.ok,
        note: if r.ok {
            String::new()
        } else {
            format!(
                "{} (log {}):\n    | {}",
                r.status,
                log.display(),
                why_failed(&r.output)
            )
        },
    }
}

/// The `sql` data set's source table of `data`, qualified and quoted.
fn sql_source_table(data: Data) -> String {
    format!("{}.{}", ident(SQL_SOURCE_SCHEMA), ident(data.table()))
}

/// Makes the source table of `data` with `rows` rows (untimed; the server generates them).
fn make_sql_source(env: &Env, data: Data, rows: u64) -> Result<()> {
    let started = Instant::now();
    let table = sql_source_table(data);
    env.sql(&format!(
        "SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS {}; \
         DROP TABLE IF EXISTS {table}; {}",
        ident(SQL_SOURCE_SCHEMA),
        SQL_TABLE_DDL
            .replace("{t}", &table)
            .replace("{n}", &rows.to_string())
    ))?;
    env.sql(&format!("VACUUM ANALYZE {table}"))?;
    let size = env.sql(&format!(
        "SELECT pg_size_pretty(pg_total_relation_size({}))",
        literal(&format!("{SQL_SOURCE_SCHEMA}.{}", data.table()))
    ))?;
    eprintln!(
        "bench: made {table} ({rows} rows, {}) in {:.1} s",
        size.trim(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One run of a method of the `sql` data set: copy the source table into `schema`.
fn run_sql_once(env: &Env, m: &Method, schema: &str, log: &Path) -> Result<Sample> {
    let source = sql_source_table(m.data);
    match m.kind {
        Kind::Rs(_) | Kind::RsDefault => {
            let mut cmd = Command::new(&env.dlt_rs);
            cmd.arg("sql-database")
                .arg(&env.url)
                .arg(m.data.table())
                .args(["--schema", SQL_SOURCE_SCHEMA])
                .args(["--destination", "postgres", "--credentials", &env.url])
                .args(["--pipeline", schema])
                .arg("--pipelines-dir")
                .arg(env.pipelines(schema))
                .args(["--dataset", schema])
                .current_dir(&env.work);
            if let Kind::Rs(format) = m.kind {
                cmd.args(["--loader-file-format", format]);
            }
            env.checkpoint();
            let r = measure(env, &cmd, log)?;
            Ok(sample_from(&r, r.wall.as_secs_f64(), log))
        }
        Kind::DltArrow => {
            let python = env
                .dlt_python
                .as_ref()
                .ok_or_else(|| anyhow!("internal: dlt is not set up"))?;
            let mut cmd = Command::new(python);
            cmd.arg(env.root.join(DLT_SQL_SCRIPT))
                .args([SQL_SOURCE_SCHEMA, m.data.table(), schema])
                .args(["--dsn", &with_password(&env.url)])
                .arg("--pipelines-dir")
                .arg(env.pipelines(schema))
                .args(["--backend", "pyarrow"])
                .env("DLT_DATA_DIR", env.work.join("dlt-home"))
                .env("RUNTIME__DLTHUB_TELEMETRY", "false")
                .current_dir(&env.work);
            env.checkpoint();
            let r = measure(env, &cmd, log)?;
            match result_seconds(&r.output) {
                Some(s) if r.ok => Ok(sample_from(&r, s, log)),
                _ => {
                    let mut s = sample_from(&r, 0.0, log);
                    s.ok = false;
                    if s.note.is_empty() {
                        s.note = format!("no RESULT line; see {}", log.display());
                    }
                    Ok(s)
                }
            }
        }
        Kind::Floor => {
            let target = format!("{}.{}", ident(schema), ident(m.data.table()));
            env.sql(&format!(
                "SET client_min_messages = warning; CREATE SCHEMA {}; \
                 CREATE TABLE {target} (LIKE {source})",
                ident(schema)
            ))?;
            let psql = env
                .psql
                .to_str()
                .ok_or_else(|| anyhow!("{} is not UTF-8", env.psql.display()))?;
            let quote = |t: &str| format!("'{}'", t.replace('\'', "'\\''"));
            let pipe = format!(
                "set -o pipefail; {psql} {url} -X -q -w -v ON_ERROR_STOP=1 -c {out} | \
                 {psql} {url} -X -q -w -v ON_ERROR_STOP=1 -c {inn}",
                psql = quote(psql),
                url = quote(&env.url),
                out = quote(&format!("\\copy (SELECT * FROM {source}) TO STDOUT")),
                inn = quote(&format!("\\copy {target} FROM STDIN")),
            );
            let mut cmd = Command::new("bash");
            cmd.arg("-c").arg(pipe).current_dir(&env.work);
            env.checkpoint();
            let r = measure(env, &cmd, log)?;
            Ok(sample_from(&r, r.wall.as_secs_f64(), log))
        }
        _ => bail!("internal: {} has no sql run", m.label()),
    }
}

/// `seconds=` of the last `RESULT` line.
fn result_seconds(output: &str) -> Option<f64> {
    output
        .lines()
        .rev()
        .find(|l| l.starts_with("RESULT "))?
        .split_whitespace()
        .find_map(|t| t.strip_prefix("seconds="))?
        .parse()
        .ok()
}

const FLAT_DDL: &str = "id bigint, uuid varchar, name varchar, amount double precision, \
    qty bigint, active boolean, created_at timestamp with time zone, day varchar, \
    score double precision, tags_count bigint, note varchar, category varchar";
const DLT_COLS: &str = "_dlt_load_id varchar NOT NULL, _dlt_id varchar NOT NULL UNIQUE";

/// The floor's tables (as dlt makes them) and its `\copy` commands.
fn floor_sql(env: &Env, data: Data, schema: &str) -> Result<(String, Vec<String>)> {
    let s = ident(schema);
    let file = |name: &str| -> Result<String> {
        let path = env.floor_csv(name);
        let text = path
            .to_str()
            .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
        if text.contains('\'') {
            bail!("{text} contains a quote");
        }
        Ok(format!("'{text}'"))
    };
    match data {
        Data::Flat => Ok((
            format!("CREATE TABLE {s}.flat ({FLAT_DDL}, {DLT_COLS});"),
            vec![format!(
                "\\copy {s}.flat FROM {} WITH (FORMAT csv)",
                file("flat")?
            )],
        )),
        Data::Nested => Ok((
            format!(
                "CREATE TABLE {s}.nested (id bigint, type varchar, actor__id bigint, \
                 actor__login varchar, actor__url varchar, repo__id bigint, repo__name varchar, \
                 payload__action varchar, public boolean, created_at timestamp with time zone, \
                 {DLT_COLS}); \
                 CREATE TABLE {s}.nested__payload__commits (sha varchar, author__name varchar, \
                 author__email varchar, message varchar, \"distinct\" boolean, \
                 _dlt_parent_id varchar NOT NULL, _dlt_list_idx bigint NOT NULL, \
                 _dlt_id varchar NOT NULL UNIQUE); \
                 CREATE TABLE {s}.nested__labels (value varchar, _dlt_parent_id varchar NOT NULL, \
                 _dlt_list_idx bigint NOT NULL, _dlt_id varchar NOT NULL UNIQUE);"
            ),
            vec![
                format!(
                    "\\copy {s}.nested FROM {} WITH (FORMAT csv)",
                    file("nested")?
                ),
                format!(
                    "\\copy {s}.nested__payload__commits FROM {} WITH (FORMAT csv)",
                    file("nested-commits")?
                ),
                format!(
                    "\\copy {s}.nested__labels FROM {} WITH (FORMAT csv)",
                    file("nested-labels")?
                ),
            ],
        )),
        Data::Typed => Ok((
            format!("CREATE TABLE {s}.typed ({TYPED_DDL});"),
            vec![format!(
                "\\copy {s}.typed ({}) FROM {} WITH (FORMAT csv)",
                bench_typed::COLUMNS,
                file("typed")?
            )],
        )),
        Data::Events => {
            let floor = env
                .events_floor
                .as_ref()
                .ok_or_else(|| anyhow!("internal: the events floor is not prepared"))?;
            let ddl = floor
                .tables
                .iter()
                .map(|(table, defs)| format!("CREATE TABLE {s}.{} ({defs});", ident(table)))
                .collect::<Vec<_>>()
                .join(" ");
            let mut copies = Vec::new();
            for (table, columns, path) in &floor.copies {
                let text = path
                    .to_str()
                    .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
                if text.contains('\'') {
                    bail!("{text} contains a quote");
                }
                // as dlt-rs's csv loader does (crates/dest-postgres/src/csv.rs)
                copies.push(format!(
                    "\\copy {s}.{} ({columns}) FROM '{text}' \
                     WITH (FORMAT csv, HEADER true, NULL '')",
                    ident(table)
                ));
            }
            Ok((ddl, copies))
        }
        Data::FlatScaled | Data::TypedScaled | Data::SqlScaled => {
            bail!("internal: no floor for a scaling run")
        }
        Data::Sql => bail!("internal: the sql floor is a pipe (run_sql_once)"),
    }
}

/// The `typed` table as dlt-rs creates it for `typed.parquet` (dlt's Arrow type mapping:
/// found by loading the file with dlt-rs and reading `information_schema.columns`).
const TYPED_DDL: &str = "id bigint NOT NULL, small smallint, medium integer, big bigint, \
    price numeric(12,2), score double precision, flag boolean, name character varying, \
    created timestamp with time zone, local_ts timestamp with time zone, day date";

/// The events floor: dlt-rs's tables for the events and its csv job files.
#[derive(Debug, Clone)]
struct EventsFloor {
    /// (table, its column definitions and constraints), root first.
    tables: Vec<(String, String)>,
    /// (table, the file's column list, the file), root first.
    copies: Vec<(String, String, PathBuf)>,
}

/// Loads the events once with dlt-rs (csv, job files kept; untimed) and keeps what the floor
/// needs: the CSV job files (copied to `target/bench/floor-events/`, fsync'ed) and the DDL of
/// the data tables (column types, `NOT NULL`, unique and primary key constraints).
fn prepare_events_floor(env: &Env) -> Result<EventsFloor> {
    let started = Instant::now();
    let schema = format!("{SCHEMA_PREFIX}floorprep_events");
    env.cold(&schema)?;
    let m = Method::new(Kind::Rs("csv"), Data::Events);
    let mut cmd = rs_load(env, &m, &schema, &["--loader-file-format", "csv"]);
    cmd.env("LOAD__DELETE_COMPLETED_JOBS", "false");
    let log = env.logs.join("floor-events-prepare.log");
    let r = measure(env, &cmd, &log)?;
    if !r.ok {
        bail!(
            "dlt-rs could not load the events as csv ({}, log {}):\n    | {}",
            r.status,
            log.display(),
            why_failed(&r.output)
        );
    }
    // the csv job files
    let mut found = Vec::new();
    completed_csv_files(&env.pipelines(&schema), &mut found)?;
    if found.is_empty() {
        bail!(
            "no csv job files under {} after loading the events with \
             LOAD__DELETE_COMPLETED_JOBS=false (log {})",
            env.pipelines(&schema).display(),
            log.display()
        );
    }
    let dir = events_floor_dir(&env.work);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("could not delete {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut copies = Vec::new();
    for file in &found {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("odd job file name {}", file.display()))?;
        // `<table>.<file id>.<retry>.csv`
        let table = name
            .rsplitn(4, '.')
            .nth(3)
            .ok_or_else(|| anyhow!("odd job file name {name}"))?
            .to_string();
        if table.starts_with("_dlt_") {
            // dlt's own tables (the pipeline state) are not data
            continue;
        }
        let target = dir.join(name);
        std::fs::copy(file, &target).with_context(|| {
            format!("could not copy {} to {}", file.display(), target.display())
        })?;
        File::open(&target)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("could not sync {}", target.display()))?;
        copies.push((table, csv_header(&target)?, target));
    }
    copies.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    // the tables
    let columns = env.sql(&format!(
        "SELECT c.relname, string_agg(quote_ident(a.attname) || ' ' || \
         format_type(a.atttypid, a.atttypmod) || \
         CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END, ', ' ORDER BY a.attnum) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid \
         WHERE n.nspname = {} AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped \
         AND c.relname NOT LIKE '\\_dlt\\_%' GROUP BY c.relname ORDER BY c.relname",
        literal(&schema)
    ))?;
    let constraints = env.sql(&format!(
        "SELECT c.relname, pg_get_constraintdef(k.oid) FROM pg_constraint k \
         JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = {} AND k.contype IN ('p', 'u') ORDER BY 1, 2",
        literal(&schema)
    ))?;
    let mut tables: Vec<(String, String)> = Vec::new();
    let mut root_columns = 0;
    for line in columns.lines().filter(|l| !l.is_empty()) {
        let (t, defs) = line
            .split_once('|')
            .ok_or_else(|| anyhow!("unexpected psql line {line:?}"))?;
        if t == Data::Events.table() {
            root_columns = defs.split(", ").count();
        }
        let mut defs = defs.to_string();
        for c in constraints.lines() {
            if let Some(def) = c.strip_prefix(t).and_then(|r| r.strip_prefix('|')) {
                defs.push_str(", ");
                defs.push_str(def);
            }
        }
        tables.push((t.to_string(), defs));
    }
    for (table, _) in &tables {
        if !copies.iter().any(|(t, _, _)| t == table) {
            bail!("dlt-rs made no csv job file for table {table}");
        }
    }
    for (table, _, file) in &copies {
        if !tables.iter().any(|(t, _)| t == table) {
            bail!(
                "job file {} is for table {table}, which dlt-rs did not create",
                file.display()
            );
        }
    }
    env.cold(&schema)?;
    eprintln!(
        "bench: events floor prepared in {:.1} s: {} tables (root: {root_columns} columns), {} csv \
         job files in {}",
        started.elapsed().as_secs_f64(),
        tables.len(),
        copies.len(),
        dir.display()
    );
    Ok(EventsFloor { tables, copies })
}

/// The job files in every `completed_jobs` folder under `dir` that end in `.csv`.
fn completed_csv_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            completed_csv_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "csv")
            && dir.file_name().is_some_and(|n| n == "completed_jobs")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The first line of a csv job file: its quoted column names, a column list as it is.
fn csv_header(path: &Path) -> Result<String> {
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::BufReader::new(
        File::open(path).with_context(|| format!("could not open {}", path.display()))?,
    )
    .read_line(&mut line)
    .with_context(|| format!("could not read {}", path.display()))?;
    let header = line.trim_end_matches(['\n', '\r']);
    if !header.starts_with('"') || !header.ends_with('"') {
        bail!("{}: not a csv job file header: {header:?}", path.display());
    }
    Ok(header.to_string())
}

// ------------------------------------------------------------------------------------------
// content check

/// Per data table: (its data columns, "row-count digest").
type Digest = BTreeMap<String, (String, String)>;

/// The [`Digest`] of every data table of `schema`; `empty_as_null`: an empty string in a text
/// column counts as NULL (dlt's csv loads `""` as NULL).
fn digest(env: &Env, schema: &str, empty_as_null: bool) -> Result<Digest> {
    let cols = env.sql(&format!(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c \
         JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.table_schema = {} AND t.table_type = 'BASE TABLE' \
         AND c.table_name NOT LIKE '\\_dlt\\_%' ORDER BY 1, 2",
        literal(schema)
    ))?;
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut texts = std::collections::BTreeSet::new();
    for line in cols.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.splitn(3, '|');
        let (Some(t), Some(c), Some(ty)) = (fields.next(), fields.next(), fields.next()) else {
            bail!("unexpected psql line {line:?}");
        };
        tables.entry(t.to_string()).or_default().push(c.to_string());
        if matches!(ty, "character varying" | "text") {
            texts.insert((t.to_string(), c.to_string()));
        }
    }
    let skip = ["_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id"];
    let mut parts = Vec::new();
    let mut columns = BTreeMap::new();
    for (table, cols) in &tables {
        let data: Vec<&String> = cols
            .iter()
            .filter(|c| !skip.contains(&c.as_str()))
            .collect();
        // The parent: the longest `__`-prefix that is a table of the schema.
        let pieces: Vec<&str> = table.split("__").collect();
        let parent = (1..pieces.len())
            .rev()
            .map(|n| pieces[..n].join("__"))
            .find(|p| tables.contains_key(p));
        let mut exprs: Vec<String> = data
            .iter()
            .map(|c| {
                if empty_as_null && texts.contains(&(table.clone(), c.to_string())) {
                    format!("NULLIF(t.{}, '')", ident(c))
                } else {
                    format!("t.{}", ident(c))
                }
            })
            .collect();
        let mut from = format!("{}.{} t", ident(schema), ident(table));
        let mut shown: Vec<String> = data.iter().map(|c| c.to_string()).collect();
        if let Some(parent) = parent {
            if tables[&parent].iter().any(|c| c == "id") {
                exprs.insert(0, "p.id".into());
                shown.insert(0, format!("{parent}.id"));
            }
            let _ = write!(
                from,
                " JOIN {}.{} p ON t._dlt_parent_id = p._dlt_id",
                ident(schema),
                ident(&parent)
            );
        }
        columns.insert(table.clone(), shown.join(","));
        parts.push(format!(
            "SELECT {}, count(*) || ' ' || coalesce(md5(string_agg(h, '' ORDER BY h)), '-') \
             FROM (SELECT md5(row({})::text) h FROM {from}) x",
            literal(table),
            exprs.join(", ")
        ));
    }
    let mut out = BTreeMap::new();
    if parts.is_empty() {
        return Ok(out);
    }
    for line in env.sql(&parts.join(" UNION ALL "))?.lines() {
        if let Some((t, d)) = line.split_once('|') {
            let cols = columns.get(t).cloned().unwrap_or_default();
            out.insert(t.to_string(), (cols, d.to_string()));
        }
    }
    Ok(out)
}

struct Check {
    method: Method,
    verdict: String,
    pass: Option<bool>,
}

/// Compares every method's last load with the reference of its data (the floor, else the
/// first method that has a good last run).
fn content_checks(env: &Env, methods: &[Method], last_ok: &[bool]) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for data in Data::ROUNDS {
        // (label, digest, schema)
        let mut reference: Option<(String, Digest, String)> = None;
        for (i, m) in methods.iter().enumerate() {
            if m.data != data {
                continue;
            }
            if !last_ok[i] {
                checks.push(Check {
                    method: m.clone(),
                    verdict: "not checked: its last run failed".into(),
                    pass: None,
                });
                continue;
            }
            let d = digest(env, &m.schema(), false)?;
            let Some((ref_label, ref_digest, ref_schema)) = &reference else {
                let summary = d
                    .iter()
                    .map(|(t, (_, dg))| format!("{t} {dg}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                checks.push(Check {
                    method: m.clone(),
                    verdict: format!("reference: {summary}"),
                    pass: Some(true),
                });
                reference = Some((m.label(), d, m.schema()));
                continue;
            };
            let problems = digest_differences(ref_digest, &d);
            if problems.is_empty() {
                checks.push(Check {
                    method: m.clone(),
                    pass: Some(true),
                    verdict: format!("same content as {ref_label}"),
                });
                continue;
            }
            // dlt's csv (which dlt also uses for Arrow data) loads empty strings as NULL
            // (`FORCE_NULL`): a known difference of dlt's, not a failure of this benchmark
            let dlt_csv = matches!(m.kind, Kind::Dlt("csv") | Kind::DltArrow);
            if dlt_csv
                && digest_differences(
                    &digest(env, ref_schema, true)?,
                    &digest(env, &m.schema(), true)?,
                )
                .is_empty()
            {
                checks.push(Check {
                    method: m.clone(),
                    pass: Some(true),
                    verdict: format!(
                        "same content as {ref_label} once empty strings count as NULL (dlt's \
                         csv loads \"\" as NULL); strictly: {}",
                        problems.join("; ")
                    ),
                });
                continue;
            }
            checks.push(Check {
                method: m.clone(),
                pass: Some(false),
                verdict: format!("differs from {ref_label}: {}", problems.join("; ")),
            });
        }
    }
    Ok(checks)
}

/// What differs between the digests of a reference and of another load.
fn digest_differences(reference: &Digest, other: &Digest) -> Vec<String> {
    let mut problems = Vec::new();
    for (t, (cols, dg)) in reference {
        match other.get(t) {
            None => problems.push(format!("no table {t}")),
            Some((c, _)) if c != cols => problems.push(format!("{t}: columns {c} vs {cols}")),
            Some((_, g)) if g != dg => problems.push(format!("{t}: {g} vs {dg}")),
            Some(_) => {}
        }
    }
    for t in other.keys().filter(|t| !reference.contains_key(*t)) {
        problems.push(format!("extra table {t}"));
    }
    problems
}

// ------------------------------------------------------------------------------------------
// set-up

/// What real dlt's runners import.
const DLT_IMPORTS: &str = "import dlt, psycopg2, orjson, pyarrow, sqlalchemy";

/// The venv's python with dlt (and pyarrow, for the Arrow runner; SQLAlchemy below 2.1, as
/// dlt 1.31's `sql_database` needs, for the sql runner) importable, creating the
/// venv or installing what is missing when needed; `Err` says why not.
fn setup_dlt(root: &Path, work: &Path) -> std::result::Result<PathBuf, String> {
    let venv = work.join("dltvenv");
    let python = venv.join("bin").join("python");
    let works = |python: &Path| {
        Command::new(python)
            .args(["-c", DLT_IMPORTS])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && works(&python) {
        return Ok(python);
    }
    for script in [DLT_SCRIPT, DLT_ARROW_SCRIPT, DLT_SQL_SCRIPT] {
        if !root.join(script).exists() {
            return Err(format!("{script} is missing"));
        }
    }
    if !python.exists() {
        eprintln!(
            "bench: setting up real dlt: python3 -m venv {}",
            venv.display()
        );
        let out = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .output()
            .map_err(|e| format!("could not run python3: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "python3 -m venv failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    eprintln!(
        "bench: setting up real dlt: {}/bin/pip install 'dlt[postgres]==1.31.0' pyarrow \
         'sqlalchemy<2.1'",
        venv.display()
    );
    let out = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "-q",
            "--disable-pip-version-check",
            "dlt[postgres]==1.31.0",
            "pyarrow",
            "sqlalchemy<2.1",
        ])
        .output()
        .map_err(|e| format!("could not run pip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install 'dlt[postgres]==1.31.0' pyarrow 'sqlalchemy<2.1' failed: {}",
            tail(&String::from_utf8_lossy(&out.stderr), 5)
        ));
    }
    if works(&python) {
        Ok(python)
    } else {
        Err(format!("dlt was installed but `{DLT_IMPORTS}` fails"))
    }
}

/// Whether `dlt-rs load --loader-file-format <format>` works: `Ok(None)` yes, `Ok(Some(why))`
/// when the binary says the format is not supported.
fn probe_format(env: &Env, format: &str) -> Result<Option<String>> {
    let input = env.work.join("probe.jsonl");
    std::fs::write(
        &input,
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n",
    )?;
    probe(env, &input, &["--loader-file-format", format], format)
}

/// Whether `dlt-rs load FILE.parquet` works (a small typed file): as [`probe_format`].
fn probe_parquet_input(env: &Env) -> Result<Option<String>> {
    let input = env.work.join("probe.parquet");
    bench_typed::write_typed(&input, None, 20, bench_typed::TYPED_SEED)?;
    probe(env, &input, &[], "Parquet input")
}

fn probe(env: &Env, input: &Path, flags: &[&str], what: &str) -> Result<Option<String>> {
    let schema = format!("{SCHEMA_PREFIX}probe");
    env.cold(&schema)?;
    let out = Command::new(&env.dlt_rs)
        .arg("load")
        .arg(input)
        .args(["--destination", "postgres", "--credentials", &env.url])
        .args([
            "--pipeline",
            &schema,
            "--dataset",
            &schema,
            "--table",
            "probe",
        ])
        .arg("--pipelines-dir")
        .arg(env.pipelines(&schema))
        .args(flags)
        .current_dir(&env.work)
        .output()
        .context("could not run dlt-rs")?;
    env.cold(&schema)?;
    let _ = std::fs::remove_file(input);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let lower = text.to_lowercase();
    if !out.status.success()
        && (lower.contains("not supported")
            || lower.contains("unknown loader file format")
            || lower.contains("unsupported"))
    {
        return Ok(Some(tail(&text, 2)));
    }
    if !out.status.success() {
        eprintln!(
            "bench: note: the {what} probe failed, its runs will probably fail too:\n    | {}",
            tail(&text, 4)
        );
    }
    Ok(None)
}

/// `/proc/loadavg`'s first three fields (other work on the machine skews the timings).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Date, machine and versions for the report.
fn describe_machine(env: &Env) -> Vec<String> {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1_048_576.0));
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let pg = env
        .sql(
            "SELECT 'PostgreSQL ' || current_setting('server_version') || ', shared_buffers=' \
             || current_setting('shared_buffers') || ', synchronous_commit=' || \
             current_setting('synchronous_commit') || ', max_wal_size=' || \
             current_setting('max_wal_size') || ', fsync=' || current_setting('fsync')",
        )
        .map_or_else(|e| format!("? ({e:#})"), |t| t.trim().to_string());
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    let dlt_rs = command_output(&env.dlt_rs.to_string_lossy(), &["--version"])
        .unwrap_or_else(|| "dlt-rs (version unknown)".into());
    let commit = command_output(
        "git",
        &[
            "-C",
            &env.root.to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    )
    .unwrap_or_else(|| "?".into());
    let mut lines = vec![
        format!("date: {date}"),
        format!("machine: {cpus} CPUs ({model}), {mem} memory"),
        format!("server: {pg}"),
        format!("dlt-rs: {dlt_rs}, release build, git HEAD {commit} (working tree may differ)"),
    ];
    if let Some(python) = &env.dlt_python {
        if let Some(v) = command_output(
            &python.to_string_lossy(),
            &[
                "-c",
                "import sys, dlt, psycopg2, orjson; print('dlt', dlt.__version__, '| python', \
                 sys.version.split()[0], '| psycopg2', psycopg2.__version__.split()[0], \
                 '| orjson', orjson.__version__)",
            ],
        ) {
            lines.push(format!("real dlt: {v}"));
        }
    }
    lines
}

// ------------------------------------------------------------------------------------------
// the report

#[derive(Debug, Clone)]
struct Summary {
    median: f64,
    rows: u64,
    /// Peak RSS over the good runs, in kB.
    rss_kb: Option<u64>,
    ok: usize,
    runs: usize,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn summarize(samples: &[Sample], rows: u64) -> Option<Summary> {
    let good: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
    if good.is_empty() {
        return None;
    }
    let mut secs: Vec<f64> = good.iter().map(|s| s.seconds).collect();
    Some(Summary {
        median: median(&mut secs),
        rows,
        rss_kb: good.iter().filter_map(|s| s.rss_kb).max(),
        ok: good.len(),
        runs: samples.len(),
    })
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("n/a".into(), |kb| format!("{:.0} MB", kb as f64 / 1024.0))
}

fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A markdown table with padded columns (columns after the first two right-aligned).
fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let mut s = String::from("|");
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i < 2 {
                let _ = write!(s, " {c}{} |", " ".repeat(pad));
            } else {
                let _ = write!(s, " {}{c} |", " ".repeat(pad));
            }
        }
        s
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        if i < 2 {
            let _ = write!(out, "{}|", "-".repeat(w + 2));
        } else {
            let _ = write!(out, "{}:|", "-".repeat(w + 1));
        }
    }
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.clone()));
    }
    out.push('\n');
    out
}

struct Target {
    text: String,
    verdict: Option<bool>,
    detail: String,
}

fn targets(summaries: &BTreeMap<String, Summary>) -> Vec<Target> {
    let get = |kind: Kind, data: Data| summaries.get(&Method::new(kind, data).key());
    let mut out = Vec::new();
    let ratio_target = |text: &str, a: Option<&Summary>, b: Option<&Summary>, max: f64| match (a, b)
    {
        (Some(a), Some(b)) => {
            let r = a.median / b.median;
            Target {
                text: text.into(),
                verdict: Some(r <= max),
                detail: format!("{:.2}x ({:.3} s vs {:.3} s)", r, a.median, b.median),
            }
        }
        _ => Target {
            text: text.into(),
            verdict: None,
            detail: "not measured".into(),
        },
    };
    out.push(ratio_target(
        "COPY path: dlt-rs csv flat ≤ 1.25x the floor",
        get(Kind::Rs("csv"), Data::Flat),
        get(Kind::Floor, Data::Flat),
        1.25,
    ));
    out.push(ratio_target(
        "COPY path: dlt-rs csv nested ≤ 1.5x the floor",
        get(Kind::Rs("csv"), Data::Nested),
        get(Kind::Floor, Data::Nested),
        1.5,
    ));
    out.push(ratio_target(
        "parquet format: dlt-rs parquet flat ≤ 1.0x the floor",
        get(Kind::Rs("parquet"), Data::Flat),
        get(Kind::Floor, Data::Flat),
        1.0,
    ));
    out.push(ratio_target(
        "parquet format: dlt-rs parquet nested ≤ 1.2x the floor",
        get(Kind::Rs("parquet"), Data::Nested),
        get(Kind::Floor, Data::Nested),
        1.2,
    ));
    out.push(ratio_target(
        "typed Parquet: dlt-rs ≤ 1.0x the floor (aim 0.8x)",
        get(Kind::RsDefault, Data::Typed),
        get(Kind::Floor, Data::Typed),
        1.0,
    ));
    out.push(ratio_target(
        "events: dlt-rs parquet ≤ 1.0x the floor (aim 0.7x)",
        get(Kind::Rs("parquet"), Data::Events),
        get(Kind::Floor, Data::Events),
        1.0,
    ));
    let speedup =
        |text: &str, rs: Option<&Summary>, dlt: Option<&Summary>, min: f64| match (rs, dlt) {
            (Some(rs), Some(dlt)) => {
                let x = dlt.median / rs.median;
                Target {
                    text: text.into(),
                    verdict: Some(x >= min),
                    detail: format!("{:.1}x ({:.3} s vs dlt {:.3} s)", x, rs.median, dlt.median),
                }
            }
            _ => Target {
                text: text.into(),
                verdict: None,
                detail: "not measured".into(),
            },
        };
    out.push(speedup(
        "dlt-rs insert_values flat ≥ 10x faster than dlt insert_values",
        get(Kind::Rs("insert_values"), Data::Flat),
        get(Kind::Dlt("insert_values"), Data::Flat),
        10.0,
    ));
    out.push(speedup(
        "dlt-rs merge 2nd run ≥ 10x faster than dlt's",
        get(Kind::RsMerge, Data::Flat),
        get(Kind::DltMerge, Data::Flat),
        10.0,
    ));
    out.push(speedup(
        "typed Parquet: dlt-rs ≥ 5x faster than dlt's Arrow path",
        get(Kind::RsDefault, Data::Typed),
        get(Kind::DltArrow, Data::Typed),
        5.0,
    ));
    out.push(speedup(
        "sql-database: dlt-rs ≥ 5x faster than dlt's sql_database(backend=\"pyarrow\")",
        get(Kind::RsDefault, Data::Sql),
        get(Kind::DltArrow, Data::Sql),
        5.0,
    ));
    out.push(ratio_target(
        "sql-database: dlt-rs ≤ 1.5x the psql pipe",
        get(Kind::RsDefault, Data::Sql),
        get(Kind::Floor, Data::Sql),
        1.5,
    ));
    let worst = summaries
        .iter()
        .filter(|(k, _)| k.starts_with("dlt-rs"))
        .filter_map(|(k, s)| s.rss_kb.map(|r| (r, k.clone())))
        .max();
    out.push(match worst {
        Some((kb, key)) => Target {
            text: "dlt-rs peak RSS ≤ 150 MB".into(),
            verdict: Some(kb <= 150 * 1024),
            detail: format!("{} at most ({key})", mb(Some(kb))),
        },
        None => Target {
            text: "dlt-rs peak RSS ≤ 150 MB".into(),
            verdict: None,
            detail: "not measured".into(),
        },
    });
    let typed_rss = [Data::Typed, Data::TypedScaled]
        .iter()
        .filter_map(|d| get(Kind::RsDefault, *d).and_then(|s| s.rss_kb))
        .max();
    out.push(Target {
        text: "typed Parquet: dlt-rs peak RSS ≤ 150 MB".into(),
        verdict: typed_rss.map(|kb| kb <= 150 * 1024),
        detail: typed_rss.map_or("not measured".into(), |kb| {
            format!("{} at most (typed and typed-5x)", mb(Some(kb)))
        }),
    });
    for (kind, data, scaled, what) in [
        (
            Kind::Rs("insert_values"),
            Data::Flat,
            Data::FlatScaled,
            "flat rows (insert_values)",
        ),
        (
            Kind::RsDefault,
            Data::Typed,
            Data::TypedScaled,
            "typed rows (Parquet)",
        ),
        (
            Kind::RsDefault,
            Data::Sql,
            Data::SqlScaled,
            "rows of the PostgreSQL table (sql-database)",
        ),
    ] {
        let text = format!("{SCALE_FACTOR}x the {what} raises dlt-rs peak RSS by < 20%");
        let base = get(kind, data).and_then(|s| s.rss_kb);
        let big = get(kind, scaled).and_then(|s| s.rss_kb);
        out.push(match (base, big) {
            (Some(b), Some(s)) => {
                let growth = s as f64 / b as f64 - 1.0;
                Target {
                    text,
                    verdict: Some(growth < 0.20),
                    detail: format!(
                        "{:+.1}% ({} → {})",
                        growth * 100.0,
                        mb(Some(b)),
                        mb(Some(s))
                    ),
                }
            }
            _ => Target {
                text,
                verdict: None,
                detail: "not measured".into(),
            },
        });
    }
    out
}

fn verdict(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "SKIP",
    }
}

// ------------------------------------------------------------------------------------------
// the command

pub(crate) fn run(root: &Path, args: Vec<OsString>) -> Result<ExitCode> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage:\n{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let o = parse(&args)?;
    let command_line = std::iter::once("cargo xtask bench".to_string())
        .chain(args.iter().map(|a| {
            let a = a.to_string_lossy();
            if a.contains([' ', '|', '\'', '"', '*', '$']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.into_owned()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ");

    let target = crate::target_dir(root);
    let work = target.join("bench");
    let logs = work.join("logs");
    if logs.exists() && !o.gen_only {
        // Only this run's logs, so none of them can be mistaken for this run's.
        std::fs::remove_dir_all(&logs)
            .with_context(|| format!("could not delete {}", logs.display()))?;
    }
    std::fs::create_dir_all(&logs)
        .with_context(|| format!("could not create {}", logs.display()))?;
    if o.gen_only {
        let all = Wanted {
            flat: (true, true),
            nested: (true, true),
            typed: (true, true),
            events: true,
        };
        generate(root, &work, &o, all)?;
        return Ok(ExitCode::SUCCESS);
    }
    let server = pg::ensure(root)?;
    eprintln!("bench: using {}", server.describe());
    let psql = pg::require_psql()?;

    // which methods
    let mut methods = all_methods();
    let mut skipped: Vec<String> = Vec::new();
    if !o.dlt {
        methods.retain(|m| !m.is_dlt());
        skipped.push("real dlt: --no-dlt".into());
    }
    let mut scale = if o.scale {
        scale_methods()
    } else {
        skipped.push("the 5x scaling runs: --no-scale".into());
        Vec::new()
    };
    if let Some(regex) = &o.only {
        let mut keys: Vec<String> = methods.iter().map(Method::key).collect();
        keys.extend(scale.iter().map(Method::key));
        let hits = matching(regex, &keys)?;
        let (method_hits, scale_hits) = hits.split_at(methods.len());
        let mut i = 0;
        methods.retain(|_| {
            i += 1;
            method_hits[i - 1]
        });
        let mut i = 0;
        scale.retain(|_| {
            i += 1;
            scale_hits[i - 1]
        });
        if methods.is_empty() && scale.is_empty() {
            bail!("--only {regex:?} matches none of: {}", keys.join(", "));
        }
    }
    // build
    if o.build {
        let mut build = Command::new(crate::cargo());
        build
            .args(["build", "--release", "-p", "cli"])
            .current_dir(root);
        eprintln!("bench: {}", crate::show(&build));
        let status = build.status().context("could not run cargo")?;
        if !status.success() {
            bail!("the release build failed ({status})");
        }
    }
    let dlt_rs = target.join("release").join("dlt-rs");
    let needs_dlt_rs = methods
        .iter()
        .any(|m| m.is_rs() || (m.kind == Kind::Floor && m.data == Data::Events))
        || !scale.is_empty();
    if !dlt_rs.exists() && needs_dlt_rs {
        bail!("{} is missing (drop --no-build)", dlt_rs.display());
    }

    // real dlt
    let dlt_python = if methods.iter().any(Method::is_dlt) {
        match setup_dlt(root, &work) {
            Ok(p) => Some(p),
            Err(why) => {
                eprintln!("bench: real dlt is not available, going on without it: {why}");
                skipped.push(format!("real dlt: {why}"));
                methods.retain(|m| !m.is_dlt());
                None
            }
        }
    } else {
        None
    };

    let time_bin = Path::new(TIME_BIN)
        .exists()
        .then(|| PathBuf::from(TIME_BIN));
    if time_bin.is_none() {
        eprintln!("bench: {TIME_BIN} is missing: peak RSS is n/a");
    }
    let mut env = Env {
        root: root.to_path_buf(),
        work: work.clone(),
        logs,
        url: server.url.clone(),
        psql,
        dlt_rs,
        dlt_python,
        time_bin,
        checkpoint_warned: std::cell::Cell::new(false),
        events_floor: None,
    };

    // leftovers of an earlier --keep
    drop_all_schemas(&env)?;

    // csv and parquet support of dlt-rs
    for format in ["csv", "parquet"] {
        if methods.iter().any(|m| m.kind == Kind::Rs(format)) {
            if let Some(why) = probe_format(&env, format)? {
                eprintln!(
                    "bench: dlt-rs does not support {format} yet, skipping its {format} runs: {why}"
                );
                skipped.push(format!("dlt-rs {format}: {}", why.replace("\n    | ", " ")));
                methods.retain(|m| m.kind != Kind::Rs(format));
            }
        }
    }
    if methods
        .iter()
        .chain(&scale)
        .any(|m| m.kind == Kind::RsDefault)
    {
        if let Some(why) = probe_parquet_input(&env)? {
            eprintln!("bench: dlt-rs does not read Parquet files yet, skipping those runs: {why}");
            skipped.push(format!(
                "dlt-rs Parquet input: {}",
                why.replace("\n    | ", " ")
            ));
            methods.retain(|m| m.kind != Kind::RsDefault);
            scale.retain(|m| m.kind != Kind::RsDefault);
        }
    }

    // data
    let needs = |d: Data| methods.iter().any(|m| m.data == d);
    let needs_floor = |d: Data| methods.iter().any(|m| m.data == d && m.kind == Kind::Floor);
    let want = Wanted {
        flat: (needs(Data::Flat), needs_floor(Data::Flat)),
        nested: (needs(Data::Nested), needs_floor(Data::Nested)),
        typed: (needs(Data::Typed), needs_floor(Data::Typed)),
        events: needs(Data::Events),
    };
    let events_rows =
        generate(root, &work, &o, want)?.unwrap_or((100 * bench_events::REPEAT) as u64);
    if needs_floor(Data::Events) {
        match prepare_events_floor(&env) {
            Ok(floor) => env.events_floor = Some(floor),
            Err(e) => {
                let why = format!("{e:#}");
                eprintln!("bench: skipping the events floor: {why}");
                skipped.push(format!(
                    "the events floor: {}",
                    why.replace("\n    | ", " ")
                ));
                methods.retain(|m| !(m.kind == Kind::Floor && m.data == Data::Events));
            }
        }
    }
    if methods.iter().any(|m| m.data == Data::Sql) {
        make_sql_source(&env, Data::Sql, o.sql_rows)?;
    }
    let env = env;

    let rows_of = |d: Data| match d {
        Data::Flat => o.flat_rows,
        Data::Nested => o.nested_rows,
        Data::FlatScaled => o.flat_rows * SCALE_FACTOR,
        Data::Typed => o.typed_rows,
        Data::TypedScaled => o.typed_rows * SCALE_FACTOR,
        Data::Events => events_rows,
        Data::Sql => o.sql_rows,
        Data::SqlScaled => o.sql_rows * SCALE_FACTOR,
    };

    // the rounds
    let load_before = loadavg();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); methods.len()];
    eprintln!(
        "bench: {} methods x {} rounds, alternating; logs in {}",
        methods.len(),
        o.rounds,
        env.logs.display()
    );
    for round in 1..=o.rounds {
        for (i, m) in methods.iter().enumerate() {
            let s = run_once(&env, m, round)?;
            report_run(round, o.rounds, m, &s);
            samples[i].push(s);
        }
    }
    let mut scale_samples = Vec::new();
    for m in &scale {
        let input = env.input(m.data);
        let rows = rows_of(m.data);
        if m.data == Data::SqlScaled {
            make_sql_source(&env, m.data, rows)?;
            let s = run_once(&env, m, 1)?;
            report_run(1, 1, m, &s);
            scale_samples.push(vec![s]);
            if !o.keep {
                env.sql(&format!(
                    "DROP TABLE IF EXISTS {}",
                    sql_source_table(Data::SqlScaled)
                ))?;
            }
            continue;
        }
        let w = match m.data {
            Data::FlatScaled => bench_gen::write_flat(&input, None, rows, bench_gen::SEED)?,
            Data::TypedScaled => {
                bench_typed::write_typed(&input, None, rows, bench_typed::TYPED_SEED)?
            }
            d => bail!("internal: {} is not a scaling run", d.name()),
        };
        eprintln!(
            "bench: wrote {} {} rows ({:.1} MB) for the scaling run",
            w.rows,
            m.data.table(),
            w.bytes as f64 / 1e6
        );
        let s = run_once(&env, m, 1)?;
        report_run(1, 1, m, &s);
        scale_samples.push(vec![s]);
        if !o.keep {
            let _ = std::fs::remove_file(&input);
        }
    }

    let load_after = loadavg();

    // content
    let last_ok: Vec<bool> = samples
        .iter()
        .map(|s| s.last().is_some_and(|s| s.ok))
        .collect();
    let checks = content_checks(&env, &methods, &last_ok)?;

    // summaries
    let mut all: Vec<(Method, Vec<Sample>)> = methods.iter().cloned().zip(samples).collect();
    all.extend(scale.iter().cloned().zip(scale_samples));
    let summaries: BTreeMap<String, Summary> = all
        .iter()
        .filter_map(|(m, s)| summarize(s, rows_of(m.data)).map(|x| (m.key(), x)))
        .collect();

    let mut rows = Vec::new();
    for (m, s) in &all {
        let Some(sum) = summaries.get(&m.key()) else {
            rows.push(vec![
                m.label(),
                m.data.name().into(),
                rows_of(m.data).to_string(),
                "FAILED".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                format!("0/{}", s.len()),
            ]);
            continue;
        };
        let floor = summaries.get(&Method::new(Kind::Floor, m.data).key());
        let peer = m.dlt_peer().and_then(|p| summaries.get(&p.key()));
        rows.push(vec![
            m.label(),
            m.data.name().into(),
            sum.rows.to_string(),
            format!("{:.3}", sum.median),
            thousands(sum.rows as f64 / sum.median),
            floor.map_or("-".into(), |f| format!("{:.2}x", sum.median / f.median)),
            peer.map_or("-".into(), |p| format!("{:.1}x", p.median / sum.median)),
            mb(sum.rss_kb),
            format!("{}/{}", sum.ok, sum.runs),
        ]);
    }
    let table = markdown_table(
        &[
            "method",
            "data",
            "rows",
            "median s",
            "rows/s",
            "time vs floor",
            "faster than dlt",
            "peak RSS",
            "ok",
        ],
        &rows,
    );
    let targets = targets(&summaries);

    // the report
    let mut md = String::new();
    let _ = writeln!(md, "command: `{command_line}`");
    md.push('\n');
    for line in describe_machine(&env) {
        let _ = writeln!(md, "- {line}");
    }
    let mut inputs = Vec::new();
    for d in [
        Data::Flat,
        Data::Nested,
        Data::Typed,
        Data::Events,
        Data::Sql,
        Data::FlatScaled,
        Data::TypedScaled,
        Data::SqlScaled,
    ] {
        if all.iter().any(|(m, _)| m.data == d) {
            inputs.push(match d {
                Data::Flat => format!("{} flat rows", o.flat_rows),
                Data::Nested => format!("{} nested records", o.nested_rows),
                Data::Typed => format!("{} typed rows (Parquet)", o.typed_rows),
                Data::Events => format!(
                    "{} events (dlt's page of 100 GitHub events, {} times)",
                    rows_of(d),
                    bench_events::REPEAT
                ),
                Data::Sql => format!(
                    "a PostgreSQL table of {} rows ({SQL_SOURCE_SCHEMA}.orders)",
                    o.sql_rows
                ),
                Data::FlatScaled | Data::TypedScaled | Data::SqlScaled => {
                    format!("{} {} rows once, for memory scaling", rows_of(d), d.table())
                }
            });
        }
    }
    let _ = writeln!(
        md,
        "- input: {}; {} round(s), alternating, cold; medians",
        inputs.join(", "),
        o.rounds
    );
    let _ = writeln!(
        md,
        "- load average (1/5/15 min) before the runs: {load_before}; after: {load_after}"
    );
    md.push('\n');
    md.push_str(&table);
    md.push_str(
        "\ntime vs floor = median seconds / the floor's median seconds on the same data; \
         faster than dlt = dlt's median seconds / this method's, same format and data; peak RSS \
         = the client process (largest over the rounds; for the floor that is psql, not the \
         server). dlt-rs: the whole process; dlt: `pipeline.run()` only (dlt arrow: reading the \
         Parquet file with pyarrow + `pipeline.run(table)`; dlt sql_database: `pipeline.run()`); \
         floor: the `psql \\copy` process (sql: the pipe of two). \
         rows = input records (nested: 1 root row + ~2.5 commits + ~1.5 labels each; events: \
         root rows, plus their child rows in six tables).\n",
    );
    md.push_str("\ntargets:\n\n");
    for t in &targets {
        let _ = writeln!(md, "- {} {} — {}", verdict(t.verdict), t.text, t.detail);
    }
    md.push_str("\ncontent check (per table: row count, md5 over the sorted row hashes):\n\n");
    for c in &checks {
        let status = match c.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "SKIP",
        };
        let _ = writeln!(
            md,
            "- {status} {} ({}): {}",
            c.method.label(),
            c.method.data.name(),
            c.verdict
        );
    }
    if !skipped.is_empty() {
        md.push_str("\nnot run:\n\n");
        for s in &skipped {
            let _ = writeln!(md, "- {s}");
        }
    }
    let failures: Vec<String> = all
        .iter()
        .flat_map(|(m, s)| {
            s.iter()
                .enumerate()
                .filter(|(_, s)| !s.ok)
                .map(move |(r, s)| {
                    format!(
                        "{} {} round {}: {}",
                        m.label(),
                        m.data.name(),
                        r + 1,
                        s.note
                    )
                })
        })
        .collect();
    if !failures.is_empty() {
        md.push_str("\nfailed runs:\n\n");
        for f in &failures {
            let _ = writeln!(md, "- {f}");
        }
    }
    let results = work.join("results.md");
    std::fs::write(&results, &md)
        .with_context(|| format!("could not write {}", results.display()))?;
    println!();
    println!("{md}");
    println!("(written to {})", results.display());

    if !o.keep {
        drop_all_schemas(&env)?;
        for name in [
            "flat.jsonl",
            "nested.jsonl",
            "floor-flat.csv",
            "floor-nested.csv",
            "floor-nested-commits.csv",
            "floor-nested-labels.csv",
            "typed.parquet",
            "floor-typed.csv",
            "events.jsonl",
        ] {
            let _ = std::fs::remove_file(work.join(name));
        }
        let _ = std::fs::remove_dir_all(events_floor_dir(&work));
        let _ = std::fs::remove_dir_all(work.join("pipelines"));
    }

    let content_failed = checks.iter().any(|c| c.pass == Some(false));
    if failures.is_empty() && !content_failed {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "bench: {} failed runs{}",
            failures.len(),
            if content_failed {
                ", content check failed"
            } else {
                ""
            }
        );
        Ok(ExitCode::FAILURE)
    }
}

fn report_run(round: u32, rounds: u32, m: &Method, s: &Sample) {
    if s.ok {
        eprintln!(
            "bench: round {round}/{rounds}  {:<40} {:<7} {:>9.3} s  {:>7}",
            m.label(),
            m.data.name(),
            s.seconds,
            mb(s.rss_kb)
        );
    } else {
        eprintln!(
            "bench: round {round}/{rounds}  {:<40} {:<7} FAILED {}",
            m.label(),
            m.data.name(),
            s.note
        );
    }
}

/// Drops every `xbench_*` schema (this command's, nothing else).
fn drop_all_schemas(env: &Env) -> Result<()> {
    let list = env.sql(&format!(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE {} ORDER BY 1",
        literal(&format!("{}%", SCHEMA_PREFIX.replace('_', "\\_")))
    ))?;
    let drops: Vec<String> = list
        .lines()
        .filter(|l| !l.is_empty())
        .map(|s| format!("DROP SCHEMA IF EXISTS {} CASCADE;", ident(s)))
        .collect();
    if drops.is_empty() {
        return Ok(());
    }
    env.sql(&format!(
        "SET client_min_messages = warning; {}",
        drops.join(" ")
    ))
    .map(drop)
}

/// `url` with a placeholder password when it has none: dlt insists on a password even where
/// the server trusts the client (which then ignores it).
fn with_password(url: &str) -> String {
    match crate::pg::userinfo(url) {
        Some(userinfo) if !url[userinfo.clone()].contains(':') => {
            format!("{}:unused{}", &url[..userinfo.end], &url[userinfo.end..])
        }
        _ => url.to_string(),
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse(&args(&[])).unwrap();
        assert_eq!((o.flat_rows, o.nested_rows, o.rounds), (200_000, 50_000, 3));
        assert_eq!(o.typed_rows, 1_000_000);
        assert!(o.dlt && o.scale && o.build && !o.keep && o.only.is_none());
        let o = parse(&args(&[
            "--flat-rows",
            "10",
            "--nested-rows=5",
            "--rounds",
            "1",
            "--only",
            "rs|floor",
            "--no-dlt",
            "--keep",
            "--no-scale",
            "--typed-rows=7",
        ]))
        .unwrap();
        assert_eq!((o.flat_rows, o.nested_rows, o.rounds), (10, 5, 1));
        assert_eq!(o.typed_rows, 7);
        assert_eq!(o.only.as_deref(), Some("rs|floor"));
        assert!(!o.dlt && !o.scale && o.keep);
        assert!(parse(&args(&["--rounds", "0"])).is_err());
        assert!(parse(&args(&["--typed-rows", "0"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn keys_and_schemas_are_distinct() {
        let mut methods = all_methods();
        methods.extend(scale_methods());
        let mut keys: Vec<String> = methods.iter().map(Method::key).collect();
        // every key is in the usage text
        for k in keys.iter().filter(|k| !k.ends_with("|nested")) {
            assert!(USAGE.contains(k.as_str()), "{k} is not in USAGE");
        }
        let mut schemas: Vec<String> = methods.iter().map(Method::schema).collect();
        keys.sort();
        keys.dedup();
        schemas.sort();
        schemas.dedup();
        assert_eq!(keys.len(), methods.len());
        assert_eq!(schemas.len(), methods.len());
        assert!(schemas.iter().all(|s| s.starts_with(SCHEMA_PREFIX)));
    }

    #[test]
    fn peers_and_floors() {
        let rs = Method::new(Kind::RsDefault, Data::Typed);
        assert_eq!(rs.key(), "dlt-rs|typed");
        assert_eq!(rs.dlt_peer().unwrap().key(), "dlt-arrow|typed");
        assert!(rs.is_rs() && !rs.is_dlt());
        let scaled = Method::new(Kind::RsDefault, Data::TypedScaled);
        assert_eq!(scaled.key(), "dlt-rs|typed-5x");
        assert!(scaled.dlt_peer().is_none());
        assert_eq!(
            Method::new(Kind::Rs("parquet"), Data::Events)
                .dlt_peer()
                .unwrap()
                .key(),
            "dlt-parquet|events"
        );
        assert!(Method::new(Kind::DltArrow, Data::Typed).is_dlt());
        // the floor's column list is the typed file's
        let names: Vec<String> = bench_typed::schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names.join(", "), bench_typed::COLUMNS);
        let ddl_names: Vec<&str> = TYPED_DDL
            .split(", ")
            .filter_map(|c| c.split_whitespace().next())
            .collect();
        assert_eq!(ddl_names.join(", "), bench_typed::COLUMNS);
    }

    #[test]
    fn finds_completed_csv_job_files() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-jobs-{}", std::process::id()));
        let done = dir.join("p/load/loaded/123/completed_jobs");
        std::fs::create_dir_all(&done).unwrap();
        std::fs::create_dir_all(dir.join("p/load/normalized/9/new_jobs")).unwrap();
        std::fs::write(done.join("events.abc.0.csv"), "\"id\",\"a b\"\n1,2\n").unwrap();
        std::fs::write(done.join("events.abc.0.parquet"), "x").unwrap();
        std::fs::write(dir.join("p/load/normalized/9/new_jobs/t.x.0.csv"), "").unwrap();
        let mut found = Vec::new();
        completed_csv_files(&dir, &mut found).unwrap();
        assert_eq!(found, vec![done.join("events.abc.0.csv")]);
        assert_eq!(csv_header(&found[0]).unwrap(), "\"id\",\"a b\"");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn adds_a_placeholder_password() {
        assert_eq!(
            with_password("postgresql://postgres@127.0.0.1:5432/postgres"),
            "postgresql://postgres:unused@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            with_password("postgresql://u:pw@h/db"),
            "postgresql://u:pw@h/db"
        );
        assert_eq!(with_password("postgresql://h/db"), "postgresql://h/db");
    }

    #[test]
    fn medians_and_tables() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        let t = markdown_table(
            &["a", "b", "n"],
            &[vec!["x".into(), "y".into(), "10".into()]],
        );
        assert!(t.starts_with("| a | b |  n |\n|---|---|---:|\n| x | y | 10 |"));
        assert_eq!(
            result_seconds("INFO x\nRESULT dlt rows=5 seconds=1.250\n"),
            Some(1.25)
        );
    }
}
