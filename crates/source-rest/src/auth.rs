//! dlt's auth methods of the rest_api source (`dlt.sources.helpers.rest_client.auth`):
//! `bearer`, `api_key`, `http_basic` and `oauth2_client_credentials`, built from dlt's auth
//! config (`client.auth`, `endpoint.auth`) and applied to each request.
//!
//! Secrets (tokens, api keys, passwords, client ids and secrets) are never shown: not in a
//! [`ConfigError`], not in `Debug`, not in a log line; [`Auth::apply`] hands them to the
//! [`Http`] client so that its errors redact them too.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::http::{redact_url, Http, HttpError};
use crate::request::{Method, Request};
use crate::ConfigError;

/// The auth types of dlt's rest_api (`AUTH_MAP`).
const AUTH_TYPES: [&str; 4] = [
    "bearer",
    "api_key",
    "http_basic",
    "oauth2_client_credentials",
];

/// The longest token lifetime honoured (a larger `expires_in` is capped: ten years).
const MAX_TOKEN_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// How a request is authenticated. Built from dlt's auth config by [`Auth::from_config`];
/// shared by the resources of a source (it is `Send + Sync`; an OAuth2 token is obtained
/// once and cached behind a lock).
pub struct Auth {
    kind: Kind,
}

enum Kind {
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// The key in a header, a query parameter or a cookie named `name`.
    ApiKey {
        name: String,
        api_key: String,
        location: Location,
    },
    /// `Authorization: Basic base64(username:password)`.
    HttpBasic { username: String, password: String },
    /// A token from the token endpoint, as a bearer token.
    OAuth2(OAuth2ClientCredentials),
}

/// Where an api key goes (dlt's `TApiKeyLocation`; `param` is `query`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Header,
    Query,
    Cookie,
}

impl Location {
    fn as_str(self) -> &'static str {
        match self {
            Location::Header => "header",
            Location::Query => "query",
            Location::Cookie => "cookie",
        }
    }
}

/// dlt's `OAuth2ClientCredentials`.
struct OAuth2ClientCredentials {
    access_token_url: String,
    client_id: String,
    client_secret: String,
    /// Merged into the token request's form (and overriding its fields).
    access_token_request_data: Map<String, Json>,
    /// Seconds a token lasts when the response has no `expires_in`.
    default_token_expiration: i64,
    token: Mutex<Option<Token>>,
}

#[derive(Clone)]
struct Token {
    value: String,
    /// The token is expired from this moment on (dlt: `now >= token_expiry`).
    expires: Instant,
}

