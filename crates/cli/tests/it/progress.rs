//! The progress display in a real terminal (a tmux pane): a 200 MB file shows the bytes read
//! with a percentage, rates per stage and an ETA while it loads, and each finished stage
//! stops with its final time; the summary gives the throughput.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use test_support::{connect, fresh_schema, pg_url, query_rows};

use crate::common::BIN;

/// Bytes of input, and rows of about 200 bytes each.
const INPUT_BYTES: u64 = 200_000_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_200_mb_load_shows_rates_and_an_eta_in_a_terminal() {
    let db = connect().await;
    let ds = fresh_schema(&db, "progress::terminal").await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    let mut written = 0u64;
    let mut rows = 0u64;
    while written < INPUT_BYTES {
        let line = format!(
            "{{\"id\": {rows}, \"name\": \"customer number {rows}\", \"email\": \"c{rows}@example.com\", \"score\": {}.5, \"active\": {}, \"note\": \"a line of text that makes the row about two hundred bytes long\"}}\n",
            rows % 1000,
            rows.is_multiple_of(2)
        );
        out.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        rows += 1;
    }
    out.flush().unwrap();
    drop(out);

    let command = format!(
        "HOME='{home}' '{BIN}' load '{input}' --table customers --pipeline {ds} --dataset {ds} \
         --credentials '{url}' --pipelines-dir '{home}/pipes'; echo \"exit=$?\" > '{home}/status'",
        home = dir.path().display(),
        input = input.display(),
        url = pg_url(),
    );
    let screen = test_support::tmux::record(&command, dir.path(), (200, 12));
    let status = std::fs::read_to_string(dir.path().join("status")).unwrap();
    assert_eq!(status.trim(), "exit=0", "the load failed:\n{screen}");
    let count = query_rows(&db, &format!("select count(*) from {ds}.customers")).await;
    assert_eq!(count[0][0].as_deref(), Some(rows.to_string().as_str()));

    // while extracting: a bar with the percentage read, MB/s and an ETA
    let frames: Vec<&str> = screen.split(['\r', '\n']).collect();
    let reading = frames
        .iter()
        .find(|f| {
            f.contains("% ") && f.contains(" of 200.") && f.contains("MB/s") && f.contains("ETA ")
        })
        .unwrap_or_else(|| panic!("no frame with a percentage, a rate and an ETA:\n{screen}"));
    assert!(reading.contains("read ("), "{reading}");
    // rows per second of normalize and load
    assert!(
        frames
            .iter()
            .any(|f| f.contains("normalize") && f.contains("/s")),
        "no normalize rate:\n{screen}"
    );
    assert!(
        frames
            .iter()
            .any(|f| f.contains("load") && f.contains("row(s)") && f.contains("/s")),
        "no load rate:\n{screen}"
    );
    // finished stages stop with their final time
    assert!(
        frames
            .iter()
            .any(|f| f.contains("✓ extract") && f.contains(" in ")),
        "extract did not finish with its time:\n{screen}"
    );
}

/// A run that finds its pipeline locked by another process says whom it waits for, then
/// loads once the lock is free.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_waiting_for_the_lock_names_the_process_that_holds_it() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let db = connect().await;
    let ds = fresh_schema(&db, "progress::lock_wait").await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rows.jsonl");
    std::fs::write(&input, "{\"id\": 1}\n").unwrap();
    let pipes = dir.path().join("pipes");
    let url = pg_url();
    let load = || {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "load",
            input.to_str().unwrap(),
            "--table",
            "t",
            "--pipeline",
            &ds,
        ])
        .args(["--dataset", &ds, "--credentials", &url, "--pipelines-dir"])
        .arg(&pipes)
        .env("HOME", dir.path())
        .stdin(Stdio::null());
        cmd
    };
    assert!(load().output().unwrap().status.success());

    // another process holds the pipeline's lock (as a run does: its pid in the file) until
    // it reads a line
    let lock_file = pipes.join(&ds).join(".lock");
    let mut holder = Command::new("flock")
        .arg(&lock_file)
        .args(["-c", "echo locked; read line"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock (util-linux) runs");
    let mut said = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert_eq!(said.trim(), "locked");
    let pid = holder.id();
    std::fs::write(&lock_file, pid.to_string()).unwrap();

    // without a terminal the waiting run prints its plain progress line after 5 s
    let mut waiting = load().stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(waiting.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("waiting for the lock") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the run ended without waiting"
        );
    }
    assert_eq!(
        line.trim(),
        format!("progress: waiting for the lock of pipeline {ds} (held by pid {pid})")
    );
    // the holder lets go: the run loads
    holder.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(holder.wait().unwrap().success());
    let rest: String = stderr
        .lines()
        .map_while(Result::ok)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(waiting.wait().unwrap().success(), "{rest}");
    let count = query_rows(&db, &format!("select count(*) from {ds}.t")).await;
    assert_eq!(count[0][0].as_deref(), Some("2"));
}
