//! A local stand-in for the chess.com public API, for tests and demos.
//!
//! [`FixtureServer`] serves, on `127.0.0.1`, responses with the shapes of the real API:
//!
//! * `GET /pub/player/{username}`: a profile (`player_id`, `@id`, `username`, `followers`,
//!   `country`, `last_online`, `joined`, `streaming_platforms`...);
//! * `GET /pub/player/{username}/games/archives`: `{"archives": [url, ...]}`, the URLs
//!   pointing back at this server;
//! * `GET /pub/player/{username}/games/{YYYY}/{MM}`: `{"games": [...]}`, each game with
//!   `url`, `pgn`, `time_control`, `end_time`, `rated`, `tcn`, `uuid`, `initial_setup`,
//!   `fen`, `time_class`, `rules`, `white`/`black` (`rating`, `result`, `@id`, `username`,
//!   `uuid`), `accuracies` (on reviewed games only) and `eco`;
//! * anything else: 404 with chess.com's error body (`{"code": 0, "message": ...}`).
//!
//! The data is generated, deterministic and fictional. Tests change it between runs
//! ([`FixtureServer::add_games`]), count the requests per path
//! ([`FixtureServer::requests`]) and make paths fail ([`FixtureServer::fail_next`]).
//! Every request is counted before its response is written, so once a client has its
//! response the counts include it.
//!
//! The server has no dependencies: HTTP/1.1 on a std `TcpListener`, one thread per
//! connection, `Connection: close`. It stops when dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value as Json};

/// The players the fixture knows by default (fictional).
pub const DEFAULT_PLAYERS: [&str; 2] = ["ferris_rook", "ada_knight"];

/// The default port of the `chess-fixture` binary.
pub const DEFAULT_PORT: u16 = 8765;

/// Longest request head accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;

const START_FEN: &str = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1";

/// A response a path gives instead of its data, the next times it is asked for.
#[derive(Debug, Clone)]
struct Fault {
    status: u16,
    retry_after: Option<u64>,
}

#[derive(Debug, Default)]
struct Player {
    profile: Json,
    /// `YYYY/MM` → games, in the order they ended.
    months: BTreeMap<String, Vec<Json>>,
}

#[derive(Debug, Default)]
struct Data {
    base_url: String,
    /// By lowercase username.
    players: BTreeMap<String, Player>,
    counts: BTreeMap<String, u64>,
    log: Vec<String>,
    user_agents: Vec<String>,
    faults: HashMap<String, VecDeque<Fault>>,
}

