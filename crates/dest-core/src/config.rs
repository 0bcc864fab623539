//! Configuration lookup as dlt does it, independent of where values come from.
//!
//! A [`ConfigSource`] is a list of providers in precedence order (values given in code,
//! environment variables, project `.dlt/` files, global `~/.dlt/` files). [`Resolver`]
//! implements dlt's key search: for a field `password` of section
//! `destination.postgres.credentials` in pipeline `p` it tries, in every provider from the
//! highest to the lowest precedence, the keys
//! `p.destination.postgres.credentials.password`, `p.destination.credentials.password`,
//! `p.credentials.password`, `destination.postgres.credentials.password`,
//! `destination.credentials.password` and `credentials.password`.

use std::fmt;

use serde_json::Value as Json;

use crate::{Error, Result};

/// A layered source of configuration values. Implemented by the `dlt-config` crate over figment.
pub trait ConfigSource: Send + Sync + fmt::Debug {
    /// Number of providers; provider 0 has the highest precedence.
    fn provider_count(&self) -> usize;
    /// A human name of provider `index` (e.g. `environment variables`, `./.dlt/secrets.toml`).
    fn provider_name(&self, index: usize) -> String;
    /// The value at `path` (lowercase key segments) in provider `index`.
    fn value(&self, index: usize, path: &[&str]) -> Option<Json>;
}

/// A config source with no values (everything resolves to defaults).
#[derive(Debug, Default)]
pub struct EmptySource;

impl ConfigSource for EmptySource {
    fn provider_count(&self) -> usize {
        0
    }
    fn provider_name(&self, _: usize) -> String {
        String::new()
    }
    fn value(&self, _: usize, _: &[&str]) -> Option<Json> {
        None
    }
}

/// A value found in configuration and where it came from. `Debug` shows the key and
/// where it came from, never the value (it may be a secret).
#[derive(Clone)]
pub struct Found {
    pub value: Json,
    /// Dotted key it was found under.
    pub key: String,
    /// Provider name.
    pub origin: String,
}

impl fmt::Debug for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Found")
            .field("key", &self.key)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Found {
    /// The value as a string (numbers and booleans are turned into their text).
    pub fn as_string(&self) -> Result<String> {
        match &self.value {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            Json::Bool(b) => Ok(b.to_string()),
            _ => Err(self.invalid("expected a string")),
        }
    }

    pub fn as_u64(&self) -> Result<u64> {
        match &self.value {
            Json::Number(n) => n
                .as_u64()
                .ok_or_else(|| self.invalid("expected a whole number >= 0")),
            Json::String(s) => s
                .trim()
                .parse()
                .map_err(|_| self.invalid("expected a whole number >= 0")),
            _ => Err(self.invalid("expected a whole number >= 0")),
        }
    }

    pub fn as_bool(&self) -> Result<bool> {
        match &self.value {
            Json::Bool(b) => Ok(*b),
            Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(self.invalid("expected true or false")),
            },
            _ => Err(self.invalid("expected true or false")),
        }
    }

    /// An error naming the key and its origin, never the value (it may be a secret).
    pub fn invalid(&self, reason: &str) -> Error {
        Error::InvalidConfig {
            key: self.key.clone(),
            origin: self.origin.clone(),
            reason: reason.into(),
        }
    }
}

/// dlt's section search over a [`ConfigSource`] for one pipeline.
#[derive(Clone, Copy)]
pub struct Resolver<'a> {
    pub source: &'a dyn ConfigSource,
    pub pipeline_name: Option<&'a str>,
}

impl<'a> Resolver<'a> {
    pub fn new(source: &'a dyn ConfigSource, pipeline_name: Option<&'a str>) -> Self {
        Resolver {
            source,
            pipeline_name,
        }
    }

    /// Candidate key paths for `field` in `section`, most specific first: the section is
    /// shortened from the right until only its last segment (e.g. `credentials`) is left,
    /// each once under the pipeline name and once without.
    pub fn candidate_paths(&self, section: &[&str], field: &str) -> Vec<Vec<String>> {
        let mut reductions: Vec<Vec<&str>> = Vec::new();
        // `destination.postgres.credentials` -> `destination.credentials` -> `credentials`
        let mut cur: Vec<&str> = section.to_vec();
        reductions.push(cur.clone());
        while cur.len() > 1 {
            cur.remove(cur.len().saturating_sub(2));
            reductions.push(cur.clone());
        }
        if section.is_empty() {
            reductions = vec![vec![]];
        }
        let mut out = Vec::new();
        let prefixes: Vec<Option<&str>> = match self.pipeline_name {
            Some(p) => vec![Some(p), None],
            None => vec![None],
        };
        for prefix in prefixes {
            for r in &reductions {
                let mut path: Vec<String> = prefix.iter().map(|p| p.to_lowercase()).collect();
                path.extend(r.iter().map(|s| s.to_string()));
                if !field.is_empty() {
                    path.push(field.to_string());
                }
                out.push(path);
            }
        }
        out
    }

    /// Looks `field` up: every provider in precedence order, each with every candidate key.
    pub fn find(&self, section: &[&str], field: &str) -> Option<Found> {
        let paths = self.candidate_paths(section, field);
        for idx in 0..self.source.provider_count() {
            for path in &paths {
                let segs: Vec<&str> = path.iter().map(String::as_str).collect();
                if let Some(v) = self.source.value(idx, &segs) {
                    if v.is_null() {
                        continue;
                    }
                    return Some(Found {
                        value: v,
                        key: path.join("."),
                        origin: self.source.provider_name(idx),
                    });
                }
            }
        }
        None
    }

    /// Every key tried for `field`, in TOML (dotted) and environment variable form, for
    /// "missing field" errors.
    pub fn tried_keys(&self, section: &[&str], field: &str) -> Vec<String> {
        self.candidate_paths(section, field)
            .into_iter()
            .flat_map(|p| {
                let env = p
                    .iter()
                    .map(|s| s.to_uppercase())
                    .collect::<Vec<_>>()
                    .join("__");
                [env, p.join(".")]
            })
            .collect()
    }
}

impl fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("pipeline_name", &self.pipeline_name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_paths_follow_dlt_order() {
        let src = EmptySource;
        let r = Resolver::new(&src, Some("P"));
        let got: Vec<String> = r
            .candidate_paths(&["destination", "postgres", "credentials"], "password")
            .into_iter()
            .map(|p| p.join("."))
            .collect();
        assert_eq!(
            got,
            [
                "p.destination.postgres.credentials.password",
                "p.destination.credentials.password",
                "p.credentials.password",
                "destination.postgres.credentials.password",
                "destination.credentials.password",
                "credentials.password",
            ]
        );
        let tried = r.tried_keys(&["destination", "postgres", "credentials"], "password");
        assert!(tried.contains(&"DESTINATION__POSTGRES__CREDENTIALS__PASSWORD".to_string()));
    }
}
