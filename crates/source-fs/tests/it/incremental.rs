//! Runs of a pipeline over a folder: the first loads every file, a second nothing, a changed
//! or new file loads alone; the cursor's state is dlt's layout and commits with the rows.

use std::path::Path;
use std::time::{Duration, SystemTime};

use pipeline::{Pipeline, PipelineError, Resource};
use source_fs::{Filesystem, FsError};

use dest_sqlite as _;

fn pipeline(dir: &Path) -> Pipeline {
    Pipeline::builder("files")
        .destination("sqlite")
        .credentials(&dir.join("out.db").to_string_lossy())
        .dataset_name("raw")
        .pipelines_dir(dir.join("pipes"))
        .build()
        .unwrap()
}

fn touch(path: &Path, base: SystemTime, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(base + Duration::from_secs(secs)).unwrap();
}

/// One run over `data` (`*.jsonl` and `*.csv`): the items extracted and the files read.
async fn run(p: &mut Pipeline, data: &Path) -> (u64, usize) {
    let files = Filesystem::new(&data.to_string_lossy()).unwrap();
    let read = std::sync::Arc::new(std::sync::Mutex::new(0));
    let seen = read.clone();
    let make = files.incremental(
        "events",
        |r: Resource| -> Result<Resource, PipelineError> { Ok(r) },
        move |_, n| *seen.lock().unwrap() = n,
    );
    let info = p.run_with_state(make).await.unwrap();
    let n = *read.lock().unwrap();
    (info.items, n)
}

fn rows(dir: &Path) -> Vec<(i64, String)> {
    let db = rusqlite::Connection::open(dir.join("out__raw.db")).unwrap();
    let mut stmt = db
        .prepare("select id, name from events order by id, _dlt_load_id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn only_new_and_changed_files_load_and_the_cursor_is_dlts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let base = SystemTime::now() - Duration::from_secs(600);
    std::fs::write(data.join("a.jsonl"), "{\"id\": 1, \"name\": \"a\"}\n").unwrap();
    std::fs::write(data.join("b.csv"), "id,name\n2,b\n").unwrap();
    touch(&data.join("a.jsonl"), base, 1);
    touch(&data.join("b.csv"), base, 2);
    let mut p = pipeline(dir.path());

    assert_eq!(run(&mut p, &data).await, (2, 2));
    assert_eq!(rows(dir.path()), [(1, "a".into()), (2, "b".into())]);
    assert_eq!(run(&mut p, &data).await, (0, 0));

    // the state: dlt's cursor layout under the table's resource, the newest file's time
    // and the hash of its URL
    let state = p.state().unwrap().unwrap();
    let cursor = state
        .resource_value(
            "files",
            &pipeline::incremental_state_path("events", source_fs::CURSOR),
        )
        .unwrap();
    let last = cursor["last_value"].as_str().unwrap();
    assert!(last.ends_with('Z') && last.contains('T'), "{cursor}");
    assert_eq!(cursor["unique_hashes"].as_array().unwrap().len(), 1);

    // b changes: loaded again (append), a is not
    std::fs::write(data.join("b.csv"), "id,name\n3,b2\n").unwrap();
    touch(&data.join("b.csv"), base, 5);
    assert_eq!(run(&mut p, &data).await, (1, 1));
    assert_eq!(
        rows(dir.path()),
        [(1, "a".into()), (2, "b".into()), (3, "b2".into())]
    );
}

#[test]
fn a_missing_folder_and_an_object_store_are_errors() {
    let e = Filesystem::new("/nonexistent/dlt-rs/data").unwrap_err();
    assert!(matches!(e, FsError::Io { .. }), "{e}");
    let e = Filesystem::new("gs://bucket/data").unwrap_err();
    assert!(matches!(e, FsError::UnsupportedScheme { .. }), "{e}");
}
