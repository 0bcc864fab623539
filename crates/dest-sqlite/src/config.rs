//! Credentials (the main database file) and settings of the SQLite destination.
//!
//! The credentials name the main database file, in any of dlt's forms:
//! `destination.sqlite.credentials = "path/to/data.db"` (or `--credentials PATH`, or
//! `.credentials(path)` in code), a SQLAlchemy URL `sqlite:///relative/path.db` /
//! `sqlite:////absolute/path.db`, or a table with the file in `database`
//! (`[destination.sqlite.credentials] database = "data.db"`, also
//! `DESTINATION__SQLITE__CREDENTIALS__DATABASE`). A relative path is relative to the folder
//! the pipeline runs in. Settings: `[destination.sqlite] create_indexes` (default true),
//! `busy_timeout` (seconds another connection's write lock is waited for, default 30),
//! `staging_dataset_name_layout` (default `%s_staging`) and `replace_strategy`
//! ([`SqlSettings`]).

use std::path::{Path, PathBuf};

use dest_core::config::{Found, Resolver};
use dest_core::{Error, Result};
use dest_sql::SqlSettings;
use serde_json::Value as Json;

/// The main database file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteCredentials {
    pub database: PathBuf,
}

impl SqliteCredentials {
    /// Parses a path or a `sqlite:///` URL.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty path, an in-memory database, or a URL of another
    /// database.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let path = if let Some(rest) = s.strip_prefix("sqlite://") {
            // SQLAlchemy: sqlite:///relative.db, sqlite:////absolute.db, sqlite:// = memory
            let rest = rest.strip_prefix('/').unwrap_or(rest);
            rest.split('?').next().unwrap_or(rest)
        } else if s.contains("://") {
            let scheme = s.split("://").next().unwrap_or_default();
            return Err(Error::Config(format!(
                "the credentials of destination `sqlite` are a path to the database file or a \
                 `sqlite:///path` URL, not a `{scheme}://` URL"
            )));
        } else {
            s
        };
        if path.is_empty() || path == ":memory:" {
            return Err(Error::Config(
                "destination `sqlite` needs a database file: an in-memory database is private to \
                 one connection, and a load opens several; give a path such as `data.db`"
                    .into(),
            ));
        }
        Ok(SqliteCredentials {
            database: PathBuf::from(path),
        })
    }

    /// Resolves the credentials of destination `destination_name`.
    ///
    /// # Errors
    /// [`Error::MissingConfig`] listing every key tried; [`Error::InvalidConfig`] for a
    /// value that is no path.
    pub fn resolve(r: &Resolver<'_>, destination_name: &str) -> Result<Self> {
        let section = ["destination", destination_name, "credentials"];
        if let Some(found) = r.find(&section, "") {
            match &found.value {
                Json::Object(map) => {
                    if let Some(db) = map.get("database").filter(|v| !v.is_null()) {
                        let at = Found {
                            value: db.clone(),
                            key: format!("{}.database", found.key),
                            origin: found.origin.clone(),
                        };
                        return parse_found(&at);
                    }
                }
                _ => return parse_found(&found),
            }
        }
        if let Some(found) = r.find(&section, "database") {
            return parse_found(&found);
        }
        let mut tried = r.tried_keys(&section, "");
        tried.extend(r.tried_keys(&section, "database"));
        Err(Error::MissingConfig {
            what: format!("the database file of destination `{destination_name}`"),
            fields: vec!["database".into()],
            tried,
        })
    }

    /// The file of dataset `dataset`: `<folder>/<main stem>__<dataset><main suffix>` next to
    /// the main file (dlt's sqlalchemy naming); `main` is the main file itself.
    pub fn dataset_file(&self, dataset: &str) -> PathBuf {
        if dataset == "main" {
            return self.database.clone();
        }
        let stem = self
            .database
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let suffix = self
            .database
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let parent = self.database.parent().unwrap_or(Path::new(""));
        parent.join(format!("{stem}__{dataset}{suffix}"))
    }
}

fn parse_found(found: &Found) -> Result<SqliteCredentials> {
    let s = found.as_string()?;
    SqliteCredentials::parse(&s).map_err(|e| match e {
        Error::Config(reason) => found.invalid(&reason),
        other => other,
    })
}

