//! The `dlt-rs` binary against a real PostgreSQL: dlt conformance cases, input formats,
//! bad input and configuration errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use test_support::{connect, fresh_schema, pg_url, query_rows};

use crate::common::*;

/// Every case of the corpus: its `expected/*.json` files.
fn cases(shared: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(shared.join("conformance/expected"))
        .expect("the conformance corpus is readable")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 17,
        "expected the whole corpus, found {names:?}"
    );
    names
}

fn shared_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    assert!(
        root.join("conformance/check.py").exists(),
        "the shared folder with the conformance corpus must sit beside the repository (looked in {})",
        root.display()
    );
    root
}

#[test]
fn postgres_is_registered_in_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dlt_rs(&["destinations"], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("postgres\t")), "{text}");
}

/// Runs the conformance checker on every case, with `extra` flags for every load.
fn check_conformance(extra: &str) {
    let shared = shared_dir();
    let cases = cases(&shared);
    let out = Command::new("python3")
        .arg(shared.join("conformance/check.py"))
        .arg(pg_url())
        .arg(shared.join("conformance/cases"))
        .arg(shared.join("conformance/expected"))
        .arg(BIN)
        .args(&cases)
        .env("CONFORMANCE_EXTRA_FLAGS", extra)
        .output()
        .expect("python3 runs the conformance checker");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    let want = format!("conformance: {n}/{n} cases match", n = cases.len());
    assert!(out.status.success() && text.contains(&want), "{text}");
}

/// Every format in one test: the checker names its schemas after the cases, so two runs
/// at once would load into the same schemas.
#[test]
fn conformance_cases_match_dlt_with_every_file_format() {
    check_conformance("[]");
    check_conformance(r#"["--loader-file-format", "csv"]"#);
    check_conformance(r#"["--loader-file-format", "parquet"]"#);
}

#[tokio::test]
async fn gzip_and_json_array_files_load() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::gzip_and_json_array_files_load").await;
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("a.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(b"{\"id\": 1}\n\n{\"id\": 2}\n").unwrap();
    enc.finish().unwrap();
    let arr = dir.path().join("b.json");
    std::fs::write(&arr, "  [{\"id\": 3, \"l\": [1]}, {\"id\": 4}]").unwrap();
    let url = pg_url();
    let pipes = dir.path().join("pipes");
    let (gz_s, arr_s, pipes_s) = (
        gz.to_string_lossy(),
        arr.to_string_lossy(),
        pipes.to_string_lossy(),
    );
    let mut args = load_args(&gz_s, &ds, &url, &pipes_s);
    args.insert(2, &arr_s);
    let out = dlt_rs(&args, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = query_rows(&db, &format!("select id::text from {ds}.items order by id")).await;
    let ids: Vec<String> = got
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    let child = query_rows(&db, &format!("select count(*)::text from {ds}.items__l")).await;
    assert_eq!(child, [[Some("1".to_string())]]);
}

#[tokio::test]
async fn a_malformed_line_names_file_and_line_and_loads_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::malformed_line_loads_nothing").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3,\n{\"id\": 4}\n",
    )
    .unwrap();
    let url = pg_url();
    let pipes = dir.path().join("pipes");
    let (f, p) = (file.to_string_lossy(), pipes.to_string_lossy());
    let out = dlt_rs(&load_args(&f, &ds, &url, &p), dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl, line 3: malformed JSON"), "{err}");
    let tables = query_rows(
        &db,
        &format!(
            "select count(*)::text from information_schema.tables where table_schema = '{ds}'"
        ),
    )
    .await;
    assert_eq!(tables, [[Some("0".to_string())]]);

    // fixed input loads, and nothing of the failed run comes with it
    std::fs::write(&file, "{\"id\": 1}\n{\"id\": 2}\n").unwrap();
    let out = dlt_rs(&load_args(&f, &ds, &url, &p), dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = query_rows(&db, &format!("select count(*)::text from {ds}.items")).await;
    assert_eq!(n, [[Some("2".to_string())]]);
}

#[test]
fn missing_credentials_list_every_key_tried() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.jsonl");
    std::fs::write(&file, "{\"id\": 1}\n").unwrap();
    let f = file.to_string_lossy();
    let out = dlt_rs(
        &[
            "load",
            &f,
            "--pipeline",
            "p",
            "--pipelines-dir",
            &f,
            "--table",
            "t",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "DESTINATION__POSTGRES__CREDENTIALS__DATABASE",
        "destination.postgres.credentials.host",
        "CREDENTIALS__USERNAME",
    ] {
        assert!(err.contains(key), "{key} missing in: {err}");
    }
}

#[test]
fn credentials_from_secrets_toml_and_a_wrong_password_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".dlt")).unwrap();
    std::fs::write(
        dir.path().join(".dlt/secrets.toml"),
        "[destination.postgres.credentials]\ndatabase = \"no_such_db_dltrs\"\nusername = \"postgres\"\n\
         password = \"s3cr3t-pw\"\nhost = \"127.0.0.1\"\nport = 1\nconnect_timeout = 2\n",
    )
    .unwrap();
    let file = dir.path().join("x.jsonl");
    std::fs::write(&file, "{\"id\": 1}\n").unwrap();
    let f = file.to_string_lossy();
    let pipes = dir.path().join("pipes");
    let p = pipes.to_string_lossy();
    let out = dlt_rs(
        &[
            "load",
            &f,
            "--pipeline",
            "p",
            "--pipelines-dir",
            &p,
            "--table",
            "t",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1/no_such_db_dltrs"), "{err}");
    assert!(!err.contains("s3cr3t-pw"), "{err}");
}

#[tokio::test]
async fn credentials_from_the_environment_and_workers_from_config_toml() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::credentials_from_the_environment").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".dlt")).unwrap();
    std::fs::write(dir.path().join(".dlt/config.toml"), "[load]\nworkers = 2\n").unwrap();
    let file = dir.path().join("x.jsonl");
    std::fs::write(&file, "{\"id\": 1}\n").unwrap();
    let f = file.to_string_lossy();
    let pipes = dir.path().join("pipes");
    let p = pipes.to_string_lossy();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "load",
        &f,
        "--pipeline",
        &ds,
        "--pipelines-dir",
        &p,
        "--dataset",
        &ds,
        "--table",
        "t",
    ])
    .current_dir(dir.path())
    .env("HOME", dir.path())
    .env("DESTINATION__POSTGRES__CREDENTIALS", pg_url());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = query_rows(&db, &format!("select count(*)::text from {ds}.t")).await;
    assert_eq!(n, [[Some("1".to_string())]]);
}

