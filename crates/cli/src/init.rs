//! `dlt-rs init SOURCE DESTINATION`: scaffolds a Cargo project that runs a pipeline, as
//! `dlt init chess postgres` scaffolds a Python one. Sources: `chess`, `sql_database`,
//! `filesystem`, `rest_api`; each project's files are in `templates/<source>/`.
//!
//! The project depends on the dlt-rs crates by path when this binary was built from a
//! checkout that still exists (or `--dlt-rs-path` names one), and by crates.io version
//! otherwise. From a checkout the workspace's `Cargo.lock` is copied too, so the project
//! builds with the versions dlt-rs is tested with.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A project `init` makes: its source, the files from `templates/<source>/`, the dlt-rs
/// crates it depends on (package names, folders under `crates/`).
struct Template {
    source: &'static str,
    about: &'static str,
    files: &'static [(&'static str, &'static str)],
    crates: &'static [&'static str],
}

/// The projects `init` makes, one per source.
const TEMPLATES: &[Template] = &[
    Template {
        source: "chess",
        about: "chess.com player profiles and monthly game archives (dlt's `chess` example)",
        files: &[
            ("src/main.rs", include_str!("../templates/chess/main.rs")),
            (
                ".dlt/config.toml",
                include_str!("../templates/chess/config.toml"),
            ),
            (
                ".dlt/secrets.toml",
                include_str!("../templates/chess/secrets.toml"),
            ),
            (".gitignore", include_str!("../templates/chess/gitignore")),
            ("README.md", include_str!("../templates/chess/README.md")),
        ],
        crates: &["pipeline", "dest-postgres", "source-chess"],
    },
    Template {
        source: "sql_database",
        about: "the tables of a PostgreSQL database, typed and keyed (dlt's `sql_database`)",
        files: &[
            (
                "src/main.rs",
                include_str!("../templates/sql_database/main.rs"),
            ),
            (
                ".dlt/config.toml",
                include_str!("../templates/sql_database/config.toml"),
            ),
            (
                ".dlt/secrets.toml",
                include_str!("../templates/sql_database/secrets.toml"),
            ),
            (".gitignore", include_str!("../templates/chess/gitignore")),
            (
                "README.md",
                include_str!("../templates/sql_database/README.md"),
            ),
        ],
        crates: &["pipeline", "dest-postgres", "source-sql"],
    },
    Template {
        source: "filesystem",
        about: "JSON Lines, JSON, CSV and Parquet files of a folder, new and changed ones \
                each run (dlt's `filesystem`)",
        files: &[
            (
                "src/main.rs",
                include_str!("../templates/filesystem/main.rs"),
            ),
            (
                ".dlt/config.toml",
                include_str!("../templates/filesystem/config.toml"),
            ),
            (
                ".dlt/secrets.toml",
                include_str!("../templates/filesystem/secrets.toml"),
            ),
            (".gitignore", include_str!("../templates/chess/gitignore")),
            (
                "README.md",
                include_str!("../templates/filesystem/README.md"),
            ),
            (
                "data/items.jsonl",
                include_str!("../templates/filesystem/items.jsonl"),
            ),
        ],
        crates: &["pipeline", "dest-postgres", "source-fs"],
    },
    Template {
        source: "rest_api",
        about: "a REST API declared in dlt's RESTAPIConfig shape: paginators, auth, \
                incremental params, dependent resources (dlt's `rest_api`)",
        files: &[
            ("src/main.rs", include_str!("../templates/rest_api/main.rs")),
            (
                "rest_api.yaml",
                include_str!("../templates/rest_api/rest_api.yaml"),
            ),
            (
                ".dlt/config.toml",
                include_str!("../templates/rest_api/config.toml"),
            ),
            (
                ".dlt/secrets.toml",
                include_str!("../templates/rest_api/secrets.toml"),
            ),
            (".gitignore", include_str!("../templates/chess/gitignore")),
            ("README.md", include_str!("../templates/rest_api/README.md")),
        ],
        crates: &["pipeline", "dest-postgres", "source-rest"],
    },
];

/// What `dlt-rs init --list` prints: the sources, and the destinations of the registry.
pub fn list() -> String {
    let mut out = String::from("sources:\n");
    for t in TEMPLATES {
        out.push_str(&format!("  {:<14} {}\n", t.source, t.about));
    }
    out.push_str("destinations:\n");
    for name in dest_core::registry::names() {
        out.push_str(&format!("  {name}\n"));
    }
    out
}

