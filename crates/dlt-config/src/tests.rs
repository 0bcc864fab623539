//! Tests of [`crate::Config`]; figment's `Jail` isolates the environment and the current
//! directory.

// `Jail` closures return figment's (large) error type
#![allow(clippy::result_large_err)]

use dest_core::config::{ConfigSource, Resolver};
use figment::Jail;
use serde_json::json;

use super::*;

const CREDS: &[&str] = &["destination", "postgres", "credentials"];

fn err(e: Error) -> figment::Error {
    figment::Error::from(e.to_string())
}

/// A jail with an empty environment and `HOME` inside it.
fn jail_home(jail: &mut Jail) {
    jail.clear_env();
    jail.set_env("HOME", jail.directory().join("home").display());
}

fn find_str(config: &Config, field: &str) -> Option<(String, String)> {
    let r = Resolver::new(config, None);
    r.find(CREDS, field)
        .map(|f| (f.as_string().unwrap_or_default(), f.origin))
}

#[test]
fn precedence_code_env_project_global() {
    Jail::expect_with(|jail| {
        jail_home(jail);
        jail.create_dir("home/.dlt")?;
        jail.create_file(
            "home/.dlt/secrets.toml",
            r#"
[destination.postgres.credentials]
password = "global"
username = "global_user"
host = "global_host"
database = "global_db"
"#,
        )?;
        jail.create_dir(".dlt")?;
        jail.create_file(
            ".dlt/secrets.toml",
            r#"
[destination.postgres.credentials]
password = "project"
username = "project_user"
host = "project_host"
"#,
        )?;
        jail.set_env("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "env");
        jail.set_env("DESTINATION__POSTGRES__CREDENTIALS__USERNAME", "env_user");

        let config = Config::builder()
            .set("destination.postgres.credentials.password", "code")
            .build()
            .map_err(err)?;
        let (v, origin) = find_str(&config, "password").ok_or("password")?;
        assert_eq!(v, "code");
        assert_eq!(origin, CODE_PROVIDER);
        let (v, origin) = find_str(&config, "username").ok_or("username")?;
        assert_eq!(v, "env_user");
        assert_eq!(origin, ENV_PROVIDER);
        let (v, origin) = find_str(&config, "host").ok_or("host")?;
        assert_eq!(v, "project_host");
        assert!(origin.starts_with("secrets.toml ("), "{origin}");
        assert!(origin.contains("./.dlt/secrets.toml"), "{origin}");
        let (v, _) = find_str(&config, "database").ok_or("database")?;
        assert_eq!(v, "global_db");

        // without code values and env the project file wins
        let config = Config::builder().env(false).build().map_err(err)?;
        assert_eq!(find_str(&config, "password").ok_or("pw")?.0, "project");
        Ok(())
    });
}

#[test]
fn secrets_before_config_toml_and_dlt_data_dir() {
    Jail::expect_with(|jail| {
        jail_home(jail);
        jail.create_dir("data")?;
        jail.set_env("DLT_DATA_DIR", jail.directory().join("data").display());
        jail.create_file(
            "data/config.toml",
            "[load]\nworkers = 7\n[runtime]\nlog_level = \"INFO\"\n",
        )?;
        jail.create_dir(".dlt")?;
        jail.create_file(".dlt/config.toml", "[runtime]\nlog_level = \"WARNING\"\n")?;
        jail.create_file(".dlt/secrets.toml", "[runtime]\nlog_level = \"ERROR\"\n")?;

        let config = Config::load().map_err(err)?;
        let r = config.resolver(None);
        let workers = r.find(&["load"], "workers").ok_or("workers")?;
        assert_eq!(workers.as_u64().map_err(err)?, 7);
        assert!(
            workers.origin.contains("data/config.toml"),
            "{}",
            workers.origin
        );
        let level = r.find(&["runtime"], "log_level").ok_or("log_level")?;
        assert_eq!(level.as_string().map_err(err)?, "ERROR");
        assert_eq!(config.files().len(), 3);
        Ok(())
    });
}

#[test]
fn toml_table_and_connection_string_forms() {
    Jail::expect_with(|jail| {
        jail_home(jail);
        jail.create_dir(".dlt")?;
        jail.create_file(
            ".dlt/secrets.toml",
            r#"
# keep it at the top of your toml file! before any section starts
destination.postgres.credentials="postgresql://loader:pw@localhost/dlt_data?connect_timeout=15"

[destination.other.credentials]
database = "dlt_data"
port = 5432
query.sslmode = "disable"
"#,
        )?;
        let config = Config::load().map_err(err)?;
        let r = config.resolver(None);
        let url = r.find(CREDS, "").ok_or("url")?;
        assert_eq!(url.key, "destination.postgres.credentials");
        assert_eq!(
            url.value,
            json!("postgresql://loader:pw@localhost/dlt_data?connect_timeout=15")
        );
        let other = ["destination", "other", "credentials"];
        assert_eq!(
            r.find(&other, "port")
                .ok_or("port")?
                .as_u64()
                .map_err(err)?,
            5432
        );
        assert_eq!(
            config.value(2, &["destination", "other", "credentials", "query"]),
            Some(json!({"sslmode": "disable"}))
        );
        assert_eq!(
            config.value(2, &["destination", "other", "credentials"]),
            Some(json!({"database": "dlt_data", "port": 5432, "query": {"sslmode": "disable"}}))
        );
        Ok(())
    });
}

#[test]
fn env_whole_url_and_fields_together() {
    Jail::expect_with(|jail| {
        jail_home(jail);
        jail.set_env(
            "DESTINATION__POSTGRES__CREDENTIALS",
            "postgresql://loader@localhost:5432/dlt_data",
        );
        jail.set_env("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "secret");
        let config = Config::load().map_err(err)?;
        let r = config.resolver(None);
        let url = r.find(CREDS, "").ok_or("url")?;
        assert_eq!(
            url.value,
            json!("postgresql://loader@localhost:5432/dlt_data")
        );
        assert_eq!(url.origin, ENV_PROVIDER);
        assert_eq!(find_str(&config, "password").ok_or("pw")?.0, "secret");
        // the table form of the section shows the sub-keys
        assert_eq!(
            config.value(1, &["destination", "postgres"]),
            Some(json!({"credentials": {"password": "secret"}}))
        );
        Ok(())
    });
}

#[test]
fn env_values_stay_verbatim_strings() {
    Jail::expect_with(|jail| {
        jail_home(jail);
        jail.set_env("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "0012");
        jail.set_env("DESTINATION__POSTGRES__CREDENTIALS__USERNAME", "true");
        jail.set_env("DESTINATION__POSTGRES__CREDENTIALS__HOST", "[1, 2]");
        jail.set_env("DESTINATION__POSTGRES__CREDENTIALS__PORT", "5433");
        jail.set_env("DESTINATION__POSTGRES__CREDENTIALS__DATABASE", " spaced ");
        jail.set_env("lowercase__ignored", "x");
        let config = Config::load().map_err(err)?;
        let r = config.resolver(None);
        let get = |f: &str| r.find(CREDS, f).map(|f| f.value);
        assert_eq!(get("password"), Some(json!("0012")));
        assert_eq!(get("username"), Some(json!("true")));
        assert_eq!(get("host"), Some(json!("[1, 2]")));
        assert_eq!(get("port"), Some(json!("5433")));
        assert_eq!(get("database"), Some(json!(" spaced ")));
        assert_eq!(
            r.find(CREDS, "port").ok_or("port")?.as_u64().map_err(err)?,
            5433
        );
        assert_eq!(config.value(1, &["lowercase", "ignored"]), None);
        Ok(())
    });
}

#[test]
fn env_map_instead_of_process_env() {
    let config = Config::builder()
        .env([("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "from-map")])
        .project_dir("/nonexistent/project")
        .no_global_dir()
        .build()
        .unwrap();
    assert_eq!(find_str(&config, "password").unwrap().0, "from-map");
    assert!(config.files().is_empty());
}

#[test]
fn pipeline_specific_keys_win_within_a_provider() {
    let config = Config::builder()
        .env(vec![
            ("P1__DESTINATION__POSTGRES__CREDENTIALS__HOST", "p1-host"),
            ("DESTINATION__POSTGRES__CREDENTIALS__HOST", "any-host"),
            ("CREDENTIALS__HOST", "generic"),
        ])
        .no_global_dir()
        .project_dir("/nonexistent")
        .build()
        .unwrap();
    let host = |p: Option<&str>| {
        Resolver::new(&config, p)
            .find(CREDS, "host")
            .map(|f| (f.as_string().unwrap(), f.key))
    };
    assert_eq!(
        host(Some("P1")),
        Some((
            "p1-host".into(),
            "p1.destination.postgres.credentials.host".into()
        ))
    );
    assert_eq!(
        host(Some("p2")),
        Some((
            "any-host".into(),
            "destination.postgres.credentials.host".into()
        ))
    );
    let other = Resolver::new(&config, None).find(&["destination", "x", "credentials"], "host");
    assert_eq!(other.unwrap().as_string().unwrap(), "generic");
}

#[test]
fn code_values_tables_and_replacement() {
    let config = Config::builder()
        .env(false)
        .no_global_dir()
        .project_dir("/nonexistent")
        .set(
            "Destination.Postgres.Credentials",
            json!({"Host": "h", "port": 1}),
        )
        .set("destination.postgres.credentials.port", 2)
        .set("destination.postgres.credentials", "postgresql://u@h/db")
        .build()
        .unwrap();
    let r = Resolver::new(&config, None);
    assert_eq!(r.find(CREDS, "host").unwrap().value, json!("h"));
    assert_eq!(r.find(CREDS, "port").unwrap().value, json!(2));
    assert_eq!(
        r.find(CREDS, "").unwrap().value,
        json!("postgresql://u@h/db")
    );
    assert!(Config::builder().set("a..b", 1).build().is_err());
}

#[test]
fn tried_keys_through_resolver() {
    let config = Config::builder()
        .env(false)
        .no_global_dir()
        .project_dir("/nonexistent")
        .build()
        .unwrap();
    let r = Resolver::new(&config, Some("chess"));
    assert!(r.find(CREDS, "password").is_none());
    let tried = r.tried_keys(CREDS, "password");
    for key in [
        "CHESS__DESTINATION__POSTGRES__CREDENTIALS__PASSWORD",
        "chess.destination.postgres.credentials.password",
        "DESTINATION__POSTGRES__CREDENTIALS__PASSWORD",
        "destination.postgres.credentials.password",
        "DESTINATION__CREDENTIALS__PASSWORD",
        "CREDENTIALS__PASSWORD",
        "credentials.password",
    ] {
        assert!(tried.iter().any(|t| t == key), "{key} not in {tried:?}");
    }
}

#[test]
fn toml_syntax_error_names_file_and_line_not_content() {
    Jail::expect_with(|jail| {
        jail_home(jail);
        jail.create_dir(".dlt")?;
        jail.create_file(
            ".dlt/secrets.toml",
            "[destination.postgres.credentials]\nusername = \"u\"\npassword = \"hunter2\n",
        )?;
        let e = Config::load().expect_err("syntax error").to_string();
        assert!(e.contains(".dlt/secrets.toml"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        Ok(())
    });
}

#[test]
fn debug_never_prints_values() {
    let config = Config::builder()
        .env([("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "hunter2")])
        .set("destination.postgres.credentials.password", "hunter3")
        .no_global_dir()
        .project_dir("/nonexistent");
    let builder_dbg = format!("{config:?}");
    assert!(!builder_dbg.contains("hunter"), "{builder_dbg}");
    let config = config.build().unwrap();
    let dbg = format!("{config:?}");
    assert!(!dbg.contains("hunter"), "{dbg}");
    assert!(dbg.contains("environment variables"), "{dbg}");
    assert!(dbg.contains("secrets.toml"), "{dbg}");
}

#[test]
fn toml_keys_are_lowercased_and_datetimes_are_text() {
    Jail::expect_with(|jail| {
        jail_home(jail);
        jail.create_dir(".dlt")?;
        jail.create_file(
            ".dlt/config.toml",
            "[MyPipeline.Destination]\nCreate_Indexes = false\n[sources]\nsince = 1979-05-27T07:32:00Z\n",
        )?;
        let config = Config::load().map_err(err)?;
        let r = Resolver::new(&config, Some("MyPipeline"));
        let found = r
            .find(&["destination", "create_indexes"], "")
            .ok_or("create_indexes")?;
        assert!(!found.as_bool().map_err(err)?);
        let since = Resolver::new(&config, None)
            .find(&["sources"], "since")
            .ok_or("since")?;
        assert_eq!(since.value, json!("1979-05-27T07:32:00Z"));
        Ok(())
    });
}

#[test]
fn empty_config_has_no_providers() {
    let config = Config::empty();
    assert_eq!(config.provider_count(), 0);
    assert!(Resolver::new(&config, None)
        .find(CREDS, "password")
        .is_none());
}
