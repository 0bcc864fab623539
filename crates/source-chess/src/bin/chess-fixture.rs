//! Serves the chess.com fixture on 127.0.0.1 until stopped (Ctrl-C), for demos:
//!
//! ```text
//! cargo run -p source-chess --bin chess-fixture -- --port 8765
//! SOURCES__CHESS__BASE_URL=http://127.0.0.1:8765 dlt-rs ...
//! ```

use std::process::ExitCode;

use source_chess::fixture::{FixtureServer, DEFAULT_PLAYERS, DEFAULT_PORT};

const USAGE: &str = "\
usage: chess-fixture [--port PORT]

Serves a local stand-in for the chess.com public API (https://api.chess.com/pub/...) on
127.0.0.1, with generated data for the players ferris_rook and ada_knight.

options:
  --port PORT   the port to listen on (default 8765; 0 picks a free one)
  -h, --help    this help";

fn parse_port(args: &[String]) -> Result<Option<u16>, String> {
    let mut port = DEFAULT_PORT;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" | "-p" => it
                .next()
                .cloned()
                .ok_or_else(|| "--port needs a value".to_string())?,
            other => match other.strip_prefix("--port=") {
                Some(v) => v.to_string(),
                None => return Err(format!("unexpected argument `{other}`")),
            },
        };
        port = value
            .parse()
            .map_err(|_| format!("--port: `{value}` is not a port number"))?;
    }
    Ok(Some(port))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = match parse_port(&args) {
        Ok(Some(port)) => port,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match FixtureServer::start_on(port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("chess.com fixture serving at {}", server.url());
    println!("players: {}", DEFAULT_PLAYERS.join(", "));
    println!(
        "point the chess source at it: SOURCES__CHESS__BASE_URL={} \
         SOURCES__CHESS__PLAYERS='{}'",
        server.url(),
        DEFAULT_PLAYERS.join(",")
    );
    println!("(Ctrl-C to stop)");
    // the server runs on its own threads until the process ends
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(&args(&[])), Ok(Some(DEFAULT_PORT)));
        assert_eq!(parse_port(&args(&["--port", "0"])), Ok(Some(0)));
        assert_eq!(parse_port(&args(&["--port=9000"])), Ok(Some(9000)));
        assert_eq!(parse_port(&args(&["--help"])), Ok(None));
        assert!(parse_port(&args(&["--port"])).is_err());
        assert!(parse_port(&args(&["--port", "x"])).is_err());
        assert!(parse_port(&args(&["serve"])).is_err());
    }
}