impl OAuth2ClientCredentials {
    fn lock(&self) -> MutexGuard<'_, Option<Token>> {
        match self.token.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The current token, obtained first when there is none or it expired. The lock is
    /// held while obtaining it: threads sharing the auth wait for one token request.
    fn token(&self, http: &Http) -> Result<String, HttpError> {
        let mut cached = self.lock();
        if let Some(t) = cached.as_ref() {
            if Instant::now() < t.expires {
                return Ok(t.value.clone());
            }
        }
        let token = self.obtain(http)?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// dlt's `obtain_token`: POST the form `client_id`, `client_secret`,
    /// `grant_type=client_credentials` (then `access_token_request_data`) to the token URL;
    /// the token is `access_token` of the JSON response, valid `expires_in` seconds (or
    /// `default_token_expiration`).
    fn obtain(&self, http: &Http) -> Result<Token, HttpError> {
        let mut data = Map::new();
        data.insert("client_id".into(), Json::String(self.client_id.clone()));
        data.insert(
            "client_secret".into(),
            Json::String(self.client_secret.clone()),
        );
        data.insert(
            "grant_type".into(),
            Json::String("client_credentials".into()),
        );
        for (k, v) in &self.access_token_request_data {
            data.insert(k.clone(), v.clone());
        }
        let mut req = Request::new(Method::Post, self.access_token_url.clone());
        req.set_header("Content-Type", "application/x-www-form-urlencoded");
        req.data = Some(Json::Object(data));
        let response = http.send(&req)?;
        http.check_status(&response, Method::Post)?;
        let invalid = |message: String| HttpError::InvalidResponse {
            method: Method::Post,
            url: http.redact_url(&self.access_token_url),
            message,
        };
        // the body is never shown: it holds the token
        let doc: Json = serde_json::from_slice(&response.body)
            .map_err(|e| invalid(format!("the token response is not JSON ({e})")))?;
        let value = match doc.get("access_token") {
            Some(Json::String(s)) if !s.is_empty() => s.clone(),
            Some(Json::Number(n)) => n.to_string(),
            _ => {
                return Err(invalid(
                    "the token response has no `access_token` (a string)".into(),
                ))
            }
        };
        http.add_secret(&value);
        let seconds = match doc.get("expires_in") {
            None | Some(Json::Null) => self.default_token_expiration,
            Some(Json::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite())
                        .map(|f| f.trunc() as i64)
                })
                .ok_or_else(|| invalid("`expires_in` is not a number of seconds".into()))?,
            Some(Json::String(s)) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| invalid("`expires_in` is not a number of seconds".into()))?,
            Some(_) => return Err(invalid("`expires_in` is not a number of seconds".into())),
        };
        let now = Instant::now();
        let lifetime =
            Duration::from_secs(u64::try_from(seconds).unwrap_or(0).min(MAX_TOKEN_SECONDS));
        tracing::debug!(
            url = %http.redact_url(&self.access_token_url),
            expires_in = seconds,
            "obtained an OAuth2 access token"
        );
        Ok(Token {
            value,
            expires: now.checked_add(lifetime).unwrap_or(now),
        })
    }
}

