//! Reading input files: JSON Lines, one JSON array per file, or JSON objects (one
//! pretty-printed object, or several one after another), optionally gzip-compressed, and CSV
//! (`crate::csv`); `-` is standard input. Directories and wildcard patterns name several files
//! ([`crate::expand`]).
//!
//! Items stream: JSON Lines are read line by line and only validated (their text goes into
//! the load package as it is); a JSON array is parsed element by element on a reader
//! thread; objects that span lines are parsed one at a time. Every error names the file and
//! the line.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use pipeline::ItemError;

use crate::csv::{has_csv_extension, CsvItems, CsvOptions};
use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

/// One item as JSON text (one line, validated).
type Item = Result<Vec<u8>, ItemError>;

/// Opens the raw bytes of a file by the path it is named by (a [`crate::FileStore`]'s
/// reader); gzip and byte-order marks are handled on top. Local files: [`read_file`].
pub type RawOpen = Arc<dyn Fn(&Path) -> std::io::Result<Box<dyn Read + Send>> + Send + Sync>;

/// Opens local files.
fn local_open() -> RawOpen {
    Arc::new(|p: &Path| -> std::io::Result<Box<dyn Read + Send>> { Ok(Box::new(File::open(p)?)) })
}

type Reader = Box<dyn BufRead + Send>;

/// The argument that means standard input.
pub const STDIN: &str = "-";

/// Whether `path` is `-`, standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// Whether `path` is a Parquet file: by its extension (`.parquet`, `.pq`) or, for any other
/// name, by its first four bytes (`PAR1`). Parquet files load as Arrow data, not as items.
pub fn is_parquet(path: &Path) -> bool {
    if is_stdin(path) {
        return false;
    }
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("parquet" | "pq")) {
        return true;
    }
    let mut head = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == b"PAR1")
}

/// How errors and warnings name an input.
pub(crate) fn display_name(path: &Path) -> String {
    if is_stdin(path) {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}

fn err(path: &Path, position: String, message: impl Into<String>) -> ItemError {
    ItemError {
        source_name: display_name(path),
        position,
        message: message.into(),
    }
}

/// Reads up to `n` bytes from the start of `reader` (fewer at its end) and returns them
/// with the reader: what the caller does not consume of them it puts back with [`unread`].
fn peek(mut reader: Reader, n: usize) -> std::io::Result<(Vec<u8>, Reader)> {
    let mut head = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok((head, reader))
}

/// `head` followed by the rest of `reader`.
fn unread(head: Vec<u8>, reader: Reader) -> Reader {
    if head.is_empty() {
        reader
    } else {
        Box::new(Cursor::new(head).chain(reader))
    }
}

/// Opens `path` (`-`: standard input), transparently decompressing gzip (detected by its
/// magic bytes) and skipping a UTF-8 byte-order mark; UTF-16 text is an error.
fn open(path: &Path, raw_open: &RawOpen) -> Result<Reader, ItemError> {
    let raw: Reader = if is_stdin(path) {
        Box::new(BufReader::with_capacity(1 << 20, std::io::stdin()))
    } else {
        let file = raw_open(path).map_err(|e| err(path, "opening".into(), e.to_string()))?;
        Box::new(BufReader::with_capacity(1 << 20, file))
    };
    let reading = |e: std::io::Error| err(path, "reading".into(), e.to_string());
    let (magic, raw) = peek(raw, 2).map_err(reading)?;
    let reader = if magic == [0x1f, 0x8b] {
        let gz = flate2::bufread::MultiGzDecoder::new(unread(magic, raw));
        Box::new(BufReader::with_capacity(1 << 20, gz))
    } else {
        unread(magic, raw)
    };
    let (mut head, reader) = peek(reader, 3).map_err(reading)?;
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return Err(err(
            path,
            "line 1".into(),
            "UTF-16 text (byte-order mark); convert it to UTF-8",
        ));
    }
    if head == [0xef, 0xbb, 0xbf] {
        tracing::warn!(
            "{}: skipped the UTF-8 byte-order mark at its start",
            display_name(path)
        );
        head.clear();
    }
    Ok(unread(head, reader))
}

