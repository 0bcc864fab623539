//! Tidy: the house rules of the source tree, as tests, in the spirit of rust-analyzer's
//! `xtask/src/tidy.rs`. They run with `cargo test -p xtask`, so with `cargo test --workspace`
//! and `cargo xtask test`. Each rule is one test that reads the workspace's sources and lists
//! `file:line` of every violation:
//!
//! 1. every `.rs` file under `crates/`, `xtask/` and `tests/` opens with a `//!` comment;
//! 2. SQL is put together with `format!` only in `dest-sql` and the dialect modules;
//! 3. no `Result<_, String>` in a public signature of a library crate;
//! 4. no derived `Debug` on a struct that holds a credential as plain text;
//! 5. every destination crate is linked into the CLI, so its `inventory::submit!` runs.
//!
//! What violated a rule when it was written is listed in the rule's allowlist, which may only
//! shrink: an entry that no longer violates fails the test too. The parsing is line-based,
//! over the source with comments and the insides of literals blanked out: simple, and enough
//! for the code of this workspace (it is not a Rust parser; a rule that misreads some code
//! should be made simpler to satisfy, not cleverer).

#![cfg(test)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// Allowlists: violations that predate the rules. Only ever remove entries.

/// Rule 1 (`path`): files that do not open with a `//!` comment.
const DOC_COMMENT_ALLOWED: &[&str] = &[];

/// Rule 2 (`path`): files that put SQL together with `format!` outside [`SQL_HOMES`].
const SQL_FORMAT_ALLOWED: &[&str] = &[];

/// Rule 3 (`path:item`): public signatures with a `Result<_, String>`.
const RESULT_STRING_ALLOWED: &[&str] = &[];

/// Rule 4 (`path:Struct`): structs that derive `Debug` and hold a credential as text.
const CREDENTIAL_DEBUG_ALLOWED: &[&str] = &[];

/// Rule 5 (package name): destination crates the CLI does not link.
const DESTINATION_LINK_ALLOWED: &[&str] = &[];

// ---------------------------------------------------------------------------------------------
// Scopes of the rules.

/// Rule 2: where SQL is put together: the SQL generator, the dialect modules and the
/// sources (their catalog queries and read statements).
const SQL_HOMES: &[&str] = &[
    "crates/dest-sql/src/",
    "crates/dest-postgres/src/sql.rs",
    "crates/dest-sqlite/src/sql.rs",
    "crates/source-sql/src/postgres.rs",
    "crates/source-sql/src/mysql.rs",
    "crates/source-sql/src/sqlite.rs",
];

/// Rule 2: code that only tests or measures, exempt like `tests/` folders and `#[cfg(test)]`
/// modules: the destination test suite and test helpers (dev-dependencies only), and this
/// crate (benchmarks and the end-to-end check talk to PostgreSQL through `psql`).
const SQL_EXEMPT: &[&str] = &["crates/dest-test/", "crates/test-support/", "xtask/"];

/// Rule 2: statements SQL begins with (a capitalized one anywhere in a format string is SQL;
/// a lower-case one only where a statement begins: first, or after a `;`).
const SQL_KEYWORDS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "TRUNCATE", "MERGE",
];

/// Rule 2: a lower-case keyword that begins a format string (or follows a `;`) is SQL when one
/// of the next two words is one of these (any word when none are listed): `merge strategy` is
/// English, `merge into` is SQL.
const SQL_LOWER_CASE_STATEMENTS: &[(&str, &[&str])] = &[
    ("select", &[]),
    ("insert", &["into"]),
    ("update", &["set"]),
    ("delete", &["from"]),
    ("create", SQL_OBJECTS),
    ("alter", SQL_OBJECTS),
    ("drop", SQL_OBJECTS),
    ("truncate", &[]),
    ("merge", &["into"]),
];

/// Rule 2: what `create`, `alter` and `drop` act on.
const SQL_OBJECTS: &[&str] = &[
    "table",
    "schema",
    "index",
    "unique",
    "temporary",
    "temp",
    "view",
    "role",
    "database",
    "or",
    "type",
    "function",
    "sequence",
    "column",
];

/// Rule 2: a comment on the line of a `format!` or the line before it that says its format
/// string is not SQL (a message that shows SQL to the user, a privilege's name).
const NOT_SQL_MARKER: &str = "tidy: not SQL";

