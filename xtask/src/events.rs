//! A deterministic generator of GitHub-events-like JSON Lines for the end-to-end run.
//!
//! Each record has an `id`, a `type`, an ISO `created_at`, an `actor` and a `repo` object, an
//! `org` that is often null, a float `score`, a list of string `labels` and a `payload` whose
//! shape depends on the type: pushes carry `commits` (author `{name, email}`, a list of `files`
//! and now and then `hunks`, a list of lists of numbers), issues and pull requests carry nested
//! objects with nulls and floats. Display names and messages mix unicode, quotes, backslashes,
//! tabs and newlines. The same `(rows, seed)` always gives the same bytes (SplitMix64, no
//! external crates).

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// 2024-03-01T00:00:00Z, the first event's time.
const START_EPOCH: i64 = 1_709_251_200;

/// Writes `rows` events to `path` (one JSON object per line); returns the bytes written.
pub(crate) fn write_file(path: &Path, rows: u64, seed: u64) -> Result<u64> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let file = std::fs::File::create(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut generator = Generator::new(seed);
    let mut line = String::new();
    let mut bytes = 0u64;
    for _ in 0..rows {
        line.clear();
        generator.next_event().write(&mut line);
        line.push('\n');
        out.write_all(line.as_bytes())
            .with_context(|| format!("could not write {}", path.display()))?;
        bytes += line.len() as u64;
    }
    out.flush()
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(bytes)
}

/// A JSON value, just enough to write one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// Always written with a decimal point (`3.0`), so it reads as a float.
    Float(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    fn s(text: impl Into<String>) -> Self {
        Json::Str(text.into())
    }

    /// Appends the compact JSON text of `self` to `out`.
    pub(crate) fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Float(f) if !f.is_finite() => out.push_str("null"),
            Json::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                let _ = write!(out, "{f:.1}");
            }
            Json::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string literal (the bench generator's, which writes what Python's json does).
fn write_str(out: &mut String, s: &str) {
    crate::bench_gen::json_str(s, out);
}

/// `epoch` seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub(crate) fn iso_timestamp(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (year, month, day) = crate::bench_gen::civil(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// SplitMix64: tiny, fast, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as u64) as i64
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// 40 hex digits, like a git sha.
    fn sha(&mut self) -> String {
        let mut s = String::with_capacity(40);
        while s.len() < 40 {
            let _ = write!(s, "{:016x}", self.next_u64());
        }
        s.truncate(40);
        s
    }

    /// A float with two decimals in `low..high`.
    fn float(&mut self, low: f64, high: f64) -> f64 {
        let x = low + (high - low) * (self.below(1_000_000) as f64 / 1_000_000.0);
        (x * 100.0).round() / 100.0
    }
}