/// The items of every file, in order.
pub fn read_files(paths: Vec<PathBuf>, csv: CsvOptions) -> impl Iterator<Item = Item> + Send {
    paths.into_iter().flat_map(move |p| read_file(p, &csv))
}

/// The items of one file.
pub fn read_file(path: PathBuf, csv: &CsvOptions) -> Box<dyn Iterator<Item = Item> + Send> {
    read_file_with(path, csv, &local_open(), false)
}

/// The items of one file, its bytes opened by `raw_open` (errors name the file by `path`);
/// `as_csv`: read as CSV whatever its name (else CSV by a `.csv`/`.tsv` name or by content).
pub fn read_file_with(
    path: PathBuf,
    csv: &CsvOptions,
    raw_open: &RawOpen,
    as_csv: bool,
) -> Box<dyn Iterator<Item = Item> + Send> {
    match file_items(path, csv, raw_open, as_csv) {
        FileItems::Lines(lines) => Box::new(lines),
        FileItems::Csv(rows) => Box::new(rows),
        FileItems::Other(items) => items,
    }
}

/// The items of one file, as [`read_file`] reads them.
enum FileItems {
    /// JSON Lines (or JSON values, when the first line starts an object that spans lines).
    Lines(Lines),
    /// CSV: one item per data row.
    Csv(CsvItems),
    /// A JSON array, an empty file, or the error opening it.
    Other(Box<dyn Iterator<Item = Item> + Send>),
}

fn file_items(path: PathBuf, csv: &CsvOptions, raw_open: &RawOpen, as_csv: bool) -> FileItems {
    let other = |items: Box<dyn Iterator<Item = Item> + Send>| FileItems::Other(items);
    let csv_items = |path: PathBuf, stdin: Option<Reader>| {
        let stdin = std::sync::Mutex::new(stdin);
        let raw_open = raw_open.clone();
        let opener = move |p: &Path| -> Result<Reader, ItemError> {
            match stdin.lock().ok().and_then(|mut s| s.take()) {
                Some(r) => Ok(r),
                None => open(p, &raw_open),
            }
        };
        match CsvItems::open(path, csv, &opener) {
            Ok(rows) => FileItems::Csv(rows),
            Err(e) => other(Box::new(std::iter::once(Err(e)))),
        }
    };
    if (as_csv || has_csv_extension(&path)) && !is_stdin(&path) {
        return csv_items(path, None);
    }
    let mut reader = match open(&path, raw_open) {
        Ok(r) => r,
        Err(e) => return other(Box::new(std::iter::once(Err(e)))),
    };
    // skip leading whitespace (counting its lines) to see how the file starts
    let mut skipped_lines = 0u64;
    // what was skipped of standard input, given back to a CSV parser so it counts lines
    let mut skipped_stdin = Vec::new();
    let first = loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                return other(Box::new(std::iter::once(Err(err(
                    &path,
                    format!("line {}", skipped_lines + 1),
                    e.to_string(),
                )))))
            }
        };
        if buf.is_empty() {
            break None;
        }
        let blank = buf.iter().position(|b| !b.is_ascii_whitespace());
        let n = blank.unwrap_or(buf.len());
        skipped_lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        if is_stdin(&path) {
            skipped_stdin.extend_from_slice(&buf[..n]);
        }
        let first = blank.map(|i| buf[i]);
        reader.consume(n);
        if first.is_some() {
            break first;
        }
    };
    match first {
        None => other(Box::new(std::iter::empty())),
        Some(b'[') => other(Box::new(read_array(path, reader, skipped_lines + 1))),
        // neither an object nor an array: CSV (Parquet files are told apart before)
        Some(c) if c != b'{' => {
            let (head, reader) = match peek(reader, 4) {
                Ok(x) => x,
                Err(e) => {
                    return other(Box::new(std::iter::once(Err(err(
                        &path,
                        "line 1".into(),
                        e.to_string(),
                    )))))
                }
            };
            if head == b"PAR1" {
                return other(Box::new(std::iter::once(Err(err(
                    &path,
                    "line 1".into(),
                    "Parquet data here (from standard input, or compressed) is not supported; \
                     pass the path of an uncompressed Parquet file",
                )))));
            }
            skipped_stdin.extend_from_slice(&head);
            let reader = unread(skipped_stdin, reader);
            let stdin = is_stdin(&path).then_some(reader);
            csv_items(path, stdin)
        }
        Some(c) => FileItems::Lines(Lines {
            path,
            reader,
            line_no: skipped_lines,
            objects_may_span_lines: c == b'{',
            state: State::Lines,
        }),
    }
}

