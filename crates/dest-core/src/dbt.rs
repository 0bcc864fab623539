//! What a destination tells dbt about itself: the fields of a dbt profile output.
//!
//! A destination builds a [`DbtProfile`] from its credentials
//! ([`crate::Destination::dbt_profile`]); the dbt runner writes the non-secret fields to a
//! `profiles.yml` and hands the secrets to the dbt process as environment variables, which the
//! profile reads with `{{ env_var('NAME') }}`. Secrets therefore never reach the disk, and
//! `Debug` never prints them.

use std::fmt;

/// A scalar value of a dbt profile field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for ProfileValue {
    fn from(s: &str) -> Self {
        ProfileValue::Str(s.to_string())
    }
}

impl From<String> for ProfileValue {
    fn from(s: String) -> Self {
        ProfileValue::Str(s)
    }
}

impl From<i64> for ProfileValue {
    fn from(i: i64) -> Self {
        ProfileValue::Int(i)
    }
}

impl From<bool> for ProfileValue {
    fn from(b: bool) -> Self {
        ProfileValue::Bool(b)
    }
}

/// A secret profile field: written to the profile as `{{ env_var('<env_var>') }}`, its value
/// given to the dbt process in that environment variable. `Debug` prints `***` for the value.
#[derive(Clone, PartialEq, Eq)]
pub struct DbtSecret {
    /// The profile field (`password`).
    pub field: String,
    /// The environment variable that carries the value (`DLT_RS_DBT_PASSWORD`).
    pub env_var: String,
    /// The secret itself; never write it to disk or to a log.
    pub value: String,
}

impl fmt::Debug for DbtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbtSecret")
            .field("field", &self.field)
            .field("env_var", &self.env_var)
            .field("value", &"***")
            .finish()
    }
}

/// One dbt profile output (a target) for a destination and dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbtProfile {
    /// The dbt adapter type (`postgres`): the profile's `type`, and the adapter package to
    /// install (`dbt-postgres`).
    pub adapter: String,
    /// Non-secret fields in the order they are written (`host`, `port`, `schema`, ...).
    pub fields: Vec<(String, ProfileValue)>,
    /// Secret fields, passed through environment variables.
    pub secrets: Vec<DbtSecret>,
    /// Further environment variables for the dbt process, none of them secret (settings the
    /// adapter has no profile field for, such as libpq's `PGOPTIONS`).
    pub env: Vec<(String, String)>,
}

impl DbtProfile {
    /// A profile for `adapter` without fields.
    pub fn new(adapter: impl Into<String>) -> Self {
        DbtProfile {
            adapter: adapter.into(),
            fields: Vec::new(),
            secrets: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Appends a non-secret field.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<ProfileValue>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    /// Appends a secret field carried by environment variable `env_var`.
    pub fn secret(
        mut self,
        field: impl Into<String>,
        env_var: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.secrets.push(DbtSecret {
            field: field.into(),
            env_var: env_var.into(),
            value: value.into(),
        });
        self
    }

    /// Appends an environment variable (not a secret) for the dbt process.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The value of non-secret field `name`.
    pub fn get(&self, name: &str) -> Option<&ProfileValue> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Sets non-secret field `name`, in place when present, else at the end.
    pub fn set(&mut self, name: &str, value: impl Into<ProfileValue>) {
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value,
            None => self.fields.push((name.to_string(), value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secret_values() {
        let p = DbtProfile::new("postgres")
            .field("host", "localhost")
            .secret("password", "DLT_RS_DBT_PASSWORD", "hunter2");
        let text = format!("{p:?} {p:#?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("DLT_RS_DBT_PASSWORD"), "{text}");
        assert!(text.contains("localhost"), "{text}");
    }

    #[test]
    fn set_replaces_in_place() {
        let mut p = DbtProfile::new("postgres")
            .field("host", "a")
            .field("schema", "x")
            .field("port", 1i64);
        p.set("schema", "y");
        p.set("threads", 4i64);
        let names: Vec<_> = p.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["host", "schema", "port", "threads"]);
        assert_eq!(p.get("schema"), Some(&ProfileValue::Str("y".into())));
    }
}
