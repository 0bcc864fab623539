//! Credentials and settings of the PostgreSQL destination, resolved like dlt does.
//!
//! Credentials live in section `destination.<name>.credentials` (`<name>` is the destination
//! name, `postgres` by default), either as a table of fields (`database`, `username`,
//! `password`, `host`, `port`, `connect_timeout`, `client_encoding`, `query`) or as a
//! connection string `postgresql://user:password@host:port/database?param=value`, and the
//! two forms may be combined: for each field the first value found wins, going through the
//! providers in precedence order (code, environment, files) and, within a provider, through
//! dlt's candidate keys from the most specific (`<pipeline>.destination.postgres.credentials.
//! <field>`) to the least (`credentials.<field>`); at each key the field itself is tried
//! before the matching part of a connection string stored at the credentials key.
//!
//! Passwords never appear in `Debug`, `Display` or error messages.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use dest_core::config::{Found, Resolver};
use dest_core::{Error, Result, Secret};
use dest_sql::SqlSettings;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value as Json;
use tokio_postgres::config::SslMode;

use crate::tls::{TlsMode, TlsSettings};

/// Destination type name used in errors.
const DESTINATION: &str = "postgres";

/// Port used when none is given.
pub(crate) const DEFAULT_PORT: u16 = 5432;
/// Seconds to wait for a connection when no `connect_timeout` is given (dlt's default).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: u64 = 15;
/// `application_name` reported to the server unless the credentials' `query` sets one.
pub(crate) const DEFAULT_APPLICATION_NAME: &str = "dlt-rs";

/// Characters left as they are in URL components: RFC 3986 unreserved ones.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Connection parameters whose value is a secret.
const SECRET_PARAMS: &[&str] = &["password", "sslpassword"];

/// Connection credentials of a PostgreSQL destination (dlt's `PostgresCredentials`).
///
/// `Display` is the connection string with the password replaced by `***`; `Debug` hides the
/// password too.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresCredentials {
    /// Database name (case preserved).
    pub database: String,
    /// User name.
    pub username: String,
    /// Password; `None` for trust, peer or other password-less authentication.
    pub password: Option<Secret>,
    /// Host name, IP address, or a directory holding the server's Unix socket (`/var/run/...`).
    pub host: String,
    /// Port (default 5432).
    pub port: u16,
    /// Seconds to wait for a connection; 0 waits forever (default 15).
    pub connect_timeout: u64,
    /// Client encoding; only UTF-8 is supported by the driver.
    pub client_encoding: Option<String>,
    /// Further libpq connection parameters (`sslmode`, `options`, `application_name`, ...).
    pub query: BTreeMap<String, String>,
}

impl PostgresCredentials {
    /// Credentials with the given required fields and defaults for the rest.
    pub fn new(
        database: impl Into<String>,
        username: impl Into<String>,
        host: impl Into<String>,
    ) -> Self {
        PostgresCredentials {
            database: database.into(),
            username: username.into(),
            password: None,
            host: host.into(),
            port: DEFAULT_PORT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            client_encoding: None,
            query: BTreeMap::new(),
        }
    }

    /// Parses a `postgresql://` or `postgres://` connection string.
    ///
    /// User, password, host and database are percent-decoded; a missing port is 5432. The
    /// query parameters `connect_timeout` and `client_encoding` set those fields, `host`,
    /// `port`, `user`, `password` and `dbname` override the URL's parts (as in libpq, e.g.
    /// `postgresql:///db?host=/var/run/postgresql`), all others go to `query`. Database, user
    /// and host are required here (dlt requires them); the password is not.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid string or missing parts; the message shows the string
    /// with its password replaced by `***`.
    pub fn parse_url(s: &str) -> Result<Self> {
        let invalid = |reason: &str| {
            Error::Config(format!(
                "invalid PostgreSQL connection string `{}`: {reason}",
                redact_url(s)
            ))
        };
        let parts = UrlParts::parse(s).map_err(|reason| invalid(&reason))?;
        let mut missing = Vec::new();
        if parts.database.is_none() {
            missing.push("database");
        }
        if parts.username.is_none() {
            missing.push("user name");
        }
        if parts.host.is_none() {
            missing.push("host");
        }
        if !missing.is_empty() {
            return Err(invalid(&format!("no {}", missing.join(", no "))));
        }
        let connect_timeout = match &parts.connect_timeout {
            Some(t) => t
                .trim()
                .parse()
                .map_err(|_| invalid("connect_timeout is not a whole number of seconds"))?,
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        Ok(PostgresCredentials {
            database: parts.database.unwrap_or_default(),
            username: parts.username.unwrap_or_default(),
            password: parts.password.map(Secret::new),
            host: parts.host.unwrap_or_default(),
            port: parts.port.unwrap_or(DEFAULT_PORT),
            connect_timeout,
            client_encoding: parts.client_encoding,
            query: parts.query,
        })
    }

    /// Resolves the credentials of destination `destination_name` (section
    /// `destination.<destination_name>.credentials`); see the module documentation for the
    /// search order.
    ///
    /// `database`, `username` and `host` are required. The password is optional: dlt requires
    /// it, but trust, peer and certificate authentication need none, so we deliberately let
    /// the server decide. It is stripped of surrounding whitespace (as dlt does); an empty
    /// password is no password.
    ///
    /// # Errors
    /// [`Error::MissingConfig`] naming every missing required field and every key tried
    /// (environment and TOML forms); [`Error::InvalidConfig`] for values of the wrong type or
    /// an invalid connection string (its password redacted).
    pub fn resolve(r: &Resolver<'_>, destination_name: &str) -> Result<Self> {
        let section = ["destination", destination_name, "credentials"];
        let lookup = Lookup {
            r,
            field_section: &section,
        };

        let string = |field: &str| -> Result<Option<String>> {
            lookup.find(field)?.map(|f| f.as_string()).transpose()
        };
        let database = string("database")?;
        let username = string("username")?;
        let host = string("host")?;
        let password = string("password")?
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .map(Secret::new);
        let client_encoding = string("client_encoding")?;
        let port = match lookup.find("port")? {
            Some(f) => u16::try_from(f.as_u64()?)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| f.invalid("expected a port number from 1 to 65535"))?,
            None => DEFAULT_PORT,
        };
        let connect_timeout = match lookup.find("connect_timeout")? {
            Some(f) => f.as_u64()?,
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        let query = match lookup.find("query")? {
            Some(f) => query_from_found(&f)?,
            None => BTreeMap::new(),
        };

        let required = [
            ("database", &database),
            ("username", &username),
            ("host", &host),
        ];
        let missing: Vec<&str> = required
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            // the connection string keys, then each missing field's keys
            let mut tried = r.tried_keys(&section, "");
            for field in &missing {
                tried.extend(r.tried_keys(&section, field));
            }
            return Err(Error::MissingConfig {
                what: format!("credentials of destination `{destination_name}`"),
                fields: missing.iter().map(|f| f.to_string()).collect(),
                tried,
            });
        }

        Ok(PostgresCredentials {
            database: database.unwrap_or_default(),
            username: username.unwrap_or_default(),
            password,
            host: host.unwrap_or_default(),
            port,
            connect_timeout,
            client_encoding,
            query,
        })
    }

