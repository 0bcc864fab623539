//! CSV files as items: one JSON object per data row, keys from the header row, values typed
//! per column.
//!
//! Parsing follows RFC 4180 (written here: the `csv` crate cannot tell a quoted empty field
//! from an unquoted one): fields quoted with `"` and `""` inside, quoted fields spanning
//! lines, LF or CRLF line ends, a one-byte delimiter. An unquoted empty field is NULL, a
//! quoted empty field (`""`) the empty string.
//!
//! Types are inferred per column over the whole file (a first pass reads only to infer, the
//! second writes the items; memory does not grow with the file; standard input is spooled to
//! a temporary file first): every value an integer (`-?[0-9]+`, no leading zero, so a ZIP
//! code `007` stays text; any length: integers past 64 bits keep every digit) → JSON numbers;
//! else every value a finite decimal number (no leading zero either) → JSON numbers; else every value `true` / `false` (any case)
//! → JSON booleans; else strings. ISO timestamps stay strings for the normalizer's timestamp
//! detection (dlt's). A column named in the `--columns` hints stays strings (the normalizer
//! coerces them to the hinted type).

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use pipeline::ItemError;

/// How CSV files are read: the delimiter (`None`: `,`, or a tab for `.tsv` files) and the
/// columns with type hints (normalized names), which keep their text.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    pub delimiter: Option<u8>,
    pub hinted: HashSet<String>,
}

/// Whether `path` names a CSV file by its extension (`.csv`, `.tsv`, gzip or not).
pub(crate) fn has_csv_extension(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".csv") || name.ends_with(".tsv")
}

fn is_tsv(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.strip_suffix(".gz").unwrap_or(&name).ends_with(".tsv")
}

/// One field of a record: its bytes in the record buffer and whether it was quoted.
#[derive(Debug, Clone, Copy)]
struct Field {
    start: usize,
    end: usize,
    quoted: bool,
}

/// What went wrong parsing, at which line.
#[derive(Debug)]
struct ParseError {
    line: u64,
    message: String,
}

/// Records of a CSV text, one at a time.
struct Parser<R> {
    input: R,
    delimiter: u8,
    /// Lines read so far.
    line: u64,
    line_buf: Vec<u8>,
    /// Whether the last line read ended with CRLF (kept inside quoted fields).
    crlf: bool,
    /// The current record's field bytes and fields.
    bytes: Vec<u8>,
    fields: Vec<Field>,
}

impl<R: BufRead> Parser<R> {
    fn new(input: R, delimiter: u8) -> Self {
        Parser {
            input,
            delimiter,
            line: 0,
            line_buf: Vec::new(),
            crlf: false,
            bytes: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Reads a line into `line_buf` without its line end; false at the end of the input.
    fn read_line(&mut self) -> Result<bool, ParseError> {
        self.line_buf.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.line_buf)
            .map_err(|e| ParseError {
                line: self.line + 1,
                message: format!("read error: {e}"),
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        self.crlf = false;
        if self.line_buf.last() == Some(&b'\n') {
            self.line_buf.pop();
            if self.line_buf.last() == Some(&b'\r') {
                self.line_buf.pop();
                self.crlf = true;
            }
        }
        Ok(true)
    }

    /// The next record (blank lines skipped); returns the line it starts on, `None` at the
    /// end. Its fields are in `self.fields`.
    fn next_record(&mut self) -> Result<Option<u64>, ParseError> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            if !self.line_buf.is_empty() {
                break;
            }
        }
        let first_line = self.line;
        self.bytes.clear();
        self.fields.clear();
        let mut pos = 0;
        loop {
            // at the start of a field, in `line_buf` at `pos`
            let start = self.bytes.len();
            if self.line_buf.get(pos) == Some(&b'"') {
                pos += 1;
                let field_line = self.line;
                loop {
                    match self.line_buf[pos..].iter().position(|&b| b == b'"') {
                        Some(q) => {
                            self.bytes.extend_from_slice(&self.line_buf[pos..pos + q]);
                            pos += q + 1;
                            if self.line_buf.get(pos) == Some(&b'"') {
                                self.bytes.push(b'"');
                                pos += 1;
                                continue;
                            }
                            break;
                        }
                        None => {
                            // the field goes on on the next line
                            self.bytes.extend_from_slice(&self.line_buf[pos..]);
                            if self.crlf {
                                self.bytes.push(b'\r');
                            }
                            self.bytes.push(b'\n');
                            if !self.read_line()? {
                                return Err(ParseError {
                                    line: field_line,
                                    message: "a quoted field is not closed before the end of \
                                              the file"
                                        .into(),
                                });
                            }
                            pos = 0;
                        }
                    }
                }
                self.fields.push(Field {
                    start,
                    end: self.bytes.len(),
                    quoted: true,
                });
                match self.line_buf.get(pos) {
                    None => return Ok(Some(first_line)),
                    Some(&b) if b == self.delimiter => pos += 1,
                    Some(_) => {
                        return Err(ParseError {
                            line: self.line,
                            message: format!(
                                "field {}: text after the closing quote",
                                self.fields.len()
                            ),
                        })
                    }
                }
            } else {
                let rest = &self.line_buf[pos..];
                let len = rest
                    .iter()
                    .position(|&b| b == self.delimiter)
                    .unwrap_or(rest.len());
                self.bytes.extend_from_slice(&rest[..len]);
                self.fields.push(Field {
                    start,
                    end: self.bytes.len(),
                    quoted: false,
                });
                pos += len;
                if pos >= self.line_buf.len() {
                    return Ok(Some(first_line));
                }
                pos += 1; // the delimiter
            }
        }
    }

    fn field(&self, i: usize) -> Option<(&[u8], bool)> {
        self.fields
            .get(i)
            .map(|f| (&self.bytes[f.start..f.end], f.quoted))
    }
}

/// The type a column is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Bool,
    Text,
}

