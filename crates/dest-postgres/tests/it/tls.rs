//! TLS against the test server (PostgreSQL with `ssl = on`; Debian's packages turn it on
//! with a self-signed "snakeoil" certificate for `localhost`, and `cargo xtask test`'s
//! throwaway cluster does the same with a certificate of its own). Each `sslmode` with
//! libpq's meaning: the destination's connection is encrypted (`pg_stat_ssl`), and the server
//! certificate is checked as the mode says.

use std::sync::atomic::{AtomicUsize, Ordering};

use dest_core::{DatasetRef, Destination};
use dest_postgres::{Postgres, PostgresCredentials, PostgresSettings};

/// The server's certificate file, to trust as the root (it is self-signed).
async fn server_certificate() -> String {
    let db = test_support::connect().await;
    let ssl: String = db.query_one("show ssl", &[]).await.unwrap().get(0);
    assert_eq!(
        ssl, "on",
        "the test server has ssl = off: the TLS tests need a server with TLS (cargo xtask \
         test's throwaway cluster enables it; for another server set ssl = on)"
    );
    let file: String = db
        .query_one("show ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    if std::path::Path::new(&file).is_absolute() {
        return file;
    }
    // relative to the data directory
    let data: String = db
        .query_one("show data_directory", &[])
        .await
        .unwrap()
        .get(0);
    std::path::Path::new(&data)
        .join(file)
        .to_string_lossy()
        .into_owned()
}

/// Connects as the destination does (`Destination::client` with credentials from `url`);
/// returns whether that session is encrypted, as `admin` (a superuser session on the same
/// server) sees it in `pg_stat_ssl`, or the error.
async fn connect(admin: &tokio_postgres::Client, url: &str) -> Result<bool, String> {
    static SESSIONS: AtomicUsize = AtomicUsize::new(0);
    // a name to find the destination's session by
    let name = format!(
        "dlt_rs_tls_test_{}_{}",
        std::process::id(),
        SESSIONS.fetch_add(1, Ordering::Relaxed)
    );
    let mut c = PostgresCredentials::parse_url(url).map_err(|e| e.to_string())?;
    c.query.insert("application_name".into(), name.clone());
    let destination = Postgres::new(c, PostgresSettings::default());
    let client = destination
        .client(&DatasetRef {
            name: "tls".into(),
            staging: "tls_staging".into(),
        })
        .await
        .map_err(|e| e.to_string())?;
    let rows = admin
        .query(
            "select s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid) \
             where a.application_name = $1",
            &[&name],
        )
        .await
        .map_err(|e| e.to_string())?;
    drop(client);
    assert_eq!(rows.len(), 1, "the destination's session {name}");
    Ok(rows[0].get(0))
}

#[tokio::test]
async fn every_sslmode_does_what_libpq_does() {
    let cert = server_certificate().await;
    let admin = test_support::connect().await;
    let base = test_support::pg_url();
    let url = url::Url::parse(&base).unwrap();
    let port = url.port().unwrap_or(5432);
    let user = url.username().to_string();
    let db = url.path().trim_start_matches('/').to_string();
    let at = |host: &str, query: &str| format!("postgresql://{user}@{host}:{port}/{db}?{query}");

    let cases: Vec<(String, Result<bool, &str>)> = vec![
        (at("127.0.0.1", "sslmode=disable"), Ok(false)),
        (at("127.0.0.1", "sslmode=prefer"), Ok(true)),
        (at("127.0.0.1", ""), Ok(true)),
        (at("127.0.0.1", "sslmode=require"), Ok(true)),
        // the certificate is for `localhost`: verify-ca does not look at the name
        (
            at(
                "127.0.0.1",
                &format!("sslmode=verify-ca&sslrootcert={cert}"),
            ),
            Ok(true),
        ),
        (
            at(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={cert}"),
            ),
            Ok(true),
        ),
        (
            at(
                "127.0.0.1",
                &format!("sslmode=verify-full&sslrootcert={cert}"),
            ),
            Err("certificate"),
        ),
        // a root that did not sign the server's certificate
        (
            at(
                "localhost",
                "sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt",
            ),
            Err("certificate"),
        ),
        (
            at(
                "localhost",
                "sslmode=verify-full&sslrootcert=/nonexistent/root.crt",
            ),
            Err("/nonexistent/root.crt"),
        ),
        (
            at("localhost", "sslmode=require&sslcert=/x.crt"),
            Err("sslcert"),
        ),
    ];
    for (url, want) in cases {
        let got = connect(&admin, &url).await;
        match (&got, &want) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{url}"),
            (Err(e), Err(part)) => assert!(e.contains(part), "{url}: {e}"),
            _ => panic!("{url}: got {got:?}, want {want:?}"),
        }
    }
}

/// Runs `openssl` in `dir`; panics with its output when it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the certificate test needs `openssl` (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 key and a certificate for `cn` signed by `ca.crt`/`ca.key` in `dir`.
fn issue(dir: &std::path::Path, name: &str, cn: &str, ext: &str) {
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &crt,
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

/// `cert` authentication: a private cluster that admits `postgres` only with a client
/// certificate signed by its CA. `sslcert`/`sslkey` get in; no certificate, a
/// certificate for another user, or a missing key file do not, each saying why.
#[tokio::test]
async fn a_client_certificate_logs_in_where_the_server_demands_one() {
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=dlt-rs test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    let server_ext = "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
                      extendedKeyUsage=serverAuth\n";
    let client_ext = "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n";
    issue(dir, "server", "localhost", server_ext);
    issue(dir, "client", "postgres", client_ext);
    issue(dir, "other", "someone_else", client_ext);

    let cluster = test_support::cluster::Cluster::start(
        &[
            "ssl = on",
            "ssl_cert_file = 'server.crt'",
            "ssl_key_file = 'server.key'",
            "ssl_ca_file = 'ca.crt'",
        ],
        |data| {
            for f in ["server.crt", "server.key", "ca.crt"] {
                std::fs::copy(dir.join(f), data.join(f)).unwrap();
            }
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 cert\n\
                 hostssl all all ::1/128 cert\n",
            )
            .unwrap();
        },
    );
    // the superuser, through the cluster's socket (`local all all trust`)
    let admin = test_support::connect_to(&format!(
        "host={} port={} user=postgres dbname=postgres",
        cluster.data_dir().parent().unwrap().display(),
        cluster.port()
    ))
    .await;
    let file = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let at = |query: String| {
        format!(
            "postgresql://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}{query}",
            cluster.port(),
            file("ca.crt")
        )
    };
    let cases: Vec<(String, Result<bool, String>)> = vec![
        (
            at(format!(
                "&sslcert={}&sslkey={}",
                file("client.crt"),
                file("client.key")
            )),
            Ok(true),
        ),
        (at(String::new()), Err("certificate".into())),
        (
            at(format!(
                "&sslcert={}&sslkey={}",
                file("other.crt"),
                file("other.key")
            )),
            Err("postgres".into()),
        ),
        (
            at(format!(
                "&sslcert={}&sslkey={}",
                file("client.crt"),
                file("nokey.key")
            )),
            Err("nokey.key".into()),
        ),
        (
            at(format!(
                "&sslcert={}&sslkey={}",
                file("client.crt"),
                file("other.key")
            )),
            Err("do not go together".into()),
        ),
    ];
    for (url, want) in cases {
        let got = connect(&admin, &url).await;
        match (&got, &want) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{url}"),
            (Err(e), Err(part)) => assert!(e.contains(part.as_str()), "{url}: {e}"),
            _ => panic!("{url}: got {got:?}, want {want:?}"),
        }
    }
}