    /// `sslmode` (default `prefer`, as libpq), `sslrootcert`, `sslcert` and `sslkey`.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown `sslmode`.
    pub fn tls_settings(&self) -> Result<TlsSettings> {
        let mode = match self.query.get("sslmode").map(|m| m.trim()) {
            None | Some("prefer") => TlsMode::Prefer,
            Some("disable" | "allow") => TlsMode::Disable,
            Some("require") => TlsMode::Require,
            Some("verify-ca") => TlsMode::VerifyCa,
            Some("verify-full") => TlsMode::VerifyFull,
            Some(other) => {
                return Err(Error::Config(format!(
                    "invalid `sslmode` `{other}` in the postgres credentials; expected \
                     disable, allow, prefer, require, verify-ca or verify-full"
                )))
            }
        };
        let path = |key: &str| {
            self.query
                .get(key)
                .map(|p| std::path::PathBuf::from(p.trim()))
        };
        Ok(TlsSettings {
            mode,
            root_cert: path("sslrootcert"),
            client_cert: path("sslcert"),
            client_key: path("sslkey"),
        })
    }

    /// The tokio-postgres configuration: host, port, user, password, database,
    /// `connect_timeout` (0: none), `application_name` (default `dlt-rs`, or the query's
    /// `application_name` / `fallback_application_name`), `options`, `sslmode` and the further
    /// parameters tokio-postgres knows (`keepalives`, `keepalives_idle`, `target_session_attrs`,
    /// `channel_binding`, `hostaddr`, `tcp_user_timeout`, ...).
    ///
    /// TLS follows `sslmode`, `sslrootcert`, `sslcert` and `sslkey` ([`crate::tls`], see
    /// [`Self::tls_settings`]); the other `ssl*` parameters (`sslpassword`, `sslcrl`, ...)
    /// are an error unless `sslmode=disable`.
    /// `client_encoding` must be UTF-8: the driver speaks nothing else.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for the other `ssl*` parameters, GSSAPI encryption, a non-UTF-8 client
    /// encoding or a parameter tokio-postgres does not know (naming it); [`Error::Config`]
    /// for an invalid value or a parameter in `query` that duplicates a credentials field.
    pub fn to_pg_config(&self) -> Result<tokio_postgres::Config> {
        let mut ssl_mode = SslMode::Prefer;
        let mut ssl_disabled = false;
        let mut application_name: Option<&str> = None;
        let mut fallback_application_name: Option<&str> = None;
        let mut options: Option<&str> = None;
        let mut ssl_params: Vec<&str> = Vec::new();
        let mut extra = String::new();

        for (key, value) in &self.query {
            match key.as_str() {
                "sslmode" => {
                    let tls = self.tls_settings()?;
                    ssl_disabled = tls.mode == TlsMode::Disable;
                    ssl_mode = tls.ssl_mode();
                }
                "sslrootcert" | "sslcert" | "sslkey" => {}
                "application_name" => application_name = Some(value),
                "fallback_application_name" => fallback_application_name = Some(value),
                "options" => options = Some(value),
                "gssencmode" => match value.trim() {
                    // no GSSAPI encryption: `prefer` falls back to a plain connection
                    "disable" | "prefer" => {}
                    _ => {
                        return Err(Error::Unsupported {
                            destination: DESTINATION.into(),
                            what: format!("`gssencmode={}`", value.trim()),
                            hint: Some("GSSAPI encryption is not supported".into()),
                        });
                    }
                },
                "host" | "port" | "user" | "password" | "dbname" | "connect_timeout"
                | "client_encoding" => {
                    let field = match key.as_str() {
                        "user" => "username",
                        "dbname" => "database",
                        k => k,
                    };
                    return Err(Error::Config(format!(
                        "connection parameter `{key}` is given in the postgres credentials' \
                         `query`; set the credentials field `{field}` instead"
                    )));
                }
                k if k.starts_with("ssl") => ssl_params.push(k),
                k => {
                    let param = libpq_param(k, value)?;
                    // check it alone, so the error names it
                    tokio_postgres::Config::from_str(&param)
                        .map_err(|e| pass_through_error(k, &e))?;
                    extra.push_str(&param);
                    extra.push(' ');
                }
            }
        }
        if !ssl_disabled {
            if let Some(param) = ssl_params.first() {
                return Err(Error::Unsupported {
                    destination: DESTINATION.into(),
                    what: format!("connection parameter `{param}`"),
                    hint: Some(
                        "TLS works with `sslmode`, `sslrootcert`, `sslcert` and `sslkey`; the \
                         other `ssl*` parameters (encrypted keys, revocation lists) are not \
                         supported yet"
                            .into(),
                    ),
                });
            }
        }
        if let Some(encoding) = &self.client_encoding {
            let normalized: String = encoding
                .trim()
                .chars()
                .filter(|c| *c != '-' && *c != '_')
                .collect::<String>()
                .to_ascii_uppercase();
            if normalized != "UTF8" && normalized != "UNICODE" {
                return Err(Error::Unsupported {
                    destination: DESTINATION.into(),
                    what: format!("`client_encoding={encoding}`"),
                    hint: Some("the driver always uses UTF8".into()),
                });
            }
        }

        let mut config = if extra.is_empty() {
            tokio_postgres::Config::new()
        } else {
            tokio_postgres::Config::from_str(extra.trim_end()).map_err(|e| {
                Error::Config(format!("invalid postgres connection parameters: {e}"))
            })?
        };
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.username)
            .dbname(&self.database)
            .ssl_mode(ssl_mode)
            .application_name(
                application_name
                    .or(fallback_application_name)
                    .unwrap_or(DEFAULT_APPLICATION_NAME),
            );
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        if self.connect_timeout > 0 {
            config.connect_timeout(Duration::from_secs(self.connect_timeout));
        }
        if let Some(options) = options {
            config.options(options);
        }
        Ok(config)
    }
}