/// What the values of a column seen so far can all be.
#[derive(Debug, Clone, Copy)]
struct Seen {
    int: bool,
    float: bool,
    bool: bool,
    any: bool,
}

impl Seen {
    fn new() -> Self {
        Seen {
            int: true,
            float: true,
            bool: true,
            any: false,
        }
    }

    /// Notes a value; false when it is not UTF-8.
    fn add(&mut self, v: &[u8], quoted: bool) -> bool {
        if !quoted && v.is_empty() {
            return true; // NULL
        }
        if std::str::from_utf8(v).is_err() {
            return false;
        }
        self.any = true;
        if self.int && !is_int(v) {
            self.int = false;
        }
        if self.float && !is_float(v) {
            self.float = false;
        }
        if self.bool && !(v.eq_ignore_ascii_case(b"true") || v.eq_ignore_ascii_case(b"false")) {
            self.bool = false;
        }
        true
    }

    fn kind(&self) -> Kind {
        match (self.any, self.int, self.float, self.bool) {
            (false, ..) => Kind::Text,
            (true, true, ..) => Kind::Int,
            (true, _, true, _) => Kind::Float,
            (true, _, _, true) => Kind::Bool,
            _ => Kind::Text,
        }
    }
}

fn is_int(v: &[u8]) -> bool {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits.len() == 1 || digits[0] != b'0')
}

/// A finite decimal number: `[-+]digits[.digits][e[-+]digits]` (digits on at least one side
/// of the point).
fn is_float(v: &[u8]) -> bool {
    let s = v
        .strip_prefix(b"-")
        .or_else(|| v.strip_prefix(b"+"))
        .unwrap_or(v);
    let (mantissa, exp) = match s.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &b""[..]),
    };
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    let exp_ok = exp.is_none_or(|e| {
        let e = e
            .strip_prefix(b"-")
            .or_else(|| e.strip_prefix(b"+"))
            .unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    // a leading zero (`007`, `00.5`) is an identifier's, not a number's: text
    let leading_zero = int.len() > 1 && int[0] == b'0';
    (!int.is_empty() || !frac.is_empty())
        && !leading_zero
        && digits(int)
        && digits(frac)
        && exp_ok
        && std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
}

/// `v` (a float by [`is_float`]) as JSON number text that reads as a float, every digit
/// kept: `1` → `1.0` (an integer-looking value would make the column `bigint`), `.5` →
/// `0.5`, `1.` → `1.0`, `+2` → `2.0`.
fn json_float(v: &[u8], out: &mut Vec<u8>) {
    let (negative, s) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let (mantissa, exp) = match s.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (&s[..at], &s[at..]),
        None => (s, &b""[..]),
    };
    if negative {
        out.push(b'-');
    }
    if mantissa.first() == Some(&b'.') {
        out.push(b'0');
    }
    out.extend_from_slice(mantissa);
    if mantissa.last() == Some(&b'.') {
        out.push(b'0');
    } else if !mantissa.contains(&b'.') && exp.is_empty() {
        out.extend_from_slice(b".0");
    }
    out.extend_from_slice(exp);
}

/// Reads CSV file `path` as items (see the module docs). `open` opens it (gzip and byte
/// order marks handled) once per pass.
pub(crate) struct CsvItems {
    path: PathBuf,
    parser: Option<Parser<Box<dyn BufRead + Send>>>,
    header: Vec<String>,
    kinds: Vec<Kind>,
    /// The line the last item started on.
    pub(crate) line: u64,
    /// Keeps a spooled standard input alive.
    _spool: Option<tempfile::NamedTempFile>,
    failed: bool,
}

