//! One HTTP request and its response, as the client, the auth methods and the paginators
//! see them. Pure data: sending is `http`'s.

use serde_json::Value as Json;

/// The HTTP methods an endpoint may use (dlt's `HTTPMethodBasic`, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl Method {
    /// The method named `name` (`get`, `GET`, ...), or `None`.
    pub fn parse(name: &str) -> Option<Method> {
        Some(match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            _ => return None,
        })
    }

    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }
}

/// A request to send: the URL without the query parameters in `query` (a URL from a
/// paginator's next link may carry a query of its own: both are sent, `query` after it).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// An absolute URL.
    pub url: String,
    /// Query parameters in order; a value that is JSON `null` is not sent (as `requests`).
    pub query: Vec<(String, Json)>,
    /// Headers in order (names as given; HTTP compares them case-insensitively).
    pub headers: Vec<(String, String)>,
    /// A JSON body (`endpoint.json`).
    pub json: Option<Json>,
    /// A form or raw body (`endpoint.data`): an object is sent form-encoded, a string as is.
    pub data: Option<Json>,
}

impl Request {
    /// A `method` request of `url` with nothing else set.
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            json: None,
            data: None,
        }
    }

    /// Sets query parameter `name` (replacing one of that name).
    pub fn set_query(&mut self, name: &str, value: Json) {
        match self.query.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.query.push((name.to_string(), value)),
        }
    }

    /// The value of query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<&Json> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Sets header `name` (replacing one of that name, compared case-insensitively).
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => *v = value,
            None => self.headers.push((name.to_string(), value)),
        }
    }
}

/// A response: its final status, headers and body (read whole).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The URL requested, query included (secrets in it are redacted only when printed:
    /// see `http::redact_url`).
    pub url: String,
    pub status: u16,
    /// Headers in order, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
