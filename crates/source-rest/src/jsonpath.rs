//! dlt's JSON paths (`data_selector`, `total_path`, `next_url_path`, `cursor_path`,
//! `has_more_path`, a resolved parent `field`...): dlt parses them with `jsonpath-ng`
//! (its `ext` parser), which also takes paths without `$` (`data.items`, `meta.next`,
//! `results[*].id`), unquoted keys with dashes (`next-page`), quoted keys (`"a b"`,
//! `'x.y'`) and numbers as keys after a dot (`data.1`). A path is read here with
//! `jsonpath-ng`'s grammar and written out in RFC 9535 form (every name as a quoted name
//! selector: `$['data']['items']`), which `serde_json_path` compiles and runs.
//!
//! Supported: `$`, `@` and `` `this` ``, dotted and bracketed names (also `a,b` and
//! `['a','b']`), `*`, `..`, indexes (`[0]`, `[-1]`, `[0,2]`), slices (`[1:]`, `[::2]`) and
//! filters (`[?(@.x > 1)]`, `[?x = 'a' & y]`, `=~` as RFC 9535's `search`, `!`, `&&`,
//! `||`, parentheses). Not supported (an error when compiling): `jsonpath-ng`'s extensions
//! that have no RFC 9535 form: `where`, `wherenot`, `|`, `&` outside a filter, sorting
//! (`[/name]`), arithmetic and the named operators other than `` `this` ``
//! (`` `len` ``, `` `parent` ``...).

use serde_json::{Map, Value as Json};

/// A path that does not compile: the path and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON path `{path}`: {message}")]
pub(crate) struct JsonPathError {
    pub(crate) path: String,
    pub(crate) message: String,
}

/// A compiled path: the text as given and its RFC 9535 form.
#[derive(Debug, Clone)]
pub(crate) struct JsonPath {
    source: String,
    rfc: String,
    compiled: serde_json_path::JsonPath,
}

impl PartialEq for JsonPath {
    fn eq(&self, other: &JsonPath) -> bool {
        self.rfc == other.rfc
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl JsonPath {
    /// Compiles `path` as dlt does (`jsonpath.compile_path`).
    pub(crate) fn compile(path: &str) -> Result<JsonPath, JsonPathError> {
        let err = |message: String| JsonPathError {
            path: path.to_string(),
            message,
        };
        let tokens = lex(path).map_err(err)?;
        let parsed = Parser::new(&tokens).parse_top().map_err(err)?;
        let rfc = parsed.to_rfc();
        let compiled = serde_json_path::JsonPath::parse(&rfc).map_err(|e| {
            err(format!(
                "not a valid RFC 9535 path once converted ({rfc}): {e}"
            ))
        })?;
        Ok(JsonPath {
            source: path.to_string(),
            rfc,
            compiled,
        })
    }

    /// The path in RFC 9535 form, as compiled.
    #[cfg(test)]
    pub(crate) fn rfc9535(&self) -> &str {
        &self.rfc
    }

    /// Every value the path selects in `data`, in document order (`jsonpath.find_values`).
    pub(crate) fn find_values<'a>(&self, data: &'a Json) -> Vec<&'a Json> {
        self.compiled.query(data).all()
    }

    /// The first value the path selects (`values[0] if values else None`).
    pub(crate) fn find_first<'a>(&self, data: &'a Json) -> Option<&'a Json> {
        self.compiled.query(data).first()
    }
}

/// Sets `value` at the dot-separated `path` of `obj` (`a.b.c`), creating the objects on
/// the way (dlt's `jsonpath.set_value_at_path`, used by the paginators' `*_body_path`).
/// Where dlt would fail (`obj`, or a value on the way, is not an object), that value is
/// replaced by an object.
pub(crate) fn set_value_at_path(obj: &mut Json, path: &str, value: Json) {
    let parts: Vec<&str> = path.split('.').collect();
    if !obj.is_object() {
        *obj = Json::Object(Map::new());
    }
    if let Json::Object(map) = obj {
        set_in(map, &parts, value);
    }
}

fn set_in(map: &mut Map<String, Json>, parts: &[&str], value: Json) {
    match parts {
        [] => {}
        [last] => {
            map.insert((*last).to_string(), value);
        }
        [first, rest @ ..] => {
            let next = map
                .entry((*first).to_string())
                .or_insert_with(|| Json::Object(Map::new()));
            if !next.is_object() {
                *next = Json::Object(Map::new());
            }
            if let Json::Object(inner) = next {
                set_in(inner, rest, value);
            }
        }
    }
}

