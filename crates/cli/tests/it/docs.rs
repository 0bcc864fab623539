//! Runs the examples of the user documentation: every code block of every `docs/**/*.md` that
//! carries the marker `tested by crates/cli/tests/it/docs.rs` (an HTML comment at its top).
//!
//! Each such doc is one *scenario*: a fresh temporary folder that is the current directory and
//! `HOME` of everything the doc runs (so `~/.dlt/pipelines` and `~/.dlt/*.toml` are private),
//! with no inherited `DLT_*` variables nor any variable whose name holds `__`
//! (`DESTINATION__*`, `LOAD__*`, `SOURCES__*`, ...). Its blocks run in order; the first failure
//! ends the scenario and is reported as `docs/FILE.md:LINE: what went wrong`.
//!
//! Conventions, by the fence's info string (language, then words):
//!
//! * `LANG file=PATH` (`toml`, `json`, `jsonl`, ...): the block is written to `PATH` in the
//!   scenario folder; a later block for the same path replaces the file.
//! * `sh`: every command must succeed; `sh fails`: every command must fail. A command is a
//!   line (joined with the next while it ends with `\`) that starts with `dlt-rs ` (run as this
//!   package's binary), optionally preceded by `NAME=value` assignments (for that command),
//!   or `export NAME=value` / `unset NAME` (for the rest of the scenario, as in a shell
//!   session). Words are split as a POSIX shell does with single quotes, double quotes and
//!   backslashes; `$`, backticks, globs, `~`, redirections, pipes and `;` are refused, so a block
//!   means the same pasted into a shell. Lines starting with `#` are comments. Any other
//!   command (`cargo`, `psql`, ...) is an error: put it in prose or mark the block `skip`.
//! * `text output`, right after a `sh` block: every non-empty line must appear in the combined
//!   stdout and stderr of that block's commands; `...` in a line stands for any text (load ids).
//! * `sql setup`: the statements (each ending with `;` at the end of a line) run as the test
//!   server's superuser in the test URL's database; "already exists" errors are ignored, so the
//!   setup is idempotent.
//! * `sql check`: statements of the form `SELECT ...; -- => expected` (a statement may span
//!   lines; the line with `-- =>` ends it) run as the superuser in database `dlt_data`; the first
//!   column of the result rows, joined by `,` (NULL as `NULL`, no rows as nothing), must equal
//!   `expected`.
//! * `rust file=crates/cli/tests/doc_examples/NAME.rs`: the block must equal the text of that
//!   file between its `// doc:start` and `// doc:end` lines. The file is a module of this test
//!   (so it is compiled), registered in `doc_examples::EXAMPLES`, and its `run()` (the
//!   example's `main`) is called at this point of the scenario, in the scenario's folder and
//!   environment: in a process of its own (this test binary again, running only
//!   [`doc_example_process`]), as the other tests of the binary run in parallel with this one
//!   and the example's configuration comes from the current directory, `HOME` and variables,
//!   which belong to the whole process.
//! * `LANG excerpt=PATH#NAME`: the block must equal the lines of workspace file `PATH` between
//!   `// doc:start NAME` and `// doc:end NAME` (their common indentation removed): code of a
//!   crate, compiled and tested there, shown as it is.
//! * `text` (without `output`): shown, not run. `LANG skip REASON...`: not run; the reason is
//!   required. Any other block fails the test: every example of a tested doc runs.
//!
//! The REST API examples call `http://127.0.0.1:8077`: the test runs the local example API
//! (`source_rest::fixture::FixtureApi`, the `rest-fixture` binary) on a port of its own and
//! rewrites that address in written files and commands.
//!
//! Credentials: the docs use dlt's documented ones (`loader` / `<password>` on database
//! `dlt_data` at `localhost:5432`). Before the scenarios the test creates role `loader` (with
//! that password) and database `dlt_data` owned by it on the test server
//! (`DLT_RS_TEST_PG_URL`, default `postgresql://postgres@127.0.0.1:5432/postgres`) when they
//! are missing. When the test server is not `localhost:5432`, `localhost` and `5432` in written
//! files, commands and exports are rewritten to its host and port. At the start of a scenario the
//! datasets its commands and examples name (`--dataset`, `<pipeline>_dataset`,
//! `dataset_name("...")`) are dropped, so runs repeat; two docs may not share a dataset name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// the examples stay where the docs name them (`rust file=crates/cli/tests/doc_examples/...`)
#[path = "../doc_examples/mod.rs"]
mod doc_examples;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::config::Host;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

