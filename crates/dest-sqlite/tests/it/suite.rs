//! The destination conformance suite (`dest-test`) against SQLite: one test per case, each
//! with a main database file of its own in a temporary folder (datasets are the files
//! `main__<dataset>.db` next to it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use dest_sqlite::SqliteCredentials;
use dest_test::{async_trait, Harness};
use rusqlite::types::ValueRef;

use dest_sqlite as _; // registers `sqlite`

struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn main(&self) -> PathBuf {
        self.dir.path().join("main.db")
    }

    fn file(&self, dataset: &str) -> PathBuf {
        SqliteCredentials::parse(self.main().to_str().unwrap())
            .unwrap()
            .dataset_file(dataset)
    }

    /// The main file with `dataset` and its staging dataset attached.
    fn connect(&self, dataset: &str) -> rusqlite::Connection {
        let db = rusqlite::Connection::open(self.main()).unwrap();
        for name in [dataset.to_string(), format!("{dataset}_staging")] {
            db.execute(
                "ATTACH DATABASE ?1 AS ?2",
                (self.file(&name).to_str().unwrap(), name.as_str()),
            )
            .unwrap();
        }
        db
    }
}

#[async_trait]
impl Harness for Sqlite {
    fn destination(&self) -> &str {
        "sqlite"
    }

    fn credentials(&self) -> String {
        self.main().display().to_string()
    }

    fn unreachable_credentials(&self) -> Option<String> {
        Some("/nonexistent/dir/main.db".into())
    }

    async fn fresh_dataset(&self, name: &str) -> String {
        for d in [name.to_string(), format!("{name}_staging")] {
            let _ = std::fs::remove_file(self.file(&d));
        }
        name.to_string()
    }

    async fn query(&self, dataset: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        let db = self.connect(dataset);
        let mut stmt = db
            .prepare(sql)
            .unwrap_or_else(|e| panic!("{e}\n  sql: {sql}"));
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        Ok(match r.get_ref(i)? {
                            ValueRef::Null => None,
                            ValueRef::Integer(v) => Some(v.to_string()),
                            ValueRef::Real(v) => Some(format!("{v:?}")),
                            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => {
                                Some(b.iter().map(|x| format!("{x:02x}")).collect())
                            }
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap_or_else(|e| panic!("{e}\n  sql: {sql}"));
        rows.collect::<rusqlite::Result<_>>()
            .unwrap_or_else(|e| panic!("{e}\n  sql: {sql}"))
    }

    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    async fn columns(&self, dataset: &str, table: &str) -> Vec<(String, String)> {
        let db = self.connect(dataset);
        let mut stmt = db
            .prepare("SELECT name, type FROM pragma_table_info(?1, ?2) ORDER BY cid")
            .unwrap();
        let rows = stmt
            .query_map((table, dataset), |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }
}

// doc:start suite
dest_test::suite!(Sqlite::new());
// doc:end suite
