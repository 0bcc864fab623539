//! `cargo xtask e2e`: the main job end to end, through the library and through the command line.
//!
//! 1. find or start PostgreSQL ([`crate::pg`]);
//! 2. `cargo build --release -p cli --bins --examples` (skipped with `--no-build`);
//! 3. generate `<target>/e2e/events.jsonl` ([`crate::events`], `--rows`, `--seed`);
//! 4. load it with `examples/library_pipeline` into dataset `e2e_lib`, then with
//!    `dlt-rs load` into dataset `e2e_cli` (table `events`), each after dropping its schemas and
//!    deleting `<target>/e2e/pipelines`;
//! 5. load it with `dlt-rs load --destination sqlite` into dataset `e2e_sqlite` of
//!    `<target>/e2e/sqlite/e2e.db` (the dataset is the attached file `e2e__e2e_sqlite.db`);
//! 6. read the `e2e_cli` and `e2e_sqlite` datasets back with `examples/read_back` (JSON rows,
//!    typed rows, Arrow batches of every event);
//! 7. print every table of the three datasets with its row count and fail unless all hold the
//!    same tables with the same counts and `events` holds one row per generated record.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::pg;

const DEFAULT_ROWS: u64 = 20_000;
const DEFAULT_SEED: u64 = 20_240_301;
const LIB_DATASET: &str = "e2e_lib";
const CLI_DATASET: &str = "e2e_cli";
const CLI_PIPELINE: &str = "e2e_cli";
const SQLITE_DATASET: &str = "e2e_sqlite";
const ROOT_TABLE: &str = "events";

struct Options {
    rows: u64,
    seed: u64,
    /// Use the release binaries as they are (handy when iterating on the loads only).
    build: bool,
}

fn parse(args: Vec<OsString>) -> Result<Options> {
    let mut options = Options {
        rows: DEFAULT_ROWS,
        seed: DEFAULT_SEED,
        build: true,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| anyhow!("argument {a:?} is not UTF-8"))?;
        if arg == "--no-build" {
            options.build = false;
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = || -> Result<u64> {
            let text = match inline.clone() {
                Some(v) => v,
                None => args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| anyhow!("{flag} needs a number"))?,
            };
            text.parse()
                .with_context(|| format!("{flag} needs a number, got {text:?}"))
        };
        match flag.as_str() {
            "--rows" => options.rows = value()?,
            "--seed" => options.seed = value()?,
            _ => bail!("unknown e2e option {arg:?} (expected --rows N, --seed S, --no-build)"),
        }
    }
    if options.rows == 0 {
        bail!("--rows must be at least 1");
    }
    Ok(options)
}

/// One load's outcome: how long it took and whether it worked.
struct Run {
    label: &'static str,
    elapsed: Duration,
    ok: bool,
}