const BIN: &str = env!("CARGO_BIN_EXE_dlt-rs");
/// The comment that opts a doc in.
const MARKER: &str = "tested by crates/cli/tests/it/docs.rs";
/// Docs that must be opted in.
const REQUIRED: &[&str] = &[
    "docs/cli.md",
    "docs/configuration.md",
    "docs/extending.md",
    "docs/destinations/postgres.md",
    "docs/write-dispositions.md",
    "docs/schema-contracts.md",
    "docs/naming.md",
    "docs/reading-back.md",
];
/// The example API of the docs (`rest-fixture --port 8077`); the test starts one on a port
/// of its own and rewrites this address.
const DOCS_API: &str = "http://127.0.0.1:8077";
/// The database, role and password of the docs (dlt's setup guide).
const DOCS_DATABASE: &str = "dlt_data";
const DOCS_ROLE: &str = "loader";
const DOCS_PASSWORD: &str = "<password>";
/// SQLSTATEs of `duplicate_database` and `duplicate_object` (a role that exists).
const ALREADY_EXISTS: &[&str] = &["42P04", "42710"];
/// Longest a command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// Set for the process that runs one Rust example ([`doc_example_process`]): the example's
/// path as the docs name it. Not a dlt variable (no `DLT_` prefix, no `__`).
const EXAMPLE_VAR: &str = "DOCS_TEST_RUN_EXAMPLE";
/// Around the error of an example that failed, in its process's output.
const EXAMPLE_ERROR: (&str, &str) = ("<<doc example error>>", "<</doc example error>>");

type Res<T = ()> = Result<T, String>;

#[test]
fn every_example_of_the_docs_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let docs = tested_docs(&root);
    let names: Vec<&str> = docs.iter().map(|d| d.path.as_str()).collect();
    for required in REQUIRED {
        assert!(
            names.contains(required),
            "{required} must exist and carry the marker `<!-- {MARKER} -->` (tested: {names:?})"
        );
    }
    check_rewrite();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(Server::connect());

    // datasets: dropped at the start of each scenario, never shared by two docs
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut datasets_of = Vec::new();
    for doc in &docs {
        let datasets = doc.datasets(&root, &server);
        for ds in &datasets {
            if let Some(other) = owner.insert(ds.clone(), doc.path.clone()) {
                failures.push(format!(
                    "{}: dataset `{ds}` is also used by {other}; each doc needs its own",
                    doc.path
                ));
            }
        }
        datasets_of.push(datasets);
    }

    let shown: BTreeSet<&str> = docs
        .iter()
        .flat_map(|d| &d.blocks)
        .filter(|b| b.lang == "rust" && !b.skipped())
        .filter_map(|b| b.file.as_deref())
        .collect();
    for (path, _) in doc_examples::EXAMPLES {
        if !shown.contains(*path) {
            failures.push(format!(
                "{path} is registered in doc_examples::EXAMPLES but no doc shows it"
            ));
        }
    }

    for (doc, datasets) in docs.iter().zip(&datasets_of) {
        let result = run_doc(&root, doc, datasets, &server, &rt);
        if let Err(e) = result {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s) in the docs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Whether a variable would configure dlt-rs (`DESTINATION__...`, `DLT_DATA_DIR`, ...).
fn is_dlt_variable(name: &str) -> bool {
    name.contains("__") || (name.starts_with("DLT_") && name != "DLT_RS_TEST_PG_URL")
}

// ---------------------------------------------------------------------------------------
// markdown

/// A fenced code block.
#[derive(Debug, Clone)]
struct Block {
    /// Line of the opening fence (1-based).
    line: usize,
    lang: String,
    /// Words of the info string after the language, without `file=...`.
    words: Vec<String>,
    file: Option<String>,
    body: String,
}

impl Block {
    fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }
    fn skipped(&self) -> bool {
        self.has("skip")
    }
}

/// A tested doc: its path relative to the repository and its code blocks.
#[derive(Debug)]
struct Doc {
    path: String,
    blocks: Vec<Block>,
}

/// The docs under `docs/` that carry the marker, sorted by path.
fn tested_docs(root: &Path) -> Vec<Doc> {
    let mut files = Vec::new();
    collect_md(&root.join("docs"), &mut files);
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.contains(MARKER) {
            continue;
        }
        let path = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let blocks = match parse_blocks(&text) {
            Ok(b) => b,
            Err((line, e)) => panic!("{path}:{line}: {e}"),
        };
        docs.push(Doc { path, blocks });
    }
    docs
}

