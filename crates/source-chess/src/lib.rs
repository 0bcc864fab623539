//! A chess.com source: the Rust counterpart of dlt's `chess` verified source (what
//! `dlt init chess postgres` starts from).
//!
//! Resources, with dlt's names and dispositions:
//!
//! | resource | request | disposition |
//! | --- | --- | --- |
//! | `players_profiles` | `GET {base}/pub/player/{name}` for each player | `replace`; `last_online`, `joined` as timestamps |
//! | `players_archives` | `GET {base}/pub/player/{name}/games/archives` | `replace`; one row (`value`) per archive URL; not in the default selection (dlt: `selected=False`) |
//! | `players_games` | `GET` each monthly archive URL, one item per entry of its `games` | `append`; `end_time` as a timestamp; incremental, see below |
//!
//! Items are the API's JSON as it comes: nested objects (`white`, `black`, `accuracies`)
//! become columns such as `white__rating`, lists (`streaming_platforms`) child tables.
//!
//! # Incremental loading of games
//!
//! dlt's source keeps the list of archive URLs it has loaded in its resource state and never
//! fetches them again. This pipeline has no state a resource can write besides incremental
//! cursors, so `players_games` carries an incremental cursor on the game's `end_time`
//! ([`ChessSource::games_cursor`]): `max`, deduplicated at the boundary by the game `url`.
//! Before a run, [`ChessSource::resources`] reads the cursor's last value from the pipeline
//! state and skips every archive of a month before the month of that value; the month that
//! holds it (the latest one loaded) is fetched again, so games that ended later in that month
//! are loaded, and the cursor drops the games already loaded (older ones by value, those at
//! the last value by their `url`). New months are always fetched. So a re-run loads each game
//! once, and fetches only the latest loaded month and the new ones.
//!
//! The cursor is one for the resource, not one per player: a player added to the list later
//! gets only the games that ended after the last value. To load a new player's history, run
//! a pipeline of another name (it has its own state) for that player once, into the same
//! dataset.
//!
//! The last value is read from the pipeline's local state; on a machine without it, call
//! [`Pipeline::sync_destination`] first (as below), else every archive is fetched again (the
//! cursor, restored during the run, still drops the games already loaded).
//!
//! # Configuration
//!
//! [`ChessSource::from_config`] reads dlt-style configuration, section `sources.chess`
//! (`.dlt/config.toml` `[sources.chess]`, or environment variables such as
//! `SOURCES__CHESS__BASE_URL`; the pipeline name may prefix the keys, as in dlt):
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `players` | list of usernames (TOML list; in a variable, a JSON list or `a,b,c`) | required |
//! | `base_url` | the API's root | `https://api.chess.com` |
//! | `start_month`, `end_month` | `YYYY/MM`: only archives of these months and between | none |
//! | `user_agent` | the `User-Agent` header | `dlt-rs-source-chess/<version> (...)` |
//! | `requests_per_second` | request rate limit (`0`: none) | `4` |
//! | `request_max_attempts` | attempts per request (429, 5xx, connection errors are retried) | `5` |
//! | `request_backoff_factor` | seconds before the first retry, doubling | `1` |
//! | `request_max_retry_delay` | longest wait between attempts, seconds | `300` |
//! | `request_timeout` | seconds to connect, and per read or write | `60` |
//!
//! The `request_*` keys are also read from `[runtime]`, like dlt's requests helper.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pipeline::Pipeline;
//! use source_chess::ChessSource;
//! let mut p = Pipeline::builder("chess_pipeline")
//!     .destination("postgres")
//!     .dataset_name("chess_players_games_data")
//!     .build()?;
//! let chess = ChessSource::from_config(p.config(), Some(p.name()))?;
//! p.sync_destination().await?; // the cursor's state, on a new machine
//! let info = p.run(chess.resources(&p)?).await?;
//! println!("{info}");
//! # Ok(()) }
//! ```
//!
//! [`fixture`] serves recorded-shape responses on 127.0.0.1 for tests and demos (also as
//! the `chess-fixture` binary).

