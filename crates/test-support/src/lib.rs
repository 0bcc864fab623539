//! Helpers for tests that talk to a real PostgreSQL: the server URL and one schema per test.
//!
//! The server comes from `DLT_RS_TEST_PG_URL`, which `cargo xtask test` sets after finding a
//! server on 127.0.0.1:5432 or starting a throwaway cluster; without it the default
//! `postgresql://postgres@127.0.0.1:5432/postgres` is used. Tests never skip when no server
//! answers: [`connect`] panics with a message that says how to get one.
//!
//! Every test works in its own schema ([`schema_name`] / [`fresh_schema`]), so tests can run in
//! parallel against one database.
//!
//! ```ignore
//! #[tokio::test]
//! async fn loads_rows() {
//!     let client = test_support::connect().await;
//!     let schema = test_support::fresh_schema(&client, "loads_rows").await;
//!     // ... load into `schema` ...
//!     let rows = test_support::query_rows(&client, &format!("select count(*) from {schema}.items")).await;
//!     assert_eq!(rows, vec![vec![Some("3".to_string())]]);
//! }
//! ```

pub mod chromium;
pub mod cluster;
pub mod dbt;
pub mod mysql;
pub mod postgis;
pub mod python;
pub mod tmux;

/// The path of `binary`, installed from Debian's package `package` (as root, with
/// `apt-get`) when missing; `purpose` says in the panic what needs it.
///
/// # Panics
/// When the package cannot be installed: the message says exactly what to install.
pub fn ensure_debian_binary(binary: &str, package: &str, purpose: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(binary);
    if !path.exists() {
        let status = std::process::Command::new("apt-get")
            .args(["install", "-y", "-q", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        if !matches!(status, Ok(s) if s.success()) || !path.exists() {
            panic!(
                "{package} is needed for {purpose} and could not be installed ({status:?}): \
                 install it with `apt-get install {package}` (Debian) and run the tests again"
            );
        }
    }
    path
}

use sha3::{Digest, Sha3_256};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// The environment variable naming the PostgreSQL server the tests use.
pub const URL_ENV: &str = "DLT_RS_TEST_PG_URL";

/// The server used when [`URL_ENV`] is not set.
pub const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

/// Longest name [`schema_name`] returns: 63 bytes (PostgreSQL's identifier limit) minus `_staging`.
pub const MAX_SCHEMA_NAME_LEN: usize = 63 - "_staging".len();

/// Hex digits of the hash [`schema_name`] appends.
const HASH_HEX_LEN: usize = 8;

/// The URL of the test server: `DLT_RS_TEST_PG_URL` if set (and not blank), else [`DEFAULT_URL`].
pub fn pg_url() -> String {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => DEFAULT_URL.to_string(),
    }
}

/// `url` with any password replaced by `***`, fit for messages and logs.
///
/// Handles the URL form (`postgresql://user:secret@host/db`, `?password=secret`) and the
/// key/value form (`host=... password=secret`).
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    // userinfo password: scheme://user:secret@host
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo_end = auth_start + at;
            if let Some(colon) = out[auth_start..userinfo_end].find(':') {
                out.replace_range(auth_start + colon + 1..userinfo_end, "***");
            }
        }
    }
    // password=secret in a query string or a key/value connection string
    let mut search_from = 0;
    while let Some(i) = out[search_from..].to_ascii_lowercase().find("password=") {
        let value_start = search_from + i + "password=".len();
        let value_end = out[value_start..]
            .find(|c: char| c == '&' || c.is_whitespace())
            .map_or(out.len(), |j| value_start + j);
        out.replace_range(value_start..value_end, "***");
        search_from = value_start + 3;
    }
    out
}

/// Connects to [`pg_url`] and drives the connection on the current tokio runtime (its errors
/// are written to stderr).
///
/// # Panics
///
/// When no server answers or the login fails, with a message saying how to get a server; and
/// when called outside a tokio runtime. Database tests never skip silently.
pub async fn connect() -> Client {
    connect_to(&pg_url()).await
}

/// Connects to `url` (another server than [`pg_url`], such as a private [`cluster::Cluster`]);
/// panics like [`connect`].
pub async fn connect_to(url: &str) -> Client {
    match tokio_postgres::connect(url, NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    eprintln!("test-support: PostgreSQL connection error: {e}");
                }
            });
            client
        }
        Err(e) => panic!(
            "no PostgreSQL at {}: {}. Run the tests with `cargo xtask test`, which finds or \
             starts one, or set {URL_ENV}",
            redact_url(url),
            error_chain(&e)
        ),
    }
}