fn collect_md(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_md(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The fenced (```` ``` ````) blocks of a markdown text; an indented fence's indentation is
/// removed from its lines.
fn parse_blocks(text: &str) -> Result<Vec<Block>, (usize, String)> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let mut words = info.split_whitespace().map(str::to_string);
        let lang = words.next().unwrap_or_default();
        let mut file = None;
        let mut rest = Vec::new();
        for w in words {
            match w.strip_prefix("file=") {
                Some(f) => file = Some(f.to_string()),
                None => rest.push(w),
            }
        }
        let mut body = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim() == "```" {
                closed = true;
                break;
            }
            let strip = l.len() - l.trim_start().len();
            body.push_str(&l[strip.min(indent)..]);
            body.push('\n');
        }
        if !closed {
            return Err((i + 1, "code block is not closed".into()));
        }
        blocks.push(Block {
            line: i + 1,
            lang,
            words: rest,
            file,
            body,
        });
    }
    Ok(blocks)
}

// ---------------------------------------------------------------------------------------
// shell commands

/// One line of a runnable `sh` block.
#[derive(Debug, Clone, PartialEq)]
enum ShLine {
    /// `NAME=value ... dlt-rs ARGS`: the assignments, then the arguments after `dlt-rs`.
    Run {
        env: Vec<(String, String)>,
        args: Vec<String>,
        text: String,
    },
    Export(Vec<(String, String)>),
    Unset(Vec<String>),
}

/// The commands of a `sh` block, each with its line number within the block (0-based).
fn parse_sh(body: &str) -> Result<Vec<(usize, ShLine)>, (usize, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, line) in body.lines().enumerate() {
        if pending.is_empty() {
            start = i;
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
        }
        let trimmed = line.trim_end();
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let text = std::mem::take(&mut pending);
        let words = split_words(&text).map_err(|e| (start, e))?;
        if words.is_empty() {
            continue;
        }
        out.push((start, classify(words, &text).map_err(|e| (start, e))?));
    }
    if !pending.is_empty() {
        return Err((start, "the last line ends with `\\`".into()));
    }
    Ok(out)
}

fn assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (name.to_string(), value.to_string()))
}

fn classify(words: Vec<String>, text: &str) -> Res<ShLine> {
    match words[0].as_str() {
        "export" => {
            let pairs = words[1..]
                .iter()
                .map(|w| assignment(w).ok_or_else(|| format!("`export {w}`: expected NAME=value")))
                .collect::<Res<Vec<_>>>()?;
            Ok(ShLine::Export(pairs))
        }
        "unset" => Ok(ShLine::Unset(words[1..].to_vec())),
        _ => {
            let mut env = Vec::new();
            let mut rest = words.as_slice();
            while let Some(pair) = rest.first().and_then(|w| assignment(w)) {
                env.push(pair);
                rest = &rest[1..];
            }
            match rest.first().map(String::as_str) {
                Some("dlt-rs") => Ok(ShLine::Run {
                    env,
                    args: rest[1..].to_vec(),
                    text: text.trim().to_string(),
                }),
                Some(other) => Err(format!(
                    "`{other}`: a runnable sh block holds only `dlt-rs` commands, `export`, \
                     `unset` and comments; say it in prose or mark the block `sh skip REASON`"
                )),
                None => Err("assignments without a command".into()),
            }
        }
    }
}

/// Splits a command line into words like a POSIX shell (quotes, backslashes, `#` comments),
/// refusing what a shell would expand or interpret.
fn split_words(line: &str) -> Res<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!("`{c}` inside double quotes would be expanded"))
                        }
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("a lone `\\` at the end".into()),
                }
            }
            '$' | '`' | '*' | '?' | '[' | ']' | '{' | '}' | '|' | '&' | ';' | '<' | '>' | '('
            | ')' | '!' => {
                return Err(format!(
                    "unquoted `{c}`: a shell would interpret it; quote the word"
                ))
            }
            '~' if !in_word => return Err("unquoted `~`: a shell would expand it".into()),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The output of a child process, both streams.
fn run_command(dir: &Path, env: &BTreeMap<String, String>, args: &[String]) -> Res<(bool, String)> {
    run_program(Path::new(BIN), dir, env, args)
}

/// Runs `program` in `dir` with exactly `env`: whether it succeeded, and both streams.
fn run_program(
    program: &Path,
    dir: &Path,
    env: &BTreeMap<String, String>,
    args: &[String],
) -> Res<(bool, String)> {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {COMMAND_TIMEOUT:?}; killed"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

/// Whether every non-empty expected line appears in `output` (`...` matches anything).
fn missing_lines(expected: &str, output: &str) -> Vec<String> {
    expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !output.lines().any(|o| matches_with_ellipsis(l, o)))
        .map(str::to_string)
        .collect()
}