impl fmt::Display for PostgresCredentials {
    /// `postgresql://user:***@host:port/database?connect_timeout=15&...` (query keys sorted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgresql://{}",
            utf8_percent_encode(&self.username, COMPONENT)
        )?;
        if self.password.is_some() {
            f.write_str(":***")?;
        }
        f.write_str("@")?;
        if self.host.contains(':') && !self.host.starts_with('/') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", utf8_percent_encode(&self.host, COMPONENT))?;
        }
        write!(
            f,
            ":{}/{}",
            self.port,
            utf8_percent_encode(&self.database, COMPONENT)
        )?;
        let mut params: BTreeMap<&str, &str> = self
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let timeout = self.connect_timeout.to_string();
        params.insert("connect_timeout", &timeout);
        if let Some(encoding) = &self.client_encoding {
            params.insert("client_encoding", encoding);
        }
        for (i, (key, value)) in params.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            if SECRET_PARAMS.contains(key) {
                write!(f, "{sep}{}=***", utf8_percent_encode(key, COMPONENT))?;
            } else {
                write!(
                    f,
                    "{sep}{}={}",
                    utf8_percent_encode(key, COMPONENT),
                    utf8_percent_encode(value, COMPONENT)
                )?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PostgresCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresCredentials")
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("connect_timeout", &self.connect_timeout)
            .field("client_encoding", &self.client_encoding)
            .field("query", &redacted_query(&self.query))
            .finish()
    }
}

/// Settings of a PostgreSQL destination (section `destination.<name>`, reduced to
/// `destination` and the bare key as dlt does) and of the load step (`load.workers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// `create_indexes`, `staging_dataset_name_layout`, `replace_strategy`.
    pub sql: SqlSettings,
    /// Jobs loaded concurrently, each on its own connection (`[load] workers`, default 20).
    pub workers: usize,
    /// Size at which an `insert_values` statement is cut (default 256 KiB). PostgreSQL's cost
    /// per row does not depend on it; the client's memory does (each worker holds one).
    pub max_statement_bytes: usize,
    /// How `insert_values` job files are executed (`insert_values_execution`, default
    /// `bound`).
    pub insert_values_execution: InsertValuesExecution,
}

/// How the loader executes an `insert_values` job file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InsertValuesExecution {
    /// `bound` (default): the rows are parsed back and inserted by one prepared
    /// `INSERT ... SELECT ... FROM unnest($1::text[], ...)` per file, in batches of about
    /// `max_statement_bytes`, bound as binary text arrays (PostgreSQL then parses no literals).
    #[default]
    Bound,
    /// `literal`: the statements of the file are executed as they are (the SQL text).
    Literal,
}

impl InsertValuesExecution {
    /// The setting's values, as written in the configuration.
    pub const NAMES: &'static [&'static str] = &["bound", "literal"];

    /// The value as written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            InsertValuesExecution::Bound => "bound",
            InsertValuesExecution::Literal => "literal",
        }
    }
}

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings {
            sql: SqlSettings::default(),
            workers: 20,
            max_statement_bytes: crate::insert_values::MAX_STATEMENT_BYTES,
            insert_values_execution: InsertValuesExecution::default(),
        }
    }
}

impl PostgresSettings {
    /// Resolves the settings of destination `destination_name`: for `create_indexes` the keys
    /// `destination.<name>.create_indexes`, `destination.create_indexes` and `create_indexes`
    /// (each first under the pipeline name), likewise for the other fields; `workers` from
    /// `load.workers` or `workers`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a value of the wrong type, an unknown replace strategy or
    /// `insert_values_execution`, or `workers` < 1.
    pub fn resolve(r: &Resolver<'_>, destination_name: &str) -> Result<Self> {
        let defaults = PostgresSettings::default();
        let section = ["destination", destination_name];
        let workers = match find_setting(r, &["load"], "workers") {
            Some(f) => usize::try_from(f.as_u64()?)
                .ok()
                .filter(|w| *w >= 1)
                .ok_or_else(|| f.invalid("expected a whole number >= 1"))?,
            None => defaults.workers,
        };
        let max_statement_bytes = match find_setting(r, &section, "max_statement_bytes") {
            Some(f) => usize::try_from(f.as_u64()?)
                .ok()
                .filter(|b| *b >= 1024)
                .ok_or_else(|| f.invalid("expected a whole number of bytes >= 1024"))?,
            None => defaults.max_statement_bytes,
        };
        let insert_values_execution = match find_setting(r, &section, "insert_values_execution") {
            Some(f) => match f.as_string()?.trim() {
                "bound" => InsertValuesExecution::Bound,
                "literal" => InsertValuesExecution::Literal,
                other => {
                    return Err(f.invalid(&format!(
                        "unknown insert_values execution `{other}`; expected one of {}",
                        InsertValuesExecution::NAMES.join(", ")
                    )))
                }
            },
            None => defaults.insert_values_execution,
        };
        Ok(PostgresSettings {
            sql: SqlSettings::resolve(r, destination_name)?,
            workers,
            max_statement_bytes,
            insert_values_execution,
        })
    }
}