/// Writes the project for `source` and `destination` into `dir`; returns the files written.
///
/// # Errors
/// An unknown source or destination (listing the known ones), a file that already exists
/// (nothing is written then), or a write that fails.
pub fn init(
    source: &str,
    destination: &str,
    dir: &Path,
    dlt_rs_path: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    let Some(template) = TEMPLATES.iter().find(|t| t.source == source) else {
        bail!(
            "unknown source `{source}`; known sources: {} (dlt-rs init --list)",
            TEMPLATES
                .iter()
                .map(|t| t.source)
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    dest_core::registry::find(destination)?;
    if destination != "postgres" {
        bail!("`dlt-rs init {source}` makes projects for the `postgres` destination only");
    }
    let name = package_name(dir, source);
    let checkout = match dlt_rs_path {
        Some(p) => Some(
            checkout_root(p, template.crates)
                .with_context(|| format!("{} is not a dlt-rs checkout", p.display()))?,
        ),
        None => built_from_checkout(template.crates),
    };
    let mut files: Vec<(PathBuf, String)> = template
        .files
        .iter()
        .map(|(path, text)| (dir.join(path), text.replace("{name}", &name)))
        .collect();
    files.push((
        dir.join("Cargo.toml"),
        cargo_toml(&name, template.crates, checkout.as_deref()),
    ));
    if let Some(root) = &checkout {
        if let Ok(lock) = std::fs::read_to_string(root.join("Cargo.lock")) {
            files.push((dir.join("Cargo.lock"), lock));
        }
    }
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already exist{}; nothing was written (run `dlt-rs init` in an empty folder)",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" }
        );
    }
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// A Cargo package name from the folder's name (`my chess` → `my_chess`), else
/// `<source>_pipeline`.
fn package_name(dir: &Path, source: &str) -> String {
    let base = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    match name.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => name,
        _ => format!("{source}_pipeline"),
    }
}

/// The checkout this binary was built from, when it still exists.
fn built_from_checkout(crates: &[&str]) -> Option<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    checkout_root(manifest_dir.parent()?.parent()?, crates)
}

/// `dir` when it holds the dlt-rs crates a project depends on.
fn checkout_root(dir: &Path, crates: &[&str]) -> Option<PathBuf> {
    let ok = crates
        .iter()
        .all(|c| dir.join("crates").join(c).join("Cargo.toml").is_file());
    ok.then(|| std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()))
}

fn cargo_toml(name: &str, crates: &[&str], checkout: Option<&Path>) -> String {
    let mut deps = String::new();
    for c in crates {
        match checkout {
            Some(root) => {
                let path = root.join("crates").join(c);
                let path = toml_string(&path.to_string_lossy());
                deps.push_str(&format!("{c} = {{ path = {path} }}\n"));
            }
            None => deps.push_str(&format!("{c} = \"{}\"\n", env!("CARGO_PKG_VERSION"))),
        }
    }
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\n{deps}\
         tokio = {{ version = \"1\", features = [\"rt-multi-thread\", \"macros\"] }}\n\
         anyhow = \"1\"\n\n\
         # a project of its own, also when made inside another Cargo workspace\n[workspace]\n"
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_toml_depends_by_path_from_a_checkout_and_by_version_otherwise() {
        let by_path = cargo_toml(
            "my_chess",
            TEMPLATES[0].crates,
            Some(Path::new("/src/dlt \"rs\"")),
        );
        expect_test::expect![[r#"
            [package]
            name = "my_chess"
            version = "0.1.0"
            edition = "2021"
            publish = false

            [dependencies]
            pipeline = { path = "/src/dlt \"rs\"/crates/pipeline" }
            dest-postgres = { path = "/src/dlt \"rs\"/crates/dest-postgres" }
            source-chess = { path = "/src/dlt \"rs\"/crates/source-chess" }
            tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
            anyhow = "1"

            # a project of its own, also when made inside another Cargo workspace
            [workspace]
        "#]]
        .assert_eq(&by_path);
        let by_version = cargo_toml("x", TEMPLATES[0].crates, None);
        assert!(
            by_version.contains("source-chess = \"0.0.0\""),
            "{by_version}"
        );
    }

    #[test]
    fn package_names_come_from_the_folder() {
        let dir = tempfile::Builder::new()
            .prefix("My Chess.")
            .tempdir()
            .unwrap();
        let name = package_name(dir.path(), "chess");
        assert!(name.starts_with("my_chess_"), "{name}");
        assert_eq!(
            package_name(Path::new("/nonexistent/9lives"), "chess"),
            "chess_pipeline"
        );
    }
}