fn matches_with_ellipsis(pattern: &str, line: &str) -> bool {
    let mut rest = line;
    for piece in pattern.split("...").filter(|p| !p.is_empty()) {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------------------
// the test server

/// The test server: its superuser connections and the host/port the docs' `localhost:5432`
/// stands for.
struct Server {
    /// The local example API the docs call `http://127.0.0.1:8077` (the `rest-fixture` of
    /// source-rest), on a port of its own.
    api: source_rest::fixture::FixtureApi,
    /// The test URL's database.
    admin: Client,
    /// Database `dlt_data`, as the superuser.
    data: Client,
    rewrite: Option<(String, u16)>,
}

impl Server {
    async fn connect() -> Server {
        let url = test_support::pg_url();
        let admin = test_support::connect_to(&url).await;
        let config: tokio_postgres::Config = url
            .parse()
            .unwrap_or_else(|e| panic!("the test URL does not parse: {e}"));
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let rewrite = match config.get_hosts().first() {
            Some(Host::Tcp(h)) if is_localhost(h) && port == 5432 => None,
            Some(Host::Tcp(h)) => Some((h.clone(), port)),
            None => None,
            Some(Host::Unix(p)) => panic!(
                "the docs test needs a TCP test server, not the socket {}",
                p.display()
            ),
        };

        // dlt's setup guide, when not done yet
        let role_exists = !admin
            .query(
                "SELECT 1 FROM pg_roles WHERE rolname = $1",
                &[&DOCS_ROLE.to_string()],
            )
            .await
            .unwrap()
            .is_empty();
        if !role_exists {
            ignore_exists(
                admin
                    .batch_execute(&format!(
                        "CREATE ROLE {DOCS_ROLE} LOGIN PASSWORD '{DOCS_PASSWORD}'"
                    ))
                    .await,
            )
            .unwrap();
        }
        let db_exists = !admin
            .query(
                "SELECT 1 FROM pg_database WHERE datname = $1",
                &[&DOCS_DATABASE.to_string()],
            )
            .await
            .unwrap()
            .is_empty();
        if !db_exists {
            ignore_exists(
                admin
                    .batch_execute(&format!(
                        "CREATE DATABASE {DOCS_DATABASE} OWNER {DOCS_ROLE}"
                    ))
                    .await,
            )
            .unwrap();
        }

        let mut data_config = config.clone();
        data_config.dbname(DOCS_DATABASE);
        let (data, connection) = data_config
            .connect(NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to database {DOCS_DATABASE}: {e}"));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("docs test: connection error: {e}");
            }
        });
        let api = source_rest::fixture::FixtureApi::start()
            .unwrap_or_else(|e| panic!("cannot start the example API: {e}"));
        Server {
            api,
            admin,
            data,
            rewrite,
        }
    }

    /// `text` with the docs' `localhost` / `5432` replaced by the test server's, and the
    /// example API's `http://127.0.0.1:8077` by the running one's.
    fn rewrite(&self, text: &str) -> Res<String> {
        let text = text.replace(DOCS_API, &self.api.url());
        match &self.rewrite {
            None => Ok(text),
            Some((host, port)) => rewrite_host_port(&text, host, *port),
        }
    }
}

