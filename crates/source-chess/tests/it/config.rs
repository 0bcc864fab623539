//! `ChessSource::from_config`: section `sources.chess` of dlt-style configuration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use source_chess::{ChessSource, HttpOptions, DEFAULT_BASE_URL};

fn build(dir: &Path, config_toml: &str, env: &[(&str, &str)]) -> dlt_config::Config {
    let dlt = dir.join(".dlt");
    std::fs::create_dir_all(&dlt).unwrap();
    std::fs::write(dlt.join("config.toml"), config_toml).unwrap();
    let vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(vars)
        .build()
        .unwrap()
}

#[test]
fn reads_players_and_settings_from_config_toml_and_base_url_from_env() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(
        dir.path(),
        r#"
[sources.chess]
players = ["magnuscarlsen", "vincentkeymer"]
start_month = "2022/11"
end_month = "2022/12"
requests_per_second = 2
user_agent = "my-loader (me@example.com)"

[runtime]
request_max_attempts = 7
request_backoff_factor = 0.5
request_timeout = 20
"#,
        &[("SOURCES__CHESS__BASE_URL", "http://127.0.0.1:8765/")],
    );
    let s = ChessSource::from_config(&config, Some("chess_pipeline")).unwrap();
    assert_eq!(s.players, ["magnuscarlsen", "vincentkeymer"]);
    assert_eq!(s.base_url, "http://127.0.0.1:8765");
    assert_eq!(s.start_month.as_deref(), Some("2022/11"));
    assert_eq!(s.end_month.as_deref(), Some("2022/12"));
    assert_eq!(
        s.http,
        HttpOptions {
            user_agent: "my-loader (me@example.com)".into(),
            requests_per_second: 2.0,
            max_attempts: 7,
            backoff_factor: Duration::from_millis(500),
            timeout: Duration::from_secs(20),
            ..HttpOptions::default()
        }
    );
}

#[test]
fn defaults_and_players_from_an_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(
        dir.path(),
        "",
        &[("SOURCES__CHESS__PLAYERS", "magnuscarlsen, rpragchess")],
    );
    let s = ChessSource::from_config(&config, None).unwrap();
    assert_eq!(s.players, ["magnuscarlsen", "rpragchess"]);
    assert_eq!(s.base_url, DEFAULT_BASE_URL);
    assert_eq!(s.http, HttpOptions::default());
    assert_eq!(s.start_month, None);

    // a JSON list works too, and a key under the pipeline name wins
    let config = build(
        dir.path(),
        "[sources.chess]\nbase_url = \"http://127.0.0.1:1\"\n\
         [chess_pipeline.sources.chess]\nbase_url = \"http://127.0.0.1:2\"\n",
        &[("SOURCES__CHESS__PLAYERS", r#"["a_b", "c-d"]"#)],
    );
    let s = ChessSource::from_config(&config, Some("chess_pipeline")).unwrap();
    assert_eq!(s.players, ["a_b", "c-d"]);
    assert_eq!(s.base_url, "http://127.0.0.1:2");
    let s = ChessSource::from_config(&config, Some("other")).unwrap();
    assert_eq!(s.base_url, "http://127.0.0.1:1");
}

#[test]
fn missing_or_invalid_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = build(dir.path(), "", &[]);
    let err = ChessSource::from_config(&config, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no players configured"), "{err}");
    assert!(err.contains("sources.chess.players"), "{err}");
    assert!(err.contains("SOURCES__CHESS__PLAYERS"), "{err}");

    let config = build(
        dir.path(),
        "[sources.chess]\nplayers = [\"x\"]\nrequests_per_second = \"fast\"\n",
        &[],
    );
    let err = ChessSource::from_config(&config, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sources.chess.requests_per_second"), "{err}");
    assert!(!err.contains("fast"), "values are not shown: {err}");

    let config = build(
        dir.path(),
        "[sources.chess]\nplayers = [\"x\"]\nstart_month = \"2024-01\"\n",
        &[],
    );
    let err = ChessSource::from_config(&config, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("start_month `2024-01`"), "{err}");

    let config = build(dir.path(), "[sources.chess]\nplayers = [1, 2]\n", &[]);
    let err = ChessSource::from_config(&config, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sources.chess.players"), "{err}");
}
