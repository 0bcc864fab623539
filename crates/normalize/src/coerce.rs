//! Type inference, ISO timestamp detection and value coercion (spec §3.7, §3.8).
//!
//! * [`infer_type`] picks the dlt type of a new column from a JSON value: dlt's Python type
//!   map plus the default `iso_timestamp` detection ([`parse_iso_timestamp`]).
//! * [`coerce`] converts a JSON value into an existing column's type with dlt's coercion
//!   table (`coerce_value`); an error tells the caller to use a variant column.
//! * The text renderings follow Python: `str()` of numbers and bools ([`python_float_repr`]),
//!   compact JSON as dlt's `orjson` writes it ([`to_json_text`]).
//!
//! Timestamp parsing ports pendulum's ISO 8601 parser (the Rust extension dlt uses) and its
//! "common" fallback regex, then applies Python `datetime` validity (years 1–9999, hour < 24).
//! Values without an offset are UTC; sub-microsecond digits are truncated.

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use dest_core::{Column, DataType, Value};
use serde_json::Value as Json;

use crate::naming::unicode_digit_value;

/// Integers beyond 64 bits with at most this many digits are inferred as `wei`; longer
/// ones as `text`.
pub const MAX_WEI_DIGITS: usize = 76;

/// Longest digit string converted between bases or into bytes (the conversions are
/// quadratic); longer numbers are rejected.
const MAX_PARSED_DIGITS: usize = 4096;

/// Largest decimal exponent accepted in decimal text (`1e1000000` is rejected).
const MAX_DECIMAL_EXPONENT: u64 = 1_000_000;

/// A value that cannot be converted into a column's type. The caller puts the value into
/// a variant column instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CoerceError {
    /// dlt has no conversion between these types.
    #[error("a {from} value cannot be coerced into a {to} column")]
    Unsupported { from: DataType, to: DataType },
    /// The conversion exists but this value does not convert (e.g. `"abc"` into bigint).
    #[error("this {from} value is not a valid {to} value")]
    Invalid { from: DataType, to: DataType },
}

/// The shape of a JSON value as dlt's Python type map sees it.
#[derive(Debug, Clone, Copy)]
enum Kind<'a> {
    Null,
    Text(&'a str),
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer beyond `i64`: its decimal text.
    BigInt(&'a str),
    /// A number with a fraction or exponent: its JSON text.
    Float(&'a str),
    /// An object or array.
    Json,
}

fn kind(v: &Json) -> Kind<'_> {
    match v {
        Json::Null => Kind::Null,
        Json::Bool(b) => Kind::Bool(*b),
        Json::String(s) => Kind::Text(s),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Kind::Int(i);
            }
            let text = n.as_str();
            if text.contains(['.', 'e', 'E']) {
                Kind::Float(text)
            } else {
                Kind::BigInt(text)
            }
        }
        Json::Array(_) | Json::Object(_) => Kind::Json,
    }
}

/// dlt's type of a Python value (the `from` type of a coercion).
fn kind_type(k: Kind<'_>) -> DataType {
    match k {
        Kind::Null | Kind::Text(_) => DataType::Text,
        Kind::Bool(_) => DataType::Bool,
        Kind::Int(_) | Kind::BigInt(_) => DataType::Bigint,
        Kind::Float(_) => DataType::Double,
        Kind::Json => DataType::Json,
    }
}

/// The type of a big integer: `wei` up to [`MAX_WEI_DIGITS`] digits, else `text`.
fn big_int_type(digits: &str) -> DataType {
    if digits.trim_start_matches('-').len() <= MAX_WEI_DIGITS {
        DataType::Wei
    } else {
        DataType::Text
    }
}

/// dlt's Python type map without detections: `text`, `bool`, `bigint`, `double`, `json`
/// (and `wei`/`text` for integers beyond 64 bits). `None` for null. dlt names variant
/// columns after this type (`col__v_text` for any string, even one that looks like a
/// timestamp).
pub fn value_type(v: &Json) -> Option<DataType> {
    Some(match kind(v) {
        Kind::Null => return None,
        Kind::Text(_) => DataType::Text,
        Kind::Bool(_) => DataType::Bool,
        Kind::Int(_) => DataType::Bigint,
        Kind::BigInt(digits) => big_int_type(digits),
        Kind::Float(_) => DataType::Double,
        Kind::Json => DataType::Json,
    })
}

/// The dlt type inferred for a new column from a value (§3.7): strings are `timestamp` when
/// they are ISO timestamps, else `text`; integers are `bigint` (`wei` beyond 64 bits, `text`
/// past [`MAX_WEI_DIGITS`] digits); other numbers `double`; objects and arrays `json`.
/// `None` for null.
pub fn infer_type(v: &Json) -> Option<DataType> {
    match v {
        Json::String(s) if parse_iso_timestamp(s).is_some() => Some(DataType::Timestamp),
        _ => value_type(v),
    }
}

/// Converts a JSON value into the type of `col` (§3.8). A column without a data type takes
/// the inferred type of the value. Timestamp columns with `timezone: false` get naive UTC
/// timestamps. Null gives [`Value::Null`].
pub fn coerce(v: &Json, col: &Column) -> Result<Value, CoerceError> {
    let ty = match col.data_type.or_else(|| infer_type(v)) {
        Some(ty) => ty,
        None => return Ok(Value::Null),
    };
    coerce_to(v, ty, col.timezone)
}

/// The value of a new column whose type was inferred with [`infer_type`] (the conversion
/// always succeeds for the inferred type; should it not, the value is kept as text).
pub fn to_value(v: &Json, ty: DataType) -> Value {
    coerce_to(v, ty, None).unwrap_or_else(|_| Value::Text(to_text(v)))
}

/// Converts a JSON value into `ty` with dlt's coercion rules. `timezone` is the column's
/// `timezone` hint: `Some(false)` gives naive (UTC) timestamps.
pub fn coerce_to(v: &Json, ty: DataType, timezone: Option<bool>) -> Result<Value, CoerceError> {
    let k = kind(v);
    let from = kind_type(k);
    let invalid = CoerceError::Invalid { from, to: ty };
    let unsupported = CoerceError::Unsupported { from, to: ty };
    if let Kind::Null = k {
        return Ok(Value::Null);
    }
    Ok(match ty {
        DataType::Text => Value::Text(match k {
            Kind::Text(s) => s.to_string(),
            _ => to_text(v),
        }),
        DataType::Bigint => Value::Int(match k {
            Kind::Int(i) => i,
            Kind::Float(t) => {
                let f = parse_json_float(t);
                if !f.is_finite() || f.fract() != 0.0 {
                    return Err(invalid);
                }
                f64_to_i64(f).ok_or(invalid)?
            }
            Kind::Text(s) => text_to_int(s).and_then(|i| i.to_i64()).ok_or(invalid)?,
            // an integer beyond 64 bits does not fit a bigint column
            Kind::BigInt(_) => return Err(invalid),
            Kind::Bool(_) | Kind::Json | Kind::Null => return Err(unsupported),
        }),
        DataType::Double => Value::Double(match k {
            Kind::Float(t) => parse_json_float(t),
            Kind::Int(i) => i as f64,
            Kind::BigInt(digits) => {
                finite(digits.parse::<f64>().map_err(|_| invalid)?).ok_or(invalid)?
            }
            Kind::Text(s) => text_to_double(s).ok_or(invalid)?,
            Kind::Bool(_) | Kind::Json | Kind::Null => return Err(unsupported),
        }),
        DataType::Decimal | DataType::Wei => Value::Number(match k {
            Kind::Int(i) => i.to_string(),
            Kind::BigInt(digits) => digits.to_string(),
            // the exact JSON text (dlt goes through a Python float here)
            Kind::Float(t) => py_decimal(t).ok_or(invalid)?,
            Kind::Text(s) => text_to_decimal(s).ok_or(invalid)?,
            Kind::Bool(_) | Kind::Json | Kind::Null => return Err(unsupported),
        }),
        DataType::Bool => Value::Bool(match k {
            Kind::Bool(b) => b,
            Kind::Text(s) => str2bool(s).ok_or(invalid)?,
            Kind::Int(i) => i != 0,
            // beyond 64 bits, so never zero
            Kind::BigInt(_) => true,
            Kind::Float(t) => parse_json_float(t) != 0.0,
            Kind::Json | Kind::Null => return Err(unsupported),
        }),
        DataType::Timestamp => {
            let utc = match k {
                Kind::Text(s) => parse_datetime_lenient(s),
                Kind::Int(i) => from_timestamp_secs(i),
                Kind::Float(t) => from_timestamp_f64(parse_json_float(t)),
                Kind::BigInt(_) => None,
                Kind::Bool(_) | Kind::Json | Kind::Null => return Err(unsupported),
            }
            .ok_or(invalid)?;
            if timezone == Some(false) {
                Value::NaiveTimestamp(utc.naive_utc())
            } else {
                Value::Timestamp(utc)
            }
        }
        DataType::Date => Value::Date(
            match k {
                Kind::Text(s) => {
                    if let Some(date) = date_fromisoformat(s) {
                        return Ok(Value::Date(date));
                    }
                    parse_datetime_lenient(s)
                }
                Kind::Int(i) => from_timestamp_secs(i),
                Kind::Float(t) => from_timestamp_f64(parse_json_float(t)),
                Kind::BigInt(_) => None,
                Kind::Bool(_) | Kind::Json | Kind::Null => return Err(unsupported),
            }
            .ok_or(invalid)?
            .date_naive(),
        ),
        DataType::Time => Value::Time(match k {
            Kind::Text(s) => parse_time_text(s).ok_or(invalid)?,
            _ => return Err(unsupported),
        }),
        DataType::Binary => Value::Binary(match k {
            Kind::Text(s) => text_to_binary(s).ok_or(invalid)?,
            Kind::Int(i) => {
                if i < 0 {
                    return Err(invalid);
                }
                let bytes = i.to_le_bytes();
                let len = bytes.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
                bytes[..len].to_vec()
            }
            Kind::BigInt(digits) => decimal_to_le_bytes(digits).ok_or(invalid)?,
            Kind::Float(_) | Kind::Bool(_) | Kind::Json | Kind::Null => return Err(unsupported),
        }),
        DataType::Json => Value::Json(match k {
            Kind::Json => v.clone(),
            Kind::Text(s) => serde_json::from_str::<Json>(s).map_err(|_| invalid)?,
            _ => return Err(unsupported),
        }),
    })
}