/// Rule 3: files of library crates that are not library code.
const NOT_LIBRARY: &[&str] = &["crates/cli/src/main.rs"];

/// Rule 4: field names that hold a credential.
const CREDENTIAL_FIELDS: &[&str] = &["password", "secret", "token", "credentials", "private_key"];

/// Rule 5: `crates/dest-*` folders that are not destinations.
const NOT_DESTINATIONS: &[&str] = &["dest-core", "dest-sql", "dest-test"];

// ---------------------------------------------------------------------------------------------
// The rules.

#[test]
fn every_rust_file_opens_with_a_doc_comment() {
    let mut found = Vec::new();
    for s in sources() {
        let first = s
            .text
            .lines()
            .enumerate()
            .find(|(_, l)| !l.trim().is_empty());
        match first {
            Some((_, l)) if l.trim_start().starts_with("//!") => {}
            Some((i, l)) => found.push(Violation::new(
                &s.path,
                format!("{}:{}", s.path, i + 1),
                format!(
                    "the first line is `{}`, not a `//!` comment saying what the file is",
                    l.trim()
                ),
            )),
            None => found.push(Violation::new(
                &s.path,
                format!("{}:1", s.path),
                "the file is empty: it needs a `//!` comment saying what it is".into(),
            )),
        }
    }
    enforce(
        "every .rs file opens with a `//!` comment (nothing before it: no attribute, no shebang)",
        "DOC_COMMENT_ALLOWED",
        DOC_COMMENT_ALLOWED,
        found,
    );
}

#[test]
fn sql_is_formatted_only_in_the_sql_modules() {
    let mut found = Vec::new();
    for s in sources() {
        if s.is_test_file()
            || SQL_HOMES.iter().any(|h| s.path.starts_with(h))
            || SQL_EXEMPT.iter().any(|h| s.path.starts_with(h))
        {
            continue;
        }
        let cut = s.test_start();
        for at in macro_calls(&s.code[..cut], "format!") {
            let Some(literal) = first_string_literal(&s.text, &s.code, at) else {
                continue;
            };
            let line = s.line_of(at);
            let marked = s
                .text
                .lines()
                .skip(line.saturating_sub(2))
                .take(if line > 1 { 2 } else { 1 })
                .any(|l| l.contains(NOT_SQL_MARKER));
            if marked {
                continue;
            }
            if let Some(keyword) = sql_keyword(literal) {
                let shown: String = literal.chars().take(60).collect();
                found.push(Violation::new(
                    &s.path,
                    format!("{}:{}", s.path, line),
                    format!("`{keyword}` in the format string \"{shown}\""),
                ));
            }
        }
    }
    enforce(
        "SQL (SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, TRUNCATE, MERGE) is put \
         together with `format!` only in crates/dest-sql/src and the dialect modules \
         (crates/dest-postgres/src/sql.rs, crates/dest-sqlite/src/sql.rs), where identifiers \
         and literals are quoted by the dialect; a format string that is not SQL can say so \
         with a comment `// tidy: not SQL` on the line of the `format!` or the line before",
        "SQL_FORMAT_ALLOWED",
        SQL_FORMAT_ALLOWED,
        found,
    );
}

#[test]
fn public_signatures_of_library_crates_have_no_string_errors() {
    let mut found = Vec::new();
    for s in sources() {
        if !is_library_source(&s.path) || NOT_LIBRARY.contains(&s.path.as_str()) {
            continue;
        }
        for f in public_fns(&s.code[..s.test_start()]) {
            if result_with_string_error(&f.signature) {
                found.push(Violation::new(
                    &format!("{}:{}", s.path, f.item),
                    format!("{}:{}", s.path, f.line),
                    format!("`{}` returns or takes a `Result<_, String>`", f.item),
                ));
            }
        }
    }
    enforce(
        "no `Result<_, String>` in a `pub fn` or a method of a `pub trait` of a library crate \
         (use an error type: callers cannot match on a string)",
        "RESULT_STRING_ALLOWED",
        RESULT_STRING_ALLOWED,
        found,
    );
}