#[allow(clippy::too_many_arguments)]
/// Kills the loader while its transaction waits on a lock the test holds on `locked`,
/// checks that `check` still shows `before`, then re-runs and checks `after`.
async fn killed_midway_keeps_previous_content(
    test: &str,
    extra: &[&str],
    run1: &str,
    run2: &str,
    lock: &str,
    check: &str,
    before: &[&str],
    after: &[&str],
) {
    let db = connect().await;
    let ds = fresh_schema(&db, test).await;
    let dir = tempfile::tempdir().unwrap();
    finish(spawn_load(dir.path(), &ds, run1, extra));
    let check = check.replace("{ds}", &ds);
    assert_eq!(contents(&db, &check).await, before);

    let locker = connect().await;
    locker
        .batch_execute(&format!("BEGIN; {}", lock.replace("{ds}", &ds)))
        .await
        .unwrap();
    let mut child = spawn_load(dir.path(), &ds, run2, extra);
    wait_for_blocked_loader(&db, &ds).await;
    child.kill().unwrap();
    child.wait().unwrap();
    locker.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        contents(&db, &check).await,
        before,
        "a killed load changed the tables"
    );

    // the next run finishes the interrupted package, then loads its own data
    finish(spawn_load(dir.path(), &ds, run2, extra));
    assert_eq!(contents(&db, &check).await, after);
}

#[tokio::test]
async fn a_replace_killed_midway_keeps_the_previous_content() {
    killed_midway_keeps_previous_content(
        "cli::replace_killed_midway",
        &["--write-disposition", "replace"],
        "{\"id\": 1, \"kids\": [{\"k\": 1}]}\n{\"id\": 2}\n",
        "{\"id\": 3, \"kids\": [{\"k\": 3}, {\"k\": 4}]}\n",
        "LOCK TABLE {ds}.items__kids IN ACCESS SHARE MODE",
        "select i.id::text, coalesce(string_agg(k.k::text, ',' order by k.k), '') from {ds}.items i \
         left join {ds}.items__kids k on k._dlt_parent_id = i._dlt_id group by i.id order by i.id",
        &["1|1", "2|"],
        &["3|3,4"],
    )
    .await;
}

#[tokio::test]
async fn a_merge_killed_midway_keeps_the_previous_content() {
    killed_midway_keeps_previous_content(
        "cli::merge_killed_midway",
        &["--write-disposition", "merge", "--primary-key", "id"],
        "{\"id\": 1, \"v\": \"a\", \"kids\": [{\"k\": 1}]}\n{\"id\": 2, \"v\": \"b\"}\n",
        "{\"id\": 1, \"v\": \"a2\", \"kids\": [{\"k\": 3}, {\"k\": 4}]}\n{\"id\": 5, \"v\": \"e\"}\n",
        // blocks the DELETE on the root, after the nested rows were deleted
        "LOCK TABLE {ds}.items IN SHARE MODE",
        "select i.id::text, i.v, coalesce(string_agg(k.k::text, ',' order by k.k), '') from {ds}.items i \
         left join {ds}.items__kids k on k._dlt_root_id = i._dlt_id group by i.id, i.v order by i.id",
        &["1|a|1", "2|b|"],
        &["1|a2|3,4", "2|b|", "5|e|"],
    )
    .await;
}

#[tokio::test]
async fn a_merge_run_again_with_the_same_data_changes_nothing() {
    let db = connect().await;
    for (strategy, name) in [
        ("delete-insert", "cli::merge_rerun_delete_insert"),
        ("upsert", "cli::merge_rerun_upsert"),
    ] {
        let ds = fresh_schema(&db, name).await;
        let dir = tempfile::tempdir().unwrap();
        let data = "{\"id\": 1, \"v\": \"a\", \"kids\": [1, 2]}\n{\"id\": 2, \"v\": \"b\", \"kids\": []}\n{\"id\": 1, \"v\": \"a\", \"kids\": [1, 2]}\n";
        let extra = [
            "--write-disposition",
            "merge",
            "--merge-strategy",
            strategy,
            "--primary-key",
            "id",
        ];
        let snapshot = format!(
            "select i.id::text, i.v, coalesce(string_agg(k.value::text, ',' order by k.value), '') \
             from {ds}.items i left join {ds}.items__kids k on k._dlt_parent_id = i._dlt_id \
             group by i.id, i.v order by i.id"
        );
        finish(spawn_load(dir.path(), &ds, data, &extra));
        let first = contents(&db, &snapshot).await;
        assert_eq!(first, ["1|a|1,2", "2|b|"], "{strategy}");
        finish(spawn_load(dir.path(), &ds, data, &extra));
        assert_eq!(contents(&db, &snapshot).await, first, "{strategy}");
        let counts = contents(
            &db,
            &format!("select (select count(*) from {ds}.items)::text, (select count(*) from {ds}.items__kids)::text"),
        )
        .await;
        assert_eq!(counts, ["2|2"], "{strategy}");
    }
}

#[tokio::test]
async fn configured_replace_strategy_and_an_empty_replace_clears_the_chain() {
    let db = connect().await;
    for strategy in [
        "truncate-and-insert",
        "insert-from-staging",
        "staging-optimized",
    ] {
        let ds = fresh_schema(&db, &format!("cli::empty_replace_{strategy}")).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".dlt")).unwrap();
        std::fs::write(
            dir.path().join(".dlt/config.toml"),
            format!("[destination]\nreplace_strategy = \"{strategy}\"\n"),
        )
        .unwrap();
        let replace = ["--write-disposition", "replace"];
        finish(spawn_load(
            dir.path(),
            &ds,
            "{\"id\": 1, \"kids\": [{\"k\": 1}]}\n",
            &replace,
        ));
        finish(spawn_load(dir.path(), &ds, "", &replace));
        let counts = contents(
            &db,
            &format!(
                "select (select count(*) from {ds}.items)::text, (select count(*) from {ds}.items__kids)::text, \
                 (select count(*) from information_schema.schemata where schema_name = '{ds}_staging')::text"
            ),
        )
        .await;
        // the staging schema exists for every strategy: it holds the job ledger
        assert_eq!(counts, ["0|0|1"], "{strategy}");
    }
}

