//! dlt's naming conventions: `snake_case` (the default, below) and [`Naming`]'s others,
//! exactly as dlt applies them (spec §3.10, §3.11).
//!
//! One identifier is normalized in these steps: strip surrounding whitespace; translate
//! `+`→`x`, `-`→`_`, `*`→`x`, `@`→`a`, `|`→`l`; replace every run of characters outside
//! `[A-Za-z0-9_]` (Unicode decimal digits count as digits) with one `_`; split CamelCase with
//! `_`; lowercase; prefix `_` when it starts with a digit; replace each trailing `_` with `x`;
//! collapse runs of `_`; shorten to the maximum length with a hash tag.
//!
//! Paths (`a__b`) are broken on `__`, each fragment is normalized and the joined path is
//! shortened as a whole. [`normalize_path`] is for user-given strings (tag computed from the
//! original string), [`make_path`] joins fragments that are already normalized (tag computed
//! from the joined normalized path).
//!
//! The common case — a name that is already a valid snake_case identifier — is recognized by
//! a single byte scan and returned as is.

use base64::Engine as _;

/// Separator of path fragments in table and column names (`parent__child`).
pub const PATH_SEPARATOR: &str = "__";

/// The name dlt gives to an empty or whitespace-only dict key.
pub const EMPTY_KEY_IDENTIFIER: &str = "_empty";

/// Length of the hash tag that shortened names carry (4 bytes of SHAKE-128, base64).
pub const TAG_LENGTH: usize = 6;

/// An identifier that cannot be normalized to a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// The identifier is empty or whitespace only (dlt raises `ValueError`).
    #[error("identifier {0:?} is empty or only whitespace; it cannot be normalized into a name")]
    Empty(String),
    /// The path has no fragments once `__` separators and blank fragments are removed.
    #[error(
        "path {0:?} consists only of `__` separators and blanks; it has no name fragment to normalize"
    )]
    NoFragments(String),
}

/// Normalizes ONE identifier (no `__` path splitting) and shortens it to `max_len`
/// characters (`0` = no limit), the tag computed from the stripped original.
pub fn normalize_identifier(ident: &str, max_len: usize) -> Result<String, NamingError> {
    let stripped = py_strip(ident);
    if stripped.is_empty() {
        return Err(NamingError::Empty(ident.to_string()));
    }
    if is_snake_fragment(stripped.as_bytes()) && fits(stripped, max_len) {
        return Ok(stripped.to_string());
    }
    let normalized = snake_case(stripped);
    Ok(shorten_owned(normalized, stripped, max_len))
}

/// Normalizes a user-given string that may be a path (`a__b`): split on `__`, drop blank
/// fragments, normalize each fragment, join with `__` and shorten the joined name with the
/// tag computed from the ORIGINAL string. Used for root table names and dict keys.
///
/// dlt returns an empty name for a string made only of `__` separators (e.g. `"__"`); this
/// is reported as [`NamingError::NoFragments`] instead.
pub fn normalize_path(path: &str, max_len: usize) -> Result<String, NamingError> {
    if is_snake_path(path.as_bytes()) && fits(path, max_len) {
        return Ok(path.to_string());
    }
    let mut joined = String::with_capacity(path.len() + 4);
    let mut fragments = 0usize;
    let mut single_fragment = "";
    for fragment in path.split(PATH_SEPARATOR) {
        let fragment = py_strip(fragment);
        if fragment.is_empty() {
            continue;
        }
        if fragments > 0 {
            joined.push_str(PATH_SEPARATOR);
        }
        fragments += 1;
        single_fragment = fragment;
        if is_snake_fragment(fragment.as_bytes()) {
            joined.push_str(fragment);
        } else {
            joined.push_str(&snake_case(fragment));
        }
    }
    match fragments {
        0 if py_strip(path).is_empty() => Err(NamingError::Empty(path.to_string())),
        0 => Err(NamingError::NoFragments(path.to_string())),
        // dlt shortens each fragment (tag from the stripped fragment) and then the joined
        // path (tag from the original string). A single long fragment is short enough after
        // the first step, so its tag comes from the fragment.
        1 => Ok(shorten_owned(joined, single_fragment, max_len)),
        // With two or more fragments the joined path is still too long after shortening
        // the fragments, and the second step keeps only the first and last characters,
        // which the first step never changes: shortening once gives the same name.
        _ => Ok(shorten_owned(joined, path, max_len)),
    }
}

