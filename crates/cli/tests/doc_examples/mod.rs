//! The Rust examples of the user documentation, compiled as part of the docs test.
//!
//! Each file holds one example between a `// doc:start` and a `// doc:end` line; the doc
//! that shows it has the same text in a ```` ```rust file=crates/cli/tests/doc_examples/NAME.rs ````
//! block (`crates/cli/tests/it/docs.rs` checks they are equal, then calls the file's `run`).

pub(super) mod configuration_in_code;
pub(super) mod extending_sqlite;
pub(super) mod postgres_parquet;
pub(super) mod postgres_timestamps;
pub(super) mod reading_back;
pub(super) mod write_dispositions_in_code;

/// An example's entry point: its `main`.
pub(super) type Example = fn() -> anyhow::Result<()>;

/// Every example, by the path the docs name it with.
pub(super) const EXAMPLES: &[(&str, Example)] = &[
    (
        "crates/cli/tests/doc_examples/configuration_in_code.rs",
        configuration_in_code::run,
    ),
    (
        "crates/cli/tests/doc_examples/extending_sqlite.rs",
        extending_sqlite::run,
    ),
    (
        "crates/cli/tests/doc_examples/postgres_parquet.rs",
        postgres_parquet::run,
    ),
    (
        "crates/cli/tests/doc_examples/postgres_timestamps.rs",
        postgres_timestamps::run,
    ),
    (
        "crates/cli/tests/doc_examples/reading_back.rs",
        reading_back::run,
    ),
    (
        "crates/cli/tests/doc_examples/write_dispositions_in_code.rs",
        write_dispositions_in_code::run,
    ),
];