/// The text a value becomes in a `text` column: strings as they are, `True`/`False`,
/// integers in decimal, other numbers as Python's `str(float)`, objects and arrays as
/// compact JSON in their key order.
pub fn to_text(v: &Json) -> String {
    match kind(v) {
        Kind::Null => "None".to_string(),
        Kind::Text(s) => s.to_string(),
        Kind::Bool(true) => "True".to_string(),
        Kind::Bool(false) => "False".to_string(),
        Kind::Int(i) => i.to_string(),
        Kind::BigInt(digits) => digits.to_string(),
        Kind::Float(t) => python_float_repr(parse_json_float(t)),
        Kind::Json => to_json_text(v, false),
    }
}

// ---------------------------------------------------------------------------------------
// JSON and number rendering

/// Compact JSON as dlt writes it with `orjson`: no spaces, non-ASCII characters as they are,
/// only `"`, `\` and control characters escaped; integers in decimal, other numbers in
/// orjson's shortest float form (`1e-7`, `1e+16`, `0.00001`, `2.0`). With `sort_keys`, the
/// keys of every object are sorted (by code point) like `OPT_SORT_KEYS`.
pub fn to_json_text(v: &Json, sort_keys: bool) -> String {
    let mut out = String::new();
    write_json(&mut out, v, sort_keys);
    out
}

fn write_json(out: &mut String, v: &Json, sort_keys: bool) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Number(_) => match kind(v) {
            Kind::Int(i) => out.push_str(&i.to_string()),
            Kind::BigInt(digits) => out.push_str(digits),
            Kind::Float(t) => out.push_str(&orjson_float_repr(parse_json_float(t))),
            _ => out.push_str("null"),
        },
        Json::String(s) => write_json_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item, sort_keys);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            let mut entries: Vec<(&String, &Json)> = map.iter().collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_json(out, value, sort_keys);
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Shortest round-trip digits of a finite `f` and its decimal exponent: `f = d.ddd × 10^exp`.
fn float_digits(f: f64) -> (String, i32) {
    let shortest = format!("{:e}", f.abs());
    // Python breaks ties between two shortest candidates by rounding half to even; the
    // exact formatting with the same number of digits does that (and must round-trip)
    let n = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.replace('.', "").len());
    let exact = format!("{:.*e}", n.saturating_sub(1), f.abs());
    let sci = if exact.parse::<f64>().ok() == Some(f.abs()) {
        exact
    } else {
        shortest
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exp.parse().unwrap_or(0))
}

/// `digits` with the decimal point placed after `exp + 1` digits (`exp` in fixed range).
fn fixed_notation(digits: &str, exp: i32) -> String {
    let n = digits.len() as i32;
    if exp < 0 {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    } else if exp + 1 >= n {
        format!("{}{}.0", digits, "0".repeat((exp + 1 - n) as usize))
    } else {
        let (int, frac) = digits.split_at((exp + 1) as usize);
        format!("{int}.{frac}")
    }
}

/// Python's `str(float)` / `repr(float)`: `1.5`, `7.0`, `1e-07`, `1e+16`, `nan`, `inf`.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = float_digits(f);
    if (-4..16).contains(&exp) {
        return format!("{sign}{}", fixed_notation(&digits, exp));
    }
    let (first, rest) = digits.split_at(1);
    let dot = if rest.is_empty() { "" } else { "." };
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs())
}

/// orjson's float form: like Python's but fixed notation from 1e-5, and exponents without
/// zero padding (`1e-7`, `1e+16`). Not finite numbers are `null`.
fn orjson_float_repr(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (digits, exp) = float_digits(f);
    if (-5..16).contains(&exp) {
        return format!("{sign}{}", fixed_notation(&digits, exp));
    }
    let (first, rest) = digits.split_at(1);
    let dot = if rest.is_empty() { "" } else { "." };
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{first}{dot}{rest}e{esign}{}", exp.abs())
}

/// A JSON number's text as a Python float (`1e400` is infinite, as in Python).
fn parse_json_float(text: &str) -> f64 {
    text.parse::<f64>().unwrap_or(f64::NAN)
}

fn finite(f: f64) -> Option<f64> {
    f.is_finite().then_some(f)
}

/// `int(f)` for an integral float, when it fits `i64`.
fn f64_to_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every integral float below it fits
    (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0)
        .contains(&f)
        .then_some(f as i64)
}

// ---------------------------------------------------------------------------------------
// Python number parsing (`int()`, `float()`, `Decimal()`)

/// Python's string-to-number preprocessing: Unicode decimal digits become ASCII digits.
/// Returns `None` when another non-ASCII character (whitespace aside) is present.
fn ascii_number_text(s: &str) -> Option<String> {
    let trimmed = s.trim();
    if trimmed.is_ascii() {
        return Some(trimmed.to_string());
    }
    trimmed
        .chars()
        .map(|c| {
            if c.is_ascii() {
                Some(c)
            } else {
                unicode_digit_value(c).and_then(|d| char::from_digit(d, 10))
            }
        })
        .collect()
}

/// An integer parsed by Python's `int(text, radix)`: sign and canonical decimal digits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PyInt {
    negative: bool,
    /// Decimal digits without leading zeros (`0` for zero).
    digits: String,
}

impl PyInt {
    fn to_i64(&self) -> Option<i64> {
        if self.digits.len() > 19 {
            return None;
        }
        let magnitude: i128 = self.digits.parse().ok()?;
        i64::try_from(if self.negative { -magnitude } else { magnitude }).ok()
    }

    fn to_decimal_text(&self) -> String {
        if self.negative && self.digits != "0" {
            format!("-{}", self.digits)
        } else {
            self.digits.clone()
        }
    }

    fn to_f64(&self) -> Option<f64> {
        finite(self.to_decimal_text().parse::<f64>().ok()?)
    }
}

/// Python's `int(text, radix)` for radix 10 or 16: surrounding whitespace, a sign, for radix
/// 16 an optional `0x` prefix, digits with single `_` between them.
fn py_int(text: &str, radix: u32) -> Option<PyInt> {
    let s = ascii_number_text(text)?;
    let mut rest = s.as_str();
    let negative = rest.starts_with('-');
    if rest.starts_with(['-', '+']) {
        rest = &rest[1..];
    }
    if radix == 16 {
        if let Some(r) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            rest = r.strip_prefix('_').unwrap_or(r);
        }
    }
    let mut values: Vec<u32> = Vec::with_capacity(rest.len());
    let mut prev_underscore = true; // no leading `_`
    for c in rest.chars() {
        if c == '_' {
            if prev_underscore {
                return None;
            }
            prev_underscore = true;
            continue;
        }
        values.push(c.to_digit(radix)?);
        prev_underscore = false;
    }
    // the base conversion below is quadratic: no column type holds more digits than this
    if values.is_empty() || prev_underscore || values.len() > MAX_PARSED_DIGITS {
        return None;
    }
    Some(PyInt {
        negative,
        digits: digits_to_decimal(&values, radix),
    })
}

