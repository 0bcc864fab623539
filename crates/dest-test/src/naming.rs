//! The names the cases expect, computed on their own (not with the code under test):
//! dlt's shortening of identifiers past the destination's length limit (§3.11) and the
//! suite's dataset names.

use base64::Engine as _;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::{Digest, Sha3_256, Shake128};

/// dlt's tag of a shortened name: base64 of 4 bytes of SHAKE-128 of `source`, padding
/// stripped, `/` → `a`, `+` → `b`, lowercase (6 characters).
pub fn tag(source: &str) -> String {
    let mut hasher = Shake128::default();
    hasher.update(source.as_bytes());
    let mut digest = [0u8; 4];
    hasher.finalize_xof().read(&mut digest);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(digest)
        .replace('/', "a")
        .replace('+', "b")
        .to_lowercase()
}

/// `name` (ASCII, already normalized) shortened to `max` bytes as dlt does: the first
/// `ceil((max - 6) / 2)` characters, the tag of `tag_source`, the last characters; names
/// that fit are returned as they are.
pub fn shorten(name: &str, tag_source: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let tag = tag(tag_source);
    let keep = max.saturating_sub(tag.len());
    let lead = keep.div_ceil(2);
    let trail = keep - lead;
    format!("{}{tag}{}", &name[..lead], &name[name.len() - trail..])
}

/// A path of normalized fragments joined with `__` and shortened as a whole, the tag
/// computed from the joined path (nested table names, flattened and variant columns).
pub fn path(fragments: &[&str], max: usize) -> String {
    let joined = fragments.join("__");
    shorten(&joined, &joined, max)
}

/// The dataset of `case` on `destination`: `dt_` + the case name + `_` + 8 hex digits of a
/// hash of both, at most 55 bytes (so `<dataset>_staging` fits a 63-byte limit).
pub fn dataset_name(destination: &str, case: &str) -> String {
    let digest = Sha3_256::digest(format!("dest-test/{destination}/{case}").as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let room = 55 - "dt_".len() - "_".len() - hash.len();
    let readable: String = case
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    format!("dt_{}_{hash}", readable.trim_end_matches('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dlt's vectors (dlt-behaviour.md §3.11, §12.8).
    #[test]
    fn shortening_matches_dlt() {
        let a70 = "a".repeat(70);
        assert_eq!(
            shorten(&a70, &a70, 63),
            format!("{}mo6cba{}", "a".repeat(29), "a".repeat(28))
        );
        assert_eq!(
            path(
                &[
                    "parent_table_with_a_long_name",
                    "child_list_with_a_long_name",
                    "grandchild_list_long"
                ],
                63
            ),
            "parent_table_with_a_long_name0ux7kqg_name__grandchild_list_long"
        );
        assert_eq!(shorten("short", "short", 63), "short");
    }

    #[test]
    fn dataset_names_fit() {
        for case in ["append", &"x".repeat(100)] {
            let name = dataset_name("postgres", case);
            assert!(name.len() <= 55, "{name}");
            assert!(name.starts_with("dt_"), "{name}");
        }
        assert_ne!(
            dataset_name("postgres", "append"),
            dataset_name("sqlite", "append")
        );
    }
}