/// dlt's lookup of a plain setting `field` of `section`: the field is the last segment, so
/// the section is reduced around it (`destination.postgres.x`, `destination.x`, `x`).
fn find_setting(r: &Resolver<'_>, section: &[&str], field: &str) -> Option<Found> {
    let mut path = section.to_vec();
    path.push(field);
    r.find(&path, "")
}

/// Field lookup over the providers that also looks into connection strings.
struct Lookup<'a, 'r> {
    r: &'a Resolver<'r>,
    field_section: &'a [&'a str],
}

impl Lookup<'_, '_> {
    /// The first value of `field`: providers in precedence order, within one the candidate
    /// keys from the most specific, at each the field key and then the field's part of a
    /// connection string at the credentials key.
    fn find(&self, field: &str) -> Result<Option<Found>> {
        let source = self.r.source;
        let field_paths = self.r.candidate_paths(self.field_section, field);
        let native_paths = self.r.candidate_paths(self.field_section, "");
        for idx in 0..source.provider_count() {
            for (field_path, native_path) in field_paths.iter().zip(&native_paths) {
                let segs: Vec<&str> = field_path.iter().map(String::as_str).collect();
                if let Some(value) = source.value(idx, &segs).filter(|v| !v.is_null()) {
                    return Ok(Some(Found {
                        value,
                        key: field_path.join("."),
                        origin: source.provider_name(idx),
                    }));
                }
                let segs: Vec<&str> = native_path.iter().map(String::as_str).collect();
                let key = native_path.join(".");
                match source.value(idx, &segs) {
                    Some(Json::String(url)) => {
                        let parts =
                            UrlParts::parse(&url).map_err(|reason| Error::InvalidConfig {
                                key: key.clone(),
                                origin: source.provider_name(idx),
                                reason: format!(
                                    "not a valid connection string ({reason}): `{}`",
                                    redact_url(&url)
                                ),
                            })?;
                        if let Some(value) = parts.field(field) {
                            return Ok(Some(Found {
                                value,
                                key,
                                origin: source.provider_name(idx),
                            }));
                        }
                    }
                    // a table: its fields are looked up by key
                    None | Some(Json::Null) | Some(Json::Object(_)) => {}
                    Some(_) => {
                        return Err(Error::InvalidConfig {
                            key,
                            origin: source.provider_name(idx),
                            reason: "expected a connection string or a table of credentials".into(),
                        });
                    }
                }
            }
        }
        Ok(None)
    }
}

/// What a connection string gives; every part may be absent.
#[derive(Default)]
struct UrlParts {
    database: Option<String>,
    username: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    connect_timeout: Option<String>,
    client_encoding: Option<String>,
    query: BTreeMap<String, String>,
}

impl UrlParts {
    /// Parses a connection string. The error is a reason that never contains the password.
    fn parse(s: &str) -> std::result::Result<UrlParts, String> {
        let s = s.trim();
        let scheme = s
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("postgresql" | "postgres")) {
            return Err("expected a URL starting with `postgresql://` or `postgres://`".into());
        }
        let (url, no_host) = match url::Url::parse(s) {
            Ok(url) => (url, false),
            // `postgresql://user@/db?host=/socket/dir`: libpq accepts an empty host, the url
            // crate does not; parse with a placeholder host and forget it
            Err(url::ParseError::EmptyHost) => match empty_host_at(s) {
                Some(at) => {
                    let patched = format!("{}{NO_HOST}{}", &s[..at], &s[at..]);
                    (url::Url::parse(&patched).map_err(|e| e.to_string())?, true)
                }
                None => return Err(url::ParseError::EmptyHost.to_string()),
            },
            Err(e) => return Err(e.to_string()),
        };
        let decode = |part: &str, what: &str| -> std::result::Result<Option<String>, String> {
            let decoded = percent_decode_str(part)
                .decode_utf8()
                .map_err(|_| format!("the {what} is not valid UTF-8 once percent-decoded"))?;
            Ok(Some(decoded.into_owned()).filter(|s| !s.is_empty()))
        };
        let mut parts = UrlParts {
            username: decode(url.username(), "user name")?,
            password: match url.password() {
                Some(p) => decode(p, "password")?
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty()),
                None => None,
            },
            host: match url.host() {
                Some(url::Host::Domain(_)) if no_host => None,
                Some(url::Host::Domain(d)) => decode(d, "host")?,
                Some(url::Host::Ipv4(ip)) => Some(ip.to_string()),
                Some(url::Host::Ipv6(ip)) => Some(ip.to_string()),
                None => None,
            },
            port: url.port(),
            database: decode(url.path().trim_start_matches('/'), "database")?,
            ..UrlParts::default()
        };
        // libpq semantics: no `+` for space, later parameters override
        for pair in url.query().unwrap_or_default().split('&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key, "parameter name")?.unwrap_or_default();
            let value = decode(value, &format!("value of `{key}`"))?.unwrap_or_default();
            match key.as_str() {
                "connect_timeout" => parts.connect_timeout = Some(value),
                "client_encoding" => parts.client_encoding = Some(value),
                "host" => parts.host = Some(value).filter(|v| !v.is_empty()),
                "port" => {
                    parts.port = Some(
                        value
                            .trim()
                            .parse()
                            .map_err(|_| "invalid port number".to_string())?,
                    )
                }
                "user" => parts.username = Some(value).filter(|v| !v.is_empty()),
                "password" => {
                    parts.password = Some(value.trim().to_string()).filter(|v| !v.is_empty())
                }
                "dbname" => parts.database = Some(value).filter(|v| !v.is_empty()),
                "" => return Err("a query parameter without a name".into()),
                _ => {
                    parts.query.insert(key, value);
                }
            }
        }
        Ok(parts)
    }

    /// The part for credentials field `field`, if the string has it.
    fn field(&self, field: &str) -> Option<Json> {
        match field {
            "database" => self.database.clone().map(Json::String),
            "username" => self.username.clone().map(Json::String),
            "password" => self.password.clone().map(Json::String),
            "host" => self.host.clone().map(Json::String),
            "port" => self.port.map(Json::from),
            "connect_timeout" => self.connect_timeout.clone().map(Json::String),
            "client_encoding" => self.client_encoding.clone().map(Json::String),
            "query" if !self.query.is_empty() => Some(Json::Object(
                self.query
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                    .collect(),
            )),
            _ => None,
        }
    }
}