/// A crash right after rows committed, before the pipeline recorded it (the job file still
/// in `new_jobs`): running the same command again finishes the pending package (it does
/// not read the same files again) and does not load those rows again. dlt loses exactly
/// this case (it re-runs the job). Jobs loaded after normalizing (`job-committed`) and sessions
/// loaded while normalizing (`session-committed`); append and merge.
#[tokio::test]
async fn a_crash_between_commit_and_bookkeeping_loads_nothing_twice() {
    let db = connect().await;
    let rows: String = (1..=3000)
        .map(|i| format!("{{\"id\": {i}, \"kids\": [{i}, {}]}}\n", i + 1))
        .collect();
    let cases: [(&str, &str, &[&str]); 8] = [
        ("normalized-published", "true", &[]),
        ("normalized-published", "false", &[]),
        ("job-committed", "false", &[]),
        ("session-committed", "true", &[]),
        ("load-recorded", "true", &[]),
        (
            "load-recorded",
            "false",
            &["--write-disposition", "merge", "--primary-key", "id"],
        ),
        (
            "job-committed",
            "false",
            &["--write-disposition", "merge", "--primary-key", "id"],
        ),
        (
            "session-committed",
            "true",
            &["--write-disposition", "merge", "--primary-key", "id"],
        ),
    ];
    for (i, (point, overlap, extra)) in cases.into_iter().enumerate() {
        let ds = fresh_schema(&db, &format!("cli::crash_after_commit_{i}")).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.jsonl");
        std::fs::write(&file, &rows).unwrap();
        let (url, p, input) = (
            pg_url(),
            dir.path().join("pipes").to_string_lossy().to_string(),
            file.to_string_lossy().to_string(),
        );
        let run = |fault: Option<&str>| {
            let mut args = load_args(&input, &ds, &url, &p);
            args.extend_from_slice(extra);
            let mut cmd = Command::new(BIN);
            cmd.args(&args)
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .env("LOAD__OVERLAP", overlap);
            if let Some(point) = fault {
                cmd.env("DLT_RS_FAULT", point);
            }
            cmd.output().unwrap()
        };
        let crashed = run(Some(point));
        let stderr = String::from_utf8_lossy(&crashed.stderr);
        assert!(
            !crashed.status.success() && stderr.contains("aborting at"),
            "case {i}: {stderr}"
        );
        let again = run(None);
        assert!(
            again.status.success(),
            "case {i}: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        let counts = contents(
            &db,
            &format!(
                "select (select count(*) from {ds}.items)::text || ' ' || \
                 (select count(distinct id) from {ds}.items)::text || ' ' || \
                 (select count(*) from {ds}.items__kids)::text"
            ),
        )
        .await;
        assert_eq!(counts, ["3000 3000 6000"], "case {i}: {point} {extra:?}");
        let loads = contents(
            &db,
            &format!("select count(*) || ' ' || count(distinct load_id) from {ds}._dlt_loads"),
        )
        .await;
        assert_eq!(loads, ["1 1"], "case {i}: {point} {extra:?}");
    }
}

/// Nested records for the kill tests: `id`, a name, 0–3 `commits` with an author, 0–2
/// `labels`.
fn chaos_rows(n: u64) -> String {
    (1..=n)
        .map(|i| {
            let commits: Vec<String> = (0..i % 4)
                .map(|c| format!("{{\"sha\": \"{i}-{c}\", \"author\": {{\"name\": \"a{c}\"}}}}"))
                .collect();
            let labels: Vec<String> = (0..i % 3).map(|l| format!("\"l{l}\"")).collect();
            format!(
                "{{\"id\": {i}, \"name\": \"n{i}\", \"payload\": {{\"commits\": [{}]}}, \"labels\": [{}]}}\n",
                commits.join(", "),
                labels.join(", ")
            )
        })
        .collect()
}

/// What the kill tests compare: per table, the row count and a digest of the data linked
/// to the root `id` (the `_dlt_id`s are random per run).
async fn chaos_digest(db: &tokio_postgres::Client, ds: &str) -> Vec<String> {
    contents(
        db,
        &format!(
            "select * from (select 'items', count(*)::text, md5(string_agg(id::text || name, ',' order by id)) from {ds}.items \
             union all \
             select 'commits', count(*)::text, md5(string_agg(p.id::text || c.sha || c.author__name || c._dlt_list_idx::text, ',' order by c.sha)) \
               from {ds}.items__payload__commits c join {ds}.items p on p._dlt_id = c._dlt_parent_id \
             union all \
             select 'labels', count(*)::text, md5(string_agg(p.id::text || l.value || l._dlt_list_idx::text, ',' order by p.id, l._dlt_list_idx)) \
               from {ds}.items__labels l join {ds}.items p on p._dlt_id = l._dlt_parent_id) t order by 1"
        ),
    )
    .await
}