impl Auth {
    /// The auth of dlt's auth config `value` (at `path`, such as `client.auth`, for the
    /// errors):
    ///
    /// - `{"type": "bearer", "token": ...}`, or `{"token": ...}` (no `type`: bearer);
    /// - `{"type": "api_key", "api_key": ..., "name": "Authorization", "location":
    ///   "header"}` (`location` one of `header`, `query`, `param` (= `query`), `cookie`);
    /// - `{"type": "http_basic", "username": ..., "password": ...}`;
    /// - `{"type": "oauth2_client_credentials", "access_token_url": ..., "client_id": ...,
    ///   "client_secret": ..., "access_token_request_data": {}, "default_token_expiration":
    ///   3600, "access_token": ...}`. As in dlt, a given `access_token` counts as expired
    ///   from the start (dlt sets its expiry to the moment the auth is made), so the first
    ///   request obtains a new one.
    ///
    /// Secrets are plain strings here (resolving them from the user's secrets is done
    /// before). An unknown key is ignored with a warning naming it.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key that is missing or invalid (never a secret's value):
    /// a bare type name (`"bearer"`: its secret has to be given), an unknown type, a missing
    /// secret, a value of the wrong type.
    pub fn from_config(value: &Json, path: &str) -> Result<Auth, ConfigError> {
        let map = match value {
            Json::Object(map) => map,
            Json::String(s) if AUTH_TYPES.contains(&s.as_str()) => {
                return Err(ConfigError::new(
                    path,
                    format!(
                        "the auth type `{s}` is given alone: give an object with its \
                         settings, {}",
                        required_hint(s)
                    ),
                ))
            }
            // not shown: it may be a token put here by mistake
            Json::String(_) => {
                return Err(ConfigError::new(
                    path,
                    format!(
                        "a string that is not an auth type (not shown: it may be a secret); \
                         give an object with `type` (one of {}) and its settings",
                        AUTH_TYPES.join(", ")
                    ),
                ))
            }
            _ => {
                return Err(ConfigError::new(
                    path,
                    format!(
                        "expected an object with `type` (one of {}) and its settings",
                        AUTH_TYPES.join(", ")
                    ),
                ))
            }
        };
        let auth_type = match map.get("type") {
            None | Some(Json::Null) => "bearer",
            Some(Json::String(t)) if AUTH_TYPES.contains(&t.as_str()) => t.as_str(),
            Some(Json::String(t)) => {
                return Err(ConfigError::new(
                    format!("{path}.type"),
                    format!("unknown auth type `{t}`: one of {}", AUTH_TYPES.join(", ")),
                ))
            }
            Some(_) => {
                return Err(ConfigError::new(
                    format!("{path}.type"),
                    format!("expected a string, one of {}", AUTH_TYPES.join(", ")),
                ))
            }
        };
        let c = Fields {
            map,
            path,
            auth_type,
        };
        let kind = match auth_type {
            "bearer" => {
                c.known(&["token"]);
                Kind::Bearer {
                    token: c.secret("token", false)?,
                }
            }
            "api_key" => {
                c.known(&["name", "api_key", "location"]);
                let name = c
                    .string("name")?
                    .unwrap_or_else(|| "Authorization".to_string());
                let location = match c.string("location")?.as_deref() {
                    None | Some("header") => Location::Header,
                    Some("query" | "param") => Location::Query,
                    Some("cookie") => Location::Cookie,
                    Some(other) => {
                        return Err(c.error(
                            "location",
                            format!(
                                "unknown location `{other}`: one of header, query, param, \
                                 cookie"
                            ),
                        ))
                    }
                };
                let valid_name = match location {
                    Location::Header => ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
                    Location::Query | Location::Cookie => !name.is_empty(),
                };
                if !valid_name {
                    return Err(c.error(
                        "name",
                        format!("`{name}` is not a valid {} name", location.as_str()),
                    ));
                }
                Kind::ApiKey {
                    name,
                    api_key: c.secret("api_key", false)?,
                    location,
                }
            }
            "http_basic" => {
                c.known(&["username", "password"]);
                let username = c.string("username")?.ok_or_else(|| c.missing("username"))?;
                Kind::HttpBasic {
                    username,
                    // an empty password is valid (an api key as the user name)
                    password: c.secret("password", true)?,
                }
            }
            _ => {
                c.known(&[
                    "access_token",
                    "access_token_url",
                    "client_id",
                    "client_secret",
                    "access_token_request_data",
                    "default_token_expiration",
                ]);
                let access_token_url = c
                    .string("access_token_url")?
                    .ok_or_else(|| c.missing("access_token_url"))?;
                let parsed = url::Url::parse(&access_token_url);
                if !parsed.is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                    return Err(c.error(
                        "access_token_url",
                        format!(
                            "`{}` is not an absolute http(s) URL",
                            redact_url(&access_token_url)
                        ),
                    ));
                }
                let access_token_request_data = match map.get("access_token_request_data") {
                    None | Some(Json::Null) => Map::new(),
                    Some(Json::Object(m)) => m.clone(),
                    Some(_) => {
                        return Err(c.error(
                            "access_token_request_data",
                            "expected an object (form fields of the token request)".into(),
                        ))
                    }
                };
                let default_token_expiration = match map.get("default_token_expiration") {
                    None | Some(Json::Null) => 3600,
                    Some(Json::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or(3600),
                    Some(Json::String(s)) if s.trim().parse::<i64>().is_ok() => {
                        s.trim().parse::<i64>().unwrap_or(3600)
                    }
                    Some(_) => {
                        return Err(c.error(
                            "default_token_expiration",
                            "expected a whole number of seconds".into(),
                        ))
                    }
                };
                let access_token = match map.get("access_token") {
                    None | Some(Json::Null) => None,
                    Some(_) => Some(c.secret("access_token", false)?),
                };
                Kind::OAuth2(OAuth2ClientCredentials {
                    access_token_url,
                    client_id: c.secret("client_id", false)?,
                    client_secret: c.secret("client_secret", false)?,
                    access_token_request_data,
                    default_token_expiration,
                    // expired at once, as in dlt (see above)
                    token: Mutex::new(access_token.map(|value| Token {
                        value,
                        expires: Instant::now(),
                    })),
                })
            }
        };
        Ok(Auth { kind })
    }