/// Normalizes a dict key into a column name fragment. Never fails:
/// an empty or whitespace-only key becomes `_empty` (as in dlt); a key made only of `__`
/// separators (for which dlt produces an empty name) is normalized as one identifier, so
/// `"__"` becomes `xx`. Otherwise the same as [`normalize_path`].
pub fn normalize_key(key: &str, max_len: usize) -> String {
    match normalize_path(key, max_len) {
        Ok(name) => name,
        Err(NamingError::Empty(_)) => EMPTY_KEY_IDENTIFIER.to_string(),
        Err(NamingError::NoFragments(_)) => match normalize_identifier(key, max_len) {
            Ok(name) => name,
            Err(_) => EMPTY_KEY_IDENTIFIER.to_string(),
        },
    }
}

/// Joins ALREADY normalized fragments with `__` (blank fragments are skipped, as in dlt) and
/// shortens the result with the tag computed from the joined path. Used for flattened columns
/// (`a__b`), nested tables (`t__items`) and variant columns (`v__v_text`).
pub fn make_path(fragments: &[&str], max_len: usize) -> String {
    join_and_shorten(fragments, PATH_SEPARATOR, max_len)
}

/// [`make_path`] with separator `sep`.
fn join_and_shorten(fragments: &[&str], sep: &str, max_len: usize) -> String {
    let capacity = fragments.iter().map(|f| f.len() + sep.len()).sum();
    let mut joined = String::with_capacity(capacity);
    for fragment in fragments {
        if py_strip(fragment).is_empty() {
            continue;
        }
        if !joined.is_empty() {
            joined.push_str(sep);
        }
        joined.push_str(fragment);
    }
    if fits(&joined, max_len) {
        return joined;
    }
    trim_and_tag(&joined, &compute_tag(&joined), max_len)
}

/// Shortens `name` to `max_len` characters (`0` = no limit) when it is longer: keeps the
/// first `ceil((max_len - 6) / 2)` characters, a 6 character tag computed from `tag_source`
/// and the last `floor((max_len - 6) / 2)` characters (dlt's `shorten_identifier`).
pub fn shorten(name: &str, tag_source: &str, max_len: usize) -> String {
    if fits(name, max_len) {
        return name.to_string();
    }
    trim_and_tag(name, &compute_tag(tag_source), max_len)
}

/// Whether `name` is returned unchanged by [`normalize_identifier`] with `max_len`: a
/// lowercase snake_case identifier (`[a-z0-9_]`, not starting with a digit, not ending with
/// `_`, no `__`) of at most `max_len` characters.
pub fn is_normalized_identifier(name: &str, max_len: usize) -> bool {
    is_snake_fragment(name.as_bytes()) && fits(name, max_len)
}