/// Decimal text of the number with the given digit values in `radix`.
fn digits_to_decimal(values: &[u32], radix: u32) -> String {
    if radix == 10 {
        let s: String = values
            .iter()
            .skip_while(|d| **d == 0)
            .filter_map(|d| char::from_digit(*d, 10))
            .collect();
        return if s.is_empty() { "0".to_string() } else { s };
    }
    // little-endian limbs of base 10^9
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![0];
    for &d in values {
        let mut carry = u64::from(d);
        for limb in limbs.iter_mut() {
            let v = *limb * u64::from(radix) + carry;
            *limb = v % BASE;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut out = String::new();
    for (i, limb) in limbs.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&limb.to_string());
        } else {
            out.push_str(&format!("{limb:09}"));
        }
    }
    out
}

/// Little-endian bytes of a non-negative decimal integer (Python's
/// `int.to_bytes((bit_length + 7) // 8, "little")`); `None` for negative numbers.
fn decimal_to_le_bytes(digits: &str) -> Option<Vec<u8>> {
    if digits.starts_with('-') || digits.len() > MAX_PARSED_DIGITS {
        return None;
    }
    let mut num: Vec<u32> = digits
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    let mut out = Vec::new();
    while num.iter().any(|d| *d != 0) {
        let mut rem = 0u32;
        let mut quotient = Vec::with_capacity(num.len());
        for d in &num {
            let cur = rem * 10 + d;
            quotient.push(cur / 256);
            rem = cur % 256;
        }
        out.push(rem as u8);
        let first_nonzero = quotient
            .iter()
            .position(|d| *d != 0)
            .unwrap_or(quotient.len());
        num = quotient.split_off(first_nonzero);
    }
    Some(out)
}

/// Python's `float(text)`: surrounding whitespace, a sign, `inf`/`infinity`/`nan` in any
/// case, or a decimal number with optional exponent and single `_` between digits.
fn py_float(text: &str) -> Option<f64> {
    let s = ascii_number_text(text)?;
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s.as_str()),
    };
    let special = match body.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(f) = special {
        return Some(if negative { -f } else { f });
    }
    let b = body.as_bytes();
    let mut i = 0;
    let int_part = take_digit_part(b, &mut i)?;
    let mut frac_part = String::new();
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_part = take_digit_part(b, &mut i)?;
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut exp_part = String::from("0");
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let mut sign = "";
        if let Some(&c @ (b'-' | b'+')) = b.get(i) {
            sign = if c == b'-' { "-" } else { "" };
            i += 1;
        }
        let digits = take_digit_part(b, &mut i)?;
        if digits.is_empty() {
            return None;
        }
        exp_part = format!("{sign}{digits}");
    }
    if i != b.len() {
        return None;
    }
    let int_part = if int_part.is_empty() {
        "0".to_string()
    } else {
        int_part
    };
    let frac_part = if frac_part.is_empty() {
        "0".to_string()
    } else {
        frac_part
    };
    let f: f64 = format!("{int_part}.{frac_part}e{exp_part}").parse().ok()?;
    Some(if negative { -f } else { f })
}

/// Digits with single `_` between them starting at `*i` (possibly none). `None` when an
/// underscore is not between two digits.
fn take_digit_part(b: &[u8], i: &mut usize) -> Option<String> {
    let mut out = String::new();
    while let Some(&c) = b.get(*i) {
        if c.is_ascii_digit() {
            out.push(c as char);
            *i += 1;
        } else if c == b'_' {
            let next_is_digit = b.get(*i + 1).is_some_and(|n| n.is_ascii_digit());
            if out.is_empty() || !next_is_digit {
                return None;
            }
            *i += 1;
        } else {
            break;
        }
    }
    Some(out)
}

/// Python's `Decimal(text)` rendered with `str()` (e.g. `1E+3`, `7.50`, `1E-7`): exact,
/// underscores ignored. `None` for invalid text and for `NaN`/`Infinity`, which no SQL
/// numeric literal can carry.
fn py_decimal(text: &str) -> Option<String> {
    let cleaned: String = ascii_number_text(text)?
        .chars()
        .filter(|c| *c != '_')
        .collect();
    let (negative, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|c| c.is_ascii_digit())
        || !frac_part.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            e.strip_prefix('+').unwrap_or(e).parse().ok()?
        }
    };
    let coefficient = format!("{int_part}{frac_part}");
    let coefficient = coefficient.trim_start_matches('0');
    let coefficient = if coefficient.is_empty() {
        "0"
    } else {
        coefficient
    };
    let exp = exp.checked_sub(i64::try_from(frac_part.len()).ok()?)?;
    // far beyond any SQL numeric; keeps the exponent arithmetic below in range
    if exp.unsigned_abs() > MAX_DECIMAL_EXPONENT {
        return None;
    }
    Some(decimal_to_sci_string(negative, coefficient, exp))
}

/// Python's `Decimal.__str__` (to-scientific-string) of `±coefficient × 10^exp`.
fn decimal_to_sci_string(negative: bool, coefficient: &str, exp: i64) -> String {
    let n = coefficient.len() as i64;
    let leftdigits = exp + n;
    let dotplace = if exp <= 0 && leftdigits > -6 {
        leftdigits
    } else {
        1
    };
    let mut out = String::with_capacity(coefficient.len() + 12);
    if negative {
        out.push('-');
    }
    if dotplace <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-dotplace) as usize));
        out.push_str(coefficient);
    } else if dotplace >= n {
        out.push_str(coefficient);
        out.push_str(&"0".repeat((dotplace - n) as usize));
    } else {
        let (int, frac) = coefficient.split_at(dotplace as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
    if leftdigits != dotplace {
        out.push_str(&format!("E{:+}", leftdigits - dotplace));
    }
    out
}

/// Python's `str.strip()`.
fn py_strip(s: &str) -> &str {
    crate::naming::py_strip(s)
}

/// dlt's text → bigint: trimmed, `0x` hex allowed.
fn text_to_int(s: &str) -> Option<PyInt> {
    let trimmed = py_strip(s);
    match trimmed.strip_prefix("0x") {
        Some(hex) => py_int(hex, 16),
        None => py_int(trimmed, 10),
    }
}

/// dlt's text → double: trimmed, `0x` hex allowed, else Python's `float()`.
fn text_to_double(s: &str) -> Option<f64> {
    let trimmed = py_strip(s);
    match trimmed.strip_prefix("0x") {
        Some(hex) => py_int(hex, 16)?.to_f64(),
        None => py_float(trimmed),
    }
}

/// dlt's text → decimal/wei: trimmed, `0x` hex allowed, else Python's `Decimal()`.
fn text_to_decimal(s: &str) -> Option<String> {
    let trimmed = py_strip(s);
    match trimmed.strip_prefix("0x") {
        Some(hex) => Some(py_int(hex, 16)?.to_decimal_text()),
        None => py_decimal(trimmed),
    }
}

/// dlt's `str2bool`: `yes/true/t/y/1` and `no/false/f/n/0`, case-insensitive, not trimmed.
fn str2bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 5] = ["yes", "true", "t", "y", "1"];
    const FALSE: [&str; 5] = ["no", "false", "f", "n", "0"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// dlt's text → binary: `0x` + hex (`bytes.fromhex`, whitespace between bytes allowed) or
/// strict base64 (`b64decode(validate=True)`).
fn text_to_binary(s: &str) -> Option<Vec<u8>> {
    match s.strip_prefix("0x") {
        Some(hex) => from_hex(hex),
        None => strict_base64(s),
    }
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut i = 0;
    while i < b.len() {
        if matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            i += 1;
            continue;
        }
        let hi = (*b.get(i)? as char).to_digit(16)?;
        let lo = (*b.get(i + 1)? as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
    }
    Some(out)
}

/// Python 3.11 `base64.b64decode(s, validate=True)` (binascii strict mode).
fn strict_base64(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.first() == Some(&b'=') {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    let mut quad_pos = 0u8;
    let mut pads = 0u8;
    let mut padding_started = false;
    let mut left = 0u8;
    for (i, &c) in b.iter().enumerate() {
        if c == b'=' {
            padding_started = true;
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    // excess data after padding is an error in strict mode
                    return (i + 1 == b.len()).then_some(out);
                }
            }
            continue;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        if padding_started {
            return None;
        }
        pads = 0;
        match quad_pos {
            0 => {
                left = v;
                quad_pos = 1;
            }
            1 => {
                out.push((left << 2) | (v >> 4));
                left = v & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push((left << 6) | v);
                quad_pos = 0;
            }
        }
    }
    (quad_pos == 0).then_some(out)
}

// ---------------------------------------------------------------------------------------
// Dates and times

/// A parse result as Python sees it: a datetime, a date or a time, with a fixed UTC offset
/// in seconds when the text had one.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Parsed {
    DateTime(NaiveDateTime, Option<i32>),
    Date(NaiveDate),
    Time(NaiveTime, Option<i32>),
}

