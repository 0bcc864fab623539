//! Project automation, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! ```text
//! cargo xtask test [--] [cargo test args...]  find or start PostgreSQL, then `cargo test --workspace`
//! cargo xtask e2e [--rows N] [--seed S] [--no-build]
//!                                             build release, generate data, load it twice, compare
//! cargo xtask bench [--flat-rows N] [--nested-rows N] [--typed-rows N] [--rounds N]
//!                   [--only REGEX] [--no-dlt] [--no-scale] [--no-build] [--keep]
//!                                             dlt-rs vs real dlt vs the COPY floor, medians
//! cargo xtask pg-url                          print the URL of the server found or started
//! cargo xtask pg-stop                         stop the throwaway cluster, if one runs
//! ```
//!
//! PostgreSQL is found in this order (see [`pg`]): `DLT_RS_TEST_PG_URL`; a server on
//! 127.0.0.1:5432 that lets `postgres` in without a password; a throwaway cluster under
//! `target/pg-throwaway` on port 54329 made with the local `initdb`/`pg_ctl` (left running
//! between invocations); otherwise the command says what to install and fails.
//!
//! Few dependencies: `anyhow`, `rusqlite` (e2e reads a SQLite dataset), `arrow-array`, `arrow-schema`
//! and `parquet` (the benchmark writes a Parquet file), `test-support`.

mod bench;
mod bench_events;
mod bench_gen;
mod bench_typed;
mod e2e;
mod events;
mod pg;
mod tidy;

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [--] [ARGS...]    find or start PostgreSQL, export DLT_RS_TEST_PG_URL, run
                         `cargo test --workspace ARGS...` (without --workspace when
                         ARGS pick packages with -p/--package)
  e2e [--rows N] [--seed S] [--no-build]
                         build the release binaries, generate N (default 20000) nested
                         GitHub-like events into target/e2e/events.jsonl, load them through
                         the library example and through `dlt-rs load`, compare the datasets
                         (--no-build: use the release binaries already built)
  bench [--flat-rows N] [--nested-rows N] [--typed-rows N] [--rounds N] [--only REGEX]
        [--no-dlt] [--no-scale] [--no-build] [--keep]
                         benchmark: generate flat (default 200000 rows) and nested (50000)
                         JSON Lines, a typed Parquet file (1000000 rows) and dlt's GitHub
                         events x20 into target/bench, load them with dlt-rs (insert_values,
                         csv, parquet, merge), real dlt (venv in target/bench/dltvenv) and
                         psql \\copy (the floor), N (default 3) alternating cold rounds; print
                         medians, peak RSS, the performance targets and a content check,
                         write target/bench/results.md (`cargo xtask bench --help` for details)
  pg-url                 print the URL of the PostgreSQL server found or started
  pg-stop                stop the throwaway cluster started by the commands above
  help                   this text

environment:
  DLT_RS_TEST_PG_URL        use this server as is (nothing is probed or started)
  DLT_RS_PG_PROBE_PORT      port probed on 127.0.0.1 before starting a cluster (default 5432)
  DLT_RS_PG_THROWAWAY_PORT  port of the throwaway cluster (default 54329)";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let command = args.next();
    let rest: Vec<OsString> = args.collect();
    let result = match command.as_ref().and_then(|c| c.to_str()) {
        Some("test") => test(rest),
        Some("e2e") => e2e::run(&workspace_root(), rest),
        Some("bench") => bench::run(&workspace_root(), rest),
        Some("pg-url") => pg_url(&rest),
        Some("pg-stop") => pg_stop(&rest),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(anyhow::anyhow!("unknown command {other:?}\n\n{USAGE}")),
        None => Err(anyhow::anyhow!("no command given\n\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask test`: PostgreSQL first, then the whole workspace's tests against it.
fn test(mut extra: Vec<OsString>) -> Result<ExitCode> {
    if extra.first().is_some_and(|a| a == "--") {
        extra.remove(0);
    }
    let root = workspace_root();
    let server = pg::ensure(&root)?;
    eprintln!("xtask: tests use {}", server.describe());
    ensure_mysql();
    // `-p NAME` narrows the run; otherwise every crate of the workspace is tested.
    let picks_packages = extra.iter().any(|a| {
        let a = a.to_string_lossy();
        a == "-p" || a.starts_with("--package") || (a.starts_with("-p") && a.len() > 2)
    });
    let mut cmd = Command::new(cargo());
    cmd.arg("test");
    if !picks_packages {
        cmd.arg("--workspace");
    }
    cmd.args(&extra)
        .env(pg::URL_ENV, &server.url)
        .current_dir(&root);
    eprintln!("xtask: running {}", show(&cmd));
    let status = cmd.status().context("could not run cargo")?;
    if status.success() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: tests failed ({status})");
        Ok(exit_code(status))
    }
}

/// The MySQL source's tests need a MySQL or MariaDB server (`DLT_RS_TEST_MYSQL_URL`, default
/// 127.0.0.1:3306 as root): when none answers there and MariaDB is installed, it is started
/// (`service mariadb start`); otherwise those tests fail saying what to install.
fn ensure_mysql() {
    if std::env::var_os("DLT_RS_TEST_MYSQL_URL").is_some() {
        return;
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 3306));
    let answers =
        || std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok();
    if answers() {
        eprintln!("xtask: MySQL source tests use MariaDB/MySQL on 127.0.0.1:3306");
        return;
    }
    if Path::new("/usr/sbin/mariadbd").exists() {
        eprintln!("xtask: starting MariaDB (service mariadb start) for the MySQL source tests");
        let started = Command::new("service")
            .args(["mariadb", "start"])
            .status()
            .is_ok_and(|s| s.success());
        if started && answers() {
            return;
        }
    }
    eprintln!(
        "xtask: no MySQL/MariaDB on 127.0.0.1:3306: the MySQL source tests will fail; install \
         and start one (apt-get install mariadb-server && service mariadb start) or set \
         DLT_RS_TEST_MYSQL_URL"
    );
}

/// `cargo xtask pg-url`: the URL alone on stdout, everything else on stderr.
fn pg_url(rest: &[OsString]) -> Result<ExitCode> {
    no_args("pg-url", rest)?;
    let server = pg::ensure(&workspace_root())?;
    eprintln!("xtask: using {}", server.describe());
    println!("{}", server.url);
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask pg-stop`.
fn pg_stop(rest: &[OsString]) -> Result<ExitCode> {
    no_args("pg-stop", rest)?;
    pg::stop(&workspace_root())?;
    Ok(ExitCode::SUCCESS)
}

fn no_args(command: &str, rest: &[OsString]) -> Result<()> {
    if let Some(arg) = rest.first() {
        bail!("`{command}` takes no arguments, got {arg:?}\n\n{USAGE}");
    }
    Ok(())
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The cargo that runs us (`CARGO`), else `cargo` from `PATH`.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A command line for messages.
fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The exit code a child ended with (1 when it was killed by a signal).
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)),
        None => ExitCode::FAILURE,
    }
}
