//! Faults outside the loader: PostgreSQL restarted (or crashed) mid-load, and the disk of
//! the pipelines folder full or read-only. Each ends with the exact rows of one clean run.
//!
//! The restart tests run their own cluster (`test_support::cluster`), since restarting the
//! shared server would break the other tests. The disk tests mount a small tmpfs, which
//! needs root (CAP_SYS_ADMIN); without it they fail saying so, unless
//! `DLT_RS_SKIP_MOUNT_TESTS=1` asks to skip them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use test_support::cluster::Cluster;
use test_support::{connect, connect_to, fresh_schema, pg_url};

/// `n` JSON Lines records with a nested list each, ids `from..from + n`.
fn records(from: u64, n: u64) -> String {
    (from..from + n)
        .map(|i| format!("{{\"id\": {i}, \"name\": \"n{i}\", \"tags\": [\"a{i}\", \"b{i}\"]}}\n"))
        .collect()
}

/// `count(*) count(distinct id)` of `items` and the count of its child table.
async fn counts(db: &tokio_postgres::Client, ds: &str) -> Vec<String> {
    contents(
        db,
        &format!(
            "select (select count(*) || ' ' || count(distinct id) from {ds}.items) || ' ' || \
             (select count(*) from {ds}.items__tags)"
        ),
    )
    .await
}

/// The server is restarted (`immediate`: a crash and recovery) while the loader's
/// transaction waits inside the server: the run survives it (the job's and the package's
/// transient retries) and every row is there once. With load sessions while normalizing
/// and without.
#[tokio::test]
async fn a_server_restart_mid_load_is_survived_and_every_row_loads_once() {
    let cluster = Cluster::start(&[], |_| {});
    let url = cluster.url();
    for (overlap, mode) in [("true", "immediate"), ("false", "fast")] {
        let db = connect_to(&url).await;
        let ds = format!("restart_{overlap}");
        let dir = tempfile::tempdir().unwrap();
        finish(spawn_load_to(&url, dir.path(), &ds, &records(0, 1), &[]));

        // hold the table so the loader waits inside its transaction, then restart
        db.batch_execute(&format!(
            "begin; lock table {ds}.items in access exclusive mode"
        ))
        .await
        .unwrap();
        let mut child = Command::new(BIN);
        let file = dir.path().join("more.jsonl");
        std::fs::write(&file, records(1, 20_000)).unwrap();
        let (f, p) = (
            file.to_string_lossy().to_string(),
            dir.path().join("pipes").to_string_lossy().to_string(),
        );
        child
            .args(load_args(&f, &ds, &url, &p))
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("LOAD__OVERLAP", overlap)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let child = child.spawn().unwrap();
        let watcher = connect_to(&url).await;
        wait_for_blocked_loader(&watcher, &ds).await;
        cluster.restart(mode);
        let log = finish(child);
        assert!(
            log.contains("transient"),
            "overlap {overlap}: the restart was not noticed: {log}"
        );

        let db = connect_to(&url).await;
        assert_eq!(
            counts(&db, &ds).await,
            ["20001 20001 40002"],
            "overlap {overlap}, restart -m {mode}"
        );
    }
}