fn is_localhost(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

fn ignore_exists(r: Result<(), tokio_postgres::Error>) -> Result<(), tokio_postgres::Error> {
    match r {
        Err(e) if e.code().is_some_and(|c| ALREADY_EXISTS.contains(&c.code())) => Ok(()),
        other => other,
    }
}

/// Rewrites the forms of `localhost:5432` the docs use: TOML `host = "localhost"` and
/// `port = 5432`, `..__HOST=localhost` / `..__PORT=5432`, and `@localhost[:5432]/` in URLs.
/// Any `localhost` left is an error (a form this function does not know).
fn rewrite_host_port(text: &str, host: &str, port: u16) -> Res<String> {
    let url_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let out = text
        .replace("@localhost:5432/", &format!("@{url_host}:{port}/"))
        .replace("@localhost/", &format!("@{url_host}:{port}/"))
        .replace("\"localhost\"", &format!("\"{host}\""))
        .replace("__HOST=localhost", &format!("__HOST={host}"))
        .replace("port = 5432", &format!("port = {port}"))
        .replace("__PORT=5432", &format!("__PORT={port}"));
    if out.contains("localhost") {
        return Err(format!(
            "`localhost` in a form the docs test cannot point at the test server \
             ({host}:{port}); use `host = \"localhost\"` or `@localhost/` (see crates/cli/tests/it/docs.rs)"
        ));
    }
    Ok(out)
}

/// The rewriting of the docs' credentials, on the forms the docs use.
fn check_rewrite() {
    let toml = "host = \"localhost\"\nport = 5432\n";
    assert_eq!(
        rewrite_host_port(toml, "10.0.0.5", 5433).unwrap(),
        "host = \"10.0.0.5\"\nport = 5433\n"
    );
    let url = "--credentials \"postgresql://loader:<password>@localhost/dlt_data\"";
    assert_eq!(
        rewrite_host_port(url, "::1", 5433).unwrap(),
        "--credentials \"postgresql://loader:<password>@[::1]:5433/dlt_data\""
    );
    let env = "export DESTINATION__POSTGRES__CREDENTIALS__HOST=localhost";
    assert!(rewrite_host_port(env, "db", 6000).unwrap().ends_with("=db"));
    assert!(rewrite_host_port("host=localhost", "db", 6000).is_err());
    assert!(matches_with_ellipsis(
        "load ...: 3 rows into users",
        "  load 1795511858.48: 3 rows into users, x"
    ));
    assert!(!matches_with_ellipsis("load ...: 3 rows", "load 1: 4 rows"));
    assert_eq!(
        split_words(r#"dlt-rs a 'b c' "d \"e\"" f\ g # comment"#).unwrap(),
        ["dlt-rs", "a", "b c", "d \"e\"", "f g"]
    );
    assert!(split_words("dlt-rs a > out").is_err());
    assert!(split_words("dlt-rs \"$HOME\"").is_err());
}

// ---------------------------------------------------------------------------------------
// scenarios

impl Doc {
    /// The datasets the doc's commands and examples name.
    fn datasets(&self, root: &Path, server: &Server) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for b in self.blocks.iter().filter(|b| !b.skipped()) {
            if b.lang == "sh" {
                let Ok(lines) = server
                    .rewrite(&b.body)
                    .map_err(|e| (0, e))
                    .and_then(|t| parse_sh(&t))
                else {
                    continue; // reported when the block runs
                };
                for (_, line) in lines {
                    if let ShLine::Run { args, .. } = line {
                        out.extend(datasets_of_args(&args));
                    }
                }
            } else if b.lang == "rust" {
                if let Some(f) = &b.file {
                    if let Ok(src) = std::fs::read_to_string(root.join(f)) {
                        out.extend(datasets_of_rust(&src));
                    }
                }
            }
        }
        out
    }
}

fn datasets_of_args(args: &[String]) -> Vec<String> {
    let mut dataset = None;
    let mut pipeline = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match flag {
            "--dataset" | "--dataset-name" => dataset = value(),
            "--pipeline" => pipeline = value(),
            _ => {}
        }
    }
    // `dlt-rs pipeline NAME ...`
    if pipeline.is_none() && args.first().is_some_and(|a| a == "pipeline") {
        pipeline = args.get(1).filter(|a| !a.starts_with('-')).cloned();
    }
    match (dataset, pipeline) {
        (Some(d), _) => vec![d],
        (None, Some(p)) => vec![format!("{p}_dataset")],
        (None, None) => vec![],
    }
}

/// `dataset_name("X")`, else `<name>_dataset` of `Pipeline::builder("name")`.
fn datasets_of_rust(src: &str) -> Vec<String> {
    let quoted_after = |key: &str| -> Vec<String> {
        src.match_indices(key)
            .filter_map(|(at, _)| {
                let rest = &src[at + key.len()..];
                let end = rest.find('"')?;
                Some(rest[..end].to_string())
            })
            .collect()
    };
    let datasets = quoted_after(".dataset_name(\"");
    if !datasets.is_empty() {
        return datasets;
    }
    quoted_after("Pipeline::builder(\"")
        .into_iter()
        .map(|p| format!("{p}_dataset"))
        .collect()
}

struct Scenario {
    dir: tempfile::TempDir,
    /// Variables exported by the doc's `sh` blocks.
    exports: BTreeMap<String, String>,
    /// The last `sh` block: its line and combined output.
    last_sh: Option<(usize, String)>,
}