#[test]
fn structs_that_hold_credentials_as_text_do_not_derive_debug() {
    let mut found = Vec::new();
    for s in sources() {
        if s.is_test_file() {
            continue;
        }
        for d in debug_structs(&s.code[..s.test_start()]) {
            for (line, field, ty) in d.fields {
                if CREDENTIAL_FIELDS.contains(&field.as_str()) && is_plain_text(&ty) {
                    found.push(Violation::new(
                        &format!("{}:{}", s.path, d.name),
                        format!("{}:{}", s.path, line),
                        format!(
                            "`{}` derives `Debug` and its field `{field}: {ty}` would print \
                             the credential",
                            d.name
                        ),
                    ));
                }
            }
        }
    }
    enforce(
        "a struct with a credential field (password, secret, token, credentials, private_key) \
         holds it as `dest_core::Secret` (whose `Debug` prints `***`) or writes its own `Debug`",
        "CREDENTIAL_DEBUG_ALLOWED",
        CREDENTIAL_DEBUG_ALLOWED,
        found,
    );
}

#[test]
fn every_destination_crate_is_linked_into_the_cli() {
    let root = workspace_root();
    let cli_manifest = read(&root.join("crates/cli/Cargo.toml"));
    let cli_code: String = sources()
        .iter()
        .filter(|s| s.path.starts_with("crates/cli/src/"))
        .map(|s| &s.code[..s.test_start()])
        .collect::<Vec<_>>()
        .join("\n");
    let mut destinations = Vec::new();
    for entry in read_dir(&root.join("crates")) {
        let dir = entry
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if dir.starts_with("dest-") && !NOT_DESTINATIONS.contains(&dir.as_str()) {
            destinations.push((dir, package_name(&read(&entry.join("Cargo.toml")))));
        }
    }
    assert!(
        !destinations.is_empty(),
        "no destination crate found under crates/"
    );
    let mut found = Vec::new();
    for (dir, package) in destinations {
        let package = package.unwrap_or_else(|| panic!("crates/{dir}/Cargo.toml has no name"));
        if !has_dependency(&cli_manifest, "dependencies", &package) {
            found.push(Violation::new(
                &package,
                "crates/cli/Cargo.toml".into(),
                format!("`{package}` is not in [dependencies]"),
            ));
        }
        let ident = package.replace('-', "_");
        if !has_word(&cli_code, &ident) {
            found.push(Violation::new(
                &package,
                "crates/cli/src".into(),
                format!(
                    "the CLI's code never names `{ident}`, so the linker may drop the crate and \
                     its registration (add `use {ident} as _;` to crates/cli/src/lib.rs)"
                ),
            ));
        }
    }
    enforce(
        "every destination crate (crates/dest-* but dest-core, dest-sql, dest-test) is a \
         dependency of the CLI and named in its code, so `inventory::submit!` registers it",
        "DESTINATION_LINK_ALLOWED",
        DESTINATION_LINK_ALLOWED,
        found,
    );
}

// ---------------------------------------------------------------------------------------------
// Reporting.

struct Violation {
    /// What an allowlist entry names.
    key: String,
    /// `file:line`.
    at: String,
    what: String,
}

impl Violation {
    fn new(key: &str, at: String, what: String) -> Self {
        Violation {
            key: key.to_string(),
            at,
            what,
        }
    }
}

/// Fails listing the violations not in `allowed`, and the entries of `allowed` that no
/// longer violate.
fn enforce(rule: &str, allowed_name: &str, allowed: &[&str], found: Vec<Violation>) {
    let mut message = String::new();
    let new: Vec<&Violation> = found
        .iter()
        .filter(|v| !allowed.contains(&v.key.as_str()))
        .collect();
    if !new.is_empty() {
        message.push_str(&format!("{} violation(s) of the rule:\n", new.len()));
        for v in &new {
            message.push_str(&format!("  {}: {}\n", v.at, v.what));
        }
    }
    let fixed: Vec<&&str> = allowed
        .iter()
        .filter(|k| !found.iter().any(|v| v.key == **k))
        .collect();
    if !fixed.is_empty() {
        message.push_str(&format!(
            "{} entr{} of `{allowed_name}` in xtask/src/tidy.rs no longer violate(s) the rule: \
             remove {}:\n",
            fixed.len(),
            if fixed.len() == 1 { "y" } else { "ies" },
            if fixed.len() == 1 { "it" } else { "them" },
        ));
        for k in fixed {
            message.push_str(&format!("  {k}\n"));
        }
    }
    assert!(message.is_empty(), "\nrule: {rule}\n{message}");
}

