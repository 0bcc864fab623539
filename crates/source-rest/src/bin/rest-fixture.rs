//! Serves the `rest_api` fixture API (`source_rest::fixture`) on 127.0.0.1 until killed or
//! until its standard input closes, for the reference runs of real dlt
//! (`crates/source-rest/tests/dlt/run_dlt.py`) and for demos:
//!
//! ```text
//! cargo run -p source-rest --bin rest-fixture -- --port 0
//! ```
//!
//! The first line on stdout is the base URL (`http://127.0.0.1:<port>`); the rest goes to
//! stderr. Its state is changed over HTTP: `POST <url>/_control/reset`, `/_control/fault`,
//! `/_control/upsert/{collection}`... (see the module documentation of
//! `source_rest::fixture`).

use std::io::{Read, Write};
use std::process::ExitCode;

use source_rest::fixture::FixtureApi;

const USAGE: &str = "\
usage: rest-fixture [--port PORT] [--no-stdin]

Serves the deterministic REST API that the rest_api tests run against on 127.0.0.1, and
prints its base URL as the first line on stdout. Control endpoints: POST /_control/reset,
/_control/fault, /_control/upsert/{collection}, GET /_control/requests...

options:
  --port PORT   the port to listen on (default 0: a free one)
  --no-stdin    keep serving when standard input closes (for a background process with
                stdin from /dev/null); by default the server stops at the end of stdin,
                so a parent that started it with a pipe stops it by exiting
  -h, --help    this help";

#[derive(Debug, PartialEq, Eq)]
struct Args {
    port: u16,
    watch_stdin: bool,
}

fn parse_args(args: &[String]) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        port: 0,
        watch_stdin: true,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--no-stdin" => {
                parsed.watch_stdin = false;
                continue;
            }
            "--port" | "-p" => it
                .next()
                .cloned()
                .ok_or_else(|| "--port needs a value".to_string())?,
            other => match other.strip_prefix("--port=") {
                Some(v) => v.to_string(),
                None => return Err(format!("unexpected argument `{other}`")),
            },
        };
        parsed.port = value
            .parse()
            .map_err(|_| format!("--port: `{value}` is not a port number"))?;
    }
    Ok(Some(parsed))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match FixtureApi::start_on(args.port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "{}", server.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    eprintln!("rest_api fixture serving at {}", server.url());
    if args.watch_stdin {
        eprintln!("(stops when stdin closes)");
        // read (and ignore) stdin to its end
        let mut sink = [0u8; 1024];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        drop(server);
        ExitCode::SUCCESS
    } else {
        eprintln!("(stops when killed)");
        // the server runs on its own threads until the process ends
        loop {
            std::thread::park();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        let port = |port, watch_stdin| Ok(Some(Args { port, watch_stdin }));
        assert_eq!(parse_args(&args(&[])), port(0, true));
        assert_eq!(parse_args(&args(&["--port", "9000"])), port(9000, true));
        assert_eq!(
            parse_args(&args(&["--port=9001", "--no-stdin"])),
            port(9001, false)
        );
        assert_eq!(parse_args(&args(&["-h"])), Ok(None));
        assert!(parse_args(&args(&["--port"])).is_err());
        assert!(parse_args(&args(&["--port", "x"])).is_err());
        assert!(parse_args(&args(&["serve"])).is_err());
    }
}