mod error;
pub mod fixture;
mod http;

use std::collections::VecDeque;
use std::sync::Arc;

use dest_core::config::{Found, Resolver};
use pipeline::{Incremental, ItemError, Pipeline, Resource};
use serde_json::{json, Value as Json};

pub use crate::error::ChessError;
pub use crate::http::{HttpOptions, DEFAULT_USER_AGENT};

/// The API root of chess.com.
pub const DEFAULT_BASE_URL: &str = "https://api.chess.com";

/// The configuration section: `sources.chess`.
pub const CONFIG_SECTION: [&str; 2] = ["sources", "chess"];

/// Resource names, as in dlt's source.
pub const PLAYERS_PROFILES: &str = "players_profiles";
pub const PLAYERS_ARCHIVES: &str = "players_archives";
pub const PLAYERS_GAMES: &str = "players_games";

/// The resources [`ChessSource::resources`] returns (dlt's default selection, without the
/// unofficial online-status endpoint).
pub const DEFAULT_RESOURCES: [&str; 2] = [PLAYERS_PROFILES, PLAYERS_GAMES];

/// The chess.com source: which players, where the API is, and how to talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChessSource {
    pub players: Vec<String>,
    /// The API root, without a trailing `/` (default [`DEFAULT_BASE_URL`]).
    pub base_url: String,
    /// `YYYY/MM`: archives of earlier months are not fetched.
    pub start_month: Option<String>,
    /// `YYYY/MM`: archives of later months are not fetched.
    pub end_month: Option<String>,
    pub http: HttpOptions,
}

impl ChessSource {
    /// The source for `players`, on chess.com, with the default HTTP options.
    pub fn new<S: Into<String>>(players: impl IntoIterator<Item = S>) -> Self {
        ChessSource {
            players: players.into_iter().map(Into::into).collect(),
            base_url: DEFAULT_BASE_URL.to_string(),
            start_month: None,
            end_month: None,
            http: HttpOptions::default(),
        }
    }

    /// Another API root (a fixture server, a proxy).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Only archives of `month` (`YYYY/MM`) and later.
    pub fn start_month(mut self, month: impl Into<String>) -> Self {
        self.start_month = Some(month.into());
        self
    }

    /// Only archives of `month` (`YYYY/MM`) and earlier.
    pub fn end_month(mut self, month: impl Into<String>) -> Self {
        self.end_month = Some(month.into());
        self
    }

    pub fn http_options(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// The source as configured in section `sources.chess` (see the crate documentation
    /// for the keys), for `pipeline_name` (keys may be prefixed with it).
    ///
    /// # Errors
    /// [`ChessError::Config`] when `players` is missing (naming the keys tried) or a value
    /// is invalid (naming the key and where it came from).
    pub fn from_config(
        config: &dlt_config::Config,
        pipeline_name: Option<&str>,
    ) -> Result<ChessSource, ChessError> {
        let r = config.resolver(pipeline_name);
        let Some(found) = r.find(&CONFIG_SECTION, "players") else {
            return Err(ChessError::Config(format!(
                "no players configured: set a list of chess.com usernames at one of {}",
                r.tried_keys(&CONFIG_SECTION, "players").join(", ")
            )));
        };
        let mut source = ChessSource::new(parse_players(&found)?);
        if let Some(url) = find_string(&r, &[&CONFIG_SECTION], "base_url")? {
            source = source.base_url(url);
        }
        source.start_month = find_string(&r, &[&CONFIG_SECTION], "start_month")?;
        source.end_month = find_string(&r, &[&CONFIG_SECTION], "end_month")?;
        let sections: [&[&str]; 2] = [&CONFIG_SECTION, &["runtime"]];
        let http = &mut source.http;
        if let Some(ua) = find_string(&r, &[&CONFIG_SECTION], "user_agent")? {
            http.user_agent = ua;
        }
        if let Some(rps) = find_f64(&r, &[&CONFIG_SECTION], "requests_per_second")? {
            http.requests_per_second = rps;
        }
        if let Some(n) = find_f64(&r, &sections, "request_max_attempts")? {
            http.max_attempts = n.clamp(1.0, 1000.0) as u32;
        }
        if let Some(s) = find_seconds(&r, &sections, "request_backoff_factor")? {
            http.backoff_factor = s;
        }
        if let Some(s) = find_seconds(&r, &sections, "request_max_retry_delay")? {
            http.max_retry_delay = s;
        }
        if let Some(s) = find_seconds(&r, &sections, "request_timeout")? {
            http.timeout = s;
        }
        source.validate()?;
        Ok(source)
    }

    /// Checks players, base URL and months.
    ///
    /// # Errors
    /// [`ChessError::Config`] naming what is wrong.
    pub fn validate(&self) -> Result<(), ChessError> {
        for p in &self.players {
            let ok = !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(ChessError::Config(format!(
                    "player `{p}` is not a chess.com username (letters, digits, `_` and `-`)"
                )));
            }
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(ChessError::Config(format!(
                "base_url `{}` must start with http:// or https://",
                self.base_url
            )));
        }
        for (key, m) in [
            ("start_month", &self.start_month),
            ("end_month", &self.end_month),
        ] {
            if let Some(m) = m {
                if !is_month(m) {
                    return Err(ChessError::Config(format!(
                        "{key} `{m}` is not a month in the YYYY/MM format"
                    )));
                }
            }
        }
        if let (Some(s), Some(e)) = (&self.start_month, &self.end_month) {
            if s > e {
                return Err(ChessError::Config(format!(
                    "start_month `{s}` is after end_month `{e}`"
                )));
            }
        }
        Ok(())
    }