// ---------------------------------------------------------------------------------------------
// The sources.

struct Source {
    /// From the workspace root, with `/`.
    path: String,
    text: String,
    /// `text` with comments and the insides of string and character literals replaced by
    /// spaces: the same byte offsets and lines, and only code left to search.
    code: String,
}

impl Source {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset].matches('\n').count() + 1
    }

    /// Where test code begins: the first line `#[cfg(test)]` at column 0 (the end otherwise).
    fn test_start(&self) -> usize {
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            if line.trim_end() == "#[cfg(test)]" {
                return offset;
            }
            offset += line.len();
        }
        self.text.len()
    }

    fn is_test_file(&self) -> bool {
        self.path.starts_with("tests/") || self.path.contains("/tests/")
    }
}

fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", xtask.display()))
        .to_path_buf()
}

/// Every `.rs` file under `crates/`, `xtask/` and `tests/`, read once.
fn sources() -> &'static [Source] {
    static SOURCES: OnceLock<Vec<Source>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let root = workspace_root();
        let mut files = Vec::new();
        for dir in ["crates", "xtask", "tests"] {
            collect_rust_files(&root.join(dir), &mut files);
        }
        files.sort();
        let sources: Vec<Source> = files
            .into_iter()
            .map(|file| {
                let text = read(&file);
                let path = file
                    .strip_prefix(&root)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .replace('\\', "/");
                let code = blank(&text);
                Source { path, text, code }
            })
            .collect();
        assert!(
            sources.iter().any(|s| s.path == "xtask/src/tidy.rs"),
            "the sources were not found under {}",
            root.display()
        );
        sources
    })
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for path in read_dir(dir) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("reading the folder {}: {e}", dir.display()));
    entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("reading the folder {}: {e}", dir.display()))
                .path()
        })
        .collect()
}

