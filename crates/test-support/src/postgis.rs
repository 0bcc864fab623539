//! PostGIS for the tests of geometry columns: installed from Debian's packages where the
//! test server lacks it, and created in the test database.

use tokio_postgres::Client;

/// Makes sure the `postgis` extension exists in the database of `client`: when the server
/// does not have it, installs Debian's `postgresql-<major>-postgis-3` (as root, with
/// `apt-get`), then `CREATE EXTENSION postgis` (serialized between tests by an advisory lock).
///
/// # Panics
/// When PostGIS cannot be installed: the message says exactly what to install.
pub async fn ensure_postgis(client: &Client) {
    let available = |rows: Vec<tokio_postgres::Row>| !rows.is_empty();
    let query = "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'";
    let rows = client.query(query, &[]).await.unwrap_or_default();
    if !available(rows) {
        let major: String = match client.query_one("SHOW server_version_num", &[]).await {
            Ok(row) => row.get::<_, String>(0),
            Err(e) => panic!("could not read the server version: {e}"),
        };
        let major = major.get(..2).unwrap_or("15").to_string();
        let package = format!("postgresql-{major}-postgis-3");
        let status = std::process::Command::new("apt-get")
            .args(["install", "-y", "-q", &package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        let rows = client.query(query, &[]).await.unwrap_or_default();
        if !matches!(status, Ok(s) if s.success()) || !available(rows) {
            panic!(
                "PostGIS is not available on the test server and could not be installed \
                 ({status:?}): install it with `apt-get install {package}` (Debian; the \
                 server's own machine) and run the tests again"
            );
        }
    }
    let setup = "SELECT pg_advisory_lock(7353001); \
                 CREATE EXTENSION IF NOT EXISTS postgis; \
                 SELECT pg_advisory_unlock(7353001)";
    if let Err(e) = client.batch_execute(setup).await {
        panic!("could not create the postgis extension: {e}");
    }
}