/// Settings of an SQLite destination (section `destination.<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteSettings {
    /// `create_indexes`, `staging_dataset_name_layout`, `replace_strategy`.
    pub sql: SqlSettings,
    /// Seconds to wait for another connection's lock before failing (transiently).
    pub busy_timeout_secs: u64,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings {
            sql: SqlSettings::default(),
            busy_timeout_secs: 30,
        }
    }
}

impl SqliteSettings {
    /// Resolves the settings: `destination.<name>.<field>`, `destination.<field>`, `<field>`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a value of the wrong type.
    pub fn resolve(r: &Resolver<'_>, destination_name: &str) -> Result<Self> {
        let defaults = SqliteSettings::default();
        let find = |field: &str| r.find(&["destination", destination_name, field], "");
        let busy_timeout_secs = match find("busy_timeout") {
            Some(f) => f.as_u64()?,
            None => defaults.busy_timeout_secs,
        };
        Ok(SqliteSettings {
            sql: SqlSettings::resolve(r, destination_name)?,
            busy_timeout_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dest_core::config::ConfigSource;

    #[derive(Debug)]
    struct One(Json);

    impl ConfigSource for One {
        fn provider_count(&self) -> usize {
            1
        }
        fn provider_name(&self, _: usize) -> String {
            "test".into()
        }
        fn value(&self, _: usize, path: &[&str]) -> Option<Json> {
            let mut v = &self.0;
            for p in path {
                v = v.get(p)?;
            }
            Some(v.clone())
        }
    }

    fn resolve(config: Json) -> Result<SqliteCredentials> {
        let src = One(config);
        SqliteCredentials::resolve(&Resolver::new(&src, Some("p")), "sqlite")
    }

    #[test]
    fn credential_forms() {
        let path = |s: &str| SqliteCredentials::parse(s).unwrap().database;
        assert_eq!(path("data.db"), PathBuf::from("data.db"));
        assert_eq!(path("sqlite:///rel/data.db"), PathBuf::from("rel/data.db"));
        assert_eq!(
            path("sqlite:////abs/data.db"),
            PathBuf::from("/abs/data.db")
        );
        assert!(SqliteCredentials::parse("sqlite://").is_err());
        assert!(SqliteCredentials::parse(":memory:").is_err());
        let err = SqliteCredentials::parse("postgresql://u@h/db").unwrap_err();
        assert!(
            err.to_string().contains("not a `postgresql://` URL"),
            "{err}"
        );

        let from = |v: Json| resolve(v).unwrap().database;
        assert_eq!(
            from(serde_json::json!({"destination": {"sqlite": {"credentials": "a.db"}}})),
            PathBuf::from("a.db")
        );
        assert_eq!(
            from(
                serde_json::json!({"destination": {"sqlite": {"credentials": {"database": "b.db"}}}})
            ),
            PathBuf::from("b.db")
        );
        assert_eq!(
            from(serde_json::json!({"credentials": "sqlite:////c.db"})),
            PathBuf::from("/c.db")
        );
        let missing = resolve(serde_json::json!({})).unwrap_err().to_string();
        assert!(
            missing.contains("DESTINATION__SQLITE__CREDENTIALS__DATABASE"),
            "{missing}"
        );
        let bad =
            resolve(serde_json::json!({"destination": {"sqlite": {"credentials": ":memory:"}}}))
                .unwrap_err()
                .to_string();
        assert!(bad.contains("destination.sqlite.credentials"), "{bad}");
    }

    #[test]
    fn dataset_files_sit_next_to_the_main_file() {
        let c = SqliteCredentials::parse("/data/dlt.db").unwrap();
        assert_eq!(c.dataset_file("raw"), PathBuf::from("/data/dlt__raw.db"));
        assert_eq!(c.dataset_file("main"), PathBuf::from("/data/dlt.db"));
        let c = SqliteCredentials::parse("plain").unwrap();
        assert_eq!(c.dataset_file("raw"), PathBuf::from("plain__raw"));
    }

    #[test]
    fn settings() {
        let src = One(
            serde_json::json!({"destination": {"sqlite": {"create_indexes": false, "busy_timeout": 5}}}),
        );
        let s = SqliteSettings::resolve(&Resolver::new(&src, None), "sqlite").unwrap();
        assert!(!s.sql.create_indexes);
        assert_eq!(s.busy_timeout_secs, 5);
        assert_eq!(s.sql.staging_dataset_name_layout, "%s_staging");
    }
}