    /// The auth type, as dlt names it: `bearer`, `api_key`, `http_basic`,
    /// `oauth2_client_credentials`.
    pub fn kind(&self) -> &'static str {
        match &self.kind {
            Kind::Bearer { .. } => "bearer",
            Kind::ApiKey { .. } => "api_key",
            Kind::HttpBasic { .. } => "http_basic",
            Kind::OAuth2(_) => "oauth2_client_credentials",
        }
    }

    /// The secret values (tokens, api key, password, client id and secret, the current
    /// OAuth2 token), for redaction.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = match &self.kind {
            Kind::Bearer { token } => vec![token.clone()],
            Kind::ApiKey { api_key, .. } => vec![api_key.clone()],
            Kind::HttpBasic { password, .. } => vec![password.clone()],
            Kind::OAuth2(o) => {
                let mut v = vec![o.client_id.clone(), o.client_secret.clone()];
                if let Some(t) = o.lock().as_ref() {
                    v.push(t.value.clone());
                }
                v
            }
        };
        out.retain(|s| !s.is_empty());
        out
    }

    /// Authenticates `req`: sets `Authorization` (bearer, basic, OAuth2), the api key's
    /// header, query parameter or cookie (appended to a `Cookie` header the request may
    /// have). Hands the secrets to `http` for redaction. For OAuth2, obtains a token
    /// through `http` first when there is none or it expired.
    ///
    /// # Errors
    /// The OAuth2 token request failed (the error names the token URL, redacted).
    pub fn apply(&self, req: &mut Request, http: &Http) -> Result<(), HttpError> {
        for secret in self.secrets() {
            http.add_secret(&secret);
        }
        match &self.kind {
            Kind::Bearer { token } => req.set_header("Authorization", format!("Bearer {token}")),
            Kind::ApiKey {
                name,
                api_key,
                location,
            } => match location {
                Location::Header => req.set_header(name, api_key.clone()),
                Location::Query => req.set_query(name, Json::String(api_key.clone())),
                Location::Cookie => {
                    let cookie = format!("{name}={api_key}");
                    match req
                        .headers
                        .iter_mut()
                        .find(|(n, _)| n.eq_ignore_ascii_case("cookie"))
                    {
                        Some((_, v)) if !v.trim().is_empty() => {
                            *v = format!("{}; {cookie}", v.trim_end().trim_end_matches(';'))
                        }
                        Some((_, v)) => *v = cookie,
                        None => req.headers.push(("Cookie".into(), cookie)),
                    }
                }
            },
            Kind::HttpBasic { username, password } => {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                req.set_header("Authorization", format!("Basic {encoded}"));
            }
            Kind::OAuth2(o) => {
                let token = o.token(http)?;
                req.set_header("Authorization", format!("Bearer {token}"));
            }
        }
        Ok(())
    }
}

impl Clone for Auth {
    /// A copy with the same settings and the same cached token (if any).
    fn clone(&self) -> Self {
        let kind = match &self.kind {
            Kind::Bearer { token } => Kind::Bearer {
                token: token.clone(),
            },
            Kind::ApiKey {
                name,
                api_key,
                location,
            } => Kind::ApiKey {
                name: name.clone(),
                api_key: api_key.clone(),
                location: *location,
            },
            Kind::HttpBasic { username, password } => Kind::HttpBasic {
                username: username.clone(),
                password: password.clone(),
            },
            Kind::OAuth2(o) => Kind::OAuth2(OAuth2ClientCredentials {
                access_token_url: o.access_token_url.clone(),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.clone(),
                access_token_request_data: o.access_token_request_data.clone(),
                default_token_expiration: o.default_token_expiration,
                token: Mutex::new(o.lock().clone()),
            }),
        };
        Auth { kind }
    }
}