    /// dlt's default selection ([`DEFAULT_RESOURCES`]: `players_profiles`, `players_games`),
    /// the games' cursor starting from `pipeline`'s state.
    ///
    /// # Errors
    /// An invalid configuration, or the pipeline's state cannot be read.
    pub fn resources(&self, pipeline: &Pipeline) -> Result<Vec<Resource>, ChessError> {
        self.with_resources(pipeline, &DEFAULT_RESOURCES)
    }

    /// The resources named (`players_profiles`, `players_archives`, `players_games`), in
    /// that order, sharing one HTTP client (one rate limit).
    ///
    /// # Errors
    /// An unknown name, an invalid configuration, or the pipeline's state cannot be read.
    pub fn with_resources(
        &self,
        pipeline: &Pipeline,
        names: &[&str],
    ) -> Result<Vec<Resource>, ChessError> {
        self.validate()?;
        let all = [PLAYERS_PROFILES, PLAYERS_ARCHIVES, PLAYERS_GAMES];
        if let Some(bad) = names.iter().find(|n| !all.contains(n)) {
            return Err(ChessError::Config(format!(
                "unknown resource `{bad}`; the chess source has {}",
                all.join(", ")
            )));
        }
        let client = Arc::new(http::Http::new(self.http.clone()));
        let mut out = Vec::new();
        if names.contains(&PLAYERS_PROFILES) {
            out.push(self.profiles_with(client.clone())?);
        }
        if names.contains(&PLAYERS_ARCHIVES) {
            out.push(self.archives_with(client.clone())?);
        }
        if names.contains(&PLAYERS_GAMES) {
            let cursor = Self::games_cursor();
            let since = pipeline.incremental_start(PLAYERS_GAMES, &cursor)?;
            out.push(self.games_with(client, since.as_ref(), cursor)?);
        }
        Ok(out)
    }

