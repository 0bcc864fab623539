//! The chess source against the fixture server, loading into a real PostgreSQL
//! (`DLT_RS_TEST_PG_URL`, default `postgresql://postgres@127.0.0.1:5432/postgres`).
//!
//! Every test has its own fixture server, schema and pipelines dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use pipeline::Pipeline;
use source_chess::fixture::{FixtureServer, DEFAULT_PLAYERS};
use source_chess::{ChessSource, HttpOptions};
use test_support::{connect, fresh_schema, pg_url, query_rows};

use dest_postgres as _;

const FERRIS: &str = DEFAULT_PLAYERS[0];
const ADA: &str = DEFAULT_PLAYERS[1];

/// Configuration that ignores the developer's `.dlt/` folders and environment, with these
/// variables instead.
fn config(dir: &Path, env: &[(&str, &str)]) -> dlt_config::ConfigBuilder {
    let vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(vars)
}

fn pipeline(name: &str, dataset: &str, dir: &Path, env: &[(&str, &str)]) -> Pipeline {
    Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(&pg_url())
        .config(config(dir, env))
        .build()
        .expect("pipeline builds")
}

/// No rate limit, quick retries: the tests do not wait.
fn fast_http(max_attempts: u32) -> HttpOptions {
    HttpOptions {
        requests_per_second: 0.0,
        max_attempts,
        backoff_factor: Duration::from_millis(1),
        max_retry_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(30),
        ..HttpOptions::default()
    }
}

fn source(fx: &FixtureServer) -> ChessSource {
    ChessSource::new(DEFAULT_PLAYERS)
        .base_url(fx.url())
        .http_options(fast_http(3))
}

async fn one(db: &tokio_postgres::Client, sql: &str) -> String {
    let rows = query_rows(db, sql).await;
    assert_eq!(rows.len(), 1, "{sql}");
    rows[0][0].clone().unwrap_or_else(|| "NULL".into())
}

async fn count(db: &tokio_postgres::Client, ds: &str, table: &str) -> i64 {
    one(db, &format!("select count(*) from {ds}.{table}"))
        .await
        .parse()
        .unwrap()
}

async fn duplicate_games(db: &tokio_postgres::Client, ds: &str) -> i64 {
    one(
        db,
        &format!("select count(*) - count(distinct url) from {ds}.players_games"),
    )
    .await
    .parse()
    .unwrap()
}

