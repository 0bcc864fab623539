//! The `profiles.yml` written for one dbt run.
//!
//! One profile ([`PROFILE_NAME`]) with one target ([`TARGET_NAME`]) made from the
//! destination's [`DbtProfile`]: its non-secret fields as YAML scalars, each secret as
//! `"{{ env_var('NAME') }}"` (dbt renders profiles with Jinja and reads the value from the
//! dbt process' environment), and `threads`. No secret value is ever part of the text.

use std::fmt::Write as _;

use dest_core::{DbtProfile, ProfileValue};

/// The name of the generated profile (`--profile`).
pub const PROFILE_NAME: &str = "dlt_rs";
/// The name of its only target (`--target`).
pub const TARGET_NAME: &str = "dlt_rs";

/// The text of `profiles.yml` for `profile`, with `threads` dbt threads.
pub fn render_profiles_yml(profile: &DbtProfile, threads: u32) -> String {
    let mut out = String::new();
    out.push_str(
        "# Written by dlt-rs for one dbt run from the destination's credentials.\n\
         # Secrets are not in this file: dbt reads them from environment variables.\n",
    );
    let _ = writeln!(out, "{PROFILE_NAME}:");
    let _ = writeln!(out, "  target: {TARGET_NAME}");
    out.push_str("  outputs:\n");
    let _ = writeln!(out, "    {TARGET_NAME}:");
    let _ = writeln!(out, "      type: {}", string(&profile.adapter));
    for (name, value) in &profile.fields {
        if name == "type" || name == "threads" {
            continue;
        }
        let _ = writeln!(out, "      {}: {}", key(name), scalar(value));
    }
    for secret in &profile.secrets {
        // env var names are [A-Z0-9_] by convention; quote anything else as a Jinja string
        let var = secret.env_var.replace('\\', "\\\\").replace('\'', "\\'");
        let _ = writeln!(
            out,
            "      {}: \"{{{{ env_var('{var}') }}}}\"",
            key(&secret.field)
        );
    }
    let _ = writeln!(out, "      threads: {threads}");
    out
}

/// A mapping key: bare when it is a plain identifier, else a quoted string.
fn key(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        name.to_string()
    } else {
        quoted(name)
    }
}

fn scalar(value: &ProfileValue) -> String {
    match value {
        ProfileValue::Str(s) => string(s),
        ProfileValue::Int(i) => i.to_string(),
        ProfileValue::Bool(b) => b.to_string(),
    }
}

/// A string value: a double-quoted YAML scalar (a JSON string is one). dbt renders profile
/// values with Jinja, so a value that contains Jinja delimiters is wrapped in
/// `{% raw %}...{% endraw %}` to reach dbt as it is.
fn string(s: &str) -> String {
    if s.contains("{{") || s.contains("{%") || s.contains("{#") {
        quoted(&format!("{{% raw %}}{s}{{% endraw %}}"))
    } else {
        quoted(s)
    }
}

fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn renders_fields_secrets_and_threads() {
        let profile = DbtProfile::new("postgres")
            .field("host", "db.example.com")
            .field("port", 5433i64)
            .field("user", "loader")
            .field("dbname", "dlt_data")
            .field("schema", "raw")
            .field("connect_timeout", 15i64)
            .field("sslmode", "require")
            .field("sslrootcert", "/etc/ssl/my ca \"root\".pem")
            .field("odd key", true)
            .secret("password", "DLT_RS_DBT_PASSWORD", "pa55w0rd!");
        let text = render_profiles_yml(&profile, 4);
        assert!(!text.contains("pa55w0rd"), "{text}");
        expect![[r#"
            # Written by dlt-rs for one dbt run from the destination's credentials.
            # Secrets are not in this file: dbt reads them from environment variables.
            dlt_rs:
              target: dlt_rs
              outputs:
                dlt_rs:
                  type: "postgres"
                  host: "db.example.com"
                  port: 5433
                  user: "loader"
                  dbname: "dlt_data"
                  schema: "raw"
                  connect_timeout: 15
                  sslmode: "require"
                  sslrootcert: "/etc/ssl/my ca \"root\".pem"
                  "odd key": true
                  password: "{{ env_var('DLT_RS_DBT_PASSWORD') }}"
                  threads: 4
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn jinja_in_values_is_kept_literal() {
        let profile = DbtProfile::new("postgres")
            .field("dbname", "we{{ird}}")
            .field("threads", 99i64);
        let text = render_profiles_yml(&profile, 2);
        expect![[r#"
            # Written by dlt-rs for one dbt run from the destination's credentials.
            # Secrets are not in this file: dbt reads them from environment variables.
            dlt_rs:
              target: dlt_rs
              outputs:
                dlt_rs:
                  type: "postgres"
                  dbname: "{% raw %}we{{ird}}{% endraw %}"
                  threads: 2
        "#]]
        .assert_eq(&text);
    }
}
