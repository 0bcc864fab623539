//! Crash points for tests, compiled in only with the cargo feature `fault-injection` (off by
//! default; release builds leave it out). With the feature, `DLT_RS_FAULT=<point>` in the
//! environment makes the process abort (as a `kill -9` would stop it) when it reaches that
//! point; without it `point` is an empty inline function and the variable is never read.
//!
//! The CLI's crash tests get the feature through `cli`'s dev-dependency on
//! `pipeline/fault-injection`: cargo's feature resolver (version 2) enables the features of
//! dev-dependencies only when it builds tests or examples, and then for the whole build, so
//! the `dlt-rs` binary `cargo test -p cli` builds has the crash points and the one
//! `cargo build --release -p cli` builds does not. `--features cli/fault-injection` asks for
//! them explicitly. The crash tests assert that the run failed, so without the feature they
//! fail rather than pass without a crash.
//!
//! Points: `job-committed` (a job's rows committed, its file not yet moved to
//! `completed_jobs`) and `session-committed` (a load session committed while normalizing, its
//! files not yet moved), `load-recorded` (the load recorded in `_dlt_loads`, the package not
//! yet moved to `loaded`), `normalized-published` (a normalized package published, its
//! extracted package not yet removed), `extracted-published` (an extracted package published,
//! its normalized package not yet). With the feature and without the variable a point costs
//! one comparison.

/// The environment variable naming the point to crash at (read only with the feature
/// `fault-injection`).
pub const FAULT_VAR: &str = "DLT_RS_FAULT";

/// Aborts the process when `DLT_RS_FAULT` names `name`.
#[cfg(feature = "fault-injection")]
pub(crate) fn point(name: &str) {
    use std::sync::OnceLock;
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    if FAULT
        .get_or_init(|| std::env::var(FAULT_VAR).ok())
        .as_deref()
        == Some(name)
    {
        eprintln!("{FAULT_VAR}: aborting at `{name}`");
        std::process::abort();
    }
}

/// Nothing: built without the feature `fault-injection`.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn point(_name: &str) {}