impl Scenario {
    /// The environment of a command: the test's own without dlt variables, `HOME`, the
    /// exports, then the command's assignments.
    fn env(&self, extra: &[(String, String)]) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| !is_dlt_variable(k))
            .collect();
        env.insert(
            "HOME".into(),
            self.dir.path().to_string_lossy().into_owned(),
        );
        env.extend(self.exports.clone());
        env.extend(extra.iter().cloned());
        env
    }
}

fn run_doc(
    root: &Path,
    doc: &Doc,
    datasets: &BTreeSet<String>,
    server: &Server,
    rt: &tokio::runtime::Runtime,
) -> Res {
    let mut sc = Scenario {
        dir: tempfile::Builder::new()
            .prefix("dlt-rs-docs-")
            .tempdir()
            .unwrap(),
        exports: BTreeMap::new(),
        last_sh: None,
    };
    for ds in datasets {
        let sql = format!(
            "DROP SCHEMA IF EXISTS {} CASCADE; DROP SCHEMA IF EXISTS {} CASCADE",
            test_support::quote_ident(ds),
            test_support::quote_ident(&format!("{ds}_staging"))
        );
        rt.block_on(server.data.batch_execute(&sql))
            .map_err(|e| format!("{}: dropping dataset {ds}: {e}", doc.path))?;
    }
    let mut previous: Option<&Block> = None;
    for block in &doc.blocks {
        let at = |e: String| format!("{}:{}: {e}", doc.path, block.line);
        run_block(root, block, previous, &mut sc, server, rt).map_err(at)?;
        previous = Some(block);
    }
    Ok(())
}

fn run_block(
    root: &Path,
    block: &Block,
    previous: Option<&Block>,
    sc: &mut Scenario,
    server: &Server,
    rt: &tokio::runtime::Runtime,
) -> Res {
    if block.skipped() {
        let reason = block.words.iter().skip_while(|w| *w != "skip").skip(1);
        if reason.count() == 0 {
            return Err("a `skip` block needs a reason after `skip`".into());
        }
        return Ok(());
    }
    let lang = block.lang.as_str();
    if let Some(spec) = block.words.iter().find_map(|w| w.strip_prefix("excerpt=")) {
        return check_excerpt(root, block, spec);
    }
    match (lang, &block.file) {
        ("rust", Some(file)) => return run_rust(root, block, file, sc),
        ("rust", None) => {
            return Err("a rust example needs `file=crates/cli/tests/doc_examples/NAME.rs`".into())
        }
        (_, Some(file)) => {
            if !block.words.is_empty() {
                return Err(format!("unknown words {:?} in a file block", block.words));
            }
            let path = sc.dir.path().join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            return std::fs::write(&path, server.rewrite(&block.body)?)
                .map_err(|e| format!("writing {file}: {e}"));
        }
        (_, None) => {}
    }
    let words: Vec<&str> = block.words.iter().map(String::as_str).collect();
    match (lang, words.as_slice()) {
        ("sh", []) => run_sh(block, sc, server, true),
        ("sh", ["fails"]) => run_sh(block, sc, server, false),
        ("text", []) => Ok(()),
        ("text", ["output"]) => {
            let Some((line, output)) = &sc.last_sh else {
                return Err("`text output` must follow a `sh` block".into());
            };
            if previous.map(|p| p.line) != Some(*line) {
                return Err("`text output` must come right after the `sh` block it shows".into());
            }
            let missing = missing_lines(&block.body, output);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "the output of the block at line {line} lacks {missing:?}; it was:\n{output}"
                ))
            }
        }
        ("sql", ["setup"]) => run_sql_setup(block, server, rt),
        ("sql", ["check"]) => run_sql_check(block, server, rt),
        _ => Err(format!(
            "```{} {}: not a convention of crates/cli/tests/it/docs.rs; every example of this doc \
             must run (see docs/README.md)",
            block.lang,
            block.words.join(" ")
        )),
    }
}

fn run_sh(block: &Block, sc: &mut Scenario, server: &Server, succeed: bool) -> Res {
    let body = server.rewrite(&block.body)?;
    let lines = parse_sh(&body).map_err(|(i, e)| format!("line {}: {e}", block.line + 1 + i))?;
    if !lines.iter().any(|(_, l)| matches!(l, ShLine::Run { .. })) {
        return Err("a sh block without a dlt-rs command".into());
    }
    let mut output = String::new();
    for (i, line) in lines {
        match line {
            ShLine::Export(pairs) => sc.exports.extend(pairs),
            ShLine::Unset(names) => {
                for n in names {
                    sc.exports.remove(&n);
                }
            }
            ShLine::Run { env, args, text } => {
                let (ok, out) = run_command(sc.dir.path(), &sc.env(&env), &args)
                    .map_err(|e| format!("line {}: `{text}`: {e}", block.line + 1 + i))?;
                if ok != succeed {
                    return Err(format!(
                        "line {}: `{text}` {} but should have {}; output:\n{out}",
                        block.line + 1 + i,
                        if ok { "succeeded" } else { "failed" },
                        if succeed { "succeeded" } else { "failed" },
                    ));
                }
                output.push_str(&out);
            }
        }
    }
    sc.last_sh = Some((block.line, output));
    Ok(())
}