/// The chess.com stand-in; see the module documentation.
#[derive(Debug)]
pub struct FixtureServer {
    addr: SocketAddr,
    data: Arc<Mutex<Data>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FixtureServer {
    /// Serves the default data on a free port of 127.0.0.1.
    pub fn start() -> io::Result<FixtureServer> {
        Self::start_on(0)
    }

    /// Serves the default data on `127.0.0.1:port` (`0`: a free port).
    pub fn start_on(port: u16) -> io::Result<FixtureServer> {
        let server = Self::start_empty(port)?;
        server.seed_default();
        Ok(server)
    }

    /// Serves no players at all on `127.0.0.1:port` (`0`: a free port); add them with
    /// [`FixtureServer::add_player`] and [`FixtureServer::add_games`].
    pub fn start_empty(port: u16) -> io::Result<FixtureServer> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let data = Arc::new(Mutex::new(Data {
            base_url: format!("http://{addr}"),
            ..Data::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (data, stop) = (data.clone(), stop.clone());
            std::thread::Builder::new()
                .name("chess-fixture".into())
                .spawn(move || accept_loop(&listener, &data, &stop))?
        };
        Ok(FixtureServer {
            addr,
            data,
            stop,
            thread: Some(thread),
        })
    }

    /// The players of [`DEFAULT_PLAYERS`]: `ferris_rook` with 2 games in 2023/12, 3 in
    /// 2024/01 and 2 in 2024/02; `ada_knight` (a streamer: one `streaming_platforms` entry)
    /// with 2 games in 2024/01 and 2 in 2024/02. 11 games in all.
    fn seed_default(&self) {
        let [ferris, ada] = DEFAULT_PLAYERS;
        self.add_player(ferris);
        self.add_player(ada);
        self.add_games(ferris, "2023/12", 2);
        self.add_games(ferris, "2024/01", 3);
        self.add_games(ferris, "2024/02", 2);
        self.add_games(ada, "2024/01", 2);
        self.add_games(ada, "2024/02", 2);
    }

    /// The base URL to give the source (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.data)
    }

    /// Adds a player with a generated profile and no games (nothing if known already).
    pub fn add_player(&self, username: &str) {
        let mut d = self.data();
        let key = username.to_lowercase();
        if d.players.contains_key(&key) {
            return;
        }
        let profile = profile(&d.base_url, username, d.players.len());
        d.players.insert(
            key,
            Player {
                profile,
                months: BTreeMap::new(),
            },
        );
    }

    /// Appends `count` generated games to `month` (`YYYY/MM`) of `username` (added if
    /// unknown), ending after the month's earlier games, and returns them. A month that had
    /// no games appears in the player's archives list.
    ///
    /// # Panics
    /// When `month` is not `YYYY/MM`: a mistake in the test or demo calling it.
    pub fn add_games(&self, username: &str, month: &str, count: usize) -> Vec<Json> {
        #[allow(clippy::expect_used)]
        let start = month_start(month).expect("month must be YYYY/MM");
        self.add_player(username);
        let mut d = self.data();
        let base = d.base_url.clone();
        let key = username.to_lowercase();
        let Some(player) = d.players.get_mut(&key) else {
            return Vec::new();
        };
        let name = player.profile["username"]
            .as_str()
            .unwrap_or(username)
            .to_string();
        let games = player.months.entry(month.to_string()).or_default();
        let first = games.len();
        let new: Vec<Json> = (first..first + count)
            .map(|i| game(&base, &name, month, start, i))
            .collect();
        games.extend(new.iter().cloned());
        new
    }

    /// The profile of `username`, as served.
    pub fn profile(&self, username: &str) -> Option<Json> {
        self.data()
            .players
            .get(&username.to_lowercase())
            .map(|p| p.profile.clone())
    }

    /// The games of `month` of `username`.
    pub fn games(&self, username: &str, month: &str) -> Vec<Json> {
        self.data()
            .players
            .get(&username.to_lowercase())
            .and_then(|p| p.months.get(month))
            .cloned()
            .unwrap_or_default()
    }

    /// All games of all players.
    pub fn game_count(&self) -> usize {
        self.data()
            .players
            .values()
            .flat_map(|p| p.months.values())
            .map(Vec::len)
            .sum()
    }

    /// The path of a player's profile: `/pub/player/{username}`.
    pub fn profile_path(username: &str) -> String {
        format!("/pub/player/{username}")
    }

    /// The path of a player's archives list.
    pub fn archives_path(username: &str) -> String {
        format!("/pub/player/{username}/games/archives")
    }

    /// The path of a monthly archive (`month` as `YYYY/MM`).
    pub fn month_path(username: &str, month: &str) -> String {
        format!("/pub/player/{username}/games/{month}")
    }

    /// The next `times` requests of `path` answer `status` (a 429 with `Retry-After: 0`)
    /// instead of the data.
    pub fn fail_next(&self, path: &str, status: u16, times: usize) {
        let retry_after = (status == 429).then_some(0);
        let mut d = self.data();
        let q = d.faults.entry(path.to_string()).or_default();
        for _ in 0..times {
            q.push_back(Fault {
                status,
                retry_after,
            });
        }
    }

    /// Requests of `path` (without query string) so far.
    pub fn requests(&self, path: &str) -> u64 {
        self.data().counts.get(path).copied().unwrap_or(0)
    }

    /// Requests per path so far.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.data().counts.clone()
    }

    /// Every request's path so far, in order.
    pub fn request_log(&self) -> Vec<String> {
        self.data().log.clone()
    }

    /// The `User-Agent` headers received, in order (an empty string when there was none).
    pub fn user_agents(&self) -> Vec<String> {
        self.data().user_agents.clone()
    }

