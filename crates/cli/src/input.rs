//! Reading input files: JSON Lines or one JSON array per file, optionally gzip-compressed.
//!
//! Items stream: JSON Lines are read line by line and only validated (their text goes into
//! the load package as it is); a JSON array is parsed element by element on a reader
//! thread. Every error names the file and the line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use pipeline::ItemError;
use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

/// One item as JSON text (one line, validated).
type Item = Result<Vec<u8>, ItemError>;

fn err(path: &Path, position: String, message: impl Into<String>) -> ItemError {
    ItemError {
        source_name: path.display().to_string(),
        position,
        message: message.into(),
    }
}

/// Opens `path`, transparently decompressing gzip (detected by its magic bytes).
fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, ItemError> {
    let file = File::open(path).map_err(|e| err(path, "opening".into(), e.to_string()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let magic = reader
        .fill_buf()
        .map_err(|e| err(path, "reading".into(), e.to_string()))?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(1 << 20, gz)))
    } else {
        Ok(Box::new(reader))
    }
}

/// The items of every file, in order.
pub fn read_files(paths: Vec<PathBuf>) -> impl Iterator<Item = Item> + Send {
    paths.into_iter().flat_map(read_file)
}

/// The items of one file.
pub fn read_file(path: PathBuf) -> Box<dyn Iterator<Item = Item> + Send> {
    let mut reader = match open(&path) {
        Ok(r) => r,
        Err(e) => return Box::new(std::iter::once(Err(e))),
    };
    // skip leading whitespace to see whether the file is one JSON array
    let first = loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                return Box::new(std::iter::once(Err(err(
                    &path,
                    "line 1".into(),
                    e.to_string(),
                ))))
            }
        };
        if buf.is_empty() {
            break None;
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let c = buf[i];
                break Some(c);
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    match first {
        None => Box::new(std::iter::empty()),
        Some(b'[') => Box::new(read_array(path, reader)),
        Some(_) => Box::new(read_lines(path, reader)),
    }
}

fn read_lines(path: PathBuf, reader: Box<dyn BufRead + Send>) -> impl Iterator<Item = Item> + Send {
    let mut lines = reader.split(b'\n');
    let mut line_no = 0u64;
    let mut failed = false;
    std::iter::from_fn(move || loop {
        if failed {
            return None;
        }
        line_no += 1;
        let line = match lines.next()? {
            Ok(l) => l,
            Err(e) => {
                failed = true;
                return Some(Err(err(
                    &path,
                    format!("line {line_no}"),
                    format!("read error: {e}"),
                )));
            }
        };
        let mut line = line;
        while line.last().is_some_and(u8::is_ascii_whitespace) {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // validate without building the document: its text goes into the package as it is
        // (`IgnoredAny` does not decode `\u` escapes, so a line with a surrogate escape is
        // parsed fully: a lone surrogate is malformed JSON)
        let checked = match serde_json::from_slice::<IgnoredAny>(&line) {
            Ok(_) if has_surrogate_escape(&line) => {
                serde_json::from_slice::<Value>(&line).map(|_| ())
            }
            other => other.map(|_| ()),
        };
        return Some(match checked {
            Ok(()) => Ok(line),
            Err(e) => {
                failed = true;
                Err(err(
                    &path,
                    format!("line {line_no}"),
                    format!("malformed JSON: {e}"),
                ))
            }
        });
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
fn read_array(path: PathBuf, reader: Box<dyn BufRead + Send>) -> impl Iterator<Item = Item> + Send {
    let (tx, rx) = sync_channel::<Item>(256);
    let thread_path = path.clone();
    std::thread::spawn(move || {
        let mut de = serde_json::Deserializer::from_reader(reader);
        let res = serde::Deserializer::deserialize_seq(&mut de, ArrayVisitor { tx: &tx })
            .and_then(|()| de.end());
        if let Err(e) = res {
            let position = format!("line {} column {}", e.line(), e.column());
            let _ = tx.send(Err(err(
                &thread_path,
                position,
                format!("malformed JSON: {e}"),
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