/// Where item `item` (1-based, counted over `files` in the order [`read_files`] yields
/// them) is, reading the files again: the file's name and the position in it, `line 7` for
/// JSON Lines, `item 3 of the file` for a JSON array or objects spanning lines. `None` when
/// the files (changed since?) hold fewer items or fail to read. Standard input cannot be
/// read again: an item in it or after it is named as far as it is known.
pub fn locate(files: &[PathBuf], item: u64, csv: &CsvOptions) -> Option<(String, String)> {
    let mut before = 0u64;
    for (i, path) in files.iter().enumerate() {
        let wanted = item.checked_sub(before).filter(|&k| k > 0)?;
        if is_stdin(path) {
            let position = if i + 1 == files.len() {
                format!("item {wanted} of it (it cannot be read again to find the line)")
            } else {
                format!(
                    "item {wanted} of it or a file after it (standard input cannot be read                      again to tell)"
                )
            };
            return Some((display_name(path), position));
        }
        let mut k = 0u64;
        match file_items(path.clone(), csv, &local_open(), false) {
            FileItems::Csv(mut rows) => {
                while let Some(next) = rows.next() {
                    next.ok()?;
                    k += 1;
                    if k == wanted {
                        return Some((display_name(path), format!("line {}", rows.line)));
                    }
                }
            }
            FileItems::Lines(mut lines) => {
                while let Some(next) = lines.next() {
                    next.ok()?;
                    k += 1;
                    if k == wanted {
                        let position = match lines.state {
                            State::Lines => format!("line {}", lines.line_no),
                            _ => format!("item {k} of the file"),
                        };
                        return Some((display_name(path), position));
                    }
                }
            }
            FileItems::Other(items) => {
                for next in items {
                    next.ok()?;
                    k += 1;
                    if k == wanted {
                        return Some((display_name(path), format!("item {k} of the file")));
                    }
                }
            }
        }
        before += k;
    }
    None
}

/// `line {n} column {c}` of a serde_json error, its line counted from `first_line`.
fn json_position(e: &serde_json::Error, first_line: u64) -> String {
    let line = (e.line() as u64).saturating_add(first_line.saturating_sub(1));
    format!("line {line} column {}", e.column())
}

/// A serde_json error's message without its own `at line L column C` (relative to where
/// the parser started, not to the file).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let text = text.strip_suffix(&suffix).unwrap_or(&text);
    format!("malformed JSON: {text}")
}

enum State {
    Lines,
    /// The file turned out to hold JSON values that span lines.
    Values(Box<dyn Iterator<Item = Item> + Send>),
    Done,
}

/// JSON Lines, validated line by line; when the first line is not a whole JSON value and
/// starts an object (`{` on a line of its own, a pretty-printed object), the file is read as
/// a sequence of JSON values instead ([`read_values`]).
struct Lines {
    path: PathBuf,
    reader: Reader,
    /// The lines read so far.
    line_no: u64,
    /// Whether the first line may start an object that spans lines.
    objects_may_span_lines: bool,
    state: State,
}

impl Iterator for Lines {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            match &mut self.state {
                State::Done => return None,
                State::Values(values) => return values.next(),
                State::Lines => {}
            }
            self.line_no += 1;
            let mut raw = Vec::new();
            match self.reader.read_until(b'\n', &mut raw) {
                Ok(0) => {
                    self.state = State::Done;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.state = State::Done;
                    return Some(Err(err(
                        &self.path,
                        format!("line {}", self.line_no),
                        format!("read error: {e}"),
                    )));
                }
            }
            let end = raw
                .iter()
                .rposition(|b| !b.is_ascii_whitespace())
                .map_or(0, |i| i + 1);
            if end == 0 {
                continue;
            }
            let checked = check_line(&raw[..end]);
            let first = std::mem::replace(&mut self.objects_may_span_lines, false);
            return Some(match checked {
                Ok(()) => {
                    raw.truncate(end);
                    Ok(raw)
                }
                Err(_) if first => {
                    // not JSON Lines: parse the file from this line on as JSON values
                    let rest = std::mem::replace(&mut self.reader, Box::new(std::io::empty()));
                    let values = read_values(self.path.clone(), unread(raw, rest), self.line_no);
                    self.state = State::Values(Box::new(values));
                    continue;
                }
                Err(e) => {
                    self.state = State::Done;
                    Err(err(
                        &self.path,
                        format!("line {}", self.line_no),
                        format!("malformed JSON: {e}"),
                    ))
                }
            });
        }
    }
}