fn month(player: &str, m: &str) -> String {
    FixtureServer::month_path(player, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_loads_profiles_games_and_child_tables_configured_by_env() {
    let db = connect().await;
    let ds = fresh_schema(&db, "source_chess::first_run").await;
    let dir = tempfile::tempdir().unwrap();
    let fx = FixtureServer::start().unwrap();
    let url = fx.url();
    // the base URL and the players come from dlt-style configuration, not code
    let env = [
        ("SOURCES__CHESS__BASE_URL", url.as_str()),
        ("SOURCES__CHESS__PLAYERS", "ferris_rook, ada_knight"),
        ("SOURCES__CHESS__REQUESTS_PER_SECOND", "0"),
    ];
    let mut p = pipeline("chess_first_run", &ds, dir.path(), &env);
    let chess = ChessSource::from_config(p.config(), Some(p.name())).unwrap();
    assert_eq!(chess.base_url, url);
    let info = p.run(chess.resources(&p).unwrap()).await.unwrap();
    assert_eq!(info.items, 2 + 11, "{info}");

    // profiles: nested JSON as it comes, `streaming_platforms` in a child table
    let got = query_rows(
        &db,
        &format!(
            "select username, title, is_streamer::text, country from {ds}.players_profiles \
             order by username"
        ),
    )
    .await;
    assert_eq!(
        got,
        [
            [
                Some("ada_knight".to_string()),
                None,
                Some("true".into()),
                Some(country(&fx, ADA))
            ],
            [
                Some("ferris_rook".to_string()),
                Some("GM".into()),
                Some("false".into()),
                Some(country(&fx, FERRIS))
            ],
        ]
    );
    let got = query_rows(
        &db,
        &format!(
            "select p.username, s.type, s.channel_url from {ds}.players_profiles__streaming_platforms s \
             join {ds}.players_profiles p on p._dlt_id = s._dlt_parent_id"
        ),
    )
    .await;
    assert_eq!(
        got,
        [[
            Some("ada_knight".to_string()),
            Some("twitch".into()),
            Some("https://twitch.tv/ada_knight".into())
        ]]
    );

    // games: 11, nested white/black/accuracies flattened into columns
    assert_eq!(count(&db, &ds, "players_games").await, 11);
    assert_eq!(duplicate_games(&db, &ds).await, 0);
    let got = one(
        &db,
        &format!(
            "select count(*) from {ds}.players_games where white__username is not null \
             and black__username is not null and white__rating > 0 and black__result is not null \
             and white__aid like '{url}/pub/player/%' and pgn like '[Event %' and pgn like '%[Site \"Chess.com\"]%' \
             and initial_setup like 'rnbqkbnr/%' and rules = 'chess' and length(uuid) = 36"
        ),
    )
    .await;
    assert_eq!(got, "11");
    // only reviewed games have accuracies (every third game of a month has none)
    let got = one(
        &db,
        &format!("select count(accuracies__white) from {ds}.players_games"),
    )
    .await;
    assert_eq!(got, "10");
    // games have no lists: no child tables
    let got = one(
        &db,
        &format!(
            "select string_agg(table_name, ',' order by table_name) from information_schema.tables \
             where table_schema = '{ds}' and table_name like 'players%'"
        ),
    )
    .await;
    assert_eq!(
        got,
        "players_games,players_profiles,players_profiles__streaming_platforms"
    );
    // dlt's column hints: Unix seconds loaded as timestamps
    let got = query_rows(
        &db,
        &format!(
            "select table_name || '.' || column_name, data_type from information_schema.columns \
             where table_schema = '{ds}' and column_name in ('end_time', 'last_online', 'joined') \
             order by 1"
        ),
    )
    .await;
    let tz = Some("timestamp with time zone".to_string());
    assert_eq!(
        got,
        [
            [Some("players_games.end_time".to_string()), tz.clone()],
            [Some("players_profiles.joined".to_string()), tz.clone()],
            [Some("players_profiles.last_online".to_string()), tz],
        ]
    );
    let got = one(
        &db,
        &format!(
            "select extract(epoch from min(end_time))::bigint || '..' || \
             extract(epoch from max(end_time))::bigint from {ds}.players_games"
        ),
    )
    .await;
    // 2023-12-01T01:00Z .. 2024-02-01T01:30Z
    assert_eq!(got, "1701392400..1706751000");

    // every path once
    let counts = fx.request_counts();
    assert_eq!(counts.values().sum::<u64>(), 2 + 2 + 5, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    for ua in fx.user_agents() {
        assert!(ua.starts_with("dlt-rs-source-chess/"), "{ua}");
    }
}

fn country(fx: &FixtureServer, player: &str) -> String {
    fx.profile(player).unwrap()["country"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_fetches_only_the_latest_month_and_new_ones_without_duplicates() {
    let db = connect().await;
    let ds = fresh_schema(&db, "source_chess::incremental").await;
    let dir = tempfile::tempdir().unwrap();
    let fx = FixtureServer::start().unwrap();
    let chess = source(&fx);
    let mut p = pipeline("chess_incremental", &ds, dir.path(), &[]);

    p.run(chess.resources(&p).unwrap()).await.unwrap();
    assert_eq!(count(&db, &ds, "players_games").await, 11);

    // nothing new: only the latest loaded month (2024/02) is fetched again, and its games
    // are not loaded twice
    fx.reset_requests();
    let info = p.run(chess.resources(&p).unwrap()).await.unwrap();
    assert_eq!(info.items, 2, "only the two profiles: {info}");
    assert_eq!(count(&db, &ds, "players_games").await, 11);
    assert_eq!(duplicate_games(&db, &ds).await, 0);
    for (player, m, n) in [
        (FERRIS, "2023/12", 0),
        (FERRIS, "2024/01", 0),
        (FERRIS, "2024/02", 1),
        (ADA, "2024/01", 0),
        (ADA, "2024/02", 1),
    ] {
        assert_eq!(fx.requests(&month(player, m)), n, "{player} {m}");
    }
    assert_eq!(fx.requests(&FixtureServer::archives_path(FERRIS)), 1);
    assert_eq!(fx.requests(&FixtureServer::profile_path(ADA)), 1);

    // a game ends later in the current month, and a new month starts
    let late = fx.add_games(FERRIS, "2024/02", 1);
    let march = fx.add_games(ADA, "2024/03", 2);
    fx.reset_requests();
    let info = p.run(chess.resources(&p).unwrap()).await.unwrap();
    assert_eq!(info.items, 2 + 3, "{info}");
    assert_eq!(count(&db, &ds, "players_games").await, 14);
    assert_eq!(duplicate_games(&db, &ds).await, 0);
    for (player, m, n) in [
        (FERRIS, "2024/01", 0),
        (FERRIS, "2024/02", 1),
        (ADA, "2024/01", 0),
        (ADA, "2024/02", 1),
        (ADA, "2024/03", 1),
    ] {
        assert_eq!(fx.requests(&month(player, m)), n, "{player} {m}");
    }
    let new_urls: Vec<String> = late
        .iter()
        .chain(&march)
        .map(|g| format!("'{}'", g["url"].as_str().unwrap()))
        .collect();
    let got = one(
        &db,
        &format!(
            "select count(*) from {ds}.players_games where url in ({})",
            new_urls.join(",")
        ),
    )
    .await;
    assert_eq!(got, "3");

    // the cursor is now in 2024/03: 2024/02 is no longer fetched
    fx.reset_requests();
    p.run(chess.resources(&p).unwrap()).await.unwrap();
    assert_eq!(count(&db, &ds, "players_games").await, 14);
    assert_eq!(fx.requests(&month(FERRIS, "2024/02")), 0);
    assert_eq!(fx.requests(&month(ADA, "2024/02")), 0);
    assert_eq!(fx.requests(&month(ADA, "2024/03")), 1);

    // another machine (no local state): the cursor comes back from the destination
    let elsewhere = tempfile::tempdir().unwrap();
    let mut p = pipeline("chess_incremental", &ds, elsewhere.path(), &[]);
    p.sync_destination().await.unwrap();
    fx.reset_requests();
    p.run(chess.resources(&p).unwrap()).await.unwrap();
    assert_eq!(count(&db, &ds, "players_games").await, 14);
    assert_eq!(fx.requests(&month(ADA, "2024/02")), 0);
    assert_eq!(fx.requests(&month(ADA, "2024/03")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_and_end_month_select_archives_and_a_wider_range_adds_only_new_games() {
    let db = connect().await;
    let ds = fresh_schema(&db, "source_chess::months").await;
    let dir = tempfile::tempdir().unwrap();
    let fx = FixtureServer::start().unwrap();
    let mut p = pipeline("chess_months", &ds, dir.path(), &[]);

    // dlt's chess_pipeline example: 2024/01 only, then 2024/01..2024/02; with a rate limit
    let mut http = fast_http(3);
    http.requests_per_second = 50.0;
    let january = source(&fx)
        .start_month("2024/01")
        .end_month("2024/01")
        .http_options(http);
    let t0 = Instant::now();
    p.run(january.with_resources(&p, &["players_games"]).unwrap())
        .await
        .unwrap();
    // 2 archives lists + 2 months, at most 50 a second: 3 gaps of 20 ms at least
    assert!(
        t0.elapsed() >= Duration::from_millis(60),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(count(&db, &ds, "players_games").await, 3 + 2);
    assert_eq!(fx.requests(&month(FERRIS, "2023/12")), 0);
    assert_eq!(fx.requests(&month(FERRIS, "2024/01")), 1);
    assert_eq!(fx.requests(&month(FERRIS, "2024/02")), 0);
    assert_eq!(fx.request_counts().values().sum::<u64>(), 4);

    fx.reset_requests();
    let two_months = source(&fx).start_month("2024/01").end_month("2024/02");
    p.run(two_months.with_resources(&p, &["players_games"]).unwrap())
        .await
        .unwrap();
    assert_eq!(count(&db, &ds, "players_games").await, 3 + 2 + 2 + 2);
    assert_eq!(duplicate_games(&db, &ds).await, 0);
    assert_eq!(fx.requests(&month(FERRIS, "2023/12")), 0);
    assert_eq!(fx.requests(&month(FERRIS, "2024/02")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_and_server_errors_are_retried() {
    let db = connect().await;
    let ds = fresh_schema(&db, "source_chess::retries").await;
    let dir = tempfile::tempdir().unwrap();
    let fx = FixtureServer::start().unwrap();
    fx.fail_next(&FixtureServer::profile_path(FERRIS), 429, 2);
    fx.fail_next(&FixtureServer::archives_path(FERRIS), 503, 1);
    fx.fail_next(&month(ADA, "2024/01"), 500, 2);
    let mut p = pipeline("chess_retries", &ds, dir.path(), &[]);

    p.run(source(&fx).resources(&p).unwrap()).await.unwrap();
    assert_eq!(count(&db, &ds, "players_profiles").await, 2);
    assert_eq!(count(&db, &ds, "players_games").await, 11);
    assert_eq!(fx.requests(&FixtureServer::profile_path(FERRIS)), 3);
    assert_eq!(fx.requests(&FixtureServer::archives_path(FERRIS)), 2);
    assert_eq!(fx.requests(&month(ADA, "2024/01")), 3);
    assert_eq!(fx.requests(&month(ADA, "2024/02")), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_names_its_url_and_loads_nothing() {
    let db = connect().await;
    let ds = fresh_schema(&db, "source_chess::errors").await;
    let dir = tempfile::tempdir().unwrap();
    let fx = FixtureServer::start().unwrap();
    let failing = month(FERRIS, "2024/01");
    // more failures than attempts (3)
    fx.fail_next(&failing, 500, 3);
    let mut p = pipeline("chess_errors", &ds, dir.path(), &[]);

    let err = p
        .run(source(&fx).resources(&p).unwrap())
        .await
        .unwrap_err()
        .to_string();
    let full = format!("{}{failing}", fx.url());
    assert!(err.contains(&format!("GET {full}: HTTP 500")), "{err}");
    assert!(err.contains("after 3 attempt(s)"), "{err}");
    assert!(err.contains("players_games"), "{err}");
    assert_eq!(fx.requests(&failing), 3);
    let got = one(
        &db,
        &format!(
            "select coalesce(to_regclass('{ds}.players_games')::text, 'none') || ',' || \
             coalesce(to_regclass('{ds}.players_profiles')::text, 'none')"
        ),
    )
    .await;
    assert_eq!(got, "none,none", "nothing of the failed run is loaded");

    // the server recovered: the next run loads everything (the cursor did not move)
    p.run(source(&fx).resources(&p).unwrap()).await.unwrap();
    assert_eq!(count(&db, &ds, "players_games").await, 11);

    // an unknown player is a 404: not retried, named by its URL
    let err = p
        .run(
            ChessSource::new(["nobody_here"])
                .base_url(fx.url())
                .http_options(fast_http(3))
                .resources(&p)
                .unwrap(),
        )
        .await
        .unwrap_err()
        .to_string();
    let profile = FixtureServer::profile_path("nobody_here");
    assert!(
        err.contains(&format!(
            "GET {}{profile}: HTTP 404 Not Found after 1 attempt(s)",
            fx.url()
        )),
        "{err}"
    );
    // chess.com's explanation is kept
    assert!(err.contains(r#"User \"nobody_here\" not found."#), "{err}");
    assert_eq!(fx.requests(&profile), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_resource_lists_urls_and_missing_archives_give_no_games() {
    let db = connect().await;
    let ds = fresh_schema(&db, "source_chess::archives").await;
    let dir = tempfile::tempdir().unwrap();
    let fx = FixtureServer::start().unwrap();
    let mut p = pipeline("chess_archives", &ds, dir.path(), &[]);
    // an archive that is listed but answers 404 (dlt: skipped, no games)
    fx.fail_next(&month(ADA, "2024/02"), 404, 1);

    p.run(
        source(&fx)
            .with_resources(&p, &["players_archives", "players_games"])
            .unwrap(),
    )
    .await
    .unwrap();
    let got = query_rows(
        &db,
        &format!("select value from {ds}.players_archives order by value"),
    )
    .await;
    let want: Vec<Vec<Option<String>>> = [
        (ADA, "2024/01"),
        (ADA, "2024/02"),
        (FERRIS, "2023/12"),
        (FERRIS, "2024/01"),
        (FERRIS, "2024/02"),
    ]
    .iter()
    .map(|(pl, m)| vec![Some(format!("{}{}", fx.url(), month(pl, m)))])
    .collect();
    assert_eq!(got, want);
    assert_eq!(count(&db, &ds, "players_games").await, 11 - 2);
}