/// Why a parse failed: Python raises `ValueError` (and dlt falls back to the next parser)
/// or `TypeError` (the "common" regex matched without minutes, nothing else is tried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseFail {
    Value,
    Type,
}

/// dlt's `iso_timestamp` detection: the string parses as an ISO-8601-like datetime (not a
/// bare date or time). The result is in UTC (no offset means UTC), microsecond precision.
pub fn parse_iso_timestamp(s: &str) -> Option<DateTime<Utc>> {
    // a datetime always starts with the year: reject everything else cheaply
    let first = s.chars().next()?;
    if !first.is_ascii_digit() && (first.is_ascii() || unicode_digit_value(first).is_none()) {
        return None;
    }
    match parse_iso_like(s) {
        Ok(Parsed::DateTime(naive, offset)) => to_utc(naive, offset),
        _ => None,
    }
}

/// What a string coerced into an existing timestamp column accepts (dlt's
/// `ensure_datetime`): everything [`parse_iso_timestamp`] accepts, dates (`2024-01-03`,
/// `2024`, `2024/01/15`, `2024-W01` → midnight UTC) and, as a last resort, numbers
/// (`"1700000000"`, `" 1.5 "`) as Unix seconds.
pub fn parse_datetime_lenient(s: &str) -> Option<DateTime<Utc>> {
    match parse_iso_like(s) {
        Ok(Parsed::DateTime(naive, offset)) => to_utc(naive, offset),
        Ok(Parsed::Date(date)) => to_utc(date.and_time(NaiveTime::MIN), None),
        Ok(Parsed::Time(..)) | Err(ParseFail::Type) => None,
        Err(ParseFail::Value) => from_timestamp_f64(py_float(s)?),
    }
}

/// dlt's text → time (`ensure_pendulum_time`): an ISO time (`10:00`, `10:00:00.5`,
/// `T10:00`, `10:00:00+02:00`); a time with offset is converted to UTC.
fn parse_time_text(s: &str) -> Option<NaiveTime> {
    match parse_iso_like(s) {
        Ok(Parsed::Time(time, None)) => Some(time),
        Ok(Parsed::Time(time, Some(offset))) => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?.and_time(time);
            Some((epoch - TimeDelta::seconds(i64::from(offset))).time())
        }
        _ => None,
    }
}

/// CPython 3.11's `date.fromisoformat`, which dlt tries first for text → date: for texts
/// of 7, 8 or 10 bytes, `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-Www[-D]` or `YYYYWww[D]` at the
/// start, whatever follows (CPython does not check the rest: `"1700050900"` is
/// 1700-05-09).
fn date_fromisoformat(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if !matches!(b.len(), 7 | 8 | 10) {
        return None;
    }
    let mut p = Cursor { b, i: 0 };
    let year = p.int(4)? as i32;
    let separator = p.cur() == b'-';
    if separator {
        p.inc();
    }
    let date = if p.cur() == b'W' {
        p.inc();
        let week = p.int(2)?;
        let mut weekday = 1;
        if p.i < b.len() {
            if separator {
                if p.cur() != b'-' {
                    return None;
                }
                p.inc();
            }
            weekday = p.int(1)?;
        }
        let weekday = match weekday {
            1 => chrono::Weekday::Mon,
            2 => chrono::Weekday::Tue,
            3 => chrono::Weekday::Wed,
            4 => chrono::Weekday::Thu,
            5 => chrono::Weekday::Fri,
            6 => chrono::Weekday::Sat,
            7 => chrono::Weekday::Sun,
            _ => return None,
        };
        NaiveDate::from_isoywd_opt(year, week, weekday)?
    } else {
        let month = p.int(2)?;
        if separator {
            if p.cur() != b'-' {
                return None;
            }
            p.inc();
        }
        let day = p.int(2)?;
        NaiveDate::from_ymd_opt(year, month, day)?
    };
    (1..=9999).contains(&date.year()).then_some(date)
}

/// A naive datetime with an optional offset as UTC, within Python's years 1–9999.
fn to_utc(naive: NaiveDateTime, offset: Option<i32>) -> Option<DateTime<Utc>> {
    let utc = naive.checked_sub_signed(TimeDelta::seconds(i64::from(offset.unwrap_or(0))))?;
    in_python_range(utc.and_utc())
}

fn in_python_range(dt: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (1..=9999).contains(&dt.year()).then_some(dt)
}

/// `pendulum.from_timestamp(int)`.
fn from_timestamp_secs(secs: i64) -> Option<DateTime<Utc>> {
    in_python_range(DateTime::from_timestamp(secs, 0)?)
}

/// `pendulum.from_timestamp(float)`: microseconds rounded half to even, like Python.
fn from_timestamp_f64(f: f64) -> Option<DateTime<Utc>> {
    if !f.is_finite() || f.abs() > 1e14 {
        return None;
    }
    let mut secs = f.trunc();
    let mut micros = ((f - secs) * 1e6).round_ties_even();
    if micros >= 1e6 {
        secs += 1.0;
        micros -= 1e6;
    } else if micros < 0.0 {
        secs -= 1.0;
        micros += 1e6;
    }
    in_python_range(DateTime::from_timestamp(
        secs as i64,
        (micros as u32) * 1000,
    )?)
}

/// dlt's `parse_iso_like_datetime`: pendulum's ISO 8601 parser, and the "common" regex when
/// that raises.
fn parse_iso_like(s: &str) -> Result<Parsed, ParseFail> {
    match parse_pendulum_iso(s) {
        Some(parsed) => Ok(parsed),
        None => parse_common(s),
    }
}

/// Fields collected by the ISO parser.
#[derive(Debug, Default)]
struct Fields {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micro: u32,
    /// UTC offset in seconds.
    offset: Option<i32>,
    has_date: bool,
    extended: bool,
}

/// A byte cursor with pendulum's parser primitives.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn cur(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }
    fn end(&self) -> bool {
        self.i >= self.b.len()
    }
    fn inc(&mut self) {
        if self.i < self.b.len() {
            self.i += 1;
        }
    }
    /// Exactly `n` ASCII digits.
    fn int(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let c = self.cur();
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
            self.inc();
        }
        Some(v)
    }
    fn at_tz(&self) -> bool {
        matches!(self.cur(), b'Z' | b'+' | b'-')
    }
}

/// Port of pendulum's ISO 8601 parser (`_pendulum.parse_iso8601`) plus the Python object
/// construction that validates it. `None` where Python raises `ValueError`; durations and
/// intervals (never dates) too.
fn parse_pendulum_iso(s: &str) -> Option<Parsed> {
    let mut p = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let mut f = Fields {
        month: 1,
        day: 1,
        ..Fields::default()
    };
    if p.cur() == b'P' {
        return None;
    }
    if p.cur() == b'T' {
        parse_pendulum_time(&mut p, &mut f, false)?;
        return p.end().then(|| build_time(&f)).flatten();
    }
    let century = p.int(2)?;
    if p.cur() == b':' {
        f.hour = century;
        f.extended = true;
        parse_pendulum_time(&mut p, &mut f, true)?;
        return p.end().then(|| build_time(&f)).flatten();
    }
    f.has_date = true;
    let year = (century * 100 + p.int(2)?) as i32;
    f.year = year;
    if p.cur() == b'-' {
        p.inc();
        f.extended = true;
        if p.cur() == b'W' {
            p.inc();
            let week = p.int(2)?;
            let mut iso_day = 1;
            if !p.end() && p.cur() != b' ' && p.cur() != b'T' {
                if p.cur() != b'-' {
                    return None;
                }
                p.inc();
                iso_day = p.int(1)?;
            }
            (f.year, f.month, f.day) = iso_to_ymd(year, week, iso_day)?;
        } else {
            f.month = p.int(2)?;
            if !p.end() && p.cur() != b' ' && p.cur() != b'T' {
                if p.cur() == b'-' {
                    p.inc();
                    f.day = p.int(2)?;
                } else {
                    let ordinal = f.month * 10 + p.int(1)?;
                    (f.year, f.month, f.day) = ordinal_to_ymd(year, ordinal as i32, false)?;
                }
            }
        }
    } else if p.cur() == b'W' {
        p.inc();
        let week = p.int(2)?;
        let mut iso_day = 1;
        if !p.end() && p.cur() != b' ' && p.cur() != b'T' {
            iso_day = p.int(1)?;
        }
        (f.year, f.month, f.day) = iso_to_ymd(year, week, iso_day)?;
    } else {
        let month = p.int(2)?;
        let digit = p.int(1)?;
        if p.end() || p.cur() == b' ' || p.cur() == b'T' {
            let ordinal = (month * 10 + digit) as i32;
            (f.year, f.month, f.day) = ordinal_to_ymd(year, ordinal, false)?;
        } else {
            f.month = month;
            f.day = digit * 10 + p.int(1)?;
        }
    }
    let mut has_time = false;
    if !p.end() {
        parse_pendulum_time(&mut p, &mut f, false)?;
        has_time = true;
    }
    if !p.end() {
        // an interval (`a/b`) or unconverted data
        return None;
    }
    let date = py_date(f.year, f.month, f.day)?;
    if !has_time {
        return Some(Parsed::Date(date));
    }
    let time = py_time(f.hour, f.minute, f.second, f.micro)?;
    Some(Parsed::DateTime(
        date.and_time(time),
        valid_offset(f.offset)?,
    ))
}

