//! The benchmark's `events` data set: dlt's own test page of GitHub events, repeated.
//!
//! The page (`github.events.load_page_1_duck.json`, 100 events, one pretty-printed JSON array,
//! from dlt's test data, Apache-2.0 like dlt) ships gzip'ed in `xtask/bench/data/` and is written
//! as JSON Lines,
//! [`REPEAT`] times over: every event one line, its text as in the page minus the whitespace
//! between tokens (strings, numbers and key order untouched). The repeated rows are the same
//! rows, ids included: every method loads exactly these lines. It normalizes into a wide root
//! table (596 columns with dlt's naming) and six child tables.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

use crate::bench_gen::{Out, Written};

/// The page, relative to the workspace root.
pub(crate) const SOURCE: &str = "xtask/bench/data/github.events.load_page_1_duck.json.gz";
/// How many times the page is repeated.
pub(crate) const REPEAT: usize = 20;

/// Where the page is expected.
pub(crate) fn source_path(root: &Path) -> PathBuf {
    root.join(SOURCE)
}

/// The elements of the JSON array `text`, each without whitespace between its tokens.
pub(crate) fn array_elements(text: &str) -> Result<Vec<String>> {
    let mut elements = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let (mut in_string, mut escaped, mut started, mut closed) = (false, false, false, false);
    for c in text.chars() {
        if in_string {
            current.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{feff}') {
            continue;
        }
        if closed {
            bail!("text after the end of the array");
        }
        if !started {
            if c != '[' {
                bail!("not a JSON array (it starts with {c:?})");
            }
            started = true;
            depth = 1;
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                current.push(c);
            }
            '[' | '{' => {
                depth += 1;
                current.push(c);
            }
            ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    if c != ']' {
                        bail!("unbalanced brackets");
                    }
                    if !current.is_empty() {
                        elements.push(std::mem::take(&mut current));
                    }
                    closed = true;
                } else {
                    current.push(c);
                }
            }
            ',' if depth == 1 => {
                if current.is_empty() {
                    bail!("an empty array element");
                }
                elements.push(std::mem::take(&mut current));
            }
            c => current.push(c),
        }
    }
    if !closed {
        bail!("the array does not end");
    }
    Ok(elements)
}

/// Writes the page at `source` [`REPEAT`] times as JSON Lines to `jsonl`.
pub(crate) fn write_events(source: &Path, jsonl: &Path) -> Result<Written> {
    let mut text = String::new();
    std::fs::File::open(source)
        .map(flate2::read::GzDecoder::new)
        .and_then(|mut gz| std::io::Read::read_to_string(&mut gz, &mut text))
        .with_context(|| format!("could not read {}", source.display()))?;
    let events =
        array_elements(&text).with_context(|| format!("could not read {}", source.display()))?;
    if events.is_empty() {
        bail!("{} holds no events", source.display());
    }
    let mut block = String::new();
    for e in &events {
        block.push_str(e);
        block.push('\n');
    }
    let mut out = Out::create(jsonl)?;
    for _ in 0..REPEAT {
        out.put(&block)?;
    }
    out.finish()?;
    Ok(Written {
        rows: (events.len() * REPEAT) as u64,
        bytes: (block.len() * REPEAT) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_compacts_an_array() {
        let text = "[\n  {\"a\": \"x, y ]}\\\" z\",\n   \"b\" : [1, 2.50, {\"c\": null}]},\n  \
                    {\"d\": true}\n]\n";
        assert_eq!(
            array_elements(text).unwrap(),
            vec![
                "{\"a\":\"x, y ]}\\\" z\",\"b\":[1,2.50,{\"c\":null}]}".to_string(),
                "{\"d\":true}".to_string()
            ]
        );
        assert_eq!(array_elements(" [ ] ").unwrap(), Vec::<String>::new());
        assert!(array_elements("{}").is_err());
        assert!(array_elements("[1,,2]").is_err());
        assert!(array_elements("[1").is_err());
        assert!(array_elements("[1] 2").is_err());
    }
}
