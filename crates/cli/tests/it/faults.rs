//! Faults outside the loader: PostgreSQL restarted (or crashed) mid-load, and the disk of
//! the pipelines folder full or read-only. Each ends with the exact rows of one clean run.
//!
//! The restart tests run their own cluster (`test_support::cluster`), since restarting the
//! shared server would break the other tests. The disk tests mount a small tmpfs, which
//! needs root (CAP_SYS_ADMIN); without it they fail saying so, unless
//! `DLT_RS_SKIP_MOUNT_TESTS=1` asks to skip them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
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

/// What `items` of `ds` holds compared with the [`records`] `0..n`: rows, distinct ids,
/// lowest and highest id, rows whose name is their record's; child rows, child rows whose
/// value and position are their parent record's.
async fn records_check(db: &tokio_postgres::Client, ds: &str) -> Vec<String> {
    contents(
        db,
        &format!(
            "select (select count(*) || ' ' || count(distinct id) || ' ' || min(id) || ' ' || \
             max(id) || ' ' || count(*) filter (where name = 'n' || id) from {ds}.items) \
             || ' ' || (select count(*) || ' ' || count(*) filter (where t.value = \
             case t._dlt_list_idx when 0 then 'a' when 1 then 'b' end || i.id) \
             from {ds}.items__tags t left join {ds}.items i on i._dlt_id = t._dlt_parent_id)"
        ),
    )
    .await
}

/// How long a bounded wait for a server state may take before the test fails.
const WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits until some backend waits for a lock on a table of schema `ds` and returns the
/// waiting backends' pids; panics, saying so, after [`WAIT_LIMIT`].
async fn blocked_on(db: &tokio_postgres::Client, ds: &str) -> Vec<String> {
    let sql = format!(
        "select distinct l.pid::text from pg_locks l join pg_class c on c.oid = l.relation \
         join pg_namespace n on n.oid = c.relnamespace where not l.granted and n.nspname = '{ds}'"
    );
    let start = std::time::Instant::now();
    loop {
        let pids = contents(db, &sql).await;
        if !pids.is_empty() {
            return pids;
        }
        assert!(
            start.elapsed() < WAIT_LIMIT,
            "no backend waited for the lock on a table of `{ds}` within {WAIT_LIMIT:?}: the \
             loader never reached the locked table"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `pg_postmaster_start_time()`, as text.
async fn server_start(db: &tokio_postgres::Client) -> String {
    contents(db, "select pg_postmaster_start_time()::text")
        .await
        .concat()
}

/// The server is restarted (`immediate`: a crash and recovery) while the loader's
/// transaction waits inside the server for a lock the test holds: the run survives it (the
/// job's and the package's transient retries) and every row is there once. With load
/// sessions while normalizing and without.
///
/// That the restart cut the loader's transaction is shown by outcomes, not by the log:
/// the server's start time changed, the session that held the lock is gone (so the loader
/// could not commit before the restart), and so is the backend that waited for it.
#[tokio::test]
async fn a_server_restart_mid_load_is_survived_and_every_row_loads_once() {
    let cluster = Cluster::start(&[], |_| {});
    let url = cluster.url();
    for (overlap, mode) in [("true", "immediate"), ("false", "fast")] {
        let ctx = format!("overlap {overlap}, restart -m {mode}");
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
        let started = server_start(&watcher).await;
        let waiting = blocked_on(&watcher, &ds).await;
        cluster.restart(mode);
        finish(child);

        let db_after = connect_to(&url).await;
        assert_ne!(server_start(&db_after).await, started, "{ctx}: no restart");
        assert!(
            db.simple_query("select 1").await.is_err(),
            "{ctx}: the session holding the lock survived the restart"
        );
        let alive = contents(
            &db_after,
            &format!(
                "select pid::text from pg_stat_activity where pid in ({})",
                waiting.join(",")
            ),
        )
        .await;
        assert_eq!(
            alive,
            Vec::<String>::new(),
            "{ctx}: the waiting backend survived"
        );
        assert_eq!(
            records_check(&db_after, &ds).await,
            ["20001 20001 0 20000 20001 40002 40002"],
            "{ctx}"
        );
        assert_eq!(
            loads_check(&db_after, &ds).await,
            ["2 2 2 0"],
            "{ctx}: _dlt_loads (rows, load ids, status 0; root rows of other loads)"
        );
    }
}

/// A merge cut by a crash of the server inside its follow-up transaction, after the
/// follow-up deleted the updated rows' child rows and while it waits to delete the rows
/// themselves (the test holds a `share` lock on `items`, which lets the follow-up read it
/// but not write it): the same run ends with the rows of one clean merge.
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
    let db = connect_to(&url).await;
    db.batch_execute(&format!("begin; lock table {ds}.items in share mode"))
        .await
        .unwrap();
    // the second run updates half of the rows and adds as many
    let second: String = (15_000..45_000u64)
        .map(|i| format!("{{\"id\": {i}, \"name\": \"second{i}\", \"tags\": [\"c{i}\"]}}\n"))
        .collect();
    let child = spawn_load_to(&url, dir.path(), ds, &second, &merge);
    let watcher = connect_to(&url).await;
    let started = server_start(&watcher).await;
    blocked_on(&watcher, ds).await;
    cluster.restart("immediate");
    finish(child);

    let db_after = connect_to(&url).await;
    assert_ne!(server_start(&db_after).await, started, "no restart");
    assert!(
        db.simple_query("select 1").await.is_err(),
        "the session holding the lock survived the crash"
    );
    assert_eq!(
        contents(
            &db_after,
            &format!(
                "select count(*) || ' ' || count(distinct id) || ' ' || min(id) || ' ' || \
                 max(id) || ' ' || count(*) filter (where name = case when id < 15000 \
                 then 'n' else 'second' end || id) from {ds}.items"
            )
        )
        .await,
        ["45000 45000 0 44999 45000"]
    );
    // a row's tags are those of its last load only
    assert_eq!(
        contents(
            &db_after,
            &format!(
                "select count(*) || ' ' || count(distinct t._dlt_parent_id) || ' ' || \
                 count(*) filter (where t.value = case when i.id >= 15000 then 'c' \
                 when t._dlt_list_idx = 0 then 'a' else 'b' end || i.id) \
                 from {ds}.items__tags t left join {ds}.items i on i._dlt_id = t._dlt_parent_id"
            )
        )
        .await,
        [format!("{0} 45000 {0}", 15_000 * 2 + 30_000)]
    );
    assert_eq!(loads_check(&db_after, ds).await, ["2 2 2 0"], "_dlt_loads");
}

/// splitmix64: a small deterministic generator for the seeded crash tests.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A number from environment variable `name`, `default` when unset.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        _ => default,
    }
}