fn build_time(f: &Fields) -> Option<Parsed> {
    Some(Parsed::Time(
        py_time(f.hour, f.minute, f.second, f.micro)?,
        valid_offset(f.offset)?,
    ))
}

/// Python accepts offsets strictly within ±24 hours.
fn valid_offset(offset: Option<i32>) -> Option<Option<i32>> {
    match offset {
        Some(o) if o.abs() >= 86_400 => None,
        other => Some(other),
    }
}

fn parse_pendulum_time(p: &mut Cursor<'_>, f: &mut Fields, skip_hour: bool) -> Option<()> {
    if p.cur() != b'T' && p.cur() != b' ' && !skip_hour {
        return None;
    }
    if !skip_hour {
        p.inc();
        f.hour = p.int(2)?;
    }
    if !p.end() && !p.at_tz() {
        if p.cur() == b':' {
            // extended format: mm[:ss[.ffffff]]
            p.inc();
            f.minute = p.int(2)?;
            if !p.end() && !p.at_tz() {
                if p.cur() != b':' {
                    return None;
                }
                p.inc();
                f.second = p.int(2)?;
                if matches!(p.cur(), b'.' | b',') {
                    f.micro = parse_fraction(p)?;
                }
                if !f.extended {
                    return None;
                }
            }
        } else {
            // basic format: mm[ss[.ffffff]]
            f.minute = p.int(2)?;
            if !p.end() && !p.at_tz() {
                f.second = p.int(2)?;
                if matches!(p.cur(), b'.' | b',') {
                    f.micro = parse_fraction(p)?;
                }
            }
            if f.extended {
                return None;
            }
        }
    }
    if p.cur() == b'Z' {
        f.offset = Some(0);
        p.inc();
    } else if matches!(p.cur(), b'+' | b'-') {
        let sign = if p.cur() == b'+' { 1 } else { -1 };
        p.inc();
        let hours = p.int(2)? as i32;
        if p.cur() == b':' {
            p.inc();
        }
        let minutes = if p.end() { 0 } else { p.int(2)? as i32 };
        let total = (minutes + hours * 60) * sign;
        if total > 24 * 60 {
            return None;
        }
        f.offset = Some(total * 60);
    }
    Some(())
}

/// Sub-second digits after `.`/`,`: at least one, the first six kept, the rest dropped.
fn parse_fraction(p: &mut Cursor<'_>) -> Option<u32> {
    p.inc();
    let mut micro = 0u32;
    let mut n = 0;
    while n < 6 {
        let c = p.cur();
        if c.is_ascii_digit() {
            micro = micro * 10 + u32::from(c - b'0');
        } else if n == 0 {
            return None;
        } else {
            break;
        }
        p.inc();
        n += 1;
    }
    while p.cur().is_ascii_digit() {
        p.inc();
    }
    for _ in n..6 {
        micro *= 10;
    }
    Some(micro)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_year(y: i32) -> i32 {
    if is_leap(y) {
        366
    } else {
        365
    }
}

fn is_long_year(y: i32) -> bool {
    let p = |y: i32| y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400);
    p(y).rem_euclid(7) == 4 || p(y - 1).rem_euclid(7) == 3
}

/// ISO weekday (1 = Monday … 7 = Sunday) of a date, pendulum's formula.
fn week_day(year: i32, month: u32, day: u32) -> i32 {
    const TABLE: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if month < 3 { year - 1 } else { year };
    let idx = (month as usize).saturating_sub(1).min(11);
    let w = (y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400) + TABLE[idx] + day as i32)
        .rem_euclid(7);
    if w == 0 {
        7
    } else {
        w
    }
}

fn iso_to_ymd(year: i32, week: u32, day: u32) -> Option<(i32, u32, u32)> {
    if week > 53 || (week > 52 && !is_long_year(year)) || day > 7 {
        return None;
    }
    let ordinal = week as i32 * 7 + day as i32 - (week_day(year, 1, 4) + 3);
    ordinal_to_ymd(year, ordinal, true)
}

fn ordinal_to_ymd(year: i32, ordinal: i32, allow_out_of_bounds: bool) -> Option<(i32, u32, u32)> {
    let mut y = year;
    let mut ord = ordinal;
    if ord < 1 {
        if !allow_out_of_bounds {
            return None;
        }
        y -= 1;
        ord += days_in_year(y);
    }
    if ord > days_in_year(y) {
        if !allow_out_of_bounds {
            return None;
        }
        ord -= days_in_year(y);
        y += 1;
    }
    let date = NaiveDate::from_yo_opt(y, u32::try_from(ord).ok()?)?;
    Some((date.year(), date.month(), date.day()))
}

/// Python `datetime.date(year, month, day)`.
fn py_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !(1..=9999).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Python `datetime.time(hour, minute, second, microsecond)`.
fn py_time(hour: u32, minute: u32, second: u32, micro: u32) -> Option<NaiveTime> {
    if hour > 23 || minute > 59 || second > 59 || micro > 999_999 {
        return None;
    }
    NaiveTime::from_hms_micro_opt(hour, minute, second, micro)
}

/// `(year, month, day)` captured by the date part of `COMMON`.
type CommonDate = (u32, u32, u32);

/// The time part of `COMMON`: hour, minute, second and microsecond (the last three
/// optional).
#[derive(Debug, Clone, Copy)]
struct CommonTime {
    hour: u32,
    minute: Option<u32>,
    second: Option<u32>,
    micro: Option<u32>,
}

/// Groups captured by pendulum's `COMMON` regex.
#[derive(Debug, Clone, Copy)]
struct CommonMatch {
    date: Option<CommonDate>,
    time: Option<CommonTime>,
}

/// Port of pendulum's `_parse_common`: a full match of
/// `^(YYYY([/:]?MM[/:]?DD)?)?( ?H{1,2}:M{0,2}(:S{1,2})?([.|,]F{1,9})?)?$`
/// (Unicode digits), tried in the regex's greedy order.
fn parse_common(s: &str) -> Result<Parsed, ParseFail> {
    let c: Vec<char> = s.chars().collect();
    let m = match_common(&c).ok_or(ParseFail::Value)?;
    let Some(CommonTime {
        hour,
        minute,
        second,
        micro,
    }) = m.time
    else {
        // `date(year, month, day)`; no date at all is `date(0, 1, 1)`, a ValueError
        let (y, mo, d) = m.date.ok_or(ParseFail::Value)?;
        return py_date(y as i32, mo, d)
            .map(Parsed::Date)
            .ok_or(ParseFail::Value);
    };
    // `int(None)` for missing minutes is a TypeError
    let minute = minute.ok_or(ParseFail::Type)?;
    let time =
        py_time(hour, minute, second.unwrap_or(0), micro.unwrap_or(0)).ok_or(ParseFail::Value)?;
    match m.date {
        Some((y, mo, d)) => {
            let date = py_date(y as i32, mo, d).ok_or(ParseFail::Value)?;
            Ok(Parsed::DateTime(date.and_time(time), None))
        }
        None => Ok(Parsed::Time(time, None)),
    }
}

/// The value of `n` decimal digits at `c[at..]`.
fn digits_at(c: &[char], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for i in 0..n {
        v = v * 10 + unicode_digit_value(*c.get(at + i)?)?;
    }
    Some(v)
}