    /// `players_profiles`: one profile per player, `replace`.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn players_profiles(&self) -> Result<Resource, ChessError> {
        self.validate()?;
        self.profiles_with(Arc::new(http::Http::new(self.http.clone())))
    }

    /// `players_archives`: the archive URLs of every player, `replace`.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn players_archives(&self) -> Result<Resource, ChessError> {
        self.validate()?;
        self.archives_with(Arc::new(http::Http::new(self.http.clone())))
    }

    /// `players_games` with `cursor`, skipping archives of months before the month of
    /// `since` (the cursor's start value: [`Pipeline::incremental_start`]; `None` fetches
    /// every archive within `start_month..=end_month`).
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn players_games(
        &self,
        since: Option<&Json>,
        cursor: Incremental,
    ) -> Result<Resource, ChessError> {
        self.validate()?;
        self.games_with(Arc::new(http::Http::new(self.http.clone())), since, cursor)
    }

    /// The cursor of `players_games`: `end_time`, `max`, deduplicated by the game `url`.
    pub fn games_cursor() -> Incremental {
        Incremental::new("end_time").primary_key(["url"])
    }

    fn profiles_with(&self, client: Arc<http::Http>) -> Result<Resource, ChessError> {
        let base = self.base_url.clone();
        let urls: VecDeque<String> = self
            .players
            .iter()
            .map(|p| format!("{base}/pub/player/{p}"))
            .collect();
        let iter = Fetch::new(PLAYERS_PROFILES, move |state: &mut FetchState| {
            let Some(url) = urls_pop(state, &urls) else {
                return Ok(None);
            };
            let profile = client.get_json(&url)?;
            if !profile.is_object() {
                return Err(ChessError::Response {
                    url,
                    message: "a profile must be a JSON object".into(),
                });
            }
            Ok(Some(vec![profile]))
        });
        let r = Resource::from_results(PLAYERS_PROFILES, iter)
            .write_disposition("replace", None)?
            .columns_json(&json!({
                "last_online": {"data_type": "timestamp"},
                "joined": {"data_type": "timestamp"},
            }))?;
        Ok(r)
    }

    fn archives_with(&self, client: Arc<http::Http>) -> Result<Resource, ChessError> {
        let base = self.base_url.clone();
        let players = self.players.clone();
        let iter = Fetch::new(PLAYERS_ARCHIVES, move |state: &mut FetchState| {
            let Some(player) = players.get(state.next) else {
                return Ok(None);
            };
            state.next += 1;
            let urls = archive_urls(&client, &base, player)?;
            Ok(Some(urls.into_iter().map(Json::String).collect()))
        });
        Ok(Resource::from_results(PLAYERS_ARCHIVES, iter).write_disposition("replace", None)?)
    }

    fn games_with(
        &self,
        client: Arc<http::Http>,
        since: Option<&Json>,
        cursor: Incremental,
    ) -> Result<Resource, ChessError> {
        let base = self.base_url.clone();
        let filter = MonthFilter {
            start: self.start_month.clone(),
            end: self.end_month.clone(),
            since: since.and_then(cursor_month),
        };
        if let Some(m) = &filter.since {
            tracing::info!(
                month = %m,
                "players_games: archives before the month of the last game loaded are skipped"
            );
        }
        let players = self.players.clone();
        let mut archives: VecDeque<String> = VecDeque::new();
        let iter = Fetch::new(PLAYERS_GAMES, move |state: &mut FetchState| loop {
            if let Some(url) = archives.pop_front() {
                let Some(doc) = client.get_json_or_404(&url)? else {
                    // dlt: some archives are not available and the error seems permanent
                    tracing::warn!(url = %url, "archive not found (404); no games from it");
                    return Ok(Some(Vec::new()));
                };
                let games = match doc.get("games") {
                    None | Some(Json::Null) => Vec::new(),
                    Some(Json::Array(games)) => games.clone(),
                    Some(_) => {
                        return Err(ChessError::Response {
                            url,
                            message: "`games` must be a list".into(),
                        })
                    }
                };
                return Ok(Some(games));
            }
            let Some(player) = players.get(state.next) else {
                return Ok(None);
            };
            state.next += 1;
            let urls = archive_urls(&client, &base, player)?;
            let total = urls.len();
            archives.extend(urls.into_iter().filter(|u| filter.wants(u)));
            tracing::debug!(
                player = %player,
                archives = total,
                fetching = archives.len(),
                "players_games"
            );
        });
        let r = Resource::from_results(PLAYERS_GAMES, iter)
            .write_disposition("append", None)?
            .columns_json(&json!({"end_time": {"data_type": "timestamp"}}))?
            .incremental(cursor);
        Ok(r)
    }
}