const EVENT_TYPES: &[&str] = &[
    "PushEvent",
    "PushEvent",
    "PushEvent",
    "IssuesEvent",
    "PullRequestEvent",
    "WatchEvent",
    "CreateEvent",
];
const DISPLAY_NAMES: &[&str] = &[
    "Ada Lovelace",
    "Zoë \"Zed\" O'Brien",
    "李小龍",
    "José Ñúñez",
    "Åsa Lindqvist",
    "Мария Иванова",
    "محمد علي",
    "O'Reilly, Tim",
    "Dr. Back\\Slash",
    "🚀 Rocket Dev",
    "Tab\tSeparated",
    "Grace Hopper",
    "Line\nBreak",
    "Ünïcödé Ümlaut",
    "ஸ்ரீநிவாச ராமானுஜன்",
    "Linus 'the penguin' T.",
];
const SYLLABLES: &[&str] = &[
    "ka", "ro", "mi", "zen", "tor", "li", "qua", "bex", "nu", "dra", "fi", "xo",
];
const ORGS: &[&str] = &[
    "octo-org",
    "rust-lang",
    "dlt-hub",
    "acme",
    "open-data",
    "tiny-tools",
];
const PROJECTS: &[&str] = &[
    "hello-world",
    "loader",
    "compiler",
    "website",
    "pipelines",
    "sdk-rs",
    "docs",
    "infra",
];
const DIRS: &[&str] = &[
    "src",
    "src/util",
    "tests",
    "docs",
    "crates/core/src",
    ".github/workflows",
    "scripts",
];
const FILE_STEMS: &[&str] = &[
    "lib", "main", "mod", "schema", "loader", "README", "config", "ci", "naming", "types",
];
const EXTENSIONS: &[&str] = &["rs", "py", "md", "toml", "yml", "json", "sql"];
const MESSAGES: &[&str] = &[
    "Fix off-by-one in pagination",
    "Add \"merge\" write disposition",
    "Bump dependencies",
    "Refactor naming convention\n\nSplit snake_case handling out of the normalizer.",
    "Handle NULLs in nested lists",
    "Docs: explain `max_table_nesting`",
    "Support ünïcödé identifiers ✨",
    "Revert \"Speed up COPY\"",
    "Escape backslashes (\\) in text",
    "WIP\ttabs and more",
];
const LABELS: &[&str] = &[
    "bug",
    "enhancement",
    "good first issue",
    "help wanted",
    "documentation",
    "priority: high",
    "wontfix",
    "área/ñandú",
];
const TITLES: &[&str] = &[
    "Loader crashes on empty files",
    "Support \"scd2\" merges",
    "Wrong type for floats like 3.0",
    "Timestamps lose their time zone",
    "Names with émojis 🐛 break tables",
    "Question: how do I 'replace' a table?",
];