impl fmt::Debug for Auth {
    /// The type and the settings that are not secret (the api key's name and location,
    /// the token URL, the names of the extra token request fields).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Auth");
        d.field("type", &self.kind());
        match &self.kind {
            Kind::Bearer { .. } | Kind::HttpBasic { .. } => {}
            Kind::ApiKey { name, location, .. } => {
                d.field("name", name).field("location", &location.as_str());
            }
            Kind::OAuth2(o) => {
                let fields: Vec<&str> = o
                    .access_token_request_data
                    .keys()
                    .map(String::as_str)
                    .collect();
                d.field("access_token_url", &redact_url(&o.access_token_url))
                    .field("access_token_request_data", &fields)
                    .field("default_token_expiration", &o.default_token_expiration);
            }
        }
        d.finish_non_exhaustive()
    }
}

/// The keys an auth type needs, for the error about a bare type name.
fn required_hint(auth_type: &str) -> String {
    let keys: &[&str] = match auth_type {
        "bearer" => &["token"],
        "api_key" => &["api_key"],
        "http_basic" => &["username", "password"],
        _ => &["access_token_url", "client_id", "client_secret"],
    };
    let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    format!(
        "such as {{\"type\": \"{auth_type}\", ...}} with {}",
        keys.join(", ")
    )
}

/// Reading the keys of one auth config object.
struct Fields<'a> {
    map: &'a Map<String, Json>,
    path: &'a str,
    auth_type: &'a str,
}