/// The statements of a `sql` block: text up to a line ending with `;` (setup) or holding
/// `-- =>` (check), with the expectation if any.
fn sql_statements(body: &str, checks: bool) -> Res<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in body.lines() {
        let t = line.trim();
        if pending.is_empty() && (t.is_empty() || (t.starts_with("--") && !t.contains("=>"))) {
            continue;
        }
        if checks {
            match t.split_once("-- =>") {
                Some((sql, expected)) => {
                    pending.push_str(sql);
                    let sql = std::mem::take(&mut pending);
                    out.push((sql.trim().to_string(), Some(expected.trim().to_string())));
                }
                None => {
                    pending.push_str(t);
                    pending.push('\n');
                }
            }
        } else {
            pending.push_str(t);
            pending.push('\n');
            if t.ends_with(';') {
                out.push((std::mem::take(&mut pending).trim().to_string(), None));
            }
        }
    }
    if !pending.trim().is_empty() {
        return Err(if checks {
            format!("`{}` has no `-- => expected`", pending.trim())
        } else {
            format!("`{}` does not end with `;`", pending.trim())
        });
    }
    Ok(out)
}

fn run_sql_setup(block: &Block, server: &Server, rt: &tokio::runtime::Runtime) -> Res {
    for (sql, _) in sql_statements(&block.body, false)? {
        rt.block_on(async { ignore_exists(server.admin.batch_execute(&sql).await) })
            .map_err(|e| format!("`{sql}`: {}", db_error(&e)))?;
    }
    Ok(())
}

fn run_sql_check(block: &Block, server: &Server, rt: &tokio::runtime::Runtime) -> Res {
    let statements = sql_statements(&block.body, true)?;
    if statements.is_empty() {
        return Err("a `sql check` block without checks".into());
    }
    for (sql, expected) in statements {
        let expected = expected.unwrap_or_default();
        let messages = rt
            .block_on(server.data.simple_query(&sql))
            .map_err(|e| format!("`{sql}`: {}", db_error(&e)))?;
        let got: Vec<String> = messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("NULL").to_string()),
                _ => None,
            })
            .collect();
        let got = got.join(",");
        if got != expected {
            return Err(format!("`{sql}` gave `{got}`, the doc says `{expected}`"));
        }
    }
    Ok(())
}

fn db_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn run_rust(root: &Path, block: &Block, file: &str, sc: &mut Scenario) -> Res {
    if !block.words.is_empty() {
        return Err(format!("unknown words {:?} in a rust block", block.words));
    }
    let src = std::fs::read_to_string(root.join(file)).map_err(|e| format!("{file}: {e}"))?;
    let region = doc_region(&src).ok_or_else(|| {
        format!("{file} has no `// doc:start` ... `// doc:end` lines around the example")
    })?;
    if region != block.body {
        let first = region
            .lines()
            .zip(block.body.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| region.lines().count().min(block.body.lines().count()));
        return Err(format!(
            "the block differs from {file} (between its doc markers) from the block's line {}: \
             copy the file's example into the doc",
            first + 1
        ));
    }
    if !doc_examples::EXAMPLES.iter().any(|(p, _)| *p == file) {
        return Err(format!(
            "{file} is not registered in doc_examples::EXAMPLES"
        ));
    }

    // the example runs in the scenario's folder, with its `HOME` and exports: in a process
    // of its own, which the other tests of this binary cannot disturb (nor it them)
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut env = sc.env(&[]);
    env.insert(EXAMPLE_VAR.into(), file.into());
    let (test, args) = example_process_args();
    let (ok, out) = run_program(&exe, sc.dir.path(), &env, &args)
        .map_err(|e| format!("the example {file}: {e}"))?;
    let error = out
        .split_once(EXAMPLE_ERROR.0)
        .and_then(|(_, rest)| rest.split_once(EXAMPLE_ERROR.1))
        .map(|(error, _)| error);
    match (ok, error) {
        (true, _) if out.contains("test result: ok. 1 passed") => Ok(()),
        (true, _) => Err(format!(
            "the example {file} did not run (`{test}` is not the test that runs it?):\n{out}"
        )),
        (false, Some(e)) => Err(format!("the example {file} failed: {e}")),
        (false, None) => Err(format!(
            "the example {file} panicked; its process's output:\n{out}"
        )),
    }
}