/// Validates one line without building the document: its text goes into the package as it
/// is (`IgnoredAny` does not decode `\u` escapes, so a line with a surrogate escape is
/// parsed fully: a lone surrogate is malformed JSON).
fn check_line(line: &[u8]) -> Result<(), serde_json::Error> {
    match serde_json::from_slice::<IgnoredAny>(line) {
        Ok(_) if has_surrogate_escape(line) => serde_json::from_slice::<Value>(line).map(|_| ()),
        other => other.map(|_| ()),
    }
}

/// JSON values one after another (whitespace between them or not), one item each: a
/// pretty-printed object, or concatenated objects. `first_line` is the file's line the
/// reader starts at. One value is in memory at a time.
fn read_values(
    path: PathBuf,
    reader: Reader,
    first_line: u64,
) -> impl Iterator<Item = Item> + Send {
    let mut values = serde_json::Deserializer::from_reader(reader).into_iter::<Value>();
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let item = match values.next()? {
            Ok(v) => serde_json::to_vec(&v).map_err(|e| {
                err(
                    &path,
                    format!("line {first_line}"),
                    format!("malformed JSON: {e}"),
                )
            }),
            Err(e) => Err(err(&path, json_position(&e, first_line), json_message(&e))),
        };
        failed = item.is_err();
        Some(item)
    })
}

/// Whether `line` holds a `\uD800`–`\uDFFF` escape (half of a surrogate pair). Runs on
/// every line: `memmem` finds the (rare) `\u` without looking at each byte.
fn has_surrogate_escape(line: &[u8]) -> bool {
    memchr::memmem::find_iter(line, b"\\u").any(|at| {
        matches!(
            line.get(at + 2..at + 4),
            Some([d, x]) if (d | 0x20) == b'd' && matches!(x | 0x20, b'8' | b'9' | b'a'..=b'f')
        )
    })
}

/// Parses `[item, item, ...]` on a thread, handing items over a bounded channel.
/// `first_line` is the file's line the reader starts at.
fn read_array(path: PathBuf, reader: Reader, first_line: u64) -> impl Iterator<Item = Item> + Send {
    let (tx, rx) = sync_channel::<Item>(256);
    let thread_path = path.clone();
    std::thread::spawn(move || {
        let mut de = serde_json::Deserializer::from_reader(reader);
        let res = serde::Deserializer::deserialize_seq(&mut de, ArrayVisitor { tx: &tx })
            .and_then(|()| de.end());
        if let Err(e) = res {
            let _ = tx.send(Err(err(
                &thread_path,
                json_position(&e, first_line),
                json_message(&e),
            )));
        }
    });
    ChannelIter { rx, done: false }
}

struct ChannelIter {
    rx: Receiver<Item>,
    done: bool,
}

impl Iterator for ChannelIter {
    type Item = Item;
    fn next(&mut self) -> Option<Item> {
        if self.done {
            return None;
        }
        let item = self.rx.recv().ok()?;
        if item.is_err() {
            self.done = true;
        }
        Some(item)
    }
}