pub(crate) fn run(root: &Path, args: Vec<OsString>) -> Result<ExitCode> {
    let options = parse(args)?;
    let server = pg::ensure(root)?;
    eprintln!("xtask: e2e uses {}", server.describe());
    let psql = pg::require_psql()?;
    let url = server.url.as_str();

    let target = crate::target_dir(root);
    let work = target.join("e2e");
    let input = work.join("events.jsonl");
    let pipelines = work.join("pipelines");
    let release = target.join("release");

    let build_time = if options.build {
        let started = Instant::now();
        let mut build = Command::new(crate::cargo());
        build
            .args(["build", "--release", "-p", "cli", "--bins", "--examples"])
            .current_dir(root);
        eprintln!("xtask: {}", crate::show(&build));
        let status = build.status().context("could not run cargo")?;
        if !status.success() {
            bail!("the release build failed ({status})");
        }
        Some(started.elapsed())
    } else {
        None
    };

    let started = Instant::now();
    let bytes = crate::events::write_file(&input, options.rows, options.seed)?;
    let generate_time = started.elapsed();
    eprintln!(
        "xtask: wrote {} events ({:.1} MB, seed {}) to {} in {}",
        options.rows,
        bytes as f64 / 1e6,
        options.seed,
        input.display(),
        secs(generate_time)
    );

    let mut lib = Command::new(release.join("examples").join("library_pipeline"));
    lib.arg("--credentials")
        .arg(url)
        .args(["--dataset", LIB_DATASET])
        .arg("--pipelines-dir")
        .arg(&pipelines)
        .arg("--input")
        .arg(&input)
        .current_dir(root);
    let lib_run = load("load: library", &psql, url, LIB_DATASET, &pipelines, lib)?;

    let mut cli = Command::new(release.join("dlt-rs"));
    cli.arg("load")
        .arg(&input)
        .args(["--destination", "postgres", "--credentials", url])
        .args(["--pipeline", CLI_PIPELINE])
        .arg("--pipelines-dir")
        .arg(&pipelines)
        .args(["--dataset", CLI_DATASET, "--table", ROOT_TABLE])
        .current_dir(root);
    let cli_run = load(
        "load: command line",
        &psql,
        url,
        CLI_DATASET,
        &pipelines,
        cli,
    )?;

    let sqlite_dir = work.join("sqlite");
    if sqlite_dir.exists() {
        std::fs::remove_dir_all(&sqlite_dir)
            .with_context(|| format!("could not delete {}", sqlite_dir.display()))?;
    }
    std::fs::create_dir_all(&sqlite_dir)
        .with_context(|| format!("could not create {}", sqlite_dir.display()))?;
    let mut sqlite = Command::new(release.join("dlt-rs"));
    sqlite
        .arg("load")
        .arg(&input)
        .args(["--destination", "sqlite", "--credentials"])
        .arg(sqlite_dir.join("e2e.db"))
        .args(["--pipeline", SQLITE_DATASET])
        .arg("--pipelines-dir")
        .arg(&pipelines)
        .args(["--dataset", SQLITE_DATASET, "--table", ROOT_TABLE])
        .current_dir(root);
    let sqlite_run = run_timed("load: SQLite", sqlite);

    // read both datasets back through the library (rows, typed rows, Arrow batches)
    let mut read_pg = Command::new(release.join("examples").join("read_back"));
    read_pg
        .args(["--pipeline", CLI_PIPELINE, "--credentials", url])
        .arg("--pipelines-dir")
        .arg(&pipelines)
        .args(["--expect-rows", &options.rows.to_string()])
        .current_dir(root);
    let read_pg_run = run_timed("read back: PostgreSQL", read_pg);
    let mut read_sqlite = Command::new(release.join("examples").join("read_back"));
    read_sqlite
        .args([
            "--pipeline",
            SQLITE_DATASET,
            "--destination",
            "sqlite",
            "--credentials",
        ])
        .arg(sqlite_dir.join("e2e.db"))
        .arg("--pipelines-dir")
        .arg(&pipelines)
        .args(["--expect-rows", &options.rows.to_string()])
        .current_dir(root);
    let read_sqlite_run = run_timed("read back: SQLite", read_sqlite);

    let lib_tables = table_counts(&psql, url, LIB_DATASET)?;
    let cli_tables = table_counts(&psql, url, CLI_DATASET)?;
    let sqlite_tables = sqlite_table_counts(&sqlite_dir.join(format!("e2e__{SQLITE_DATASET}.db")))?;
    print_tables(LIB_DATASET, &lib_tables);
    print_tables(CLI_DATASET, &cli_tables);
    print_tables(SQLITE_DATASET, &sqlite_tables);

    let mut problems = Vec::new();
    for run in [
        &lib_run,
        &cli_run,
        &sqlite_run,
        &read_pg_run,
        &read_sqlite_run,
    ] {
        if !run.ok {
            problems.push(format!("the {} run failed", run.label));
        }
    }
    for (dataset, tables) in [
        (LIB_DATASET, &lib_tables),
        (CLI_DATASET, &cli_tables),
        (SQLITE_DATASET, &sqlite_tables),
    ] {
        match tables.get(ROOT_TABLE) {
            Some(&n) if n == options.rows as i64 => {}
            Some(&n) => problems.push(format!(
                "{dataset}.{ROOT_TABLE} holds {n} rows, expected {}",
                options.rows
            )),
            None => problems.push(format!("{dataset} has no table {ROOT_TABLE}")),
        }
    }
    problems.extend(compare(
        (LIB_DATASET, &lib_tables),
        (CLI_DATASET, &cli_tables),
    ));
    problems.extend(compare(
        (CLI_DATASET, &without_system_tables(&cli_tables)),
        (SQLITE_DATASET, &without_system_tables(&sqlite_tables)),
    ));

    println!();
    println!("timings:");
    if let Some(build_time) = build_time {
        println!("  release build          {:>9}", secs(build_time));
    }
    println!(
        "  generate {:>7} rows   {:>9}",
        options.rows,
        secs(generate_time)
    );
    for run in [
        &lib_run,
        &cli_run,
        &sqlite_run,
        &read_pg_run,
        &read_sqlite_run,
    ] {
        println!(
            "  {:<22} {:>9}  {}",
            run.label,
            secs(run.elapsed),
            if run.ok { "ok" } else { "FAILED" }
        );
    }
    println!();
    if problems.is_empty() {
        println!(
            "e2e: ok — {LIB_DATASET}, {CLI_DATASET} (PostgreSQL) and {SQLITE_DATASET} (SQLite) \
             hold the same {} tables and row counts",
            lib_tables.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("e2e: FAILED");
        for problem in &problems {
            println!("  - {problem}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// Drops `dataset` (and `<dataset>_staging`), deletes the pipelines directory, runs `cmd` and
/// times it. A load that fails (or cannot start) is reported, not an error: the other still runs.
fn load(
    label: &'static str,
    psql: &Path,
    url: &str,
    dataset: &str,
    pipelines: &Path,
    cmd: Command,
) -> Result<Run> {
    drop_dataset(psql, url, dataset)?;
    if pipelines.exists() {
        std::fs::remove_dir_all(pipelines)
            .with_context(|| format!("could not delete {}", pipelines.display()))?;
    }
    Ok(run_timed(label, cmd))
}

/// Runs a load and times it; a load that fails (or cannot start) is reported, not an error.
fn run_timed(label: &'static str, mut cmd: Command) -> Run {
    eprintln!("\nxtask: {label}: {}", crate::show(&cmd));
    let started = Instant::now();
    let ok = match cmd.status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            eprintln!("xtask: {label} failed ({status})");
            false
        }
        Err(e) => {
            eprintln!(
                "xtask: could not run {}: {e}",
                cmd.get_program().to_string_lossy()
            );
            false
        }
    };
    let elapsed = started.elapsed();
    eprintln!("xtask: {label} took {}", secs(elapsed));
    Run { label, elapsed, ok }
}

/// Row counts of the tables of a SQLite database file.
fn sqlite_table_counts(file: &Path) -> Result<BTreeMap<String, i64>> {
    let conn =
        rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("could not open {}", file.display()))?;
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut counts = BTreeMap::new();
    for t in tables {
        let n: i64 = conn.query_row(
            &format!("SELECT count(*) FROM {}", quote_ident(&t)),
            [],
            |r| r.get(0),
        )?;
        counts.insert(t, n);
    }
    Ok(counts)
}

/// The data tables (the `_dlt_*` tables differ in content between destinations' runs).
fn without_system_tables(tables: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    tables
        .iter()
        .filter(|(t, _)| !t.starts_with("_dlt_"))
        .map(|(t, n)| (t.clone(), *n))
        .collect()
}

fn drop_dataset(psql: &Path, url: &str, dataset: &str) -> Result<()> {
    let sql = format!(
        "SET client_min_messages = warning; DROP SCHEMA IF EXISTS {} CASCADE; \
         DROP SCHEMA IF EXISTS {} CASCADE",
        quote_ident(dataset),
        quote_ident(&format!("{dataset}_staging"))
    );
    pg::psql(psql, url, &sql).map(drop)
}

/// Every base table of `schema` with its row count.
fn table_counts(psql: &Path, url: &str, schema: &str) -> Result<BTreeMap<String, i64>> {
    let list = pg::psql(
        psql,
        url,
        &format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = {} \
             AND table_type = 'BASE TABLE' ORDER BY table_name",
            quote_literal(schema)
        ),
    )?;
    let tables: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    if tables.is_empty() {
        return Ok(BTreeMap::new());
    }
    let sql = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT {}, count(*) FROM {}.{}",
                quote_literal(t),
                quote_ident(schema),
                quote_ident(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let mut counts = BTreeMap::new();
    for line in pg::psql(psql, url, &sql)?.lines().filter(|l| !l.is_empty()) {
        let (table, count) = line
            .rsplit_once('|')
            .ok_or_else(|| anyhow!("unexpected psql output line {line:?}"))?;
        let count = count
            .parse()
            .with_context(|| format!("unexpected count in {line:?}"))?;
        counts.insert(table.to_string(), count);
    }
    Ok(counts)
}

fn print_tables(dataset: &str, tables: &BTreeMap<String, i64>) {
    println!();
    println!("dataset {dataset}: {} tables", tables.len());
    let width = tables.keys().map(String::len).max().unwrap_or(0);
    for (table, count) in tables {
        println!("  {table:<width$}  {count:>10}");
    }
}

/// The differences between two datasets, one line each.
fn compare(
    (a_name, a): (&str, &BTreeMap<String, i64>),
    (b_name, b): (&str, &BTreeMap<String, i64>),
) -> Vec<String> {
    let mut problems = Vec::new();
    for (table, &n) in a {
        match b.get(table) {
            None => problems.push(format!("{table} ({n} rows) is only in {a_name}")),
            Some(&m) if m != n => {
                problems.push(format!("{table}: {n} rows in {a_name}, {m} in {b_name}"))
            }
            Some(_) => {}
        }
    }
    for (table, &m) in b {
        if !a.contains_key(table) {
            problems.push(format!("{table} ({m} rows) is only in {b_name}"));
        }
    }
    problems
}

fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse(args(&[])).unwrap();
        assert_eq!((o.rows, o.seed), (DEFAULT_ROWS, DEFAULT_SEED));
        assert!(o.build);
        let o = parse(args(&["--rows", "50", "--seed=3", "--no-build"])).unwrap();
        assert_eq!((o.rows, o.seed, o.build), (50, 3, false));
        assert!(parse(args(&["--rows"])).is_err());
        assert!(parse(args(&["--rows", "x"])).is_err());
        assert!(parse(args(&["--rows", "0"])).is_err());
        assert!(parse(args(&["--bogus"])).is_err());
    }

    #[test]
    fn compares_datasets() {
        let a: BTreeMap<String, i64> = [("events".to_string(), 3), ("x".to_string(), 1)].into();
        let b: BTreeMap<String, i64> = [("events".to_string(), 3), ("y".to_string(), 1)].into();
        assert!(compare(("a", &a), ("a", &a)).is_empty());
        assert_eq!(compare(("a", &a), ("b", &b)).len(), 2);
    }
}