type Opener = dyn Fn(&Path) -> Result<Box<dyn BufRead + Send>, ItemError>;

impl CsvItems {
    /// Infers the column types (the first pass) and stands at the first data row.
    pub(crate) fn open(
        path: PathBuf,
        options: &CsvOptions,
        open: &Opener,
    ) -> Result<CsvItems, ItemError> {
        let shown = crate::read::display_name(&path);
        let err = |line: u64, message: String| ItemError {
            source_name: shown.clone(),
            position: format!("line {line}"),
            message,
        };
        let delimiter = options
            .delimiter
            .unwrap_or(if is_tsv(&path) { b'\t' } else { b',' });
        // standard input is read twice from a temporary copy
        let (source, spool) = if crate::read::is_stdin(&path) {
            let mut reader = open(&path)?;
            let mut spool = tempfile::NamedTempFile::new()
                .map_err(|e| err(0, format!("spooling standard input: {e}")))?;
            std::io::copy(&mut reader, spool.as_file_mut())
                .map_err(|e| err(0, format!("spooling standard input: {e}")))?;
            (spool.path().to_path_buf(), Some(spool))
        } else {
            (path.clone(), None)
        };
        let reopen = |p: &Path| -> Result<Box<dyn BufRead + Send>, ItemError> {
            if spool.is_some() {
                let f = std::fs::File::open(p)
                    .map_err(|e| err(0, format!("reading standard input again: {e}")))?;
                Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
            } else {
                open(p)
            }
        };
        let parse_err = |e: ParseError| err(e.line, e.message);

        // pass 1: the header and the types
        let mut parser = Parser::new(reopen(&source)?, delimiter);
        let header = match parser.next_record().map_err(parse_err)? {
            None => Vec::new(),
            Some(line) => header_of(&parser, &shown, line)?,
        };
        let mut seen = vec![Seen::new(); header.len()];
        while let Some(line) = parser.next_record().map_err(parse_err)? {
            if parser.fields.len() != header.len() {
                return Err(err(
                    line,
                    format!(
                        "{} fields, but the header has {} columns",
                        parser.fields.len(),
                        header.len()
                    ),
                ));
            }
            for (i, s) in seen.iter_mut().enumerate() {
                if let Some((v, quoted)) = parser.field(i) {
                    if !s.add(v, quoted) {
                        return Err(ItemError {
                            source_name: shown.clone(),
                            position: format!("line {line}, column {:?}", header[i]),
                            message: "not valid UTF-8 text".into(),
                        });
                    }
                }
            }
        }
        let kinds = header
            .iter()
            .zip(&seen)
            .map(|(name, s)| {
                let normalized = normalize::naming::normalize_key(name, usize::MAX);
                if options.hinted.contains(&normalized) || options.hinted.contains(name) {
                    Kind::Text
                } else {
                    s.kind()
                }
            })
            .collect();

        // pass 2 stands after the header
        let mut parser = Parser::new(reopen(&source)?, delimiter);
        parser.next_record().map_err(parse_err)?;
        Ok(CsvItems {
            path,
            parser: Some(parser),
            header,
            kinds,
            line: 0,
            _spool: spool,
            failed: false,
        })
    }

    fn item(&mut self) -> Option<Result<Vec<u8>, ItemError>> {
        let shown = crate::read::display_name(&self.path);
        let parser = self.parser.as_mut()?;
        let line = match parser.next_record() {
            Ok(Some(line)) => line,
            Ok(None) => return None,
            Err(e) => {
                return Some(Err(ItemError {
                    source_name: shown,
                    position: format!("line {}", e.line),
                    message: e.message,
                }))
            }
        };
        self.line = line;
        if parser.fields.len() != self.header.len() {
            return Some(Err(ItemError {
                source_name: shown,
                position: format!("line {line}"),
                message: format!(
                    "{} fields, but the header has {} columns",
                    parser.fields.len(),
                    self.header.len()
                ),
            }));
        }
        let mut out = Vec::with_capacity(parser.bytes.len() + 16 * self.header.len());
        out.push(b'{');
        for (i, (name, kind)) in self.header.iter().zip(&self.kinds).enumerate() {
            let Some((v, quoted)) = parser.field(i) else {
                continue;
            };
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, name);
            out.push(b':');
            if v.is_empty() && !quoted {
                out.extend_from_slice(b"null");
                continue;
            }
            match kind {
                Kind::Int => out.extend_from_slice(v),
                Kind::Float => json_float(v, &mut out),
                Kind::Bool => out.extend_from_slice(if v.eq_ignore_ascii_case(b"true") {
                    b"true"
                } else {
                    b"false"
                }),
                Kind::Text => match std::str::from_utf8(v) {
                    Ok(s) => {
                        let _ = serde_json::to_writer(&mut out, s);
                    }
                    Err(_) => {
                        return Some(Err(ItemError {
                            source_name: shown,
                            position: format!("line {line}, column {name:?}"),
                            message: "not valid UTF-8 text".into(),
                        }))
                    }
                },
            }
        }
        out.push(b'}');
        Some(Ok(out))
    }
}