/// Rows of the first load of the random-crash merge: ids `0..RANDOM_ROWS`.
const RANDOM_ROWS: u64 = 20_000;

/// The second load of the random-crash merge: updates the upper half of the first load's
/// ids and adds as many new ones; the lists change length (one element for even ids,
/// three for odd ones) and content.
fn second_merge_records() -> String {
    (RANDOM_ROWS / 2..RANDOM_ROWS / 2 + RANDOM_ROWS)
        .map(|i| {
            let tags = if i % 2 == 0 {
                format!("[\"c{i}\"]")
            } else {
                format!("[\"c{i}\", \"d{i}\", \"e{i}\"]")
            };
            format!("{{\"id\": {i}, \"name\": \"second{i}\", \"tags\": {tags}}}\n")
        })
        .collect()
}

/// Rows of `ds` as comparable values: `items` as (id, name, the position of its load among
/// the dataset's loads), `items__tags` as (the parent's id, position, value); orphaned
/// child rows have a NULL parent id.
fn comparable(ds: &str, table: &str) -> String {
    match table {
        "items" => format!(
            "select i.id, i.name, (select count(*) from {ds}._dlt_loads l \
             where l.load_id <= i._dlt_load_id) as load_no from {ds}.items i"
        ),
        _ => format!(
            "select i.id, t._dlt_list_idx, t.value from {ds}.items__tags t \
             left join {ds}.items i on i._dlt_id = t._dlt_parent_id"
        ),
    }
}

/// The rows that differ between `items` (and `items__tags`) of `ds` and of `reference`, in
/// both directions and counting duplicates (`EXCEPT ALL`), at most 10 of each table.
async fn differences(db: &tokio_postgres::Client, ds: &str, reference: &str) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["items", "items__tags"] {
        let (a, r) = (comparable(ds, table), comparable(reference, table));
        out.extend(
            contents(
                db,
                &format!(
                    "select * from (select '{table} missing' as d, * from ({r} except all {a}) m \
                     union all select '{table} extra', * from ({a} except all {r}) e) x \
                     order by 2, 1 limit 10"
                ),
            )
            .await,
        );
    }
    out
}

/// `_dlt_loads` of `ds`: rows, distinct load ids, rows with status 0; and the root rows
/// whose load id is not among them.
async fn loads_check(db: &tokio_postgres::Client, ds: &str) -> Vec<String> {
    contents(
        db,
        &format!(
            "select (select count(*) || ' ' || count(distinct load_id) || ' ' || \
             count(*) filter (where status = 0) from {ds}._dlt_loads) || ' ' || \
             (select count(*) from {ds}.items where _dlt_load_id not in \
             (select load_id from {ds}._dlt_loads))"
        ),
    )
    .await
}