/// `kill -9` of the loader at seeded random moments (anywhere from start-up to the last
/// commit), then the same command again: every table ends with exactly the rows of one
/// uninterrupted run. `DLT_RS_CHAOS_ITERATIONS` (default 6), `DLT_RS_CHAOS_ROWS` (default
/// 10000 nested records) and `DLT_RS_CHAOS_SEED` (default 42) scale it:
/// `DLT_RS_CHAOS_ITERATIONS=50 DLT_RS_CHAOS_ROWS=300000` is the long run of
/// docs/reliability.md.
#[tokio::test]
async fn killed_at_random_moments_and_run_again_loads_every_row_once() {
    use rand::{Rng, SeedableRng};
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (iterations, n, seed) = (
        env("DLT_RS_CHAOS_ITERATIONS", 6),
        env("DLT_RS_CHAOS_ROWS", 10_000),
        env("DLT_RS_CHAOS_SEED", 42),
    );
    let db = connect().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, chaos_rows(n)).unwrap();
    let input = file.to_string_lossy().to_string();
    let url = pg_url();
    let command = |ds: &str, pipes: &Path| {
        let p = pipes.to_string_lossy().to_string();
        let mut cmd = Command::new(BIN);
        cmd.args(load_args(&input, ds, &url, &p))
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    // one uninterrupted run: the expected contents and how long a run takes
    let reference = fresh_schema(&db, "cli::chaos_reference").await;
    let started = std::time::Instant::now();
    let out = command(&reference, &dir.path().join("ref"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let duration = started.elapsed();
    let expected = chaos_digest(&db, &reference).await;

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut killed_midway = 0;
    for i in 0..iterations {
        let ds = fresh_schema(&db, &format!("cli::chaos_{i}")).await;
        let pipes = dir.path().join(format!("p{i}"));
        let delay = duration.mul_f64(rng.gen_range(0.0..1.1));
        let mut child = command(&ds, &pipes).spawn().unwrap();
        // the kill moment, not a synchronisation: the run may also have finished by then
        std::thread::sleep(delay);
        let _ = child.kill();
        let killed = child.wait_with_output().unwrap();
        // a run that finished before the kill is complete: running it again would load
        // the files a second time, by design (as `dlt` would)
        if !killed.status.success() {
            killed_midway += 1;
            let out = command(&ds, &pipes).output().unwrap();
            assert!(
                out.status.success(),
                "iteration {i} (seed {seed}, killed after {delay:?}, {}): {}",
                killed.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(
            chaos_digest(&db, &ds).await,
            expected,
            "iteration {i} (seed {seed}, killed after {delay:?}, {})",
            killed.status
        );
    }
    eprintln!(
        "{iterations} iterations of {n} records (seed {seed}): {killed_midway} killed midway \
         and run again, all with the reference contents"
    );
}

/// The loader's backend is terminated (`pg_terminate_backend`) while it waits inside its
/// transaction: the failure is transient, the rows are loaded again on a new connection,
/// and every row is there once. While normalizing (the session falls back to the load
/// step) and after normalizing (the job is retried with backoff).
#[tokio::test]
async fn a_terminated_backend_is_retried_and_every_row_loads_once() {
    let db = connect().await;
    let rows: String = (1..=5000).map(|i| format!("{{\"id\": {i}}}\n")).collect();
    for overlap in ["true", "false"] {
        let ds = fresh_schema(&db, &format!("cli::terminated_backend_{overlap}")).await;
        let dir = tempfile::tempdir().unwrap();
        finish(spawn_load(dir.path(), &ds, "{\"id\": 0}\n", &[]));
        let file = dir.path().join("more.jsonl");
        std::fs::write(&file, &rows).unwrap();
        let (url, f, p) = (
            pg_url(),
            file.to_string_lossy().to_string(),
            dir.path().join("pipes").to_string_lossy().to_string(),
        );

        // hold the table so the loader waits inside its transaction
        let locker = connect().await;
        locker
            .batch_execute(&format!(
                "begin; lock table {ds}.items in access exclusive mode"
            ))
            .await
            .unwrap();
        let child = Command::new(BIN)
            .args(load_args(&f, &ds, &url, &p))
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("LOAD__OVERLAP", overlap)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_blocked_loader(&db, &ds).await;
        let terminated = contents(
            &db,
            &format!(
                "select count(pg_terminate_backend(l.pid))::text from pg_locks l \
                 join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace \
                 where not l.granted and n.nspname = '{ds}'"
            ),
        )
        .await;
        assert_ne!(
            terminated,
            ["0"],
            "overlap {overlap}: no backend to terminate"
        );
        locker.batch_execute("rollback").await.unwrap();
        finish(child);
        let counts = contents(
            &db,
            &format!("select count(*)::text || ' ' || count(distinct id)::text from {ds}.items"),
        )
        .await;
        assert_eq!(counts, ["5001 5001"], "overlap {overlap}");
    }
}

/// Two runs of one pipeline at once: the second waits for the first (the working folder's
/// lock), then runs; every row of both is loaded once, the second run's after the first's.
#[tokio::test]
async fn two_runs_of_one_pipeline_are_serialized() {
    use std::io::BufRead;
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::two_runs_serialized").await;
    let dir = tempfile::tempdir().unwrap();
    finish(spawn_load(dir.path(), &ds, "{\"id\": 0}\n", &[]));
    let locker = connect().await;
    locker
        .batch_execute(&format!(
            "begin; lock table {ds}.items in access exclusive mode"
        ))
        .await
        .unwrap();
    let first = spawn_load(dir.path(), &ds, "{\"id\": 1}\n{\"id\": 2}\n", &[]);
    wait_for_blocked_loader(&db, &ds).await;
    // the second run reports that it waits for the first, and then waits
    let file = dir.path().join("second.jsonl");
    std::fs::write(&file, "{\"id\": 3}\n").unwrap();
    let (url, f, p) = (
        pg_url(),
        file.to_string_lossy().to_string(),
        dir.path().join("pipes").to_string_lossy().to_string(),
    );
    let mut second = Command::new(BIN)
        .args(load_args(&f, &ds, &url, &p))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("DLT_RS_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = second.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let waiting = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("another run of this pipeline is active"));
    assert!(waiting, "the second run did not wait for the first");
    locker.batch_execute("rollback").await.unwrap();
    finish(first);
    let status = second.wait().unwrap();
    assert!(status.success());
    let loads = contents(
        &db,
        &format!("select string_agg(id::text, ',' order by _dlt_load_id, id) from {ds}.items"),
    )
    .await;
    assert_eq!(loads, ["0,1,2,3"]);
}

/// Two pipelines load into one dataset and one table at the same time, each adding a
/// column: both succeed and every row is there once.
#[tokio::test]
async fn two_pipelines_load_one_dataset_at_once() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::two_pipelines_one_dataset").await;
    let dir = tempfile::tempdir().unwrap();
    let url = pg_url();
    let mut children = Vec::new();
    for (name, column) in [("first", "x"), ("second", "y")] {
        let rows: String = (1..=3000)
            .map(|i| format!("{{\"id\": {i}, \"{column}\": \"{name}\", \"kids\": [{i}]}}\n"))
            .collect();
        let file = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&file, rows).unwrap();
        let pipes = dir.path().join(format!("pipes_{name}"));
        let (f, p) = (
            file.to_string_lossy().to_string(),
            pipes.to_string_lossy().to_string(),
        );
        let mut args = load_args(&f, &ds, &url, &p);
        // a pipeline of its own (the name after --pipeline), the same dataset
        args[7] = name;
        children.push(
            Command::new(BIN)
                .args(&args)
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for child in children {
        finish(child);
    }
    let counts = contents(
        &db,
        &format!(
            "select (select count(*) from {ds}.items)::text || ' ' || \
             (select count(x) from {ds}.items)::text || ' ' || \
             (select count(y) from {ds}.items)::text || ' ' || \
             (select count(*) from {ds}.items__kids)::text"
        ),
    )
    .await;
    assert_eq!(counts, ["6000 3000 3000 6000"]);
}

/// PostgreSQL text cannot hold NUL: a NUL in a value fails the run with the table, column,
/// item and byte, and nothing of it loads (both file formats); a NUL in a key is a
/// character the naming convention replaces, as dlt does (`k\u0000ey` → `k_ey`).
#[tokio::test]
async fn nul_characters_are_refused_in_values_and_replaced_in_keys() {
    let db = connect().await;
    for format in ["insert_values", "csv"] {
        let ds = fresh_schema(&db, &format!("cli::nul_{format}")).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nul.jsonl");
        std::fs::write(
            &file,
            "{\"id\": 1, \"t\": \"ok\"}\n{\"id\": 2, \"t\": \"a\\u0000b\"}\n",
        )
        .unwrap();
        let (url, f, p) = (
            pg_url(),
            file.to_string_lossy().to_string(),
            dir.path().join("pipes").to_string_lossy().to_string(),
        );
        let mut args = load_args(&f, &ds, &url, &p);
        args.extend_from_slice(&["--loader-file-format", format]);
        let out = dlt_rs(&args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{format}");
        assert!(
            err.contains("item 2")
                && err.contains("column `t`")
                && err.contains("NUL")
                && err.contains("nothing of this run was loaded"),
            "{format}: {err}"
        );
        assert_eq!(err.matches("NUL character").count(), 1, "said once: {err}");
        let tables = contents(
            &db,
            &format!("select count(*)::text from information_schema.tables where table_schema = '{ds}' and table_name = 'items'"),
        )
        .await;
        assert_eq!(tables, ["0"], "{format}");

        std::fs::write(&file, "{\"id\": 1, \"k\\u0000ey\": \"v\"}\n").unwrap();
        let out = dlt_rs(&args, dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = contents(&db, &format!("select k_ey from {ds}.items")).await;
        assert_eq!(v, ["v"], "{format}");
    }
}

/// Bad input files fail naming the file and line, and nothing loads: a lone surrogate
/// escape (a valid pair loads), a truncated gzip file.
#[tokio::test]
async fn lone_surrogates_and_truncated_gzip_fail_naming_file_and_line() {
    use std::io::Write as _;
    let db = connect().await;
    let dir = tempfile::tempdir().unwrap();
    let surrogate = dir.path().join("surrogate.jsonl");
    std::fs::write(
        &surrogate,
        "{\"id\": 1, \"ok\": \"\\ud83d\\ude80\"}\n{\"id\": 2, \"s\": \"\\ud800\"}\n",
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..50_000u64 {
        writeln!(
            gz,
            "{{\"id\": {i}, \"pad\": \"{}\"}}",
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        )
        .unwrap();
    }
    let bytes = gz.finish().unwrap();
    let truncated = dir.path().join("truncated.jsonl.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    for (file, expect) in [
        (&surrogate, "surrogate.jsonl, line 2: malformed JSON"),
        (&truncated, "truncated.jsonl.gz, line "),
    ] {
        let ds = fresh_schema(&db, &format!("cli::bad_file_{}", expect.len())).await;
        let (url, f, p) = (
            pg_url(),
            file.to_string_lossy().to_string(),
            dir.path()
                .join(format!("pipes{}", expect.len()))
                .to_string_lossy()
                .to_string(),
        );
        let out = dlt_rs(&load_args(&f, &ds, &url, &p), dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(expect), "{err}");
        assert!(err.contains("nothing of this run was loaded"), "{err}");
        let tables = contents(
            &db,
            &format!("select count(*)::text from information_schema.tables where table_schema = '{ds}' and table_name = 'items'"),
        )
        .await;
        assert_eq!(tables, ["0"], "{err}");
    }
}

/// A package with a terminal failure (a UNIQUE violation) is reported with how to go on;
/// `pipeline NAME info` shows it with the job's error; after fixing the cause, `retry` and
/// the same command again load the failed job once. `drop-pending-packages` deletes a
/// package a crash left pending, and the next run loads only its own data.
#[tokio::test]
async fn failed_packages_are_listed_retried_and_dropped_from_the_command_line() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::retry_and_drop").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dup.jsonl");
    std::fs::write(
        &file,
        "{\"id\": 1, \"code\": \"a\"}\n{\"id\": 2, \"code\": \"a\"}\n",
    )
    .unwrap();
    let (url, f, p) = (
        pg_url(),
        file.to_string_lossy().to_string(),
        dir.path().join("pipes").to_string_lossy().to_string(),
    );
    let mut args = load_args(&f, &ds, &url, &p);
    args.extend_from_slice(&["--columns", "{\"code\": {\"unique\": true}}"]);
    let pipeline = |action: &[&str]| {
        let mut a = vec!["pipeline", ds.as_str(), "--pipelines-dir", p.as_str()];
        a.extend_from_slice(action);
        let out = dlt_rs(&a, dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    let out = dlt_rs(&args, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("aborted")
            && err.contains("23505")
            && err.contains("retry <load id>"),
        "{err}"
    );
    let info = pipeline(&["info"]);
    let load_id = info
        .lines()
        .find(|l| l.ends_with("aborted"))
        .and_then(|l| l.split('\t').next())
        .unwrap_or_else(|| panic!("no aborted package in {info}"))
        .to_string();
    assert!(
        info.contains("failed job items.") && info.contains("duplicate key"),
        "{info}"
    );

    db.batch_execute(&format!(
        "alter table {ds}.items drop constraint items_code_key"
    ))
    .await
    .unwrap();
    pipeline(&["retry", &load_id]);
    let out = dlt_rs(&args, dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = contents(
        &db,
        &format!("select string_agg(id::text, ',' order by id) from {ds}.items"),
    )
    .await;
    assert_eq!(rows, ["1,2"]);
    assert!(pipeline(&["info"]).contains(&format!("{load_id}\tloaded")));

    // a crash leaves a package pending; dropping it loses exactly that package
    let more = dir.path().join("more.jsonl");
    std::fs::write(&more, "{\"id\": 3, \"code\": \"c\"}\n").unwrap();
    let m = more.to_string_lossy().to_string();
    let crashed = Command::new(BIN)
        .args(load_args(&m, &ds, &url, &p))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("LOAD__OVERLAP", "false")
        .env("DLT_RS_FAULT", "job-committed")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    assert!(pipeline(&["info"]).contains("pending (normalized)"));
    let dropped = pipeline(&["drop-pending-packages"]);
    assert!(dropped.contains("dropped 1 pending package"), "{dropped}");
    assert!(!pipeline(&["info"]).contains("pending"));
}

/// A run ends with a summary (steps with their times, rows per table, jobs); `--quiet`
/// prints nothing; `-v` logs what the pipeline does.
#[tokio::test]
async fn a_run_ends_with_a_summary_and_quiet_prints_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::summary_and_quiet").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(
        &file,
        "{\"id\": 1, \"tags\": [\"a\", \"b\"]}\n{\"id\": 2}\n",
    )
    .unwrap();
    let (url, f, p) = (
        pg_url(),
        file.to_string_lossy().to_string(),
        dir.path().join("pipes").to_string_lossy().to_string(),
    );
    let out = dlt_rs(&load_args(&f, &ds, &url, &p), dir.path());
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("1 package(s) loaded into dataset"),
        "{summary}"
    );
    assert!(summary.contains("(postgres)"), "{summary}");
    assert!(summary.contains("steps: extract+normalize"), "{summary}");
    assert!(summary.contains("2 item(s) extracted"), "{summary}");
    assert!(summary.contains("    items: 2 row(s)"), "{summary}");
    assert!(summary.contains("    items__tags: 2 row(s)"), "{summary}");
    assert!(summary.contains("job(s), no failed jobs"), "{summary}");

    std::fs::write(&file, "{\"id\": 3}\n").unwrap();
    let mut args = load_args(&f, &ds, &url, &p);
    args.push("--quiet");
    let out = dlt_rs(&args, dir.path());
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    std::fs::write(&file, "{\"id\": 4}\n").unwrap();
    let mut args = load_args(&f, &ds, &url, &p);
    args.push("-v");
    let out = dlt_rs(&args, dir.path());
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("INFO") && log.contains("loaded"), "{log}");
    assert_eq!(
        contents(&db, &format!("select count(*)::text from {ds}.items")).await,
        ["4"]
    );
}

/// A pipeline pointed at another dataset records it in its state, and stores the state in
/// the new dataset, so a new machine restores it from there (as dlt does).
#[tokio::test]
async fn a_pipeline_moved_to_another_dataset_stores_its_state_there() {
    let db = connect().await;
    let a = fresh_schema(&db, "cli::moved_dataset_a").await;
    let b = fresh_schema(&db, "cli::moved_dataset_b").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    let (url, f, p) = (
        pg_url(),
        file.to_string_lossy().to_string(),
        dir.path().join("pipes").to_string_lossy().to_string(),
    );
    for (ds, rows) in [(&a, "{\"id\": 1}\n"), (&b, "{\"id\": 2}\n")] {
        std::fs::write(&file, rows).unwrap();
        let mut args = load_args(&f, ds, &url, &p);
        args[7] = "moved"; // one pipeline, two datasets
        let out = dlt_rs(&args, dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let state = std::fs::read_to_string(dir.path().join("pipes/moved/state.json")).unwrap();
    assert!(
        state.contains(&format!("\"dataset_name\": \"{b}\"")),
        "{state}"
    );
    let stored = contents(
        &db,
        &format!(
            "select count(*)::text from {b}._dlt_pipeline_state where pipeline_name = 'moved'"
        ),
    )
    .await;
    assert_eq!(stored, ["1"]);
}

/// Runs `dlt-rs load INPUTS... --pipeline DS --dataset DS --table items` in `dir`, with
/// `stdin` as its standard input (or none).
fn load_inputs(
    dir: &Path,
    ds: &str,
    inputs: &[&str],
    stdin: Option<&[u8]>,
) -> std::process::Output {
    let (url, p) = (pg_url(), dir.join("pipes").to_string_lossy().to_string());
    let mut args = load_args(inputs[0], ds, &url, &p);
    for (i, input) in inputs.iter().enumerate().skip(1) {
        args.insert(1 + i, *input);
    }
    let mut child = Command::new(BIN)
        .args(&args)
        .current_dir(dir)
        .env("HOME", dir)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The root table's `id`s in order, or `no table` when the run created none.
async fn loaded_ids(db: &tokio_postgres::Client, ds: &str) -> String {
    let exists = contents(
        db,
        &format!("select count(*)::text from information_schema.tables where table_schema = '{ds}' and table_name = 'items'"),
    )
    .await;
    if exists == ["0"] {
        return "no table".to_string();
    }
    contents(
        db,
        &format!("select coalesce(string_agg(id::text, ',' order by id), '') from {ds}.items"),
    )
    .await
    .concat()
}

/// A pretty-printed object (one object on many lines) loads as one item, with its nested
/// list as a nested table.
#[tokio::test]
async fn a_pretty_printed_object_file_loads_as_one_item() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::pretty_object").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("one.json"),
        "{\n  \"id\": 1,\n  \"name\": \"Ann\",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ]\n}\n",
    )
    .unwrap();
    let out = load_inputs(dir.path(), &ds, &["one.json"], None);
    assert_success(&out);
    assert_eq!(loaded_ids(&db, &ds).await, "1");
    let tags = contents(
        &db,
        &format!("select i.name || ':' || string_agg(t.value, ',' order by t._dlt_list_idx) from {ds}.items i join {ds}.items__tags t on t._dlt_parent_id = i._dlt_id group by i.name"),
    )
    .await;
    assert_eq!(tags, ["Ann:a,b"]);
}

/// A pretty-printed array loads its elements; a file of pretty-printed objects one after
/// another (and objects with nothing between them) loads each object.
#[tokio::test]
async fn a_pretty_printed_array_and_concatenated_objects_load_every_item() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::pretty_array_concatenated").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("array.json"),
        "[\n  {\n    \"id\": 1\n  },\n  {\n    \"id\": 2\n  }\n]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("objects.json"),
        "{\n  \"id\": 3\n}\n{\n  \"id\": 4\n}\n{\"id\": 5}{\"id\": 6}\n",
    )
    .unwrap();
    let out = load_inputs(dir.path(), &ds, &["array.json", "objects.json"], None);
    assert_success(&out);
    assert_eq!(loaded_ids(&db, &ds).await, "1,2,3,4,5,6");

    // a malformed object spanning lines fails the run, and nothing of it loads
    std::fs::write(
        dir.path().join("broken.json"),
        "{\n  \"id\": 7,\n  \"x\": \n}\n",
    )
    .unwrap();
    let out = load_inputs(dir.path(), &ds, &["broken.json"], None);
    assert!(!out.status.success());
    assert_eq!(loaded_ids(&db, &ds).await, "1,2,3,4,5,6");
}

/// A file starting with a UTF-8 byte-order mark loads (gzip-compressed too); UTF-16 text
/// fails and nothing of the run loads.
#[tokio::test]
async fn a_utf8_byte_order_mark_is_skipped_and_utf16_text_fails() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::byte_order_mark").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bom.jsonl"),
        b"\xef\xbb\xbf{\"id\": 1, \"t\": \"\xc3\xa9\"}\n{\"id\": 2, \"t\": \"b\"}\n",
    )
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"\xef\xbb\xbf[{\"id\": 3, \"t\": \"c\"}]")
        .unwrap();
    std::fs::write(dir.path().join("bom.json.gz"), gz.finish().unwrap()).unwrap();
    let out = load_inputs(dir.path(), &ds, &["bom.jsonl", "bom.json.gz"], None);
    assert_success(&out);
    assert_eq!(
        contents(
            &db,
            &format!("select id::text || t from {ds}.items order by id")
        )
        .await,
        ["1é", "2b", "3c"]
    );

    let ds16 = fresh_schema(&db, "cli::byte_order_mark_utf16").await;
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain("{\"id\": 1}\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(dir.path().join("utf16.jsonl"), utf16).unwrap();
    let out = load_inputs(dir.path(), &ds16, &["bom.jsonl", "utf16.jsonl"], None);
    assert!(!out.status.success());
    assert_eq!(loaded_ids(&db, &ds16).await, "no table");
}

/// `-` reads standard input (gzip-compressed too). Standard input is never the same input
/// as another run's: the same data piped twice loads twice (an append), it is not taken for
/// a package of the first run.
#[tokio::test]
async fn standard_input_loads_and_every_run_of_it_is_a_new_input() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::standard_input").await;
    let dir = tempfile::tempdir().unwrap();
    let out = load_inputs(dir.path(), &ds, &["-"], Some(b"{\"id\": 1}\n{\"id\": 2}\n"));
    assert_success(&out);
    assert_eq!(loaded_ids(&db, &ds).await, "1,2");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"{\"id\": 1}\n{\"id\": 2}\n").unwrap();
    std::fs::write(dir.path().join("more.jsonl"), "{\"id\": 3}\n").unwrap();
    let out = load_inputs(
        dir.path(),
        &ds,
        &["-", "more.jsonl"],
        Some(&gz.finish().unwrap()),
    );
    assert_success(&out);
    assert_eq!(loaded_ids(&db, &ds).await, "1,1,2,2,3");
}