/// `error` and its sources, joined with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A schema name unique to `test_name`: `t_` + a readable prefix of the name (lowercase,
/// `[a-z0-9_]`) + `_` + 8 hex digits of a SHA3-256 hash of the full name.
///
/// At most [`MAX_SCHEMA_NAME_LEN`] (55) bytes, so `<name>_staging` still fits PostgreSQL's
/// 63-byte identifier limit. The same test name always gives the same schema name.
pub fn schema_name(test_name: &str) -> String {
    let digest = Sha3_256::digest(test_name.as_bytes());
    let hash: String = digest
        .iter()
        .take(HASH_HEX_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect();

    let room = MAX_SCHEMA_NAME_LEN - "t_".len() - "_".len() - HASH_HEX_LEN;
    let mut readable = String::with_capacity(room);
    for c in test_name.chars() {
        if readable.len() >= room {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            readable.push(c);
        } else if !readable.is_empty() && !readable.ends_with('_') {
            readable.push('_');
        }
    }
    let readable = readable.trim_end_matches('_');

    if readable.is_empty() {
        format!("t_{hash}")
    } else {
        format!("t_{readable}_{hash}")
    }
}

/// `ident` quoted as a PostgreSQL identifier (`"a""b"`).
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Drops the schemas `<name>` and `<name>_staging` (with everything in them) where
/// `name = schema_name(test_name)`, and returns `name`.
///
/// # Panics
///
/// When the server refuses the statements.
pub async fn fresh_schema(client: &Client, test_name: &str) -> String {
    let name = schema_name(test_name);
    let sql = format!(
        "DROP SCHEMA IF EXISTS {} CASCADE; DROP SCHEMA IF EXISTS {} CASCADE",
        quote_ident(&name),
        quote_ident(&format!("{name}_staging"))
    );
    if let Err(e) = client.batch_execute(&sql).await {
        panic!("could not drop the test schemas of {test_name:?} ({name}): {e}");
    }
    name
}

/// Runs `sql` with the simple query protocol and returns every row, every value as text
/// (`None` for SQL NULL). Casts, ordering and the like are the caller's business.
///
/// # Panics
///
/// When the query fails, with the SQL in the message.
pub async fn query_rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let messages = match client.simple_query(sql).await {
        Ok(messages) => messages,
        Err(e) => panic!("query failed: {e}\n  sql: {sql}"),
    };
    messages
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_valid(name: &str) -> bool {
        name.starts_with("t_")
            && name.len() <= MAX_SCHEMA_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    #[test]
    fn schema_name_is_short_valid_and_readable() {
        let long =
            "a_really::long::Module::path::with_a_very_long_test_function_name_that_goes_on_and_on";
        for name in [
            "loads_rows",
            "Mixed Case & Symbols!",
            long,
            "",
            "::",
            "ünïcödé_tëst",
            &"x".repeat(500),
        ] {
            let schema = schema_name(name);
            assert!(is_valid(&schema), "{name:?} -> {schema:?}");
            assert!(format!("{schema}_staging").len() <= 63);
            assert!(!schema.contains("__"), "{schema}");
        }
        assert!(schema_name("loads_rows").starts_with("t_loads_rows_"));
        assert!(schema_name("Mixed Case & Symbols!").starts_with("t_mixed_case_symbols_"));
        assert_eq!(schema_name(long).len(), MAX_SCHEMA_NAME_LEN);
    }

    #[test]
    fn schema_name_is_deterministic_and_distinct() {
        assert_eq!(schema_name("merge::upsert"), schema_name("merge::upsert"));
        assert_ne!(schema_name("merge::upsert"), schema_name("merge_upsert"));
        assert_ne!(schema_name("merge::upsert"), schema_name("merge::Upsert"));
        let prefix = "x".repeat(100);
        assert_ne!(
            schema_name(&format!("{prefix}_one")),
            schema_name(&format!("{prefix}_two"))
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgresql://loader:s3cr:et@db:5432/dlt?sslmode=disable"),
            "postgresql://loader:***@db:5432/dlt?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgresql://postgres@127.0.0.1:5432/postgres"),
            "postgresql://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?user=x&password=hunter2&a=b"),
            "postgres://u@h/db?user=x&password=***&a=b"
        );
        assert_eq!(
            redact_url("host=localhost password=hunter2 user=x"),
            "host=localhost password=*** user=x"
        );
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    /// Needs the server: exercises connect, fresh_schema and query_rows together.
    #[tokio::test(flavor = "current_thread")]
    async fn round_trip_against_the_server() {
        let client = connect().await;
        let schema = fresh_schema(&client, "test_support::round_trip_against_the_server").await;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {s}; CREATE TABLE {s}.t (a int, b text); \
                 INSERT INTO {s}.t VALUES (1, 'x'), (2, NULL)",
                s = quote_ident(&schema)
            ))
            .await
            .unwrap();
        let rows = query_rows(
            &client,
            &format!("SELECT a, b FROM {}.t ORDER BY a", quote_ident(&schema)),
        )
        .await;
        assert_eq!(
            rows,
            vec![
                vec![Some("1".to_string()), Some("x".to_string())],
                vec![Some("2".to_string()), None],
            ]
        );
        // A second call starts from nothing again.
        let again = fresh_schema(&client, "test_support::round_trip_against_the_server").await;
        assert_eq!(again, schema);
        let left = query_rows(
            &client,
            &format!(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '{schema}'"
            ),
        )
        .await;
        assert_eq!(left, vec![vec![Some("0".to_string())]]);
    }
}
