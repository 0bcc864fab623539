//! Which files a list of arguments or a pattern names: directories (their files), shell
//! wildcards (`*`, `?`, `[a-z]`) in any part of a path, and `**` for any number of folders
//! in the patterns of a [`crate::FileStore`] listing.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crate::read::is_stdin;

/// Why the input arguments name no files to read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// A wildcard pattern matched no file.
    #[error("no files match '{}'", .0.display())]
    NoMatch(PathBuf),
    /// A directory holds no (visible, regular) file.
    #[error("no files in the directory '{}'", .0.display())]
    EmptyDirectory(PathBuf),
    /// `-` was given more than once.
    #[error("standard input ('-') can be read only once")]
    StdinTwice,
    /// A directory could not be listed.
    #[error("reading {}: {}", .0.display(), .1)]
    Read(PathBuf, #[source] std::io::Error),
}

/// The files the arguments of `dlt-rs load` name, in order: `-` (standard input) and files
/// as they are; a directory: its files (not its subdirectories, not hidden files) sorted by
/// name; a path that does not exist and holds `*`, `?` or `[...]`: the files matching it,
/// sorted (a pattern quoted so the shell does not expand it). A directory or pattern
/// without files is an error; a missing plain file is left for opening to report.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>, ExpandError> {
    let mut files = Vec::with_capacity(args.len());
    let mut stdin = false;
    for arg in args {
        if is_stdin(arg) {
            if std::mem::replace(&mut stdin, true) {
                return Err(ExpandError::StdinTwice);
            }
            files.push(arg.clone());
            continue;
        }
        match std::fs::metadata(arg) {
            Ok(meta) if meta.is_dir() => {
                let found = directory_files(arg)?;
                if found.is_empty() {
                    return Err(ExpandError::EmptyDirectory(arg.clone()));
                }
                files.extend(found);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && has_wildcard(arg) => {
                let found = glob(arg)?;
                if found.is_empty() {
                    return Err(ExpandError::NoMatch(arg.clone()));
                }
                files.extend(found);
            }
            _ => files.push(arg.clone()),
        }
    }
    Ok(files)
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// The visible regular files of `dir` (symbolic links followed), sorted by name.
fn directory_files(dir: &Path) -> Result<Vec<PathBuf>, ExpandError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ExpandError::Read(dir.to_path_buf(), e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ExpandError::Read(dir.to_path_buf(), e))?;
        let name = entry.file_name();
        if !is_hidden(&name) && is_regular_file(&entry.path()) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

fn has_wildcard(path: &Path) -> bool {
    path.components().any(|c| match c {
        Component::Normal(name) => is_pattern(name),
        _ => false,
    })
}

fn is_pattern(name: &OsStr) -> bool {
    name.to_str().is_some_and(|s| s.contains(['*', '?', '[']))
}

/// The regular files matching `pattern` (wildcards in any of its parts), sorted.
fn glob(pattern: &Path) -> Result<Vec<PathBuf>, ExpandError> {
    let mut candidates = vec![PathBuf::new()];
    for component in pattern.components() {
        let Component::Normal(name) = component else {
            for c in &mut candidates {
                c.push(component.as_os_str());
            }
            continue;
        };
        let Some(part) = name.to_str().filter(|_| is_pattern(name)) else {
            for c in &mut candidates {
                c.push(name);
            }
            continue;
        };
        let part: Vec<char> = part.chars().collect();
        let mut next = Vec::new();
        for base in &candidates {
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            // a candidate that is no directory matches nothing below it
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(|e| ExpandError::Read(dir.to_path_buf(), e))?;
                let entry_name = entry.file_name();
                // as a shell: `*` does not match a leading dot
                if is_hidden(&entry_name) && part.first() != Some(&'.') {
                    continue;
                }
                let Some(text) = entry_name.to_str() else {
                    continue;
                };
                let text: Vec<char> = text.chars().collect();
                if wildcard_match(&part, &text) {
                    next.push(base.join(&entry_name));
                }
            }
        }
        candidates = next;
    }
    let mut files: Vec<PathBuf> = candidates
        .into_iter()
        .filter(|p| is_regular_file(p))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Whether `name` matches `pattern`: `*` any characters, `?` one, `[abc]`, `[a-z]`,
/// `[!a-z]` (or `[^a-z]`) one of (or none of) a set; anything else itself.
fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    // the last `*` seen and the name position it was tried at
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if pattern.get(p) == Some(&'*') {
            star = Some((p, n));
            p += 1;
            continue;
        }
        if let Some(next) = match_one(pattern, p, name[n]) {
            p = next;
            n += 1;
            continue;
        }
        match star {
            Some((sp, sn)) => {
                // let the `*` take one more character
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Where the pattern goes on when its token at `p` (not `*`) matches `c`.
fn match_one(pattern: &[char], p: usize, c: char) -> Option<usize> {
    match *pattern.get(p)? {
        '?' => Some(p + 1),
        '[' => match class(pattern, p, c) {
            Some((matched, end)) => matched.then_some(end),
            // no closing `]`: a plain `[`
            None => (c == '[').then_some(p + 1),
        },
        literal => (literal == c).then_some(p + 1),
    }
}

/// Whether `c` is in the set `[...]` starting at `p`, and where the pattern goes on after
/// it; `None` when the set is not closed.
fn class(pattern: &[char], p: usize, c: char) -> Option<(bool, usize)> {
    let mut i = p + 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let start = i;
    // a `]` right after the opening is a member
    if pattern.get(i) == Some(&']') {
        i += 1;
    }
    while *pattern.get(i)? != ']' {
        i += 1;
    }
    let members = &pattern[start..i];
    let mut k = 0;
    let mut found = false;
    while k < members.len() {
        if k + 2 < members.len() && members[k + 1] == '-' {
            found |= members[k] <= c && c <= members[k + 2];
            k += 3;
        } else {
            found |= members[k] == c;
            k += 1;
        }
    }
    Some((found != negated, i + 1))
}

/// Whether the relative path `rel` (parts separated by `/`) matches `pattern` (parts
/// separated by `/`; `**` as a whole part matches any number of folders, zero included;
/// other parts match one part each, as [`expand`]'s wildcards; a leading dot is matched
/// only by a part that starts with one), as Python's `glob(recursive=True)` does.
pub(crate) fn matches_relative(pattern: &str, rel: &str) -> bool {
    let pattern: Vec<Vec<char>> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(|p| p.chars().collect())
        .collect();
    let rel: Vec<Vec<char>> = rel
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| p.chars().collect())
        .collect();
    match_parts(&pattern, &rel)
}

fn match_parts(pattern: &[Vec<char>], rel: &[Vec<char>]) -> bool {
    let Some((first, rest)) = pattern.split_first() else {
        return rel.is_empty();
    };
    if first.as_slice() == ['*', '*'] {
        // zero folders, or one more (not a hidden one) and `**` again
        return match_parts(rest, rel)
            || rel
                .split_first()
                .is_some_and(|(r, more)| r.first() != Some(&'.') && match_parts(pattern, more));
    }
    let Some((r, more)) = rel.split_first() else {
        return false;
    };
    if r.first() == Some(&'.') && first.first() != Some(&'.') {
        return false;
    }
    wildcard_match(first, r) && match_parts(rest, more)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let n: Vec<char> = name.chars().collect();
        wildcard_match(&p, &n)
    }

    #[test]
    fn wildcards_match_as_a_shell() {
        assert!(m("*.jsonl", "a.jsonl"));
        assert!(m("*.jsonl", ".jsonl"));
        assert!(!m("*.jsonl", "a.jsonl.gz"));
        assert!(m("*.jsonl*", "a.jsonl.gz"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*", "xxaYYbZ"));
        assert!(!m("*a*b*", "xxbYYaZ"));
        assert!(m("part-[0-9].json", "part-7.json"));
        assert!(!m("part-[!0-9].json", "part-7.json"));
        assert!(m("part-[^0-9].json", "part-x.json"));
        assert!(m("[]x]", "]"));
        assert!(m("a[", "a["));
        assert!(m("*", ""));
        assert!(!m("?", ""));
    }

    #[test]
    fn directories_and_patterns_expand_sorted_and_nothing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.jsonl", "a.jsonl", "c.json", ".hidden.jsonl"] {
            std::fs::write(dir.path().join(name), "{}\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.jsonl")).unwrap();
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files
                .iter()
                .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
                .collect()
        };
        let all = expand(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(names(all), ["a.jsonl", "b.jsonl", "c.json"]);
        let jsonl = expand(&[dir.path().join("*.jsonl")]).unwrap();
        assert_eq!(names(jsonl), ["a.jsonl", "b.jsonl"]);
        let nested = expand(&[dir.path().join("*").join("x")]);
        assert!(matches!(nested, Err(ExpandError::NoMatch(_))));
        let none = expand(&[dir.path().join("*.csv")]).unwrap_err();
        assert!(none.to_string().starts_with("no files match '"), "{none}");
        let empty = dir.path().join("sub.jsonl");
        assert!(matches!(
            expand(&[empty]),
            Err(ExpandError::EmptyDirectory(_))
        ));
        let twice = expand(&[PathBuf::from("-"), PathBuf::from("-")]);
        assert!(matches!(twice, Err(ExpandError::StdinTwice)));
    }

    #[test]
    fn relative_patterns_match_with_double_star() {
        assert!(matches_relative("*", "a.jsonl"));
        assert!(!matches_relative("*", "sub/a.jsonl"));
        assert!(matches_relative("**/*.jsonl", "a.jsonl"));
        assert!(matches_relative("**/*.jsonl", "x/y/a.jsonl"));
        assert!(!matches_relative("**/*.jsonl", "x/.y/a.jsonl"));
        assert!(matches_relative("sub/*.csv", "sub/b.csv"));
        assert!(!matches_relative("sub/*.csv", "b.csv"));
        assert!(!matches_relative("*", ".hidden"));
        assert!(matches_relative("./*.csv", "b.csv"));
    }
}