/// A directory loads its visible regular files (not its subdirectories, not hidden
/// files); a quoted pattern loads the files it matches.
#[tokio::test]
async fn a_directory_and_a_pattern_load_their_files() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::directory_and_pattern").await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("b.jsonl"), "{\"id\": 2}\n").unwrap();
    std::fs::write(data.join("a.jsonl"), "{\"id\": 1}\n").unwrap();
    std::fs::write(data.join("c.json"), "[{\"id\": 3}]").unwrap();
    std::fs::write(data.join(".hidden.jsonl"), "{\"id\": 100}\n").unwrap();
    std::fs::write(data.join("sub/d.jsonl"), "{\"id\": 101}\n").unwrap();
    let out = load_inputs(dir.path(), &ds, &["data"], None);
    assert_success(&out);
    assert_eq!(loaded_ids(&db, &ds).await, "1,2,3");

    let ds2 = fresh_schema(&db, "cli::pattern").await;
    let out = load_inputs(dir.path(), &ds2, &["data/*.jsonl", "data/[c]*"], None);
    assert_success(&out);
    assert_eq!(loaded_ids(&db, &ds2).await, "1,2,3");
}

/// A pattern that matches no file and a directory without files fail the run, and
/// nothing of it loads (not even the other arguments' files).
#[tokio::test]
async fn a_pattern_matching_nothing_or_an_empty_directory_fails_and_loads_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "cli::pattern_matches_nothing").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), "{\"id\": 1}\n").unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    std::fs::write(dir.path().join("empty/.hidden"), "{\"id\": 2}\n").unwrap();
    for args in [
        &["a.jsonl", "data/*.jsonl"],
        &["a.jsonl", "*.csv"],
        &["a.jsonl", "empty"],
    ] {
        let out = load_inputs(dir.path(), &ds, args, None);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(loaded_ids(&db, &ds).await, "no table", "{args:?}");
    }
}

