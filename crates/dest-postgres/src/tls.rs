//! TLS for connections, with libpq's `sslmode` semantics, through rustls (pure Rust, no
//! OpenSSL to install).
//!
//! | `sslmode` | TLS | server certificate |
//! | --- | --- | --- |
//! | `disable`, `allow` | no | — |
//! | `prefer` (default) | when the server offers it | not checked (as libpq) |
//! | `require` | yes | not checked; with `sslrootcert`, checked as `verify-ca` (as libpq) |
//! | `verify-ca` | yes | signed by a certificate in `sslrootcert` |
//! | `verify-full` | yes | as `verify-ca`, and issued for the host connected to |
//!
//! `sslrootcert` (a PEM file) defaults to `~/.postgresql/root.crt`, as in libpq. A client
//! certificate (`sslcert`, a PEM chain, and `sslkey`, its unencrypted PEM key: PKCS#8,
//! PKCS#1 or SEC1) is sent when the server asks for one, for `cert` authentication;
//! without `sslcert`, `~/.postgresql/postgresql.crt` and `.key` are used when they exist,
//! as in libpq. Encrypted keys (`sslpassword`) are not supported, and unlike libpq the key
//! file's permissions are not checked. Unlike OpenSSL, rustls refuses
//! a server certificate that is itself marked as a CA (the default of `openssl req -x509`)
//! when it checks the chain: give the server a certificate signed by a CA, or one made
//! with `basicConstraints=CA:FALSE` (as `cargo xtask`'s throwaway cluster does).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dest_core::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_postgres::config::SslMode;

/// How a connection uses TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// `sslmode` with the root certificates to check the server against, and the client
/// certificate to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: TlsMode,
    /// `sslrootcert`, when given.
    pub root_cert: Option<PathBuf>,
    /// `sslcert`, when given.
    pub client_cert: Option<PathBuf>,
    /// `sslkey`, when given.
    pub client_key: Option<PathBuf>,
}

impl TlsSettings {
    /// tokio-postgres' mode: whether TLS is tried, and whether it is required.
    pub(crate) fn ssl_mode(&self) -> SslMode {
        match self.mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        }
    }

    /// The rustls connector, `None` without TLS.
    pub(crate) fn connector(&self) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (chain, check_name) = match (&self.mode, &self.root_cert) {
            (TlsMode::Disable, _) => return Ok(None),
            (TlsMode::Prefer, _) | (TlsMode::Require, None) => (None, false),
            (TlsMode::Require | TlsMode::VerifyCa, root) => (
                Some(webpki(&root_file(root.as_deref())?, provider.clone())?),
                false,
            ),
            (TlsMode::VerifyFull, root) => (
                Some(webpki(&root_file(root.as_deref())?, provider.clone())?),
                true,
            ),
        };
        let verifier = Arc::new(Verifier {
            provider: provider.clone(),
            chain,
            check_name,
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match self.client_identity()? {
            Some((chain, key, cert_file)) => {
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    Error::Config(format!(
                        "TLS: the client certificate {} and its key do not go together: {e}",
                        cert_file.display()
                    ))
                })?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
    }

    /// The client certificate chain and key: `sslcert`/`sslkey`, else libpq's defaults
    /// `~/.postgresql/postgresql.crt`/`.key` when the certificate exists.
    fn client_identity(
        &self,
    ) -> Result<
        Option<(
            Vec<CertificateDer<'static>>,
            PrivateKeyDer<'static>,
            PathBuf,
        )>,
    > {
        let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql"));
        let cert_file = match (&self.client_cert, &home) {
            (Some(given), _) => given.clone(),
            (None, Some(dir)) if dir.join("postgresql.crt").is_file() => dir.join("postgresql.crt"),
            (None, _) => return Ok(None),
        };
        let key_file = match (&self.client_key, &home) {
            (Some(given), _) => given.clone(),
            (None, Some(dir)) => dir.join("postgresql.key"),
            (None, None) => {
                return Err(Error::Config(format!(
                    "TLS: the client certificate {} needs its key: set `sslkey`",
                    cert_file.display()
                )))
            }
        };
        let chain = CertificateDer::pem_file_iter(&cert_file)
            .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| {
                Error::Config(format!(
                    "TLS: cannot read the client certificate `sslcert` = {}: {e}",
                    cert_file.display()
                ))
            })?;
        if chain.is_empty() {
            return Err(Error::Config(format!(
                "TLS: {} holds no PEM certificate",
                cert_file.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| {
            Error::Config(format!(
                "TLS: cannot read the client key `sslkey` = {} (an unencrypted PEM key): {e}",
                key_file.display()
            ))
        })?;
        Ok(Some((chain, key, cert_file)))
    }
}

/// The root certificate file: the one given, or libpq's default `~/.postgresql/root.crt`.
fn root_file(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        Error::Config(
            "TLS: certificate verification needs `sslrootcert` (HOME is not set, so \
             ~/.postgresql/root.crt cannot be found)"
                .into(),
        )
    })?;
    Ok(PathBuf::from(home).join(".postgresql").join("root.crt"))
}

