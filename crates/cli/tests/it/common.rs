//! What the binary's test files share: running `dlt-rs`, loading into a dataset, reading
//! table contents back.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use test_support::{pg_url, query_rows};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_dlt-rs");

/// Runs the binary in an isolated folder: no `.dlt/` files, no inherited dlt variables.
pub(crate) fn dlt_rs(args: &[&str], cwd: &Path) -> Output {
    dlt_rs_reading(args, cwd, std::process::Stdio::null())
}

/// [`dlt_rs`] with `stdin` as its standard input.
pub(crate) fn dlt_rs_reading(args: &[&str], cwd: &Path, stdin: std::process::Stdio) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(stdin)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env_remove("DLT_DATA_DIR");
    for (k, _) in std::env::vars() {
        if k.starts_with("DESTINATION__") || k.starts_with("CREDENTIALS") || k.starts_with("LOAD__")
        {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("the dlt-rs binary runs")
}

pub(crate) fn load_args<'a>(
    file: &'a str,
    dataset: &'a str,
    url: &'a str,
    pipes: &'a str,
) -> Vec<&'a str> {
    load_into(file, url, pipes, dataset, dataset, "items")
}

/// `dlt-rs load FILE` into PostgreSQL at `url`: pipeline `pipeline` (working folders in
/// `pipes`), dataset `dataset`, root table `table`.
pub(crate) fn load_into<'a>(
    file: &'a str,
    url: &'a str,
    pipes: &'a str,
    pipeline: &'a str,
    dataset: &'a str,
    table: &'a str,
) -> Vec<&'a str> {
    vec![
        "load",
        file,
        "--destination",
        "postgres",
        "--credentials",
        url,
        "--pipeline",
        pipeline,
        "--pipelines-dir",
        pipes,
        "--dataset",
        dataset,
        "--table",
        table,
    ]
}

/// Runs `dlt-rs load` on `rows` (JSON Lines) as a child process.
pub(crate) fn spawn_load(dir: &Path, ds: &str, rows: &str, extra: &[&str]) -> std::process::Child {
    spawn_load_to(&pg_url(), dir, ds, rows, extra)
}

/// [`spawn_load`] into the server at `url`.
pub(crate) fn spawn_load_to(
    url: &str,
    dir: &Path,
    ds: &str,
    rows: &str,
    extra: &[&str],
) -> std::process::Child {
    let file = dir.join(format!("in{}.jsonl", rows.len()));
    std::fs::write(&file, rows).unwrap();
    let pipes = dir.join("pipes");
    let (f, p) = (
        file.to_string_lossy().to_string(),
        pipes.to_string_lossy().to_string(),
    );
    let mut args = load_args(&f, ds, url, &p);
    args.extend_from_slice(extra);
    Command::new(BIN)
        .args(&args)
        .current_dir(dir)
        .env("HOME", dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dlt-rs starts")
}

/// Waits for a run that must succeed; returns its stderr (the log).
pub(crate) fn finish(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// The child's stderr when it failed; panics when it succeeded.
pub(crate) fn finish_failing(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the run succeeded: {stderr}");
    stderr
}

/// Waits until some backend waits for a lock on a table of schema `ds` (bounded).
pub(crate) async fn wait_for_blocked_loader(db: &tokio_postgres::Client, ds: &str) {
    let sql = format!(
        "select count(*)::text from pg_locks l join pg_class c on c.oid = l.relation \
         join pg_namespace n on n.oid = c.relnamespace where not l.granted and n.nspname = '{ds}'"
    );
    for _ in 0..600 {
        if query_rows(db, &sql).await != [[Some("0".to_string())]] {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the loader never reached the locked table");
}

pub(crate) async fn contents(db: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    query_rows(db, sql)
        .await
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_default())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}