/// SIGTERM and SIGINT stop a load that waits inside the server (the test holds a lock on
/// its table): the exit status is 143 and 130, nothing of the run is committed, and the
/// same command run again loads every row exactly once.
#[tokio::test]
async fn sigterm_and_sigint_stop_a_load_and_the_same_command_finishes_it() {
    let db = connect().await;
    let rows: String = (1..=50_000)
        .map(|i| format!("{{\"id\": {i}, \"kids\": [{i}]}}\n"))
        .collect();
    for (signal, status) in [("TERM", 143), ("INT", 130)] {
        let ds = fresh_schema(&db, &format!("cli::signal_{signal}")).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("first.jsonl"),
            "{\"id\": 0, \"kids\": [0]}\n",
        )
        .unwrap();
        assert_success(&load_inputs(dir.path(), &ds, &["first.jsonl"], None));
        std::fs::write(dir.path().join("big.jsonl"), &rows).unwrap();

        let locker = connect().await;
        locker
            .batch_execute(&format!(
                "begin; lock table {ds}.items in access exclusive mode"
            ))
            .await
            .unwrap();
        let (url, p) = (
            pg_url(),
            dir.path().join("pipes").to_string_lossy().to_string(),
        );
        let child = Command::new(BIN)
            .args(load_args("big.jsonl", &ds, &url, &p))
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_blocked_loader(&db, &ds).await;
        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(status),
            "{signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // the lock holder sees what is committed: nothing of the stopped run
        let committed =
            query_rows(&locker, &format!("select count(*)::text from {ds}.items")).await;
        assert_eq!(committed, [[Some("1".to_string())]], "{signal}");
        locker.batch_execute("rollback").await.unwrap();

        let out = load_inputs(dir.path(), &ds, &["big.jsonl"], None);
        assert_success(&out);
        let counts = contents(
            &db,
            &format!(
                "select (select count(*) from {ds}.items)::text || ' ' || \
                 (select count(distinct id) from {ds}.items)::text || ' ' || \
                 (select count(*) from {ds}.items__kids)::text"
            ),
        )
        .await;
        assert_eq!(counts, ["50001 50001 50001"], "{signal}");
    }
}