/// The name of [`doc_example_process`] in this binary, and the arguments that run it alone.
fn example_process_args() -> (String, Vec<String>) {
    let path = concat!(module_path!(), "::doc_example_process");
    // the name within the binary: without the crate
    let test = path.split_once("::").map_or(path, |(_, t)| t).to_string();
    let args = ["--exact", &test, "--test-threads=1"]
        .map(String::from)
        .to_vec();
    (test, args)
}

/// Not a check by itself: the process in which [`run_rust`] runs one example of the docs
/// (the one `DOCS_TEST_RUN_EXAMPLE` names; `run_rust` sets the folder, `HOME` and the other
/// variables). Without that variable, in every ordinary run of the tests, it does nothing.
#[test]
fn doc_example_process() {
    let Some(file) = std::env::var_os(EXAMPLE_VAR) else {
        return;
    };
    let file = file.to_string_lossy().into_owned();
    let (_, run) = doc_examples::EXAMPLES
        .iter()
        .find(|(p, _)| *p == file)
        .unwrap_or_else(|| panic!("{file} is not registered in doc_examples::EXAMPLES"));
    if let Err(e) = run() {
        let (start, end) = EXAMPLE_ERROR;
        eprintln!("{start}{e:#}{end}");
        panic!("the example {file} failed");
    }
}

/// `LANG excerpt=PATH#NAME`: the block must equal the lines of the workspace file `PATH`
/// between `// doc:start NAME` and `// doc:end NAME` (code of a crate, compiled and tested
/// there; the doc shows it as it is).
fn check_excerpt(root: &Path, block: &Block, spec: &str) -> Res {
    if block.words.len() != 1 {
        return Err(format!(
            "unknown words {:?} in an excerpt block",
            block.words
        ));
    }
    let (file, name) = spec
        .split_once('#')
        .ok_or_else(|| format!("`excerpt={spec}` needs `PATH#NAME`"))?;
    let src = std::fs::read_to_string(root.join(file)).map_err(|e| format!("{file}: {e}"))?;
    let (start, end) = (format!("// doc:start {name}"), format!("// doc:end {name}"));
    let mut region: Option<String> = None;
    for line in src.lines() {
        match (&mut region, line.trim()) {
            (None, l) if l == start => region = Some(String::new()),
            (Some(_), l) if l == end => break,
            (Some(r), _) => {
                r.push_str(line);
                r.push('\n');
            }
            (None, _) => {}
        }
    }
    let region = region.ok_or_else(|| format!("{file} has no `{start}` line"))?;
    if dedent(&region) != block.body {
        return Err(format!(
            "the block differs from {file} between `{start}` and `{end}`: copy the code into \
             the doc"
        ));
    }
    Ok(())
}

/// `text` without the indentation all its non-empty lines share.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

/// The lines between `// doc:start` and `// doc:end`.
fn doc_region(src: &str) -> Option<String> {
    let mut out = String::new();
    let mut inside = false;
    for line in src.lines() {
        match line.trim() {
            "// doc:start" => inside = true,
            "// doc:end" if inside => return Some(out),
            _ if inside => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    None
}

/// docs/configuration.md names every key each registered destination reads or warns about.
#[test]
fn the_configuration_doc_names_every_destination_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut missing = Vec::new();
    for name in dest_core::registry::names() {
        // a factory reads only configuration: any credentials will do
        let config = dlt_config::Config::builder()
            .project_dir(dir.path())
            .no_global_dir()
            .env(false)
            .set(
                &format!("destination.{name}.credentials"),
                match name {
                    "postgres" => "postgresql://doc@localhost:5432/doc".to_string(),
                    _ => dir.path().join("doc.db").to_string_lossy().into_owned(),
                },
            )
            .build()
            .unwrap();
        let ctx = dest_core::registry::DestinationContext {
            destination_name: name,
            pipeline_name: None,
            config: &config,
        };
        let destination = dest_core::registry::create(name, &ctx).unwrap();
        let caps = destination.capabilities();
        for key in caps.config_keys.iter().chain(caps.dlt_config_keys) {
            let row = format!("| `destination.{name}.{key}` |");
            if !doc.contains(&row) {
                missing.push(row);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
}
