//! `dlt-rs init chess postgres` in an empty folder, then `cargo run` of the project it made
//! against the local chess.com fixture server, then `dlt-rs pipeline chess show`: the
//! user's path of dlt's PostgreSQL guide, end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use source_chess::fixture::FixtureServer;
use test_support::{connect, pg_url};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The target folder the test binaries were built in (`.../target`).
fn target_dir() -> PathBuf {
    let bin = Path::new(BIN);
    // target/<profile>/dlt-rs
    bin.parent().and_then(Path::parent).unwrap().to_path_buf()
}

#[test]
fn init_lists_sources_and_registered_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let out = dlt_rs(&["init", "--list"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("chess"), "{listed}");
    assert!(listed.contains("postgres"), "{listed}");

    let out = dlt_rs(&["init", "nope", "postgres"], dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown source `nope`"),
        "{}",
        text(&out)
    );
    let out = dlt_rs(&["init", "chess", "nowhere"], dir.path());
    assert!(!out.status.success());
    assert!(text(&out).contains("nowhere"), "{}", text(&out));
}

#[test]
fn init_writes_the_project_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dlt_rs(&["init", "chess", "postgres"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        ".dlt/config.toml",
        ".dlt/secrets.toml",
        ".gitignore",
        "README.md",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let secrets = std::fs::read_to_string(dir.path().join(".dlt/secrets.toml")).unwrap();
    assert!(
        secrets.contains("[destination.postgres.credentials]"),
        "{secrets}"
    );
    let ignore = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == ".dlt/secrets.toml"), "{ignore}");
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(
        readme.contains("ALTER DATABASE dlt_data OWNER TO loader"),
        "{readme}"
    );

    // a second init touches nothing
    std::fs::write(dir.path().join("src/main.rs"), "// mine").unwrap();
    let out = dlt_rs(&["init", "chess", "postgres"], dir.path());
    assert!(!out.status.success());
    assert!(text(&out).contains("already exist"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("src/main.rs")).unwrap(),
        "// mine"
    );
}

/// The "done when": init, `cargo run` against the fixture server, `pipeline show`.
#[tokio::test(flavor = "multi_thread")]
async fn init_chess_then_cargo_run_loads_players_and_games_and_show_lists_them() {
    let db = connect().await;
    db.batch_execute(
        "drop schema if exists chess_players_games_data cascade; \
         drop schema if exists chess_players_games_data_staging cascade",
    )
    .await
    .unwrap();
    let fixture = FixtureServer::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("my-chess");
    std::fs::create_dir(&project).unwrap();
    let out = dlt_rs(&["init", "chess", "postgres"], &project);
    assert!(out.status.success(), "{}", text(&out));

    let url = pg_url();
    let out = cargo_run(
        &project,
        home.path(),
        &[
            ("SOURCES__CHESS__BASE_URL", fixture.url().as_str()),
            ("SOURCES__CHESS__PLAYERS", "ferris_rook,ada_knight"),
            ("SOURCES__CHESS__START_MONTH", "2023/12"),
            ("SOURCES__CHESS__END_MONTH", "2024/02"),
            ("DESTINATION__POSTGRES__CREDENTIALS", url.as_str()),
        ],
    );
    assert!(out.status.success(), "cargo run: {}", text(&out));

    let counts = contents(
        &db,
        "select (select count(*) from chess_players_games_data.players_profiles) || ' ' || \
         (select count(*) from chess_players_games_data.players_games)",
    )
    .await;
    assert_eq!(counts, ["2 11"]);

    let out = Command::new(BIN)
        .args(["pipeline", "chess", "show"])
        .current_dir(&project)
        .env("HOME", home.path())
        .env("DESTINATION__POSTGRES__CREDENTIALS", pg_url())
        .output()
        .unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    let row = |table: &str| {
        shown
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("no line for {table}: {shown}"))
            .to_string()
    };
    assert!(row("players_profiles").contains('2'), "{shown}");
    assert!(row("players_games").contains("11"), "{shown}");
}