fn read(file: &Path) -> String {
    fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `word` occurs in `text` with no identifier character on either side.
fn has_word(text: &str, word: &str) -> bool {
    let b = text.as_bytes();
    text.match_indices(word).any(|(i, _)| {
        let end = i + word.len();
        (i == 0 || !is_ident_byte(b[i - 1])) && (end == b.len() || !is_ident_byte(b[end]))
    })
}

/// Replaces comments and the insides of string and character literals with spaces (newlines
/// stay): the quotes stay, so a literal can still be found, and then read from the text.
fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let n = b.len();
    let mut out = b.to_vec();
    let mut clear = |from: usize, to: usize| {
        for c in &mut out[from..to.min(n)] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < n {
        let next = b.get(i + 1).copied();
        match b[i] {
            b'/' if next == Some(b'/') => {
                let end = text[i..].find('\n').map_or(n, |k| i + k);
                clear(i, end);
                i = end;
            }
            b'/' if next == Some(b'*') => {
                let (mut j, mut depth) = (i + 2, 1);
                while j < n && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                clear(i, j);
                i = j;
            }
            b'"' => {
                let end = string_end(b, i + 1);
                clear(i + 1, end);
                i = end + 1;
            }
            b'r' if raw_string_start(b, i) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes; // the `"`
                let end = raw_string_end(text, open + 1, hashes);
                clear(open + 1, end);
                i = end + 1 + hashes;
            }
            b'\'' => {
                // a character literal, or a lifetime (left as it is)
                if next == Some(b'\\') {
                    let end = text[i + 3..].find('\'').map_or(n, |k| i + 3 + k);
                    clear(i + 1, end);
                    i = end + 1;
                } else if let Some(c) = text[i + 1..].chars().next() {
                    let close = i + 1 + c.len_utf8();
                    if b.get(close) == Some(&b'\'') {
                        clear(i + 1, close);
                        i = close + 1;
                    } else {
                        i += 1;
                    }
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    // Only whole literals and comments were cleared, from and to ASCII delimiters.
    String::from_utf8(out).unwrap_or_else(|e| panic!("blanking left invalid UTF-8: {e}"))
}

/// The index of the `"` that ends a string whose contents start at `from`.
fn string_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    while j < b.len() && b[j] != b'"' {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    j.min(b.len())
}

/// Whether `b[i]` (an `r`) starts a raw string: `r"`, `r#"`, `br"`, not `for"` nor `r#ident`.
fn raw_string_start(b: &[u8], i: usize) -> bool {
    let before_ok = match i {
        0 => true,
        _ if b[i - 1] == b'b' => i == 1 || !is_ident_byte(b[i - 2]),
        _ => !is_ident_byte(b[i - 1]),
    };
    let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
    before_ok && b.get(i + 1 + hashes) == Some(&b'"')
}

/// The index of the `"` that ends a raw string with `hashes` `#`s whose contents start at
/// `from`.
fn raw_string_end(text: &str, from: usize, hashes: usize) -> usize {
    let close = format!("\"{}", "#".repeat(hashes));
    text[from..].find(&close).map_or(text.len(), |k| from + k)
}

// ---------------------------------------------------------------------------------------------
// Rule 2: format strings.

/// Offsets (in `code`) just past each `name` (e.g. `format!`) that is not part of a longer name.
fn macro_calls(code: &str, name: &str) -> Vec<usize> {
    let b = code.as_bytes();
    code.match_indices(name)
        .filter(|(i, _)| *i == 0 || !is_ident_byte(b[i - 1]))
        .map(|(i, _)| i + name.len())
        .collect()
}

/// The contents (escapes as written) of the string literal that is the first argument of the
/// macro whose name ends at `at`, if it is a literal.
fn first_string_literal<'t>(text: &'t str, code: &str, at: usize) -> Option<&'t str> {
    let b = code.as_bytes();
    let skip_space = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    let open = skip_space(at);
    if !matches!(b.get(open), Some(b'(' | b'[' | b'{')) {
        return None;
    }
    let start = skip_space(open + 1);
    match b.get(start)? {
        b'"' => Some(&text[start + 1..string_end(text.as_bytes(), start + 1)]),
        b'r' if raw_string_start(b, start) => {
            let hashes = b[start + 1..].iter().take_while(|&&c| c == b'#').count();
            let from = start + 2 + hashes;
            Some(&text[from..raw_string_end(text, from, hashes)])
        }
        _ => None,
    }
}

/// The SQL keyword in a format string: a capitalized keyword anywhere, or, where a statement
/// begins (first, or after a `;`), a lower-case one that begins a statement
/// ([`SQL_LOWER_CASE_STATEMENTS`]). The names of `{placeholders}` do not count.
fn sql_keyword(literal: &str) -> Option<&'static str> {
    let words = sql_words(literal);
    for (i, (word, statement_start)) in words.iter().enumerate() {
        if let Some(k) = SQL_KEYWORDS.iter().find(|k| *k == word) {
            return Some(k);
        }
        if !statement_start {
            continue;
        }
        let next = |k: usize| words.get(i + k).map(|(w, _)| w.to_ascii_lowercase());
        for (keyword, followers) in SQL_LOWER_CASE_STATEMENTS {
            let begins = keyword.eq_ignore_ascii_case(word)
                && (followers.is_empty()
                    || [next(1), next(2)]
                        .iter()
                        .flatten()
                        .any(|w| followers.contains(&w.as_str())));
            if begins {
                return SQL_KEYWORDS
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(keyword))
                    .copied();
            }
        }
    }
    None
}