struct Generator {
    rng: Rng,
    index: u64,
    clock: i64,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Self {
            rng: Rng(seed),
            index: 0,
            clock: START_EPOCH,
        }
    }

    fn login(&mut self) -> String {
        let mut login = String::new();
        for _ in 0..self.rng.range(2, 3) {
            login.push_str(self.rng.pick(SYLLABLES));
        }
        if self.rng.chance(60) {
            let _ = write!(login, "-{}", self.rng.below(100));
        }
        login
    }

    fn next_event(&mut self) -> Json {
        self.index += 1;
        self.clock += self.rng.range(0, 30);
        let kind = self.rng.pick(EVENT_TYPES);

        let actor_id = self.rng.range(1_000, 9_999_999);
        let login = self.login();
        let display_name = if self.rng.chance(5) {
            Json::Null
        } else {
            Json::s(self.rng.pick(DISPLAY_NAMES))
        };
        let actor = Json::Obj(vec![
            ("id", Json::Int(actor_id)),
            ("login", Json::s(login.clone())),
            ("display_name", display_name),
            (
                "avatar_url",
                Json::s(format!("https://avatars.example.com/u/{actor_id}?v=4")),
            ),
        ]);

        let org_name = self.rng.pick(ORGS);
        let repo_name = format!("{org_name}/{}", self.rng.pick(PROJECTS));
        let repo = Json::Obj(vec![
            ("id", Json::Int(self.rng.range(10_000, 99_999_999))),
            ("name", Json::s(repo_name.clone())),
            (
                "url",
                Json::s(format!("https://api.example.com/repos/{repo_name}")),
            ),
        ]);
        let org = if self.rng.chance(35) {
            Json::Null
        } else {
            Json::Obj(vec![
                ("id", Json::Int(self.rng.range(100, 99_999))),
                ("login", Json::s(org_name)),
            ])
        };

        let labels = (0..self.rng.below(4))
            .map(|_| Json::s(self.rng.pick(LABELS)))
            .collect();
        let payload = match kind {
            "PushEvent" => self.push_payload(&login),
            "IssuesEvent" => self.issue_payload(),
            "PullRequestEvent" => self.pull_request_payload(),
            "CreateEvent" => self.create_payload(),
            _ => Json::Obj(vec![("action", Json::s("started"))]),
        };

        Json::Obj(vec![
            ("id", Json::s(format!("{}", 30_000_000_000 + self.index))),
            ("type", Json::s(kind)),
            ("created_at", Json::s(iso_timestamp(self.clock))),
            ("public", Json::Bool(!self.rng.chance(3))),
            ("actor", actor),
            ("repo", repo),
            ("org", org),
            ("score", Json::Float(self.rng.float(0.0, 100.0))),
            ("labels", Json::Arr(labels)),
            ("payload", payload),
        ])
    }

    fn push_payload(&mut self, login: &str) -> Json {
        let size = self.rng.range(1, 4);
        let commits = (0..size)
            .map(|_| {
                let author = if self.rng.chance(70) {
                    login.to_string()
                } else {
                    self.login()
                };
                let files = (0..self.rng.range(0, 5))
                    .map(|_| {
                        Json::s(format!(
                            "{}/{}.{}",
                            self.rng.pick(DIRS),
                            self.rng.pick(FILE_STEMS),
                            self.rng.pick(EXTENSIONS)
                        ))
                    })
                    .collect();
                let mut commit = vec![
                    ("sha", Json::s(self.rng.sha())),
                    (
                        "author",
                        Json::Obj(vec![
                            ("name", Json::s(self.rng.pick(DISPLAY_NAMES))),
                            (
                                "email",
                                Json::s(format!("{author}@users.noreply.example.com")),
                            ),
                        ]),
                    ),
                    ("message", Json::s(self.rng.pick(MESSAGES))),
                    ("distinct", Json::Bool(self.rng.chance(90))),
                    ("files", Json::Arr(files)),
                ];
                if self.rng.chance(10) {
                    // Diff hunks as [start, length(, context)] — a list of lists.
                    let hunks = (0..self.rng.range(1, 3))
                        .map(|_| {
                            let mut hunk = vec![
                                Json::Int(self.rng.range(1, 2_000)),
                                Json::Int(self.rng.range(1, 80)),
                            ];
                            if self.rng.chance(30) {
                                hunk.push(Json::Int(self.rng.range(0, 5)));
                            }
                            Json::Arr(hunk)
                        })
                        .collect();
                    commit.push(("hunks", Json::Arr(hunks)));
                }
                Json::Obj(commit)
            })
            .collect();
        Json::Obj(vec![
            ("push_id", Json::Int(self.rng.range(1_000_000, 99_999_999))),
            ("size", Json::Int(size)),
            ("ref", Json::s("refs/heads/main")),
            ("head", Json::s(self.rng.sha())),
            ("before", Json::s(self.rng.sha())),
            ("commits", Json::Arr(commits)),
        ])
    }

    fn issue_payload(&mut self) -> Json {
        let body = if self.rng.chance(25) {
            Json::Null
        } else {
            Json::s(format!(
                "Steps:\n1. run `dlt-rs load`\n2. see \"{}\"",
                self.rng.pick(TITLES)
            ))
        };
        Json::Obj(vec![
            (
                "action",
                Json::s(self.rng.pick(&["opened", "closed", "reopened"])),
            ),
            (
                "issue",
                Json::Obj(vec![
                    ("number", Json::Int(self.rng.range(1, 20_000))),
                    ("title", Json::s(self.rng.pick(TITLES))),
                    ("body", body),
                    ("state", Json::s(self.rng.pick(&["open", "closed"]))),
                    ("comments", Json::Int(self.rng.range(0, 40))),
                    (
                        "reactions",
                        Json::Obj(vec![
                            ("total_count", Json::Int(self.rng.range(0, 50))),
                            ("+1", Json::Int(self.rng.range(0, 30))),
                            ("heart", Json::Int(self.rng.range(0, 10))),
                        ]),
                    ),
                ]),
            ),
        ])
    }

    fn pull_request_payload(&mut self) -> Json {
        let reviewers = (0..self.rng.below(3))
            .map(|_| Json::Obj(vec![("login", Json::s(self.login()))]))
            .collect();
        let merged = self.rng.chance(40);
        Json::Obj(vec![
            (
                "action",
                Json::s(self.rng.pick(&["opened", "closed", "synchronize"])),
            ),
            ("number", Json::Int(self.rng.range(1, 20_000))),
            (
                "pull_request",
                Json::Obj(vec![
                    ("id", Json::Int(self.rng.range(100_000, 999_999_999))),
                    ("title", Json::s(self.rng.pick(TITLES))),
                    ("merged", Json::Bool(merged)),
                    (
                        "merged_at",
                        if merged {
                            Json::s(iso_timestamp(self.clock + self.rng.range(60, 86_400)))
                        } else {
                            Json::Null
                        },
                    ),
                    ("additions", Json::Int(self.rng.range(0, 5_000))),
                    ("deletions", Json::Int(self.rng.range(0, 3_000))),
                    ("review_score", Json::Float(self.rng.float(0.0, 5.0))),
                    ("requested_reviewers", Json::Arr(reviewers)),
                    (
                        "head",
                        Json::Obj(vec![
                            ("ref", Json::s(format!("feature/{}", self.login()))),
                            ("sha", Json::s(self.rng.sha())),
                        ]),
                    ),
                ]),
            ),
        ])
    }

    fn create_payload(&mut self) -> Json {
        let ref_type = self.rng.pick(&["branch", "tag", "repository"]);
        let git_ref = match ref_type {
            "tag" => Json::s(format!(
                "v{}.{}.{}",
                self.rng.below(3),
                self.rng.below(20),
                self.rng.below(10)
            )),
            "branch" => Json::s(format!("feature/{}", self.login())),
            _ => Json::Null,
        };
        let description = if self.rng.chance(50) {
            Json::Null
        } else {
            Json::s(self.rng.pick(TITLES))
        };
        Json::Obj(vec![
            ("ref", git_ref),
            ("ref_type", Json::s(ref_type)),
            ("master_branch", Json::s("main")),
            ("description", description),
            ("size_mb", Json::Float(self.rng.float(0.0, 512.0))),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(rows: u64, seed: u64) -> Vec<String> {
        let mut generator = Generator::new(seed);
        (0..rows)
            .map(|_| {
                let mut line = String::new();
                generator.next_event().write(&mut line);
                line
            })
            .collect()
    }

    #[test]
    fn is_deterministic() {
        assert_eq!(lines(200, 7), lines(200, 7));
        assert_ne!(lines(200, 7), lines(200, 8));
    }

    #[test]
    fn lines_are_single_objects_with_the_expected_shape() {
        let all = lines(2_000, 42);
        for line in &all {
            assert!(
                line.starts_with("{\"id\":\"3") && line.ends_with('}'),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
        let joined = all.join("\n");
        for needle in [
            "\"commits\":[{",
            "\"files\":[\"",
            "\"hunks\":[[",
            "\"org\":null",
            "\"display_name\":null",
            "\\\"Zed\\\"",
            "李小龍",
            "\\n",
            "\\t",
            "\\\\",
            ".0,",
        ] {
            assert!(joined.contains(needle), "no {needle:?} in 2000 events");
        }
    }

    #[test]
    fn writes_json_values() {
        let mut out = String::new();
        Json::Obj(vec![
            ("a", Json::Float(3.0)),
            ("b", Json::Float(2.5)),
            (
                "c",
                Json::Arr(vec![Json::Null, Json::Bool(true), Json::Int(-4)]),
            ),
            ("d", Json::s("q\"b\\n\nt\t\u{1}é")),
        ])
        .write(&mut out);
        assert_eq!(
            out,
            r#"{"a":3.0,"b":2.5,"c":[null,true,-4],"d":"q\"b\\n\nt\t\u0001é"}"#
        );
    }

    #[test]
    fn formats_timestamps() {
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_timestamp(START_EPOCH), "2024-03-01T00:00:00Z");
        assert_eq!(iso_timestamp(951_782_400 - 1), "2000-02-28T23:59:59Z");
        assert_eq!(iso_timestamp(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(iso_timestamp(1_735_689_599), "2024-12-31T23:59:59Z");
    }
}