/// `dlt-rs dbt run PROJECT_DIR --pipeline NAME`: the pipeline loaded by `dlt-rs load`, the
/// model built in its dataset by the dbt of a venv, with `--vars` and `--select`.
#[tokio::test]
async fn dbt_run_transforms_a_table_the_command_line_loaded() {
    let venv = test_support::dbt::dbt_venv();
    let db = connect().await;
    let ds = test_support::fresh_schema(&db, "init::dbt_run").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("items.jsonl");
    std::fs::write(
        &file,
        "{\"id\": 1, \"category\": \"a\", \"qty\": 1}\n{\"id\": 2, \"category\": \"a\", \"qty\": 5}\n\
         {\"id\": 3, \"category\": \"b\", \"qty\": 7}\n",
    )
    .unwrap();
    let (url, f, p) = (
        pg_url(),
        file.to_string_lossy().to_string(),
        dir.path().join("pipes").to_string_lossy().to_string(),
    );
    let out = dlt_rs(&load_args(&f, &ds, &url, &p), dir.path());
    assert!(out.status.success(), "{}", text(&out));

    // the fixture project of the dbt crate, copied (dbt writes into its project)
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dbt/tests/fixtures/dbt_project");
    let project = dir.path().join("project");
    copy_dir(&fixture, &project);
    let (proj, venv_s) = (
        project.to_string_lossy().to_string(),
        venv.to_string_lossy().to_string(),
    );
    let out = dlt_rs(
        &[
            "dbt",
            "run",
            &proj,
            "--pipeline",
            &ds,
            "--pipelines-dir",
            &p,
            "--credentials",
            &url,
            "--venv",
            &venv_s,
            "--select",
            "items_summary",
            "--vars",
            "{\"min_qty\": 2}",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("items_summary"), "{}", text(&out));
    let rows = contents(
        &db,
        &format!("select category || ':' || items || ':' || total_qty from {ds}.items_summary order by 1"),
    )
    .await;
    assert_eq!(rows, ["a:1:5", "b:1:7"]);

    // a model that fails is named, and the command fails
    let out = dlt_rs(
        &[
            "dbt",
            "run",
            &proj,
            "--pipeline",
            &ds,
            "--pipelines-dir",
            &p,
            "--credentials",
            &url,
            "--venv",
            &venv_s,
            "--select",
            "broken",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("broken"), "{}", text(&out));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `cargo run` of a project `init` made: the user's cargo, with the user's toolchain and
/// registry, building into a target folder kept between test runs, with `env` set.
fn cargo_run(project: &Path, home: &Path, env: &[(&str, &str)]) -> Output {
    let real_home = std::env::var_os("HOME").unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .unwrap_or_else(|| Path::new(&real_home).join(".cargo").into_os_string());
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .unwrap_or_else(|| Path::new(&real_home).join(".rustup").into_os_string());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["run", "--quiet"])
        .current_dir(project)
        .env("HOME", home)
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env("CARGO_TARGET_DIR", target_dir().join("init-project"))
        .env_remove("RUSTFLAGS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn init_sql_database_and_filesystem_write_their_projects() {
    for (source, crate_name, command, extra) in [
        (
            "sql_database",
            "source-sql",
            "dlt-rs sql-database \"postgresql://",
            None,
        ),
        (
            "filesystem",
            "source-fs",
            "dlt-rs filesystem data --glob '*' --table items",
            Some("data/items.jsonl"),
        ),
        (
            "rest_api",
            "source-rest",
            "dlt-rs rest-api rest_api.yaml",
            Some("rest_api.yaml"),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dlt_rs(&["init", source, "postgres"], dir.path());
        assert!(out.status.success(), "{}", text(&out));
        let mut files = vec![
            "Cargo.toml",
            "Cargo.lock",
            "src/main.rs",
            ".dlt/config.toml",
            ".dlt/secrets.toml",
            ".gitignore",
            "README.md",
        ];
        files.extend(extra);
        for f in &files {
            assert!(dir.path().join(f).is_file(), "{source}: {f} missing");
            assert!(text(&out).contains(f), "{source}: {f} not listed");
        }
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
        let cargo = read("Cargo.toml");
        assert!(cargo.contains(&format!("{crate_name} = ")), "{cargo}");
        assert!(cargo.contains("dest-postgres = "), "{cargo}");
        let secrets = read(".dlt/secrets.toml");
        assert!(
            secrets.contains("[destination.postgres.credentials]"),
            "{secrets}"
        );
        let config = read(".dlt/config.toml");
        assert!(config.contains(&format!("[sources.{source}]")), "{config}");
        let readme = read("README.md");
        assert!(readme.contains(command), "{source}: {readme}");
        assert!(
            readme.contains(&format!("dlt-rs init {source} postgres")),
            "{readme}"
        );
        assert!(read(".gitignore").lines().any(|l| l == ".dlt/secrets.toml"));
        let main = read("src/main.rs");
        assert!(main.contains("use dest_postgres as _;"), "{main}");
    }
    // the source database's URL is a placeholder in the secrets
    let dir = tempfile::tempdir().unwrap();
    assert!(dlt_rs(&["init", "sql_database", "postgres"], dir.path())
        .status
        .success());
    let secrets = std::fs::read_to_string(dir.path().join(".dlt/secrets.toml")).unwrap();
    assert!(secrets.contains("[sources.sql_database]"), "{secrets}");
    assert!(
        secrets.contains("credentials = \"postgresql://"),
        "{secrets}"
    );
}

/// The projects build and run: the filesystem one loads its example file and, run again,
/// nothing; the sql_database one copies a table of a source schema; the rest_api one, its
/// config pointed at the local fixture API, merges a paginated endpoint twice.
#[tokio::test(flavor = "multi_thread")]
async fn init_filesystem_and_sql_database_then_cargo_run_load() {
    let db = connect().await;
    db.batch_execute(
        "drop schema if exists filesystem_data cascade; \
         drop schema if exists filesystem_data_staging cascade; \
         drop schema if exists sql_data cascade; \
         drop schema if exists sql_data_staging cascade; \
         drop schema if exists init_sql_source cascade; \
         create schema init_sql_source; \
         create table init_sql_source.users (id int primary key, name text not null); \
         insert into init_sql_source.users values (1, 'ada'), (2, 'grace')",
    )
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let url = pg_url();

    let project = home.path().join("my-files");
    std::fs::create_dir(&project).unwrap();
    let out = dlt_rs(&["init", "filesystem", "postgres"], &project);
    assert!(out.status.success(), "{}", text(&out));
    let env = [("DESTINATION__POSTGRES__CREDENTIALS", url.as_str())];
    let out = cargo_run(&project, home.path(), &env);
    assert!(out.status.success(), "cargo run: {}", text(&out));
    assert!(
        text(&out).contains("1 new or changed of 1 files"),
        "{}",
        text(&out)
    );
    let rows = contents(
        &db,
        "select id || ' ' || name from filesystem_data.items order by id",
    )
    .await;
    assert_eq!(rows, ["1 first", "2 second"]);
    let out = cargo_run(&project, home.path(), &env);
    assert!(out.status.success(), "cargo run: {}", text(&out));
    assert!(
        text(&out).contains("0 new or changed of 1 files"),
        "{}",
        text(&out)
    );

    let project = home.path().join("my-db");
    std::fs::create_dir(&project).unwrap();
    let out = dlt_rs(&["init", "sql_database", "postgres"], &project);
    assert!(out.status.success(), "{}", text(&out));
    let out = cargo_run(
        &project,
        home.path(),
        &[
            ("DESTINATION__POSTGRES__CREDENTIALS", url.as_str()),
            ("SOURCES__SQL_DATABASE__CREDENTIALS", url.as_str()),
            ("SOURCES__SQL_DATABASE__SCHEMA", "init_sql_source"),
            ("SOURCES__SQL_DATABASE__WRITE_DISPOSITION", "merge"),
        ],
    );
    assert!(out.status.success(), "cargo run: {}", text(&out));
    let rows = contents(
        &db,
        "select id || ' ' || name from sql_data.users order by id",
    )
    .await;
    assert_eq!(rows, ["1 ada", "2 grace"]);
    db.batch_execute("drop schema init_sql_source cascade")
        .await
        .unwrap();

    // rest_api: the project's config pointed at the local fixture API
    let api = source_rest::fixture::FixtureApi::start().unwrap();
    db.batch_execute(
        "drop schema if exists rest_api_data cascade; \
         drop schema if exists rest_api_data_staging cascade",
    )
    .await
    .unwrap();
    let project = home.path().join("my-api");
    std::fs::create_dir(&project).unwrap();
    let out = dlt_rs(&["init", "rest_api", "postgres"], &project);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(
        project.join("rest_api.yaml"),
        format!(
            "client:\n  base_url: {}\n  paginator:\n    type: page_number\n    base_page: 1\n    \
             total_path: total_pages\nresources:\n  - name: posts\n    primary_key: id\n    \
             write_disposition: merge\n    endpoint:\n      data_selector: data\n",
            api.url()
        ),
    )
    .unwrap();
    let env = [("DESTINATION__POSTGRES__CREDENTIALS", url.as_str())];
    for _ in 0..2 {
        let out = cargo_run(&project, home.path(), &env);
        assert!(out.status.success(), "cargo run: {}", text(&out));
    }
    let rows = contents(
        &db,
        "select count(*) || ' ' || count(distinct id) from rest_api_data.posts",
    )
    .await;
    assert_eq!(rows, ["23 23"], "merged twice, every post once");
}
