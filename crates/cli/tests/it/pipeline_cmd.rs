//! `dlt-rs pipeline ...` against a real PostgreSQL: `--list`, `info`, `show`, `trace`,
//! `load-package`, `failed-jobs`, `drop` and `sync`. Every test loads into its own dataset
//! (schema) with its own pipelines dir; outputs are compared after [`normalise`] replaced
//! load ids, timestamps, durations, job file ids, sizes and the temp dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use expect_test::expect;
use pipeline::{Incremental, Pipeline, PipelineFolder, Resource};
use serde_json::json;
use test_support::{connect, fresh_schema, pg_url, query_rows};

// the in-process pipelines below need the destination registered
use dest_postgres as _;

const BIN: &str = env!("CARGO_BIN_EXE_dlt-rs");

/// Runs the binary in an isolated folder: no `.dlt/` files, no inherited dlt variables,
/// stdin not a terminal.
fn dlt_rs(args: &[&str], cwd: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env_remove("DLT_DATA_DIR")
        .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("DESTINATION__") || k.starts_with("CREDENTIALS") || k.starts_with("LOAD__")
        {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("the dlt-rs binary runs")
}

/// One pipeline, named like its dataset, in its own temp dir.
struct Fixture {
    dir: tempfile::TempDir,
    ds: String,
    url: String,
}

impl Fixture {
    async fn new(test: &str) -> (Self, tokio_postgres::Client) {
        let db = connect().await;
        let ds = fresh_schema(&db, test).await;
        let fixture = Fixture {
            dir: tempfile::tempdir().unwrap(),
            ds,
            url: pg_url(),
        };
        (fixture, db)
    }

    fn pipes(&self) -> String {
        self.dir.path().join("pipes").to_string_lossy().to_string()
    }

    /// `dlt-rs load` of `lines` (JSON Lines) into `table`, with `extra` flags.
    fn load(&self, table: &str, lines: &str, extra: &[&str]) -> Output {
        let file = self.dir.path().join(format!("{table}.jsonl"));
        std::fs::write(&file, lines).unwrap();
        let (f, pipes) = (file.to_string_lossy().to_string(), self.pipes());
        let mut args = vec![
            "load",
            &f,
            "--credentials",
            &self.url,
            "--pipeline",
            &self.ds,
            "--pipelines-dir",
            &pipes,
            "--dataset",
            &self.ds,
            "--table",
            table,
        ];
        args.extend_from_slice(extra);
        dlt_rs(&args, self.dir.path())
    }

    fn load_ok(&self, table: &str, lines: &str) {
        let out = self.load(table, lines, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// `dlt-rs pipeline <ds> --pipelines-dir <pipes> <action...>`.
    fn pipeline(&self, action: &[&str]) -> Output {
        let pipes = self.pipes();
        let mut args = vec!["pipeline", self.ds.as_str(), "--pipelines-dir", &pipes];
        args.extend_from_slice(action);
        dlt_rs(&args, self.dir.path())
    }

    /// [`Fixture::pipeline`], which must succeed; its stdout, normalised.
    fn pipeline_ok(&self, action: &[&str]) -> String {
        let out = self.pipeline(action);
        assert!(
            out.status.success(),
            "{action:?}: {}\n{}",
            stderr(&out),
            String::from_utf8_lossy(&out.stdout)
        );
        self.normalise(&String::from_utf8_lossy(&out.stdout))
    }

    /// As [`Fixture::pipeline_ok`], for actions that reach the destination.
    fn pipeline_db_ok(&self, action: &[&str]) -> String {
        let mut a = action.to_vec();
        a.extend_from_slice(&["--credentials", &self.url]);
        self.pipeline_ok(&a)
    }

    fn normalise(&self, text: &str) -> String {
        let text = text
            .replace(&self.dir.path().display().to_string(), "<dir>")
            .replace(&self.ds, "<ds>");
        normalise(&text)
    }

    /// The pipeline in this process (for an incremental resource, which the command line
    /// has no options for).
    fn pipeline_in_process(&self) -> Pipeline {
        let config = dlt_config::Config::builder()
            .project_dir(self.dir.path())
            .no_global_dir()
            .env(false);
        Pipeline::builder(&self.ds)
            .dataset_name(&self.ds)
            .pipelines_dir(self.pipes())
            .credentials(&self.url)
            .config(config)
            .build()
            .unwrap()
    }

    async fn count(&self, db: &tokio_postgres::Client, table: &str) -> Option<String> {
        let exists = query_rows(
            db,
            &format!(
                "select count(*)::text from information_schema.tables \
                 where table_schema = '{}' and table_name = '{table}'",
                self.ds
            ),
        )
        .await;
        if exists != [[Some("1".to_string())]] {
            return None;
        }
        query_rows(
            db,
            &format!("select count(*)::text from {}.{table}", self.ds),
        )
        .await
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Replaces what changes from run to run: load ids (numbered in order of appearance),
/// timestamps, durations, job file ids and file sizes.
fn normalise(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let digits = |from: usize, n: usize| -> bool {
        from + n <= c.len() && c[from..from + n].iter().all(|ch| ch.is_ascii_digit())
    };
    let at = |from: usize, s: &str| -> bool {
        let s: Vec<char> = s.chars().collect();
        from + s.len() <= c.len() && c[from..from + s.len()] == s[..]
    };
    let mut load_ids: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        let boundary = i == 0 || !c[i - 1].is_ascii_alphanumeric();
        // 2024-01-01T10:00:00[.ffffff](Z|+00:00)
        if boundary
            && digits(i, 4)
            && at(i + 4, "-")
            && digits(i + 5, 2)
            && at(i + 7, "-")
            && digits(i + 8, 2)
            && at(i + 10, "T")
        {
            let mut j = i + 19;
            if at(j, ".") {
                j += 1;
                while j < c.len() && c[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if at(j, "Z") {
                j += 1;
            } else if at(j, "+00:00") {
                j += 6;
            }
            out.push_str("<ts>");
            i = j;
            continue;
        }
        // load ids: 10 digits . 6 digits
        if boundary && digits(i, 10) && at(i + 10, ".") && digits(i + 11, 6) && !digits(i + 17, 1) {
            let id: String = c[i..i + 17].iter().collect();
            let n = match load_ids.iter().position(|l| *l == id) {
                Some(n) => n + 1,
                None => {
                    load_ids.push(id);
                    load_ids.len()
                }
            };
            out.push_str(&format!("<load_id_{n}>"));
            i += 17;
            continue;
        }
        // durations: (0.123 s)
        if at(i, "(") {
            let mut j = i + 1;
            while j < c.len() && (c[j].is_ascii_digit() || c[j] == '.') {
                j += 1;
            }
            if j > i + 1 && at(j, " s)") {
                out.push_str("(<secs>)");
                i = j + 3;
                continue;
            }
        }
        // job file ids: .<10 hex>.
        if at(i, ".")
            && i + 12 <= c.len()
            && c[i + 1..i + 11].iter().all(|ch| ch.is_ascii_hexdigit())
            && at(i + 11, ".")
        {
            out.push_str(".<id>.");
            i += 12;
            continue;
        }
        // sizes: <n> bytes
        if boundary && c[i].is_ascii_digit() {
            let mut j = i;
            while j < c.len() && c[j].is_ascii_digit() {
                j += 1;
            }
            if at(j, " bytes") {
                out.push_str("<n> bytes");
                i = j + 6;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

#[test]
fn normalise_replaces_what_changes() {
    let got = normalise(
        "1795511542.865624\tloaded 2026-11-24T09:12:22.859175Z (0.055 s) items.64943e7669.0.insert_values, \
         518 bytes, 2026-11-24T09:12:22.912299+00:00 1795511542.865624 1795511549.213157",
    );
    assert_eq!(
        got,
        "<load_id_1>\tloaded <ts> (<secs>) items.<id>.0.insert_values, <n> bytes, <ts> \
         <load_id_1> <load_id_2>"
    );
}

#[tokio::test]
async fn list_info_show_trace_and_load_package() {
    let (f, _db) = Fixture::new("pipeline_cmd::list_info_show_trace").await;
    f.load_ok(
        "items",
        "{\"id\": 1, \"tags\": [\"a\", \"b\"]}\n{\"id\": 2, \"tags\": [\"c\"]}\n",
    );
    f.load_ok("items", "{\"id\": 3, \"name\": \"x\"}\n");
    // a folder that is not a pipeline's is not listed
    std::fs::create_dir_all(Path::new(&f.pipes()).join("not_a_pipeline")).unwrap();

    let pipes = f.pipes();
    let list = dlt_rs(
        &["pipeline", "--list", "--pipelines-dir", &pipes],
        f.dir.path(),
    );
    assert!(list.status.success(), "{}", stderr(&list));
    expect![[r#"
        1 pipeline(s) found in <dir>/pipes
        <ds>
    "#]]
    .assert_eq(&f.normalise(&String::from_utf8_lossy(&list.stdout)));

    expect![[r#"
        pipeline <ds>
          working dir: <dir>/pipes/<ds>
          destination: postgres
          dataset: <ds>
          state: version 1, last load <load_id_1>
        schema <ds> (version 3): 2 table(s)
          items: append, 4 column(s)
          items__tags: nested in items, 4 column(s)
        packages:
        <load_id_2>	loaded
        <load_id_1>	loaded
        nothing left to load
        the last run left a trace: `dlt-rs pipeline <ds> trace` shows it
    "#]]
    .assert_eq(&f.pipeline_ok(&["info"]));
    // info is the default operation
    assert_eq!(f.pipeline_ok(&[]), f.pipeline_ok(&["info"]));

    expect![[r#"
        dataset <ds> of pipeline <ds> (tables from the local schema):
          items          3 row(s)
            items__tags  3 row(s)
        last loads:
          <load_id_1>	loaded	<ts>
          <load_id_2>	loaded	<ts>
    "#]]
    .assert_eq(&f.pipeline_db_ok(&["show"]));

    expect![[r#"
        run of pipeline <ds> into dataset <ds> (postgres): started at <ts>, finished at <ts> (<secs>), COMPLETED
          1 item(s) extracted
        step extract+normalize: <ts> to <ts> (<secs>)
        step load: <ts> to <ts> (<secs>)
        package <load_id_1> loaded: 1 row(s)
          items: 1 row(s) in 1 job(s)
    "#]]
    .assert_eq(&f.pipeline_ok(&["trace"]));

    expect![[r#"
        package <load_id_1>: loaded
          created at <ts>
          loaded at <ts>
        jobs: 1 completed, 0 failed, 0 new, 0 started
        rows: items 1
          items insert_values completed: file deleted after loading, <n> bytes, items.<id>.0.insert_values
        schema <ds> version 3 (hash HASH)
        schema updates (against the package before it):
          items (new columns): name text
    "#]]
    .assert_eq(&hide_hash(&f.pipeline_ok(&["load-package", "--verbose"])));

    // the first package, by load id
    let packages = PipelineFolder::inspect(&f.ds, Some(Path::new(&f.pipes())))
        .unwrap()
        .packages()
        .unwrap();
    expect![[r#"
        package <load_id_1>: loaded
          created at <ts>
          loaded at <ts>
          carries a new pipeline state
        jobs: 3 completed, 0 failed, 0 new, 0 started
        rows: _dlt_pipeline_state 1, items 2, items__tags 3
          _dlt_pipeline_state insert_values completed: file deleted after loading, <n> bytes, _dlt_pipeline_state.<id>.0.insert_values
          items insert_values completed: file deleted after loading, <n> bytes, items.<id>.0.insert_values
          items__tags insert_values completed: file deleted after loading, <n> bytes, items__tags.<id>.0.insert_values
    "#]]
    .assert_eq(&f.pipeline_ok(&["load-package", &packages[0].load_id]));

    let out = f.pipeline(&["load-package", "123.456"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has no package `123.456`"),
        "{}",
        stderr(&out)
    );
    assert!(f.pipeline_ok(&["failed-jobs"]).contains("no failed jobs"));

    // a pipeline without a working folder
    let out = dlt_rs(
        &["pipeline", "nope", "--pipelines-dir", &pipes, "info"],
        f.dir.path(),
    );
    assert!(stderr(&out).contains("pipeline `nope` has no working folder"));
}

/// The version hash of `schema NAME version V (hash H)`.
fn hide_hash(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("(hash ") {
            Some(i) if l.starts_with("schema ") => format!("{}(hash HASH)", &l[..i]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[tokio::test]
async fn failed_jobs_show_the_error_of_an_aborted_package() {
    let (f, _db) = Fixture::new("pipeline_cmd::failed_jobs").await;
    let out = f.load(
        "items",
        "{\"id\": 1, \"code\": \"a\"}\n{\"id\": 2, \"code\": \"a\"}\n",
        &["--columns", "{\"code\": {\"unique\": true}}"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("aborted"), "{}", stderr(&out));

    // the job and its error (the error's wording is the destination's: checked in parts)
    let failed = f.pipeline_ok(&["failed-jobs"]);
    let (job, error) = failed.split_once('\n').unwrap();
    expect!["<load_id_1>\titems\titems.<id>.0.insert_values (insert_values)"].assert_eq(job);
    assert!(
        error.starts_with("  error: loading <dir>/pipes/<ds>/load/")
            && error.contains("duplicate key value violates unique constraint \"items_code_key\"")
            && error.contains("(23505)")
            && error.ends_with('\n')
            && !error.trim_end().contains('\n'),
        "{failed}"
    );

    let package = f.pipeline_ok(&["load-package"]);
    assert!(
        package.contains("package <load_id_1>: aborted"),
        "{package}"
    );
    assert!(package.contains("jobs: 1 completed, 1 failed"), "{package}");
    assert!(
        package.contains("items insert_values failed: 2 row(s)")
            && package.contains("    error: loading ")
            && package.contains("(23505)"),
        "{package}"
    );

    let trace = f.pipeline_ok(&["trace"]);
    assert!(
        trace.contains("FAILED: load <load_id_1> aborted"),
        "{trace}"
    );
    assert!(
        trace.contains("step load:") && trace.contains(", FAILED\n"),
        "{trace}"
    );
    assert!(trace.contains("package <load_id_1> aborted"), "{trace}");
    assert!(trace.contains("  items: 2 row(s) in 1 job(s)"), "{trace}");
}

#[tokio::test]
async fn drop_removes_tables_schema_and_incremental_state() {
    let (f, db) = Fixture::new("pipeline_cmd::drop").await;
    // items (with a nested table) from the command line, events incremental in-process
    f.load_ok("items", "{\"id\": 1, \"tags\": [\"a\"]}\n{\"id\": 2}\n");
    let events = |ids: &[i64]| {
        let items: Vec<_> = ids.iter().map(|i| json!({"id": i, "v": "x"})).collect();
        Resource::new("events", items).incremental(Incremental::new("id"))
    };
    let mut p = f.pipeline_in_process();
    p.run(vec![events(&[1, 2, 3])]).await.unwrap();
    assert_eq!(f.count(&db, "events").await.as_deref(), Some("3"));
    let info = f.pipeline_ok(&["info"]);
    assert!(
        info.contains("resource state:\n  <ds>.events: incremental cursor `id`: last value 3\n"),
        "{info}"
    );

    // without --yes and without a terminal: refused, nothing changed
    let out = f.pipeline(&["drop", "events", "items", "--credentials", &f.url]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs a confirmation and stdin is not a terminal"),
        "{}",
        stderr(&out)
    );
    expect![[r#"
        About to drop the following from dataset <ds> in destination postgres (pipeline <ds>):
          resources: events, items
          tables to drop: events, items, items__tags
          resource state to reset: sources.<ds>.resources.events
    "#]]
    .assert_eq(&f.normalise(&String::from_utf8_lossy(&out.stdout)));
    assert_eq!(f.count(&db, "events").await.as_deref(), Some("3"));

    // an unknown resource
    let out = f.pipeline(&["drop", "nope", "--yes", "--credentials", &f.url]);
    assert!(
        stderr(&out).contains("has no resource `nope`; its resources: events, items"),
        "{}",
        stderr(&out)
    );

    expect![[r#"
        About to drop the following from dataset <ds> in destination postgres (pipeline <ds>):
          resources: events, items
          tables to drop: events, items, items__tags
          resource state to reset: sources.<ds>.resources.events
        dropped tables: events, items, items__tags; reset state: sources.<ds>.resources.events
        stored the new schema and state in the destination with load <load_id_1>
        the next run loads events, items from scratch
    "#]]
    .assert_eq(&f.pipeline_db_ok(&["drop", "events", "items", "--yes"]));
    for t in ["events", "items", "items__tags"] {
        assert_eq!(f.count(&db, t).await, None, "{t} was not dropped");
    }
    let info = f.pipeline_ok(&["info"]);
    assert!(
        info.contains("0 table(s)") && !info.contains("resource state"),
        "{info}"
    );
    // the stored schema no longer has the tables, and the stored state no cursor
    let stored = query_rows(
        &db,
        &format!(
            "select schema from {}._dlt_version order by inserted_at desc limit 1",
            f.ds
        ),
    )
    .await;
    let schema = stored[0][0].clone().unwrap();
    assert!(
        !schema.contains("\"events\"") && !schema.contains("\"items\""),
        "{schema}"
    );
    assert_eq!(
        query_rows(
            &db,
            &format!("select count(*)::text from {}._dlt_version", f.ds)
        )
        .await,
        [[Some("1".to_string())]],
        "the older versions are deleted"
    );

    // the next loads create the tables again, with only their rows; the cursor starts over
    f.load_ok("items", "{\"id\": 7, \"tags\": [\"z\"]}\n");
    let mut p = f.pipeline_in_process();
    p.run(vec![events(&[1, 2, 3, 4])]).await.unwrap();
    assert_eq!(f.count(&db, "events").await.as_deref(), Some("4"));
    assert_eq!(f.count(&db, "items").await.as_deref(), Some("1"));
    assert_eq!(f.count(&db, "items__tags").await.as_deref(), Some("1"));
    let info = f.pipeline_ok(&["info"]);
    assert!(
        info.contains("  <ds>.events: incremental cursor `id`: last value 4\n"),
        "{info}"
    );
    expect![[r#"
        dataset <ds> of pipeline <ds> (tables from the local schema):
          items          1 row(s)
            items__tags  1 row(s)
          events         4 row(s)
        last loads:
          <load_id_1>	loaded	<ts>
          <load_id_2>	loaded	<ts>
          <load_id_3>	loaded	<ts>
          <load_id_4>	loaded	<ts>
          <load_id_5>	loaded	<ts>
    "#]]
    .assert_eq(&f.pipeline_db_ok(&["show"]));
}

#[tokio::test]
async fn sync_restores_state_and_schema_from_the_destination() {
    let (f, db) = Fixture::new("pipeline_cmd::sync").await;
    let mut p = f.pipeline_in_process();
    let events = |ids: &[i64]| {
        let items: Vec<_> = ids
            .iter()
            .map(|i| json!({"id": i, "tags": ["t"]}))
            .collect();
        Resource::new("events", items).incremental(Incremental::new("id"))
    };
    p.run(vec![events(&[1, 2, 3])]).await.unwrap();
    let before = p.state().unwrap().unwrap();

    // the working folder is gone: sync needs the dataset (postgres is the default)
    std::fs::remove_dir_all(Path::new(&f.pipes()).join(&f.ds)).unwrap();
    let out = f.pipeline(&["sync", "--credentials", &f.url]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("holds no (readable) state of pipeline"),
        "{}",
        stderr(&out)
    );
    assert!(
        !Path::new(&f.pipes()).join(&f.ds).exists(),
        "a failed sync leaves no working folder"
    );
    let out = f.pipeline(&["sync", "--dataset", &f.ds, "--credentials", &f.url]);
    assert!(
        stderr(&out).contains("stdin is not a terminal"),
        "{}",
        stderr(&out)
    );

    expect![[r#"
        About to drop the local state and schema of pipeline <ds> and restore them from dataset <ds> in destination postgres: state version 2 of load <load_id_1>, schema version 2. The destination's data, state and schemas are left intact.
        restored the state (version 2, load <load_id_1>) and schema <ds> (version 2, 2 table(s))
    "#]]
    .assert_eq(&f.pipeline_db_ok(&["sync", "--yes", "--dataset", &f.ds]));
    let p = f.pipeline_in_process();
    let after = p.state().unwrap().unwrap();
    assert_eq!(after.sources, before.sources);
    assert_eq!(after.state_version, before.state_version);
    let info = f.pipeline_ok(&["info"]);
    assert!(
        info.contains("schema <ds> (version 2): 2 table(s)")
            && info.contains("  events__tags: nested in events")
            && info.contains("  <ds>.events: incremental cursor `id`: last value 3\n"),
        "{info}"
    );

    // the restored cursor holds: only the new event loads
    let mut p = f.pipeline_in_process();
    p.run(vec![events(&[2, 3, 4])]).await.unwrap();
    assert_eq!(f.count(&db, "events").await.as_deref(), Some("4"));

    // with the working folder in place, destination and dataset come from it
    let synced = f.pipeline_db_ok(&["sync", "-y"]);
    assert!(
        synced.contains("About to drop the local state (version 3)"),
        "{synced}"
    );
    assert!(
        synced.contains("restored the state (version 3,"),
        "{synced}"
    );
}

#[tokio::test]
async fn drop_and_sync_refuse_while_packages_are_pending() {
    let (f, _db) = Fixture::new("pipeline_cmd::pending").await;
    f.load_ok("items", "{\"id\": 1}\n");
    // a crash after the first job committed leaves the package pending
    let file = f.dir.path().join("more.jsonl");
    std::fs::write(&file, "{\"id\": 2}\n").unwrap();
    let (m, pipes) = (file.to_string_lossy().to_string(), f.pipes());
    let crashed = Command::new(BIN)
        .args([
            "load",
            &m,
            "--credentials",
            &f.url,
            "--pipeline",
            &f.ds,
            "--pipelines-dir",
            &pipes,
            "--dataset",
            &f.ds,
            "--table",
            "items",
        ])
        .current_dir(f.dir.path())
        .env("HOME", f.dir.path())
        .env("LOAD__OVERLAP", "false")
        .env("DLT_RS_FAULT", "job-committed")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    let info = f.pipeline_ok(&["info"]);
    assert!(
        info.contains("1 pending package(s): the next run of the pipeline loads them"),
        "{info}"
    );
    for action in [&["drop", "items", "--yes"][..], &["sync", "--yes"][..]] {
        let mut a = action.to_vec();
        a.extend_from_slice(&["--credentials", &f.url]);
        let out = f.pipeline(&a);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("has pending packages")
                && stderr(&out).contains("drop-pending-packages"),
            "{}",
            stderr(&out)
        );
    }
}

/// `pipeline NAME query`: SQL against the dataset (tables by their names alone) in a
/// read-only transaction, on PostgreSQL and SQLite alike: the count, valid CSV (read back
/// with Python's `csv` module), JSON, and a write refused with the dataset unchanged.
#[tokio::test]
async fn query_reads_the_dataset_and_writes_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "pipeline_cmd_query").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("events.jsonl");
    std::fs::write(
        &rows,
        "{\"id\": 1, \"note\": \"plain\"}\n{\"id\": 2, \"note\": \"a, \\\"quoted\\\"\\nline\"}\n{\"id\": 3}\n",
    )
    .unwrap();
    let rows = rows.to_string_lossy().to_string();
    let sqlite_db = dir.path().join("q.db").to_string_lossy().to_string();
    let url = pg_url();
    for (destination, credentials) in [("postgres", url.as_str()), ("sqlite", sqlite_db.as_str())] {
        let pipes = dir
            .path()
            .join(format!("pipes_{destination}"))
            .to_string_lossy()
            .to_string();
        let out = dlt_rs(
            &[
                "load",
                &rows,
                "--destination",
                destination,
                "--credentials",
                credentials,
                "--pipeline",
                "q",
                "--pipelines-dir",
                &pipes,
                "--dataset",
                &ds,
                "--table",
                "events",
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{destination}: {}", stderr(&out));
        let query = |sql: &str, format: &str| {
            dlt_rs(
                &[
                    "pipeline",
                    "--pipelines-dir",
                    &pipes,
                    "q",
                    "query",
                    sql,
                    "--format",
                    format,
                    "--credentials",
                    credentials,
                ],
                dir.path(),
            )
        };
        let out = query("select count(*) as n from events", "table");
        assert!(out.status.success(), "{destination}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            ["n", "-", "3", "(1 row)"],
            "{destination}"
        );

        let out = query("select id, note from events order by id", "csv");
        assert!(out.status.success(), "{destination}: {}", stderr(&out));
        let csv = dir.path().join("out.csv");
        std::fs::write(&csv, &out.stdout).unwrap();
        let parsed = Command::new("python3")
            .args([
                "-c",
                "import csv, json, sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline='')))))",
            ])
            .arg(&csv)
            .output()
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
        assert_eq!(
            parsed,
            json!([
                ["id", "note"],
                ["1", "plain"],
                ["2", "a, \"quoted\"\nline"],
                ["3", ""]
            ]),
            "{destination}"
        );

        let out = query("select id, note from events where id = 3", "json");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v, json!([{"id": "3", "note": null}]), "{destination}");

        let out = query("delete from events", "table");
        assert!(!out.status.success(), "{destination}: a write must fail");
        let out = query("select count(*) from events", "csv");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("\r\n3\r\n"),
            "{destination}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