impl Fields<'_> {
    fn error(&self, key: &str, message: String) -> ConfigError {
        ConfigError::new(format!("{}.{key}", self.path), message)
    }

    fn missing(&self, key: &str) -> ConfigError {
        self.error(
            key,
            format!("missing: the `{}` auth needs `{key}`", self.auth_type),
        )
    }

    /// Warns about every key that is not `type` nor one of `known`.
    fn known(&self, known: &[&str]) {
        for key in self.map.keys() {
            if key != "type" && !known.contains(&key.as_str()) {
                tracing::warn!(
                    path = %self.path,
                    key = %key,
                    auth_type = self.auth_type,
                    "unknown key of the auth config is ignored"
                );
            }
        }
    }

    /// A string setting that is not secret (shown in errors); `None` when absent or null.
    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.map.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(key, "expected a string".into())),
        }
    }

    /// A secret: required, a string, not empty (unless `empty_ok`); its value never shown.
    fn secret(&self, key: &str, empty_ok: bool) -> Result<String, ConfigError> {
        match self.map.get(key) {
            None | Some(Json::Null) => Err(self.missing(key)),
            Some(Json::String(s)) if s.is_empty() && !empty_ok => {
                Err(self.error(key, "is empty".into()))
            }
            Some(Json::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.error(key, "expected a string (the value is not shown)".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::http::test_server::{response, Server};
    use crate::HttpOptions;
    use serde_json::json;

    fn http() -> Http {
        Http::new(HttpOptions {
            max_attempts: 2,
            backoff_factor: Duration::from_millis(1),
            max_retry_delay: Duration::from_millis(10),
            timeout: Duration::from_secs(10),
            ..HttpOptions::default()
        })
    }

    fn h(name: &str, value: &str) -> (String, String) {
        (name.to_string(), value.to_string())
    }

    fn applied(config: Json) -> Request {
        let auth = Auth::from_config(&config, "client.auth").unwrap();
        let mut req = Request::new(Method::Get, "http://h/x");
        auth.apply(&mut req, &http()).unwrap();
        req
    }

    #[test]
    fn auth_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Auth>();
    }

    #[test]
    fn bearer_with_and_without_type() {
        for config in [
            json!({"type": "bearer", "token": "tok-1234"}),
            json!({"token": "tok-1234"}),
            json!({"type": null, "token": "tok-1234"}),
        ] {
            let req = applied(config);
            assert_eq!(
                req.headers,
                [("Authorization".to_string(), "Bearer tok-1234".to_string())]
            );
        }
        let auth = Auth::from_config(&json!({"token": "tok-1234"}), "a").unwrap();
        assert_eq!(auth.kind(), "bearer");
        assert_eq!(auth.secrets(), ["tok-1234"]);
    }

    #[test]
    fn api_key_locations() {
        let req = applied(json!({"type": "api_key", "api_key": "k-5678"}));
        assert_eq!(req.headers, [h("Authorization", "k-5678")]);

        let req = applied(
            json!({"type": "api_key", "name": "X-API-Key", "api_key": "k-5678",
            "location": "header"}),
        );
        assert_eq!(req.headers, [h("X-API-Key", "k-5678")]);

        for location in ["query", "param"] {
            let req = applied(
                json!({"type": "api_key", "name": "api_key", "api_key": "k-5678",
                "location": location}),
            );
            assert!(req.headers.is_empty());
            assert_eq!(req.query_value("api_key"), Some(&json!("k-5678")));
        }

        let auth = Auth::from_config(
            &json!({"type": "api_key", "name": "session", "api_key": "k-5678",
                "location": "cookie"}),
            "a",
        )
        .unwrap();
        let mut req = Request::new(Method::Get, "http://h/x");
        auth.apply(&mut req, &http()).unwrap();
        assert_eq!(req.headers, [h("Cookie", "session=k-5678")]);
        let mut req = Request::new(Method::Get, "http://h/x");
        req.set_header("cookie", "a=1;");
        auth.apply(&mut req, &http()).unwrap();
        assert_eq!(req.headers, [h("cookie", "a=1; session=k-5678")]);
    }

    #[test]
    fn http_basic() {
        let req = applied(json!({"type": "http_basic", "username": "user", "password": "pa:ss"}));
        // base64("user:pa:ss")
        assert_eq!(req.headers, [h("Authorization", "Basic dXNlcjpwYTpzcw==")]);
        let req = applied(json!({"type": "http_basic", "username": "sk_key", "password": ""}));
        assert_eq!(req.headers, [h("Authorization", "Basic c2tfa2V5Og==")]);
    }

    #[test]
    fn config_errors_name_the_key_and_never_the_secret() {
        let err = |v: Json| Auth::from_config(&v, "client.auth").unwrap_err();

        let e = err(json!("bearer"));
        assert_eq!(e.path, "client.auth");
        assert!(e.message.contains("`token`"), "{e}");
        let e = err(json!("http_basic"));
        assert!(e.message.contains("`password`"), "{e}");
        let e = err(json!("sk-live-abcdef"));
        assert!(!e.to_string().contains("sk-live"), "{e}");
        let e = err(json!(42));
        assert!(e.message.contains("expected an object"), "{e}");

        let e = err(json!({"type": "bearer"}));
        assert_eq!(e.path, "client.auth.token");
        assert!(e.message.contains("missing"), "{e}");
        let e = err(json!({"type": "bearer", "token": ""}));
        assert_eq!(e.path, "client.auth.token");
        let e = err(json!({"type": "bearer", "token": 12345678}));
        assert_eq!(e.path, "client.auth.token");
        assert!(!e.to_string().contains("12345678"), "{e}");

        let e = err(json!({"type": "digest", "token": "t"}));
        assert_eq!(e.path, "client.auth.type");
        assert!(
            e.message.contains("digest") && e.message.contains("api_key"),
            "{e}"
        );

        let e = err(json!({"type": "api_key", "name": "k"}));
        assert_eq!(e.path, "client.auth.api_key");
        let e = err(json!({"type": "api_key", "api_key": "s3cr3t-key", "location": "body"}));
        assert_eq!(e.path, "client.auth.location");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        let e = err(json!({"type": "api_key", "api_key": "k", "name": "bad name"}));
        assert_eq!(e.path, "client.auth.name");

        let e = err(json!({"type": "http_basic", "password": "pw-secret"}));
        assert_eq!(e.path, "client.auth.username");
        assert!(!e.to_string().contains("pw-secret"), "{e}");
        let e = err(json!({"type": "http_basic", "username": "u"}));
        assert_eq!(e.path, "client.auth.password");

        let oauth = json!({"type": "oauth2_client_credentials",
            "access_token_url": "https://auth.example.com/token",
            "client_id": "cid-1234", "client_secret": "csecret-5678"});
        Auth::from_config(&oauth, "a").unwrap();
        for (key, bad) in [
            ("client_secret", Json::Null),
            ("client_id", Json::Null),
            ("access_token_url", Json::Null),
            ("access_token_url", json!("/token?client_secret=xyz")),
            ("access_token_request_data", json!("scope=read")),
            ("default_token_expiration", json!("soon")),
        ] {
            let mut c = oauth.clone();
            c[key] = bad;
            let e = err(c);
            assert_eq!(e.path, format!("client.auth.{key}"), "{e}");
            let text = e.to_string();
            assert!(
                !text.contains("csecret-5678") && !text.contains("cid-1234"),
                "{text}"
            );
            assert!(!text.contains("xyz"), "{text}");
        }
        // unknown keys only warn
        let auth = Auth::from_config(&json!({"token": "t-1234", "tokne": "x"}), "a").unwrap();
        assert_eq!(auth.kind(), "bearer");
    }

    #[test]
    fn debug_shows_no_secret() {
        let configs = [
            json!({"token": "secret-token-1"}),
            json!({"type": "api_key", "name": "X-Key", "api_key": "secret-key-2"}),
            json!({"type": "http_basic", "username": "secret-user-3", "password": "secret-pw-4"}),
            json!({"type": "oauth2_client_credentials",
                "access_token_url": "https://auth.example.com/token?client_secret=secret-5",
                "client_id": "secret-id-6", "client_secret": "secret-7",
                "access_token": "secret-8",
                "access_token_request_data": {"audience": "secret-9"}}),
        ];
        for c in configs {
            let auth = Auth::from_config(&c, "a").unwrap();
            let dbg = format!("{auth:?} {:?}", auth.clone());
            assert!(!dbg.contains("secret-"), "{dbg}");
            assert!(dbg.contains(auth.kind()), "{dbg}");
        }
        let auth = Auth::from_config(
            &json!({"type": "api_key", "name": "X-Key", "api_key": "k", "location": "param"}),
            "a",
        )
        .unwrap();
        let dbg = format!("{auth:?}");
        assert!(dbg.contains("X-Key") && dbg.contains("query"), "{dbg}");
    }

    #[test]
    fn headers_and_query_keys_arrive_at_the_server() {
        let s = Server::start(vec![
            response(200, &[], ""),
            response(200, &[], ""),
            response(200, &[], ""),
        ]);
        let http = http();
        let configs = [
            json!({"token": "tok-1234"}),
            json!({"type": "http_basic", "username": "user", "password": "pass"}),
            json!({"type": "api_key", "name": "X-API-Key", "api_key": "k-5678"}),
        ];
        for c in configs {
            let auth = Auth::from_config(&c, "a").unwrap();
            let mut req = Request::new(Method::Get, s.url("/data"));
            auth.apply(&mut req, &http).unwrap();
            http.send(&req).unwrap();
        }
        let got = s.finish();
        assert_eq!(got[0].header("authorization"), Some("Bearer tok-1234"));
        assert_eq!(got[1].header("authorization"), Some("Basic dXNlcjpwYXNz"));
        assert_eq!(got[2].header("x-api-key"), Some("k-5678"));
    }

    #[test]
    fn an_api_key_in_the_query_is_redacted_from_errors() {
        let s = Server::start(vec![response(500, &[], "echo k-secret-5678")]);
        let http = Http::new(HttpOptions {
            max_attempts: 1,
            ..HttpOptions::default()
        });
        let auth = Auth::from_config(
            &json!({"type": "api_key", "name": "sig", "api_key": "k-secret-5678",
                "location": "query"}),
            "a",
        )
        .unwrap();
        let mut req = Request::new(Method::Get, s.url("/data"));
        auth.apply(&mut req, &http).unwrap();
        let e = http.send(&req).unwrap_err().to_string();
        assert!(!e.contains("k-secret"), "{e}");
        assert!(e.contains("/data?sig=***"), "{e}");
        let got = s.finish();
        assert_eq!(got[0].target, "/data?sig=k-secret-5678");
    }

    #[test]
    fn oauth2_token_is_obtained_once_and_reused() {
        let s = Server::start(vec![
            response(
                200,
                &[("Content-Type", "application/json")],
                r#"{"access_token": "at-0001", "token_type": "bearer", "expires_in": 3600}"#,
            ),
            response(200, &[], "[]"),
            response(200, &[], "[]"),
        ]);
        let http = http();
        let auth = Auth::from_config(
            &json!({"type": "oauth2_client_credentials",
                "access_token_url": s.url("/oauth/token"),
                "client_id": "cid 1", "client_secret": "cs&2",
                "access_token_request_data": {"scope": "read", "grant_type": "custom"}}),
            "client.auth",
        )
        .unwrap();
        for _ in 0..2 {
            let mut req = Request::new(Method::Get, s.url("/items"));
            auth.apply(&mut req, &http).unwrap();
            assert_eq!(http.send(&req).unwrap().status, 200);
        }
        assert!(auth.secrets().contains(&"at-0001".to_string()));
        let got = s.finish();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].method, "POST");
        assert_eq!(got[0].target, "/oauth/token");
        assert_eq!(
            got[0].header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        // dlt's order; request data overrides in place
        assert_eq!(
            String::from_utf8(got[0].body.clone()).unwrap(),
            "client_id=cid+1&client_secret=cs%262&grant_type=custom&scope=read"
        );
        for g in &got[1..] {
            assert_eq!(g.method, "GET");
            assert_eq!(g.header("authorization"), Some("Bearer at-0001"));
        }
    }

    #[test]
    fn an_expired_oauth2_token_is_obtained_again() {
        // a given access_token is expired at once (as in dlt); `expires_in: 0` too
        let token = |t: &str| {
            response(
                200,
                &[],
                &format!(r#"{{"access_token": "{t}", "expires_in": 0}}"#),
            )
        };
        let s = Server::start(vec![token("at-1"), token("at-2")]);
        let http = http();
        let auth = Auth::from_config(
            &json!({"type": "oauth2_client_credentials",
                "access_token_url": s.url("/token"),
                "client_id": "cid", "client_secret": "cs",
                "access_token": "given-token"}),
            "a",
        )
        .unwrap();
        let mut headers = Vec::new();
        for _ in 0..2 {
            let mut req = Request::new(Method::Get, "http://unused/");
            auth.apply(&mut req, &http).unwrap();
            headers.push(req.headers[0].1.clone());
        }
        assert_eq!(headers, ["Bearer at-1", "Bearer at-2"]);
        assert_eq!(s.finish().len(), 2);
    }

    #[test]
    fn a_failed_token_request_names_the_token_url_not_the_secret() {
        let s = Server::start(vec![
            response(
                401,
                &[],
                r#"{"error": "invalid_client", "client_secret": "cs-9876543"}"#,
            ),
            response(200, &[], r#"{"token": "no access_token here"}"#),
        ]);
        let http = http();
        let auth = Auth::from_config(
            &json!({"type": "oauth2_client_credentials",
                "access_token_url": s.url("/token?key=abc"),
                "client_id": "cid-1234", "client_secret": "cs-9876543"}),
            "a",
        )
        .unwrap();
        let mut req = Request::new(Method::Get, "http://unused/");
        let e = auth.apply(&mut req, &http).unwrap_err();
        assert_eq!(e.status(), Some(401));
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "POST {}: HTTP 401 Unauthorized",
                s.url("/token?key=***")
            )),
            "{text}"
        );
        assert!(!text.contains("cs-9876543"), "{text}");

        let e = auth.apply(&mut req, &http).unwrap_err();
        assert!(matches!(e, HttpError::InvalidResponse { .. }), "{e:?}");
        assert!(e.to_string().contains("access_token"), "{e}");
        assert!(req.headers.is_empty());
        s.finish();
    }
}