/// A verifier that checks the chain against the certificates in `root`, and the host name.
fn webpki(root: &Path, provider: Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>> {
    let mut store = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(root).map_err(|e| {
        Error::Config(format!(
            "TLS: cannot read the root certificate file `sslrootcert` = {}: {e}",
            root.display()
        ))
    })?;
    for cert in certs {
        let cert = cert.map_err(|e| {
            Error::Config(format!(
                "TLS: {} holds an unreadable certificate: {e}",
                root.display()
            ))
        })?;
        store.add(cert).map_err(|e| {
            Error::Config(format!(
                "TLS: {} holds an unusable certificate: {e}",
                root.display()
            ))
        })?;
    }
    if store.is_empty() {
        return Err(Error::Config(format!(
            "TLS: {} holds no PEM certificate",
            root.display()
        )));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
        .build()
        .map_err(|e| Error::Config(format!("TLS: {e}")))
}

/// Checks the server as the `sslmode` says: without `chain` (`prefer`, `require` without
/// root certificates) the certificate is not checked, as in libpq; with it the chain is,
/// and with `check_name` (`verify-full`) the host name too. The handshake's signatures are
/// always verified.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    //! TLS against the test server (PostgreSQL with `ssl = on`; Debian's packages turn it on
    //! with a self-signed "snakeoil" certificate for `localhost`, and `cargo xtask test`'s
    //! throwaway cluster does the same with a certificate of its own). Each `sslmode` with
    //! libpq's meaning: the connection is encrypted (`pg_stat_ssl`), and the server
    //! certificate is checked as the mode says.

    use crate::config::PostgresCredentials;

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

    /// Connects as the destination does; returns whether the session is encrypted, or the error.
    async fn connect(url: &str) -> Result<bool, String> {
        let c = PostgresCredentials::parse_url(url).map_err(|e| e.to_string())?;
        let config = c.to_pg_config().map_err(|e| e.to_string())?;
        let tls = c
            .tls_settings()
            .map_err(|e| e.to_string())?
            .connector()
            .map_err(|e| e.to_string())?;
        let client = crate::client::connect(&config, tls.as_ref(), "the test server")
            .await
            .map_err(|e| e.to_string())?;
        let row = client
            .query_one(
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.get(0))
    }

    #[tokio::test]
    async fn every_sslmode_does_what_libpq_does() {
        let cert = server_certificate().await;
        let base = test_support::pg_url();
        let url = url::Url::parse(&base).unwrap();
        let port = url.port().unwrap_or(5432);
        let user = url.username().to_string();
        let db = url.path().trim_start_matches('/').to_string();
        let at =
            |host: &str, query: &str| format!("postgresql://{user}@{host}:{port}/{db}?{query}");

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
            let got = connect(&url).await;
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
            let got = connect(&url).await;
            match (&got, &want) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{url}"),
                (Err(e), Err(part)) => assert!(e.contains(part.as_str()), "{url}: {e}"),
                _ => panic!("{url}: got {got:?}, want {want:?}"),
            }
        }
    }
}
