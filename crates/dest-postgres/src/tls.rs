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
