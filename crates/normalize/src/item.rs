//! [`Item`]: one parsed JSON item, shaped for the normalizer.
//!
//! serde_json's `Value` keeps an object's keys in an `IndexMap`: every key is hashed with
//! SipHash on the way in, for lookups the normalizer never makes (it walks each object once,
//! in order). An [`Item`] object is a plain vector of its entries, and an integer that fits
//! in 64 bits is an `i64` at once rather than digits parsed again for every use. Keys given
//! twice keep the first position and the last value, as a `Value` object does.

use rustc_hash::FxHashMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value as Json};

/// The key under which serde_json (with `arbitrary_precision`) hands a number to a visitor,
/// as a map of one entry whose value is the number's text. `serde_json::Value` recognizes
/// numbers by the same key; `tests::numbers_keep_every_digit` fails should it change.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Objects up to this many entries are checked for repeated keys pairwise; larger ones by
/// sorting their keys.
const PAIRWISE_MAX: usize = 16;

/// An object's entries: in the order of the text, each key once.
pub type Entries = Vec<(String, Item)>;

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Null,
    Bool(bool),
    /// An integer that fits in an `i64`.
    Int(i64),
    /// Any other number: a fraction, an exponent, or an integer past 64 bits (every digit kept).
    Number(Number),
    String(String),
    Array(Vec<Item>),
    Object(Entries),
}

/// Parses one JSON document.
pub fn parse_item(text: &str) -> Result<Item, serde_json::Error> {
    serde_json::from_str(text)
}

impl Item {
    /// The same value as a `serde_json::Value`.
    pub fn into_json(self) -> Json {
        match self {
            Item::Null => Json::Null,
            Item::Bool(b) => Json::Bool(b),
            Item::Int(i) => Json::Number(i.into()),
            Item::Number(n) => Json::Number(n),
            Item::String(s) => Json::String(s),
            Item::Array(items) => Json::Array(items.into_iter().map(Item::into_json).collect()),
            Item::Object(entries) => Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_json()))
                    .collect(),
            ),
        }
    }

    /// A copy as a `serde_json::Value`.
    pub fn to_json(&self) -> Json {
        self.clone().into_json()
    }
}

impl From<Json> for Item {
    fn from(v: Json) -> Self {
        match v {
            Json::Null => Item::Null,
            Json::Bool(b) => Item::Bool(b),
            Json::Number(n) => number(n),
            Json::String(s) => Item::String(s),
            Json::Array(items) => Item::Array(items.into_iter().map(Item::from).collect()),
            // a `Map` has each key once already
            Json::Object(m) => Item::Object(m.into_iter().map(|(k, v)| (k, v.into())).collect()),
        }
    }
}

/// The entries of an [`Item::Object`] as a `serde_json` map.
pub(crate) fn to_map(entries: &[(String, Item)]) -> Map<String, Json> {
    entries
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect()
}

/// `Int` when `n` is an integer whose text an `i64` gives back exactly (not `-0`).
fn number(n: Number) -> Item {
    match n.as_i64() {
        Some(i) if Number::from(i) == n => Item::Int(i),
        _ => Item::Number(n),
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Item, E> {
        Ok(Item::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Item, E> {
        Ok(Item::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Item, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Item::Int(i),
            Err(_) => Item::Number(u.into()),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Item, E> {
        Ok(Number::from_f64(f).map_or(Item::Null, Item::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Item, E> {
        Ok(Item::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Item, E> {
        Ok(Item::String(s))
    }

    fn visit_unit<E>(self) -> Result<Item, E> {
        Ok(Item::Null)
    }

    fn visit_none<E>(self) -> Result<Item, E> {
        Ok(Item::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Item, D::Error> {
        Item::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Item::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Item::Object(Vec::new()));
        };
        if first == NUMBER_TOKEN {
            let digits: String = map.next_value()?;
            let n: Number = serde_json::from_str(&digits).map_err(de::Error::custom)?;
            return Ok(number(n));
        }
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096) + 1);
        entries.push((first, map.next_value()?));
        while let Some((k, v)) = map.next_entry()? {
            entries.push((k, v));
        }
        if has_repeated_keys(&entries) {
            entries = first_place_last_value(entries);
        }
        Ok(Item::Object(entries))
    }
}

fn has_repeated_keys(entries: &[(String, Item)]) -> bool {
    if entries.len() <= PAIRWISE_MAX {
        return entries
            .iter()
            .enumerate()
            .any(|(i, (k, _))| entries[..i].iter().any(|(o, _)| o == k));
    }
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

/// Each key once, where it first appears, with the value it was given last.
fn first_place_last_value(entries: Entries) -> Entries {
    let mut out: Entries = Vec::with_capacity(entries.len());
    let mut at: FxHashMap<String, usize> = FxHashMap::default();
    for (k, v) in entries {
        match at.get(&k) {
            Some(&i) => out[i].1 = v,
            None => {
                at.insert(k.clone(), out.len());
                out.push((k, v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_value(text: &str) {
        let item = parse_item(text).unwrap();
        let value: Json = serde_json::from_str(text).unwrap();
        assert_eq!(item.to_json(), value, "{text}");
        assert_eq!(
            serde_json::to_string(&item.clone().into_json()).unwrap(),
            serde_json::to_string(&value).unwrap(),
            "{text}"
        );
        assert_eq!(Item::from(value), item, "{text}");
    }

    #[test]
    fn numbers_keep_every_digit() {
        let text = "[1, -7, 9223372036854775807, 9223372036854775808, 1.50, -0, 1e400, \
                    123456789012345678901234567890]";
        same_as_value(text);
        let item = parse_item(text).unwrap();
        let Item::Array(items) = &item else {
            panic!("not an array: {item:?}");
        };
        assert_eq!(items[0], Item::Int(1));
        assert_eq!(items[1], Item::Int(-7));
        assert_eq!(items[2], Item::Int(i64::MAX));
        let texts: Vec<String> = items[3..]
            .iter()
            .map(|i| match i {
                Item::Number(n) => n.to_string(),
                other => panic!("not a Number: {other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            [
                "9223372036854775808",
                "1.50",
                "-0",
                "1e+400",
                "123456789012345678901234567890"
            ]
        );
    }

    #[test]
    fn objects_are_what_serde_json_gives() {
        for text in [
            r#"{"b": 1, "a": {"z": [1, {"y": null}], "x": "s\"q"}, "c": true, "d": {}, "e": []}"#,
            r#"{"k": 1, "j": 2, "k": 3}"#,
            r#"{"k": {"a": 1}, "k": [2]}"#,
            r#"[{"$x": 1}, "text", 2.5, false, null]"#,
            "17",
        ] {
            same_as_value(text);
        }
        // a wide object with a repeated key: first place, last value
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!("\"c{i}\": {i}, "));
        }
        text.push_str("\"c3\": \"last\"}");
        same_as_value(&text);
        let Item::Object(entries) = parse_item(&text).unwrap() else {
            panic!("not an object");
        };
        assert_eq!(entries.len(), 40);
        assert_eq!(entries[3], ("c3".to_string(), Item::String("last".into())));
    }

    #[test]
    fn malformed_text_is_serde_jsons_error() {
        for text in ["{\"a\": }", "[1, 2", "{\"a\" 1}", "nul"] {
            let ours = parse_item(text).unwrap_err().to_string();
            let theirs = serde_json::from_str::<Json>(text).unwrap_err().to_string();
            assert_eq!(ours, theirs, "{text}");
        }
    }
}