    /// Forgets the requests counted so far.
    pub fn reset_requests(&self) {
        let mut d = self.data();
        d.counts.clear();
        d.log.clear();
        d.user_agents.clear();
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wake the accept loop
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(data: &Mutex<Data>) -> MutexGuard<'_, Data> {
    match data.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn accept_loop(listener: &TcpListener, data: &Arc<Mutex<Data>>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let data = data.clone();
        let _ = std::thread::Builder::new()
            .name("chess-fixture-conn".into())
            .spawn(move || {
                let _ = serve(stream, &data);
            });
    }
}

/// Answers one request on `stream`.
fn serve(stream: TcpStream, data: &Mutex<Data>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut user_agent = String::new();
    let mut head = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        head += n;
        if n == 0 || line == "\r\n" || line == "\n" || head > MAX_HEAD_BYTES {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("user-agent") {
                user_agent = value.trim().to_string();
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    let (status, retry_after, body) = if method == "GET" {
        respond(data, &path, user_agent)
    } else {
        (
            405,
            None,
            json!({"code": 0, "message": "Method not allowed."}),
        )
    };
    let body = body.to_string();
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    if let Some(s) = retry_after {
        head.push_str(&format!("Retry-After: {s}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body.as_bytes())?;
    out.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Counts the request and builds its response: status, `Retry-After`, body.
fn respond(data: &Mutex<Data>, path: &str, user_agent: String) -> (u16, Option<u64>, Json) {
    let mut d = lock(data);
    *d.counts.entry(path.to_string()).or_default() += 1;
    d.log.push(path.to_string());
    d.user_agents.push(user_agent);
    if let Some(fault) = d.faults.get_mut(path).and_then(VecDeque::pop_front) {
        let body =
            json!({"code": 0, "message": format!("fixture: injected HTTP {}", fault.status)});
        return (fault.status, fault.retry_after, body);
    }
    let not_found = |message: String| (404, None, json!({"code": 0, "message": message}));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["pub", "player", name] => match d.players.get(&name.to_lowercase()) {
            Some(p) => (200, None, p.profile.clone()),
            None => not_found(format!("User \"{name}\" not found.")),
        },
        ["pub", "player", name, "games", "archives"] => match d.players.get(&name.to_lowercase()) {
            Some(p) => {
                let archives: Vec<String> = p
                    .months
                    .keys()
                    .map(|m| {
                        format!(
                            "{}/pub/player/{}/games/{m}",
                            d.base_url,
                            name.to_lowercase()
                        )
                    })
                    .collect();
                (200, None, json!({ "archives": archives }))
            }
            None => not_found(format!("User \"{name}\" not found.")),
        },
        ["pub", "player", name, "games", yyyy, mm] => {
            let month = format!("{yyyy}/{mm}");
            match d
                .players
                .get(&name.to_lowercase())
                .and_then(|p| p.months.get(&month))
            {
                Some(games) => (200, None, json!({ "games": games })),
                None => not_found(format!("Data provider not found for key \"{path}\".")),
            }
        }
        _ => not_found(format!("Data provider not found for key \"{path}\".")),
    }
}

/// Midnight UTC of the first day of `YYYY/MM`, as Unix seconds.
fn month_start(month: &str) -> Option<i64> {
    let (y, m) = month.split_once('/')?;
    if y.len() != 4 || m.len() != 2 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// A deterministic 64-bit hash (FNV-1a then a splitmix64 finish).
fn hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn uuid(parts: &[&str]) -> String {
    let a = hash(parts);
    let b = hash(&[&a.to_string(), "uuid"]);
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn title_case(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A profile shaped like chess.com's `/pub/player/{username}`.
fn profile(base: &str, username: &str, index: usize) -> Json {
    let h = hash(&[username, "profile"]);
    let key = username.to_lowercase();
    let player_id = 10_000_000 + h % 90_000_000;
    let streamer = index % 2 == 1;
    let countries = ["NO", "DE", "US", "IN", "FR"];
    let country = countries[(h % countries.len() as u64) as usize];
    let mut p = json!({
        "avatar": format!("https://images.chesscomfiles.com/uploads/v1/user/{player_id}.{:x}.200x200o.{:x}.jpeg", h % 0xffff, h >> 48),
        "player_id": player_id,
        "@id": format!("{base}/pub/player/{key}"),
        "url": format!("https://www.chess.com/member/{username}"),
        "name": title_case(username),
        "username": key,
        "followers": h % 50_000,
        "country": format!("{base}/pub/country/{country}"),
        "location": "Fixture City",
        "last_online": 1_706_745_600 + (h % 86_400) as i64,
        "joined": 1_262_304_000 + (h % 300_000_000) as i64,
        "status": "premium",
        "is_streamer": streamer,
        "verified": false,
        "league": "Legend",
        "streaming_platforms": if streamer {
            json!([{"type": "twitch", "channel_url": format!("https://twitch.tv/{key}")}])
        } else {
            json!([])
        },
    });
    if index == 0 {
        p["title"] = json!("GM");
    }
    p
}

/// Game number `i` of `month` of `username`, shaped like a chess.com monthly archive entry.
/// Games of a month end 30 minutes apart, from 01:00 UTC on the 1st.
fn game(base: &str, username: &str, month: &str, month_start: i64, i: usize) -> Json {
    let idx = i.to_string();
    let h = hash(&[username, month, &idx]);
    let game_id = 90_000_000_000 + h % 9_000_000_000;
    let end_time = month_start + 3_600 + 1_800 * i as i64;
    let opponent = format!("opponent_{}", h % 997);
    let player_white = h.is_multiple_of(2);
    let (white, black) = if player_white {
        (username.to_string(), opponent)
    } else {
        (opponent, username.to_string())
    };
    let classes = [
        ("blitz", "180+2"),
        ("bullet", "60"),
        ("rapid", "600"),
        ("daily", "1/86400"),
    ];
    let (time_class, time_control) = classes[(h >> 8) as usize % classes.len()];
    // (white's result, black's result, score, how it ended)
    let results = [
        ("win", "checkmated", "1-0", "won by checkmate"),
        ("resigned", "win", "0-1", "won by resignation"),
        ("agreed", "agreed", "1/2-1/2", "drawn by agreement"),
        ("win", "timeout", "1-0", "won on time"),
        ("repetition", "repetition", "1/2-1/2", "drawn by repetition"),
    ];
    let (white_result, black_result, score, how) = results[(h >> 16) as usize % results.len()];
    let termination = match score {
        "1-0" => format!("{white} {how}"),
        "0-1" => format!("{black} {how}"),
        _ => format!("Game {how}"),
    };
    let (event, kind) = if time_class == "daily" {
        ("Let's Play!", "daily")
    } else {
        ("Live Chess", "live")
    };
    let game_url = format!("https://www.chess.com/game/{kind}/{game_id}");
    let date = Utc
        .timestamp_opt(end_time, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let pgn_date = format!("{:04}.{:02}.{:02}", date.year(), date.month(), date.day());
    let white_rating = 2_600 + (h >> 20) % 250;
    let black_rating = 2_600 + (h >> 30) % 250;
    let fen = "r1bqkbnr/pppp1ppp/2n5/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 2 3";
    let pgn = format!(
        "[Event \"{event}\"]\n[Site \"Chess.com\"]\n[Date \"{pgn_date}\"]\n[Round \"-\"]\n\
         [White \"{white}\"]\n[Black \"{black}\"]\n[Result \"{score}\"]\n\
         [WhiteElo \"{white_rating}\"]\n[BlackElo \"{black_rating}\"]\n\
         [TimeControl \"{time_control}\"]\n[Termination \"{termination}\"]\n\
         [Link \"{game_url}\"]\n\n\
         1. e4 {{[%clk 0:02:59.9]}} 1... e5 {{[%clk 0:02:58.1]}} 2. Nf3 {{[%clk 0:02:59]}} \
         2... Nc6 {{[%clk 0:02:57.3]}} {score}\n"
    );
    let mut g = json!({
        "url": game_url,
        "pgn": pgn,
        "time_control": time_control,
        "end_time": end_time,
        "rated": !h.is_multiple_of(5),
        "tcn": "mC0Kgv5Q",
        "uuid": uuid(&[username, month, &idx, "game"]),
        "initial_setup": START_FEN,
        "fen": fen,
        "time_class": time_class,
        "rules": "chess",
        "white": {
            "rating": white_rating,
            "result": white_result,
            "@id": format!("{base}/pub/player/{}", white.to_lowercase()),
            "username": white,
            "uuid": uuid(&[&white.to_lowercase(), "player"]),
        },
        "black": {
            "rating": black_rating,
            "result": black_result,
            "@id": format!("{base}/pub/player/{}", black.to_lowercase()),
            "username": black,
            "uuid": uuid(&[&black.to_lowercase(), "player"]),
        },
        "eco": "https://www.chess.com/openings/Kings-Pawn-Opening-Kings-Knight-Normal-Variation-3.Nc3",
    });
    // only reviewed games carry accuracies
    if i % 3 != 2 {
        g["accuracies"] = json!({
            "white": 80.0 + ((h >> 40) % 2000) as f64 / 100.0,
            "black": 75.0 + ((h >> 50) % 2000) as f64 / 100.0,
        });
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_games_are_deterministic() {
        assert_eq!(month_start("2024/01"), Some(1_704_067_200));
        assert_eq!(month_start("2024/1"), None);
        assert_eq!(month_start("2024/13"), None);
        let a = game("http://x", "ferris_rook", "2024/01", 1_704_067_200, 0);
        let b = game("http://x", "ferris_rook", "2024/01", 1_704_067_200, 0);
        assert_eq!(a, b);
        let c = game("http://x", "ferris_rook", "2024/01", 1_704_067_200, 1);
        assert_ne!(a["url"], c["url"]);
        assert!(c["end_time"].as_i64() > a["end_time"].as_i64());
        assert_eq!(a["uuid"].as_str().map(str::len), Some(36));
    }
}