/// Runs `dlt-rs load INPUTS... --pipeline DS --dataset DS --table items EXTRA...` in `dir`.
fn load_with(dir: &Path, ds: &str, inputs: &[&str], extra: &[&str]) -> std::process::Output {
    let (url, p) = (pg_url(), dir.join("pipes").to_string_lossy().to_string());
    let mut args = load_args(inputs[0], ds, &url, &p);
    for (i, input) in inputs.iter().enumerate().skip(1) {
        args.insert(1 + i, *input);
    }
    args.extend_from_slice(extra);
    dlt_rs(&args, dir)
}

/// A value the column cannot take (too long for a `varchar(3)`) fails the load, and the
/// error names where the item is in the input: the second of three files, its third line;
/// the failed job's exception says which item too. With one job file for the table,
/// nothing of it is loaded. Both file formats (`insert_values` bound, `csv` COPY, where a
/// line break inside a value shifts the line PostgreSQL reports).
#[tokio::test]
async fn a_value_the_column_cannot_take_names_its_input_file_and_line() {
    let db = connect().await;
    for format in ["insert_values", "csv"] {
        let ds = fresh_schema(&db, &format!("cli::bad_value_{format}")).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.jsonl"),
            "{\"id\": 1, \"s\": \"ab\"}\n{\"id\": 2, \"s\": \"abc\"}\n{\"id\": 3}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.jsonl"),
            "{\"id\": 4, \"s\": \"a\\nb\"}\n{\"id\": 5, \"s\": \"x\"}\n{\"id\": 6, \"s\": \"abcdef\"}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("c.jsonl"),
            "{\"id\": 7, \"s\": \"c\"}\n{\"id\": 8, \"s\": \"\"}\n{\"id\": 9, \"s\": \"z\"}\n",
        )
        .unwrap();
        let out = load_with(
            dir.path(),
            &ds,
            &["a.jsonl", "b.jsonl", "c.jsonl"],
            &[
                "--columns",
                r#"{"s": {"data_type": "text", "precision": 3}}"#,
                "--loader-file-format",
                format,
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{format}: {err}");
        assert!(
            err.contains("value too long for type character varying(3) (22001)"),
            "{format}: {err}"
        );
        assert!(
            err.contains("; the row came from resource `items`, item 6: b.jsonl, line 3;"),
            "{format}: {err}"
        );
        // one error line and the hint
        assert_eq!(err.trim_end().lines().count(), 2, "{format}: {err}");
        assert_eq!(loaded_ids(&db, &ds).await, "", "{format}");

        let p = dir.path().join("pipes").to_string_lossy().to_string();
        let failed = dlt_rs(
            &["pipeline", &ds, "--pipelines-dir", &p, "failed-jobs"],
            dir.path(),
        );
        let text = String::from_utf8_lossy(&failed.stdout);
        assert!(
            text.contains("the row came from resource `items`, item 6"),
            "{format}: {text}"
        );
    }
}