impl Iterator for CsvItems {
    type Item = Result<Vec<u8>, ItemError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.item();
        if matches!(next, Some(Err(_))) {
            self.failed = true;
        }
        next
    }
}

/// The header row's names: every one present, none twice, valid UTF-8.
fn header_of<R: BufRead>(
    parser: &Parser<R>,
    shown: &str,
    line: u64,
) -> Result<Vec<String>, ItemError> {
    let err = |message: String| ItemError {
        source_name: shown.to_string(),
        position: format!("line {line} (the header)"),
        message,
    };
    let mut names: Vec<String> = Vec::with_capacity(parser.fields.len());
    for i in 0..parser.fields.len() {
        let (v, _) = parser.field(i).unwrap_or((&[], false));
        let name = std::str::from_utf8(v)
            .map_err(|_| err(format!("column {}: the name is not valid UTF-8", i + 1)))?
            .to_string();
        if name.is_empty() {
            return Err(err(format!("column {} has no name", i + 1)));
        }
        if names.contains(&name) {
            return Err(err(format!(
                "column {} is named {name:?} like an earlier one",
                i + 1
            )));
        }
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn records(text: &str, delimiter: u8) -> Vec<(u64, Vec<(String, bool)>)> {
        let mut p = Parser::new(text.as_bytes(), delimiter);
        let mut out = Vec::new();
        while let Some(line) = p.next_record().unwrap() {
            let fields = (0..p.fields.len())
                .map(|i| {
                    let (v, q) = p.field(i).unwrap();
                    (String::from_utf8(v.to_vec()).unwrap(), q)
                })
                .collect();
            out.push((line, fields));
        }
        out
    }

    fn f(s: &str, q: bool) -> (String, bool) {
        (s.to_string(), q)
    }

    #[test]
    fn fields_quotes_line_ends_and_empties() {
        let got = records("a,b,c\r\n1,\"x,\"\"y\"\"\r\nz\",\r\n\n2,\"\",\n", b',');
        assert_eq!(
            got,
            vec![
                (1, vec![f("a", false), f("b", false), f("c", false)]),
                (
                    2,
                    vec![f("1", false), f("x,\"y\"\r\nz", true), f("", false)]
                ),
                (5, vec![f("2", false), f("", true), f("", false)]),
            ]
        );
        assert_eq!(
            records("a;b\n1;2", b';')[1].1,
            vec![f("1", false), f("2", false)]
        );
        let mut p = Parser::new(&b"a\n\"open\n"[..], b',');
        p.next_record().unwrap();
        let e = p.next_record().unwrap_err();
        assert_eq!(e.line, 2);
        let mut p = Parser::new(&b"\"a\"b\n"[..], b',');
        assert!(p.next_record().is_err());
    }

    #[test]
    fn numbers_and_booleans_are_recognized() {
        for (v, int, float) in [
            ("0", true, true),
            ("-12", true, true),
            ("007", false, false),
            ("00.5", false, false),
            ("0.5", false, true),
            ("123456789012345678901234567890", true, true),
            ("1.", false, true),
            (".5", false, true),
            ("+1.5e3", false, true),
            ("1e", false, false),
            ("nan", false, false),
            ("inf", false, false),
            ("1,5", false, false),
            ("", false, false),
        ] {
            assert_eq!(
                (is_int(v.as_bytes()), is_float(v.as_bytes())),
                (int, float),
                "{v}"
            );
        }
        let mut out = Vec::new();
        for v in [
            "1.",
            ".5",
            "-2.5E3",
            "1",
            "+7",
            "-.5",
            "0.1234567890123456789012",
        ] {
            json_float(v.as_bytes(), &mut out);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1.0 0.5 -2.5E3 1.0 7.0 -0.5 0.1234567890123456789012 "
        );
        let mut s = Seen::new();
        assert!(s.add(b"True", false));
        s.add(b"", false);
        s.add(b"false", false);
        assert_eq!(s.kind(), Kind::Bool);
        s.add(b"", true);
        assert_eq!(s.kind(), Kind::Text);
        assert!(!s.add(b"\xff", false));
    }
}