/// The path of `parts` (keys from the root, or `["$"]` for the root itself) as dlt writes
/// it (`".".join(parts)`), each key quoted where `jsonpath-ng` would not read it bare, so
/// that it always compiles to the same keys.
pub(crate) fn join_path(parts: &[String]) -> String {
    if parts.is_empty() || (parts.len() == 1 && parts[0] == "$") {
        return "$".to_string();
    }
    parts
        .iter()
        .map(|p| {
            if is_bare_id(p) {
                p.clone()
            } else {
                let mut quoted = String::with_capacity(p.len() + 2);
                quoted.push('"');
                for c in p.chars() {
                    if c == '"' || c == '\\' {
                        quoted.push('\\');
                    }
                    quoted.push(c);
                }
                quoted.push('"');
                quoted
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether `s` lexes as one `jsonpath-ng` identifier that reads as a field name.
fn is_bare_id(s: &str) -> bool {
    let b = s.as_bytes();
    let start = usize::from(b.first() == Some(&b'@'));
    let Some(&first) = b.get(start) else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_')
        && b[start..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'-'))
        && !matches!(s, "where" | "wherenot")
}

// ---------------------------------------------------------------------------------------
// jsonpath-ng's lexer (its `ext` variant)

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Dollar,
    At,
    Dot,
    DoubleDot,
    Star,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Question,
    Bang,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    Amp,
    Pipe,
    /// a name: unquoted (`@?[a-zA-Z_][a-zA-Z0-9_@-]*`) or quoted
    Id {
        name: String,
        quoted: bool,
    },
    Number(i64),
    Float(String),
    Bool(bool),
    Null,
    /// `=~ == = <= >= != < >`
    FilterOp(String),
    /// `` `name` ``
    Named(String),
    Where,
    Other(char),
}

fn describe_tok(t: &Tok) -> String {
    match t {
        Tok::Id { name, quoted: true } => format!("'{name}'"),
        Tok::Id { name, .. } => name.clone(),
        Tok::Number(n) => n.to_string(),
        Tok::Float(f) => f.clone(),
        Tok::Bool(b) => b.to_string(),
        Tok::Null => "null".into(),
        Tok::FilterOp(op) => op.clone(),
        Tok::Named(n) => format!("`{n}`"),
        Tok::Where => "where".into(),
        Tok::Dollar => "$".into(),
        Tok::At => "@".into(),
        Tok::Dot => ".".into(),
        Tok::DoubleDot => "..".into(),
        Tok::Star => "*".into(),
        Tok::LBracket => "[".into(),
        Tok::RBracket => "]".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Colon => ":".into(),
        Tok::Question => "?".into(),
        Tok::Bang => "!".into(),
        Tok::AndAnd => "&&".into(),
        Tok::OrOr => "||".into(),
        Tok::Amp => "&".into(),
        Tok::Pipe => "|".into(),
        Tok::Other(c) => c.to_string(),
    }
}

fn is_id_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '-')
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let at = |k: usize| chars.get(k).copied();
        match c {
            ' ' | '\t' => {
                i += 1;
                continue;
            }
            '\'' | '"' => {
                let mut name = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None => {
                            return Err("unexpected end of the path in a quoted name".to_string())
                        }
                        Some('\\') => {
                            // jsonpath-ng keeps the escaped character as is (`\'` -> `'`)
                            match at(i + 1) {
                                Some(e) => name.push(e),
                                None => {
                                    return Err(
                                        "unexpected end of the path in a quoted name".to_string()
                                    )
                                }
                            }
                            i += 2;
                        }
                        Some(q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(o) => {
                            name.push(o);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Id { name, quoted: true }));
                continue;
            }
            '`' => {
                let mut name = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None => {
                            return Err(
                                "unexpected end of the path in a `named operator`".to_string()
                            )
                        }
                        Some('\\') => {
                            if let Some(e) = at(i + 1) {
                                name.push(e);
                            }
                            i += 2;
                        }
                        Some('`') => {
                            i += 1;
                            break;
                        }
                        Some(o) => {
                            name.push(o);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Named(name)));
                continue;
            }
            '/' | '\\' => {
                return Err(format!(
                    "sorting (`{c}` at column {start}) is a jsonpath-ng extension dlt-rs does not support"
                ));
            }
            _ => {}
        }
        // true / false (not followed by an identifier character)
        for (word, value) in [("true", true), ("false", false)] {
            let w: Vec<char> = word.chars().collect();
            if chars[i..].starts_with(&w) && !at(i + w.len()).is_some_and(is_id_continue) {
                out.push((start, Tok::Bool(value)));
                i += w.len();
                break;
            }
        }
        if i != start {
            continue;
        }
        // identifiers: @?[a-zA-Z_][a-zA-Z0-9_@-]*
        let id_start = if c == '@' { i + 1 } else { i };
        if at(id_start).is_some_and(|f| f.is_ascii_alphabetic() || f == '_') {
            let mut j = id_start + 1;
            while at(j).is_some_and(is_id_continue) {
                j += 1;
            }
            let name: String = chars[i..j].iter().collect();
            i = j;
            let tok = match name.as_str() {
                "where" | "wherenot" => Tok::Where,
                "null" => Tok::Null,
                _ => Tok::Id {
                    name,
                    quoted: false,
                },
            };
            out.push((start, tok));
            continue;
        }
        // numbers: -?\d+(\.\d+)?
        let digits_start = if c == '-' { i + 1 } else { i };
        if at(digits_start).is_some_and(|d| d.is_ascii_digit()) {
            let mut j = digits_start;
            while at(j).is_some_and(|d| d.is_ascii_digit()) {
                j += 1;
            }
            if at(j) == Some('.') && at(j + 1).is_some_and(|d| d.is_ascii_digit()) {
                j += 1;
                while at(j).is_some_and(|d| d.is_ascii_digit()) {
                    j += 1;
                }
                out.push((start, Tok::Float(chars[i..j].iter().collect())));
            } else {
                let text: String = chars[i..j].iter().collect();
                let n: i64 = text
                    .parse()
                    .map_err(|_| format!("number `{text}` at column {start} is too large"))?;
                out.push((start, Tok::Number(n)));
            }
            i = j;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let (tok, len) = match two.as_str() {
            ".." => (Tok::DoubleDot, 2),
            "&&" => (Tok::AndAnd, 2),
            "||" => (Tok::OrOr, 2),
            "=~" | "==" | "<=" | ">=" | "!=" => (Tok::FilterOp(two.clone()), 2),
            _ => match c {
                '=' | '<' | '>' => (Tok::FilterOp(c.to_string()), 1),
                '$' => (Tok::Dollar, 1),
                '@' => (Tok::At, 1),
                '.' => (Tok::Dot, 1),
                '*' => (Tok::Star, 1),
                '[' => (Tok::LBracket, 1),
                ']' => (Tok::RBracket, 1),
                '(' => (Tok::LParen, 1),
                ')' => (Tok::RParen, 1),
                ',' => (Tok::Comma, 1),
                ':' => (Tok::Colon, 1),
                '?' => (Tok::Question, 1),
                '!' => (Tok::Bang, 1),
                '&' => (Tok::Amp, 1),
                '|' => (Tok::Pipe, 1),
                '~' | '+' | '-' => (Tok::Other(c), 1),
                _ => return Err(format!("unexpected character `{c}` at column {start}")),
            },
        };
        out.push((start, tok));
        i += len;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// jsonpath-ng's grammar, for the forms that have an RFC 9535 equivalent

#[derive(Debug, Clone, PartialEq)]
enum Sel {
    Names(Vec<String>),
    Wild,
    Indices(Vec<i64>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    /// RFC 9535 text of the logical expression
    Filter(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Child(Sel),
    Descendants(Sel),
}

#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    /// relative to the current node (`@` in a filter), else to the root (`$`; a path
    /// without `$` is read from the root: `jsonpath-ng` finds fields in the data given)
    current: bool,
    segs: Vec<Seg>,
}

impl Parsed {
    fn to_rfc(&self) -> String {
        let mut s = String::from(if self.current { "@" } else { "$" });
        for seg in &self.segs {
            match seg {
                Seg::Child(sel) => s.push_str(&sel_to_rfc(sel)),
                Seg::Descendants(sel) => {
                    s.push_str("..");
                    s.push_str(&sel_to_rfc(sel));
                }
            }
        }
        s
    }
}

fn sel_to_rfc(sel: &Sel) -> String {
    match sel {
        Sel::Names(names) => format!(
            "[{}]",
            names
                .iter()
                .map(|n| rfc_string(n))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Sel::Wild => "[*]".to_string(),
        Sel::Indices(ix) => format!(
            "[{}]",
            ix.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ),
        Sel::Slice(a, b, c) => {
            let o = |v: &Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
            match c {
                Some(_) => format!("[{}:{}:{}]", o(a), o(b), o(c)),
                None => format!("[{}:{}]", o(a), o(b)),
            }
        }
        Sel::Filter(expr) => format!("[?{expr}]"),
    }
}

/// An RFC 9535 string literal (single-quoted).
fn rfc_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

struct Parser<'t> {
    toks: &'t [(usize, Tok)],
    pos: usize,
}

type PResult<T> = Result<T, String>;

impl<'t> Parser<'t> {
    fn new(toks: &'t [(usize, Tok)]) -> Parser<'t> {
        Parser { toks, pos: 0 }
    }

    fn peek(&self) -> Option<&'t Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn peek_at(&self, k: usize) -> Option<&'t Tok> {
        self.toks.get(self.pos + k).map(|(_, t)| t)
    }

    fn bump(&mut self) -> Option<&'t Tok> {
        let t = self.peek();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn error_here(&self) -> String {
        match self.toks.get(self.pos) {
            Some((col, t)) => format!("parse error at column {col} near `{}`", describe_tok(t)),
            None => "parse error near the end of the path".to_string(),
        }
    }

    fn unsupported(&self, what: &str) -> String {
        let col = self.toks.get(self.pos).map(|(c, _)| *c).unwrap_or_default();
        format!("{what} (column {col}) is a jsonpath-ng extension dlt-rs does not support")
    }

    fn expect(&mut self, want: &Tok) -> PResult<()> {
        if self.peek() == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error_here())
        }
    }

    fn parse_top(&mut self) -> PResult<Parsed> {
        let parsed = self.parse_path(false)?;
        match self.peek() {
            None => Ok(parsed),
            Some(Tok::Where) => Err(self.unsupported("`where`")),
            Some(Tok::Pipe) => Err(self.unsupported("the union operator `|`")),
            Some(Tok::Amp) | Some(Tok::AndAnd) => {
                Err(self.unsupported("the intersection operator `&`"))
            }
            Some(_) => Err(self.error_here()),
        }
    }

    /// A path: its head then its segments. In a filter (`in_filter`) a path starting with
    /// a name is relative to the current node (`@`).
    fn parse_path(&mut self, in_filter: bool) -> PResult<Parsed> {
        let mut parsed = Parsed {
            current: false,
            segs: Vec::new(),
        };
        match self.peek() {
            Some(Tok::Dollar) => {
                self.pos += 1;
            }
            Some(Tok::At) => {
                self.pos += 1;
                parsed.current = in_filter;
            }
            Some(Tok::Named(name)) => {
                self.named_operator(name)?;
                parsed.current = in_filter;
            }
            Some(Tok::LBracket) if !in_filter => {
                self.pos += 1;
                let sel = self.parse_bracket(false)?;
                parsed.segs.push(Seg::Child(sel));
            }
            Some(_) => {
                let sel = self.parse_fields_or_any()?;
                parsed.current = in_filter;
                parsed.segs.push(Seg::Child(sel));
            }
            None => return Err(self.error_here()),
        }
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    match self.peek() {
                        Some(Tok::LBracket) => {
                            // `a.[0]`, `a.['b']`; not a filter (`a.[?...]` does not parse)
                            self.pos += 1;
                            let sel = self.parse_bracket(false)?;
                            parsed.segs.push(Seg::Child(sel));
                        }
                        Some(Tok::Named(name)) => {
                            self.named_operator(name)?;
                        }
                        Some(Tok::At) => {
                            // `a.@`: the current node, as `` a.`this` ``
                            self.pos += 1;
                        }
                        Some(Tok::Dollar) => return Err(self.unsupported("`$` after a `.`")),
                        _ => {
                            let sel = self.parse_fields_or_any()?;
                            parsed.segs.push(Seg::Child(sel));
                        }
                    }
                }
                Some(Tok::DoubleDot) => {
                    self.pos += 1;
                    let sel = match self.peek() {
                        Some(Tok::LBracket) => {
                            self.pos += 1;
                            self.parse_bracket(true)?
                        }
                        _ => self.parse_fields_or_any()?,
                    };
                    parsed.segs.push(Seg::Descendants(sel));
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    let sel = self.parse_bracket(true)?;
                    parsed.segs.push(Seg::Child(sel));
                }
                _ => return Ok(parsed),
            }
        }
    }

    fn named_operator(&mut self, name: &str) -> PResult<()> {
        if name == "this" {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unsupported(&format!("the named operator `{name}`")))
        }
    }

    /// `*`, or names separated by `,` (a name: an identifier, a quoted name, a number,
    /// `true`, `false` or `null`).
    fn parse_fields_or_any(&mut self) -> PResult<Sel> {
        if self.peek() == Some(&Tok::Star) {
            self.pos += 1;
            return Ok(Sel::Wild);
        }
        let mut names = vec![self.parse_field()?];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            names.push(self.parse_field()?);
        }
        Ok(Sel::Names(names))
    }

    fn parse_field(&mut self) -> PResult<String> {
        let name = match self.peek() {
            Some(Tok::Id { name, .. }) => name.clone(),
            Some(Tok::Number(n)) => n.to_string(),
            Some(Tok::Bool(b)) => b.to_string(),
            Some(Tok::Null) => "null".to_string(),
            Some(Tok::Where) => return Err(self.unsupported("`where`")),
            Some(Tok::Other('+' | '-')) | Some(Tok::Other('~')) => {
                return Err(self.unsupported("arithmetic"))
            }
            _ => return Err(self.error_here()),
        };
        self.pos += 1;
        Ok(name)
    }

    /// The inside of `[...]` (the `[` read): `*`, indexes, a slice, names or a filter.
    fn parse_bracket(&mut self, filter_allowed: bool) -> PResult<Sel> {
        let sel = match self.peek() {
            Some(Tok::Star) => {
                self.pos += 1;
                Sel::Wild
            }
            Some(Tok::Question) if filter_allowed => {
                self.pos += 1;
                Sel::Filter(self.parse_expressions()?)
            }
            Some(Tok::Number(_)) | Some(Tok::Colon) => self.parse_index_or_slice()?,
            _ => {
                let mut names = vec![self.parse_field()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                    names.push(self.parse_field()?);
                }
                Sel::Names(names)
            }
        };
        self.expect(&Tok::RBracket)?;
        Ok(sel)
    }

    fn parse_index_or_slice(&mut self) -> PResult<Sel> {
        let first = self.maybe_int();
        if self.peek() == Some(&Tok::Colon) {
            self.pos += 1;
            let end = self.maybe_int();
            let step = if self.peek() == Some(&Tok::Colon) {
                self.pos += 1;
                self.maybe_int()
            } else {
                None
            };
            return Ok(Sel::Slice(first, end, step));
        }
        let Some(first) = first else {
            return Err(self.error_here());
        };
        let mut ix = vec![first];
        while self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            match self.maybe_int() {
                Some(n) => ix.push(n),
                None => return Err(self.error_here()),
            }
        }
        Ok(Sel::Indices(ix))
    }

    fn maybe_int(&mut self) -> Option<i64> {
        match self.peek() {
            Some(Tok::Number(n)) => {
                self.pos += 1;
                Some(*n)
            }
            _ => None,
        }
    }

    // --- filters: `expressions := and (|| and)*`, `and := operand ((&& | &) operand)*`

    fn parse_expressions(&mut self) -> PResult<String> {
        let mut parts = vec![self.parse_and()?];
        while self.peek() == Some(&Tok::OrOr) {
            self.pos += 1;
            parts.push(self.parse_and()?);
        }
        Ok(parts.join(" || "))
    }

    fn parse_and(&mut self) -> PResult<String> {
        let mut parts = vec![self.parse_operand()?];
        while matches!(self.peek(), Some(Tok::AndAnd) | Some(Tok::Amp)) {
            self.pos += 1;
            parts.push(self.parse_operand()?);
        }
        Ok(parts.join(" && "))
    }

    fn parse_operand(&mut self) -> PResult<String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let inner = self.parse_expressions()?;
            self.expect(&Tok::RParen)?;
            return Ok(format!("({inner})"));
        }
        if self.peek() == Some(&Tok::Bang) {
            self.pos += 1;
            let path = self.parse_path(true)?;
            return Ok(format!("!{}", path.to_rfc()));
        }
        let left = self.parse_path(true)?.to_rfc();
        let Some(Tok::FilterOp(op)) = self.peek() else {
            return Ok(left);
        };
        self.pos += 1;
        if op == "=~" {
            let pattern = match self.bump() {
                Some(Tok::Id { name, .. }) => name.clone(),
                Some(Tok::Null) => "null".to_string(),
                Some(Tok::Number(n)) => n.to_string(),
                Some(Tok::Float(f)) => f.clone(),
                Some(Tok::Bool(b)) => b.to_string(),
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err("the regex operator `=~` requires a literal pattern".to_string());
                }
            };
            return Ok(format!("search({left}, {})", rfc_string(&pattern)));
        }
        let op = if op == "=" { "==" } else { op.as_str() };
        let right = match self.peek() {
            Some(Tok::Id { name, .. }) => {
                self.pos += 1;
                rfc_string(name)
            }
            Some(Tok::Number(n)) => {
                self.pos += 1;
                n.to_string()
            }
            Some(Tok::Float(f)) => {
                self.pos += 1;
                f.clone()
            }
            Some(Tok::Bool(b)) => {
                self.pos += 1;
                b.to_string()
            }
            Some(Tok::Null) => {
                self.pos += 1;
                "null".to_string()
            }
            Some(Tok::At) | Some(Tok::Dollar) => self.parse_singular_query()?,
            _ => return Err(self.error_here()),
        };
        Ok(format!("{left} {op} {right}"))
    }

    /// `@` or `$` then `.name`, `[name]` or `[index]` segments.
    fn parse_singular_query(&mut self) -> PResult<String> {
        let mut s = match self.bump() {
            Some(Tok::At) => String::from("@"),
            _ => String::from("$"),
        };
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(Tok::Dot), Some(Tok::Id { name, .. })) => {
                    s.push_str(&format!("[{}]", rfc_string(name)));
                    self.pos += 2;
                }
                (Some(Tok::Dot), Some(Tok::Null)) => {
                    s.push_str("['null']");
                    self.pos += 2;
                }
                (Some(Tok::Dot), Some(Tok::Bool(b))) => {
                    s.push_str(&format!("['{b}']"));
                    self.pos += 2;
                }
                (Some(Tok::LBracket), Some(Tok::Id { name, .. })) => {
                    s.push_str(&format!("[{}]", rfc_string(name)));
                    self.pos += 2;
                    self.expect(&Tok::RBracket)?;
                }
                (Some(Tok::LBracket), Some(Tok::Number(n))) => {
                    s.push_str(&format!("[{n}]"));
                    self.pos += 2;
                    self.expect(&Tok::RBracket)?;
                }
                _ => return Ok(s),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    fn rfc(p: &str) -> String {
        JsonPath::compile(p).unwrap().rfc9535().to_string()
    }

    fn find(p: &str, data: &Json) -> Vec<Json> {
        JsonPath::compile(p)
            .unwrap()
            .find_values(data)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn paths_without_root_are_read_from_the_root() {
        assert_eq!(rfc("data.items"), "$['data']['items']");
        assert_eq!(rfc("$.data.items"), "$['data']['items']");
        assert_eq!(rfc("data"), "$['data']");
        assert_eq!(rfc("$"), "$");
        assert_eq!(rfc("@"), "$");
        assert_eq!(rfc("`this`.a"), "$['a']");
        assert_eq!(rfc("$.`this`"), "$");
        assert_eq!(rfc("a.@.b"), "$['a']['b']");
        assert_eq!(rfc("results[*].id"), "$['results'][*]['id']");
        assert_eq!(rfc("results.[*].id"), "$['results'][*]['id']");
        assert_eq!(rfc("data. items"), "$['data']['items']");
        assert_eq!(rfc("[0]"), "$[0]");
        assert_eq!(rfc("*"), "$[*]");
    }

    #[test]
    fn names_that_need_quoting() {
        assert_eq!(rfc("meta.next-page"), "$['meta']['next-page']");
        assert_eq!(rfc("meta.\"next page\""), "$['meta']['next page']");
        assert_eq!(rfc("'a.b'"), "$['a.b']");
        assert_eq!(rfc("$['data']"), "$['data']");
        assert_eq!(rfc("$[\"da'ta\"]"), "$['da\\'ta']");
        assert_eq!(rfc("data.1"), "$['data']['1']");
        assert_eq!(rfc("data.007"), "$['data']['7']");
        assert_eq!(rfc("data.null"), "$['data']['null']");
        assert_eq!(rfc("data.true"), "$['data']['true']");
        assert_eq!(rfc("data.truex"), "$['data']['truex']");
        assert_eq!(rfc("@x.a@b"), "$['@x']['a@b']");
        assert_eq!(rfc("data[\"*\"]"), "$['data']['*']");
        assert_eq!(rfc("a.x,y"), "$['a']['x','y']");
        assert_eq!(rfc("a['x','y']"), "$['a']['x','y']");
        assert_eq!(rfc("'a\\\\b'"), "$['a\\\\b']");
    }

    #[test]
    fn indexes_slices_descendants() {
        assert_eq!(rfc("data[0]"), "$['data'][0]");
        assert_eq!(rfc("data.[0]"), "$['data'][0]");
        assert_eq!(rfc("data[-1]"), "$['data'][-1]");
        assert_eq!(rfc("data[0,2]"), "$['data'][0,2]");
        assert_eq!(rfc("data[1:]"), "$['data'][1:]");
        assert_eq!(rfc("data[:-1]"), "$['data'][:-1]");
        assert_eq!(rfc("data[::2]"), "$['data'][::2]");
        assert_eq!(rfc("data[0:2]"), "$['data'][0:2]");
        assert_eq!(rfc("$..next"), "$..['next']");
        assert_eq!(rfc("a..b"), "$['a']..['b']");
        assert_eq!(rfc("$..*"), "$..[*]");
        assert_eq!(rfc("$..[0]"), "$..[0]");
    }

    #[test]
    fn filters() {
        assert_eq!(rfc("data[?(@.x>1)]"), "$['data'][?(@['x'] > 1)]");
        assert_eq!(rfc("data[?x>1]"), "$['data'][?@['x'] > 1]");
        assert_eq!(rfc("data[?(@.x=2)]"), "$['data'][?(@['x'] == 2)]");
        assert_eq!(
            rfc("data[?(@.t==\"a\" && @.n>1.5)]"),
            "$['data'][?(@['t'] == 'a' && @['n'] > 1.5)]"
        );
        assert_eq!(
            rfc("data[?t==a & n]"),
            "$['data'][?@['t'] == 'a' && @['n']]"
        );
        assert_eq!(rfc("data[?(!@.t)]"), "$['data'][?(!@['t'])]");
        assert_eq!(
            rfc("data[?(@.t=~\"^a\")]"),
            "$['data'][?(search(@['t'], '^a'))]"
        );
        assert_eq!(
            rfc("data[?(@.a == @.b || @.c == null)]"),
            "$['data'][?(@['a'] == @['b'] || @['c'] == null)]"
        );
        assert_eq!(rfc("$..[?(@.id>1)]"), "$..[?(@['id'] > 1)]");
        let data = json!({"data": [{"x": 1, "t": "ab"}, {"x": 2, "t": "ba"}, {"y": 3}]});
        assert_eq!(
            find("data[?(@.x>1)]", &data),
            vec![json!({"x": 2, "t": "ba"})]
        );
        assert_eq!(find("data[?x=1]", &data), vec![json!({"x": 1, "t": "ab"})]);
        assert_eq!(
            find("data[?(@.t=~'^a')]", &data),
            vec![json!({"x": 1, "t": "ab"})]
        );
        assert_eq!(find("data[?(!@.x)]", &data), vec![json!({"y": 3})]);
        assert_eq!(
            find("data[?(@.x)].t", &data),
            vec![json!("ab"), json!("ba")]
        );
    }

    #[test]
    fn errors_like_jsonpath_ng() {
        for bad in [
            "",
            "$.",
            "a.",
            "data[",
            "a b",
            "a$b",
            "1abc",
            "1.5",
            "data.1.5",
            "[?(@.x)]",
            "ünïcode",
            "'open",
            "data]",
        ] {
            assert!(
                JsonPath::compile(bad).is_err(),
                "{bad:?} should not compile"
            );
        }
        for unsupported in [
            "a where b",
            "a | b",
            "a & b",
            "a.`len`",
            "a.`parent`",
            "a.$",
            "a[/b]",
            "a.b + 1",
        ] {
            let e = JsonPath::compile(unsupported).unwrap_err();
            assert_eq!(e.path, unsupported);
            assert!(
                e.message.contains("not support") || e.message.contains("parse error"),
                "{unsupported}: {e}"
            );
        }
        let e = JsonPath::compile("a b").unwrap_err();
        assert!(e.to_string().contains("`a b`"), "{e}");
    }

    #[test]
    fn finds_like_jsonpath_ng() {
        let d = json!({"data": [{"id": 1}, {"id": 2}], "meta": {"next-page": "x", "a b": 3}});
        assert_eq!(find("data[*].id", &d), vec![json!(1), json!(2)]);
        assert_eq!(find("data.id", &d), Vec::<Json>::new()); // a name on a list: nothing
        assert_eq!(find("meta.next-page", &d), vec![json!("x")]);
        assert_eq!(find("meta.\"a b\"", &d), vec![json!(3)]);
        assert_eq!(find("$", &json!([1, 2])), vec![json!([1, 2])]);
        assert_eq!(
            find("data[0]", &json!({"data": {"id": 1}})),
            Vec::<Json>::new()
        );
        assert_eq!(
            find("data[*]", &json!({"data": {"a": 1, "b": 2}})),
            vec![json!(1), json!(2)]
        );
        assert_eq!(find("data", &json!({"data": null})), vec![json!(null)]);
        assert_eq!(
            find("data[-1]", &json!({"data": [1, 2, 3]})),
            vec![json!(3)]
        );
        assert_eq!(
            find("data[5]", &json!({"data": [1, 2, 3]})),
            Vec::<Json>::new()
        );
        assert_eq!(
            find("data..id", &json!({"data": [{"id": 1}, {"y": {"id": 2}}]})),
            vec![json!(1), json!(2)]
        );
        let p = JsonPath::compile("meta.total").unwrap();
        assert_eq!(
            p.find_first(&json!({"meta": {"total": 5}})),
            Some(&json!(5))
        );
        assert_eq!(p.find_first(&json!({"meta": {}})), None);
        assert_eq!(p.to_string(), "meta.total");
    }

    #[test]
    fn sets_values_at_dotted_paths() {
        let mut body = json!({"query": "x"});
        set_value_at_path(&mut body, "page", json!(2));
        set_value_at_path(&mut body, "paging.offset", json!(10));
        set_value_at_path(&mut body, "paging.limit", json!(5));
        set_value_at_path(&mut body, "a.b.c", json!("deep"));
        assert_eq!(
            body,
            json!({"query": "x", "page": 2, "paging": {"offset": 10, "limit": 5},
                   "a": {"b": {"c": "deep"}}})
        );
        set_value_at_path(&mut body, "page", json!(3));
        assert_eq!(body["page"], json!(3));
        // a value on the way that is not an object is replaced (dlt would fail)
        set_value_at_path(&mut body, "query.x", json!(1));
        assert_eq!(body["query"], json!({"x": 1}));
        let mut not_object = json!([1]);
        set_value_at_path(&mut not_object, "a", json!(1));
        assert_eq!(not_object, json!({"a": 1}));
    }

    #[test]
    fn joins_detected_paths() {
        let j =
            |parts: &[&str]| join_path(&parts.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(j(&["$"]), "$");
        assert_eq!(j(&[]), "$");
        assert_eq!(j(&["data", "items"]), "data.items");
        assert_eq!(j(&["next-page"]), "next-page");
        assert_eq!(
            j(&["a b", "c.d", "1", "where", "q\"x"]),
            r#""a b"."c.d"."1"."where"."q\"x""#
        );
        for parts in [vec!["a b", "c.d"], vec!["1", "x"], vec!["where"], vec!["ü"]] {
            let path = j(&parts);
            let mut data = json!(5);
            for p in parts.iter().rev() {
                data = json!({ *p: data });
            }
            assert_eq!(find(&path, &data), vec![json!(5)], "{path}");
        }
    }
}