/// A value in a list item that the nested table's column cannot take: the error names the
/// range of items whose rows are in the failed job file, and their lines.
#[tokio::test]
async fn a_bad_value_in_a_nested_table_names_the_range_of_items() {
    let db = connect().await;
    for format in ["insert_values", "csv"] {
        let ds = fresh_schema(&db, &format!("cli::bad_nested_{format}")).await;
        let dir = tempfile::tempdir().unwrap();
        let extra = ["--loader-file-format", format];
        // a first load makes the nested table; its column then takes 3 characters at most
        std::fs::write(
            dir.path().join("first.jsonl"),
            "{\"id\": 0, \"tags\": [{\"s\": \"a\"}]}\n",
        )
        .unwrap();
        let out = load_with(dir.path(), &ds, &["first.jsonl"], &extra);
        assert_success(&out);
        db.batch_execute(&format!(
            "alter table {ds}.items__tags alter column s type varchar(3)"
        ))
        .await
        .unwrap();

        std::fs::write(dir.path().join("n1.jsonl"), "{\"id\": 1}\n{\"id\": 2}\n").unwrap();
        std::fs::write(
            dir.path().join("n2.jsonl"),
            "{\"id\": 3, \"tags\": [{\"s\": \"ok\"}]}\n\
             {\"id\": 4, \"tags\": [{\"s\": \"ok\"}, {\"s\": \"toolong\"}]}\n\
             {\"id\": 5, \"tags\": [{\"s\": \"z\"}]}\n\
             {\"id\": 6}\n",
        )
        .unwrap();
        let out = load_with(dir.path(), &ds, &["n1.jsonl", "n2.jsonl"], &extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{format}: {err}");
        assert!(err.contains("table `items__tags`"), "{format}: {err}");
        assert!(
            err.contains(
                "; the row came from resource `items`, one of items 3-5: n2.jsonl, lines 1-3;"
            ),
            "{format}: {err}"
        );
    }
}
