//! The dbt profile of the PostgreSQL destination (dbt-postgres' `type: postgres` output).
//!
//! Fields: `host`, `port`, `user`, `dbname`, `schema` (the dataset), `connect_timeout`,
//! `sslmode` (default `prefer`, as here) and, when given in the credentials' query,
//! `sslrootcert`, `sslcert`, `sslkey`, `application_name` and `keepalives_idle`. The
//! password is a secret: dbt reads it from `DLT_RS_DBT_PASSWORD` (empty without one, which
//! libpq takes as none). libpq parameters dbt-postgres has no field for go to the dbt process
//! as libpq's environment variables (`options` as `PGOPTIONS`, ...); the rest are left out
//! with a warning.

use dest_core::{DbtProfile, Error, Result};

use crate::config::PostgresCredentials;

/// The environment variable that carries the password to dbt.
pub(crate) const PASSWORD_ENV: &str = "DLT_RS_DBT_PASSWORD";

/// libpq connection parameters passed through libpq's environment variables.
const LIBPQ_ENV: &[(&str, &str)] = &[
    ("options", "PGOPTIONS"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
    ("gssencmode", "PGGSSENCMODE"),
    ("channel_binding", "PGCHANNELBINDING"),
    ("hostaddr", "PGHOSTADDR"),
    ("sslcrl", "PGSSLCRL"),
    ("sslcompression", "PGSSLCOMPRESSION"),
    ("requirepeer", "PGREQUIREPEER"),
    ("krbsrvname", "PGKRBSRVNAME"),
    ("service", "PGSERVICE"),
];

/// The dbt profile for `dataset` with `credentials`.
///
/// # Errors
/// [`Error::Config`] for an invalid `sslmode` or `keepalives_idle`.
pub(crate) fn profile(credentials: &PostgresCredentials, dataset: &str) -> Result<DbtProfile> {
    // rejects an unknown sslmode, as loading does
    credentials.tls_settings()?;
    let query = &credentials.query;
    let mut p = DbtProfile::new("postgres")
        .field("host", credentials.host.as_str())
        .field("port", i64::from(credentials.port))
        .field("user", credentials.username.as_str())
        .secret(
            "password",
            PASSWORD_ENV,
            credentials
                .password
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_default(),
        )
        .field("dbname", credentials.database.as_str())
        .field("schema", dataset)
        .field(
            "connect_timeout",
            i64::try_from(credentials.connect_timeout).unwrap_or(i64::MAX),
        )
        .field(
            "sslmode",
            query.get("sslmode").map_or("prefer", |m| m.trim()),
        );
    for key in ["sslrootcert", "sslcert", "sslkey"] {
        if let Some(path) = query.get(key) {
            p = p.field(key, path.trim());
        }
    }
    if let Some(name) = query
        .get("application_name")
        .or_else(|| query.get("fallback_application_name"))
    {
        p = p.field("application_name", name.as_str());
    }
    if let Some(idle) = query.get("keepalives_idle") {
        let secs: i64 = idle.trim().parse().map_err(|_| {
            Error::Config(format!(
                "invalid `keepalives_idle` `{idle}` in the postgres credentials: not a whole \
                 number of seconds"
            ))
        })?;
        p = p.field("keepalives_idle", secs);
    }
    if let Some(encoding) = &credentials.client_encoding {
        p = p.env("PGCLIENTENCODING", encoding.as_str());
    }
    for (key, value) in query {
        match key.as_str() {
            "sslmode"
            | "sslrootcert"
            | "sslcert"
            | "sslkey"
            | "application_name"
            | "fallback_application_name"
            | "keepalives_idle" => {}
            k => match LIBPQ_ENV.iter().find(|(param, _)| *param == k) {
                Some((_, var)) => p = p.env(*var, value.as_str()),
                // never log the value: it may be a secret (sslpassword)
                None => tracing::warn!(
                    parameter = k,
                    "dbt-postgres cannot take this connection parameter; dbt connects without it"
                ),
            },
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use dest_core::ProfileValue;

    use super::*;

    #[test]
    fn fields_and_secret() {
        let c = PostgresCredentials::parse_url(
            "postgresql://loader:s3cr%40t@db.example.com:6543/dlt_data?sslmode=verify-full\
             &sslrootcert=/ca.pem&connect_timeout=5&options=-c%20statement_timeout%3D0\
             &keepalives_idle=30&keepalives=1",
        )
        .unwrap();
        let p = profile(&c, "raw").unwrap();
        let fields: Vec<String> = p.fields.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        assert_eq!(
            fields,
            [
                "host=Str(\"db.example.com\")",
                "port=Int(6543)",
                "user=Str(\"loader\")",
                "dbname=Str(\"dlt_data\")",
                "schema=Str(\"raw\")",
                "connect_timeout=Int(5)",
                "sslmode=Str(\"verify-full\")",
                "sslrootcert=Str(\"/ca.pem\")",
                "keepalives_idle=Int(30)",
            ]
        );
        assert_eq!(p.secrets.len(), 1);
        assert_eq!(p.secrets[0].field, "password");
        assert_eq!(p.secrets[0].env_var, PASSWORD_ENV);
        assert_eq!(p.secrets[0].value, "s3cr@t");
        assert_eq!(
            p.env,
            [(
                "PGOPTIONS".to_string(),
                "-c statement_timeout=0".to_string()
            )]
        );
        assert!(!format!("{p:?}").contains("s3cr@t"));
    }

    #[test]
    fn defaults_without_password() {
        let c = PostgresCredentials::parse_url("postgresql://postgres@localhost/postgres").unwrap();
        let p = profile(&c, "ds").unwrap();
        assert_eq!(p.get("sslmode"), Some(&ProfileValue::Str("prefer".into())));
        assert_eq!(p.get("port"), Some(&ProfileValue::Int(5432)));
        assert_eq!(p.get("connect_timeout"), Some(&ProfileValue::Int(15)));
        assert_eq!(p.secrets[0].value, "");
    }

    #[test]
    fn bad_sslmode_is_an_error() {
        let c = PostgresCredentials::parse_url("postgresql://u@h/d?sslmode=sometimes").unwrap();
        let e = profile(&c, "ds").unwrap_err().to_string();
        assert!(e.contains("sslmode"), "{e}");
    }
}