/// Placeholder for an empty host while parsing (`.invalid` is a reserved top-level domain).
const NO_HOST: &str = "no-host.invalid";

/// Where the host would start in a URL whose user info is followed by an empty host
/// (`scheme://user@/path`), if that is the case.
fn empty_host_at(s: &str) -> Option<usize> {
    let start = s.find("://")? + 3;
    let authority_len = s[start..].find(['/', '?', '#']).unwrap_or(s.len() - start);
    let authority = &s[start..start + authority_len];
    authority.ends_with('@').then_some(start + authority_len)
}

/// The `query` field: a table, a JSON object in a string (environment variables), or
/// `key=value&key=value`.
fn query_from_found(found: &Found) -> Result<BTreeMap<String, String>> {
    let bad = || found.invalid("expected a table of connection parameters");
    let table = match &found.value {
        Json::Object(map) => map.clone(),
        Json::String(s) if s.trim_start().starts_with('{') => {
            match serde_json::from_str::<Json>(s) {
                Ok(Json::Object(map)) => map,
                _ => return Err(bad()),
            }
        }
        Json::String(s) => {
            let mut map = serde_json::Map::new();
            for pair in s.split('&').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').ok_or_else(bad)?;
                let k = percent_decode_str(k.trim())
                    .decode_utf8()
                    .map_err(|_| bad())?;
                let v = percent_decode_str(v).decode_utf8().map_err(|_| bad())?;
                map.insert(k.into_owned(), Json::String(v.into_owned()));
            }
            map
        }
        _ => return Err(bad()),
    };
    let mut out = BTreeMap::new();
    for (k, v) in table {
        let v = match v {
            Json::String(s) => s,
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            _ => return Err(bad()),
        };
        out.insert(k.trim().to_string(), v);
    }
    Ok(out)
}

/// `key='value'` for tokio-postgres' parser, checking the key's characters.
fn libpq_param(key: &str, value: &str) -> Result<String> {
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Config(format!(
            "invalid connection parameter name `{key}` in the postgres credentials' `query`"
        )));
    }
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    Ok(format!("{key}='{escaped}'"))
}

/// A parameter tokio-postgres rejected (its message names the parameter, never the value).
fn pass_through_error(key: &str, e: &tokio_postgres::Error) -> Error {
    // the cause (`unknown option ...`, `invalid value for option ...`) is not in Display
    let text = match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    if text.contains("unknown option") {
        Error::Unsupported {
            destination: DESTINATION.into(),
            what: format!("connection parameter `{key}`"),
            hint: Some(
                "the driver (tokio-postgres) does not know it; known extra parameters: \
                 sslmode, options, application_name, fallback_application_name, keepalives, \
                 keepalives_idle, keepalives_interval, keepalives_retries, tcp_user_timeout, \
                 target_session_attrs, channel_binding, load_balance_hosts, hostaddr"
                    .into(),
            ),
        }
    } else {
        Error::Config(format!(
            "invalid connection parameter `{key}` in the postgres credentials: {text}"
        ))
    }
}

/// The query parameters with secret values replaced by `***`.
fn redacted_query(query: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    query
        .iter()
        .map(|(k, v)| {
            let v = if SECRET_PARAMS.contains(&k.as_str()) {
                "***"
            } else {
                v.as_str()
            };
            (k.as_str(), v)
        })
        .collect()
}