/// The 6 character tag of a shortened name: base64 of 4 bytes of SHAKE-128 of `source`,
/// padding stripped, `/`→`a`, `+`→`b`, lowercased.
pub fn compute_tag(source: &str) -> String {
    let mut hasher = crate::ids::Shake128::new();
    hasher.update(source.as_bytes());
    let mut digest = [0u8; 4];
    hasher.finish(&mut digest);
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest);
    encoded
        .chars()
        .map(|c| match c {
            '/' => 'a',
            '+' => 'b',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn shorten_owned(name: String, tag_source: &str, max_len: usize) -> String {
    if fits(&name, max_len) {
        name
    } else {
        trim_and_tag(&name, &compute_tag(tag_source), max_len)
    }
}

/// Whether `name` needs no shortening (dlt compares lengths in characters).
fn fits(name: &str, max_len: usize) -> bool {
    max_len == 0 || name.len() <= max_len || name.chars().count() <= max_len
}

fn trim_and_tag(name: &str, tag: &str, max_len: usize) -> String {
    if max_len <= tag.len() {
        // dlt asserts here; a name of this length cannot carry a tag and a prefix
        return tag.chars().take(max_len).collect();
    }
    let remaining = max_len - tag.len();
    let head = remaining / 2 + remaining % 2;
    let tail = remaining / 2;
    let total = name.chars().count();
    let mut out = String::with_capacity(max_len + 8);
    out.extend(name.chars().take(head));
    out.push_str(tag);
    out.extend(name.chars().skip(total - tail));
    out
}

/// `[a-z0-9_]+`, not starting with a digit, not ending with `_`, no `__`: such a fragment
/// normalizes to itself.
fn is_snake_fragment(b: &[u8]) -> bool {
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    if first.is_ascii_digit() || *last == b'_' {
        return false;
    }
    let mut prev_underscore = false;
    for &c in b {
        match c {
            b'a'..=b'z' | b'0'..=b'9' => prev_underscore = false,
            b'_' => {
                if prev_underscore {
                    return false;
                }
                prev_underscore = true;
            }
            _ => return false,
        }
    }
    true
}

/// A path whose fragments (split on `__`) are all non-empty snake fragments: it normalizes
/// to itself.
fn is_snake_path(b: &[u8]) -> bool {
    if b.is_empty() {
        return false;
    }
    // quick reject of anything outside the alphabet before splitting
    if !b
        .iter()
        .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_'))
    {
        return false;
    }
    let mut rest = b;
    loop {
        let split = rest.windows(2).position(|w| w == b"__");
        let (fragment, next) = match split {
            Some(i) => (&rest[..i], Some(&rest[i + 2..])),
            None => (rest, None),
        };
        if !is_snake_fragment(fragment) {
            return false;
        }
        match next {
            Some(n) => rest = n,
            None => return true,
        }
    }
}

/// Steps 2–7 of §3.10 for one stripped, non-empty identifier (no shortening).
fn snake_case(ident: &str) -> String {
    // steps 2 + 3: reduce the alphabet, runs of other characters become one `_`
    let mut reduced: Vec<char> = Vec::with_capacity(ident.len() + 4);
    let mut in_run = false;
    for c in ident.chars() {
        let c = match c {
            '+' | '*' => 'x',
            '-' => '_',
            '@' => 'a',
            '|' => 'l',
            c => c,
        };
        if c.is_ascii_alphanumeric() || c == '_' || (!c.is_ascii() && is_unicode_digit(c)) {
            reduced.push(c);
            in_run = false;
        } else if !in_run {
            reduced.push('_');
            in_run = true;
        }
    }

    // step 4a: `([^_])([A-Z][a-z]+)` → `\1_\2` (non-overlapping, left to right)
    let n = reduced.len();
    let mut broken: Vec<char> = Vec::with_capacity(n + 8);
    let mut i = 0;
    while i < n {
        let c = reduced[i];
        if c != '_'
            && i + 2 < n
            && reduced[i + 1].is_ascii_uppercase()
            && reduced[i + 2].is_ascii_lowercase()
        {
            let mut j = i + 3;
            while j < n && reduced[j].is_ascii_lowercase() {
                j += 1;
            }
            broken.push(c);
            broken.push('_');
            broken.extend_from_slice(&reduced[i + 1..j]);
            i = j;
        } else {
            broken.push(c);
            i += 1;
        }
    }

    // step 4b: `([a-z0-9])([A-Z])` → `\1_\2`, then lowercase
    let m = broken.len();
    let mut lowered: Vec<char> = Vec::with_capacity(m + 8);
    let mut i = 0;
    while i < m {
        let c = broken[i];
        if (c.is_ascii_lowercase() || c.is_ascii_digit())
            && i + 1 < m
            && broken[i + 1].is_ascii_uppercase()
        {
            lowered.push(c);
            lowered.push('_');
            lowered.push(broken[i + 1].to_ascii_lowercase());
            i += 2;
        } else {
            // only ASCII letters, `_` and decimal digits are left: digits have no case
            lowered.push(c.to_ascii_lowercase());
            i += 1;
        }
    }

    // step 5: leading digit gets a `_` prefix
    let prefix = lowered
        .first()
        .is_some_and(|c| c.is_ascii_digit() || (!c.is_ascii() && is_unicode_digit(*c)));
    // step 6: every trailing `_` becomes `x`
    let trailing = lowered.iter().rev().take_while(|c| **c == '_').count();
    let body = &lowered[..lowered.len() - trailing];

    // step 7: collapse runs of `_` (the `x`s of step 6 are not underscores any more)
    let mut out = String::with_capacity(lowered.len() + 2);
    let mut prev_underscore = false;
    if prefix {
        out.push('_');
        prev_underscore = true;
    }
    for &c in body {
        if c == '_' {
            if !prev_underscore {
                out.push('_');
            }
            prev_underscore = true;
        } else {
            out.push(c);
            prev_underscore = false;
        }
    }
    for _ in 0..trailing {
        out.push('x');
    }
    out
}

/// dlt's naming conventions (`[schema] naming`, the schema's `normalizers.names`): how keys
/// and table names become identifiers. [`Naming::SnakeCase`] is dlt's default; the others
/// follow dlt 1.31's modules of the same names exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Naming {
    /// `snake_case`: lower case ASCII snake case (case insensitive).
    #[default]
    SnakeCase,
    /// `sql_cs_v1`: ASCII letters, digits and `_`, the case kept (case sensitive).
    SqlCsV1,
    /// `sql_ci_v1`: as `sql_cs_v1`, lower cased (case insensitive).
    SqlCiV1,
    /// `direct`: the key as it is but for line ends and quotes; `▶` separates paths.
    Direct,
    /// `duck_case`: every Unicode character but line ends and `"`; the case kept.
    DuckCase,
}

/// A naming convention dlt does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a naming convention (dlt's: snake_case, sql_cs_v1, sql_ci_v1, direct, duck_case)")]
pub struct UnknownNaming {
    pub name: String,
}

impl Naming {
    pub const ALL: [Naming; 5] = [
        Naming::SnakeCase,
        Naming::SqlCsV1,
        Naming::SqlCiV1,
        Naming::Direct,
        Naming::DuckCase,
    ];

    /// dlt's name of the convention (the last part of its module path).
    pub fn as_str(self) -> &'static str {
        match self {
            Naming::SnakeCase => "snake_case",
            Naming::SqlCsV1 => "sql_cs_v1",
            Naming::SqlCiV1 => "sql_ci_v1",
            Naming::Direct => "direct",
            Naming::DuckCase => "duck_case",
        }
    }

    /// A convention by name, or by dlt's module path
    /// (`dlt.common.normalizers.naming.sql_cs_v1`).
    pub fn parse(name: &str) -> Result<Naming, UnknownNaming> {
        let short = name
            .strip_prefix("dlt.common.normalizers.naming.")
            .unwrap_or(name);
        Naming::ALL
            .into_iter()
            .find(|n| n.as_str() == short)
            .ok_or_else(|| UnknownNaming {
                name: name.to_string(),
            })
    }

    /// The convention of `schema` (its `normalizers.names`; none: `snake_case`).
    pub fn of_schema(schema: &dest_core::Schema) -> Result<Naming, UnknownNaming> {
        match schema.normalizers.get("names").and_then(|v| v.as_str()) {
            Some(name) => Naming::parse(name),
            None => Ok(Naming::SnakeCase),
        }
    }

    /// Sets the convention of `schema` (its `normalizers.names`).
    pub fn set_on(self, schema: &mut dest_core::Schema) {
        schema
            .normalizers
            .insert("names".into(), self.as_str().into());
    }

    /// The separator of path fragments (`parent__child`; `direct`: `parent▶child`).
    pub fn separator(self) -> &'static str {
        match self {
            Naming::Direct => "▶",
            _ => PATH_SEPARATOR,
        }
    }

    /// Whether two names that differ only in case are different names.
    pub fn is_case_sensitive(self) -> bool {
        matches!(self, Naming::SqlCsV1 | Naming::Direct | Naming::DuckCase)
    }

    /// Normalizes ONE identifier and shortens it to `max_len` (`0` = no limit).
    pub fn normalize_identifier(self, ident: &str, max_len: usize) -> Result<String, NamingError> {
        if self == Naming::SnakeCase {
            return normalize_identifier(ident, max_len);
        }
        let stripped = py_strip(ident);
        if stripped.is_empty() {
            return Err(NamingError::Empty(ident.to_string()));
        }
        let normalized = self.convert(stripped);
        if normalized.is_empty() {
            // dlt would make an empty name, which no destination takes
            return Err(NamingError::Empty(ident.to_string()));
        }
        let shortened = shorten_owned(normalized, stripped, max_len);
        Ok(match self {
            Naming::SqlCiV1 => shortened.to_lowercase(),
            _ => shortened,
        })
    }

    /// Normalizes a string that may be a path (`a__b`): each fragment, then the joined path
    /// is shortened with the tag of the original string (dlt's `normalize_path`).
    pub fn normalize_path(self, path: &str, max_len: usize) -> Result<String, NamingError> {
        if self == Naming::SnakeCase {
            return normalize_path(path, max_len);
        }
        let sep = self.separator();
        let fragments: Vec<&str> = path
            .split(sep)
            .filter(|f| !py_strip(f).is_empty())
            .collect();
        if fragments.is_empty() {
            return Err(if py_strip(path).is_empty() {
                NamingError::Empty(path.to_string())
            } else {
                NamingError::NoFragments(path.to_string())
            });
        }
        let normalized = fragments
            .iter()
            .map(|f| self.normalize_identifier(f, max_len))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(shorten_owned(normalized.join(sep), path, max_len))
    }

    /// A dict key as a column name fragment; never fails (see [`normalize_key`]).
    pub fn normalize_key(self, key: &str, max_len: usize) -> String {
        if self == Naming::SnakeCase {
            return normalize_key(key, max_len);
        }
        match self.normalize_path(key, max_len) {
            Ok(name) => name,
            Err(NamingError::NoFragments(_)) => self
                .normalize_identifier(key, max_len)
                .unwrap_or_else(|_| EMPTY_KEY_IDENTIFIER.to_string()),
            Err(_) => EMPTY_KEY_IDENTIFIER.to_string(),
        }
    }

    /// Joins normalized fragments with the separator and shortens the result (dlt's
    /// `shorten_fragments`).
    pub fn make_path(self, fragments: &[&str], max_len: usize) -> String {
        join_and_shorten(fragments, self.separator(), max_len)
    }

    /// The convention's rules for one stripped, non-empty identifier (not shortened).
    fn convert(self, ident: &str) -> String {
        match self {
            Naming::SnakeCase => snake_case(ident),
            Naming::SqlCsV1 | Naming::SqlCiV1 => {
                // `[^a-zA-Z\d_]+` -> `_` (`\d`: every Unicode decimal digit)
                let mut out = String::with_capacity(ident.len() + 1);
                let mut in_run = false;
                for c in ident.chars() {
                    if c.is_ascii_alphanumeric() || c == '_' || is_unicode_digit(c) {
                        out.push(c);
                        in_run = false;
                    } else if !in_run {
                        out.push('_');
                        in_run = true;
                    }
                }
                if out.chars().next().is_some_and(is_unicode_digit) {
                    out.insert(0, '_');
                }
                if out != "_" {
                    let keep = out.trim_end_matches('_').len();
                    out.truncate(keep);
                }
                collapse_underscores(&out)
            }
            Naming::Direct => ident
                .chars()
                .map(|c| match c {
                    '\n' | '\r' | '\'' | '"' | '▶' => '_',
                    c => c,
                })
                .collect(),
            Naming::DuckCase => {
                let cleaned: String = ident
                    .chars()
                    .map(|c| match c {
                        '\n' | '\r' | '"' => '_',
                        c => c,
                    })
                    .collect();
                collapse_underscores(&cleaned)
            }
        }
    }
}