struct ArrayVisitor<'a> {
    tx: &'a std::sync::mpsc::SyncSender<Item>,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element_seed(ValueSeed)? {
            let text = serde_json::to_vec(&v).map_err(serde::de::Error::custom)?;
            if self.tx.send(Ok(text)).is_err() {
                break; // the consumer stopped
            }
        }
        Ok(())
    }
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn items(text: &[u8]) -> Vec<Result<String, String>> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.json");
        std::fs::write(&file, text).unwrap();
        read_file(file, &CsvOptions::default())
            .map(|i| {
                i.map(|t| String::from_utf8(t).unwrap())
                    .map_err(|e| format!("{}: {}", e.position, e.message))
            })
            .collect()
    }

    #[test]
    fn items_are_located_again() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        let b = dir.path().join("b.json");
        let c = dir.path().join("c.json");
        let d = dir.path().join("d.jsonl.gz");
        std::fs::write(&a, "{\"i\": 1}\n\n{\"i\": 2}\n").unwrap();
        std::fs::write(&b, "[{\"i\": 3},\n {\"i\": 4}]").unwrap();
        std::fs::write(&c, "{\n \"i\": 5\n}\n{\n \"i\": 6\n}\n").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"\n{\"i\": 7}\n{\"i\": 8}\n").unwrap();
        std::fs::write(&d, gz.finish().unwrap()).unwrap();
        let files = vec![a.clone(), b.clone(), c.clone(), d.clone()];
        let name = |p: &Path| p.display().to_string();
        let at = |item| locate(&files, item, &CsvOptions::default());
        assert_eq!(at(1), Some((name(&a), "line 1".to_string())));
        assert_eq!(at(2), Some((name(&a), "line 3".to_string())));
        assert_eq!(at(3), Some((name(&b), "item 1 of the file".to_string())));
        assert_eq!(at(4), Some((name(&b), "item 2 of the file".to_string())));
        assert_eq!(at(6), Some((name(&c), "item 2 of the file".to_string())));
        assert_eq!(at(8), Some((name(&d), "line 3".to_string())));
        assert_eq!(at(9), None);
        assert_eq!(at(0), None);
        // standard input is not read again
        let with_stdin = vec![a.clone(), PathBuf::from("-")];
        let (file, position) = locate(&with_stdin, 3, &CsvOptions::default()).unwrap();
        assert_eq!(file, "standard input");
        assert!(
            position.starts_with("item 1 of it (it cannot be read again"),
            "{position}"
        );
        assert_eq!(
            locate(&with_stdin, 2, &CsvOptions::default()),
            Some((name(&a), "line 3".to_string()))
        );
    }

    #[test]
    fn objects_spanning_lines_byte_order_marks_and_lines() {
        let ok = |v: &[&str]| v.iter().map(|s| Ok(s.to_string())).collect::<Vec<_>>();
        assert_eq!(
            items(b"{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n"),
            ok(&[r#"{"a":1,"b":[1,2]}"#])
        );
        assert_eq!(
            items(b"\n{\n \"a\": 1\n}\n{\"a\": 2}{\"a\": 3}\n{\n \"a\": 4\n}"),
            ok(&[r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#, r#"{"a":4}"#])
        );
        assert_eq!(
            items(b"\xef\xbb\xbf{\"a\": 1}\n{\"a\": 2}\n"),
            ok(&[r#"{"a": 1}"#, r#"{"a": 2}"#])
        );
        assert_eq!(items(b"\xef\xbb\xbf[{\"a\": 1}]"), ok(&[r#"{"a":1}"#]));
        let utf16 = items(b"\xff\xfe{\x00}\x00");
        assert_eq!(utf16.len(), 1);
        assert!(utf16[0].as_ref().unwrap_err().contains("UTF-16"));
        // a failure in an object spanning lines names the file's line
        let bad = items(b"\n\n{\n \"a\": 1,\n \"b\": }\n");
        assert_eq!(bad.len(), 1);
        let e = bad[0].as_ref().unwrap_err();
        assert!(e.starts_with("line 5 column 7: malformed JSON"), "{e}");
        // JSON Lines keep their text and fail at the line
        let lines = items(b"{\"a\": 1}\n{\"a\": \n{\"a\": 3}\n");
        assert_eq!(lines[0], Ok(r#"{"a": 1}"#.to_string()));
        assert!(lines[1]
            .as_ref()
            .unwrap_err()
            .starts_with("line 2: malformed JSON"));
        let arr = items(b"\n\n[{\"a\": 1},\n {\"a\": }]");
        assert!(
            arr[1].as_ref().unwrap_err().starts_with("line 4 column"),
            "{arr:?}"
        );
    }
}