/// Which archives `players_games` fetches.
#[derive(Debug, Clone)]
struct MonthFilter {
    start: Option<String>,
    end: Option<String>,
    /// The month of the cursor's start value.
    since: Option<String>,
}

impl MonthFilter {
    /// Whether to fetch archive `url` (`.../games/YYYY/MM`); one whose month cannot be read
    /// is fetched (the cursor still filters its games).
    fn wants(&self, url: &str) -> bool {
        let Some(month) = archive_month(url) else {
            return true;
        };
        let after = |bound: &Option<String>| bound.as_deref().is_none_or(|b| month >= b);
        let before = self.end.as_deref().is_none_or(|e| month <= e);
        after(&self.start) && after(&self.since) && before
    }
}

/// The `YYYY/MM` an archive URL ends with.
fn archive_month(url: &str) -> Option<&str> {
    let url = url.trim_end_matches('/');
    let month = url.get(url.len().checked_sub(7)?..)?;
    is_month(month).then_some(month)
}

fn is_month(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'/'
        && b[5..].iter().all(u8::is_ascii_digit)
        && matches!(
            &s[5..],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        )
}

/// The month (`YYYY/MM`, UTC) of a cursor value: Unix seconds, or an ISO timestamp.
fn cursor_month(v: &Json) -> Option<String> {
    let t = match v {
        Json::Number(n) => chrono::DateTime::from_timestamp(n.as_f64()?.floor() as i64, 0)?,
        Json::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()?
            .with_timezone(&chrono::Utc),
        _ => return None,
    };
    Some(t.format("%Y/%m").to_string())
}

/// The archive URLs of `player`.
fn archive_urls(client: &http::Http, base: &str, player: &str) -> Result<Vec<String>, ChessError> {
    let url = format!("{base}/pub/player/{player}/games/archives");
    let doc = client.get_json(&url)?;
    let shape_error = |message: &str| ChessError::Response {
        url: url.clone(),
        message: message.to_string(),
    };
    match doc.get("archives") {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| shape_error("`archives` must be a list of URLs"))
            })
            .collect(),
        Some(_) => Err(shape_error("`archives` must be a list of URLs")),
    }
}

fn urls_pop(state: &mut FetchState, urls: &VecDeque<String>) -> Option<String> {
    let url = urls.get(state.next)?.clone();
    state.next += 1;
    Some(url)
}

/// Progress of a [`Fetch`].
#[derive(Debug, Default)]
struct FetchState {
    /// The next player (or URL) to ask for.
    next: usize,
}

/// Items fetched page by page: `step` gives the next batch (`None`: done). The first error
/// ends the iteration, as an [`ItemError`] naming the resource.
struct Fetch<F> {
    resource: &'static str,
    step: F,
    state: FetchState,
    batch: VecDeque<Json>,
    done: bool,
}

impl<F> Fetch<F>
where
    F: FnMut(&mut FetchState) -> Result<Option<Vec<Json>>, ChessError>,
{
    fn new(resource: &'static str, step: F) -> Self {
        Fetch {
            resource,
            step,
            state: FetchState::default(),
            batch: VecDeque::new(),
            done: false,
        }
    }
}

impl<F> Iterator for Fetch<F>
where
    F: FnMut(&mut FetchState) -> Result<Option<Vec<Json>>, ChessError>,
{
    type Item = Result<Json, ItemError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.batch.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            match (self.step)(&mut self.state) {
                Ok(Some(batch)) => self.batch = batch.into(),
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(ItemError {
                        source_name: "chess source".into(),
                        position: format!("resource `{}`", self.resource),
                        message: e.to_string(),
                    }));
                }
            }
        }
    }
}

fn config_error(e: dest_core::Error) -> ChessError {
    ChessError::Config(e.to_string())
}

fn find_in(r: &Resolver<'_>, sections: &[&[&str]], key: &str) -> Option<Found> {
    sections.iter().find_map(|s| r.find(s, key))
}