impl std::fmt::Display for Naming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Runs of `_` become one (dlt's `RE_UNDERSCORES`, `__+`).
fn collapse_underscores(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = false;
    for c in s.chars() {
        if c == '_' {
            if !prev {
                out.push(c);
            }
            prev = true;
        } else {
            out.push(c);
            prev = false;
        }
    }
    out
}

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators `\x1c`–`\x1f`.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` without arguments.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Code points of the digit zero of every run of Unicode decimal digits (category `Nd`,
/// Unicode 14 as in Python 3.11). Each run holds the ten digits `zero..=zero + 9`.
const UNICODE_DIGIT_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The value of a Unicode decimal digit (Python's `\d` / `str.isdecimal()`), ASCII included.
pub(crate) fn unicode_digit_value(c: char) -> Option<u32> {
    let cp = c as u32;
    if c.is_ascii() {
        return c.to_digit(10);
    }
    // the table is sorted: find the last zero <= cp
    let idx = UNICODE_DIGIT_ZEROS.partition_point(|&z| z <= cp);
    let zero = *UNICODE_DIGIT_ZEROS.get(idx.checked_sub(1)?)?;
    (cp - zero < 10).then_some(cp - zero)
}

/// Whether `c` is a Unicode decimal digit (category `Nd`).
pub(crate) fn is_unicode_digit(c: char) -> bool {
    unicode_digit_value(c).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 63;

    #[test]
    fn identifiers() {
        let cases: &[(&str, &str)] = &[
            // spec §3.10
            ("event value", "event_value"),
            ("event-.!:*<>value", "event_x_value"),
            ("1event_n'", "_1event_nx"),
            ("123BaNaNa", "_123_ba_na_na"),
            ("BANaNA", "ba_na_na"),
            ("BANANA_", "bananax"),
            ("BANANA____", "bananaxxxx"),
            ("+-!$*@#=|:", "x_xa_lx"),
            ("+1", "x1"),
            ("-1", "_1"),
            ("CustomerID", "customer_id"),
            ("HTTPResponseCode", "http_response_code"),
            ("user.name", "user_name"),
            ("price$", "pricex"),
            ("A+B", "ax_b"),
            ("e-mail@home", "e_mailahome"),
            ("ÄÖÜ", "x"),
            ("Über", "_ber"),
            ("camelCase Key", "camel_case_key"),
            ("1st", "_1st"),
            ("123", "_123"),
            ("tag|pipe", "taglpipe"),
            ("LIST+ident:1", "lis_txident_1"),
            // conformance case
            ("CamelCase", "camel_case"),
            ("with space", "with_space"),
            ("dash-ed", "dash_ed"),
            ("UPPER", "upper"),
            ("_leading", "_leading"),
            ("trailing_", "trailingx"),
            ("123start", "_123start"),
            ("a.b", "a_b"),
            ("Ümlaut Ä", "_mlautx"),
            ("sign$%&", "signx"),
            ("camelCaseID", "camel_case_id"),
            ("HTTPServer", "http_server"),
            ("Nested Obj", "nested_obj"),
            ("Deeper Level", "deeper_level"),
            ("LeafNode", "leaf_node"),
            ("Item List", "item_list"),
            ("Sub Key", "sub_key"),
            ("Web Events-2024", "web_events_2024"),
            // checked against dlt 1.31 (snake_case, max_length 63)
            ("  padded\t", "padded"),
            ("_", "x"),
            ("a_$", "axx"),
            ("a__b", "a_b"),
            ("x__y", "x_y"),
            ("_dlt_id", "_dlt_id"),
            ("aBcDEf", "a_bc_d_ef"),
            ("ABc", "a_bc"),
            ("a1B2C", "a1_b2_c"),
            ("٣abc", "_٣abc"),
            ("x²", "xx"),
            ("ß", "x"),
            ("__init__", "_initxx"),
            ("\u{1c}a\u{1f}", "a"),
            ("a\u{a0}b", "a_b"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_identifier(input, MAX).as_deref(),
                Ok(*expected),
                "identifier {input:?}"
            );
        }
    }

    #[test]
    fn paths() {
        let cases: &[(&str, &str)] = &[
            ("Camel__Case", "camel__case"),
            ("__init__", "init"),
            ("Small___Love____Potion_____x", "small___love__potion___x"),
            ("x__y", "x__y"),
            ("Web Events-2024", "web_events_2024"),
            ("a__ b", "a__b"),
            ("a__1b", "a___1b"),
            ("___", "x"),
            ("a__b__", "a__b"),
            ("already__normal__name", "already__normal__name"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_path(input, MAX).as_deref(),
                Ok(*expected),
                "path {input:?}"
            );
        }
    }

    #[test]
    fn empty_inputs() {
        assert_eq!(
            normalize_identifier("  ", MAX),
            Err(NamingError::Empty("  ".into()))
        );
        assert_eq!(
            normalize_identifier("", MAX),
            Err(NamingError::Empty("".into()))
        );
        assert_eq!(
            normalize_path(" ", MAX),
            Err(NamingError::Empty(" ".into()))
        );
        assert_eq!(
            normalize_path("__", MAX),
            Err(NamingError::NoFragments("__".into()))
        );
        assert_eq!(
            normalize_path("__ __", MAX),
            Err(NamingError::NoFragments("__ __".into()))
        );
        let msg = normalize_identifier("\t", MAX).unwrap_err().to_string();
        assert!(msg.contains("\"\\t\""), "{msg}");
    }

    #[test]
    fn keys() {
        let cases: &[(&str, &str)] = &[
            ("", "_empty"),
            ("   ", "_empty"),
            ("x__y", "x__y"),
            ("y__z", "y__z"),
            ("a b", "a_b"),
            ("A-B", "a_b"),
            ("__", "xx"),
            ("____", "xxxx"),
            ("_", "x"),
            ("CustomerID", "customer_id"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_key(input, MAX), *expected, "key {input:?}");
        }
    }

    #[test]
    fn shortening() {
        let a70 = "a".repeat(70);
        let expected = format!("{}mo6cba{}", "a".repeat(29), "a".repeat(28));
        assert_eq!(normalize_identifier(&a70, MAX).unwrap(), expected);
        assert_eq!(normalize_path(&a70, MAX).unwrap(), expected);
        assert_eq!(normalize_key(&a70, MAX), expected);
        assert_eq!(shorten(&a70, &a70, MAX), expected);
        assert_eq!(expected.len(), 63);
        assert_eq!(
            expected,
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaamo6cbaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        );
        // no shortening at or below the limit, or without a limit
        let a63 = "a".repeat(63);
        assert_eq!(normalize_identifier(&a63, MAX).unwrap(), a63);
        assert_eq!(normalize_identifier(&a70, 0).unwrap(), a70);
        assert_eq!(compute_tag(&a70), "mo6cba");
    }

    #[test]
    fn path_shortening_uses_normalized_tag() {
        let child = make_path(
            &[
                "parent_table_with_a_long_name",
                "child_list_with_a_long_name",
            ],
            MAX,
        );
        assert_eq!(
            child,
            "parent_table_with_a_long_name__child_list_with_a_long_name"
        );
        let grandchild = make_path(
            &[
                "parent_table_with_a_long_name",
                "child_list_with_a_long_name",
                "grandchild_list_long",
            ],
            MAX,
        );
        assert_eq!(
            grandchild,
            "parent_table_with_a_long_name0ux7kqg_name__grandchild_list_long"
        );
        assert_eq!(grandchild.len(), 63);
        // blank fragments are skipped
        assert_eq!(make_path(&["t", "", "items"], MAX), "t__items");
        assert_eq!(make_path(&["v", "v_text"], MAX), "v__v_text");
    }

    #[test]
    fn user_path_tag_comes_from_original() {
        // the tag of a user-given path is computed from the string as given
        let original = format!("Parent Table With A Long Name__{}", "Child ".repeat(8));
        let normalized = normalize_path(&original, MAX).unwrap();
        assert_eq!(normalized.chars().count(), MAX);
        assert!(normalized.contains(&compute_tag(&original)));
        assert_eq!(
            normalized,
            "parent_table_with_a_long_namenr1blghild_child_child_child_child"
        );
        // long fragments (dlt shortens them one by one first: same result)
        let long = format!("{}__{}", "a".repeat(70), "B".repeat(70));
        assert_eq!(
            normalize_path(&long, MAX).unwrap(),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaam45hvwbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
        );
        // one long fragment: the tag comes from the stripped fragment, not the original
        let padded = format!(" Abz.+é__{}", "a".repeat(70));
        assert_eq!(
            normalize_path(&format!(" {}  ", "Ab".repeat(40)), MAX).unwrap(),
            normalize_identifier(&"Ab".repeat(40), MAX).unwrap()
        );
        assert_eq!(
            normalize_path(&padded, MAX).unwrap(),
            "abz_xx__aaaaaaaaaaaaaaaaaaaaa4eeajaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        );
        let middle = format!("x__{}__yyy", "Ab".repeat(40));
        assert_eq!(
            normalize_path(&middle, MAX).unwrap(),
            "x__ab_ab_ab_ab_ab_ab_ab_ab_abekijkwab_ab_ab_ab_ab_ab_ab_ab__yyy"
        );
    }

    #[test]
    fn fast_path_agrees_with_slow_path() {
        for name in ["a", "abc_def", "_leading", "a1", "z9_x", "a__b", "_a__b_c"] {
            assert_eq!(normalize_path(name, MAX).unwrap(), name);
            if !name.contains("__") {
                assert!(is_normalized_identifier(name, MAX));
                assert_eq!(snake_case(name), name);
            }
        }
        assert!(!is_normalized_identifier("a__b", MAX));
        assert!(!is_normalized_identifier("1a", MAX));
        assert!(!is_normalized_identifier("a_", MAX));
        assert!(!is_normalized_identifier("A", MAX));
    }

    #[test]
    fn unicode_digits() {
        assert_eq!(unicode_digit_value('7'), Some(7));
        assert_eq!(unicode_digit_value('٣'), Some(3));
        assert_eq!(unicode_digit_value('𝟿'), Some(9));
        assert_eq!(unicode_digit_value('²'), None);
        assert_eq!(unicode_digit_value('a'), None);
        assert_eq!(unicode_digit_value('\u{2f}'), None);
    }
}