/// A connection string fit for messages: the password (everything between the first `:` of
/// the user info and the last `@`) and secret query parameters become `***`. A string that
/// does not look like a URL is not shown at all.
pub(crate) fn redact_url(s: &str) -> String {
    let s = s.trim();
    let Some((scheme, rest)) = s.split_once("://") else {
        return "(not a URL; value not shown)".into();
    };
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let mut out = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => out.push_str(&format!("{user}:***@")),
            None => out.push_str(&format!("{userinfo}@")),
        }
    }
    match after.split_once('?') {
        Some((base, query)) => {
            out.push_str(base);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| {
                    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
                    let decoded = percent_decode_str(key).decode_utf8_lossy().to_lowercase();
                    if SECRET_PARAMS.contains(&decoded.as_str()) {
                        format!("{key}=***")
                    } else {
                        pair.to_string()
                    }
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(after),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlt_config::Config;
    use serde_json::json;

    const PW: &str = "s3cr3t-P@ss";

    fn cfg() -> dlt_config::ConfigBuilder {
        Config::builder()
            .env(false)
            .no_global_dir()
            .project_dir("/nonexistent/dlt-rs-test")
    }

    fn resolve(config: &Config) -> Result<PostgresCredentials> {
        PostgresCredentials::resolve(&Resolver::new(config, None), "postgres")
    }

    fn no_pw(s: &str) {
        assert!(!s.contains(PW), "password leaked: {s}");
        assert!(!s.contains("s3cr3t"), "password leaked: {s}");
        assert!(
            !s.contains("p%40ss") && !s.contains("p@ss"),
            "password leaked: {s}"
        );
    }

    #[test]
    fn parse_url_percent_encoded_password_and_defaults() {
        let c = PostgresCredentials::parse_url("postgresql://loader:p%40ss@localhost/dlt_data")
            .unwrap();
        assert_eq!(c.username, "loader");
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("p@ss"));
        assert_eq!(c.host, "localhost");
        assert_eq!(c.port, 5432);
        assert_eq!(c.database, "dlt_data");
        assert_eq!(c.connect_timeout, 15);
        assert!(c.query.is_empty());
        no_pw(&c.to_string());
        no_pw(&format!("{c:?}"));
        assert_eq!(
            c.to_string(),
            "postgresql://loader:***@localhost:5432/dlt_data?connect_timeout=15"
        );
    }

    #[test]
    fn parse_url_postgres_scheme_query_params() {
        let c = PostgresCredentials::parse_url(
            "postgres://Loader@db.example.com:6543/My_DB?sslmode=require&connect_timeout=5\
             &client_encoding=utf8&options=-ctimezone%3DEurope%2FParis&application_name=a+b",
        )
        .unwrap();
        assert_eq!(c.username, "Loader");
        assert_eq!(c.password, None);
        assert_eq!(c.host, "db.example.com");
        assert_eq!(c.port, 6543);
        assert_eq!(c.database, "My_DB");
        assert_eq!(c.connect_timeout, 5);
        assert_eq!(c.client_encoding.as_deref(), Some("utf8"));
        assert_eq!(c.query.get("sslmode").map(String::as_str), Some("require"));
        assert_eq!(
            c.query.get("options").map(String::as_str),
            Some("-ctimezone=Europe/Paris")
        );
        // libpq keeps `+`
        assert_eq!(
            c.query.get("application_name").map(String::as_str),
            Some("a+b")
        );
        let pg = c.to_pg_config().unwrap();
        assert_eq!(pg.get_ssl_mode(), SslMode::Require);
        assert_eq!(c.tls_settings().unwrap().mode, TlsMode::Require);
    }

    #[test]
    fn parse_url_unix_socket_ipv6_and_errors() {
        let c = PostgresCredentials::parse_url(
            "postgresql://me@/db?host=/var/run/postgresql&application_name=a@b",
        )
        .unwrap();
        assert_eq!(c.host, "/var/run/postgresql");
        assert_eq!(
            c.to_string(),
            "postgresql://me@%2Fvar%2Frun%2Fpostgresql:5432/db?application_name=a%40b&connect_timeout=15"
        );
        assert!(PostgresCredentials::parse_url("postgresql://me@/db").is_err());
        let c = PostgresCredentials::parse_url("postgresql://me@[::1]:5433/db").unwrap();
        assert_eq!(c.host, "::1");
        assert_eq!(
            c.to_string(),
            "postgresql://me@[::1]:5433/db?connect_timeout=15"
        );

        for bad in [
            format!("postgresql://loader:{PW}@localhost:99999/db"),
            format!("postgresql://loader:{PW}@localhost:5432"),
            format!("postgresql://:{PW}@localhost/db"),
            format!("mysql://loader:{PW}@localhost/db"),
            format!("postgresql://loader:{PW}@localhost/db?connect_timeout=x"),
            format!("postgresql://loader:{PW}@localhost/db?password={PW}&port=x"),
            PW.to_string(),
        ] {
            let e = PostgresCredentials::parse_url(&bad)
                .unwrap_err()
                .to_string();
            no_pw(&e);
            assert!(e.contains("connection string"), "{e}");
        }
        let e = PostgresCredentials::parse_url(&format!("postgresql://loader:{PW}@localhost"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("postgresql://loader:***@localhost"), "{e}");
        assert!(e.contains("no database"), "{e}");
    }

    #[test]
    fn password_is_trimmed_and_query_password_redacted() {
        let c = PostgresCredentials::parse_url(&format!(
            "postgresql://u:%20{PW}%20@h/d?sslpassword={PW}"
        ))
        .unwrap();
        assert_eq!(c.password.as_ref().map(Secret::expose), Some(PW));
        no_pw(&c.to_string());
        no_pw(&format!("{c:?}"));
        assert!(c.to_string().contains("sslpassword=***"));
        no_pw(&redact_url(&format!(
            "postgresql://u:{PW}@h/d?x=1&password={PW}"
        )));
    }

    #[test]
    fn resolve_from_table() {
        let config = cfg()
            .set(
                "destination.postgres.credentials",
                json!({
                    "database": "dlt_data", "username": "loader", "password": format!(" {PW}\n"),
                    "host": "localhost", "port": "5433", "connect_timeout": 7,
                    "query": {"sslmode": "disable", "keepalives": 1}
                }),
            )
            .build()
            .unwrap();
        let c = resolve(&config).unwrap();
        assert_eq!(c.database, "dlt_data");
        assert_eq!(c.username, "loader");
        assert_eq!(c.password.as_ref().map(Secret::expose), Some(PW));
        assert_eq!(c.port, 5433);
        assert_eq!(c.connect_timeout, 7);
        assert_eq!(c.query.get("keepalives").map(String::as_str), Some("1"));
        no_pw(&format!("{c:?} {c}"));

        let pg = c.to_pg_config().unwrap();
        assert_eq!(pg.get_user(), Some("loader"));
        assert_eq!(pg.get_password(), Some(PW.as_bytes()));
        assert_eq!(pg.get_dbname(), Some("dlt_data"));
        assert_eq!(pg.get_ports(), &[5433]);
        assert_eq!(pg.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(pg.get_application_name(), Some("dlt-rs"));
        assert_eq!(pg.get_ssl_mode(), SslMode::Disable);
        assert!(pg.get_keepalives());
        assert_eq!(
            pg.get_hosts(),
            &[tokio_postgres::config::Host::Tcp("localhost".into())]
        );
        // the password stays out of tokio-postgres' Debug too
        no_pw(&format!("{pg:?}"));
    }

    #[test]
    fn resolve_from_connection_string_in_env() {
        let config = cfg()
            .env([(
                "DESTINATION__POSTGRES__CREDENTIALS",
                format!(
                    "postgresql://loader:{}@localhost:5432/dlt_data?connect_timeout=3",
                    "0012"
                ),
            )])
            .build()
            .unwrap();
        let c = resolve(&config).unwrap();
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("0012"));
        assert_eq!(c.connect_timeout, 3);
        assert_eq!(c.host, "localhost");
    }

    #[test]
    fn connection_string_completed_and_overridden_by_fields() {
        // env: URL without password plus a password field
        let config = cfg()
            .env([
                (
                    "DESTINATION__POSTGRES__CREDENTIALS",
                    "postgresql://loader@localhost/dlt_data",
                ),
                ("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", PW),
            ])
            .build()
            .unwrap();
        let c = resolve(&config).unwrap();
        assert_eq!(c.password.as_ref().map(Secret::expose), Some(PW));
        assert_eq!(c.username, "loader");

        // code values beat the env URL's parts; the env URL beats nothing else
        let config = cfg()
            .env([(
                "DESTINATION__POSTGRES__CREDENTIALS",
                "postgresql://loader:old@localhost/dlt_data",
            )])
            .set("destination.postgres.credentials.password", PW)
            .set("destination.postgres.credentials.port", 6000)
            .build()
            .unwrap();
        let c = resolve(&config).unwrap();
        assert_eq!(c.password.as_ref().map(Secret::expose), Some(PW));
        assert_eq!(c.port, 6000);
        assert_eq!(c.database, "dlt_data");

        // a field of the same provider wins over the URL at the same key
        let config = cfg()
            .env([
                (
                    "DESTINATION__POSTGRES__CREDENTIALS",
                    "postgresql://loader:old@localhost/dlt_data",
                ),
                ("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", PW),
            ])
            .build()
            .unwrap();
        assert_eq!(
            resolve(&config)
                .unwrap()
                .password
                .as_ref()
                .map(Secret::expose),
            Some(PW)
        );
    }

    #[test]
    fn resolve_from_secrets_toml_connection_string_and_config_toml() {
        let dir = std::env::temp_dir().join(format!("dlt-rs-pg-config-{}", std::process::id()));
        let dlt = dir.join(".dlt");
        std::fs::create_dir_all(&dlt).unwrap();
        std::fs::write(
            dlt.join("secrets.toml"),
            format!(
                "destination.postgres.credentials=\"postgresql://loader:{}@localhost/dlt_data?connect_timeout=15\"\n",
                "p%40ss"
            ),
        )
        .unwrap();
        std::fs::write(
            dlt.join("config.toml"),
            "[destination.postgres]\ncreate_indexes=false\n[load]\nworkers=4\n",
        )
        .unwrap();
        let config = Config::builder()
            .env(false)
            .no_global_dir()
            .project_dir(&dir)
            .build()
            .unwrap();
        let r = Resolver::new(&config, Some("chess"));
        let c = PostgresCredentials::resolve(&r, "postgres").unwrap();
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("p@ss"));
        let s = PostgresSettings::resolve(&r, "postgres").unwrap();
        assert!(!s.sql.create_indexes);
        assert_eq!(s.workers, 4);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_fields_list_every_key_tried() {
        let config = cfg()
            .set("destination.postgres.credentials.username", "loader")
            .set("destination.postgres.credentials.password", PW)
            .build()
            .unwrap();
        let e = resolve(&config).unwrap_err();
        let Error::MissingConfig { fields, tried, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(fields, &["database", "host"]);
        for key in [
            "DESTINATION__POSTGRES__CREDENTIALS",
            "destination.postgres.credentials",
            "DESTINATION__POSTGRES__CREDENTIALS__DATABASE",
            "destination.postgres.credentials.database",
            "DESTINATION__CREDENTIALS__DATABASE",
            "CREDENTIALS__DATABASE",
            "credentials.database",
            "DESTINATION__POSTGRES__CREDENTIALS__HOST",
            "credentials.host",
        ] {
            assert!(tried.iter().any(|t| t == key), "{key} not in {tried:?}");
        }
        assert!(!tried.iter().any(|t| t.contains("USERNAME")));
        let text = e.to_string();
        assert!(
            text.contains("DESTINATION__POSTGRES__CREDENTIALS__DATABASE"),
            "{text}"
        );
        no_pw(&text);

        // with a pipeline name the pipeline keys come first
        let r = Resolver::new(&config, Some("chess"));
        let text = PostgresCredentials::resolve(&r, "postgres")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("CHESS__DESTINATION__POSTGRES__CREDENTIALS__HOST"),
            "{text}"
        );

        // a custom destination name
        let r = Resolver::new(&config, None);
        let text = PostgresCredentials::resolve(&r, "mydest")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("DESTINATION__MYDEST__CREDENTIALS__USERNAME"),
            "{text}"
        );
        assert!(text.contains("`username`"), "{text}");
    }

    #[test]
    fn invalid_values_never_show_the_password() {
        let config = cfg()
            .env([(
                "DESTINATION__POSTGRES__CREDENTIALS",
                format!("postgresql://loader:{PW}@localhost:notaport/db"),
            )])
            .build()
            .unwrap();
        let e = resolve(&config).unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        let text = e.to_string();
        no_pw(&text);
        assert!(text.contains("environment variables"), "{text}");

        let config = cfg()
            .set("destination.postgres.credentials", PW)
            .build()
            .unwrap();
        no_pw(&resolve(&config).unwrap_err().to_string());

        let config = cfg().set("credentials.port", "70000").build().unwrap();
        let text = resolve(&config).unwrap_err().to_string();
        assert!(text.contains("credentials.port"), "{text}");
    }

    #[test]
    fn query_from_env_json_and_sub_keys() {
        let base = [
            ("CREDENTIALS__DATABASE", "d"),
            ("CREDENTIALS__USERNAME", "u"),
            ("CREDENTIALS__HOST", "h"),
        ];
        let mut vars: Vec<(&str, &str)> = base.to_vec();
        vars.push((
            "DESTINATION__POSTGRES__CREDENTIALS__QUERY",
            r#"{"sslmode": "disable", "keepalives_idle": 30}"#,
        ));
        let c = resolve(&cfg().env(vars).build().unwrap()).unwrap();
        assert_eq!(
            c.query.get("keepalives_idle").map(String::as_str),
            Some("30")
        );
        let pg = c.to_pg_config().unwrap();
        assert_eq!(pg.get_keepalives_idle(), Duration::from_secs(30));

        let mut vars: Vec<(&str, &str)> = base.to_vec();
        vars.push((
            "DESTINATION__POSTGRES__CREDENTIALS__QUERY__APPLICATION_NAME",
            "me",
        ));
        let c = resolve(&cfg().env(vars).build().unwrap()).unwrap();
        assert_eq!(c.to_pg_config().unwrap().get_application_name(), Some("me"));
    }

    #[test]
    fn to_pg_config_parameters() {
        let mut c = PostgresCredentials::new("db", "u", "/var/run/postgresql");
        c.connect_timeout = 0;
        c.client_encoding = Some("UTF-8".into());
        c.query
            .insert("options".into(), "-c statement_timeout=0".into());
        c.query.insert("sslmode".into(), "allow".into());
        c.query
            .insert("target_session_attrs".into(), "read-write".into());
        c.query
            .insert("fallback_application_name".into(), "fb".into());
        let pg = c.to_pg_config().unwrap();
        assert_eq!(pg.get_connect_timeout(), None);
        assert_eq!(pg.get_options(), Some("-c statement_timeout=0"));
        assert_eq!(pg.get_ssl_mode(), SslMode::Disable);
        assert_eq!(pg.get_application_name(), Some("fb"));
        assert_eq!(pg.get_password(), None);
        #[cfg(unix)]
        assert_eq!(
            pg.get_hosts(),
            &[tokio_postgres::config::Host::Unix(
                "/var/run/postgresql".into()
            )]
        );

        let with = |k: &str, v: &str| {
            let mut c = PostgresCredentials::new("db", "u", "h");
            c.password = Some(Secret::new(PW));
            c.query.insert(k.into(), v.into());
            c.to_pg_config()
        };
        for mode in ["verify-ca", "verify-full", "require"] {
            assert_eq!(
                with("sslmode", mode).unwrap().get_ssl_mode(),
                SslMode::Require
            );
        }
        assert_eq!(
            with("sslmode", "prefer").unwrap().get_ssl_mode(),
            SslMode::Prefer
        );
        assert_eq!(
            with("sslmode", "allow").unwrap().get_ssl_mode(),
            SslMode::Disable
        );
        let e = with("sslmode", "bogus").unwrap_err().to_string();
        assert!(e.contains("bogus") && e.contains("verify-full"), "{e}");
        assert!(with("sslrootcert", "/ca.pem").is_ok());
        assert!(with("sslcert", "/client.pem").is_ok());
        let e = with("sslpassword", "x").unwrap_err().to_string();
        assert!(
            e.contains("sslpassword") && e.contains("not supported"),
            "{e}"
        );
        let e = with("passfile", "/x").unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("`passfile`"), "{e}");
        let e = with("keepalives", "often").unwrap_err().to_string();
        assert!(e.contains("`keepalives`"), "{e}");
        let e = with("dbname", "other").unwrap_err().to_string();
        assert!(e.contains("`database`"), "{e}");
        let e = with("gssencmode", "require").unwrap_err().to_string();
        assert!(e.contains("gssencmode"), "{e}");
        assert!(with("gssencmode", "disable").is_ok());
        assert!(with("channel_binding", "require").is_ok());
        let e = with("bad key", "x").unwrap_err().to_string();
        assert!(e.contains("bad key"), "{e}");
        // quoting of pass-through values
        assert!(with("target_session_attrs", "it's").is_err());

        let mut c = PostgresCredentials::new("db", "u", "h");
        c.client_encoding = Some("LATIN1".into());
        let e = c.to_pg_config().unwrap_err().to_string();
        assert!(e.contains("LATIN1"), "{e}");
    }

    #[test]
    fn settings_defaults_and_sections() {
        let config = cfg().build().unwrap();
        let s = PostgresSettings::resolve(&Resolver::new(&config, None), "postgres").unwrap();
        assert_eq!(s, PostgresSettings::default());
        assert!(s.sql.create_indexes);
        assert_eq!(s.workers, 20);
        assert_eq!(s.sql.staging_dataset_name_layout, "%s_staging");

        let config = cfg()
            .env([
                ("DESTINATION__CREATE_INDEXES", "false"),
                (
                    "DESTINATION__POSTGRES__REPLACE_STRATEGY",
                    "staging-optimized",
                ),
                ("STAGING_DATASET_NAME_LAYOUT", "stg_%s"),
                ("LOAD__WORKERS", "3"),
            ])
            .build()
            .unwrap();
        let s = PostgresSettings::resolve(&Resolver::new(&config, None), "postgres").unwrap();
        assert!(!s.sql.create_indexes);
        assert_eq!(
            s.sql.replace_strategy,
            Some(dest_core::ReplaceStrategy::StagingOptimized)
        );
        assert_eq!(s.sql.staging_dataset_name_layout, "stg_%s");
        assert_eq!(s.workers, 3);

        let bad = |k: &str, v: &str| {
            let config = cfg().env([(k, v)]).build().unwrap();
            PostgresSettings::resolve(&Resolver::new(&config, None), "postgres")
                .unwrap_err()
                .to_string()
        };
        assert!(bad("LOAD__WORKERS", "0").contains("load.workers"));
        assert!(bad("DESTINATION__REPLACE_STRATEGY", "nope").contains("truncate-and-insert"));
        assert!(bad("DESTINATION__POSTGRES__CREATE_INDEXES", "maybe").contains("create_indexes"));
    }

    #[test]
    fn insert_values_execution_setting() {
        let resolve = |vars: Vec<(&str, &str)>| {
            let config = cfg().env(vars).build().unwrap();
            PostgresSettings::resolve(&Resolver::new(&config, None), "postgres")
        };
        assert_eq!(
            resolve(vec![]).unwrap().insert_values_execution,
            InsertValuesExecution::Bound
        );
        for (key, value, want) in [
            (
                "DESTINATION__POSTGRES__INSERT_VALUES_EXECUTION",
                "literal",
                InsertValuesExecution::Literal,
            ),
            (
                "DESTINATION__INSERT_VALUES_EXECUTION",
                " bound ",
                InsertValuesExecution::Bound,
            ),
            (
                "INSERT_VALUES_EXECUTION",
                "literal",
                InsertValuesExecution::Literal,
            ),
        ] {
            let s = resolve(vec![(key, value)]).unwrap();
            assert_eq!(s.insert_values_execution, want, "{key}={value}");
            assert_eq!(s.insert_values_execution.name(), value.trim());
        }
        let e = resolve(vec![(
            "DESTINATION__POSTGRES__INSERT_VALUES_EXECUTION",
            "copy",
        )])
        .unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("insert_values_execution") && text.contains("`copy`"),
            "{text}"
        );
        assert!(text.contains("bound, literal"), "{text}");
    }
}