/// The server's `clock_timestamp()`, as text.
async fn server_now(db: &tokio_postgres::Client) -> String {
    contents(db, "select clock_timestamp()::text")
        .await
        .concat()
}

/// The client sessions other than the caller's that started after `since`: the loader's
/// (a previous run's may linger), as `state: start of the last statement`.
fn loader_sessions(since: &str) -> String {
    format!(
        "select coalesce(string_agg(state || ': ' || left(query, 70), '; '), '') \
         from pg_stat_activity where backend_type = 'client backend' \
         and pid <> pg_backend_pid() and backend_start > '{since}'::timestamptz"
    )
}

/// Waits until the loader started after `since` has run a statement on the server (a
/// session's last statement stays in `pg_stat_activity`, so none is missed) or has
/// finished; panics, naming `what`, after [`WAIT_LIMIT`].
async fn wait_active(
    watcher: &tokio_postgres::Client,
    since: &str,
    child: &mut std::process::Child,
    what: &str,
) {
    let sql = format!(
        "select count(*)::text from pg_stat_activity where backend_type = 'client backend' \
         and pid <> pg_backend_pid() and backend_start > '{since}'::timestamptz and query <> ''"
    );
    let start = std::time::Instant::now();
    while contents(watcher, &sql).await == ["0"] && child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < WAIT_LIMIT,
            "{what}: the loader ran no statement within {WAIT_LIMIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// A merge cut by a server crash (`pg_ctl restart -m immediate`) at random moments: each
/// iteration merges a first load (nested lists) into a new dataset, starts the second
/// merge (half of the rows updated, as many added, the lists changed), and crashes the
/// server a seeded random delay after the loader's first statement: 0 to 110 % of the time
/// a clean second merge works on the server (measured on the reference), so the crashes fall
/// into every phase of the run (schema, staging jobs, the merge follow-up, `_dlt_loads`)
/// and, now and then, after it. The loader must finish by itself; should it fail (its retries
/// outlasted), the same command again must finish. Either way the dataset must hold
/// exactly what two clean runs of the same files load into a reference dataset (compared
/// with `EXCEPT ALL` both ways: each id once, updated values, the child rows of the last
/// load only), and `_dlt_loads` one row with status 0 per load.
///
/// `DLT_RS_CRASH_SEED` (default 20261124) and `DLT_RS_CRASH_ITERATIONS` (default 4) choose
/// the run; the moment a delay lands on depends on the machine's speed, so a seed repeats
/// the delays, not the exact statement the crash cut.
#[tokio::test]
async fn a_server_crash_at_random_moments_of_a_merge_ends_with_the_merged_rows() {
    let seed = env_number("DLT_RS_CRASH_SEED", 20_261_124);
    let iterations = env_number("DLT_RS_CRASH_ITERATIONS", 4);
    let mut rng = SplitMix64(seed);
    let cluster = Cluster::start(&[], |_| {});
    let url = cluster.url();
    let merge = ["--write-disposition", "merge", "--primary-key", "id"];
    let (first, second) = (records(0, RANDOM_ROWS), second_merge_records());

    let reference = "crash_reference";
    let ref_dir = tempfile::tempdir().unwrap();
    finish(spawn_load_to(
        &url,
        ref_dir.path(),
        reference,
        &first,
        &merge,
    ));
    // how long a clean second merge works on the server: from its first statement to its end
    let watcher = connect_to(&url).await;
    let since = server_now(&watcher).await;
    let mut child = spawn_load_to(&url, ref_dir.path(), reference, &second, &merge);
    wait_active(&watcher, &since, &mut child, "the reference merge").await;
    let clock = std::time::Instant::now();
    finish(child);
    let clean = clock.elapsed();
    drop(watcher);
    let db = connect_to(&url).await;
    let n = RANDOM_ROWS;
    assert_eq!(
        contents(
            &db,
            &format!(
                "select count(*) || ' ' || count(distinct id) || ' ' || \
                 count(*) filter (where name like 'second%') from {reference}.items"
            )
        )
        .await,
        [format!("{} {} {}", n * 3 / 2, n * 3 / 2, n)],
        "the reference merge"
    );
    assert_eq!(
        counts(&db, reference).await,
        [format!(
            "{0} {0} {1}",
            n * 3 / 2,
            n / 2 * 2 + n / 2 + n / 2 * 3
        )],
        "the reference merge"
    );
    assert_eq!(loads_check(&db, reference).await, ["2 2 2 0"]);
    drop(db);

    let (mut hit, mut failed) = (0, 0);
    for iteration in 0..iterations {
        let delay = clean.mul_f64((rng.next() % 1101) as f64 / 1000.0);
        let ctx = format!(
            "DLT_RS_CRASH_SEED={seed}, iteration {iteration}, crash {delay:?} after the \
             loader's first statement"
        );
        let ds = format!("crash_random_{iteration}");
        let dir = tempfile::tempdir().unwrap();
        finish(spawn_load_to(&url, dir.path(), &ds, &first, &merge));

        let watcher = connect_to(&url).await;
        let since = server_now(&watcher).await;
        let mut child = spawn_load_to(&url, dir.path(), &ds, &second, &merge);
        wait_active(&watcher, &since, &mut child, &ctx).await;
        // the experiment's randomness, not a synchronisation: any moment must do
        tokio::time::sleep(delay).await;
        let running = child.try_wait().unwrap().is_none();
        // what the loader was doing, for the report only
        let doing = contents(&watcher, &loader_sessions(&since)).await.concat();
        cluster.restart("immediate");
        let out = child.wait_with_output().unwrap();
        if running {
            hit += 1;
        }
        eprintln!(
            "{ctx}: loader running: {running}, exit: {}; at the crash: {doing}",
            out.status
        );
        if !out.status.success() {
            failed += 1;
            eprintln!(
                "{ctx}: the run failed, running it again: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            finish(spawn_load_to(&url, dir.path(), &ds, &second, &merge));
        }

        let db = connect_to(&url).await;
        assert_eq!(
            differences(&db, &ds, reference).await,
            Vec::<String>::new(),
            "{ctx}: rows differ from one clean merge (loader running at the crash: {running})"
        );
        assert_eq!(
            loads_check(&db, &ds).await,
            ["2 2 2 0"],
            "{ctx}: _dlt_loads (rows, load ids, status 0; root rows of other loads)"
        );
    }
    eprintln!(
        "DLT_RS_CRASH_SEED={seed}: {iterations} iterations, {hit} crashes while the loader ran \
         (a clean second merge takes {clean:?}), {failed} runs failed and were run again"
    );
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
        // one error line; a run longer than 5 s (40,000 items on a busy machine: the other
        // tests of this binary run at the same time) prints plain progress lines before it
        let lines = err.trim().lines().filter(|l| !l.starts_with("progress: "));
        assert_eq!(lines.count(), 1, "{size}: {err}");
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

/// A run that finds a package a crash left extracted (not yet normalized) normalizes it and
/// then its own data, both while loading: when both merge into one table, the second
/// package's load sessions empty and refill the staging tables the first one's filled. The
/// first package must then load its staging again from its job files, or its rows are lost
/// (its merge took the second package's rows).
#[tokio::test]
async fn a_pending_package_and_new_data_merging_into_one_table_keep_both() {
    let db = connect().await;
    let ds = fresh_schema(&db, "faults::pending_and_new_merge").await;
    let dir = tempfile::tempdir().unwrap();
    let pipes = dir.path().join("pipes").to_string_lossy().to_string();
    let url = pg_url();
    let records = |from: u64, tag: &str| -> String {
        (from..from + 1000)
            .map(|i| {
                format!("{{\"id\": {i}, \"v\": \"{tag}{i}\", \"kids\": [\"{tag}\", \"k{i}\"]}}\n")
            })
            .collect()
    };
    let run = |name: &str, rows: String, fault: Option<&str>| {
        let file = dir.path().join(name);
        std::fs::write(&file, rows).unwrap();
        let file = file.to_string_lossy().to_string();
        let mut args = load_args(&file, &ds, &url, &pipes);
        args.extend_from_slice(&["--write-disposition", "merge", "--primary-key", "id"]);
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .current_dir(dir.path())
            .env("HOME", dir.path());
        if let Some(point) = fault {
            cmd.env("DLT_RS_FAULT", point);
        }
        cmd.output().unwrap()
    };
    let first = run("zero.jsonl", records(0, "zero"), None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let crashed = run("one.jsonl", records(0, "one"), Some("extracted-published"));
    assert!(!crashed.status.success(), "the crash point was not reached");
    // another input: the pending package of `one` is finished, then `two` loads
    let last = run("two.jsonl", records(1000, "two"), None);
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    let summary = contents(
        &db,
        &format!(
            "select count(*) || ' ' || count(distinct id) || ' ' || \
             count(*) filter (where v = 'one' || id and id < 1000) || ' ' || \
             count(*) filter (where v = 'two' || id and id >= 1000) || ' ' || \
             (select count(*) || '/' || count(*) filter (where value in ('one', 'two')) \
              from {ds}.items__kids) from {ds}.items"
        ),
    )
    .await;
    assert_eq!(summary, ["2000 2000 1000 1000 4000/2000"]);
}