/// A merge whose load is cut by a crash of the server at a random point of its work (as
/// soon as the loader's statements run): the run ends with the rows of one clean run.
#[tokio::test]
async fn a_server_crash_during_a_merge_ends_with_the_merged_rows() {
    let cluster = Cluster::start(&[], |_| {});
    let url = cluster.url();
    let ds = "crash_merge";
    let dir = tempfile::tempdir().unwrap();
    let merge = ["--write-disposition", "merge", "--primary-key", "id"];
    finish(spawn_load_to(
        &url,
        dir.path(),
        ds,
        &records(0, 30_000),
        &merge,
    ));
    // the second run updates half of the rows and adds as many
    let second: String = (15_000..45_000u64)
        .map(|i| format!("{{\"id\": {i}, \"name\": \"second{i}\", \"tags\": [\"c{i}\"]}}\n"))
        .collect();
    let child = spawn_load_to(&url, dir.path(), ds, &second, &merge);
    let watcher = connect_to(&url).await;
    // crash as soon as the loader works on the dataset (bounded wait)
    let busy = "select count(*)::text from pg_stat_activity where state = 'active' \
                and pid <> pg_backend_pid() and query ilike '%crash_merge%'";
    let mut seen = false;
    for _ in 0..2000 {
        match watcher.simple_query(busy).await {
            Ok(rows) => {
                if contents_of(&rows) != "0" {
                    seen = true;
                    break;
                }
            }
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(seen, "the loader never ran a statement on the dataset");
    cluster.restart("immediate");
    let log = finish(child);
    assert!(
        log.contains("transient"),
        "the crash was not noticed: {log}"
    );
    let db = connect_to(&url).await;
    assert_eq!(
        contents(
            &db,
            &format!(
                "select count(*) || ' ' || count(distinct id) || ' ' || \
                 count(*) filter (where name like 'second%') from {ds}.items"
            )
        )
        .await,
        ["45000 45000 30000"]
    );
    // a row's tags are those of its last load only
    assert_eq!(
        contents(
            &db,
            &format!(
                "select count(*) || ' ' || count(distinct t._dlt_parent_id) from {ds}.items__tags t"
            )
        )
        .await,
        [format!("{} {}", 15_000 * 2 + 30_000, 45_000)]
    );
}

fn contents_of(rows: &[tokio_postgres::SimpleQueryMessage]) -> String {
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default()
}

/// A tmpfs mounted on a fresh folder, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount` syntax: `600k`, `64m`), or `None` when the
    /// caller asked to skip the mount tests; panics when mounting is not possible.
    fn mount(size: &str) -> Option<Tmpfs> {
        if std::env::var("DLT_RS_SKIP_MOUNT_TESTS").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED (DLT_RS_SKIP_MOUNT_TESTS=1): the pipelines-disk tests");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill the pipelines folder's disk, which needs \
             root (CAP_SYS_ADMIN); run the tests as root or set DLT_RS_SKIP_MOUNT_TESTS=1 to \
             skip it knowingly: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,OPTIONS`.
    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Runs `dlt-rs load FILE` into `ds` with its pipelines folder in `pipes`.
fn load(file: &Path, ds: &str, pipes: &Path, cwd: &Path) -> std::process::Output {
    let (f, p) = (
        file.to_string_lossy().to_string(),
        pipes.to_string_lossy().to_string(),
    );
    dlt_rs(&load_args(&f, ds, &pg_url(), &p), cwd)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The pipelines folder's disk fills up during extract (a tiny disk) or during normalize
/// (a bigger one): the run fails with the OS error and the path, loads nothing, and the
/// same command after space was freed loads every row once.
#[tokio::test]
async fn a_full_pipelines_disk_fails_clearly_and_the_rerun_loads_once() {
    let db = connect().await;
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("items.jsonl");
    std::fs::write(&file, records(0, 40_000)).unwrap();
    for size in ["200k", "3m"] {
        let ds = fresh_schema(&db, &format!("faults::disk_full_{size}")).await;
        let Some(disk) = Tmpfs::mount(size) else {
            return;
        };
        let pipes: PathBuf = disk.path().join("pipes");
        let out = load(&file, &ds, &pipes, data.path());
        let err = stderr(&out);
        assert!(!out.status.success(), "{size}: the run succeeded");
        assert!(
            err.contains("No space left on device") && err.contains(&*pipes.to_string_lossy()),
            "{size}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{size}: {err}");
        let loaded = contents(
            &db,
            &format!("select count(*)::text from information_schema.tables where table_schema = '{ds}' and table_name = 'items'"),
        )
        .await;
        assert_eq!(loaded, ["0"], "{size}: something was loaded");

        disk.remount("size=256m");
        let out = load(&file, &ds, &pipes, data.path());
        assert!(out.status.success(), "{size}: {}", stderr(&out));
        assert_eq!(counts(&db, &ds).await, ["40000 40000 80000"], "{size}");
    }
}

/// The pipelines folder is read-only: the run says so with the path and touches nothing;
/// once writable again the same command loads the new rows once.
#[tokio::test]
async fn a_read_only_pipelines_disk_fails_clearly_and_the_rerun_loads_once() {
    let db = connect().await;
    let ds = fresh_schema(&db, "faults::read_only").await;
    let Some(disk) = Tmpfs::mount("64m") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let pipes = disk.path().join("pipes");
    let first = data.path().join("first.jsonl");
    std::fs::write(&first, records(0, 1000)).unwrap();
    let out = load(&first, &ds, &pipes, data.path());
    assert!(out.status.success(), "{}", stderr(&out));

    disk.remount("ro");
    let second = data.path().join("second.jsonl");
    std::fs::write(&second, records(1000, 1000)).unwrap();
    let out = load(&second, &ds, &pipes, data.path());
    let err = stderr(&out);
    assert!(!out.status.success(), "the run succeeded");
    assert!(
        err.contains("Read-only file system") && err.contains(&*pipes.to_string_lossy()),
        "{err}"
    );
    assert_eq!(counts(&db, &ds).await, ["1000 1000 2000"]);

    disk.remount("rw");
    let out = load(&second, &ds, &pipes, data.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(counts(&db, &ds).await, ["2000 2000 4000"]);
}

/// Connection problems, each a one-line error that names the cause and never the password:
/// a wrong password, a missing database, a refused connection, a dataset the user may not
/// write to. On a private cluster with password (SCRAM) authentication.
#[tokio::test]
async fn connection_problems_are_one_line_errors_naming_the_cause() {
    let cluster = Cluster::start(&["password_encryption = 'scram-sha-256'"], |data| {
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
    });
    let admin = connect_to(&cluster.url()).await;
    admin
        .batch_execute(
            "create role loader login password 'Right-pw-42'; \
             create schema locked; create table locked.items (id bigint);",
        )
        .await
        .unwrap();
    let refused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // the listener is dropped: nothing answers there
    let port = cluster.port();
    let url = |user_pw: &str, port: u16, db: &str| {
        format!("postgresql://{user_pw}@127.0.0.1:{port}/{db}?connect_timeout=5")
    };
    let cases = [
        (
            url("loader:Wrong-pw-17", port, "postgres"),
            "locked",
            "password authentication failed for user \"loader\"",
        ),
        (
            url("loader:Right-pw-42", port, "no_such_db"),
            "locked",
            "database \"no_such_db\" does not exist",
        ),
        (
            url("loader:Right-pw-42", refused_port, "postgres"),
            "locked",
            "Connection refused",
        ),
        (
            url("loader:Right-pw-42", port, "postgres"),
            "locked",
            "permission denied for schema locked",
        ),
    ];
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("items.jsonl");
    std::fs::write(&file, records(0, 10)).unwrap();
    for (i, (url, ds, cause)) in cases.iter().enumerate() {
        let pipes = data.path().join(format!("pipes{i}"));
        let (f, p) = (
            file.to_string_lossy().to_string(),
            pipes.to_string_lossy().to_string(),
        );
        let out = dlt_rs(&load_args(&f, ds, url, &p), data.path());
        let err = stderr(&out);
        assert!(!out.status.success(), "case {i}: succeeded");
        assert!(err.contains(cause), "case {i}: want {cause:?} in {err}");
        assert_eq!(err.trim().lines().count(), 1, "case {i}: {err}");
        assert!(
            !err.contains("-pw-"),
            "case {i}: the password is printed: {err}"
        );
        if i < 3 {
            // a connection error names the server it tried
            assert!(err.contains("127.0.0.1:"), "case {i}: {err}");
        }
    }
    // nothing was created in the locked dataset
    let tables = contents(
        &admin,
        "select string_agg(table_name, ',') from information_schema.tables where table_schema = 'locked'",
    )
    .await;
    assert_eq!(tables, ["items"]);
}