/// The words of a format string, each with whether a statement begins at it (the first
/// word, or the first after a `;`); placeholders left out, escapes (`\n`, `\"`) separate.
fn sql_words(literal: &str) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut statement_start = true;
    let mut in_placeholder = false;
    let mut chars = literal.chars().peekable();
    loop {
        let c = chars.next();
        if in_placeholder {
            in_placeholder = c.is_some_and(|c| c != '}');
            continue;
        }
        if let Some(c) = c.filter(|c| c.is_alphanumeric() || *c == '_') {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            words.push((std::mem::take(&mut word), statement_start));
            statement_start = false;
        }
        match c {
            None => return words,
            Some('\\') => {
                chars.next();
            }
            Some('{') if chars.peek() == Some(&'{') => {
                chars.next();
            }
            Some('{') => in_placeholder = true,
            Some(';') => statement_start = true,
            Some(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rule 3: public signatures.

/// Files of library crates: `crates/<crate>/src/`.
fn is_library_source(path: &str) -> bool {
    let mut parts = path.split('/');
    parts.next() == Some("crates") && parts.next().is_some() && parts.next() == Some("src")
}

struct PublicFn {
    /// `name`, or `Type::name` in an `impl` or a trait.
    item: String,
    line: usize,
    /// From `fn` to the `{` or `;` that ends the signature, lines joined.
    signature: String,
}

/// A block that names the functions in it.
struct Scope {
    /// The brace depth inside the block.
    depth: usize,
    name: String,
    public_trait: bool,
}

/// `pub fn`s, and the methods of `pub trait`s.
fn public_fns(code: &str) -> Vec<PublicFn> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut scopes: Vec<Scope> = Vec::new();
    let mut header: Option<(String, bool)> = None;
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if let Some(h) = block_header(line) {
            header = Some(h);
        }
        if let Some((name, public)) = fn_header(line) {
            let scope = scopes.last().filter(|s| s.depth == depth);
            if public || scope.is_some_and(|s| s.public_trait) {
                let item = match scope {
                    Some(s) => format!("{}::{name}", s.name),
                    None => name,
                };
                found.push(PublicFn {
                    item,
                    line: i + 1,
                    signature: signature(&lines[i..]),
                });
            }
        }
        for c in line.bytes() {
            match c {
                b'{' => {
                    depth += 1;
                    if let Some((name, public_trait)) = header.take() {
                        scopes.push(Scope {
                            depth,
                            name,
                            public_trait,
                        });
                    }
                }
                b'}' => {
                    depth = depth.saturating_sub(1);
                    while scopes.last().is_some_and(|s| s.depth > depth) {
                        scopes.pop();
                    }
                }
                b';' => header = None,
                _ => {}
            }
        }
    }
    found
}

/// `Some((name, public))` for a line that begins a function.
fn fn_header(line: &str) -> Option<(String, bool)> {
    let public = line.starts_with("pub ");
    let mut rest = line.strip_prefix("pub ").unwrap_or(line);
    if let Some(r) = rest.strip_prefix("pub(") {
        rest = r.split_once(')')?.1.trim_start();
    }
    loop {
        if let Some(r) = ["const ", "async ", "unsafe ", "default "]
            .iter()
            .find_map(|q| rest.strip_prefix(q))
        {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("extern ") {
            // `extern "C" fn`: the ABI's literal is blanked, its quotes stay
            rest = match r.strip_prefix('"') {
                Some(abi) => abi.split_once('"')?.1.trim_start(),
                None => r,
            };
        } else {
            break;
        }
    }
    let name: String = rest
        .strip_prefix("fn ")?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some((name, public))
}

/// `Some((name, public trait))` for a line that begins an `impl` or a `trait`.
fn block_header(line: &str) -> Option<(String, bool)> {
    let public = line.starts_with("pub ");
    let mut rest = line.strip_prefix("pub ").unwrap_or(line);
    if let Some(r) = rest.strip_prefix("pub(") {
        rest = r.split_once(')')?.1.trim_start();
    }
    rest = rest.strip_prefix("unsafe ").unwrap_or(rest);
    if let Some(r) = rest.strip_prefix("trait ") {
        return Some((path_head(r), public));
    }
    let r = rest.strip_prefix("impl")?;
    let r = match r.strip_prefix('<') {
        Some(generics) => after_closing_angle(generics)?,
        None if r.starts_with(' ') => r,
        None => return None,
    };
    let r = match r.rfind(" for ") {
        Some(k) => &r[k + 5..],
        None => r,
    };
    Some((path_head(r), false))
}

/// The text after the `>` that closes an already opened `<`.
fn after_closing_angle(s: &str) -> Option<&str> {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if !s[..i].ends_with('-') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[i + 1..]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The last segment of the path at the start of `s`: `Foo` of `crate::x::Foo<T> {`.
fn path_head(s: &str) -> String {
    let s = s
        .trim_start()
        .trim_start_matches('&')
        .trim_start_matches("dyn ");
    let path: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let last = path.rsplit("::").next().unwrap_or_default();
    last.split(':').next().unwrap_or_default().to_string() // `Trait:` of `Trait: Bound`
}

/// The signature that starts at `lines[0]`: up to the `{` or `;` outside brackets.
fn signature(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut depth = 0i32;
    for line in lines {
        for c in line.trim().chars() {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                '{' | ';' if depth <= 0 => return out,
                _ => {}
            }
            out.push(c);
        }
        out.push(' ');
    }
    out
}

/// Whether a `Result<_, String>` (any path to `Result`) occurs in `signature`.
fn result_with_string_error(signature: &str) -> bool {
    let b = signature.as_bytes();
    let mut from = 0;
    while let Some(k) = signature[from..].find("Result<") {
        let start = from + k;
        from = start + "Result<".len();
        if start > 0 && is_ident_byte(b[start - 1]) {
            continue; // `MyResult<`
        }
        let (mut depth, mut arg_start) = (0, from);
        let mut args = Vec::new();
        for j in from..b.len() {
            match b[j] {
                b'<' | b'(' | b'[' => depth += 1,
                b'>' if b[j - 1] == b'-' => {}
                b'>' | b')' | b']' if depth == 0 => {
                    args.push(signature[arg_start..j].trim());
                    break;
                }
                b'>' | b')' | b']' => depth -= 1,
                b',' if depth == 0 => {
                    args.push(signature[arg_start..j].trim());
                    arg_start = j + 1;
                }
                _ => {}
            }
        }
        if args.len() == 2
            && matches!(
                args[1],
                "String" | "std::string::String" | "alloc::string::String"
            )
        {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Rule 4: structs that derive Debug.

struct DebugStruct {
    name: String,
    /// `(line, name, type)`.
    fields: Vec<(usize, String, String)>,
}

/// The structs with named fields under a `#[derive(..., Debug, ...)]`.
fn debug_structs(code: &str) -> Vec<DebugStruct> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    let mut derives_debug = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with("#[") || line.starts_with("#![") {
            // an attribute, maybe over several lines
            let mut attribute = line.to_string();
            let mut open = brackets(line);
            while open > 0 && i + 1 < lines.len() {
                i += 1;
                attribute.push(' ');
                attribute.push_str(lines[i].trim());
                open += brackets(lines[i]);
            }
            if attribute.starts_with("#[derive(") && has_word(&attribute, "Debug") {
                derives_debug = true;
            }
            i += 1;
            continue;
        }
        if line.is_empty() {
            i += 1;
            continue;
        }
        if derives_debug {
            if let Some(name) = struct_name(line) {
                let (fields, next) = struct_fields(&lines, i);
                found.push(DebugStruct { name, fields });
                derives_debug = false;
                i = next;
                continue;
            }
        }
        derives_debug = false;
        i += 1;
    }
    found
}

fn brackets(line: &str) -> i32 {
    line.bytes()
        .map(|c| match c {
            b'[' => 1,
            b']' => -1,
            _ => 0,
        })
        .sum()
}

/// The name of the struct a line declares.
fn struct_name(line: &str) -> Option<String> {
    let mut rest = line.strip_prefix("pub ").unwrap_or(line);
    if let Some(r) = rest.strip_prefix("pub(") {
        rest = r.split_once(')')?.1.trim_start();
    }
    let name: String = rest
        .strip_prefix("struct ")?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The named fields of the struct declared at `lines[start]`, and the index of the line after
/// it. A tuple or unit struct has none.
fn struct_fields(lines: &[&str], start: usize) -> (Vec<(usize, String, String)>, usize) {
    let mut fields = Vec::new();
    let mut depth = 0i32;
    let mut opened = false;
    for (i, raw) in lines.iter().enumerate().skip(start) {
        let line = raw.trim();
        if depth == 1 && i > start {
            if let Some((name, ty)) = field(line) {
                fields.push((i + 1, name, ty));
            }
        }
        for c in line.bytes() {
            match c {
                b'{' => {
                    depth += 1;
                    opened = true;
                }
                b'}' => depth -= 1,
                b';' | b'(' if !opened => return (fields, i + 1),
                _ => {}
            }
        }
        if opened && depth <= 0 {
            return (fields, i + 1);
        }
    }
    (fields, lines.len())
}

/// `(name, type)` of a line `pub name: Type,`.
fn field(line: &str) -> Option<(String, String)> {
    let mut rest = line.strip_prefix("pub ").unwrap_or(line);
    if let Some(r) = rest.strip_prefix("pub(") {
        rest = r.split_once(')')?.1.trim_start();
    }
    let (name, ty) = rest.split_once(':')?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_ident_byte) || ty.starts_with(':') {
        return None;
    }
    Some((
        name.to_string(),
        ty.trim().trim_end_matches(',').trim().to_string(),
    ))
}

/// Whether a field of type `ty` holds text whose `Debug` prints it.
fn is_plain_text(ty: &str) -> bool {
    let ty: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    let ty = ty
        .replace("std::string::", "")
        .replace("alloc::string::", "")
        .replace("std::option::", "");
    if let Some(inner) = ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>')) {
        return is_plain_text(inner);
    }
    ty == "String" || ty == "Box<str>" || (ty.starts_with('&') && ty.ends_with("str"))
}

// ---------------------------------------------------------------------------------------------
// Rule 5: manifests.

/// The `name` of a manifest's `[package]`.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name") {
                let value = value.trim_start().strip_prefix('=')?.trim();
                return Some(value.trim_matches('"').to_string());
            }
        }
    }
    None
}

