//! `_dlt_id` generation (spec §3.5): random ids for root rows, deterministic SHAKE-128
//! ids for nested rows, and the "key hash" / "row hash" ids of `upsert`, `insert-only` and
//! `scd2` root rows.
//!
//! Every id is `DLT_ID_LENGTH_BYTES` (10) bytes, base64 with the standard alphabet (`+/`),
//! padding stripped: 14 characters.

use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{Map, Value as Json};

use crate::coerce::to_json_text;

/// Bytes in a `_dlt_id` (dlt's `DLT_DLT_ID_LENGTH_BYTES` default).
pub const DLT_ID_LENGTH_BYTES: usize = 10;

/// Prefix of dlt's system columns; such top-level keys are left out of the row hash.
const DLT_NAME_PREFIX: &str = "_dlt";

/// A random row id: 10 bytes of a cryptographically secure generator, base64, no padding.
pub fn random_row_id() -> String {
    let mut bytes = [0u8; DLT_ID_LENGTH_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Random row ids for many rows, of the same form as [`random_row_id`] (10 bytes, base64,
/// 14 characters), whose first 5 bytes count up from a random start: rows loaded one after
/// another get neighbouring ids, so the destination's unique index on `_dlt_id` takes them
/// in a few pages instead of everywhere (PostgreSQL builds it ~1.5x faster for a 500k-row
/// load, docs/performance.md). The last 5 bytes are random: two sequences collide only
/// where their counters overlap (a random 40-bit start each) and 40 random bits agree.
#[derive(Debug)]
pub struct RowIdSequence {
    next: u64,
}

/// The counter's bits (5 bytes).
const SEQUENCE_MASK: u64 = (1 << 40) - 1;

impl RowIdSequence {
    pub fn new() -> Self {
        RowIdSequence {
            next: rand::thread_rng().next_u64() & SEQUENCE_MASK,
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> String {
        let mut bytes = [0u8; DLT_ID_LENGTH_BYTES];
        bytes[..5].copy_from_slice(&self.next.to_be_bytes()[3..]);
        rand::thread_rng().fill_bytes(&mut bytes[5..]);
        self.next = (self.next + 1) & SEQUENCE_MASK;
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
    }
}

impl Default for RowIdSequence {
    fn default() -> Self {
        Self::new()
    }
}

/// SHAKE-128 (FIPS 202), absorbing as data comes. Written on the Keccak permutation because
/// sha3's XOF reader permutes again after every block it hands out: for the few bytes an id
/// takes, a second permutation thrown away, half the cost of every nested row's id.
pub(crate) struct Shake128 {
    state: [u64; 25],
    /// Bytes absorbed into the current block.
    pos: usize,
}

/// SHAKE-128's rate: bytes per block.
const SHAKE128_RATE: usize = 168;

impl Shake128 {
    pub(crate) fn new() -> Self {
        Shake128 {
            state: [0; 25],
            pos: 0,
        }
    }

    fn xor_byte(&mut self, at: usize, byte: u8) {
        self.state[at / 8] ^= u64::from(byte) << (8 * (at % 8));
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        for &byte in data {
            self.xor_byte(self.pos, byte);
            self.pos += 1;
            if self.pos == SHAKE128_RATE {
                keccak::f1600(&mut self.state);
                self.pos = 0;
            }
        }
    }

    /// Fills `out` with the output stream.
    pub(crate) fn finish(mut self, out: &mut [u8]) {
        self.xor_byte(self.pos, 0x1f);
        self.xor_byte(SHAKE128_RATE - 1, 0x80);
        keccak::f1600(&mut self.state);
        for (i, o) in out.iter_mut().enumerate() {
            let at = i % SHAKE128_RATE;
            if i > 0 && at == 0 {
                keccak::f1600(&mut self.state);
            }
            *o = self.state[at / 8].to_le_bytes()[at % 8];
        }
    }
}

/// base64 (standard alphabet, padding stripped) of `len` bytes of SHAKE-128 of `data`
/// (dlt's `digest128b`).
pub fn digest128(data: &[u8], len: usize) -> String {
    let mut hasher = Shake128::new();
    hasher.update(data);
    let mut digest = vec![0u8; len];
    hasher.finish(&mut digest);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
}

/// The id of a nested row: SHAKE-128 of `"{parent_row_id}_{table}_{list_idx}"`, where
/// `table` is the full (normalized) nested table name.
pub fn nested_row_id(parent_row_id: &str, table: &str, list_idx: usize) -> String {
    let mut hasher = Shake128::new();
    hasher.update(parent_row_id.as_bytes());
    hasher.update(b"_");
    hasher.update(table.as_bytes());
    hasher.update(b"_");
    // `list_idx` in decimal without allocating
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut n = list_idx;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    hasher.update(&buf[at..]);
    let mut digest = [0u8; DLT_ID_LENGTH_BYTES];
    hasher.finish(&mut digest);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
}

/// The "key hash" id of an `upsert` / `insert-only` root row: SHAKE-128 of the compact JSON,
/// keys sorted, of `{primary key column: value}` (normalized column names, flattened row
/// values). A name given twice keeps its last value, like a Python dict.
pub fn key_hash_row_id(keys: &[(&str, &Json)]) -> String {
    let mut sorted: Vec<(&str, &Json)> = Vec::with_capacity(keys.len());
    for (name, value) in keys {
        match sorted.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value,
            None => sorted.push((name, value)),
        }
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut text = String::from("{");
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&to_json_text(&Json::String((*name).to_string()), false));
        text.push(':');
        text.push_str(&to_json_text(value, true));
    }
    text.push('}');
    digest128(text.as_bytes(), DLT_ID_LENGTH_BYTES)
}

/// The "row hash" id of an `scd2` root row: SHAKE-128 of the compact JSON, keys sorted at
/// every level, of the original (un-normalized) item without its top-level `_dlt*` keys.
pub fn row_hash_row_id(item: &Map<String, Json>) -> String {
    let filtered: Map<String, Json> = item
        .iter()
        .filter(|(k, _)| !k.starts_with(DLT_NAME_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let text = to_json_text(&Json::Object(filtered), true);
    digest128(text.as_bytes(), DLT_ID_LENGTH_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Json) -> Map<String, Json> {
        match v {
            Json::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn sequence_ids_are_14_chars_differ_and_share_their_start() {
        let mut seq = RowIdSequence::new();
        let ids: Vec<String> = (0..1000).map(|_| seq.next_id()).collect();
        assert!(ids.iter().all(|id| id.len() == 14));
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // neighbours share their leading characters (the counter's high bytes)
        assert_eq!(ids[0][..4], ids[1][..4]);
    }

    #[test]
    fn random_ids_are_14_chars_and_differ() {
        let a = random_row_id();
        let b = random_row_id();
        assert_eq!(a.len(), 14);
        assert_eq!(b.len(), 14);
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'));
    }

    #[test]
    fn shake128_is_sha3s() {
        use sha3::digest::{ExtendableOutput, Update, XofReader};
        // inputs and outputs around the block size, fed whole and in pieces
        let data: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in (0..40).chain(160..180).chain(330..345) {
            for out_len in [1, 4, 10, 15, 16, 167, 168, 169, 200, 340] {
                let mut reference = sha3::Shake128::default();
                reference.update(&data[..len]);
                let mut want = vec![0u8; out_len];
                reference.finalize_xof().read(&mut want);
                let mut ours = Shake128::new();
                let (a, b) = data[..len].split_at(len / 3);
                ours.update(a);
                ours.update(b);
                let mut got = vec![0u8; out_len];
                ours.finish(&mut got);
                assert_eq!(got, want, "input {len} bytes, output {out_len} bytes");
            }
        }
    }

    #[test]
    fn nested_ids() {
        let cases = [
            ("z5jIxXIbUnmbKw", "up__items", 0, "s3RohhotJhngsw"),
            ("b5nmCsxYNyddmw", "dim__l", 0, "VXFFE3ae2lSSFA"),
        ];
        for (parent, table, idx, expected) in cases {
            assert_eq!(
                nested_row_id(parent, table, idx),
                expected,
                "{parent} {table}"
            );
        }
        // same as hashing the formatted key
        for idx in [0, 7, 10, 12345, usize::MAX] {
            let key = format!("p_t__x_{idx}");
            assert_eq!(
                nested_row_id("p", "t__x", idx),
                digest128(key.as_bytes(), DLT_ID_LENGTH_BYTES)
            );
        }
    }

    #[test]
    fn key_hash_ids() {
        let one = json!(1);
        let two = json!(2);
        assert_eq!(key_hash_row_id(&[("id", &one)]), "z5jIxXIbUnmbKw");
        assert_eq!(key_hash_row_id(&[("id", &two)]), "M6/KlLzJ2FeV/w");
        // key order does not matter
        let a = json!("x");
        assert_eq!(
            key_hash_row_id(&[("b", &one), ("a", &a)]),
            key_hash_row_id(&[("a", &a), ("b", &one)])
        );
    }

    #[test]
    fn row_hash_ids() {
        let cases = [
            (
                json!({"nk":1,"c1":"foo","c2":{"nc1":"foo"}}),
                "OTPbGyxWlJzmpA",
            ),
            (
                json!({"nk":2,"c1":"bar","c2":{"nc1":"bar"}}),
                "S41QIpRa9Fwh0w",
            ),
            (
                json!({"nk":1,"c1":"foo","c2":{"nc1":"foo_🚀updated"}}),
                "Z/zzrOzuLRhhWw",
            ),
            (json!({"c1":"foo","l":[{"a":1}],"nk":1}), "b5nmCsxYNyddmw"),
            // `_dlt*` keys are left out; nested key order does not matter
            (
                json!({"c2":{"nc1":"foo"},"_dlt_load_id":"1","c1":"foo","nk":1}),
                "OTPbGyxWlJzmpA",
            ),
        ];
        for (item, expected) in cases {
            assert_eq!(row_hash_row_id(&obj(item.clone())), expected, "{item}");
        }
    }
}
