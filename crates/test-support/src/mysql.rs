//! A MySQL / MariaDB server for tests of the MySQL source: its URL and one database per test.

use mysql_async::prelude::Queryable;

/// The server: `DLT_RS_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306` (MariaDB's
/// Debian package with its root user on our machines). No database in it.
pub fn mysql_url() -> String {
    std::env::var("DLT_RS_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// A fresh database for `test_name` (named as [`crate::schema_name`] names schemas), made
/// by the statements `ddl` (`;`-separated, run in it). Returns the database's name.
///
/// # Panics
/// When the server cannot be reached (the message says how to start one) or refuses a
/// statement.
pub async fn fresh_mysql_database(test_name: &str, ddl: &str) -> String {
    let name = crate::schema_name(test_name);
    let url = mysql_url();
    let opts = match mysql_async::Opts::from_url(&url) {
        Ok(opts) => opts,
        Err(e) => panic!("DLT_RS_TEST_MYSQL_URL is not a mysql:// URL: {e}"),
    };
    let mut conn = match mysql_async::Conn::new(opts).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "MySQL/MariaDB is not reachable at {} ({e}): the MySQL source's tests need one; \
             install and start MariaDB (`apt-get install mariadb-server && service mariadb \
             start`, root without a password on 127.0.0.1:3306) or set DLT_RS_TEST_MYSQL_URL",
            crate::redact_url(&url)
        ),
    };
    let setup = format!(
        "DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4; USE `{name}`; {ddl}"
    );
    if let Err(e) = conn.query_drop(&setup).await {
        panic!("could not set up database {name} of {test_name:?}: {e}");
    }
    conn.disconnect().await.ok();
    name
}

/// Runs `sql` (statements separated by `;`) in database `db`.
///
/// # Panics
/// When the server refuses them.
pub async fn mysql_execute(db: &str, sql: &str) {
    let url = format!("{}/{db}", mysql_url());
    let result = async {
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url)?).await?;
        conn.query_drop(sql).await?;
        conn.disconnect().await
    }
    .await;
    if let Err(e) = result {
        panic!("MySQL statements failed: {e}\n  sql: {sql}");
    }
}