fn match_common(c: &[char]) -> Option<CommonMatch> {
    // date alternatives in greedy order: with month/day (separators present first),
    // year only, no date
    let mut dates: Vec<(usize, Option<CommonDate>)> = Vec::with_capacity(6);
    if let Some(year) = digits_at(c, 0, 4) {
        let is_sep = |i: usize| matches!(c.get(i), Some('/' | ':'));
        for month_sep in [true, false] {
            if month_sep && !is_sep(4) {
                continue;
            }
            let m_at = 4 + usize::from(month_sep);
            let Some(month) = digits_at(c, m_at, 2) else {
                continue;
            };
            for day_sep in [true, false] {
                if day_sep && !is_sep(m_at + 2) {
                    continue;
                }
                let d_at = m_at + 2 + usize::from(day_sep);
                if let Some(day) = digits_at(c, d_at, 2) {
                    dates.push((d_at + 2, Some((year, month, day))));
                }
            }
        }
        dates.push((4, Some((year, 1, 1))));
    }
    dates.push((0, None));

    for (at, date) in dates {
        if let Some(time) = match_common_time(c, at) {
            return Some(CommonMatch { date, time });
        }
    }
    None
}

/// The time part of `COMMON` from `at` to the end of the text, in greedy order. The outer
/// `Option` is "matched", the inner one "time group present".
fn match_common_time(c: &[char], at: usize) -> Option<Option<CommonTime>> {
    let n = c.len();
    for space in [true, false] {
        if space && c.get(at) != Some(&' ') {
            continue;
        }
        let h_at = at + usize::from(space);
        for h_len in [2, 1] {
            let Some(hour) = digits_at(c, h_at, h_len) else {
                continue;
            };
            let colon = h_at + h_len;
            if c.get(colon) != Some(&':') {
                continue;
            }
            for m_len in [2, 1, 0] {
                let minute = if m_len == 0 {
                    None
                } else {
                    match digits_at(c, colon + 1, m_len) {
                        Some(m) => Some(m),
                        None => continue,
                    }
                };
                let after_minute = colon + 1 + m_len;
                // optional `:S{1,2}`
                let mut seconds: Vec<(usize, Option<u32>)> = Vec::with_capacity(3);
                if c.get(after_minute) == Some(&':') {
                    for s_len in [2, 1] {
                        if let Some(sec) = digits_at(c, after_minute + 1, s_len) {
                            seconds.push((after_minute + 1 + s_len, Some(sec)));
                        }
                    }
                }
                seconds.push((after_minute, None));
                for (after_second, second) in seconds {
                    // optional `[.|,]F{1,9}`, longest first
                    if matches!(c.get(after_second), Some('.' | '|' | ',')) {
                        for f_len in (1..=9).rev() {
                            let f_at = after_second + 1;
                            if f_at + f_len == n && digits_at(c, f_at, f_len).is_some() {
                                let mut micro = 0u32;
                                for i in 0..6 {
                                    let d = if i < f_len {
                                        unicode_digit_value(c[f_at + i]).unwrap_or(0)
                                    } else {
                                        0
                                    };
                                    micro = micro * 10 + d;
                                }
                                return Some(Some(CommonTime {
                                    hour,
                                    minute,
                                    second,
                                    micro: Some(micro),
                                }));
                            }
                        }
                    }
                    if after_second == n {
                        return Some(Some(CommonTime {
                            hour,
                            minute,
                            second,
                            micro: None,
                        }));
                    }
                }
            }
        }
    }
    // no time group
    (at == n).then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn iso_timestamp_detection() {
        let yes = [
            ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
            ("2024-01-01 10:00:00", "2024-01-01T10:00:00Z"),
            ("2024-01-01T10:00", "2024-01-01T10:00:00Z"),
            ("2021-07-24 10:51", "2021-07-24T10:51:00Z"),
            ("2024/01/15 10:00", "2024-01-15T10:00:00Z"),
            ("20240115T100000", "2024-01-15T10:00:00Z"),
            ("2024-W01-1T10:00", "2024-01-01T10:00:00Z"),
            (
                "2024-01-01T10:00:00.123456789+05:30",
                "2024-01-01T04:30:00.123456Z",
            ),
            ("2024-05-01T10:00:00.5+05:30", "2024-05-01T04:30:00.5Z"),
            (
                "2024-01-02T03:04:06.123456+02:00",
                "2024-01-02T01:04:06.123456Z",
            ),
            // checked against dlt 1.31 / pendulum 3.3
            ("2024 10:00", "2024-01-01T10:00:00Z"),
            ("20241:1", "2024-01-01T01:01:00Z"),
            ("2024-01T10:00", "2024-01-01T10:00:00Z"),
            ("2024-032T10:00", "2024-02-01T10:00:00Z"),
            ("2024032T10", "2024-02-01T10:00:00Z"),
            ("2024W011T10", "2024-01-01T10:00:00Z"),
            ("2024-W01T10", "2024-01-01T10:00:00Z"),
            ("20240115T10:00", "2024-01-15T10:00:00Z"),
            ("2024-01-01T10+05", "2024-01-01T05:00:00Z"),
            ("2024-01-01T10:00+05:", "2024-01-01T05:00:00Z"),
            ("2024-01-01T10:00+23:59", "2023-12-31T10:01:00Z"),
            ("2024-01-01T10:00+05:99", "2024-01-01T03:21:00Z"),
            ("2024-01-01T10:00:00,5Z", "2024-01-01T10:00:00.5Z"),
            ("2024:01:15 1:5", "2024-01-15T01:05:00Z"),
            ("2024/01/15 10:00:00.1234567", "2024-01-15T10:00:00.123456Z"),
            ("2024/01/15 10:00|5", "2024-01-15T10:00:00.5Z"),
            ("٢٠٢٤/٠١/١٥ ١٠:٠٠", "2024-01-15T10:00:00Z"),
            ("2020-W53-7T10:00", "2021-01-03T10:00:00Z"),
            ("2024-W00-0T10:00", "2023-12-24T10:00:00Z"),
            ("2024-01-01 10", "2024-01-01T10:00:00Z"),
            ("2024-01-01T10", "2024-01-01T10:00:00Z"),
            ("2024-01-01T10:00:00+0530", "2024-01-01T04:30:00Z"),
            ("2024-01-01T10:00:00.123", "2024-01-01T10:00:00.123Z"),
        ];
        for (input, expected) in yes {
            assert_eq!(parse_iso_timestamp(input), Some(utc(expected)), "{input:?}");
            assert_eq!(
                infer_type(&json!(input)),
                Some(DataType::Timestamp),
                "{input:?}"
            );
        }
        let no = [
            "2024-01-01",
            "2024/01/15",
            "10:00:00",
            "2024",
            "1700000000",
            "Wed, 29 Jun 2022 13:56:34 +0000",
            "2024-13-01T00:00:00",
            "2024-01-01t10:00:00z",
            "2024-01-01T24:00:00",
            "",
            "hello",
            "2024-01-01T10:00:00Zjunk",
            // checked against dlt 1.31 / pendulum 3.3
            "20240115T10:00:00",
            "2024-01-01T1000",
            "2024-02-30T10:00",
            "0000-01-01T10:00",
            "2024-W53-1T10:00",
            "2024-01-01T10:00:60",
            "2024-01-01T10:00:00.Z",
            "2024-01-01T10:00/2024-01-02T10:00",
            "2024 10:",
            "  2024-01-01T10:00",
            "2024-01-01T10:00 ",
            "12345678T1000",
            "P1D",
            // dlt detects these but then fails converting them to UTC
            "2024-01-01T10:00-24:00",
            "9999-12-31T23:00:00-05:00",
        ];
        for input in no {
            assert_eq!(parse_iso_timestamp(input), None, "{input:?}");
            assert_eq!(infer_type(&json!(input)), Some(DataType::Text), "{input:?}");
        }
    }

    #[test]
    fn lenient_datetimes() {
        let cases = [
            ("2024-01-03", Some("2024-01-03T00:00:00Z")),
            ("2024", Some("2024-01-01T00:00:00Z")),
            ("1700000000", Some("2023-11-14T22:13:20Z")),
            ("202401", Some("1970-01-03T08:13:21Z")),
            ("10:00:00", None),
            ("1.5", Some("1970-01-01T00:00:01.5Z")),
            (" 1700000000 ", Some("2023-11-14T22:13:20Z")),
            ("2024/01/15", Some("2024-01-15T00:00:00Z")),
            ("20240115", Some("2024-01-15T00:00:00Z")),
            ("2024-W01", Some("2024-01-01T00:00:00Z")),
            ("abc", None),
            ("2024 10:", None),
            ("P1D", None),
            ("nan", None),
            ("inf", None),
            ("1e20", None),
            ("-1", Some("1969-12-31T23:59:59Z")),
            ("2024-01-01T10:00:00+05:30", Some("2024-01-01T04:30:00Z")),
            ("2024-01-01T10:00:00Z", Some("2024-01-01T10:00:00Z")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_datetime_lenient(input),
                expected.map(utc),
                "{input:?}"
            );
        }
    }

    fn col(ty: DataType) -> Column {
        Column::new("c", ty)
    }

    fn ok(v: Json, ty: DataType) -> Value {
        coerce(&v, &col(ty)).unwrap_or_else(|e| panic!("{v} into {ty}: {e}"))
    }

    fn fails(v: Json, ty: DataType) {
        assert!(coerce(&v, &col(ty)).is_err(), "{v} into {ty} should fail");
    }

    fn big(text: &str) -> Json {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn inference() {
        let cases = [
            (json!("x"), Some(DataType::Text)),
            (json!(1), Some(DataType::Bigint)),
            (json!(-9223372036854775808_i64), Some(DataType::Bigint)),
            (json!(1.5), Some(DataType::Double)),
            (big("1e3"), Some(DataType::Double)),
            (big("1E3"), Some(DataType::Double)),
            (json!(true), Some(DataType::Bool)),
            (json!({"a": 1}), Some(DataType::Json)),
            (json!([1]), Some(DataType::Json)),
            (json!(null), None),
            (json!("2024-01-01T10:00:00Z"), Some(DataType::Timestamp)),
            (json!("2024-01-01"), Some(DataType::Text)),
            (big("9223372036854775808"), Some(DataType::Wei)),
            (big("18446744073709551615"), Some(DataType::Wei)),
            (big(&"9".repeat(76)), Some(DataType::Wei)),
            (big(&format!("-{}", "9".repeat(76))), Some(DataType::Wei)),
            (big(&"9".repeat(77)), Some(DataType::Text)),
        ];
        for (v, expected) in cases {
            assert_eq!(infer_type(&v), expected, "{v}");
        }
        assert_eq!(
            value_type(&json!("2024-01-01T10:00:00Z")),
            Some(DataType::Text)
        );
    }

    #[test]
    fn coercion_to_text() {
        let cases = [
            (json!("x"), "x"),
            (json!(5), "5"),
            (json!(1.5), "1.5"),
            (json!(7.0), "7.0"),
            (big("1e-7"), "1e-07"),
            (big("1e16"), "1e+16"),
            (big("1.50"), "1.5"),
            (
                big("123456789012345678901234567890"),
                "123456789012345678901234567890",
            ),
            (json!(true), "True"),
            (json!(false), "False"),
            (json!({"a": 1}), r#"{"a":1}"#),
            (
                json!({"a": 1, "b": [1.5, null]}),
                r#"{"a":1,"b":[1.5,null]}"#,
            ),
            (
                json!({"b": [1, "x'y"], "a": null}),
                r#"{"b":[1,"x'y"],"a":null}"#,
            ),
        ];
        for (v, expected) in cases {
            assert_eq!(
                ok(v.clone(), DataType::Text),
                Value::Text(expected.into()),
                "{v}"
            );
        }
    }

    #[test]
    fn coercion_to_bigint() {
        let cases = [
            (json!(5), 5),
            (json!(" 0x1F "), 31),
            (json!("42"), 42),
            (json!(" -7 "), -7),
            (json!("1_000"), 1000),
            (json!("0x-1F"), -31),
            (json!("٤٢"), 42),
            (json!(2.0), 2),
            (big("1e3"), 1000),
            (json!("9223372036854775807"), i64::MAX),
        ];
        for (v, expected) in cases {
            assert_eq!(ok(v.clone(), DataType::Bigint), Value::Int(expected), "{v}");
        }
        for v in [
            json!("not-an-int"),
            json!("1.5"),
            json!(""),
            json!("1__0"),
            json!("_1"),
            json!("9223372036854775808"),
            json!(1.5),
            json!(true),
            json!({"a": 1}),
            big("9223372036854775808"),
            big("1e19"),
        ] {
            fails(v, DataType::Bigint);
        }
    }

    #[test]
    fn coercion_to_double() {
        let cases = [
            (json!("1e3"), 1000.0),
            (json!("7"), 7.0),
            (json!(7), 7.0),
            (json!(1.5), 1.5),
            (json!(" 2.5 "), 2.5),
            (json!("0x10"), 16.0),
            (json!("1_0.5"), 10.5),
            (json!(".5"), 0.5),
            (json!("5."), 5.0),
            (json!("-Infinity"), f64::NEG_INFINITY),
            (big("123456789012345678901234567890"), 1.2345678901234568e29),
        ];
        for (v, expected) in cases {
            assert_eq!(
                ok(v.clone(), DataType::Double),
                Value::Double(expected),
                "{v}"
            );
        }
        match ok(json!("nan"), DataType::Double) {
            Value::Double(f) => assert!(f.is_nan()),
            other => panic!("{other:?}"),
        }
        for v in [
            json!("abc"),
            json!("."),
            json!("1e"),
            json!("1_"),
            json!(true),
            json!([1]),
        ] {
            fails(v, DataType::Double);
        }
    }

    #[test]
    fn coercion_to_bool() {
        let cases = [
            (json!("yes"), true),
            (json!("TRUE"), true),
            (json!("t"), true),
            (json!("Y"), true),
            (json!("1"), true),
            (json!("no"), false),
            (json!("False"), false),
            (json!("f"), false),
            (json!("N"), false),
            (json!("0"), false),
            (json!(5), true),
            (json!(0), false),
            (json!(0.0), false),
            (json!(0.5), true),
            (json!(true), true),
        ];
        for (v, expected) in cases {
            assert_eq!(ok(v.clone(), DataType::Bool), Value::Bool(expected), "{v}");
        }
        for v in [json!("abc"), json!(" yes"), json!({"a": 1})] {
            fails(v, DataType::Bool);
        }
    }

    #[test]
    fn coercion_to_timestamp() {
        let cases = [
            (json!("2024-01-01"), "2024-01-01T00:00:00Z"),
            (json!(1700000000), "2023-11-14T22:13:20Z"),
            (json!(1.5), "1970-01-01T00:00:01.5Z"),
            (json!(-1), "1969-12-31T23:59:59Z"),
            (json!(1700000000.1234565), "2023-11-14T22:13:20.123456Z"),
            (json!(0.0000005), "1970-01-01T00:00:00Z"),
            (json!(0.0000015), "1970-01-01T00:00:00.000002Z"),
            (json!(-0.5), "1969-12-31T23:59:59.5Z"),
            (json!("2024-05-01T10:00:00+02:00"), "2024-05-01T08:00:00Z"),
        ];
        for (v, expected) in cases {
            assert_eq!(
                ok(v.clone(), DataType::Timestamp),
                Value::Timestamp(utc(expected)),
                "{v}"
            );
        }
        // timezone: false gives naive UTC
        let mut naive = col(DataType::Timestamp);
        naive.timezone = Some(false);
        assert_eq!(
            coerce(&json!("2024-05-01T10:00:00+02:00"), &naive),
            Ok(Value::NaiveTimestamp(
                utc("2024-05-01T08:00:00Z").naive_utc()
            ))
        );
        for v in [
            json!("abc"),
            json!(true),
            json!({"a": 1}),
            big("1e20"),
            big("99999999999999999999"),
        ] {
            fails(v, DataType::Timestamp);
        }
    }

    #[test]
    fn coercion_to_date_and_time() {
        let d = |s: &str| Value::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        let cases = [
            (json!("2024-01-03"), "2024-01-03"),
            (json!("2024-01-01T23:00:00-05:00"), "2024-01-02"),
            (json!("1700000000"), "2023-11-14"),
            (json!("20240103"), "2024-01-03"),
            (json!("2024-001"), "2024-01-01"),
            (json!(1700000000), "2023-11-14"),
            (json!(1.5), "1970-01-01"),
            (json!(-1), "1969-12-31"),
            // CPython 3.11's `date.fromisoformat` ignores what follows the date
            (json!("1700050900"), "1700-05-09"),
            (json!("20240229T2"), "2024-02-29"),
            (json!("2024W503,7"), "2024-12-11"),
            (json!("2020W453-7"), "2020-11-04"),
            (json!("2020-W53"), "2020-12-28"),
        ];
        for (v, expected) in cases {
            assert_eq!(ok(v.clone(), DataType::Date), d(expected), "{v}");
        }
        fails(json!("x"), DataType::Date);

        let t = |s: &str| Value::Time(NaiveTime::parse_from_str(s, "%H:%M:%S%.f").unwrap());
        let cases = [
            ("10:00:00", "10:00:00"),
            ("10:00", "10:00:00"),
            ("T10:00", "10:00:00"),
            ("10:00:00+02:00", "08:00:00"),
            ("01:00+02:00", "23:00:00"),
            ("T10", "10:00:00"),
            ("1:5", "01:05:00"),
            ("10:00.5", "10:00:00.5"),
            ("10:00:00.1234567", "10:00:00.123456"),
            ("T100000", "10:00:00"),
        ];
        for (v, expected) in cases {
            assert_eq!(ok(json!(v), DataType::Time), t(expected), "{v}");
        }
        for v in ["24:00", "2024-01-01T10:00", "100000", "10:"] {
            fails(json!(v), DataType::Time);
        }
        fails(json!(36000), DataType::Time);
    }

    #[test]
    fn coercion_to_json_and_binary() {
        assert_eq!(
            ok(json!({"a": 1}), DataType::Json),
            Value::Json(json!({"a": 1}))
        );
        assert_eq!(
            ok(json!([1, "x"]), DataType::Json),
            Value::Json(json!([1, "x"]))
        );
        assert_eq!(
            ok(json!(r#"{"a":1}"#), DataType::Json),
            Value::Json(json!({"a": 1}))
        );
        assert_eq!(ok(json!("5"), DataType::Json), Value::Json(json!(5)));
        fails(json!("abc"), DataType::Json);
        fails(json!(5), DataType::Json);
        fails(json!(true), DataType::Json);

        let cases: [(Json, &[u8]); 10] = [
            (json!("0x0102"), &[1, 2]),
            (json!("0x01 02"), &[1, 2]),
            (json!("0xAbCd"), &[0xab, 0xcd]),
            (json!("AQI="), &[1, 2]),
            (json!(""), &[]),
            (json!("abcd=="), &[0x69, 0xb7, 0x1d]),
            (json!("YR=="), b"a"),
            (json!(258), &[2, 1]),
            (json!(0), &[]),
            (big("18446744073709551616"), &[0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ];
        for (v, expected) in cases {
            assert_eq!(
                ok(v.clone(), DataType::Binary),
                Value::Binary(expected.to_vec()),
                "{v}"
            );
        }
        for v in [
            json!("0x1"),
            json!("0x0 1"),
            json!("abc"),
            json!("="),
            json!("ab=c"),
            json!("abc=="),
            json!("a==="),
            json!(" YQ=="),
            json!("YQ==\n"),
            json!(-1),
            json!(1.5),
        ] {
            fails(v, DataType::Binary);
        }
    }

    #[test]
    fn coercion_to_decimal_and_wei() {
        let n = |s: &str| Value::Number(s.to_string());
        let cases = [
            (json!(5), "5"),
            (json!("1e3"), "1E+3"),
            (json!("1000e-3"), "1.000"),
            (json!(" 007.50 "), "7.50"),
            (json!(".5"), "0.5"),
            (json!("5."), "5"),
            (json!("-0"), "-0"),
            (json!("0.000001"), "0.000001"),
            (json!("0.0000001"), "1E-7"),
            (json!("123456789e-20"), "1.23456789E-12"),
            (json!("1_000"), "1000"),
            (json!("0x1F"), "31"),
            (big("12.5"), "12.5"),
            (big("1.239"), "1.239"),
            (big("1e-7"), "1E-7"),
            (
                big("123456789012345678901234567890"),
                "123456789012345678901234567890",
            ),
        ];
        for (v, expected) in cases {
            assert_eq!(ok(v.clone(), DataType::Decimal), n(expected), "{v}");
            assert_eq!(ok(v.clone(), DataType::Wei), n(expected), "{v}");
        }
        assert_eq!(
            ok(json!(format!("0x{}", "f".repeat(64))), DataType::Wei),
            n("115792089237316195423570985008687907853269984665640564039457584007913129639935")
        );
        for v in [
            json!("abc"),
            json!("NaN"),
            json!("inf"),
            json!("1e"),
            json!("1e9223372036854775807"),
            json!(format!("0x{}", "f".repeat(5000))),
            json!(true),
            json!([1]),
        ] {
            fails(v.clone(), DataType::Decimal);
            fails(v, DataType::Wei);
        }
    }

    #[test]
    fn same_type_passes_through() {
        assert_eq!(ok(json!("s"), DataType::Text), Value::Text("s".into()));
        assert_eq!(ok(json!(-3), DataType::Bigint), Value::Int(-3));
        assert_eq!(ok(json!(2.25), DataType::Double), Value::Double(2.25));
        assert_eq!(ok(json!(false), DataType::Bool), Value::Bool(false));
        assert_eq!(
            ok(big("99999999999999999999"), DataType::Wei),
            Value::Number("99999999999999999999".into())
        );
        assert_eq!(
            coerce(&json!(null), &col(DataType::Bigint)),
            Ok(Value::Null)
        );
        // a column without a type takes the inferred one
        assert_eq!(
            coerce(&json!("2024-01-01T10:00:00Z"), &Column::incomplete("c")),
            Ok(Value::Timestamp(utc("2024-01-01T10:00:00Z")))
        );
    }

    #[test]
    fn inferred_values() {
        let cases = [
            (json!("x"), Value::Text("x".into())),
            (json!(1), Value::Int(1)),
            (json!(1.5), Value::Double(1.5)),
            (json!(true), Value::Bool(true)),
            (
                json!("2024-01-01T10:00:00Z"),
                Value::Timestamp(utc("2024-01-01T10:00:00Z")),
            ),
            (json!({"a": [1]}), Value::Json(json!({"a": [1]}))),
            (
                big("9223372036854775808"),
                Value::Number("9223372036854775808".into()),
            ),
            (big(&"9".repeat(80)), Value::Text("9".repeat(80))),
        ];
        for (v, expected) in cases {
            let ty = infer_type(&v).unwrap();
            assert_eq!(to_value(&v, ty), expected, "{v}");
        }
    }

    #[test]
    fn float_renderings() {
        let cases = [
            (1.5, "1.5", "1.5"),
            (7.0, "7.0", "7.0"),
            (1e-7, "1e-07", "1e-7"),
            (1e16, "1e+16", "1e+16"),
            (1.5e16, "1.5e+16", "1.5e+16"),
            (1e15, "1000000000000000.0", "1000000000000000.0"),
            (1e-4, "0.0001", "0.0001"),
            (1e-5, "1e-05", "0.00001"),
            (1.234e-5, "1.234e-05", "0.00001234"),
            (1e-6, "1e-06", "1e-6"),
            (0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"),
            (5e-324, "5e-324", "5e-324"),
            (
                1.7976931348623157e308,
                "1.7976931348623157e+308",
                "1.7976931348623157e+308",
            ),
            (
                123456789012345680000.0,
                "1.2345678901234568e+20",
                "1.2345678901234568e+20",
            ),
            (-0.0, "-0.0", "-0.0"),
            (1e100, "1e+100", "1e+100"),
            (12345678.9, "12345678.9", "12345678.9"),
            (0.0, "0.0", "0.0"),
            // a tie between two shortest candidates rounds half to even
            (
                570724280910275.0 + 0.25,
                "570724280910275.2",
                "570724280910275.2",
            ),
            (
                -(242632705396221.0 + 0.625),
                "-242632705396221.62",
                "-242632705396221.62",
            ),
        ];
        for (f, python, orjson) in cases {
            assert_eq!(python_float_repr(f), python, "{f}");
            assert_eq!(orjson_float_repr(f), orjson, "{f}");
        }
        assert_eq!(python_float_repr(f64::NAN), "nan");
        assert_eq!(python_float_repr(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn json_text() {
        let v =
            json!({"b": [1, "x'y"], "a": null, "s": "\u{1}\u{8}\u{c}\u{1f}\u{7f}\u{2028}é\"\\/"});
        assert_eq!(
            to_json_text(&v, false),
            "{\"b\":[1,\"x'y\"],\"a\":null,\"s\":\"\\u0001\\b\\f\\u001f\u{7f}\u{2028}é\\\"\\\\/\"}"
        );
        assert_eq!(
            to_json_text(&json!({"b": 1, "a": {"d": 1, "c": 2}}), true),
            r#"{"a":{"c":2,"d":1},"b":1}"#
        );
        assert_eq!(
            to_json_text(&big("[1.0, -0, 1e400]"), false),
            "[1.0,0,null]"
        );
    }
}