fn find_string(
    r: &Resolver<'_>,
    sections: &[&[&str]],
    key: &str,
) -> Result<Option<String>, ChessError> {
    find_in(r, sections, key)
        .map(|f| f.as_string().map_err(config_error))
        .transpose()
        .map(|s| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

fn find_f64(r: &Resolver<'_>, sections: &[&[&str]], key: &str) -> Result<Option<f64>, ChessError> {
    let Some(found) = find_in(r, sections, key) else {
        return Ok(None);
    };
    let n = match &found.value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(config_error(found.invalid("expected a number >= 0"))),
    }
}

fn find_seconds(
    r: &Resolver<'_>,
    sections: &[&[&str]],
    key: &str,
) -> Result<Option<std::time::Duration>, ChessError> {
    Ok(find_f64(r, sections, key)?.map(|s| std::time::Duration::from_secs_f64(s.min(1e9))))
}

/// `players`: a list of strings, or a string holding a JSON list or `a,b,c`.
fn parse_players(found: &Found) -> Result<Vec<String>, ChessError> {
    let invalid = || config_error(found.invalid("expected a list of usernames"));
    let list = match &found.value {
        Json::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_string()).ok_or_else(invalid))
            .collect::<Result<Vec<_>, _>>()?,
        Json::String(s) if s.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<String>>(s).map_err(|_| invalid())?
        }
        Json::String(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        _ => return Err(invalid()),
    };
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        assert!(is_month("2024/01"));
        assert!(is_month("1999/12"));
        for bad in [
            "2024-01", "2024/1", "2024/13", "2024/00", "24/01", "2024/01/",
        ] {
            assert!(!is_month(bad), "{bad}");
        }
        assert_eq!(
            archive_month("https://api.chess.com/pub/player/x/games/2024/02"),
            Some("2024/02")
        );
        assert_eq!(
            archive_month("https://api.chess.com/pub/player/x/games/archives"),
            None
        );
        assert_eq!(archive_month("x"), None);
        assert_eq!(archive_month("https://h/games/2024/02/"), Some("2024/02"));
        assert_eq!(
            cursor_month(&json!(1_706_745_599)).as_deref(),
            Some("2024/01")
        );
        assert_eq!(
            cursor_month(&json!(1_706_745_600)).as_deref(),
            Some("2024/02")
        );
        assert_eq!(
            cursor_month(&json!("2024-03-01T00:30:00+01:00")).as_deref(),
            Some("2024/02")
        );
        assert_eq!(cursor_month(&json!(true)), None);
    }

    #[test]
    fn month_filter() {
        let url = |m: &str| format!("https://api.chess.com/pub/player/x/games/{m}");
        let f = MonthFilter {
            start: Some("2023/11".into()),
            end: Some("2024/02".into()),
            since: Some("2024/01".into()),
        };
        let got: Vec<bool> = ["2023/10", "2023/12", "2024/01", "2024/02", "2024/03"]
            .iter()
            .map(|m| f.wants(&url(m)))
            .collect();
        assert_eq!(got, [false, false, true, true, false]);
        let none = MonthFilter {
            start: None,
            end: None,
            since: None,
        };
        assert!(none.wants(&url("1990/01")));
        assert!(none.wants("https://example.com/odd"));
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = ChessSource::new(["magnuscarlsen", "vincent-keymer_2"]);
        ok.validate().unwrap();
        let e = ChessSource::new(["bad/name"]).validate().unwrap_err();
        assert!(e.to_string().contains("bad/name"), "{e}");
        let e = ok.clone().base_url("ftp://x").validate().unwrap_err();
        assert!(e.to_string().contains("ftp://x"), "{e}");
        let e = ok.clone().start_month("2024-01").validate().unwrap_err();
        assert!(e.to_string().contains("start_month `2024-01`"), "{e}");
        let e = ok
            .clone()
            .start_month("2024/02")
            .end_month("2024/01")
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("after end_month"), "{e}");
        assert_eq!(ok.base_url("http://h:1/").base_url, "http://h:1");
    }
}