/// Whether the manifest's `[section]` names the package `name` (as its key, or renamed
/// with `package = "name"`).
fn has_dependency(manifest: &str, section: &str, name: &str) -> bool {
    let header = format!("[{section}]");
    let mut in_section = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == header;
        } else if in_section {
            let key_matches = line
                .strip_prefix(name)
                .is_some_and(|r| r.starts_with(['.', ' ', '=']));
            let renamed = line.contains(&format!("package = \"{name}\""));
            if key_matches || renamed {
                return true;
            }
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// The parsing, on examples.

#[test]
fn blanking_keeps_offsets_and_clears_comments_and_literals() {
    let text = "let a = \"x // y\"; // z\nlet b = r#\"q\"#; /* c */ let c = '{'; fn f<'a>() {}\n";
    let code = blank(text);
    assert_eq!(code.len(), text.len());
    assert_eq!(
        code,
        "let a = \"      \";     \nlet b = r#\" \"#;         let c = ' '; fn f<'a>() {}\n"
    );
    assert_eq!(blank("'\\''; 'é'; x"), "'  '; '  '; x");
}

#[test]
fn format_strings_with_sql_are_found() {
    let text = "let s = format!(\n    \"{}; DELETE FROM {}\", a);\nformat!(r\"select 1\");\n\
                format!(\"could not create {select}\");\nformat!(\"{x}\\nUPDATE t\");\n\
                format!(\"merge strategy `upsert`\");\nformat!(\"{a}; drop table {b}\");\n\
                format!(\"update {} set x\");\n";
    let code = blank(text);
    let hits: Vec<Option<&str>> = macro_calls(&code, "format!")
        .into_iter()
        .map(|at| first_string_literal(text, &code, at).and_then(sql_keyword))
        .collect();
    assert_eq!(
        hits,
        [
            Some("DELETE"),
            Some("SELECT"),
            None,
            Some("UPDATE"),
            None,
            Some("DROP"),
            Some("UPDATE")
        ]
    );
}

#[test]
fn public_signatures_are_found() {
    let code = "pub trait T: X {\n    fn a(&self) -> Result<String, String>;\n    fn b(&self) {\n        fn inner() -> Result<(), String> {}\n    }\n}\n\
                impl<T> Foo<T> {\n    pub fn c(\n        x: [u8; 2],\n    ) -> std::result::Result<Vec<(u8, u8)>, String> {\n    }\n    fn d() -> Result<(), String> {}\n}\n\
                trait Private {\n    fn e() -> Result<(), String>;\n}\npub(crate) fn f() -> Result<(), String> {}\n\
                pub fn g(f: impl Fn() -> Result<u8, Error>) -> Result<String> {}\n";
    let flagged: Vec<String> = public_fns(code)
        .into_iter()
        .filter(|f| result_with_string_error(&f.signature))
        .map(|f| format!("{}:{}", f.item, f.line))
        .collect();
    assert_eq!(flagged, ["T::a:2", "Foo::c:8"]);
}

#[test]
fn debug_structs_with_credentials_are_found() {
    let code = "#[derive(Clone,\n    Debug)]\n#[serde(default)]\npub struct A {\n    pub password: Option<String>,\n    #[arg(long)]\n    token: Secret,\n}\n\
                #[derive(Default)]\nstruct B {\n    password: String,\n}\n#[derive(Debug)]\nstruct C(String);\n";
    let structs = debug_structs(code);
    let names: Vec<&str> = structs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["A", "C"]);
    let a: Vec<(usize, &str, bool)> = structs[0]
        .fields
        .iter()
        .map(|(l, n, t)| (*l, n.as_str(), is_plain_text(t)))
        .collect();
    assert_eq!(a, [(5, "password", true), (7, "token", false)]);
}
